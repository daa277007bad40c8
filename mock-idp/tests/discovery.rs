//! Every flavor's discovery documents, the JWKS, the example configs and config errors.

mod common;

use common::*;
use serde_json::Value;

async fn get_json(url: &str) -> (u16, Value) {
    let r = http().get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oidc_documents() {
    let idp = spawn(OIDC_BASE).await;
    let (s, oidc) = get_json(&idp.discovery_url()).await;
    assert_eq!(s, 200);
    let base = idp.url();
    assert_eq!(oidc["issuer"], base);
    assert_eq!(oidc["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(oidc["token_endpoint"], format!("{base}/token"));
    assert_eq!(oidc["userinfo_endpoint"], format!("{base}/userinfo"));
    assert_eq!(oidc["jwks_uri"], format!("{base}/jwks"));
    assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
    assert!(
        oidc.get("registration_endpoint").is_none(),
        "DCR is off by default for oidc"
    );
    let (s, as_meta) = get_json(&idp.metadata_url()).await;
    assert_eq!(s, 200);
    assert_eq!(as_meta["issuer"], base);
    assert_eq!(
        as_meta["code_challenge_methods_supported"],
        serde_json::json!(["S256", "plain"])
    );
    assert!(
        as_meta
            .get("id_token_signing_alg_values_supported")
            .is_none()
    );
    let (s, jwks) = get_json(oidc["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
}

#[tokio::test]
async fn oidc_with_registration_advertises_it() {
    let idp = spawn(&format!("{OIDC_BASE}registration: {{ enabled: true }}\n")).await;
    let (_, doc) = get_json(&idp.discovery_url()).await;
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/register", idp.url())
    );
}

#[tokio::test]
async fn workos_documents_differ_like_authkit() {
    let idp = spawn("flavor: workos\n").await;
    let base = idp.url();
    let (_, oidc) = get_json(&idp.discovery_url()).await;
    let (_, asm) = get_json(&idp.metadata_url()).await;
    for d in [&oidc, &asm] {
        assert_eq!(d["issuer"], base);
        assert_eq!(
            d["authorization_endpoint"],
            format!("{base}/oauth2/authorize")
        );
        assert_eq!(d["token_endpoint"], format!("{base}/oauth2/token"));
        assert_eq!(d["jwks_uri"], format!("{base}/oauth2/jwks"));
        assert_eq!(
            d["introspection_endpoint"],
            format!("{base}/oauth2/introspection")
        );
        assert_eq!(
            d["scopes_supported"],
            serde_json::json!(["email", "offline_access", "openid", "profile"])
        );
        assert!(
            d.get("authorization_response_iss_parameter_supported")
                .is_none()
        );
        assert!(d.get("claims_supported").is_none());
    }
    // openid-configuration: userinfo, OIDC fields, client_credentials; no registration, no PKCE list.
    assert_eq!(oidc["userinfo_endpoint"], format!("{base}/oauth2/userinfo"));
    assert!(oidc.get("registration_endpoint").is_none());
    assert!(oidc.get("code_challenge_methods_supported").is_none());
    assert!(oidc.get("client_id_metadata_document_supported").is_none());
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert!(
        oidc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_credentials".into())
    );
    // oauth-authorization-server: registration, CIMD, S256; no userinfo, no client_credentials.
    assert_eq!(
        asm["registration_endpoint"],
        format!("{base}/oauth2/register")
    );
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    assert_eq!(
        asm["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(asm.get("userinfo_endpoint").is_none());
    assert!(asm.get("id_token_signing_alg_values_supported").is_none());
    assert!(
        !asm["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&"client_credentials".into())
    );
    // Same set of auth methods, different order.
    assert_eq!(
        oidc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        asm["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    let (_, jwks) = get_json(&format!("{base}/oauth2/jwks")).await;
    assert!(
        jwks["keys"][0]["kid"]
            .as_str()
            .unwrap()
            .starts_with("sso_oidc_key_pair_")
    );
}

#[tokio::test]
async fn github_has_no_discovery() {
    let idp = spawn("flavor: github\n").await;
    let (s, body) = get_json(&idp.discovery_url()).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"], "not_found");
    assert_eq!(get_json(&idp.metadata_url()).await.0, 404);
    assert_eq!(
        idp.endpoints()["token"],
        format!("{}/login/oauth/access_token", idp.url())
    );
    assert!(!idp.endpoints().contains_key("jwks"));
}

#[tokio::test]
async fn same_seed_same_jwks_and_different_seed_differs() {
    let a = spawn("keys: { seed: 7 }\n").await;
    let b = spawn("keys: { seed: 7 }\n").await;
    let c = spawn("{}\n").await;
    assert_eq!(a.jwks(), b.jwks());
    assert_ne!(a.jwks(), c.jwks());
}

#[tokio::test]
async fn exact_issuer_is_served_and_advertised() {
    let idp = mock_idp::MockIdp::builder()
        .config(config(OIDC_BASE))
        .issuer_path("/realms/test")
        .spawn()
        .await
        .unwrap();
    let issuer = format!("{}/realms/test", idp.url());
    let (s, d) = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(s, 200);
    assert_eq!(d["issuer"], issuer);
    assert_eq!(d["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(
        get_json(&format!(
            "{}/.well-known/oauth-authorization-server/realms/test",
            idp.url()
        ))
        .await
        .0,
        200
    );
    // The root is not the issuer.
    assert_eq!(
        get_json(&format!("{}/.well-known/openid-configuration", idp.url()))
            .await
            .0,
        404
    );
    assert_eq!(get_json(&format!("{}/token", idp.url())).await.0, 404);
}

#[test]
fn example_configs_load_and_validate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (name, flavor) in [
        ("oidc.yaml", "oidc"),
        ("workos.yaml", "workos"),
        ("github.yaml", "github"),
    ] {
        let c: mock_idp::IdpConfig =
            foundations::yaml::from_file(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        c.validate().unwrap();
        assert_eq!(c.flavor.to_string(), flavor);
        assert!(!c.clients.is_empty() && !c.users.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn the_workos_example_serves_authkit_metadata() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let c: mock_idp::IdpConfig = foundations::yaml::from_file(&dir.join("workos.yaml")).unwrap();
    let idp = mock_idp::MockIdp::builder()
        .config(c)
        .spawn()
        .await
        .unwrap();
    let (s, d) = get_json(&format!(
        "{}/.well-known/oauth-authorization-server",
        idp.url()
    ))
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        d["registration_endpoint"],
        format!("{}/oauth2/register", idp.url())
    );
}

#[test]
fn config_errors_name_the_line_and_column() {
    let text = "flavor: oidc\nclients:\n  - id: app\n    token_endpoint_auth_methd: none\n";
    let e = mock_idp::IdpConfig::from_yaml_str(text, "idp.yaml").unwrap_err();
    assert_eq!((e.line, e.column), (4, 5), "{e}");
    assert!(e.to_string().starts_with("idp.yaml:4:5: "), "{e}");
    let e = mock_idp::IdpConfig::from_yaml_str("flavor: okta\n", "idp.yaml").unwrap_err();
    assert_eq!(e.line, 1, "{e}");
    let e = mock_idp::IdpConfig::from_yaml_str(
        "clients:\n  - id: a\n    token_endpoint_auth_method: secret\n",
        "x",
    )
    .unwrap_err();
    assert_eq!(e.line, 3, "{e}");
}

#[tokio::test]
async fn invalid_configs_fail_to_spawn_with_a_reason() {
    let e = mock_idp::MockIdp::builder()
        .config(config(
            "clients: [{ id: a, token_endpoint_auth_method: client_secret_basic }]\n",
        ))
        .spawn()
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("no secret"), "{e:#}");
    let e = mock_idp::MockIdp::builder()
        .issuer("not a url")
        .spawn()
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("issuer"), "{e:#}");
}

/// `keys.algorithm`: the JWKS publishes the right `kty`/`crv`/`alg`, discovery advertises the
/// algorithm for ID tokens, tokens verify with jsonwebtoken under it, and a rotation brings in
/// a key of the same kind whose tokens verify too.
#[tokio::test]
async fn each_signing_algorithm_is_published_used_and_rotated() {
    for (alg, kty, crv) in [
        ("RS256", "RSA", None),
        ("ES256", "EC", Some("P-256")),
        ("EdDSA", "OKP", Some("Ed25519")),
    ] {
        let idp = spawn(&format!("{OIDC_BASE}keys: {{ algorithm: {alg} }}\n")).await;
        let (_, oidc) = get_json(&idp.discovery_url()).await;
        assert_eq!(
            oidc["id_token_signing_alg_values_supported"],
            serde_json::json!([alg])
        );
        let verify = |token: &str, jwks: &Value| -> Result<Value, String> {
            let set: jsonwebtoken::jwk::JwkSet =
                serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
            let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
            assert_eq!(format!("{:?}", header.alg), alg);
            let jwk = set
                .find(header.kid.as_deref().ok_or("no kid")?)
                .ok_or("kid")?;
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
            let mut v = jsonwebtoken::Validation::new(header.alg);
            v.validate_aud = false;
            v.required_spec_claims.clear();
            jsonwebtoken::decode::<Value>(token, &key, &v)
                .map(|d| d.claims)
                .map_err(|e| e.to_string())
        };
        let grant = || async {
            let (s, _, b) = token(
                &idp,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "m2m"),
                    ("client_secret", "m2msecret"),
                ],
                None,
            )
            .await;
            assert_eq!(s, 200, "{b}");
            b["access_token"].as_str().unwrap().to_string()
        };
        let (_, jwks) = get_json(oidc["jwks_uri"].as_str().unwrap()).await;
        let key = &jwks["keys"][0];
        assert_eq!(
            (
                key["kty"].as_str(),
                key["crv"].as_str(),
                key["alg"].as_str()
            ),
            (Some(kty), crv, Some(alg))
        );
        let first = grant().await;
        assert_eq!(verify(&first, &jwks).unwrap()["sub"], "m2m", "{alg}");

        let new_kid = idp.rotate_keys();
        assert_ne!(key["kid"].as_str(), Some(new_kid.as_str()));
        let (_, jwks) = get_json(oidc["jwks_uri"].as_str().unwrap()).await;
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "{alg}: the old key stays for the overlap");
        assert!(keys.iter().all(|k| k["kty"] == kty && k["alg"] == alg));
        let second = grant().await;
        assert_eq!(jwt_parts(&second).0["kid"].as_str(), Some(new_kid.as_str()));
        verify(&second, &jwks).unwrap();
        verify(&first, &jwks).unwrap();
    }
}

#[tokio::test]
async fn workos_publishes_ec_keys_under_workos_kids() {
    let idp = spawn("flavor: workos\nkeys: { algorithm: ES256 }\n").await;
    let (_, oidc) = get_json(&idp.discovery_url()).await;
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let (_, jwks) = get_json(&format!("{}/oauth2/jwks", idp.url())).await;
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(
        jwks["keys"][0]["kid"]
            .as_str()
            .unwrap()
            .starts_with("sso_oidc_key_pair_")
    );
}
