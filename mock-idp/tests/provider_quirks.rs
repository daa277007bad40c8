//! Client and token switches that reproduce real providers' quirks: Auth0's `audience`,
//! Entra ID's refusal of `resource` and its scope on refresh, Google's offline access,
//! Keycloak's `refresh_expires_in`, AuthKit's userinfo scopes and GitHub's X-OAuth-Scopes.

mod common;

use common::*;
use serde_json::Value;

const QUIRKS: &str = r#"
flavor: oidc
clients:
  - { id: auth0-app, token_endpoint_auth_method: none, audience: "https://api.example.com" }
  - { id: entra-app, token_endpoint_auth_method: none, reject_resource: true, refresh_requires_scope: true }
  - { id: google-app, token_endpoint_auth_method: none, offline_via_access_type: true }
users:
  - { sub: alice, claims: { email: alice@example.com } }
tokens: { refresh_token_ttl_secs: 120, send_refresh_expires_in: true }
"#;

async fn redeem(idp: &mock_idp::MockIdpHandle, client: &str, extra: &[(&str, &str)]) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(idp, client, "alice", &challenge, extra).await;
    let (s, _, body) = token(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", client),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body
}

#[tokio::test]
async fn auth0_audience_decides_between_jwt_and_opaque_tokens() {
    let idp = spawn(QUIRKS).await;
    let with = redeem(
        &idp,
        "auth0-app",
        &[("audience", "https://api.example.com")],
    )
    .await;
    let (_, claims) = jwt_parts(with["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://api.example.com");
    let without = redeem(&idp, "auth0-app", &[]).await;
    let at = without["access_token"].as_str().unwrap();
    assert_eq!(at.split('.').count(), 1, "opaque without audience: {at}");
    // The opaque token still works at userinfo.
    let ui = idp.endpoints()["userinfo"].clone();
    let r = http().get(&ui).bearer_auth(at).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Another audience is refused.
    let (_, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "auth0-app"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("audience", "https://other.example.com"),
        ],
    )
    .await;
    assert_eq!(location(&r)["error"], "access_denied");
}

#[tokio::test]
async fn entra_refuses_resource_and_needs_scope_on_refresh() {
    let idp = spawn(QUIRKS).await;
    let (_, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "entra-app"),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", "https://mcp.example.com/mcp"),
        ],
    )
    .await;
    let q = location(&r);
    assert_eq!(q["error"], "invalid_target");
    assert!(q["error_description"].contains("AADSTS9010010"), "{q:?}");

    let tokens = redeem(&idp, "entra-app", &[]).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "entra-app"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_request")),
        "{b}"
    );
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", "entra-app"),
            ("scope", "openid email"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = token(
        &idp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", b["refresh_token"].as_str().unwrap()),
            ("client_id", "entra-app"),
            ("scope", "openid"),
            ("resource", "https://mcp.example.com/mcp"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (400, Some("invalid_target")),
        "{b}"
    );
}

#[tokio::test]
async fn google_refresh_tokens_need_offline_access_and_consent() {
    let idp = spawn(QUIRKS).await;
    let plain = redeem(&idp, "google-app", &[]).await;
    assert!(plain.get("refresh_token").is_none(), "{plain}");
    let offline_only = redeem(&idp, "google-app", &[("access_type", "offline")]).await;
    assert!(
        offline_only.get("refresh_token").is_none(),
        "{offline_only}"
    );
    // With both, the mock shows its consent page (as Google does); approving it yields a
    // refresh token.
    let (verifier, challenge) = pkce();
    let r = authorize(
        &idp,
        &[
            ("response_type", "code"),
            ("client_id", "google-app"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", "alice"),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"action\" value=\"approve\""), "{page}");
    let interaction = page
        .split("name=\"interaction\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let consent = idp.endpoints()["consent"].clone();
    let r = http()
        .post(consent)
        .form(&[("interaction", interaction.as_str()), ("action", "approve")])
        .send()
        .await
        .unwrap();
    let code = location(&r)["code"].clone();
    let (s, _, t) = token(
        &idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "google-app"),
        ],
        None,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert!(t["refresh_token"].is_string(), "{t}");
}

#[tokio::test]
async fn keycloak_style_refresh_expires_in() {
    let idp = spawn(QUIRKS).await;
    let t = redeem(&idp, "entra-app", &[]).await;
    assert_eq!(t["refresh_expires_in"], 120, "{t}");
    // Off by default.
    let idp = spawn(OIDC_BASE).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&idp, "public-app", "alice", &challenge, &[]).await;
    let (_, _, t) = token(
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
    assert!(
        t.get("refresh_token").is_some() && t.get("refresh_expires_in").is_none(),
        "{t}"
    );
}

#[tokio::test]
async fn authkit_userinfo_reports_scopes_and_github_names_them_in_a_header() {
    let idp = spawn(
        "flavor: workos\nclients: [{ id: wk, token_endpoint_auth_method: none }]\nusers: [{ sub: user_01, claims: { email: a@example.com } }]\n",
    )
    .await;
    let t = redeem(&idp, "wk", &[]).await;
    let ui = idp.endpoints()["userinfo"].clone();
    let v: Value = http()
        .get(&ui)
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["scope"], "openid email offline_access", "{v}");
    assert_eq!(v["sub"], "alice");

    let gh = spawn(
        "flavor: github\nclients: [{ id: gh, secret: s, token_endpoint_auth_method: client_secret_post }]\nusers: [{ sub: octocat }]\n",
    )
    .await;
    let (verifier, challenge) = pkce();
    let code = code_for(&gh, "gh", "octocat", &challenge, &[]).await;
    let r = http()
        .post(gh.endpoints()["token"].clone())
        .header("accept", "application/json")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("code_verifier", verifier.as_str()),
            ("client_id", "gh"),
            ("client_secret", "s"),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let at = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let r = http()
        .get(gh.endpoints()["user"].clone())
        .header("authorization", format!("token {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let scopes = r.headers()["x-oauth-scopes"].to_str().unwrap().to_string();
    assert_eq!(scopes, "openid, email, offline_access");
}

#[test]
fn the_quirks_example_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/provider-quirks.yaml");
    let c: mock_idp::IdpConfig =
        foundations::yaml::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    c.validate().unwrap();
    assert_eq!(
        c.clients[0].audience.as_deref(),
        Some("https://api.example.com")
    );
    assert!(c.clients[1].offline_via_access_type);
    assert!(c.clients[2].reject_resource && c.clients[2].refresh_requires_scope);
    assert!(c.tokens.send_refresh_expires_in);
}

#[tokio::test]
async fn id_token_on_refresh_can_be_turned_off() {
    for (on, text) in [
        (true, "tokens: { id_token_on_refresh: true }"),
        (false, "tokens: { id_token_on_refresh: false }"),
    ] {
        let idp = spawn(&format!(
            "flavor: oidc\nclients: [{{ id: app, token_endpoint_auth_method: none }}]\nusers: [{{ sub: alice }}]\n{text}\n"
        ))
        .await;
        let t = redeem(&idp, "app", &[]).await;
        assert!(t["id_token"].is_string(), "code grant: {t}");
        let rt = t["refresh_token"].as_str().unwrap().to_string();
        let (s, _, r) = token(
            &idp,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "app"),
            ],
            None,
        )
        .await;
        assert_eq!(s, 200, "{r}");
        assert!(r["access_token"].is_string(), "{r}");
        assert_eq!(r.get("id_token").is_some(), on, "refresh ({text}): {r}");
    }
}
