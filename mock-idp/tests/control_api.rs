//! The control API over HTTP, the journal, key rotation as seen through the JWKS, reset.

mod common;

use common::*;
use serde_json::{Value, json};

async fn get(url: String) -> Value {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

async fn post(url: String, body: Option<Value>) -> (u16, Value) {
    let mut r = http().post(url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn key_rotation_is_seen_through_the_jwks() {
    let idp = spawn_frozen(&format!(
        "{OIDC_BASE}keys: {{ rotation_overlap_secs: 600 }}\n"
    ))
    .await;
    let jwks_url = idp.endpoints()["jwks"].clone();
    let before = get(jwks_url.clone()).await;
    let old_kid = before["keys"][0]["kid"].as_str().unwrap().to_string();
    let (s, r) = post(format!("{}/_mock/keys/rotate", idp.url()), None).await;
    assert_eq!(s, 200);
    let new_kid = r["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    let during = get(jwks_url.clone()).await;
    let kids: Vec<&str> = during["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str(), old_kid.as_str()]);
    // The new key signs.
    let (_, _, t) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "m2m"),
            ("client_secret", "m2msecret"),
        ],
        None,
    )
    .await;
    let (h, _) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(h["kid"], new_kid.as_str());
    verify_with_jwks(t["access_token"].as_str().unwrap(), &during).unwrap();
    // After the overlap the old key leaves.
    post(
        format!("{}/_mock/clock/advance", idp.url()),
        Some(json!({ "secs": 600 })),
    )
    .await;
    let after = get(jwks_url).await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str()]);
    // Rotation is deterministic: another IdP with the same seed rotates to the same key.
    let other = spawn(OIDC_BASE).await;
    assert_eq!(other.rotate_keys(), new_kid);
    // Reset brings the first key back.
    other.reset();
    assert_eq!(other.jwks(), before);
}

#[tokio::test]
async fn the_journal_records_requests() {
    let idp = spawn(OIDC_BASE).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&idp, "basic-app", "alice", &challenge, &[]).await;
    let (s, _, _) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        Some(&basic("basic-app", "s3cr3t:/&")),
    )
    .await;
    assert_eq!(s, 200);
    let j = idp.journal();
    assert_eq!(j.len(), 2);
    let (a, t) = (&j[0], &j[1]);
    assert_eq!(
        (a.method.as_str(), a.path.as_str(), a.status),
        ("GET", "/authorize", 302)
    );
    assert_eq!(a.query["login_hint"], "alice");
    assert_eq!(a.client_id.as_deref(), Some("basic-app"));
    assert_eq!(a.client_auth, None);
    assert_eq!(
        (t.method.as_str(), t.path.as_str(), t.status),
        ("POST", "/token", 200)
    );
    assert_eq!(t.form["grant_type"], "authorization_code");
    assert!(!t.form.contains_key("client_id"));
    assert_eq!(t.client_auth.as_deref(), Some("client_secret_basic"));
    assert_eq!(t.client_id.as_deref(), Some("basic-app"));
    assert!(t.headers["authorization"].starts_with("Basic "));
    assert!(t.headers.contains_key("content-type"));
    assert!(t.seq > a.seq);
    assert!(t.at_unix > 1_600_000_000);
    // Over HTTP, and control calls are not journaled.
    let over_http = get(format!("{}/_mock/journal", idp.url())).await;
    assert_eq!(over_http.as_array().unwrap().len(), 2);
    assert_eq!(over_http[1]["client_auth"], "client_secret_basic");
    http()
        .delete(format!("{}/_mock/journal", idp.url()))
        .send()
        .await
        .unwrap();
    assert!(idp.journal().is_empty());
}

#[tokio::test]
async fn clock_controls() {
    let idp = spawn(OIDC_BASE).await;
    let base = idp.url();
    let (s, c) = post(format!("{base}/_mock/clock/freeze"), None).await;
    assert_eq!((s, c["frozen"].as_bool()), (200, Some(true)));
    let t0 = c["now_unix"].as_i64().unwrap();
    let (_, c) = post(
        format!("{base}/_mock/clock/advance"),
        Some(json!({ "secs": 3600 })),
    )
    .await;
    assert_eq!(c["now_unix"].as_i64().unwrap(), t0 + 3600);
    assert_eq!(idp.clock().now_unix(), t0 + 3600);
    let (_, c) = post(
        format!("{base}/_mock/clock/set"),
        Some(json!({ "unix": 2_000_000_000 })),
    )
    .await;
    assert_eq!(c["now_unix"], 2_000_000_000);
    let got = get(format!("{base}/_mock/clock")).await;
    assert_eq!(got["now_unix"], 2_000_000_000);
    let (_, c) = post(format!("{base}/_mock/clock/resume"), None).await;
    assert_eq!(c["frozen"], false);
    let (s, e) = post(
        format!("{base}/_mock/clock/advance"),
        Some(json!({ "seconds": 1 })),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn clients_users_config_and_reset_over_http() {
    let idp = spawn(OIDC_BASE).await;
    let base = idp.url();
    let (s, _) = post(format!("{base}/_mock/clients"), Some(json!({ "id": "late", "secret": "x", "token_endpoint_auth_method": "client_secret_post" }))).await;
    assert_eq!(s, 201);
    let (s, _) = post(
        format!("{base}/_mock/users"),
        Some(json!({ "sub": "carol", "claims": { "email": "carol@example.com" } })),
    )
    .await;
    assert_eq!(s, 201);
    let (s, e) = post(
        format!("{base}/_mock/clients"),
        Some(json!({ "id": "bad", "token_endpoint_auth_method": "client_secret_basic" })),
    )
    .await;
    assert_eq!((s, e["error"].as_str()), (400, Some("invalid_request")));
    let (s, _) = post(
        format!("{base}/_mock/clients"),
        Some(json!({ "id": "x", "colour": "blue" })),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, t) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "late"),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let cfg = get(format!("{base}/_mock/config")).await;
    assert!(
        cfg["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "late")
    );
    assert!(
        cfg["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["sub"] == "carol")
    );
    let users = get(format!("{base}/_mock/users")).await;
    assert_eq!(users.as_array().unwrap().len(), 3);
    let sizes = get(format!("{base}/_mock/store")).await;
    assert_eq!(sizes["access_tokens"], 1);
    let (s, _) = post(format!("{base}/_mock/reset"), None).await;
    assert_eq!(s, 200);
    let (s, _, _) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "late"),
            ("client_secret", "x"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 401, "reset forgets added clients");
    assert_eq!(get(format!("{base}/_mock/store")).await["access_tokens"], 0);
    assert_eq!(get(format!("{base}/_mock/health")).await["ok"], true);
    let keys = get(format!("{base}/_mock/keys")).await;
    assert_eq!(keys["published"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let idp = spawn(OIDC_BASE).await;
    let url = idp.discovery_url();
    assert_eq!(http().get(&url).send().await.unwrap().status(), 200);
    idp.shutdown().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

#[tokio::test]
async fn token_settings_are_patched_until_reset() {
    let idp = spawn(OIDC_BASE).await;
    let base = idp.url();
    let before = get(format!("{base}/_mock/tokens")).await;
    assert_eq!(before["refresh_rotation"], "on", "{before}");
    let patch = |body: Value| {
        let url = format!("{base}/_mock/tokens");
        async move {
            let r = http().patch(url).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (s, after) = patch(json!({ "refresh_rotation": "off", "access_token_ttl_secs": 60 })).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["refresh_rotation"], "off");
    assert_eq!(after["access_token_ttl_secs"], 60);
    // The keys not named keep their values.
    assert_eq!(
        after["refresh_token_ttl_secs"],
        before["refresh_token_ttl_secs"]
    );
    assert_eq!(get(format!("{base}/_mock/config")).await["tokens"], after);
    let (s, e) = patch(json!({ "no_such_setting": 1 })).await;
    assert_eq!(s, 400, "an unknown key is refused: {e}");
    let (s, _) = patch(json!(["not", "an", "object"])).await;
    assert_eq!(s, 400);
    let (s, _) = post(format!("{base}/_mock/reset"), None).await;
    assert_eq!(s, 200);
    assert_eq!(get(format!("{base}/_mock/tokens")).await, before);
}
