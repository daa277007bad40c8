//! Shared setup for the proxy's integration tests: a real mock IdP and a real proxy on
//! loopback, sharing one clock, and a FlowClient to drive them.
#![allow(dead_code)]

use authproof::client::{AuthorizeOutcome, AuthorizeRequest, FlowClient, TokenCodeRequest};
use authproof::mock_idp::{self, Clock, FaultSpec, IdpConfig, MockIdp, MockIdpHandle};
use authproof::proxy::config::{ConsentMode, Off, ProxyConfig, RateLimits, Secret};
use authproof::proxy::store::Store;
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use serde_json::{Value, json};
use std::sync::Arc;

pub const REDIRECT: &str = "http://localhost:3000/cb";

pub struct Env {
    pub idp: MockIdpHandle,
    pub proxy: ProxyHandle,
    pub clock: Clock,
}

/// The mock IdP's config: `upstream-app` with `method`, user alice as the default user.
pub fn idp_config(method: &str) -> IdpConfig {
    let secret = if method == "none" {
        String::new()
    } else {
        "secret: s3cret, ".to_string()
    };
    let text = format!(
        "flavor: oidc\n\
         clients: [{{ id: upstream-app, {secret}token_endpoint_auth_method: {method} }}]\n\
         users: [{{ sub: alice, claims: {{ email: alice@example.com }} }}, {{ sub: bob }}]\n\
         default_user: alice\n"
    );
    foundations::yaml::from_str(&text, "<test idp>").expect("idp config")
}

/// A proxy config for the mock IdP at `idp` with upstream auth `method`.
pub fn proxy_config(idp: &MockIdpHandle, method: &str) -> ProxyConfig {
    let mut c = ProxyConfig::default();
    c.upstream.config_url = Some(idp.discovery_url());
    c.upstream.client_id = "upstream-app".into();
    if method != "none" {
        c.upstream.client_secret = Some(Secret::new("s3cret"));
    }
    c.upstream.token_endpoint_auth_method = Some(method.parse().expect("method"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.upstream.timeout = authproof::proxy::config::HumanDuration::secs(5);
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.allowed_client_redirect_uris = Some(vec![
        "http://localhost:*".into(),
        "http://127.0.0.1:*".into(),
    ]);
    c.consent = ConsentMode::Always;
    c.jwt_signing_key = Some(Secret::new("test-signing-key-0123456789"));
    // These tests send bursts of requests from one address on purpose; the rate limits have
    // their own tests (tests/proxy_bounds.rs).
    c.rate_limits = RateLimits::Off(Off::Off);
    c
}

pub async fn start_with(method: &str, tweak: impl FnOnce(&mut ProxyConfig)) -> Env {
    start_tweaked(method, |_| {}, tweak).await
}

/// [`start_with`], also changing the mock IdP's configuration first.
pub async fn start_tweaked(
    method: &str,
    idp_tweak: impl FnOnce(&mut IdpConfig),
    proxy_tweak: impl FnOnce(&mut ProxyConfig),
) -> Env {
    start_full(method, Clock::system(), None, idp_tweak, proxy_tweak).await
}

/// [`start_with`] on `store` (which reads time from `clock`, the clock the test moves).
pub async fn start_on_store(
    method: &str,
    clock: Clock,
    store: Arc<dyn Store>,
    proxy_tweak: impl FnOnce(&mut ProxyConfig),
) -> Env {
    start_full(method, clock, Some(store), |_| {}, proxy_tweak).await
}

async fn start_full(
    method: &str,
    clock: Clock,
    store: Option<Arc<dyn Store>>,
    idp_tweak: impl FnOnce(&mut IdpConfig),
    proxy_tweak: impl FnOnce(&mut ProxyConfig),
) -> Env {
    let mut idp_cfg = idp_config(method);
    idp_tweak(&mut idp_cfg);
    let idp = MockIdp::builder()
        .config(idp_cfg)
        .clock(clock.clone())
        .spawn()
        .await
        .expect("mock idp");
    let mut cfg = proxy_config(&idp, method);
    proxy_tweak(&mut cfg);
    let opts = SpawnOptions {
        clock: clock.clone(),
        ..SpawnOptions::default()
    };
    let proxy = match store {
        Some(store) => Proxy::spawn_with_store(cfg, opts, store).await,
        None => Proxy::spawn(cfg, opts).await,
    }
    .expect("proxy");
    Env { idp, proxy, clock }
}

pub async fn start(method: &str) -> Env {
    start_with(method, |_| {}).await
}

impl Env {
    pub fn client(&self) -> FlowClient {
        FlowClient::new(&self.proxy.url()).expect("flow client")
    }

    /// A client that has discovered the proxy and registered with [`REDIRECT`].
    pub async fn registered(&self) -> FlowClient {
        let fc = self.client();
        fc.discover().await.expect("discover");
        let reg = fc
            .register(&json!({"redirect_uris": [REDIRECT], "client_name": "Test Client"}))
            .await
            .expect("register");
        assert_eq!(reg.status, 201, "{}", reg.body);
        fc
    }

    /// Register and run the browser leg, approving consent.
    pub async fn authorized(&self) -> (FlowClient, AuthorizeOutcome) {
        let fc = self.registered().await;
        let out = fc
            .authorize(AuthorizeRequest::default())
            .await
            .expect("authorize");
        assert!(out.reached_redirect_uri && out.code.is_some(), "{out}");
        (fc, out)
    }

    /// Register, authorize and exchange the code.
    pub async fn with_tokens(&self) -> (FlowClient, Value) {
        let (fc, _) = self.authorized().await;
        let t = fc
            .token_code(TokenCodeRequest::default())
            .await
            .expect("token");
        assert_eq!(t.status, 200, "{}", t.body);
        (fc, t.json.expect("json"))
    }

    pub fn fault(&self, yaml: &str) {
        let f: FaultSpec = foundations::yaml::from_str(yaml, "<fault>").expect("fault spec");
        self.idp.add_fault(f);
    }

    /// Journal entries for a path.
    pub fn journal(&self, path: &str) -> Vec<mock_idp::JournalEntry> {
        self.idp
            .journal()
            .into_iter()
            .filter(|e| e.path == path)
            .collect()
    }

    pub async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

/// A plain HTTP client (no redirects, no cookies) for raw requests.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest")
}

/// Query parameters of a URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn mcp_init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

/// A registered client's authorization URL with a fresh PKCE pair; returns (url, verifier).
pub fn authorize_url(env: &Env, fc: &FlowClient, state: &str) -> (String, String) {
    let verifier = authproof::oauth::pkce::new_verifier();
    let mut url = url::Url::parse(&format!("{}/authorize", env.proxy.url())).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &fc.memory().client_id.expect("registered"))
        .append_pair("redirect_uri", REDIRECT)
        .append_pair(
            "code_challenge",
            &authproof::oauth::pkce::challenge_s256(&verifier),
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", state)
        .append_pair("resource", &env.proxy.resource());
    (url.into(), verifier)
}

/// Run authorize → consent (approved) and stop at the redirect to the upstream IdP.
/// Returns the upstream authorization URL.
pub async fn until_upstream(env: &Env, fc: &FlowClient, state: &str) -> String {
    use authproof::client::{FollowOptions, RawRequest};
    let (url, verifier) = authorize_url(env, fc, state);
    fc.update_memory(|m| m.code_verifier = Some(verifier));
    let idp_authorize = env.idp.endpoints()["authorize"].clone();
    let out = fc
        .follow(
            RawRequest::get(url),
            FollowOptions {
                stop_at: Some(idp_authorize),
                ..Default::default()
            },
        )
        .await
        .expect("follow");
    assert!(out.reached_redirect_uri, "{out}");
    out.final_url
}

/// Let the IdP answer the upstream authorization URL (headless login); returns the
/// proxy callback URL it redirects to.
pub async fn idp_callback(upstream_url: &str) -> String {
    let r = http()
        .get(upstream_url)
        .send()
        .await
        .expect("idp authorize");
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    r.headers()["location"].to_str().unwrap().to_string()
}
