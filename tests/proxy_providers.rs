//! Provider modes end to end against the mock IdP: the OIDC proxy (ID tokens verified at the
//! callback, JWKS key rotation, strict discovery, audience), WorkOS (userinfo verifier with
//! its cache and scope enforcement), AuthKit remote auth (metadata forwarding, unreachable
//! AuthKit, JWKS-verified bearer tokens) and the presets' quirks.

mod proxy_common;

use authproof::client::{AuthorizeRequest, FlowClient, RefreshRequest};
use authproof::mock_idp::{self, Clock, FaultSpec, MockIdp, MockIdpHandle};
use authproof::proxy::config::{
    ConsentMode, HumanDuration, ProviderKind, ProxyConfig, Secret, VerifierKind,
};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use base64::Engine as _;
use proxy_common::{REDIRECT, http, mcp_init};
use serde_json::{Value, json};
use std::time::Duration;

struct Env {
    idp: MockIdpHandle,
    proxy: ProxyHandle,
    clock: Clock,
}

const OIDC_IDP: &str = "\
flavor: oidc
clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_basic }]
users: [{ sub: alice, claims: { email: alice@example.com } }]
default_user: alice
";

const WORKOS_IDP: &str = "\
flavor: workos
clients: [{ id: client_01, secret: sk_test, token_endpoint_auth_method: client_secret_post }]
users: [{ sub: user_01ALICE, claims: { email: alice@example.com } }]
default_user: user_01ALICE
";

async fn spawn_idp(yaml: &str, clock: &Clock) -> MockIdpHandle {
    let cfg: mock_idp::IdpConfig = foundations::yaml::from_str(yaml, "<idp>").expect("idp yaml");
    MockIdp::builder()
        .config(cfg)
        .clock(clock.clone())
        .spawn()
        .await
        .expect("mock idp")
}

fn base_config() -> ProxyConfig {
    let mut c = ProxyConfig {
        valid_scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
        required_scopes: Some(Vec::new()),
        allowed_client_redirect_uris: Some(vec!["http://localhost:*".into()]),
        consent: ConsentMode::Off,
        jwt_signing_key: Some(Secret::new("test-signing-key-0123456789")),
        ..ProxyConfig::default()
    };
    c.upstream.timeout = HumanDuration::secs(5);
    c
}

/// An OIDC-mode config for the mock at `idp`.
fn oidc_config(idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = base_config();
    c.provider = ProviderKind::Oidc;
    c.upstream.config_url = Some(idp.discovery_url());
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c
}

fn workos_config(idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = base_config();
    c.provider = ProviderKind::Workos;
    c.upstream.domain = Some(idp.url());
    c.upstream.client_id = "client_01".into();
    c.upstream.client_secret = Some(Secret::new("sk_test"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().unwrap());
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c
}

fn authkit_config(domain: &str) -> ProxyConfig {
    let mut c = base_config();
    c.provider = ProviderKind::Authkit;
    c.jwt_signing_key = None;
    c.valid_scopes = Vec::new();
    c.upstream.domain = Some(domain.to_string());
    c
}

async fn spawn_proxy(cfg: ProxyConfig, clock: &Clock) -> ProxyHandle {
    Proxy::spawn(
        cfg,
        SpawnOptions {
            clock: clock.clone(),
            ..SpawnOptions::default()
        },
    )
    .await
    .expect("proxy")
}

async fn start(idp_yaml: &str, cfg: impl FnOnce(&MockIdpHandle) -> ProxyConfig) -> Env {
    let clock = Clock::system();
    let idp = spawn_idp(idp_yaml, &clock).await;
    let proxy = spawn_proxy(cfg(&idp), &clock).await;
    Env { idp, proxy, clock }
}

impl Env {
    fn journal(&self, path: &str) -> Vec<mock_idp::JournalEntry> {
        self.idp
            .journal()
            .into_iter()
            .filter(|e| e.path == path)
            .collect()
    }

    fn fault(&self, yaml: &str) {
        let f: FaultSpec = foundations::yaml::from_str(yaml, "<fault>").expect("fault");
        self.idp.add_fault(f);
    }

    /// Register, authorize (consent off) and, when a code comes back, exchange it.
    /// Err: the authorization error the client was sent.
    async fn login(&self) -> (FlowClient, Result<Value, String>) {
        let fc = FlowClient::new(&self.proxy.url()).unwrap();
        fc.discover().await.expect("discover");
        let reg = fc
            .register(&json!({"redirect_uris": [REDIRECT]}))
            .await
            .unwrap();
        assert_eq!(reg.status, 201, "{}", reg.body);
        let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
        assert!(out.reached_redirect_uri, "{out}");
        if out.code.is_none() {
            let e = format!(
                "{}: {}",
                out.error.clone().unwrap_or_default(),
                out.error_description.clone().unwrap_or_default()
            );
            return (fc, Err(e));
        }
        let t = fc.token_code(Default::default()).await.unwrap();
        assert_eq!(t.status, 200, "{}", t.body);
        (fc, Ok(t.json.unwrap()))
    }

    async fn mcp(&self, token: &str) -> (u16, String) {
        let r = http()
            .post(self.proxy.resource())
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&mcp_init())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let www = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (s, format!("{www} {}", r.text().await.unwrap_or_default()))
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

fn access(t: &Result<Value, String>) -> String {
    t.as_ref().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------- OIDC

#[tokio::test]
async fn oidc_verifies_the_id_token_and_the_access_token() {
    let env = start(OIDC_IDP, oidc_config).await;
    let (_, t) = env.login().await;
    let at = access(&t);
    let (s, body) = env.mcp(&at).await;
    assert_eq!(s, 200, "{body}");
    let grant_subject = env
        .proxy
        .state()
        .tokens
        .verify(&at, authproof::proxy::jwt::TokenUse::Access)
        .unwrap()
        .sub;
    assert_eq!(grant_subject, "alice", "subject from the verified ID token");
    assert_eq!(
        env.proxy.state().upstream_verifier.kind(),
        VerifierKind::Jwt
    );
    env.stop().await;
}

#[tokio::test]
async fn oidc_refuses_bad_id_tokens_at_the_callback() {
    for (mutation, needle) in [
        ("bad_signature", "signature"),
        ("wrong_iss", "issuer"),
        ("wrong_aud", "audience"),
        ("expired", "expired"),
        ("alg_none", "alg none"),
    ] {
        let env = start(OIDC_IDP, oidc_config).await;
        env.fault(&format!(
            "match: {{ endpoint: token }}\naction: {{ mutate_id_token: {mutation} }}\n"
        ));
        let (_, t) = env.login().await;
        let e = t.expect_err(mutation);
        assert!(e.starts_with("server_error: "), "{mutation}: {e}");
        assert!(e.contains("ID token"), "{mutation}: {e}");
        assert!(e.to_lowercase().contains(needle), "{mutation}: {e}");
        env.stop().await;
    }
}

#[tokio::test]
async fn oidc_refuses_a_bad_upstream_access_token() {
    let env = start(OIDC_IDP, oidc_config).await;
    env.fault("match: { endpoint: token }\naction: { mutate_access_token: bad_signature }\n");
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(e.contains("signature"), "{e}");
    env.stop().await;
}

#[tokio::test]
async fn oidc_follows_key_rotation_with_a_rate_limited_refetch() {
    let env = start(OIDC_IDP, oidc_config).await;
    let (_, t) = env.login().await;
    assert!(t.is_ok(), "{t:?}");
    let jwks_fetches = || env.journal("/jwks").len();
    assert_eq!(jwks_fetches(), 1, "JWKS fetched once at the first callback");

    // Rotate right away: the new kid is unknown and the last fetch too recent to refetch.
    env.idp.rotate_keys();
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(e.contains("no key with kid"), "{e}");
    assert_eq!(jwks_fetches(), 1, "rate-limited");

    // Later, the unknown kid triggers one refetch and the login works.
    env.clock.advance(Duration::from_secs(31));
    let (_, t) = env.login().await;
    let at = access(&t);
    assert_eq!(jwks_fetches(), 2);
    let (s, body) = env.mcp(&at).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(jwks_fetches(), 2, "the cache serves the guard");
    env.stop().await;
}

#[tokio::test]
async fn oidc_discovery_is_strict_unless_relaxed() {
    // The RFC 8414 document lacks OIDC's subject_types_supported etc.
    let env = start(OIDC_IDP, |idp| {
        let mut c = oidc_config(idp);
        c.upstream.config_url = Some(idp.metadata_url());
        c
    })
    .await;
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(
        e.contains("subject_types_supported")
            || e.contains("id_token_signing_alg_values_supported"),
        "{e}"
    );
    env.stop().await;

    let env = start(OIDC_IDP, |idp| {
        let mut c = oidc_config(idp);
        c.upstream.config_url = Some(idp.metadata_url());
        c.upstream.strict = false;
        c
    })
    .await;
    let (_, t) = env.login().await;
    assert!(t.is_ok(), "{t:?}");
    env.stop().await;
}

#[tokio::test]
async fn audience_goes_to_authorize_and_token_requests() {
    let idp_yaml = "\
flavor: oidc
clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post, audience: 'https://api.example.com' }]
users: [{ sub: alice }]
default_user: alice
";
    let env = start(idp_yaml, |idp| {
        let mut c = oidc_config(idp);
        c.provider = ProviderKind::Auth0;
        c.upstream.audience = Some("https://api.example.com".into());
        c
    })
    .await;
    let (_, t) = env.login().await;
    let at = access(&t);
    let authz = env.journal("/authorize");
    assert_eq!(
        authz.last().unwrap().query["audience"],
        "https://api.example.com"
    );
    let tok = env.journal("/token");
    let exchange = tok.last().unwrap();
    assert_eq!(exchange.form["audience"], "https://api.example.com");
    assert_eq!(exchange.client_auth.as_deref(), Some("client_secret_post"));
    assert_eq!(env.mcp(&at).await.0, 200);
    env.stop().await;

    // Without the audience, Auth0 issues an opaque access token the jwt verifier refuses.
    let env = start(idp_yaml, |idp| {
        let mut c = oidc_config(idp);
        c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().unwrap());
        c
    })
    .await;
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(e.contains("not a JWT"), "{e}");
    env.stop().await;
}

// ---------------------------------------------------------------- WorkOS

#[tokio::test]
async fn workos_verifies_tokens_at_userinfo_with_a_cache() {
    let env = start(WORKOS_IDP, |idp| {
        let mut c = workos_config(idp);
        c.upstream.verifier.required_scopes = vec!["email".into()];
        c
    })
    .await;
    let (_, t) = env.login().await;
    let at = access(&t);
    let userinfo = || env.journal("/oauth2/userinfo").len();
    assert_eq!(userinfo(), 1, "checked at the callback");
    for _ in 0..3 {
        assert_eq!(env.mcp(&at).await.0, 200);
    }
    assert_eq!(userinfo(), 1, "cached");
    let exchange = env.journal("/oauth2/token");
    assert_eq!(
        exchange.last().unwrap().client_auth.as_deref(),
        Some("client_secret_post")
    );
    // After the cache entry lapses, userinfo is asked again; a revoked upstream token fails.
    env.clock.advance(Duration::from_secs(301));
    assert_eq!(env.mcp(&at).await.0, 200);
    assert_eq!(userinfo(), 2);
    env.fault("match: { endpoint: userinfo }\ntimes: always\naction: { respond: { status: 401, json: { error: unauthorized } } }\n");
    env.clock.advance(Duration::from_secs(301));
    let (s, body) = env.mcp(&at).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("userinfo answered 401"), "{body}");
    env.stop().await;
}

#[tokio::test]
async fn workos_enforces_the_scopes_userinfo_states() {
    let env = start(WORKOS_IDP, |idp| {
        let mut c = workos_config(idp);
        c.upstream.verifier.required_scopes = vec!["admin".into()];
        c
    })
    .await;
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(e.starts_with("access_denied"), "{e}");
    assert!(e.contains("admin"), "{e}");
    env.stop().await;
}

#[tokio::test]
async fn workos_userinfo_down_is_503_not_401() {
    let env = start(WORKOS_IDP, |idp| {
        let mut c = workos_config(idp);
        c.upstream.verifier.cache_ttl = HumanDuration::secs(0);
        c
    })
    .await;
    let (_, t) = env.login().await;
    let at = access(&t);
    env.fault(
        "match: { endpoint: userinfo }\ntimes: always\naction: { respond: { status: 503 } }\n",
    );
    let (s, body) = env.mcp(&at).await;
    assert_eq!(s, 503, "{body}");
    env.stop().await;
}

// ---------------------------------------------------------------- AuthKit

/// A token from AuthKit itself: DCR at the mock, code flow with `resource`, code exchange.
async fn authkit_token(idp: &MockIdpHandle, resource: Option<&str>) -> String {
    let c = http();
    let eps = idp.endpoints();
    let reg: Value = c
        .post(&eps["register"])
        .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().unwrap().to_string();
    let verifier = authproof::oauth::pkce::new_verifier();
    let mut q = vec![
        ("response_type", "code".to_string()),
        ("client_id", client_id.clone()),
        ("redirect_uri", REDIRECT.to_string()),
        (
            "code_challenge",
            authproof::oauth::pkce::challenge_s256(&verifier),
        ),
        ("code_challenge_method", "S256".to_string()),
        ("scope", "openid email".to_string()),
        ("login_hint", "user_01ALICE".to_string()),
    ];
    if let Some(r) = resource {
        q.push(("resource", r.to_string()));
    }
    let r = c.get(&eps["authorize"]).query(&q).send().await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let code = proxy_common::query(&loc)["code"].clone();
    let t: Value = c
        .post(&eps["token"])
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn authkit_serves_metadata_and_no_oauth_endpoints() {
    let env = start(WORKOS_IDP, |idp| authkit_config(&idp.url())).await;
    let base = env.proxy.url();
    let prm: Value = http()
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], env.proxy.resource());
    assert_eq!(prm["authorization_servers"], json!([env.idp.url()]));
    let forwarded: Value = http()
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let original: Value = http()
        .get(env.idp.metadata_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forwarded, original, "forwarded unchanged");
    assert!(forwarded["registration_endpoint"].is_string());
    for path in [
        "/register",
        "/token",
        "/authorize",
        "/revoke",
        "/consent",
        "/auth/callback",
    ] {
        let r = http().post(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // The unauthenticated challenge points at the PRM.
    let r = http()
        .post(env.proxy.resource())
        .json(&mcp_init())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(www.contains("resource_metadata="), "{www}");
    env.stop().await;
}

#[tokio::test]
async fn authkit_unreachable_is_a_json_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let clock = Clock::system();
    let proxy = spawn_proxy(authkit_config(&format!("http://127.0.0.1:{port}")), &clock).await;
    let r = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            proxy.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "server_error");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("Failed to fetch AuthKit metadata"),
        "{body}"
    );
    // Bearer tokens cannot be checked either: 503, not a 500 or a panic.
    let r = http()
        .post(proxy.resource())
        .bearer_auth("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJ4In0.c2ln")
        .json(&mcp_init())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    proxy.shutdown().await;
}

#[tokio::test]
async fn authkit_bearer_tokens_are_checked_against_its_jwks() {
    let env = start(WORKOS_IDP, |idp| authkit_config(&idp.url())).await;
    let resource = env.proxy.resource();
    let good = authkit_token(&env.idp, Some(&resource)).await;
    let (s, body) = env.mcp(&good).await;
    assert_eq!(s, 200, "{body}");

    // Audience bound to the resource: a token for another audience is refused.
    let other = authkit_token(&env.idp, None).await;
    let (s, body) = env.mcp(&other).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("audience"), "{body}");
    let elsewhere = authkit_token(&env.idp, Some("https://other.example.com/mcp")).await;
    assert_eq!(env.mcp(&elsewhere).await.0, 401);

    // alg none, and HS256 "signed" with the public key (RS/HS confusion).
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    let (s, body) = env.mcp(&none).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("alg none"), "{body}");
    let jwks = env.idp.jwks();
    let n = jwks["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    h.kid = jwks["keys"][0]["kid"].as_str().map(String::from);
    let hs =
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(&n)).unwrap();
    let (s, body) = env.mcp(&hs).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("RS/HS confusion"), "{body}");

    // A tampered signature and an expired token.
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        &parts[2][..parts[2].len() - 4]
    );
    assert_eq!(env.mcp(&tampered).await.0, 401);
    env.clock.advance(Duration::from_secs(3601));
    let (s, body) = env.mcp(&good).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
    env.stop().await;
}

// ---------------------------------------------------------------- presets

#[tokio::test]
async fn google_preset_sends_post_auth_and_offline_access() {
    let idp_yaml = "\
flavor: oidc
clients: [{ id: g-app, secret: gsecret, token_endpoint_auth_method: client_secret_post, offline_via_access_type: true }]
users: [{ sub: alice, claims: { email: alice@example.com } }]
default_user: alice
";
    let env = start(idp_yaml, |idp| {
        let mut c = base_config();
        c.provider = ProviderKind::Google;
        c.upstream.config_url = Some(idp.discovery_url());
        c.upstream.client_id = "g-app".into();
        c.upstream.client_secret = Some(Secret::new("gsecret"));
        c
    })
    .await;
    let (fc, t) = env.login().await;
    let at = access(&t);
    let authz = env.journal("/authorize");
    let q = &authz.last().unwrap().query;
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["prompt"], "consent");
    let exchange = env.journal("/token");
    assert_eq!(
        exchange.last().unwrap().client_auth.as_deref(),
        Some("client_secret_post")
    );
    assert_eq!(env.mcp(&at).await.0, 200);
    // Offline access gave an upstream refresh token: the proxy can refresh.
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    env.stop().await;
}

#[tokio::test]
async fn github_preset_uses_user_endpoint_and_copes_with_errors_at_200() {
    let idp_yaml = "\
flavor: github
clients: [{ id: gh-app, secret: ghsecret, token_endpoint_auth_method: client_secret_post }]
users: [{ sub: octocat, claims: { email: octo@example.com } }]
default_user: octocat
";
    let env = start(idp_yaml, |idp| {
        let mut c = base_config();
        c.provider = ProviderKind::Github;
        c.upstream.domain = Some(idp.url());
        c.upstream.client_id = "gh-app".into();
        c.upstream.client_secret = Some(Secret::new("ghsecret"));
        c.upstream.verifier.required_scopes = vec!["user:email".into()];
        c
    })
    .await;
    let (_, t) = env.login().await;
    let at = access(&t);
    assert_eq!(env.mcp(&at).await.0, 200);
    assert_eq!(env.journal("/user").len(), 1, "GET /user checked the token");
    let sub = env
        .proxy
        .state()
        .tokens
        .verify(&at, authproof::proxy::jwt::TokenUse::Access)
        .unwrap()
        .sub;
    assert!(
        sub.chars().all(|c| c.is_ascii_digit()),
        "GitHub's numeric id: {sub}"
    );
    // GitHub answers a bad code with HTTP 200 and an error body.
    env.fault("match: { endpoint: token }\naction: { respond: { status: 200, json: { error: bad_verification_code, error_description: 'The code passed is incorrect or expired.' } } }\n");
    let (_, t) = env.login().await;
    let e = t.unwrap_err();
    assert!(e.contains("bad_verification_code"), "{e}");
    env.stop().await;
}

#[tokio::test]
async fn azure_preset_never_forwards_resource_and_sends_scope_on_refresh() {
    let idp_yaml = "\
flavor: oidc
clients: [{ id: entra-app, secret: esecret, token_endpoint_auth_method: client_secret_basic, reject_resource: true, refresh_requires_scope: true }]
users: [{ sub: alice }]
default_user: alice
tokens: { id_token_ttl_secs: 600, access_token_ttl_secs: 3600 }
";
    let env = start(idp_yaml, |idp| {
        let mut c = base_config();
        c.provider = ProviderKind::Azure;
        c.upstream.config_url = Some(idp.discovery_url());
        c.upstream.client_id = "entra-app".into();
        c.upstream.client_secret = Some(Secret::new("esecret"));
        c
    })
    .await;
    let (fc, t) = env.login().await;
    let at = access(&t);
    assert!(
        !env.journal("/authorize")
            .last()
            .unwrap()
            .query
            .contains_key("resource")
    );
    assert_eq!(env.mcp(&at).await.0, 200);
    // The ID token (the azure verifier's) outlives its 10 minutes: still authentic, and the
    // upstream access token is valid, so the guard keeps accepting.
    env.clock.advance(Duration::from_secs(700));
    assert_eq!(env.mcp(&at).await.0, 200);
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let refresh = env.journal("/token");
    let last = refresh.last().unwrap();
    assert_eq!(last.form["grant_type"], "refresh_token");
    assert!(
        last.form.get("scope").is_some_and(|s| s.contains("openid")),
        "{:?}",
        last.form
    );
    env.stop().await;
}

#[tokio::test]
async fn keycloak_preset_honours_a_short_refresh_expires_in() {
    let idp_yaml = "\
flavor: oidc
clients: [{ id: kc-app, secret: kcsecret }]
users: [{ sub: alice }]
default_user: alice
tokens: { refresh_token_ttl_secs: 60, send_refresh_expires_in: true, access_token_ttl_secs: 30 }
";
    let env = start(idp_yaml, |idp| {
        let mut c = base_config();
        c.provider = ProviderKind::Keycloak;
        c.upstream.domain = Some(idp.url());
        c.upstream.client_id = "kc-app".into();
        c.upstream.client_secret = Some(Secret::new("kcsecret"));
        c.upstream.scopes = vec!["openid".into()];
        c
    })
    .await;
    let (fc, t) = env.login().await;
    assert!(t.is_ok(), "{t:?}");
    let grant_rt_exp = env
        .idp
        .journal()
        .into_iter()
        .filter(|e| e.path == "/token")
        .count();
    assert_eq!(grant_rt_exp, 1);
    env.clock.advance(Duration::from_secs(120));
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json.unwrap()["error"], "invalid_grant");
    env.stop().await;
}

#[tokio::test]
async fn workos_configured_from_the_environment_alone() {
    let clock = Clock::system();
    let idp = spawn_idp(WORKOS_IDP, &clock).await;
    let vars: Vec<(String, String)> = [
        ("AUTHPROOF_PROVIDER", "workos".to_string()),
        ("AUTHPROOF_UPSTREAM__DOMAIN", idp.url()),
        ("AUTHPROOF_UPSTREAM__CLIENT_ID", "client_01".into()),
        ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "sk_test".into()),
        (
            "AUTHPROOF_UPSTREAM__TOKEN_ENDPOINT_AUTH_METHOD",
            "client_secret_post".into(),
        ),
        (
            "AUTHPROOF_UPSTREAM__SCOPES",
            "[\"openid\",\"email\"]".into(),
        ),
        ("AUTHPROOF_VALID_SCOPES", "[\"openid\",\"email\"]".into()),
        ("AUTHPROOF_CONSENT", "off".into()),
        (
            "AUTHPROOF_ALLOWED_CLIENT_REDIRECT_URIS",
            "[\"http://localhost:*\"]".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let cfg = ProxyConfig::load_with_env(None, vars).expect("config from the environment");
    let proxy = spawn_proxy(cfg, &clock).await;
    let env = Env { idp, proxy, clock };
    let (_, t) = env.login().await;
    let at = access(&t);
    assert_eq!(env.mcp(&at).await.0, 200);
    assert_eq!(env.journal("/oauth2/token").len(), 1);
    assert_eq!(env.journal("/oauth2/userinfo").len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn introspection_verifier_with_client_auth_and_cache() {
    let idp_yaml = "\
flavor: oidc
clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_basic }]
users: [{ sub: alice }]
default_user: alice
tokens: { access_token_format: opaque }
";
    let env = start(idp_yaml, |idp| {
        let mut c = oidc_config(idp);
        c.provider = ProviderKind::Oauth;
        c.upstream.verifier.kind = Some(VerifierKind::Introspection);
        c.upstream.verifier.required_scopes = vec!["email".into()];
        c
    })
    .await;
    let (_, t) = env.login().await;
    let at = access(&t);
    let calls = || env.journal("/introspect");
    assert_eq!(calls().len(), 1, "introspected at the callback");
    assert_eq!(
        calls()[0].client_auth.as_deref(),
        Some("client_secret_basic"),
        "with the upstream client's authentication"
    );
    assert_eq!(calls()[0].form["token_type_hint"], "access_token");
    assert_eq!(env.mcp(&at).await.0, 200);
    assert_eq!(calls().len(), 1, "cached");
    // Upstream revoked: once the cache entry lapses, the token is inactive.
    env.fault("match: { endpoint: introspect }\ntimes: always\naction: { respond: { status: 200, json: { active: false } } }\n");
    env.clock.advance(Duration::from_secs(301));
    let (s, body) = env.mcp(&at).await;
    assert_eq!(s, 401, "{body}");
    assert!(body.contains("not active"), "{body}");
    env.stop().await;
}

#[tokio::test]
async fn oidc_binds_the_id_token_to_the_sign_in_with_a_nonce() {
    use authproof::proxy::upstream::verify::nonce_for;
    let env = start(OIDC_IDP, oidc_config).await;
    let (_, t) = env.login().await;
    assert!(t.is_ok(), "{t:?}");
    let authz = env.journal("/authorize");
    let q = &authz.last().unwrap().query;
    assert_eq!(
        q["nonce"],
        nonce_for(&q["state"]),
        "nonce derived from the state"
    );

    // An ID token minted for another sign-in (another nonce) is refused.
    let eps = env.idp.endpoints();
    let verifier = authproof::oauth::pkce::new_verifier();
    let r = http()
        .get(&eps["authorize"])
        .query(&[
            ("response_type", "code"),
            ("client_id", "upstream-app"),
            (
                "redirect_uri",
                &format!("{}/auth/callback", env.proxy.url()),
            ),
            ("scope", "openid"),
            ("nonce", "some-other-sign-in"),
            (
                "code_challenge",
                &authproof::oauth::pkce::challenge_s256(&verifier),
            ),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let code = proxy_common::query(&loc)["code"].clone();
    let tokens: Value = http()
        .post(&eps["token"])
        .basic_auth("upstream-app", Some("s3cret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            (
                "redirect_uri",
                &format!("{}/auth/callback", env.proxy.url()),
            ),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let st = env.proxy.state();
    st.upstream_verifier
        .verify_id_token(&st.upstream, id_token, Some("some-other-sign-in"))
        .await
        .expect("its own nonce");
    let e = st
        .upstream_verifier
        .verify_id_token(&st.upstream, id_token, Some(&nonce_for("this-sign-in")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nonce"), "{e}");
    env.stop().await;
}

#[tokio::test]
async fn concurrent_first_requests_share_one_jwks_fetch() {
    let env = start(WORKOS_IDP, |idp| {
        let mut c = authkit_config(&idp.url());
        c.upstream.verifier.cache_ttl = HumanDuration::secs(0);
        c
    })
    .await;
    let token = authkit_token(&env.idp, Some(&env.proxy.resource())).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (url, token) = (env.proxy.resource(), token.clone());
        set.spawn(async move {
            http()
                .post(url)
                .bearer_auth(token)
                .json(&mcp_init())
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 200);
    }
    assert_eq!(env.journal("/oauth2/jwks").len(), 1, "one fetch for all");
    env.stop().await;
}
