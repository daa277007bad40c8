//! Helpers shared by the integration tests: spawn an IdP from YAML, drive the code flow.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use serde_json::Value;
use std::collections::BTreeMap;

pub const REDIRECT: &str = "http://127.0.0.1:7777/callback";

/// Parse an IdP config; panics with the YAML error so a typo in a test is obvious.
pub fn config(yaml: &str) -> IdpConfig {
    foundations::yaml::from_str(yaml, "<test>").unwrap_or_else(|e| panic!("{e}"))
}

pub async fn spawn(yaml: &str) -> MockIdpHandle {
    MockIdp::builder()
        .config(config(yaml))
        .spawn()
        .await
        .expect("spawn")
}

pub async fn spawn_frozen(yaml: &str) -> MockIdpHandle {
    MockIdp::builder()
        .config(config(yaml))
        .clock(Clock::frozen_at(1_900_000_000))
        .spawn()
        .await
        .expect("spawn")
}

/// A client that never follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_bytes() -> [u8; 32] {
    let t = mock_idp::ids::random_token();
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha256(t.as_bytes()));
    out
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    mock_idp::ids::sha256(b)
}

/// RFC 6749 §2.3.1 Basic header.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// The query parameters of a redirect's Location.
pub fn location(resp: &reqwest::Response) -> BTreeMap<String, String> {
    let loc = resp
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location (status {})", resp.status()))
        .to_str()
        .unwrap();
    url::Url::parse(loc)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// GET the authorization endpoint with `params`.
pub async fn authorize(idp: &MockIdpHandle, params: &[(&str, &str)]) -> reqwest::Response {
    let ep = idp.endpoints()["authorize"].clone();
    http().get(ep).query(params).send().await.unwrap()
}

/// Headless code flow: returns the code.
pub async fn code_for(
    idp: &MockIdpHandle,
    client_id: &str,
    user: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email offline_access"),
        ("state", "st"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("login_hint", user),
    ];
    p.extend_from_slice(extra);
    let r = authorize(idp, &p).await;
    assert_eq!(r.status(), 302, "{:?}", r.text().await);
    let q = location(&r);
    assert_eq!(q.get("state").map(String::as_str), Some("st"));
    q.get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {q:?}"))
}

/// POST the token endpoint; returns status, headers and JSON (Null when not JSON).
pub async fn token(
    idp: &MockIdpHandle,
    form: &[(&str, &str)],
    auth: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let ep = idp.endpoints()["token"].clone();
    let mut req = http().post(ep).form(form);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// Decode a JWT's header and claims without verifying.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || {
        let b = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
        serde_json::from_slice::<Value>(&b).unwrap()
    };
    let h = next();
    let c = next();
    (h, c)
}

/// Verify an RS256 JWT against a JWKS value (signature only).
pub fn verify_with_jwks(token: &str, jwks: &Value) -> Result<Value, String> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

pub const OIDC_BASE: &str = r#"
flavor: oidc
clients:
  - { id: basic-app, secret: "s3cr3t:/&", token_endpoint_auth_method: client_secret_basic, redirect_uris: ["http://127.0.0.1:7777/callback"] }
  - { id: post-app, secret: postsecret, token_endpoint_auth_method: client_secret_post, redirect_uris: ["http://127.0.0.1:7777/callback"] }
  - { id: public-app, token_endpoint_auth_method: none }
  - { id: m2m, secret: m2msecret, token_endpoint_auth_method: client_secret_post, grant_types: [client_credentials] }
users:
  - { sub: alice, claims: { email: alice@example.com, email_verified: true, name: Alice } }
  - { sub: bob, claims: { email: bob@example.com } }
"#;
