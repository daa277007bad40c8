//! The whole flow against the real mock IdP, for each upstream client-auth method:
//! register → authorize → consent → upstream login → callback → token → guarded MCP call;
//! and in OIDC mode with an IdP signing ES256 or EdDSA.

mod proxy_common;

use authproof::client::{AuthorizeRequest, RefreshRequest, RevokeRequest};
use authproof::mock_idp::config::KeyAlgorithm;
use authproof::oauth::client_auth::basic_header;
use authproof::proxy::config::{JwtAlgorithm, ProviderKind, ProxyConfig};
use proxy_common::*;
use serde_json::json;

async fn full_flow(method: &str) {
    let env = start(method).await;
    let (fc, out) = env.authorized().await;
    assert_eq!(
        out.iss.as_deref(),
        Some(env.proxy.issuer().as_str()),
        "RFC 9207 iss"
    );
    assert_eq!(out.state, out.sent_state, "state echoed");
    assert!(
        out.consent_page
            .as_deref()
            .unwrap_or("")
            .contains("Test Client"),
        "consent names the client"
    );

    // The upstream authorization request: the proxy's own PKCE and a fresh state.
    let authz = env.journal("/authorize");
    let up = authz.last().expect("upstream authorize");
    assert_eq!(up.query["client_id"], "upstream-app");
    assert_eq!(up.query["code_challenge_method"], "S256");
    assert_eq!(
        up.query["redirect_uri"],
        format!("{}/auth/callback", env.proxy.url())
    );
    assert!(up.query["state"].len() >= 40);
    assert_ne!(
        Some(up.query["state"].clone()),
        out.sent_state,
        "upstream state is the proxy's own"
    );
    assert_eq!(up.query["scope"], "openid email");

    let tok = fc.token_code(Default::default()).await.unwrap();
    assert_eq!(tok.status, 200, "{}", tok.body);
    assert_eq!(tok.header("cache-control"), Some("no-store"));
    assert_eq!(tok.header("pragma"), Some("no-cache"));
    let json = tok.json.clone().unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["scope"], "openid email");
    let access = json["access_token"].as_str().unwrap().to_string();
    let claims = env
        .proxy
        .state()
        .tokens
        .verify(&access, authproof::proxy::jwt::TokenUse::Access)
        .unwrap();
    assert_eq!(claims.aud, env.proxy.resource());
    assert_eq!(claims.iss, env.proxy.issuer());
    assert_eq!(claims.sub, "alice");

    // The upstream code exchange used the configured client authentication.
    let token_calls = env.journal("/token");
    let exchange = token_calls.last().expect("upstream token call");
    assert_eq!(exchange.status, 200);
    assert_eq!(exchange.client_auth.as_deref(), Some(method));
    assert_eq!(exchange.form["grant_type"], "authorization_code");
    assert!(
        exchange.form.contains_key("code_verifier"),
        "proxy PKCE verifier sent upstream"
    );
    assert_ne!(
        Some(exchange.form["code_verifier"].clone()),
        out.pkce_verifier,
        "client verifier never goes upstream"
    );
    match method {
        "client_secret_post" => {
            assert_eq!(exchange.form["client_id"], "upstream-app");
            assert_eq!(exchange.form["client_secret"], "s3cret");
            assert!(
                !exchange.headers.contains_key("authorization"),
                "post: no Authorization header"
            );
        }
        "client_secret_basic" => {
            assert!(
                !exchange.form.contains_key("client_secret"),
                "basic: no secret in the form"
            );
            assert_eq!(
                exchange.headers["authorization"],
                basic_header("upstream-app", "s3cret")
            );
        }
        "none" => {
            assert_eq!(exchange.form["client_id"], "upstream-app");
            assert!(!exchange.form.contains_key("client_secret"));
            assert!(!exchange.headers.contains_key("authorization"));
        }
        _ => unreachable!(),
    }

    // The guarded MCP endpoint accepts the proxy's access token.
    let mcp = fc.mcp(&access, &mcp_init()).await.unwrap();
    assert_eq!(mcp.status, 200, "{}", mcp.body);
    let tools = fc
        .mcp(
            &access,
            &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await
        .unwrap();
    assert_eq!(tools.status, 200, "{}", tools.body);

    // Refresh rotates, and refreshes upstream with the same client authentication.
    env.idp.clear_journal();
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let rj = r.json.clone().unwrap();
    assert_ne!(
        rj["refresh_token"], json["refresh_token"],
        "refresh tokens rotate"
    );
    let up_refresh = env.journal("/token");
    let up_refresh = up_refresh.last().expect("upstream refresh");
    assert_eq!(up_refresh.form["grant_type"], "refresh_token");
    assert_eq!(up_refresh.client_auth.as_deref(), Some(method));
    let new_access = rj["access_token"].as_str().unwrap();
    let mcp = fc.mcp(new_access, &mcp_init()).await.unwrap();
    assert_eq!(mcp.status, 200, "{}", mcp.body);

    // Revocation removes the grant; the access token stops working.
    let rv = fc.revoke(RevokeRequest::default()).await.unwrap();
    assert_eq!(rv.status, 200, "{}", rv.body);
    let mcp = fc.mcp(new_access, &mcp_init()).await.unwrap();
    assert_eq!(mcp.status, 401, "revoked grant: {}", mcp.body);
    let revs = env.journal("/revoke");
    let rev = revs.last().expect("upstream revocation");
    assert_eq!(rev.client_auth.as_deref(), Some(method));
    assert_ne!(
        rev.form["token"],
        rj["refresh_token"].as_str().unwrap(),
        "the proxy's token never goes upstream"
    );
    assert_ne!(rev.form["token"], new_access);
    env.stop().await;
}

#[tokio::test]
async fn flow_client_secret_basic() {
    full_flow("client_secret_basic").await;
}

#[tokio::test]
async fn flow_client_secret_post() {
    full_flow("client_secret_post").await;
}

#[tokio::test]
async fn flow_none() {
    full_flow("none").await;
}

/// The proxy in OIDC mode allowing `allowed`, in front of a mock IdP signing with `signs`.
async fn oidc_env(signs: KeyAlgorithm, allowed: Option<JwtAlgorithm>) -> Env {
    start_tweaked(
        "client_secret_basic",
        |idp| idp.keys.algorithm = signs,
        |c: &mut ProxyConfig| {
            c.provider = ProviderKind::Oidc;
            c.upstream.verifier.algorithms = allowed.into_iter().collect();
        },
    )
    .await
}

/// The authorization error the client was sent, as `error: description`.
async fn refused_login(env: &Env) -> String {
    let fc = env.registered().await;
    let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    assert!(out.reached_redirect_uri && out.code.is_none(), "{out}");
    format!(
        "{}: {}",
        out.error.unwrap_or_default(),
        out.error_description.unwrap_or_default()
    )
}

/// An IdP signing ES256 or EdDSA: the proxy verifies the ID token at the callback (OIDC mode
/// refuses the sign-in otherwise, and the grant's subject comes from it) and the upstream JWT
/// access token at the guard, with the EC / OKP key of the IdP's JWKS. A tampered ID-token
/// signature is refused, and so is the algorithm when the allow-list is the default RS256.
async fn oidc_flow_signed_with(signs: KeyAlgorithm, allowed: JwtAlgorithm) {
    let env = oidc_env(signs, Some(allowed)).await;
    let (fc, tokens) = env.with_tokens().await;
    let access = tokens["access_token"].as_str().unwrap();
    let claims = env
        .proxy
        .state()
        .tokens
        .verify(access, authproof::proxy::jwt::TokenUse::Access)
        .unwrap();
    assert_eq!(claims.sub, "alice", "subject from the verified ID token");
    let jwks = env.idp.jwks();
    assert_eq!(jwks["keys"][0]["alg"], signs.as_str());
    assert_eq!(env.journal("/jwks").len(), 1, "the proxy fetched the JWKS");
    let mcp = fc.mcp(access, &mcp_init()).await.unwrap();
    assert_eq!(mcp.status, 200, "{}", mcp.body);
    env.stop().await;

    let env = oidc_env(signs, Some(allowed)).await;
    env.fault("match: { endpoint: token }\naction: { mutate_id_token: bad_signature }\n");
    let e = refused_login(&env).await;
    assert!(
        e.starts_with("server_error: ") && e.contains("ID token") && e.contains("signature"),
        "{signs}: {e}"
    );
    env.stop().await;

    let env = oidc_env(signs, None).await;
    let e = refused_login(&env).await;
    assert!(
        e.contains(&format!("alg {} is not allowed", signs.as_str())),
        "{signs}: {e}"
    );
    env.stop().await;
}

#[tokio::test]
async fn oidc_flow_with_es256_tokens() {
    oidc_flow_signed_with(KeyAlgorithm::Es256, JwtAlgorithm::Es256).await;
}

#[tokio::test]
async fn oidc_flow_with_eddsa_tokens() {
    oidc_flow_signed_with(KeyAlgorithm::EdDsa, JwtAlgorithm::EdDsa).await;
}
