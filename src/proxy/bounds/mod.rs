//! Bounds on what the public internet can make the proxy do (DESIGN.md "Abuse bounds").
//!
//! - **Client address** ([`crate::proxy::net`]): the socket's peer, or the address a trusted reverse
//!   proxy names in `X-Forwarded-For`; IPv6 counted per /64.
//! - **Rate limits** per client address and endpoint (`/register`, `/authorize`, `/consent`,
//!   `/token`, `/revoke`), GCRA through `governor`: 429 with `Retry-After`.
//! - **Caps** on the live state unauthenticated requests create: provisional registrations
//!   and pending authorizations, per client address (429 with `Retry-After`) and in total
//!   (`total`: the store evicts the oldest to make room, so the newest always get in and
//!   many abusers together cannot lock the rest out).
//! - **Host and Origin** ([`crate::proxy::net`]): every route refuses a foreign `Host` (DNS rebinding);
//!   the MCP endpoint refuses a foreign browser `Origin`. Both 403.
//!
//! Rate limits and per-address caps are kept in this process (real time); the total caps are
//! kept by the store, shared by every instance on it.

mod layer;
mod total;

pub use crate::proxy::net::{ClientAddress, HostPolicy, TrustedProxies};
pub use layer::{BoundsLayer, BoundsService};
pub use total::TotalCap;

use crate::oauth::error::OAuthError;
use crate::proxy::config::{ProxyConfig, Rate};
use crate::proxy::html::error_page;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{Quota, RateLimiter};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type Keyed = RateLimiter<
    ClientAddress,
    governor::state::keyed::DefaultKeyedStateStore<ClientAddress>,
    DefaultClock,
>;

/// A per-address limiter that forgets idle addresses now and then, so its own memory stays
/// bounded too.
struct PerAddress {
    limiter: Keyed,
    checks: AtomicU64,
}

/// How often (in checks) a limiter drops the addresses that are back to a full allowance.
const FORGET_EVERY: u64 = 4096;

impl PerAddress {
    fn new(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    fn rate(rate: Rate) -> Self {
        let per_minute = NonZeroU32::new(rate.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self::new(Quota::per_minute(per_minute).allow_burst(burst))
    }

    /// At most `cap` live at once when each lives `ttl`: one slot back every `ttl / cap`.
    fn cap(cap: u32, ttl: Duration) -> Self {
        let cap = NonZeroU32::new(cap.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = (ttl / cap.get()).max(Duration::from_millis(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(cap);
        Self::new(quota)
    }

    /// `Err(seconds to wait)` when the address is over its allowance.
    fn check(&self, who: &ClientAddress) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(who).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The endpoints with a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /register`.
    Register,
    /// `/authorize`.
    Authorize,
    /// `/consent`.
    Consent,
    /// `POST /token`.
    Token,
    /// `POST /revoke`.
    Revoke,
}

impl Endpoint {
    fn is_browser(self) -> bool {
        matches!(self, Endpoint::Authorize | Endpoint::Consent)
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The address is over its rate (429).
    RateLimited { retry_after: u64 },
    /// The address holds as much live state as it may (429).
    AddressCap {
        what: &'static str,
        retry_after: u64,
    },
}

impl Refusal {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn retry_after(&self) -> u64 {
        match self {
            Refusal::RateLimited { retry_after } | Refusal::AddressCap { retry_after, .. } => {
                (*retry_after).max(1)
            }
        }
    }

    /// What to tell the client.
    pub fn description(&self) -> String {
        let s = self.retry_after();
        match self {
            Refusal::RateLimited { .. } => {
                format!("too many requests from this address; retry after {s} seconds")
            }
            Refusal::AddressCap { what, .. } => {
                format!("this address has too many {what} in progress; retry after {s} seconds")
            }
        }
    }

    fn with_retry_after(&self, mut resp: Response) -> Response {
        if let Ok(v) = HeaderValue::from_str(&self.retry_after().to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }

    /// An RFC 6749-style JSON answer (`temporarily_unavailable`) with `Retry-After`.
    pub fn json(&self) -> Response {
        let e = OAuthError::temporarily_unavailable(self.description()).with_status(self.status());
        self.with_retry_after(e.into_response())
    }

    /// An HTML page with `Retry-After` (browser-facing endpoints).
    pub fn page(&self) -> Response {
        let page = error_page(
            self.status(),
            "Too many requests",
            &format!("{}.", capitalize(&self.description())),
            Some("temporarily_unavailable"),
        );
        self.with_retry_after(page)
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

struct Rates {
    register: PerAddress,
    authorize: PerAddress,
    consent: PerAddress,
    token: PerAddress,
    revoke: PerAddress,
}

/// The proxy's bounds, resolved once from its configuration.
pub struct Bounds {
    trusted: TrustedProxies,
    hosts: HostPolicy,
    rates: Option<Rates>,
    registrations: TotalCap,
    registrations_per_address: PerAddress,
    authorizations: TotalCap,
    authorizations_per_address: PerAddress,
}

impl Bounds {
    /// From the configuration (already validated) and the resolved base URL.
    pub fn new(config: &ProxyConfig, base_url: &url::Url) -> Result<Self, String> {
        let trusted = TrustedProxies::parse(&config.trusted_proxies)
            .map_err(|e| format!("trusted_proxies: {e}"))?;
        let hosts = HostPolicy::new(
            base_url,
            config.allowed_hosts.as_deref(),
            config.allowed_origins.as_deref(),
        )?;
        let rates = config.rate_limits.table().map(|t| Rates {
            register: PerAddress::rate(t.register),
            authorize: PerAddress::rate(t.authorize),
            consent: PerAddress::rate(t.consent),
            token: PerAddress::rate(t.token),
            revoke: PerAddress::rate(t.revoke),
        });
        let reg_ttl = config.registration_provisional_ttl.get();
        let txn_ttl = config.transaction_ttl.get();
        let caps = &config.caps;
        Ok(Self {
            trusted,
            hosts,
            rates,
            registrations: TotalCap::new(
                "provisional registrations",
                caps.provisional_registrations,
            ),
            registrations_per_address: PerAddress::cap(caps.per_address_registrations, reg_ttl),
            authorizations: TotalCap::new("pending authorizations", caps.pending_authorizations),
            authorizations_per_address: PerAddress::cap(caps.per_address_authorizations, txn_ttl),
        })
    }

    /// The `Host` and `Origin` policy.
    pub fn hosts(&self) -> &HostPolicy {
        &self.hosts
    }

    /// Count a request to `endpoint` from `who`.
    pub fn rate(&self, endpoint: Endpoint, who: &ClientAddress) -> Result<(), Refusal> {
        let Some(r) = &self.rates else {
            return Ok(());
        };
        let limiter = match endpoint {
            Endpoint::Register => &r.register,
            Endpoint::Authorize => &r.authorize,
            Endpoint::Consent => &r.consent,
            Endpoint::Token => &r.token,
            Endpoint::Revoke => &r.revoke,
        };
        limiter
            .check(who)
            .map_err(|retry_after| Refusal::RateLimited { retry_after })
    }

    /// Admit one new provisional registration from `who` (its address's cap); the total is
    /// the store's, through [`Bounds::registrations`].
    pub fn admit_registration(&self, who: &ClientAddress) -> Result<(), Refusal> {
        admit(
            &self.registrations_per_address,
            who,
            "provisional registrations",
        )
    }

    /// Admit one new pending authorization from `who` (its address's cap); the total is the
    /// store's, through [`Bounds::authorizations`].
    pub fn admit_authorization(&self, who: &ClientAddress) -> Result<(), Refusal> {
        admit(
            &self.authorizations_per_address,
            who,
            "pending authorizations",
        )
    }

    /// The total cap on provisional registrations.
    pub fn registrations(&self) -> &TotalCap {
        &self.registrations
    }

    /// The total cap on pending authorizations: transactions at consent (with their CSRF
    /// records), approved ones at the upstream login, and used consent forms' tombstones,
    /// each kind capped on its own.
    pub fn authorizations(&self) -> &TotalCap {
        &self.authorizations
    }

    /// The client address of a request (see [`TrustedProxies::client_address`]).
    pub fn client_address(&self, req: &Request) -> ClientAddress {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        self.trusted.client_address(peer, req.headers())
    }
}

/// Admit one new piece of state from `who` under its address's cap. Refusals are answered,
/// not logged, so that a flood does not become a flood of log lines.
fn admit(per_address: &PerAddress, who: &ClientAddress, what: &'static str) -> Result<(), Refusal> {
    per_address
        .check(who)
        .map_err(|retry_after| Refusal::AddressCap { what, retry_after })
}

/// The client address of a request, as the [`BoundsLayer::front`] layer resolved it.
pub fn client_address_of(req: &Request) -> ClientAddress {
    req.extensions()
        .get::<ClientAddress>()
        .copied()
        .unwrap_or_else(ClientAddress::unknown)
}

/// A rate-limit layer for one endpoint.
pub async fn limit(
    State((bounds, endpoint)): State<(Arc<Bounds>, Endpoint)>,
    req: Request,
    next: Next,
) -> Response {
    let who = client_address_of(&req);
    match bounds.rate(endpoint, &who) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::debug!(client = %who, ?endpoint, "rate limited");
            if endpoint.is_browser() {
                refusal.page()
            } else {
                refusal.json()
            }
        }
    }
}

fn forbidden(why: &str) -> Response {
    OAuthError::new("invalid_request", why, StatusCode::FORBIDDEN).into_response()
}
