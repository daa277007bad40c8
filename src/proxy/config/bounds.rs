//! Settings that bound what the public internet can make the proxy do: caps on the state
//! unauthenticated requests create, per-address request rates, which `Origin` and `Host`
//! values are accepted, and connection timeouts. Every default is documented in the README
//! ("Abuse bounds").

use super::HumanDuration;
use serde::{Deserialize, Serialize};

/// Caps on live state created by unauthenticated requests. The totals are kept by the store
/// (shared by every instance on it); the per-address caps by each instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CapsConfig {
    /// Live provisional registrations (DCR clients that have not completed a token exchange).
    /// At the cap, a new registration evicts the oldest provisional one (durable ones are
    /// never evicted).
    pub provisional_registrations: u32,
    /// Live pending authorizations (requests waiting at consent, and, counted apart, approved
    /// ones waiting at the upstream IdP). At the cap, a new one evicts the oldest.
    pub pending_authorizations: u32,
    /// Provisional registrations one client address may hold at once (429 beyond).
    pub per_address_registrations: u32,
    /// Pending authorizations one client address may hold at once (429 beyond).
    pub per_address_authorizations: u32,
}

impl Default for CapsConfig {
    fn default() -> Self {
        Self {
            provisional_registrations: 10_000,
            pending_authorizations: 10_000,
            per_address_registrations: 50,
            per_address_authorizations: 200,
        }
    }
}

/// One endpoint's rate: a sustained rate per minute and a burst, per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Requests per minute, sustained.
    pub per_minute: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl Rate {
    /// A rate.
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

/// Per-client-address rates of the OAuth endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateTable {
    /// `POST /register`.
    pub register: Rate,
    /// `GET|POST /authorize`.
    pub authorize: Rate,
    /// `GET|POST /consent`.
    pub consent: Rate,
    /// `POST /token`.
    pub token: Rate,
    /// `POST /revoke`.
    pub revoke: Rate,
}

impl Default for RateTable {
    fn default() -> Self {
        Self {
            register: Rate::new(30, 10),
            authorize: Rate::new(120, 30),
            consent: Rate::new(120, 30),
            token: Rate::new(600, 100),
            revoke: Rate::new(120, 30),
        }
    }
}

/// The literal `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Off {
    /// Turned off.
    Off,
}

/// `rate_limits`: a table of rates (the default), or `off` (tests, benchmarks, or a
/// deployment whose gateway already limits rates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RateLimits {
    /// No rate limits.
    Off(Off),
    /// These rates.
    On(RateTable),
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::On(RateTable::default())
    }
}

impl RateLimits {
    /// The rates, or `None` when turned off.
    pub fn table(&self) -> Option<&RateTable> {
        match self {
            RateLimits::Off(_) => None,
            RateLimits::On(t) => Some(t),
        }
    }
}

/// Connection timeouts: how long a slow or silent client may hold a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// Time to receive a request's headers, from the first byte.
    pub header: HumanDuration,
    /// Time to receive a whole request body (OAuth endpoints and the MCP endpoint alike).
    pub body: HumanDuration,
    /// How long a keep-alive connection may sit idle between requests.
    pub idle: HumanDuration,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        Self {
            header: HumanDuration::secs(10),
            body: HumanDuration::secs(30),
            idle: HumanDuration::secs(60),
        }
    }
}

/// Problems with the bounds settings of `c`, one line each.
pub(super) fn problems(c: &super::ProxyConfig) -> Vec<String> {
    let mut p = Vec::new();
    let caps = &c.caps;
    for (key, v) in [
        (
            "caps.provisional_registrations",
            caps.provisional_registrations,
        ),
        ("caps.pending_authorizations", caps.pending_authorizations),
        (
            "caps.per_address_registrations",
            caps.per_address_registrations,
        ),
        (
            "caps.per_address_authorizations",
            caps.per_address_authorizations,
        ),
    ] {
        if v == 0 {
            p.push(format!("{key}: must be at least 1"));
        }
    }
    if let Some(t) = c.rate_limits.table() {
        for (key, r) in [
            ("register", t.register),
            ("authorize", t.authorize),
            ("consent", t.consent),
            ("token", t.token),
            ("revoke", t.revoke),
        ] {
            if r.per_minute == 0 || r.burst == 0 {
                p.push(format!(
                    "rate_limits.{key}: per_minute and burst must be at least 1 (use rate_limits: off to turn limits off)"
                ));
            }
        }
    }
    if c.registration_provisional_ttl.get().is_zero() {
        p.push("registration_provisional_ttl: must be more than 0".into());
    }
    for (key, d) in [
        ("timeouts.header", c.timeouts.header),
        ("timeouts.body", c.timeouts.body),
        ("timeouts.idle", c.timeouts.idle),
    ] {
        if d.get().is_zero() {
            p.push(format!("{key}: must be more than 0"));
        }
    }
    if let Err(e) = crate::proxy::net::TrustedProxies::parse(&c.trusted_proxies) {
        p.push(format!("trusted_proxies: {e}"));
    }
    if let Some(base) = c.base_url.as_deref().and_then(|b| url::Url::parse(b).ok())
        && let Err(e) = crate::proxy::net::HostPolicy::new(
            &base,
            c.allowed_hosts.as_deref(),
            c.allowed_origins.as_deref(),
        )
    {
        p.push(e);
    }
    p
}
