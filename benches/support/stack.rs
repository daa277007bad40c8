//! What the in-process bench programs share besides the load generator (`load.rs`), the
//! flows (`flows.rs`: the mock IdP's configuration, one complete flow) and resident memory
//! (`rss.rs`): the proxy's configuration for a load from one address, a proxy in front of an
//! in-process mock IdP over the store `authproof serve` would build, the phase length, and
//! the ratio of a figure to its target. A program that includes this module includes
//! `flows.rs` as `mod flows` too.

#![allow(dead_code)] // each bench program uses part of it

use crate::flows::{idp_config, one_flow};
use authproof::client::FlowClient;
use authproof::proxy::config::StorageSpec;
use authproof::proxy::config::{
    CapsConfig, ConsentMode, HumanDuration, Off, ProviderKind, ProxyConfig, RateLimits, Secret,
};
use authproof::proxy::store::{self, Store};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use mock_idp::IdpConfig;
use mock_idp::{Clock, MockIdp, MockIdpHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `BENCH_SECS`: the length of each load phase (seconds), `default` when unset.
pub fn bench_secs(default: f64) -> f64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(default)
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
        Stack::start_with(idp_config(access_token_format), config, store, clock).await
    }

    /// [`Stack::start`] with the IdP's whole configuration given.
    pub async fn start_with(
        idp_config: IdpConfig,
        config: impl FnOnce(&MockIdpHandle) -> ProxyConfig,
        store: impl AsyncFnOnce(&ProxyConfig, Clock) -> Arc<dyn Store>,
        clock: Clock,
    ) -> Stack {
        let idp = MockIdp::builder()
            .config(idp_config)
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

/// `authproof serve` (the release binary of this package) as its own process, on
/// 127.0.0.1:`port`, with the configuration file `config_path`; its output is discarded.
pub fn spawn_serve(
    config_path: &std::path::Path,
    port: u16,
) -> std::io::Result<std::process::Child> {
    std::process::Command::new(env!("CARGO_BIN_EXE_authproof"))
        .arg("serve")
        .arg("--config")
        .arg(config_path)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
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
