//! /authorize and /consent: every rule, against the real mock IdP.

mod proxy_common;

use authproof::client::{AuthorizeRequest, Consent, Param, Pkce};
use authproof::proxy::config::ConsentMode;
use proxy_common::*;
use serde_json::json;

#[tokio::test]
async fn unknown_client_gets_a_page_not_a_redirect() {
    let env = start("client_secret_basic").await;
    let fc = env.client();
    fc.discover().await.unwrap();
    let out = fc
        .authorize(AuthorizeRequest {
            client_id: "no-such-client".into(),
            redirect_uri: REDIRECT.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!out.reached_redirect_uri);
    assert_eq!(out.final_status, 400);
    assert_eq!(out.hops.len(), 1);
    assert!(out.hops[0].location.is_none(), "never a redirect");
    assert!(
        out.final_body.contains("not registered"),
        "{}",
        out.final_body
    );
    assert!(
        out.hops[0]
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/html"))
    );
    env.stop().await;
}

#[tokio::test]
async fn bad_redirect_uri_gets_a_page_not_a_redirect() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    for bad in [
        "http://localhost:3000/other",
        "http://localhost:3000/cb/extra",
        "https://evil.example/cb",
        "http://localhost@evil.example/cb",
        "javascript:alert(1)",
    ] {
        let out = fc
            .authorize(AuthorizeRequest {
                redirect_uri: bad.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(!out.reached_redirect_uri, "{bad}: {out}");
        assert_eq!(out.final_status, 400, "{bad}");
        assert!(out.hops[0].location.is_none(), "{bad}: never a redirect");
        assert!(out.final_body.contains("Invalid redirect URI"), "{bad}");
    }
    // Loopback port latitude (RFC 8252): another port of the registered loopback URI works.
    let out = fc
        .authorize(AuthorizeRequest {
            redirect_uri: "http://localhost:4567/cb".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.reached_redirect_uri && out.code.is_some(), "{out}");
    env.stop().await;
}

async fn expect_client_error(env: &Env, req: AuthorizeRequest, code: &str) {
    let fc = env.registered().await;
    let out = fc
        .authorize(AuthorizeRequest {
            state: "st-123".into(),
            ..req
        })
        .await
        .unwrap();
    assert!(out.reached_redirect_uri, "{out}");
    assert_eq!(out.error.as_deref(), Some(code), "{out}");
    assert_eq!(out.state.as_deref(), Some("st-123"), "state on errors");
    assert_eq!(
        out.iss.as_deref(),
        Some(env.proxy.issuer().as_str()),
        "iss on errors"
    );
    assert!(out.final_url.starts_with(REDIRECT));
    assert!(
        env.journal("/authorize").is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state_and_iss() {
    let env = start("client_secret_basic").await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            pkce: Pkce::None,
            ..Default::default()
        },
        "invalid_request",
    )
    .await;
    let plain = Pkce::Raw {
        code_challenge: Some("a".repeat(43)),
        code_challenge_method: Some("plain".into()),
        verifier: None,
    };
    expect_client_error(
        &env,
        AuthorizeRequest {
            pkce: plain,
            ..Default::default()
        },
        "invalid_request",
    )
    .await;
    let no_method = Pkce::Raw {
        code_challenge: Some("a".repeat(43)),
        code_challenge_method: None,
        verifier: None,
    };
    expect_client_error(
        &env,
        AuthorizeRequest {
            pkce: no_method,
            ..Default::default()
        },
        "invalid_request",
    )
    .await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            resource: "http://other.example/mcp".into(),
            ..Default::default()
        },
        "invalid_target",
    )
    .await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            scope: "openid admin".into(),
            ..Default::default()
        },
        "invalid_scope",
    )
    .await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            response_type: "token".into(),
            ..Default::default()
        },
        "unsupported_response_type",
    )
    .await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            response_type: Param::Omit,
            ..Default::default()
        },
        "invalid_request",
    )
    .await;
    expect_client_error(
        &env,
        AuthorizeRequest {
            extra: vec![("scope".into(), "openid".into())],
            scope: "email".into(),
            ..Default::default()
        },
        "invalid_request",
    )
    .await;
    env.stop().await;
}

#[tokio::test]
async fn resource_is_compared_after_normalisation() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let upper = env.proxy.resource().replace("http://", "HTTP://");
    let out = fc
        .authorize(AuthorizeRequest {
            resource: upper.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.code.is_some(), "{out}");
    let out = fc
        .authorize(AuthorizeRequest {
            resource: Param::Omit,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        out.code.is_some(),
        "absent resource defaults to this server's: {out}"
    );
    env.stop().await;
}

#[tokio::test]
async fn consent_page_is_protected() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let out = fc
        .authorize(AuthorizeRequest {
            consent: Consent::Skip,
            ..Default::default()
        })
        .await
        .unwrap();
    let page = out.consent_page.clone().expect("consent page");
    assert!(
        page.contains("Test Client") && page.contains(REDIRECT) && page.contains("openid"),
        "{page}"
    );
    assert!(page.contains("localhost"), "redirect host shown");
    // The /authorize response sets no cookie; the consent page sets only the CSRF cookie.
    let authorize_hop = &out.hops[0];
    assert!(
        !authorize_hop.headers.iter().any(|(k, _)| k == "set-cookie"),
        "no cookie before consent"
    );
    let consent_hop = out.hops.last().unwrap();
    let h = |name: &str| {
        consent_hop
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert!(h("content-security-policy")[0].contains("frame-ancestors 'none'"));
    assert_eq!(h("x-frame-options"), ["DENY"]);
    let cookies = h("set-cookie");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].contains("HttpOnly") && cookies[0].contains("SameSite=Lax"),
        "{cookies:?}"
    );
    assert!(
        !cookies[0].contains("binding"),
        "no flow cookie before approval"
    );
    assert!(
        env.journal("/authorize").is_empty(),
        "no upstream redirect before approval"
    );
    env.stop().await;
}

/// Drive the consent page by hand to tamper with it.
async fn consent_form(env: &Env) -> (reqwest::Client, String, String, String) {
    let fc = env.registered().await;
    let out = fc
        .authorize(AuthorizeRequest {
            consent: Consent::Skip,
            ..Default::default()
        })
        .await
        .unwrap();
    let page = out.consent_page.unwrap();
    let form = authproof::client::html::consent_form(&page).expect("form");
    let field = |n: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let consent_url = out.hops.last().unwrap().url.clone();
    let cookie = fc.cookies_for(&consent_url).unwrap_or_default();
    (http(), field("txn_id"), field("csrf_token"), cookie)
}

#[tokio::test]
async fn csrf_mismatch_is_refused() {
    let env = start("client_secret_basic").await;
    let url = format!("{}/consent", env.proxy.url());
    // Wrong token.
    let (http, txn, _csrf, cookie) = consent_form(&env).await;
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[
            ("txn_id", txn.as_str()),
            ("csrf_token", "forged-token-forged-token"),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Right token, but from a browser without the CSRF cookie.
    let (http, txn, csrf, _cookie) = consent_form(&env).await;
    let r = http
        .post(&url)
        .form(&[
            ("txn_id", txn.as_str()),
            ("csrf_token", csrf.as_str()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Right token and cookie, but for another transaction.
    let (http, _txn, csrf, cookie) = consent_form(&env).await;
    let (_, other_txn, _, _) = consent_form(&env).await;
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[
            ("txn_id", other_txn.as_str()),
            ("csrf_token", csrf.as_str()),
            ("action", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The genuine form works once, and only once.
    let (http, txn, csrf, cookie) = consent_form(&env).await;
    let form = [
        ("txn_id", txn.as_str()),
        ("csrf_token", csrf.as_str()),
        ("action", "approve"),
    ];
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&env.idp.url())
    );
    let set_cookie: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        set_cookie
            .iter()
            .any(|c| c.contains("binding") && c.contains("HttpOnly")),
        "{set_cookie:?}"
    );
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "replayed consent");
    let body = r.text().await.unwrap();
    assert!(body.contains("Already submitted"), "{body}");
    assert!(!body.contains("mismatch"), "{body}");
    // Wrong content type and unknown action.
    let r = http
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (http, txn, csrf, cookie) = consent_form(&env).await;
    let r = http
        .post(&url)
        .header("cookie", &cookie)
        .form(&[
            ("txn_id", txn.as_str()),
            ("csrf_token", csrf.as_str()),
            ("action", "maybe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    env.stop().await;
}

#[tokio::test]
async fn deny_sends_access_denied_to_the_client() {
    let env = start("client_secret_basic").await;
    let fc = env.registered().await;
    let out = fc
        .authorize(AuthorizeRequest {
            consent: Consent::Deny,
            state: "s-deny".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("access_denied"), "{out}");
    assert_eq!(out.state.as_deref(), Some("s-deny"));
    assert_eq!(out.iss.as_deref(), Some(env.proxy.issuer().as_str()));
    assert!(env.journal("/authorize").is_empty());
    env.stop().await;
}

#[tokio::test]
async fn consent_off_goes_straight_upstream() {
    let env = start_with("client_secret_basic", |c| c.consent = ConsentMode::Off).await;
    let fc = env.registered().await;
    let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    assert!(out.code.is_some(), "{out}");
    assert!(out.consent_page.is_none());
    assert!(
        out.hops[0]
            .location
            .as_deref()
            .unwrap()
            .starts_with(&env.idp.url())
    );
    env.stop().await;
}

#[tokio::test]
async fn remember_mode_skips_consent_for_the_same_browser_only() {
    let env = start_with("client_secret_basic", |c| c.consent = ConsentMode::Remember).await;
    let fc = env.registered().await;
    let first = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    assert!(
        first.consent_page.is_some() && first.code.is_some(),
        "{first}"
    );
    // Same browser (cookies), a same-origin-or-direct navigation: no prompt.
    let cookie = fc
        .cookies_for(&format!("{}/consent", env.proxy.url()))
        .unwrap();
    let http = http();
    let verifier = authproof::oauth::pkce::new_verifier();
    let mut url = url::Url::parse(&format!("{}/authorize", env.proxy.url())).unwrap();
    let client_id = fc.memory().client_id.unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair(
            "code_challenge",
            &authproof::oauth::pkce::challenge_s256(&verifier),
        )
        .append_pair("code_challenge_method", "S256");
    let r = http.get(url.as_str()).send().await.unwrap();
    let consent = r.headers()["location"].to_str().unwrap().to_string();
    let remembered = http
        .get(&consent)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(
        remembered.status(),
        302,
        "remembered consent redirects upstream"
    );
    assert!(
        remembered.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&env.idp.url())
    );
    // A cross-site navigation, or a browser without the cookie, is asked again.
    let r = http.get(url.as_str()).send().await.unwrap();
    let consent = r.headers()["location"].to_str().unwrap().to_string();
    let cross = http
        .get(&consent)
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 200);
    let fresh = http
        .get(&consent)
        .header("sec-fetch-site", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    // Another client in the same browser is asked.
    let other = env.registered().await;
    let out = other
        .authorize(AuthorizeRequest {
            consent: Consent::Skip,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(out.consent_page.is_some());
    env.stop().await;
}

/// Issue 12: a remembered consent covers exactly what the page showed. The same request is
/// not asked again; one more scope or another redirect URI is.
#[tokio::test]
async fn remembered_consent_covers_exactly_what_was_shown() {
    let env = start_with("client_secret_basic", |c| c.consent = ConsentMode::Remember).await;
    let fc = env.registered().await;
    let first = fc
        .authorize(AuthorizeRequest {
            scope: Param::Value("openid".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        first.consent_page.is_some() && first.code.is_some(),
        "{first}"
    );
    let cookie = fc
        .cookies_for(&format!("{}/consent", env.proxy.url()))
        .unwrap();
    let client_id = fc.memory().client_id.unwrap();
    let http = http();
    // Asks /authorize, then opens the consent step as the same browser would.
    let consent_status = |scope: &'static str, redirect: &'static str| {
        let (http, cookie, client_id) = (http.clone(), cookie.clone(), client_id.clone());
        let base = env.proxy.url();
        async move {
            let verifier = authproof::oauth::pkce::new_verifier();
            let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
            url.query_pairs_mut()
                .append_pair("response_type", "code")
                .append_pair("client_id", &client_id)
                .append_pair("redirect_uri", redirect)
                .append_pair("scope", scope)
                .append_pair(
                    "code_challenge",
                    &authproof::oauth::pkce::challenge_s256(&verifier),
                )
                .append_pair("code_challenge_method", "S256");
            let r = http.get(url.as_str()).send().await.unwrap();
            assert_eq!(r.status(), 302, "{scope} {redirect}");
            let consent = r.headers()["location"].to_str().unwrap().to_string();
            http.get(&consent)
                .header("cookie", &cookie)
                .header("sec-fetch-site", "none")
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        consent_status("openid", REDIRECT).await,
        302,
        "same request"
    );
    assert_eq!(
        consent_status("openid email", REDIRECT).await,
        200,
        "wider scopes ask again"
    );
    assert_eq!(
        consent_status("email", REDIRECT).await,
        200,
        "other scopes ask again"
    );
    assert_eq!(
        consent_status("openid", "http://localhost:4567/cb").await,
        200,
        "another (loopback) port of the redirect URI asks again"
    );
    env.stop().await;
}

#[tokio::test]
async fn unknown_or_replayed_transaction_pages() {
    let env = start("client_secret_basic").await;
    let r = http()
        .get(format!("{}/consent?txn_id=nope", env.proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = http()
        .get(format!("{}/authorize", env.proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no client_id: a page");
    let long = "a".repeat(20_000);
    let r = http()
        .get(format!("{}/authorize?client_id={long}", env.proxy.url()))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let _ = json!({});
    env.stop().await;
}
