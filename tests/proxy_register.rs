//! Metadata documents and dynamic client registration.

mod proxy_common;

use authproof::proxy::config::Secret;
use proxy_common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_documents() {
    let env = start("client_secret_basic").await;
    let base = env.proxy.url();
    let http = http();
    let r = http
        .get(format!("{base}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], env.proxy.issuer());
    assert_eq!(m["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(m["token_endpoint"], format!("{base}/token"));
    assert_eq!(m["registration_endpoint"], format!("{base}/register"));
    assert_eq!(m["revocation_endpoint"], format!("{base}/revoke"));
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["token_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert_eq!(m["client_id_metadata_document_supported"], true);
    assert_eq!(m["scopes_supported"], json!(["openid", "email"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));

    let r = http
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let prm: Value = r.json().await.unwrap();
    assert_eq!(
        prm["resource"].as_str().unwrap(),
        format!("{base}/mcp"),
        "byte for byte"
    );
    assert_eq!(prm["authorization_servers"], json!([env.proxy.issuer()]));

    let r = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no OIDC discovery document");

    // Browser-based clients can call the API endpoints (CORS), not the browser-facing ones.
    for path in [
        "/token",
        "/register",
        "/revoke",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = http
            .request(reqwest::Method::OPTIONS, format!("{base}{path}"))
            .header("origin", "http://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["access-control-allow-origin"], "*", "{path}");
    }
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/authorize"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "no CORS on /authorize"
    );

    // The MCP endpoint's challenge points at the PRM.
    let r = http
        .post(format!("{base}/mcp"))
        .json(&mcp_init())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
        )),
        "{challenge}"
    );
    env.stop().await;
}

#[tokio::test]
async fn issuer_with_a_path_has_a_path_suffixed_metadata_url() {
    let env = start_with("client_secret_basic", |c| {
        c.issuer_url = Some("http://127.0.0.1:1/tenant-a".into())
    })
    .await;
    let r = http()
        .get(format!(
            "{}/.well-known/oauth-authorization-server/tenant-a",
            env.proxy.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    assert_eq!(m["issuer"], "http://127.0.0.1:1/tenant-a");
    env.stop().await;
}

async fn register(env: &Env, body: &Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/register", env.proxy.url()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registration_rules() {
    let env = start("client_secret_basic").await;
    let (s, v) = register(
        &env,
        &json!({"redirect_uris": [REDIRECT], "client_name": "A", "scope": "openid"}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["token_endpoint_auth_method"], "none");
    assert_eq!(v["redirect_uris"], json!([REDIRECT]));
    assert_eq!(
        v["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(v["client_name"], "A");
    assert_eq!(v["scope"], "openid");
    assert!(v["client_id"].as_str().unwrap().len() >= 32);
    assert!(v.get("client_secret").is_none());

    // Confidential methods are coerced to none (documented), with no secret issued.
    let (s, v) = register(
        &env,
        &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(v["token_endpoint_auth_method"], "none");
    assert!(v.get("client_secret").is_none());

    let cases: &[(Value, &str)] = &[
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!({"client_name": "no uris"}), "invalid_redirect_uri"),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": "http://localhost:3000/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://localhost@evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["http://localhost:3000/a/../cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "application_type": "web"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "application_type": "desktop"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "scope": "openid admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["refresh_token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "client_name": 5}),
            "invalid_client_metadata",
        ),
        (json!([1, 2]), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let (s, v) = register(&env, body).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["error"], *code, "{body}: {v}");
    }
    // Wrong content type, not JSON.
    let url = format!("{}/register", env.proxy.url());
    let r = http()
        .post(&url)
        .form(&[("redirect_uris", REDIRECT)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(&url)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_client_metadata");
    env.stop().await;
}

#[tokio::test]
async fn allow_list_absent_and_empty() {
    // Absent: any safe URI (native rules still apply).
    let env = start_with("client_secret_basic", |c| {
        c.allowed_client_redirect_uris = None
    })
    .await;
    let (s, _) = register(
        &env,
        &json!({"redirect_uris": ["https://app.example.com/cb", "cursor://cb"]}),
    )
    .await;
    assert_eq!(s, 201);
    env.stop().await;
    // []: nothing.
    let env = start_with("client_secret_basic", |c| {
        c.allowed_client_redirect_uris = Some(vec![])
    })
    .await;
    let (s, v) = register(&env, &json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_redirect_uri"))
    );
    env.stop().await;
}

#[tokio::test]
async fn tightened_allow_list_applies_to_earlier_clients() {
    // Register under a permissive list, then serve the same store with a tighter list.
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let client_id = fc.memory().client_id.unwrap();
    let record = env
        .proxy
        .state()
        .records
        .get_client(&client_id)
        .await
        .unwrap()
        .unwrap();
    let mut cfg = proxy_config(&env.idp, "client_secret_basic");
    cfg.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    cfg.jwt_signing_key = Some(Secret::new("another-signing-key-0123"));
    let tight = authproof::proxy::Proxy::spawn(cfg, Default::default())
        .await
        .unwrap();
    tight
        .state()
        .records
        .put_client(&client_id, &record, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let (url, _) = {
        let mut u = url::Url::parse(&format!("{}/authorize", tight.url())).unwrap();
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("code_challenge", &"a".repeat(43))
            .append_pair("code_challenge_method", "S256");
        (u.to_string(), ())
    };
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400, "allow-list re-checked at authorization");
    assert!(r.headers().get("location").is_none());
    tight.shutdown().await;
    env.stop().await;
}
