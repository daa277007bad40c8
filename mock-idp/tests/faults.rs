//! Every fault action, from the config file and at run time.

mod common;

use common::*;
use mock_idp::{FaultSpec, MockIdpHandle};
use serde_json::{Value, json};

fn fault(yaml: &str) -> FaultSpec {
    foundations::yaml::from_str(yaml, "<fault>").unwrap_or_else(|e| panic!("{e}"))
}

async fn cc(idp: &MockIdpHandle) -> (u16, reqwest::header::HeaderMap, Value) {
    token(
        idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "m2m"),
            ("client_secret", "m2msecret"),
        ],
        None,
    )
    .await
}

async fn code_exchange(idp: &MockIdpHandle) -> (u16, Value) {
    let (verifier, challenge) = pkce();
    let code = code_for(idp, "public-app", "alice", &challenge, &[]).await;
    let (s, _, b) = token(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    (s, b)
}

#[tokio::test]
async fn respond_from_config_fires_once_then_stops() {
    let yaml = format!(
        "{OIDC_BASE}faults:\n  - match: {{ endpoint: token, params: {{ grant_type: client_credentials }} }}\n    action: {{ respond: {{ status: 503, json: {{ error: temporarily_unavailable }}, headers: {{ retry-after: '7' }} }} }}\n"
    );
    let idp = spawn(&yaml).await;
    let (s, h, b) = cc(&idp).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert_eq!(h["retry-after"], "7");
    assert_eq!(cc(&idp).await.0, 200);
    assert!(idp.faults().is_empty());
    let statuses: Vec<u16> = idp.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, vec![503, 200]);
}

#[tokio::test]
async fn times_n_and_always_and_matching_by_client_and_method() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_fault(fault("match: { client_id: m2m }\ntimes: 2\naction: { respond: { status: 500, json: { error: server_error } } }\n"));
    assert_eq!(cc(&idp).await.0, 500);
    assert_eq!(cc(&idp).await.0, 500);
    assert_eq!(cc(&idp).await.0, 200);
    idp.add_fault(fault("match: { endpoint: jwks, method: GET }\ntimes: always\naction: { respond: { status: 502, body: bad gateway } }\n"));
    let jwks = idp.endpoints()["jwks"].clone();
    for _ in 0..3 {
        let r = http().get(&jwks).send().await.unwrap();
        assert_eq!(r.status(), 502);
        assert_eq!(r.text().await.unwrap(), "bad gateway");
    }
    // A POST does not match a GET-only fault, another client does not match m2m.
    assert_eq!(http().post(&jwks).send().await.unwrap().status(), 405);
    idp.clear_faults();
    assert_eq!(http().get(&jwks).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn delay_holds_the_answer() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_fault(fault("match: { endpoint: token }\ndelay_ms: 300\n"));
    let t = std::time::Instant::now();
    let (s, _, _) = cc(&idp).await;
    assert_eq!(s, 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
}

#[tokio::test]
async fn close_drops_the_connection_without_an_answer() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_fault(fault("match: { endpoint: token }\naction: close\n"));
    let r = http()
        .post(idp.endpoints()["token"].clone())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let e = r.expect_err("no response expected");
    assert!(!e.is_status() && !e.is_timeout(), "{e:?}");
    assert_eq!(idp.journal().last().unwrap().status, 0);
    assert_eq!(cc(&idp).await.0, 200, "the next request is served");
}

#[tokio::test]
async fn malformed_json_does_not_parse() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_fault(fault(
        "match: { endpoint: token }\naction: malformed_json\n",
    ));
    let r = http()
        .post(idp.endpoints()["token"].clone())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());
}

#[tokio::test]
async fn token_mutations() {
    let idp = spawn(OIDC_BASE).await;
    let jwks = idp.jwks();
    let (_, good) = code_exchange(&idp).await;
    let (_, good_claims) = jwt_parts(good["access_token"].as_str().unwrap());
    for (m, check) in [
        ("wrong_iss", "iss"),
        ("wrong_aud", "aud"),
        ("expired", "exp"),
        ("alg_none", "alg"),
        ("unknown_kid", "kid"),
        ("bad_signature", "sig"),
    ] {
        idp.add_fault(fault(&format!(
            "match: {{ endpoint: token }}\naction: {{ mutate_token: {m} }}\n"
        )));
        let (s, b) = code_exchange(&idp).await;
        assert_eq!(s, 200, "{m}");
        for field in ["access_token", "id_token"] {
            let t = b[field].as_str().unwrap();
            let (h, c) = jwt_parts(t);
            let verified = verify_with_jwks(t, &jwks);
            match check {
                "iss" => {
                    assert_ne!(c["iss"], good_claims["iss"], "{m} {field}");
                    verified.unwrap();
                }
                "aud" => {
                    assert_eq!(c["aud"], "https://wrong-audience.invalid", "{m} {field}");
                    verified.unwrap();
                }
                "exp" => {
                    assert!(
                        c["exp"].as_i64().unwrap() < idp.clock().now_unix(),
                        "{m} {field}"
                    );
                    verified.unwrap();
                }
                "alg" => {
                    assert_eq!(h["alg"], "none");
                    assert!(t.ends_with('.'));
                    assert!(verified.is_err());
                }
                "kid" => assert!(verified.unwrap_err().contains("not in JWKS"), "{m} {field}"),
                _ => assert!(verified.is_err(), "{m} {field}: signature must fail"),
            }
        }
    }
    // Targeted mutations leave the other token alone.
    idp.add_fault(fault(
        "match: { endpoint: token }\naction: { mutate_id_token: expired }\n",
    ));
    let (_, b) = code_exchange(&idp).await;
    let (_, at) = jwt_parts(b["access_token"].as_str().unwrap());
    let (_, idt) = jwt_parts(b["id_token"].as_str().unwrap());
    assert!(at["exp"].as_i64().unwrap() > idp.clock().now_unix());
    assert!(idt["exp"].as_i64().unwrap() < idp.clock().now_unix());
    idp.add_fault(fault(
        "match: { endpoint: token }\naction: { mutate_access_token: wrong_aud }\n",
    ));
    let (_, b) = code_exchange(&idp).await;
    assert_eq!(
        jwt_parts(b["access_token"].as_str().unwrap()).1["aud"],
        "https://wrong-audience.invalid"
    );
    assert_eq!(
        jwt_parts(b["id_token"].as_str().unwrap()).1["aud"],
        "public-app"
    );
}

#[tokio::test]
async fn token_response_overrides() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_fault(fault(
        "match: { endpoint: token, params: { grant_type: authorization_code } }\naction: { token_response: { omit: [refresh_token], set: { expires_in: 5, refresh_expires_in: 10 } } }\n",
    ));
    let (s, b) = code_exchange(&idp).await;
    assert_eq!(s, 200);
    assert!(b.get("refresh_token").is_none(), "{b}");
    assert_eq!(
        (b["expires_in"].as_i64(), b["refresh_expires_in"].as_i64()),
        (Some(5), Some(10))
    );
    assert!(b["access_token"].is_string());
    let (_, b) = code_exchange(&idp).await;
    assert!(b["refresh_token"].is_string(), "fired once");
}

#[tokio::test]
async fn overrides_apply_to_github_form_responses_too() {
    let idp = spawn("flavor: github\nclients: [{ id: gh, secret: s, token_endpoint_auth_method: client_secret_post }]\ndefault_user: octocat\n").await;
    idp.add_fault(fault(
        "match: { endpoint: token }\naction: { token_response: { set: { scope: repo } } }\n",
    ));
    let r = authorize(&idp, &[("client_id", "gh"), ("redirect_uri", REDIRECT)]).await;
    let code = location(&r)["code"].clone();
    let r = http()
        .post(idp.endpoints()["token"].clone())
        .form(&[
            ("code", code.as_str()),
            ("client_id", "gh"),
            ("client_secret", "s"),
        ])
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("scope=repo"), "{body}");
}

#[tokio::test]
async fn faults_over_the_control_api() {
    let idp = spawn(OIDC_BASE).await;
    let r = http()
        .post(format!("{}/_mock/faults", idp.url()))
        .json(&json!([{ "match": { "endpoint": "userinfo" }, "times": "always", "action": { "respond": { "status": 429, "json": { "error": "slow_down" } } } }]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ui = idp.endpoints()["userinfo"].clone();
    assert_eq!(http().get(&ui).send().await.unwrap().status(), 429);
    let listed: Value = http()
        .get(format!("{}/_mock/faults", idp.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["times"], "always");
    let r = http()
        .post(format!("{}/_mock/faults", idp.url()))
        .json(&json!({ "times": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    http()
        .delete(format!("{}/_mock/faults", idp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(http().get(&ui).send().await.unwrap().status(), 401);
}
