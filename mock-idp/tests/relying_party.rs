//! A real relying party (the `openidconnect` crate) against the mock: discovery, code flow
//! with PKCE, ID-token validation (nonce, at_hash, signature) and refresh, once per
//! token-endpoint auth method and once per signing algorithm; and the failures a wrong
//! method must produce.

mod common;

use common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope,
    TokenResponse,
};

#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    #[error(transparent)]
    Http(#[from] openidconnect::http::Error),
}

async fn send(
    c: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (p, body) = req.into_parts();
    let r = c
        .request(p.method, p.uri.to_string())
        .headers(p.headers)
        .body(body)
        .send()
        .await?;
    let mut b = openidconnect::http::Response::builder().status(r.status());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    Ok(b.body(r.bytes().await?.to_vec())?)
}

struct Rp {
    id: &'static str,
    secret: Option<&'static str>,
    auth: AuthType,
}

/// The flow with ID tokens of the default algorithm, RS256.
async fn full_flow(idp: &mock_idp::MockIdpHandle, rp: &Rp) -> Result<(), String> {
    flow_with_alg(idp, rp, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await
}

/// The flow, the RP accepting ID tokens signed with `alg` only.
async fn flow_with_alg(
    idp: &mock_idp::MockIdpHandle,
    rp: &Rp,
    alg: CoreJwsSigningAlgorithm,
) -> Result<(), String> {
    let http = http();
    let hc = |r| send(&http, r);
    let issuer = IssuerUrl::new(idp.issuer()).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer, &hc)
        .await
        .map_err(|e| format!("discovery: {e:?}"))?;
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(rp.id.to_string()),
        rp.secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap())
    .set_auth_type(rp.auth.clone());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", "alice")
        .url();
    let r = http.get(url.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let q = location(&r);
    assert_eq!(q.get("state"), Some(csrf.secret()));
    assert_eq!(q.get("iss"), Some(&idp.issuer()), "RFC 9207 iss");
    let code = q["code"].clone();
    let resp = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(verifier)
        .request_async(&hc)
        .await
        .map_err(|e| describe(&e))?;
    let id_token = resp.id_token().ok_or("no id_token")?;
    let verifier = client.id_token_verifier().set_allowed_algs([alg.clone()]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .map_err(|e| format!("id token: {e}"))?;
    assert_eq!(id_token.signing_alg().ok(), Some(&alg));
    assert_eq!(claims.subject().as_str(), "alice");
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    let expected = AccessTokenHash::from_token(
        resp.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
    let refresh = resp.refresh_token().ok_or("no refresh token")?;
    let refreshed = client
        .exchange_refresh_token(refresh)
        .map_err(|e| e.to_string())?
        .request_async(&hc)
        .await
        .map_err(|e| describe(&e))?;
    assert_ne!(
        refreshed.access_token().secret(),
        resp.access_token().secret()
    );
    let new_id = refreshed.id_token().ok_or("no id_token on refresh")?;
    let c2 = new_id
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .map_err(|e| format!("refreshed id token: {e}"))?;
    assert_eq!(c2.subject().as_str(), "alice");
    Ok(())
}

fn describe<E: std::error::Error>(
    e: &RequestTokenError<
        E,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => format!("server: {}", r.error()),
        other => format!("{other:?}"),
    }
}

const BASIC: Rp = Rp {
    id: "basic-app",
    secret: Some("s3cr3t:/&"),
    auth: AuthType::BasicAuth,
};
const POST: Rp = Rp {
    id: "post-app",
    secret: Some("postsecret"),
    auth: AuthType::RequestBody,
};
const NONE: Rp = Rp {
    id: "public-app",
    secret: None,
    auth: AuthType::RequestBody,
};

#[tokio::test]
async fn rp_completes_the_flow_with_client_secret_basic() {
    let idp = spawn(OIDC_BASE).await;
    full_flow(&idp, &BASIC).await.unwrap();
    let token_calls: Vec<_> = idp
        .journal()
        .into_iter()
        .filter(|e| e.path == "/token")
        .collect();
    assert_eq!(token_calls.len(), 2);
    assert!(
        token_calls
            .iter()
            .all(|e| e.client_auth.as_deref() == Some("client_secret_basic"))
    );
    assert!(
        token_calls
            .iter()
            .all(|e| e.client_id.as_deref() == Some("basic-app"))
    );
}

#[tokio::test]
async fn rp_completes_the_flow_with_client_secret_post() {
    let idp = spawn(OIDC_BASE).await;
    full_flow(&idp, &POST).await.unwrap();
    let last = idp
        .journal()
        .into_iter()
        .rev()
        .find(|e| e.path == "/token")
        .unwrap();
    assert_eq!(last.client_auth.as_deref(), Some("client_secret_post"));
    assert_eq!(
        last.form.get("client_secret").map(String::as_str),
        Some("postsecret")
    );
}

#[tokio::test]
async fn rp_completes_the_flow_as_a_public_client() {
    let idp = spawn(OIDC_BASE).await;
    full_flow(&idp, &NONE).await.unwrap();
    let last = idp
        .journal()
        .into_iter()
        .rev()
        .find(|e| e.path == "/token")
        .unwrap();
    assert_eq!(last.client_auth.as_deref(), Some("none"));
}

#[tokio::test]
async fn rp_with_the_wrong_method_gets_invalid_client() {
    let idp = spawn(OIDC_BASE).await;
    // basic-app is registered for client_secret_basic; sending the secret in the body fails.
    let wrong = Rp {
        auth: AuthType::RequestBody,
        ..BASIC
    };
    let e = full_flow(&idp, &wrong).await.unwrap_err();
    assert_eq!(e, "server: invalid_client");
    // post-app is registered for client_secret_post; Basic fails.
    let wrong = Rp {
        auth: AuthType::BasicAuth,
        ..POST
    };
    assert_eq!(
        full_flow(&idp, &wrong).await.unwrap_err(),
        "server: invalid_client"
    );
    // A confidential client cannot pretend to be public.
    let wrong = Rp {
        secret: None,
        ..POST
    };
    assert_eq!(
        full_flow(&idp, &wrong).await.unwrap_err(),
        "server: invalid_client"
    );
}

#[tokio::test]
async fn rp_works_with_an_issuer_that_has_a_path_and_trailing_slash() {
    let idp = mock_idp::MockIdp::builder()
        .config(config(OIDC_BASE))
        .issuer_path("/tenants/acme/")
        .spawn()
        .await
        .unwrap();
    let issuer = format!("{}/tenants/acme/", idp.url());
    assert_eq!(idp.issuer(), issuer);
    assert_eq!(
        idp.endpoints()["token"],
        format!("{}/tenants/acme/token", idp.url())
    );
    full_flow(&idp, &BASIC).await.unwrap();
    let r = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server/tenants/acme",
            idp.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "RFC 8414 path insertion");
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer);
}

/// ES256 and EdDSA: the RP reads the algorithm from discovery, verifies the signature with
/// the EC / OKP key of the JWKS, and checks `at_hash` with its own hash for the algorithm
/// (SHA-256, and SHA-512 for Ed25519).
#[tokio::test]
async fn rp_verifies_es256_and_eddsa_id_tokens() {
    for (name, alg) in [
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let idp = spawn(&format!("{OIDC_BASE}keys: {{ algorithm: {name} }}\n")).await;
        let meta = http()
            .get(idp.discovery_url())
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(
            meta["id_token_signing_alg_values_supported"],
            serde_json::json!([name])
        );
        flow_with_alg(&idp, &BASIC, alg)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The same RP refuses them when it allows RS256 only.
        let e = full_flow(&idp, &BASIC).await.unwrap_err();
        assert!(e.contains("id token"), "{name}: {e}");
    }
}
