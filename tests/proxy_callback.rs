//! The upstream callback: state, browser binding, upstream errors, upstream failures.

mod proxy_common;

use authproof::client::{FlowClient, FollowOptions, RawRequest, TokenCodeRequest};
use authproof::proxy::config::HumanDuration;
use proxy_common::*;
use std::time::Duration;

/// Follow a callback URL in the browser that approved (the flow client, with its cookies).
async fn finish(
    fc: &authproof::client::FlowClient,
    callback: &str,
) -> authproof::client::AuthorizeOutcome {
    fc.follow(
        RawRequest::get(callback),
        FollowOptions {
            stop_at: Some(REDIRECT.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn state_is_single_use_and_bound_to_the_browser() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let up = until_upstream(&env, &fc, "s1").await;
    let state = query(&up)["state"].clone();
    let callback = idp_callback(&up).await;
    assert_eq!(query(&callback)["state"], state);
    // Another browser (no binding cookie): refused.
    let r = http().get(&callback).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // The state was spent by that attempt.
    let out = finish(&fc, &callback).await;
    assert!(!out.reached_redirect_uri);
    assert_eq!(out.final_status, 400);

    // A normal completion, then a replay of the same callback.
    let up = until_upstream(&env, &fc, "s2").await;
    let callback = idp_callback(&up).await;
    let out = finish(&fc, &callback).await;
    assert!(out.code.is_some(), "{out}");
    assert_eq!(out.state.as_deref(), Some("s2"));
    assert_eq!(out.iss.as_deref(), Some(env.proxy.issuer().as_str()));
    let replay = finish(&fc, &callback).await;
    assert_eq!(replay.final_status, 400, "replayed state");
    assert!(!replay.reached_redirect_uri);

    // An unknown state, a missing state, a repeated parameter.
    let cb = format!("{}/auth/callback", env.proxy.url());
    for q in [
        "?code=x&state=unknown",
        "?code=x",
        "?code=x&state=a&state=b",
        "",
    ] {
        let r = http().get(format!("{cb}{q}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    env.stop().await;
}

#[tokio::test]
async fn expired_state_is_refused() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let up = until_upstream(&env, &fc, "s").await;
    let callback = idp_callback(&up).await;
    env.clock.advance(Duration::from_secs(601));
    let out = finish(&fc, &callback).await;
    assert_eq!(out.final_status, 400);
    assert!(!out.reached_redirect_uri);
    env.stop().await;
}

#[tokio::test]
async fn upstream_errors_are_forwarded_to_the_client() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let up = until_upstream(&env, &fc, "s-err").await;
    let state = query(&up)["state"].clone();
    let cb = format!(
        "{}/auth/callback?error=access_denied&error_description=user+said+no&state={state}&iss={}",
        env.proxy.url(),
        env.idp.issuer()
    );
    let out = finish(&fc, &cb).await;
    assert!(out.reached_redirect_uri, "{out}");
    assert_eq!(out.error.as_deref(), Some("access_denied"));
    assert_eq!(out.error_description.as_deref(), Some("user said no"));
    assert_eq!(out.state.as_deref(), Some("s-err"));
    assert_eq!(out.iss.as_deref(), Some(env.proxy.issuer().as_str()));
    // An unknown upstream error code becomes server_error.
    let up = until_upstream(&env, &fc, "s-odd").await;
    let state = query(&up)["state"].clone();
    let cb = format!(
        "{}/auth/callback?error=%3Cscript%3E&state={state}&iss={}",
        env.proxy.url(),
        env.idp.issuer()
    );
    let out = finish(&fc, &cb).await;
    assert_eq!(out.error.as_deref(), Some("server_error"));
    // An upstream iss that is not the upstream's issuer (mix-up): refused.
    let callback = callback_with_iss(&env, &fc, "s-iss", Some("http://evil.example")).await;
    let out = finish(&fc, &callback).await;
    assert_eq!(out.error.as_deref(), Some("server_error"), "{out}");
    // The IdP advertises authorization_response_iss_parameter_supported: a response without
    // iss is refused (RFC 9207 §2.4), and no code is issued.
    let callback = callback_with_iss(&env, &fc, "s-no-iss", None).await;
    let out = finish(&fc, &callback).await;
    assert_eq!(out.error.as_deref(), Some("server_error"), "{out}");
    assert!(out.code.is_none(), "{out}");
    env.stop().await;
}

/// The IdP's callback to the proxy for a new flow, with its `iss` replaced (`None`: removed).
async fn callback_with_iss(env: &Env, fc: &FlowClient, state: &str, iss: Option<&str>) -> String {
    let up = until_upstream(env, fc, state).await;
    let callback = idp_callback(&up).await;
    let mut u = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "iss")
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    if let Some(iss) = iss {
        u.query_pairs_mut().append_pair("iss", iss);
    }
    u.to_string()
}

async fn exchange_fails_with(env: &Env, fault: &str, expected: &str) {
    let fc = env.registered().await;
    let up = until_upstream(env, &fc, "s-x").await;
    let callback = idp_callback(&up).await;
    env.fault(fault);
    let out = finish(&fc, &callback).await;
    assert!(out.reached_redirect_uri, "{out}");
    assert_eq!(out.error.as_deref(), Some(expected), "{fault}: {out}");
    assert_eq!(out.state.as_deref(), Some("s-x"));
    assert_eq!(out.iss.as_deref(), Some(env.proxy.issuer().as_str()));
    assert!(out.code.is_none());
    env.idp.clear_faults();
}

#[tokio::test]
async fn upstream_failures_during_code_exchange() {
    let env = start_with("client_secret_basic", |c| {
        c.upstream.timeout = HumanDuration(Duration::from_millis(800))
    })
    .await;
    let down = "match: {endpoint: token}\naction: {respond: {status: 503, body: maintenance}}\n";
    exchange_fails_with(&env, down, "temporarily_unavailable").await;
    let closed = "match: {endpoint: token}\naction: close\n";
    exchange_fails_with(&env, closed, "temporarily_unavailable").await;
    let slow = "match: {endpoint: token}\ndelay_ms: 3000\n";
    exchange_fails_with(&env, slow, "temporarily_unavailable").await;
    let garbage = "match: {endpoint: token}\naction: malformed_json\n";
    exchange_fails_with(&env, garbage, "server_error").await;
    let html = "match: {endpoint: token}\naction: {respond: {status: 200, body: '<html>hi</html>', headers: {content-type: text/html}}}\n";
    exchange_fails_with(&env, html, "server_error").await;
    let no_token = "match: {endpoint: token}\naction: {token_response: {omit: [access_token]}}\n";
    exchange_fails_with(&env, no_token, "server_error").await;
    let rejected = "match: {endpoint: token}\naction: {respond: {status: 400, json: {error: invalid_grant}}}\n";
    exchange_fails_with(&env, rejected, "access_denied").await;
    // Afterwards the IdP works again and a flow completes.
    let (fc, _) = env.authorized().await;
    assert_eq!(
        fc.token_code(TokenCodeRequest::default())
            .await
            .unwrap()
            .status,
        200
    );
    env.stop().await;
}

#[tokio::test]
async fn upstream_down_at_discovery() {
    // The IdP is not there at all: the flow ends with temporarily_unavailable at the client.
    let env = start("client_secret_basic").await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = proxy_config(&env.idp, "client_secret_basic");
    cfg.upstream.config_url = Some(format!("http://{dead}/.well-known/openid-configuration"));
    let proxy = authproof::proxy::Proxy::spawn(cfg, Default::default())
        .await
        .unwrap();
    let fc = authproof::client::FlowClient::new(&proxy.url()).unwrap();
    fc.discover().await.unwrap();
    let reg = fc
        .register(&serde_json::json!({"redirect_uris": [REDIRECT]}))
        .await
        .unwrap();
    assert_eq!(reg.status, 201);
    let out = fc.authorize(Default::default()).await.unwrap();
    assert_eq!(
        out.error.as_deref(),
        Some("temporarily_unavailable"),
        "{out}"
    );
    assert_eq!(out.iss.as_deref(), Some(proxy.issuer().as_str()));
    proxy.shutdown().await;
    env.stop().await;
}
