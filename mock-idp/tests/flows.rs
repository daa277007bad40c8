//! Grants, codes, refresh rotation, the clock, userinfo, introspection, revocation, DCR,
//! the login and consent pages, and the workos / github shapes.

mod common;

use common::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn code_grant(
    idp: &mock_idp::MockIdpHandle,
    client: &str,
    auth: Option<&str>,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let (verifier, challenge) = pkce();
    let code = code_for(idp, client, "alice", &challenge, &[]).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    if auth.is_none() {
        form.push(("client_id", client));
    }
    form.extend_from_slice(extra);
    let (s, _, body) = token(idp, &form, auth).await;
    (s, body)
}

#[tokio::test]
async fn code_is_single_use_and_a_replay_revokes_its_tokens() {
    let idp = spawn(OIDC_BASE).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("client_id", "public-app"),
    ];
    let (s, _, first) = token(&idp, &form, None).await;
    assert_eq!(s, 200, "{first}");
    let at = first["access_token"].as_str().unwrap().to_string();
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    let userinfo = idp.endpoints()["userinfo"].clone();
    assert_eq!(
        http()
            .get(&userinfo)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (s, _, again) = token(&idp, &form, None).await;
    assert_eq!((s, again["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        http()
            .get(&userinfo)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (s, _, r) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn code_is_bound_to_client_redirect_uri_and_pkce() {
    let idp = spawn(OIDC_BASE).await;
    let (verifier, challenge) = pkce();
    // Wrong verifier.
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"x".repeat(43)),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Missing verifier.
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Different redirect_uri.
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:7777/other"),
            ("code_verifier", &verifier),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Another client.
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "post-app"),
            ("client_secret", "postsecret"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // A verifier without a challenge (PKCE downgrade).
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
        ],
    )
    .await;
    let code = location(&r)["code"].clone();
    let (s, _, b) = token(
        &idp,
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
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn plain_pkce_and_s256_required() {
    let idp = spawn(OIDC_BASE).await;
    idp.add_client(mock_idp::ClientConfig {
        id: "strict".into(),
        token_endpoint_auth_method: Some(mock_idp::AuthMethod::None),
        pkce: mock_idp::config::PkcePolicy::S256Required,
        ..Default::default()
    });
    let verifier = "v".repeat(50);
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    let code = location(&r)["code"].clone();
    let (s, _, b) = token(
        &idp,
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
    assert_eq!(s, 200, "{b}");
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "strict"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
            ("code_challenge", &verifier),
            ("code_challenge_method", "plain"),
            ("state", "s1"),
        ],
    )
    .await;
    let q = location(&r);
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "s1");
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "strict"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
        ],
    )
    .await;
    assert_eq!(location(&r)["error"], "invalid_request");
}

#[tokio::test]
async fn redirect_uri_rules_at_authorize() {
    let idp = spawn(OIDC_BASE).await;
    // Registered list: exact match but for the port of a loopback IP literal (RFC 8252
    // §7.3); a mismatch is an HTML page, never a redirect.
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "basic-app"),
            ("redirect_uri", "http://127.0.0.1:7778/callback"),
            ("login_hint", "alice"),
        ],
    )
    .await;
    assert_eq!(r.status(), 302, "another port of 127.0.0.1");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("http://127.0.0.1:7778/callback?code=")
    );
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "basic-app"),
            ("redirect_uri", "http://127.0.0.1:7777/callback2"),
            ("login_hint", "alice"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.headers().get("location").is_none());
    // No redirect_uris: any loopback works, anything else does not.
    for (uri, ok) in [
        ("http://localhost:5555/cb", true),
        ("http://127.0.0.1:1/x", true),
        ("https://evil.example/cb", false),
    ] {
        let r = authorize(
            &idp,
            &[
                ("response_type", "code"),
                ("client_id", "public-app"),
                ("redirect_uri", uri),
                ("login_hint", "alice"),
            ],
        )
        .await;
        assert_eq!(r.status() == 302, ok, "{uri}");
    }
    // Unknown client.
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(r.status(), 400);
    // Unsupported response_type goes back to the client.
    let r = authorize(
        &idp,
        &[
            ("response_type", "token"),
            ("client_id", "basic-app"),
            ("redirect_uri", REDIRECT),
            ("state", "x"),
        ],
    )
    .await;
    let q = location(&r);
    assert_eq!(q["error"], "unsupported_response_type");
    assert_eq!(q["iss"], idp.issuer());
}

#[tokio::test]
async fn refresh_rotation_modes() {
    for (mode, reuse_kills_grant, same_token) in [
        ("off", false, true),
        ("on", false, false),
        ("reuse_detection", true, false),
    ] {
        let idp = spawn(&format!(
            "{OIDC_BASE}tokens: {{ refresh_rotation: {mode} }}\n"
        ))
        .await;
        let (s, first) = code_grant(&idp, "public-app", None, &[]).await;
        assert_eq!(s, 200);
        let rt1 = first["refresh_token"].as_str().unwrap().to_string();
        let refresh = |rt: String| {
            let idp = idp.clone();
            async move {
                token(
                    &idp,
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &rt),
                        ("client_id", "public-app"),
                    ],
                    None,
                )
                .await
            }
        };
        let (s, _, second) = refresh(rt1.clone()).await;
        assert_eq!(s, 200, "{mode}: {second}");
        let rt2 = second["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(rt1 == rt2, same_token, "{mode}");
        let (s, _, third) = refresh(rt1.clone()).await;
        if same_token {
            assert_eq!(s, 200, "{mode}");
            continue;
        }
        assert_eq!(
            (s, third["error"].as_str()),
            (400, Some("invalid_grant")),
            "{mode}"
        );
        let (s, _, _) = refresh(rt2).await;
        assert_eq!(
            s == 200,
            !reuse_kills_grant,
            "{mode}: the newest token after a reuse"
        );
    }
}

#[tokio::test]
async fn refresh_token_issue_policy_and_scope_narrowing() {
    let idp = spawn(&format!(
        "{OIDC_BASE}tokens: {{ refresh_tokens: offline_access }}\n"
    ))
    .await;
    let (verifier, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
            ("scope", "openid email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = location(&r)["code"].clone();
    let (_, _, b) = token(
        &idp,
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
    assert!(b.get("refresh_token").is_none(), "{b}");
    let (_, first) = code_grant(&idp, "public-app", None, &[]).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-app"),
            ("scope", "email"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["scope"].as_str()), (200, Some("email")));
    let rt = b["refresh_token"].as_str().unwrap();
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-app"),
            ("scope", "admin"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
}

#[tokio::test]
async fn the_clock_expires_codes_and_tokens_without_sleeping() {
    let idp = spawn_frozen(&format!("{OIDC_BASE}tokens: {{ code_ttl_secs: 30, access_token_ttl_secs: 60, refresh_token_ttl_secs: 120 }}\n")).await;
    let clock = idp.clock();
    // Code expiry.
    let (verifier, challenge) = pkce();
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    clock.advance(Duration::from_secs(31));
    let (s, _, b) = token(
        &idp,
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
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Access token expiry, as seen by userinfo and introspection; refresh still works.
    let (_, t) = code_grant(&idp, "public-app", None, &[]).await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let (_, claims) = jwt_parts(&at);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(claims["iat"].as_i64().unwrap(), clock.now_unix());
    let userinfo = idp.endpoints()["userinfo"].clone();
    assert_eq!(
        http()
            .get(&userinfo)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        http()
            .get(&userinfo)
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let rt = t["refresh_token"].as_str().unwrap();
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // Refresh token expiry.
    clock.advance(Duration::from_secs(121));
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", b["refresh_token"].as_str().unwrap()),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    // Expired entries are evicted.
    assert!(idp.store_sizes().access_tokens > 0);
    idp.sweep();
    let sizes = idp.store_sizes();
    assert_eq!(
        (sizes.codes, sizes.access_tokens, sizes.refresh_tokens),
        (0, 0, 0),
        "{sizes:?}"
    );
}

#[tokio::test]
async fn client_credentials_grant() {
    let idp = spawn(OIDC_BASE).await;
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "m2m"),
            ("client_secret", "m2msecret"),
            ("scope", "reports:read"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("refresh_token").is_none() && b.get("id_token").is_none());
    let (_, c) = jwt_parts(b["access_token"].as_str().unwrap());
    assert_eq!(
        (
            c["sub"].as_str(),
            c["client_id"].as_str(),
            c["scope"].as_str()
        ),
        (Some("m2m"), Some("m2m"), Some("reports:read"))
    );
    // m2m may not use the code grant; public clients may not use client_credentials.
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("unauthorized_client")));
    let (s, _, b) = token(
        &idp,
        &[("grant_type", "password"), ("client_id", "public-app")],
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn basic_auth_decodes_form_encoding_and_challenges_on_failure() {
    let idp = spawn(OIDC_BASE).await;
    let (s, b) = code_grant(
        &idp,
        "basic-app",
        Some(&basic("basic-app", "s3cr3t:/&")),
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // Not form-encoded first: `%` stays literal only if encoded, so the raw secret fails.
    let raw = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "basic-app:wrong"
        )
    );
    let (verifier, challenge) = pkce();
    let code = code_for(&idp, "basic-app", "alice", &challenge, &[]).await;
    let (s, h, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        Some(&raw),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // Basic for a post client: 401 without a Basic challenge requirement, but still invalid_client.
    let (s, _, b) = token(
        &idp,
        &[("grant_type", "client_credentials")],
        Some(&basic("post-app", "postsecret")),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (401, Some("invalid_client")));
    // Post for a basic client: the challenge names Basic.
    let (s, h, _) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "basic-app"),
            ("client_secret", "s3cr3t:/&"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
}

#[tokio::test]
async fn private_key_jwt_client_authentication() {
    let key = mock_idp::keys::SigningKey::derive(
        &mock_idp::config::KeySeed::default(),
        0,
        mock_idp::keys::KeySpec::Rsa { bits: 2048 },
    )
    .unwrap();
    let jwks = json!({ "keys": [key.jwk()] });
    let idp = spawn(OIDC_BASE).await;
    idp.add_client(mock_idp::ClientConfig {
        id: "jwt-app".into(),
        token_endpoint_auth_method: Some(mock_idp::AuthMethod::PrivateKeyJwt),
        jwks: Some(jwks),
        ..Default::default()
    });
    let now = idp.clock().now_unix();
    let token_url = idp.endpoints()["token"].clone();
    let assertion = |jti: &str, aud: &str| {
        key.sign("JWT", &json!({ "iss": "jwt-app", "sub": "jwt-app", "aud": aud, "exp": now + 60, "iat": now, "jti": jti }), None).unwrap()
    };
    let form = |a: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion".to_string(), a.to_string()),
        ]
    };
    let a1 = assertion("j1", &token_url);
    let f = form(&a1);
    let f: Vec<(&str, &str)> = f.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (s, _, b) = token(&idp, &f, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        idp.journal().last().unwrap().client_auth.as_deref(),
        Some("private_key_jwt")
    );
    // Replayed jti and wrong audience are rejected.
    let (s, _, _) = token(&idp, &f, None).await;
    assert_eq!(s, 401);
    let a2 = assertion("j2", "https://elsewhere.example/token");
    let f2 = form(&a2);
    let f2: Vec<(&str, &str)> = f2.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(token(&idp, &f2, None).await.0, 401);
}

#[tokio::test]
async fn userinfo_introspection_and_revocation() {
    let idp = spawn(OIDC_BASE).await;
    let (_, t) = code_grant(&idp, "post-app", None, &[("client_secret", "postsecret")]).await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let eps = idp.endpoints();
    let ui: Value = http()
        .get(&eps["userinfo"])
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ui,
        json!({ "sub": "alice", "email": "alice@example.com", "email_verified": true, "name": "Alice" })
    );
    let r = http().get(&eps["userinfo"]).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let introspect = |tok: String| {
        let ep = eps["introspect"].clone();
        async move {
            http()
                .post(ep)
                .form(&[
                    ("token", tok.as_str()),
                    ("client_id", "post-app"),
                    ("client_secret", "postsecret"),
                ])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let i = introspect(at.clone()).await;
    assert_eq!(
        (
            i["active"].as_bool(),
            i["sub"].as_str(),
            i["client_id"].as_str()
        ),
        (Some(true), Some("alice"), Some("post-app"))
    );
    assert_eq!(introspect(rt.clone()).await["active"], true);
    assert_eq!(
        introspect("garbage".into()).await,
        json!({ "active": false })
    );
    // Introspection needs client authentication.
    let r = http()
        .post(&eps["introspect"])
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Revoking the refresh token ends the grant: both tokens go inactive.
    let r = http()
        .post(&eps["revoke"])
        .form(&[
            ("token", rt.as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", "post-app"),
            ("client_secret", "postsecret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(rt).await["active"], false);
    assert_eq!(introspect(at.clone()).await["active"], false);
    assert_eq!(
        http()
            .get(&eps["userinfo"])
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Unknown tokens revoke fine (RFC 7009 §2.2).
    let r = http()
        .post(&eps["revoke"])
        .form(&[
            ("token", "nope"),
            ("client_id", "post-app"),
            ("client_secret", "postsecret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn revoking_an_access_token_only() {
    let idp = spawn(OIDC_BASE).await;
    let (_, t) = code_grant(&idp, "public-app", None, &[]).await;
    let at = t["access_token"].as_str().unwrap();
    let eps = idp.endpoints();
    let r = http()
        .post(&eps["revoke"])
        .form(&[("token", at), ("client_id", "public-app")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        http()
            .get(&eps["userinfo"])
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (s, _, _) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", "public-app"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn dynamic_client_registration() {
    let idp = spawn("flavor: workos\nusers: [{ sub: user_01ABC }]\n").await;
    let reg = idp.endpoints()["register"].clone();
    let r = http().post(&reg).json(&json!({ "redirect_uris": ["http://localhost:3000/cb"], "token_endpoint_auth_method": "none", "client_name": "MCP client", "grant_types": ["authorization_code", "refresh_token"] })).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.unwrap();
    let id = c["client_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("client_01"), "{id}");
    assert!(c.get("client_secret").is_none());
    assert_eq!(c["token_endpoint_auth_method"], "none");
    assert_eq!(c["client_name"], "MCP client");
    // Confidential registration gets a secret.
    let r = http()
        .post(&reg)
        .json(&json!({ "redirect_uris": ["https://app.example/cb"] }))
        .send()
        .await
        .unwrap();
    let c2: Value = r.json().await.unwrap();
    assert_eq!(c2["token_endpoint_auth_method"], "client_secret_basic");
    assert!(c2["client_secret"].as_str().is_some());
    // Errors.
    let bad = |body: Value| {
        let reg = reg.clone();
        async move {
            let r = http().post(reg).json(&body).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap()["error"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        }
    };
    assert_eq!(
        bad(json!({})).await,
        (400, "invalid_redirect_uri".to_string())
    );
    assert_eq!(
        bad(json!({ "redirect_uris": ["http://x/cb#frag"] })).await,
        (400, "invalid_redirect_uri".to_string())
    );
    assert_eq!(
        bad(json!({ "redirect_uris": "http://x/cb" })).await,
        (400, "invalid_client_metadata".to_string())
    );
    assert_eq!(
        bad(json!({ "redirect_uris": ["http://x/cb"], "token_endpoint_auth_method": "magic" }))
            .await,
        (400, "invalid_client_metadata".to_string())
    );
    assert_eq!(
        bad(json!({ "redirect_uris": ["http://x/cb"], "grant_types": ["implicit"] })).await,
        (400, "invalid_client_metadata".to_string())
    );
    let r = http()
        .post(&reg)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The registered public client completes a flow (workos: S256 required).
    let (verifier, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", "http://localhost:3000/cb"),
            ("login_hint", "user_01ABC"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ],
    )
    .await;
    let q = location(&r);
    assert!(!q.contains_key("iss"), "AuthKit sends no iss");
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "http://localhost:3000/cb"),
            ("code_verifier", &verifier),
            ("client_id", &id),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["refresh_token"].is_string());
}

#[tokio::test]
async fn registration_is_off_by_default_for_oidc_and_can_require_a_token() {
    let idp = spawn(OIDC_BASE).await;
    let r = http()
        .post(&idp.endpoints()["register"])
        .json(&json!({ "redirect_uris": ["http://localhost/cb"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let idp = spawn("registration: { enabled: true, initial_access_token: letmein }\n").await;
    let reg = idp.endpoints()["register"].clone();
    let body = json!({ "redirect_uris": ["http://localhost/cb"] });
    assert_eq!(
        http().post(&reg).json(&body).send().await.unwrap().status(),
        401
    );
    assert_eq!(
        http()
            .post(&reg)
            .bearer_auth("letmein")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
}

#[tokio::test]
async fn workos_tokens_have_the_authkit_claims() {
    let idp = spawn("flavor: workos\nworkos: { organization_id: org_01TEST }\nclients: [{ id: client_01APP, secret: sk, token_endpoint_auth_method: client_secret_post }]\nusers: [{ sub: user_01ALICE, claims: { email: a@example.com } }]\n").await;
    let (verifier, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "client_01APP"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "user_01ALICE"),
            ("scope", "openid profile email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", "https://mcp.example.com/mcp"),
            ("nonce", "n1"),
        ],
    )
    .await;
    let code = location(&r)["code"].clone();
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "client_01APP"),
            ("client_secret", "sk"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let at = b["access_token"].as_str().unwrap();
    let (h, c) = jwt_parts(at);
    assert_eq!(h["alg"], "RS256");
    assert!(h["kid"].as_str().unwrap().starts_with("sso_oidc_key_pair_"));
    assert_eq!(c["sub"], "user_01ALICE");
    assert_eq!(c["aud"], "https://mcp.example.com/mcp");
    assert_eq!(c["client_id"], "client_01APP");
    assert_eq!(c["org_id"], "org_01TEST");
    assert_eq!(c["scope"], "openid profile email");
    assert!(c["sid"].as_str().unwrap().starts_with("app_consent_01"));
    assert_eq!(c["iss"], idp.issuer());
    verify_with_jwks(at, &idp.jwks()).unwrap();
    let (_, idc) = jwt_parts(b["id_token"].as_str().unwrap());
    assert_eq!(
        (
            idc["aud"].as_str(),
            idc["nonce"].as_str(),
            idc["email"].as_str()
        ),
        (Some("client_01APP"), Some("n1"), Some("a@example.com"))
    );
    // Without a resource the audience is the client id.
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "client_01APP"),
            ("client_secret", "sk"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (_, c) = jwt_parts(b["access_token"].as_str().unwrap());
    assert_eq!(
        (c["aud"].as_str(), c["sub"].as_str()),
        (Some("client_01APP"), Some("client_01APP"))
    );
    assert!(c.get("sid").is_none());
    // userinfo without a token: AuthKit's exact answer.
    let r = http()
        .get(&idp.endpoints()["userinfo"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "error": "unauthorized" })
    );
}

#[tokio::test]
async fn github_token_responses_and_user() {
    let idp = spawn("flavor: github\nclients: [{ id: gh-app, secret: ghs, token_endpoint_auth_method: client_secret_post }]\nusers: [{ sub: octocat, claims: { email: octo@example.com, name: Octo } }]\ndefault_user: octocat\n").await;
    let r = authorize(
        &idp,
        &[
            ("client_id", "gh-app"),
            ("redirect_uri", REDIRECT),
            ("scope", "read:user user:email"),
            ("state", "s"),
            ("response_type", "code"),
        ],
    )
    .await;
    let code = location(&r)["code"].clone();
    let ep = idp.endpoints()["token"].clone();
    // Form-encoded unless Accept: application/json.
    let r = http()
        .post(&ep)
        .form(&[
            ("code", code.as_str()),
            ("client_id", "gh-app"),
            ("client_secret", "ghs"),
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let body: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(r.text().await.unwrap().as_bytes())
            .into_owned()
            .collect();
    let at = body["access_token"].clone();
    assert!(at.starts_with("gho_"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read:user,user:email");
    assert!(!body.contains_key("refresh_token") && !body.contains_key("id_token"));
    let u: Value = http()
        .get(format!("{}/user", idp.url()))
        .header("authorization", format!("token {at}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (u["login"].as_str(), u["email"].as_str()),
        (Some("octocat"), Some("octo@example.com"))
    );
    let emails: Value = http()
        .get(format!("{}/user/emails", idp.url()))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emails[0]["email"], "octo@example.com");
    // JSON with Accept, and errors as 200 with an error field (GitHub's way).
    let r = http()
        .post(&ep)
        .header("accept", "application/json")
        .form(&[
            ("code", code.as_str()),
            ("client_id", "gh-app"),
            ("client_secret", "ghs"),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    let r = http()
        .get(format!("{}/user", idp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn login_page_and_consent_page_for_a_person() {
    let idp = spawn(&format!("{OIDC_BASE}consent: prompt\n")).await;
    let (_, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("state", "xyz"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<form method=\"post\""), "{html}");
    assert!(html.contains("value=\"alice\"") && html.contains("value=\"bob\""));
    let interaction = html
        .split("name=\"interaction\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let login = format!("{}/login", idp.url());
    let r = http()
        .post(&login)
        .form(&[("interaction", interaction.as_str()), ("sub", "bob")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"approve\"") && html.contains("value=\"deny\""),
        "{html}"
    );
    let consent = format!("{}/consent", idp.url());
    let r = http()
        .post(&consent)
        .form(&[
            ("interaction", interaction.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let q = location(&r);
    assert_eq!(q["state"], "xyz");
    assert!(q.contains_key("code"));
    // The interaction is spent.
    let r = http()
        .post(&consent)
        .form(&[
            ("interaction", interaction.as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Headless login still shows consent in prompt mode; deny gives access_denied.
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("login_hint", "alice"),
        ],
    )
    .await;
    let html = r.text().await.unwrap();
    let interaction = html
        .split("name=\"interaction\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = http()
        .post(&consent)
        .form(&[("interaction", interaction.as_str()), ("decision", "deny")])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r)["error"], "access_denied");
    // prompt=none cannot show pages.
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("prompt", "none"),
        ],
    )
    .await;
    assert_eq!(location(&r)["error"], "login_required");
}

#[tokio::test]
async fn default_user_logs_in_headlessly() {
    let idp = spawn(&format!("{OIDC_BASE}default_user: bob\n")).await;
    let (verifier, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "public-app"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let code = location(&r)["code"].clone();
    let (_, _, b) = token(
        &idp,
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
    let (_, c) = jwt_parts(b["id_token"].as_str().unwrap());
    assert_eq!(c["sub"], "bob");
}
