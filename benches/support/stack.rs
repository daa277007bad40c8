//! What the bench programs share besides the load generator: the mock IdP's and the proxy's
//! configurations, a proxy in front of an in-process mock IdP, one complete flow through
//! `authproof::client::FlowClient`, resident memory from `/proc`, and the phase length.

#![allow(dead_code)] // each bench program uses part of it

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use authproof::proxy::config::StorageSpec;
use authproof::proxy::config::{
    CapsConfig, ConsentMode, HumanDuration, Off, ProviderKind, ProxyConfig, RateLimits, Secret,
};
use authproof::proxy::store::{self, Store};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The redirect URI every bench client registers.
pub const REDIRECT: &str = "http://127.0.0.1:7777/cb";

/// `BENCH_SECS`: the length of each load phase (seconds), `default` when unset.
pub fn bench_secs(default: f64) -> f64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(default)
}

/// An OIDC mock IdP with one confidential client and `alice` logged in headlessly; its access
/// tokens are `jwt` (RS256) or `opaque`.
pub fn idp_config(access_token_format: &str) -> IdpConfig {
    let text = format!(
        "flavor: oidc\n\
         clients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }}]\n\
         users: [{{ sub: alice, claims: {{ email: alice@example.com }} }}]\n\
         default_user: alice\n\
         tokens: {{ access_token_format: {access_token_format} }}\n\
         journal: {{ max_entries: 1000 }}\n"
    );
    foundations::yaml::from_str(&text, "<bench idp>").expect("bench idp config")
}

/// Every request of a bench comes from 127.0.0.1: the per-address rate limits and caps,
/// which keep one abuser from starving the others, would refuse the load generator itself.
/// They are turned off (rates) and raised (caps) for the benches.
pub fn one_address_load(c: &mut ProxyConfig) {
    c.rate_limits = RateLimits::Off(Off::Off);
    c.caps = CapsConfig {
        provisional_registrations: BENCH_CAP,
        pending_authorizations: BENCH_CAP,
        per_address_registrations: BENCH_CAP,
        per_address_authorizations: BENCH_CAP,
    };
}

/// The caps of [`one_address_load`]: more than any bench creates within the caps' windows.
pub const BENCH_CAP: u32 = 10_000_000;

/// [`one_address_load`] as YAML.
pub fn one_address_load_yaml() -> String {
    format!(
        "rate_limits: off\n\
         caps: {{ provisional_registrations: {BENCH_CAP}, pending_authorizations: {BENCH_CAP}, per_address_registrations: {BENCH_CAP}, per_address_authorizations: {BENCH_CAP} }}\n"
    )
}

/// The proxy in front of `idp` (generic OAuth proxy, consent shown, memory storage).
pub fn proxy_config(idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = ProxyConfig::default();
    one_address_load(&mut c);
    c.upstream.config_url = Some(idp.discovery_url());
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().expect("method"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.upstream.timeout = HumanDuration::secs(10);
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    c.consent = ConsentMode::Always;
    c.jwt_signing_key = Some(Secret::new("bench-signing-key-0123456789abcdef"));
    c
}

/// [`proxy_config`] as an OIDC proxy: the upstream ID token is verified at the callback and
/// the upstream RS256 access token behind each proxy token is checked on every guarded
/// request (the JWT verifier, with its verified-token cache).
pub fn oidc_proxy_config(idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = proxy_config(idp);
    c.provider = ProviderKind::Oidc;
    c
}

/// [`proxy_config`] as YAML, for the `authproof serve` binary.
pub fn proxy_yaml(idp: &MockIdpHandle) -> String {
    format!(
        "upstream:\n\
         \x20 config_url: {}\n\
         \x20 client_id: upstream-app\n\
         \x20 client_secret: s3cret\n\
         \x20 token_endpoint_auth_method: client_secret_post\n\
         \x20 scopes: [openid, email]\n\
         \x20 timeout: 10s\n\
         valid_scopes: [openid, email]\n\
         allowed_client_redirect_uris: ['http://127.0.0.1:*']\n\
         consent: always\n\
         jwt_signing_key: bench-signing-key-0123456789abcdef\n\
         storage: memory\n\
         {}",
        idp.discovery_url(),
        one_address_load_yaml()
    )
}

/// A proxy in front of a mock IdP, both in-process, sharing one clock.
pub struct Stack {
    pub idp: MockIdpHandle,
    pub proxy: ProxyHandle,
    pub clock: Clock,
}

impl Stack {
    /// The IdP (`access_token_format`) and a proxy with the configuration `config` makes for
    /// the IdP, over the store `store` makes for that configuration.
    pub async fn start(
        access_token_format: &str,
        config: impl FnOnce(&MockIdpHandle) -> ProxyConfig,
        store: impl AsyncFnOnce(&ProxyConfig, Clock) -> Arc<dyn Store>,
        clock: Clock,
    ) -> Stack {
        let idp = MockIdp::builder()
            .config(idp_config(access_token_format))
            .clock(clock.clone())
            .spawn()
            .await
            .expect("mock idp");
        let config = config(&idp);
        let store = store(&config, clock.clone()).await;
        let proxy = Proxy::spawn_with_store(
            config,
            SpawnOptions {
                clock: clock.clone(),
                ..SpawnOptions::default()
            },
            store,
        )
        .await
        .expect("proxy");
        Stack { idp, proxy, clock }
    }

    /// A proxy access token through one complete flow.
    pub async fn token(&self) -> String {
        let http = FlowClient::http_client(Duration::from_secs(30)).expect("http client");
        one_flow(&http, &self.proxy.url(), &self.proxy.resource())
            .await
            .expect("a token through a complete flow")
    }

    /// The path of the MCP endpoint.
    pub fn mcp_path(&self) -> String {
        url::Url::parse(&self.proxy.resource())
            .expect("resource URL")
            .path()
            .to_owned()
    }

    pub async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

/// The store `authproof serve` builds for `spec` (sealed at rest), for [`Stack::start`].
pub async fn serve_store(spec: &StorageSpec, config: &ProxyConfig, clock: Clock) -> Arc<dyn Store> {
    store::open(spec, config, clock).await.expect("store")
}

/// One complete flow (register → authorize with consent → upstream login → callback →
/// token); returns the access token.
pub async fn one_flow(
    http: &reqwest::Client,
    proxy: &str,
    resource: &str,
) -> Result<String, String> {
    let fc = FlowClient::with_http(proxy, http.clone()).map_err(|e| e.to_string())?;
    fc.set_mcp_url(resource);
    let reg = fc
        .register(&json!({"redirect_uris": [REDIRECT], "client_name": "bench"}))
        .await
        .map_err(|e| e.to_string())?;
    if reg.status != 201 {
        return Err(format!("register answered {}: {}", reg.status, reg.body));
    }
    let out = fc
        .authorize(AuthorizeRequest {
            as_user: Some("alice".into()),
            ..AuthorizeRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if out.consent_page.is_none() {
        return Err(format!("no consent page was shown:\n{out}"));
    }
    if !(out.reached_redirect_uri && out.code.is_some()) {
        return Err(format!("authorization did not produce a code:\n{out}"));
    }
    let tok = fc
        .token_code(TokenCodeRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    match tok.json_str("access_token") {
        Some(t) if tok.status == 200 => Ok(t.to_owned()),
        _ => Err(format!("token answered {}: {}", tok.status, tok.body)),
    }
}

/// Resident memory from a `/proc/<pid>/status` file, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// VmRSS.
    pub total: u64,
    /// RssAnon: heap and stacks, what the process really holds.
    pub anon: u64,
    /// RssFile: pages of the executable and libraries (clean, shared, reclaimable).
    pub file: u64,
}

impl Rss {
    pub fn of(status_path: &str) -> Rss {
        let text = std::fs::read_to_string(status_path).unwrap_or_default();
        let field = |name: &str| -> u64 {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
                .unwrap_or(0)
        };
        Rss {
            total: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
        }
    }

    pub fn of_pid(pid: u32) -> Rss {
        Rss::of(&format!("/proc/{pid}/status"))
    }

    pub fn this_process() -> Rss {
        Rss::of("/proc/self/status")
    }
}

impl std::fmt::Display for Rss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (anon {}, file {})",
            mib(self.total),
            mib(self.anon),
            mib(self.file)
        )
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// GET `url` until it answers 2xx (at most 20 s).
pub async fn first_answer(client: &reqwest::Client, url: &str) {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < give_up, "{url} never answered");
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            let _ = r.bytes().await;
            return;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// `value / limit` as a ratio with its verdict against `target` (e.g. "0.83 of the limit,
/// target ≥ 0.80: met").
pub fn ratio(value: f64, limit: f64, target: f64) -> String {
    let r = if limit > 0.0 { value / limit } else { f64::NAN };
    let verdict = if r >= target { "met" } else { "not met" };
    format!("{r:.2} (target ≥ {target:.2}: {verdict})")
}

/// `value / bound` for a figure that must stay at or under `bound` (e.g. "0.95 of the bound:
/// met").
pub fn within(value: f64, bound: f64) -> String {
    let r = if bound > 0.0 { value / bound } else { f64::NAN };
    let verdict = if r <= 1.0 { "met" } else { "not met" };
    format!("{r:.2} of the bound: {verdict}")
}
