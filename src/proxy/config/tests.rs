use super::*;

const MINIMAL: &str = "\
upstream:
  config_url: http://127.0.0.1:9000/.well-known/openid-configuration
  client_id: upstream-app
  client_secret: s3cret
";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn minimal_file_gets_defaults() {
    let c = ProxyConfig::from_yaml_str(MINIMAL, "p.yaml").unwrap();
    assert_eq!(c.mcp_path, "/mcp");
    assert_eq!(c.redirect_path, "/auth/callback");
    assert_eq!(c.consent, ConsentMode::Always);
    assert_eq!(c.access_token_ttl.as_secs(), 3600);
    assert_eq!(c.storage, StorageSpec::Memory);
    assert_eq!(c.allowed_client_redirect_uris, None);
    assert_eq!(
        c.upstream.auth_method(),
        ClientAuthMethod::ClientSecretBasic
    );
}

#[test]
fn full_issue_example_parses() {
    let text = "\
base_url: http://127.0.0.1:8000
mcp_path: /mcp
upstream:
  config_url: http://127.0.0.1:9000/.well-known/openid-configuration
  revocation_endpoint: http://127.0.0.1:9000/revoke
  client_id: upstream-app
  client_secret: s3cret
  token_endpoint_auth_method: client_secret_post
  scopes: [openid, email]
  extra_authorize_params: {prompt: consent}
  extra_token_params: {}
  forward_resource: false
redirect_path: /auth/callback
allowed_client_redirect_uris: [\"http://localhost:*\"]
valid_scopes: [openid, email]
consent: off
jwt_signing_key: 0123456789abcdef0123
access_token_ttl: 30m
backend: http://127.0.0.1:7000/mcp
storage: memory
cimd_allow_http_loopback: true
";
    let c = ProxyConfig::from_yaml_str(text, "p.yaml").unwrap();
    assert_eq!(
        c.consent,
        ConsentMode::Off,
        "YAML 1.2: off is the string \"off\""
    );
    assert_eq!(c.access_token_ttl.as_secs(), 1800);
    assert_eq!(c.upstream.auth_method(), ClientAuthMethod::ClientSecretPost);
    assert_eq!(
        c.allowed_client_redirect_uris,
        Some(vec!["http://localhost:*".to_string()])
    );
    assert_eq!(c.upstream.extra_authorize_params["prompt"], "consent");
    assert!(c.cimd_allow_http_loopback);
}

#[test]
fn empty_allow_list_is_distinct_from_absent() {
    let c =
        ProxyConfig::from_yaml_str(&format!("{MINIMAL}allowed_client_redirect_uris: []\n"), "p")
            .unwrap();
    assert_eq!(c.allowed_client_redirect_uris, Some(vec![]));
}

#[test]
fn unknown_key_has_line_and_column() {
    let text = format!("{MINIMAL}consnet: off\n");
    let e = ProxyConfig::from_yaml_str(&text, "proxy.yaml").unwrap_err();
    let ConfigError::Yaml(y) = &e else {
        panic!("{e}")
    };
    assert_eq!((y.line, y.column), (5, 1), "{e}");
    assert!(e.to_string().starts_with("proxy.yaml:5:1: "), "{e}");
    assert!(e.to_string().contains("consnet"), "{e}");

    let nested = "upstream:\n  client_id: a\n  clinet_secret: b\n";
    let e = ProxyConfig::from_yaml_str(nested, "proxy.yaml").unwrap_err();
    assert!(e.to_string().starts_with("proxy.yaml:3:3: "), "{e}");
}

#[test]
fn wrong_types_have_line_and_column() {
    let e = ProxyConfig::from_yaml_str(&format!("{MINIMAL}access_token_ttl: soon\n"), "p.yaml")
        .unwrap_err();
    assert!(e.to_string().starts_with("p.yaml:5:"), "{e}");
    let e =
        ProxyConfig::from_yaml_str(&format!("{MINIMAL}consent: maybe\n"), "p.yaml").unwrap_err();
    assert!(e.to_string().starts_with("p.yaml:5:"), "{e}");
    // A YAML 1.1 boolean is not a boolean here, so `forward_resource: yes` is a type error.
    let e = ProxyConfig::from_yaml_str(
        &MINIMAL.replace("client_id:", "forward_resource: yes\n  client_id:"),
        "p.yaml",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("p.yaml:3:"), "{e}");
}

#[test]
fn validation_names_each_problem() {
    let text = "\
base_url: ftp://example.com
mcp_path: mcp
upstream:
  client_id: ''
  token_endpoint_auth_method: client_secret_post
  extra_authorize_params: {state: fixed}
allowed_client_redirect_uris: ['http://localhost:*', 'https://*.*.example.com/cb']
access_token_ttl: 0s
";
    let e = ProxyConfig::from_yaml_str(text, "p.yaml").unwrap_err();
    let ConfigError::Invalid { problems, .. } = &e else {
        panic!("{e}")
    };
    let all = problems.join("\n");
    for needle in [
        "base_url:",
        "mcp_path: must start with '/'",
        "upstream.client_id: required",
        "upstream: set config_url",
        "upstream.client_secret: required for token_endpoint_auth_method client_secret_post",
        "upstream.extra_authorize_params: state",
        "jwt_signing_key: required",
        "allowed_client_redirect_uris:",
        "access_token_ttl: must be at least 1s",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    assert!(e.to_string().contains("(p.yaml)"), "{e}");
}

#[test]
fn absurd_lifetimes_are_refused_not_overflowed() {
    let mut c = ProxyConfig::from_yaml_str(MINIMAL, "p").unwrap();
    c.refresh_token_ttl = HumanDuration::secs(u64::MAX);
    c.upstream.expiry_threshold = HumanDuration::secs(u64::MAX / 2);
    let all = c.problems().join("\n");
    assert!(
        all.contains("refresh_token_ttl: must be at most 100 years"),
        "{all}"
    );
    assert!(
        all.contains("upstream.expiry_threshold: must be at most 100 years"),
        "{all}"
    );
    c.refresh_token_ttl = HumanDuration::secs(MAX_DURATION_SECS);
    c.upstream.expiry_threshold = HumanDuration::secs(0);
    assert!(c.problems().is_empty(), "{:?}", c.problems());
}

#[test]
fn secrets_are_masked_in_debug() {
    let mut c = ProxyConfig::from_yaml_str(MINIMAL, "p").unwrap();
    c.jwt_signing_key = Some(Secret::new("super-secret-signing-key"));
    c.storage = StorageSpec::Redis("redis://:hunter2@127.0.0.1:6379/0".into());
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cret"), "{dbg}");
    assert!(!dbg.contains("super-secret-signing-key"), "{dbg}");
    assert!(!c.storage.to_string().contains("hunter2"), "{}", c.storage);
}

#[test]
fn env_overrides_file_and_supplies_everything() {
    let vars = env(&[
        ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "from-env"),
        ("AUTHPROOF_VALID_SCOPES", "[\"openid\",\"email\"]"),
        ("AUTHPROOF_CONSENT", "off"),
        ("AUTHPROOF_UPSTREAM__FORWARD_RESOURCE", "true"),
        (
            "AUTHPROOF_UPSTREAM__EXTRA_AUTHORIZE_PARAMS",
            "{\"prompt\":\"login\"}",
        ),
        ("AUTHPROOF_ALLOWED_CLIENT_REDIRECT_URIS", "[]"),
        ("AUTHPROOF_ACCESS_TOKEN_TTL", "15m"),
        ("AUTHPROOF_LOG", "debug"),
        ("PATH", "/usr/bin"),
    ]);
    let c = ProxyConfig::from_yaml_and_env(MINIMAL, "p.yaml", vars.clone()).unwrap();
    assert_eq!(
        c.upstream.client_secret.as_ref().unwrap().expose(),
        "from-env"
    );
    assert_eq!(c.valid_scopes, ["openid", "email"]);
    assert_eq!(c.consent, ConsentMode::Off);
    assert!(c.upstream.forward_resource);
    assert_eq!(c.upstream.extra_authorize_params["prompt"], "login");
    assert_eq!(c.allowed_client_redirect_uris, Some(vec![]));
    assert_eq!(c.access_token_ttl.as_secs(), 900);
    assert_eq!(c.upstream.client_id, "upstream-app", "file values stay");

    // No file at all.
    let only_env = env(&[
        (
            "AUTHPROOF_UPSTREAM__CONFIG_URL",
            "http://127.0.0.1:9000/.well-known/openid-configuration",
        ),
        ("AUTHPROOF_UPSTREAM__CLIENT_ID", "upstream-app"),
        ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "s3cret"),
    ]);
    let c = ProxyConfig::load_with_env(None, only_env).unwrap();
    assert_eq!(c.upstream.client_id, "upstream-app");
}

#[test]
fn env_errors_name_the_variable() {
    let e = ProxyConfig::from_yaml_and_env(
        MINIMAL,
        "p",
        env(&[("AUTHPROOF_VALID_SCOPES", "openid email")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("AUTHPROOF_VALID_SCOPES"), "{e}");
    assert!(e.to_string().contains("JSON list"), "{e}");

    let e = ProxyConfig::from_yaml_and_env(
        MINIMAL,
        "p",
        env(&[("AUTHPROOF_UPSTREAM__CLIENT_SECRT", "x")]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown configuration key upstream.client_secrt"),
        "{e}"
    );

    let e =
        ProxyConfig::from_yaml_and_env(MINIMAL, "p", env(&[("AUTHPROOF_CONSENT", "sometimes")]))
            .unwrap_err();
    assert!(matches!(e, ConfigError::Merged(_)), "{e}");

    let e = ProxyConfig::from_yaml_and_env(
        MINIMAL,
        "p",
        env(&[("AUTHPROOF_CIMD_ALLOW_HTTP_LOOPBACK", "yes")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("true or false"), "{e}");
}

#[test]
fn empty_env_value_restores_the_default() {
    let text = format!("{MINIMAL}mcp_path: /other\n");
    let c = ProxyConfig::from_yaml_and_env(&text, "p", env(&[("AUTHPROOF_MCP_PATH", "")])).unwrap();
    assert_eq!(c.mcp_path, "/mcp");
}

#[test]
fn storage_specs() {
    assert_eq!(StorageSpec::parse("memory").unwrap(), StorageSpec::Memory);
    assert_eq!(
        StorageSpec::parse("file:/tmp/x.redb").unwrap(),
        StorageSpec::File("/tmp/x.redb".into())
    );
    assert!(matches!(
        StorageSpec::parse("redis://127.0.0.1:6379/0"),
        Ok(StorageSpec::Redis(_))
    ));
    assert!(StorageSpec::parse("file:").is_err());
    assert!(StorageSpec::parse("sqlite://x").is_err());
}

#[test]
fn round_trips_through_json() {
    let c = ProxyConfig::from_yaml_str(MINIMAL, "p").unwrap();
    let v = serde_json::to_value(&c).unwrap();
    let back: ProxyConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
}

#[test]
fn json_schema_matches_the_keys() {
    let schema = serde_json::to_value(schemars::schema_for!(ProxyConfig)).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "base_url",
        "mcp_path",
        "upstream",
        "allowed_client_redirect_uris",
        "consent",
        "access_token_ttl",
        "storage",
        "cimd_allow_http_loopback",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    let text = schema.to_string();
    assert!(
        text.contains("\"remember\"") && text.contains("\"off\""),
        "{text}"
    );
}

#[test]
fn the_example_config_is_valid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/proxy.yaml"));
    let c = ProxyConfig::load_with_env(Some(path), Vec::new()).unwrap();
    assert_eq!(c.base_url.as_deref(), Some("http://127.0.0.1:8000"));
    assert_eq!(c.upstream.client_id, "upstream-app");
    assert_eq!(
        c.upstream.auth_method(),
        ClientAuthMethod::ClientSecretBasic
    );
}

#[test]
fn workos_from_the_environment_alone() {
    let vars = env(&[
        ("AUTHPROOF_PROVIDER", "workos"),
        ("AUTHPROOF_UPSTREAM__DOMAIN", "tenant.authkit.app/"),
        ("AUTHPROOF_UPSTREAM__CLIENT_ID", "client_01"),
        ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "sk_test"),
        (
            "AUTHPROOF_UPSTREAM__VERIFIER__REQUIRED_SCOPES",
            "[\"email\"]",
        ),
        ("AUTHPROOF_UPSTREAM__VERIFIER__CACHE_TTL", "30s"),
    ]);
    let c = ProxyConfig::load_with_env(None, vars).unwrap();
    assert_eq!(c.provider, ProviderKind::Workos);
    assert_eq!(c.upstream.verifier.required_scopes, ["email"]);
    assert_eq!(c.upstream.verifier.cache_ttl.as_secs(), 30);
    let r = c.resolved().unwrap();
    let u = &r.upstream;
    assert_eq!(
        u.authorization_endpoint.as_deref(),
        Some("https://tenant.authkit.app/oauth2/authorize")
    );
    assert_eq!(
        u.token_endpoint.as_deref(),
        Some("https://tenant.authkit.app/oauth2/token")
    );
    assert_eq!(
        u.userinfo_endpoint.as_deref(),
        Some("https://tenant.authkit.app/oauth2/userinfo")
    );
    assert_eq!(u.verifier.kind, Some(VerifierKind::Userinfo));
    assert!(r.is_resolved());
    // Resolving twice changes nothing.
    assert_eq!(r.resolved().unwrap(), r);
}

#[test]
fn presets_need_their_keys() {
    let e = ProxyConfig::load_with_env(
        None,
        env(&[
            ("AUTHPROOF_PROVIDER", "workos"),
            ("AUTHPROOF_UPSTREAM__CLIENT_ID", "c"),
            ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "s"),
        ]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("upstream.domain: required for provider workos"),
        "{e}"
    );
    let c = ProxyConfig::from_yaml_and_env("provider: authkit\n", "p", Vec::new()).unwrap();
    let all = c.problems().join("\n");
    assert!(
        all.contains("upstream.domain: required for provider authkit"),
        "{all}"
    );
    assert!(c.resolved().is_err());
    // AuthKit needs no client credentials and no signing key.
    let c = ProxyConfig::from_yaml_str(
        "provider: authkit\nupstream: {domain: https://tenant.authkit.app}\n",
        "p",
    )
    .unwrap();
    let r = c.resolved().unwrap();
    assert_eq!(r.upstream.verifier.kind, Some(VerifierKind::Jwt));
    assert_eq!(
        r.upstream.verifier.issuer.as_deref(),
        Some("https://tenant.authkit.app")
    );
    assert_eq!(
        r.upstream.jwks_uri.as_deref(),
        Some("https://tenant.authkit.app/oauth2/jwks")
    );
    assert_eq!(r.upstream.verifier.algorithms(), [JwtAlgorithm::Rs256]);

    let e = ProxyConfig::from_yaml_str(
        "provider: oidc\nupstream: {client_id: a, client_secret: b}\n",
        "p",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("upstream.config_url: required for provider oidc"),
        "{e}"
    );
}

#[test]
fn preset_specific_problems() {
    let azure =
        "provider: azure\nupstream: {client_id: a, client_secret: b, forward_resource: true}\n";
    let e = ProxyConfig::from_yaml_str(azure, "p").unwrap_err();
    assert!(
        e.to_string()
            .contains("upstream.forward_resource: Entra ID rejects"),
        "{e}"
    );

    let auth0 = "provider: auth0\nupstream: {domain: tenant.us.auth0.com, client_id: a, client_secret: b}\n";
    let e = ProxyConfig::from_yaml_str(auth0, "p").unwrap_err();
    assert!(
        e.to_string()
            .contains("upstream.audience: required for provider auth0"),
        "{e}"
    );

    let github = "provider: github\nupstream: {client_id: a, client_secret: b, config_url: 'https://github.com/.well-known/openid-configuration', verifier: {kind: jwt}}\n";
    let e = ProxyConfig::from_yaml_str(github, "p").unwrap_err();
    let s = e.to_string();
    assert!(s.contains("GitHub has no discovery document"), "{s}");
    assert!(s.contains("cannot work with GitHub"), "{s}");

    let hs = "provider: oidc\nupstream: {config_url: 'https://idp.example.com/.well-known/openid-configuration', client_id: a, client_secret: b, verifier: {algorithms: [RS256, HS256]}}\n";
    let e = ProxyConfig::from_yaml_str(hs, "p").unwrap_err();
    assert!(e.to_string().contains("HS256 is an HMAC algorithm"), "{e}");

    let none = "provider: oidc\nupstream: {config_url: 'https://idp.example.com/.well-known/openid-configuration', client_id: a, client_secret: b, verifier: {algorithms: [none]}}\n";
    let e = ProxyConfig::from_yaml_str(none, "p").unwrap_err();
    assert!(
        matches!(e, ConfigError::Yaml(_)),
        "alg none does not even parse: {e}"
    );

    let userinfo = "upstream: {authorization_endpoint: 'https://a.example/authorize', token_endpoint: 'https://a.example/token', client_id: a, client_secret: b, verifier: {kind: userinfo}}\n";
    let e = ProxyConfig::from_yaml_str(userinfo, "p").unwrap_err();
    assert!(
        e.to_string()
            .contains("userinfo needs upstream.userinfo_endpoint"),
        "{e}"
    );

    let tenant = "provider: google\nupstream: {client_id: a, client_secret: b, tenant: x}\n";
    let e = ProxyConfig::from_yaml_str(tenant, "p").unwrap_err();
    assert!(
        e.to_string()
            .contains("upstream.tenant: not used by provider google"),
        "{e}"
    );
}

#[test]
fn presets_fill_defaults_but_never_override() {
    let google = ProxyConfig::from_yaml_str(
        "provider: google\nupstream: {client_id: a, client_secret: b, extra_authorize_params: {prompt: select_account}}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    let u = &google.upstream;
    assert_eq!(u.config_url.as_deref(), Some(GOOGLE_CONFIG_URL));
    assert_eq!(u.auth_method(), ClientAuthMethod::ClientSecretPost);
    assert_eq!(u.extra_authorize_params["access_type"], "offline");
    assert_eq!(
        u.extra_authorize_params["prompt"], "select_account",
        "explicit wins"
    );

    // An explicit config_url (a test pointing the preset at the mock IdP) wins.
    let auth0 = ProxyConfig::from_yaml_str(
        "provider: auth0\nupstream: {domain: tenant.auth0.com, config_url: 'http://127.0.0.1:9/.well-known/openid-configuration', audience: 'https://api.example.com', client_id: a, client_secret: b, token_endpoint_auth_method: client_secret_basic}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    let u = &auth0.upstream;
    assert_eq!(
        u.config_url.as_deref(),
        Some("http://127.0.0.1:9/.well-known/openid-configuration")
    );
    assert_eq!(u.auth_method(), ClientAuthMethod::ClientSecretBasic);
    assert_eq!(
        u.extra_authorize_params["audience"],
        "https://api.example.com"
    );
    assert_eq!(u.extra_token_params["audience"], "https://api.example.com");
    assert_eq!(u.verifier.kind, Some(VerifierKind::Jwt));

    let azure = ProxyConfig::from_yaml_str(
        "provider: azure\nupstream: {tenant: contoso.onmicrosoft.com, client_id: a, client_secret: b}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    assert_eq!(
        azure.upstream.config_url.as_deref(),
        Some(azure_config_url("contoso.onmicrosoft.com").as_str())
    );
    assert!(!azure.upstream.forward_resource);
    assert_eq!(azure.upstream.verifier.kind, Some(VerifierKind::IdToken));

    let github = ProxyConfig::from_yaml_str(
        "provider: github\nupstream: {client_id: a, client_secret: b}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    assert_eq!(
        github.upstream.token_endpoint.as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
    assert_eq!(
        github.upstream.userinfo_endpoint.as_deref(),
        Some(GITHUB_USER_ENDPOINT)
    );
    let ghe = ProxyConfig::from_yaml_str(
        "provider: github\nupstream: {domain: 'http://127.0.0.1:9', client_id: a, client_secret: b, verifier: {kind: none}}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    assert_eq!(
        ghe.upstream.authorization_endpoint.as_deref(),
        Some("http://127.0.0.1:9/login/oauth/authorize")
    );
    assert_eq!(ghe.upstream.verifier.kind, Some(VerifierKind::None));

    let keycloak = ProxyConfig::from_yaml_str(
        "provider: keycloak\nupstream: {domain: 'https://kc.example.com/realms/demo/', client_id: a, client_secret: b}\n",
        "p",
    )
    .unwrap()
    .resolved()
    .unwrap();
    assert_eq!(
        keycloak.upstream.config_url.as_deref(),
        Some("https://kc.example.com/realms/demo/.well-known/openid-configuration")
    );
    // The generic proxy is unchanged apart from its verifier kind.
    let plain = ProxyConfig::from_yaml_str(MINIMAL, "p").unwrap();
    let mut r = plain.resolved().unwrap();
    assert_eq!(r.upstream.verifier.kind, Some(VerifierKind::None));
    r.upstream.verifier.kind = None;
    assert_eq!(r, plain);
}

#[test]
fn provider_is_in_the_schema() {
    let schema = serde_json::to_value(schemars::schema_for!(ProxyConfig)).unwrap();
    assert!(schema["properties"].get("provider").is_some());
    let text = schema.to_string();
    for v in [
        "\"authkit\"",
        "\"keycloak\"",
        "\"id_token\"",
        "\"RS256\"",
        "\"EdDSA\"",
    ] {
        assert!(text.contains(v), "{v}");
    }
    assert!(!text.contains("\"none\",\"RS256\""));
}

#[test]
fn the_provider_examples_are_valid() {
    for name in [
        "oidc", "workos", "authkit", "auth0", "google", "github", "azure", "keycloak",
    ] {
        let path = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
            .join(format!("{name}.yaml"));
        let c = ProxyConfig::load_with_env(Some(&path), Vec::new())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.provider.as_str(), name, "{name}");
        let r = c.resolved().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(r.is_resolved());
    }
    // The WorkOS example pointed at a local AuthKit through the environment.
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/workos.yaml"));
    let c = ProxyConfig::load_with_env(
        Some(path),
        env(&[("AUTHPROOF_UPSTREAM__DOMAIN", "http://127.0.0.1:9000")]),
    )
    .unwrap()
    .resolved()
    .unwrap();
    assert_eq!(
        c.upstream.token_endpoint.as_deref(),
        Some("http://127.0.0.1:9000/oauth2/token")
    );
}
