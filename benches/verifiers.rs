//! Guarded requests per second with each bearer verifier (a plain program, not a timed test).
//!
//! `POST /mcp` `tools/list` at 64 keep-alive connections (one request in flight per
//! connection, a minimal HTTP/1.1 client on raw tokio sockets), answered by the built-in echo
//! endpoint, on loopback, with the mock IdP in the same process:
//!
//! 1. `proxy HS256`: the proxy's own tokens, no upstream verifier (generic OAuth proxy);
//! 2. `proxy HS256 + upstream JWT`: provider oidc, the upstream RS256 access token behind each
//!    proxy token is verified too (JWKS cached);
//! 3. `proxy HS256 + userinfo (cached)`: provider workos, the upstream token is checked at
//!    userinfo once and then served from the cache;
//! 4. `AuthKit RS256 via JWKS`: provider authkit, the bearer token is AuthKit's own RS256 JWT,
//!    checked against the warm JWKS and then remembered by hash (`cache_ttl`, default 5m);
//! 5. the same with `cache_ttl: 0s`: an RS256 signature verification on every request.
//!
//! Run: `cargo bench --bench verifiers` (release). `BENCH_SECS=N` sets each phase's length
//! (default 4).

#[path = "support/allocator.rs"]
mod allocator;
#[path = "support/load.rs"]
mod load;

use load::{RequestFigures, guarded_requests};

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use authproof::proxy::config::{ConsentMode, HumanDuration, ProviderKind, ProxyConfig, Secret};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use serde_json::{Value, json};

const CONNECTIONS: usize = 64;
const REDIRECT: &str = "http://127.0.0.1:7777/cb";

fn bench_secs() -> f64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(4.0)
}

fn idp(flavor: &str, user: &str) -> IdpConfig {
    let text = format!(
        "flavor: {flavor}\n\
         clients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }}]\n\
         users: [{{ sub: {user}, claims: {{ email: alice@example.com }} }}]\n\
         default_user: {user}\n\
         journal: {{ max_entries: 1000 }}\n"
    );
    foundations::yaml::from_str(&text, "<bench idp>").expect("bench idp config")
}

fn proxy_config(provider: ProviderKind, idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = ProxyConfig {
        provider,
        ..ProxyConfig::default()
    };
    match provider {
        ProviderKind::Workos | ProviderKind::Authkit => c.upstream.domain = Some(idp.url()),
        _ => c.upstream.config_url = Some(idp.discovery_url()),
    }
    c.upstream.timeout = HumanDuration::secs(10);
    c.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    if provider == ProviderKind::Authkit {
        return c;
    }
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().expect("method"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.consent = ConsentMode::Off;
    c.jwt_signing_key = Some(Secret::new("bench-signing-key-0123456789abcdef"));
    c
}

struct Stack {
    idp: MockIdpHandle,
    proxy: ProxyHandle,
}

impl Stack {
    async fn start(provider: ProviderKind, flavor: &str, user: &str) -> Stack {
        Self::start_with(provider, flavor, user, |_| {}).await
    }

    async fn start_with(
        provider: ProviderKind,
        flavor: &str,
        user: &str,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> Stack {
        let clock = Clock::system();
        let idp = MockIdp::builder()
            .config(idp(flavor, user))
            .clock(clock.clone())
            .spawn()
            .await
            .expect("mock idp");
        let mut cfg = proxy_config(provider, &idp);
        tweak(&mut cfg);
        let proxy = Proxy::spawn(
            cfg,
            SpawnOptions {
                clock,
                ..SpawnOptions::default()
            },
        )
        .await
        .expect("proxy");
        Stack { idp, proxy }
    }

    /// A proxy access token through a real flow.
    async fn proxy_token(&self) -> String {
        let fc = FlowClient::new(&self.proxy.url()).expect("flow client");
        fc.discover().await.expect("discover");
        let reg = fc
            .register(&json!({"redirect_uris": [REDIRECT]}))
            .await
            .expect("register");
        assert_eq!(reg.status, 201, "{}", reg.body);
        let out = fc
            .authorize(AuthorizeRequest::default())
            .await
            .expect("authorize");
        assert!(out.code.is_some(), "{out}");
        let t = fc
            .token_code(TokenCodeRequest::default())
            .await
            .expect("token");
        assert_eq!(t.status, 200, "{}", t.body);
        t.json.expect("json")["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// An AuthKit access token for the proxy's resource: DCR and a code flow at the mock.
    async fn authkit_token(&self) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http");
        let eps = self.idp.endpoints();
        let reg: Value = http
            .post(&eps["register"])
            .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("register json");
        let client_id = reg["client_id"].as_str().expect("client_id").to_string();
        let verifier = authproof::oauth::pkce::new_verifier();
        let challenge = authproof::oauth::pkce::challenge_s256(&verifier);
        let resource = self.proxy.resource();
        let r = http
            .get(&eps["authorize"])
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "openid email"),
                ("resource", resource.as_str()),
            ])
            .send()
            .await
            .expect("authorize");
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let code = url::Url::parse(&loc)
            .expect("location url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let t: Value = http
            .post(&eps["token"])
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        t["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

async fn phase(name: &str, stack: &Stack, token: &str, secs: f64) -> (String, RequestFigures) {
    eprintln!("{name}…");
    let path = url::Url::parse(&stack.proxy.resource())
        .expect("resource")
        .path()
        .to_owned();
    let f = guarded_requests(stack.proxy.local_addr(), &path, token, secs, CONNECTIONS).await;
    if let Some(e) = &f.first_bad {
        eprintln!("  first failed request: {e}");
    }
    (name.to_string(), f)
}

async fn run(secs: f64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("verifier bench: {secs} s per phase, {CONNECTIONS} connections, {cores} cores");
    let mut rows = Vec::new();

    let plain = Stack::start(ProviderKind::Oauth, "oidc", "alice").await;
    let token = plain.proxy_token().await;
    rows.push(phase("proxy HS256 (no upstream verifier)", &plain, &token, secs).await);
    plain.stop().await;

    let oidc = Stack::start(ProviderKind::Oidc, "oidc", "alice").await;
    let token = oidc.proxy_token().await;
    rows.push(
        phase(
            "proxy HS256 + upstream RS256 JWT (oidc)",
            &oidc,
            &token,
            secs,
        )
        .await,
    );
    oidc.stop().await;

    let workos = Stack::start(ProviderKind::Workos, "workos", "user_01ALICE").await;
    let token = workos.proxy_token().await;
    rows.push(
        phase(
            "proxy HS256 + userinfo, cached (workos)",
            &workos,
            &token,
            secs,
        )
        .await,
    );
    let userinfo_calls = workos
        .idp
        .journal()
        .iter()
        .filter(|e| e.path == "/oauth2/userinfo")
        .count();
    workos.stop().await;

    let authkit = Stack::start(ProviderKind::Authkit, "workos", "user_01ALICE").await;
    let token = authkit.authkit_token().await;
    rows.push(phase("AuthKit RS256 via JWKS (authkit)", &authkit, &token, secs).await);
    authkit.stop().await;

    let uncached = Stack::start_with(ProviderKind::Authkit, "workos", "user_01ALICE", |c| {
        c.upstream.verifier.cache_ttl = HumanDuration::secs(0);
    })
    .await;
    let token = uncached.authkit_token().await;
    rows.push(
        phase(
            "AuthKit RS256 via JWKS, cache_ttl 0s (signature every request)",
            &uncached,
            &token,
            secs,
        )
        .await,
    );
    uncached.stop().await;

    let base = rows[0].1.rate;
    println!();
    println!(
        "| guarded `tools/list`, {CONNECTIONS} connections | req/s | vs HS256 | p50 ms | p99 ms | failed |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.0} | {:+.0}% | {:.2} | {:.2} | {} of {} |",
            f.rate,
            (f.rate / base - 1.0) * 100.0,
            f.p50_ms,
            f.p99_ms,
            f.bad,
            f.done + f.bad
        );
    }
    println!();
    println!("userinfo requests during the workos phase (sign-in included): {userinfo_calls}");
}

fn main() {
    let secs = bench_secs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(secs));
}
