//! Bad input never yields a 500 or a panic: OAuth endpoints answer RFC 6749 JSON errors
//! with the right status, browser pages answer HTML.

mod common;

use common::*;
use serde_json::Value;

async fn send(req: reqwest::RequestBuilder) -> (u16, String, String) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

fn oauth_error(status: u16, ct: &str, body: &str) -> String {
    assert!(ct.starts_with("application/json"), "{status} {ct} {body}");
    let v: Value = serde_json::from_str(body).unwrap();
    assert!(v["error_description"].is_string(), "{body}");
    v["error"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn token_endpoint_rejects_bad_requests_with_json_errors() {
    let idp = spawn(OIDC_BASE).await;
    let ep = idp.endpoints()["token"].clone();
    let c = http();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(&ep)
                .json(&serde_json::json!({ "grant_type": "client_credentials" })),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep)
                .header("content-type", "text/plain")
                .body("grant_type=client_credentials"),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep)
                .form(&[("client_id", "m2m"), ("client_secret", "m2msecret")]),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep).form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&ep).form(&[
                ("grant_type", "client_credentials"),
                ("grant_type", "refresh_token"),
                ("client_id", "m2m"),
            ]),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "public-app"),
            ]),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "public-app"),
                ("code", "nope"),
            ]),
            400,
            "invalid_grant",
        ),
        (
            c.post(&ep)
                .form(&[("grant_type", "refresh_token"), ("client_id", "public-app")]),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep)
                .form(&[("grant_type", "urn:x"), ("client_id", "public-app")]),
            400,
            "unsupported_grant_type",
        ),
        (
            c.post(&ep).form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "ghost"),
                ("client_secret", "x"),
            ]),
            401,
            "invalid_client",
        ),
        (
            c.post(&ep)
                .header("authorization", "Basic !!!notbase64")
                .form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            c.post(&ep)
                .header("authorization", basic("m2m", "m2msecret"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_secret", "m2msecret"),
                ]),
            400,
            "invalid_request",
        ),
        (
            c.post(&ep)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(vec![0xff, 0xfe, b'=', 0x80]),
            400,
            "invalid_request",
        ),
        (c.get(&ep), 405, "invalid_request"),
    ];
    for (i, (req, status, error)) in cases.into_iter().enumerate() {
        let (s, ct, body) = send(req).await;
        assert_eq!(s, status, "case {i}: {body}");
        assert_eq!(oauth_error(s, &ct, &body), error, "case {i}");
    }
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let idp = spawn(&format!("{OIDC_BASE}limits: {{ max_body_bytes: 1024 }}\n")).await;
    let big = "x".repeat(4096);
    for ep in ["token", "revoke", "introspect", "register"] {
        let url = idp.endpoints()[ep].clone();
        let (s, ct, body) = send(http().post(url).form(&[("grant_type", big.as_str())])).await;
        assert_eq!(s, 413, "{ep}");
        assert_eq!(oauth_error(s, &ct, &body), "invalid_request");
    }
    assert_eq!(idp.journal().last().unwrap().status, 413);
}

#[tokio::test]
async fn other_endpoints_answer_errors_not_500s() {
    let idp = spawn(&format!("{OIDC_BASE}registration: {{ enabled: true }}\n")).await;
    let eps = idp.endpoints();
    let c = http();
    let checks: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            c.post(&eps["revoke"]).form(&[("client_id", "public-app")]),
            400,
        ),
        (c.post(&eps["revoke"]).form(&[("token", "x")]), 401),
        (
            c.post(&eps["revoke"]).form(&[
                ("token", "x"),
                ("client_id", "public-app"),
                ("token_type_hint", "id_token"),
            ]),
            400,
        ),
        (c.post(&eps["introspect"]).body("token=x"), 400),
        (
            c.post(&eps["introspect"])
                .form(&[("client_id", "public-app")]),
            400,
        ),
        (
            c.post(&eps["register"])
                .header("content-type", "application/json")
                .body("{not json"),
            400,
        ),
        (
            c.post(&eps["register"])
                .header("content-type", "application/json")
                .body("[1,2]"),
            400,
        ),
        (
            c.get(&eps["userinfo"]).header("authorization", "Bearer"),
            401,
        ),
        (
            c.get(&eps["userinfo"])
                .header("authorization", "Bearer not-a-token"),
            401,
        ),
        (c.get(format!("{}/nowhere", idp.url())), 404),
        (c.delete(&eps["jwks"]), 405),
        (
            c.post(format!("{}/_mock/clock/advance", idp.url()))
                .body("{}"),
            400,
        ),
        (
            c.post(format!("{}/_mock/faults", idp.url()))
                .header("content-type", "application/json")
                .body("{\"action\": \"explode\"}"),
            400,
        ),
    ];
    for (i, (req, status)) in checks.into_iter().enumerate() {
        let (s, ct, body) = send(req).await;
        assert_eq!(s, status, "case {i}: {body}");
        oauth_error(s, &ct, &body);
    }
}

#[tokio::test]
async fn browser_pages_answer_html_errors() {
    let idp = spawn(OIDC_BASE).await;
    let base = idp.url();
    let c = http();
    let checks: Vec<reqwest::RequestBuilder> = vec![
        c.get(format!("{base}/authorize")),
        c.get(format!(
            "{base}/authorize?client_id=public-app&client_id=post-app"
        )),
        c.get(format!(
            "{base}/authorize?client_id=public-app&redirect_uri=%ZZ"
        )),
        c.post(format!("{base}/authorize")).body("x"),
        c.post(format!("{base}/login"))
            .form(&[("interaction", "unknown"), ("sub", "alice")]),
        c.post(format!("{base}/login")).form(&[("sub", "alice")]),
        c.post(format!("{base}/consent"))
            .form(&[("interaction", "unknown"), ("decision", "approve")]),
        c.post(format!("{base}/consent"))
            .json(&serde_json::json!({})),
    ];
    for (i, req) in checks.into_iter().enumerate() {
        let (s, ct, body) = send(req).await;
        assert_eq!(s, 400, "case {i}: {body}");
        assert!(ct.starts_with("text/html"), "case {i}: {ct}");
        assert!(body.contains("<!doctype html>"), "case {i}");
    }
    // Errors that can go back to a valid redirect_uri do.
    let r = authorize(
        &idp,
        &[
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("code_challenge", "short"),
        ],
    )
    .await;
    assert_eq!(location(&r)["error"], "invalid_request");
    let r = authorize(
        &idp,
        &[
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("resource", "not a uri"),
        ],
    )
    .await;
    assert_eq!(location(&r)["error"], "invalid_target");
    let r = authorize(
        &idp,
        &[("client_id", "public-app"), ("redirect_uri", REDIRECT)],
    )
    .await;
    assert_eq!(location(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn oversized_headers_are_refused_not_crashed() {
    let idp = spawn(OIDC_BASE).await;
    let r = http()
        .get(idp.discovery_url())
        .header("x-big", "y".repeat(200 * 1024))
        .send()
        .await;
    match r {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e:?}"),
    }
    assert_eq!(
        http()
            .get(idp.discovery_url())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
