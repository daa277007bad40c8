//! `authproof validate`: static findings, and live findings against in-process mock IdPs set up
//! with each preset's quirks and with deliberate misconfigurations. Most tests call the
//! library ([`authproof::validate::validate`]); the exit-code, JSON and acceptance tests run
//! the built binary with `AUTHPROOF_*` overrides pointing a realistic example at the mock.

use authproof::mock_idp::{
    self, FaultAction, FaultMatch, FaultSpec, IdpConfig, MockIdp, MockIdpHandle, Times,
};
use authproof::validate::{Options, Report, Severity, validate};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

const SIGNING_KEY: &str = "test-signing-key-0123456789abcdef0123";
/// The callback of the production-style configurations below (base_url
/// https://mcp.example.com); the mock IdPs' clients register it.
const CALLBACK: &str = "https://mcp.example.com/auth/callback";

fn idp_config(yaml: &str) -> IdpConfig {
    foundations::yaml::from_str(yaml, "<test idp>").expect("idp config")
}

async fn idp(yaml: &str) -> MockIdpHandle {
    MockIdp::builder()
        .config(idp_config(yaml))
        .spawn()
        .await
        .expect("mock idp")
}

/// An OIDC mock IdP whose `upstream-app` (secret s3cret) must use `method`.
async fn oidc_idp(method: &str) -> MockIdpHandle {
    idp(&format!(
        "flavor: oidc\nclients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: {method}, redirect_uris: [{CALLBACK}] }}]\nusers: [{{ sub: alice }}]\n"
    ))
    .await
}

/// A config file in its own temporary directory (names are unique per test), removed on drop.
struct TempConfig(PathBuf);

impl TempConfig {
    fn new(name: &str, text: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("authproof-validate-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write config");
        TempConfig(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A production-grade OIDC config with no mistakes; secrets come from [`secret_vars`].
fn clean_oidc(config_url: &str, method: &str) -> String {
    format!(
        "provider: oidc\n\
         base_url: https://mcp.example.com\n\
         upstream:\n  config_url: {config_url}\n  client_id: upstream-app\n  token_endpoint_auth_method: {method}\n  scopes: [openid, email, offline_access]\n\
         allowed_client_redirect_uris: [\"http://localhost:*\", \"http://127.0.0.1:*\"]\n\
         valid_scopes: [openid, email]\n\
         storage: redis://redis.internal:6379/0\n"
    )
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secret_vars(secret: &str) -> Vec<(String, String)> {
    vars(&[
        ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", secret),
        ("AUTHPROOF_JWT_SIGNING_KEY", SIGNING_KEY),
    ])
}

async fn live(path: &Path, vars: &[(String, String)]) -> Report {
    validate(path, vars, Options { live: true }).await
}

async fn static_only(path: &Path, vars: &[(String, String)]) -> Report {
    validate(path, vars, Options { live: false }).await
}

fn ids(r: &Report, s: Severity) -> Vec<&str> {
    r.findings
        .iter()
        .filter(|f| f.severity() == s)
        .map(|f| f.id())
        .collect()
}

fn has(r: &Report, id: &str) -> bool {
    r.with_id(id).next().is_some()
}

fn one<'a>(r: &'a Report, id: &'a str) -> &'a authproof::validate::Finding {
    let found: Vec<_> = r.with_id(id).collect();
    assert_eq!(found.len(), 1, "{id} in {:#?}", r.findings);
    found[0]
}

/// Run the binary with `args` and exactly the given `AUTHPROOF_*` variables.
async fn run_bin(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_authproof"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AUTHPROOF_")) {
            cmd.env_remove(k);
        }
        cmd.arg("validate")
            .args(args)
            .envs(env)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run the authproof binary")
    })
    .await
    .expect("join")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

fn json_of(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn errors_in(j: &Value) -> Vec<String> {
    j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The acceptance: the IdP's client expects client_secret_post, the config says basic.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_expected_basic_configured_reports_exactly_the_mismatch() {
    let idp = oidc_idp("client_secret_post").await;
    let out = run_bin(
        vec![
            "examples/validate/auth-method-mismatch.yaml".into(),
            "--live".into(),
            "--format".into(),
            "json".into(),
        ],
        vars(&[
            ("AUTHPROOF_UPSTREAM__CONFIG_URL", &idp.discovery_url()),
            ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "s3cret"),
        ]),
    )
    .await;
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{j:#}");
    assert_eq!(errors_in(&j), ["live.token_auth_method_mismatch"], "{j:#}");
    let f = &j["findings"][0];
    assert_eq!(f["key"], "upstream.token_endpoint_auth_method");
    let fix = f["fix"].as_str().unwrap();
    assert!(
        fix.contains("token_endpoint_auth_method: client_secret_post"),
        "{fix}"
    );
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("client_secret_basic") && msg.contains("expects client_secret_post"),
        "{msg}"
    );
    assert!(!stdout(&out).contains("s3cret"), "secret leaked");
    // The code-exchange probes went out with both methods, basic first (the other token
    // request is the client_credentials probe of the access-token format).
    let methods: Vec<Option<String>> = idp
        .journal()
        .into_iter()
        .filter(|e| e.path.ends_with("/token"))
        .filter(|e| e.form.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .map(|e| e.client_auth)
        .collect();
    assert_eq!(
        methods,
        [
            Some("client_secret_basic".to_string()),
            Some("client_secret_post".to_string())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_expected_post_configured_names_basic() {
    let idp = oidc_idp("client_secret_basic").await;
    let cfg = TempConfig::new(
        "basic-expected.yaml",
        &clean_oidc(&idp.discovery_url(), "client_secret_post"),
    );
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.token_auth_method_mismatch"]
    );
    let f = one(&r, "live.token_auth_method_mismatch");
    assert!(f.fix.contains("client_secret_basic"), "{}", f.fix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_invalid_client_not_a_method_problem() {
    let idp = oidc_idp("client_secret_post").await;
    let cfg = TempConfig::new(
        "wrong-secret.yaml",
        &clean_oidc(&idp.discovery_url(), "client_secret_post"),
    );
    let r = live(cfg.path(), &secret_vars("not-the-secret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.token_invalid_client"],
        "{:#?}",
        r.findings
    );
    let f = one(&r, "live.token_invalid_client");
    assert_eq!(f.key.as_deref(), Some("upstream.client_secret"));
    assert!(f.message.contains("client_secret_post") && f.message.contains("client_secret_basic"));
    assert!(!has(&r, "live.token_auth_method_mismatch"));
    assert!(!format!("{:?}", r.findings).contains("not-the-secret"));
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_config_passes_every_live_check() {
    let idp = oidc_idp("client_secret_post").await;
    let cfg = TempConfig::new(
        "clean.yaml",
        &clean_oidc(&idp.discovery_url(), "client_secret_post"),
    );
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(ids(&r, Severity::Warning).is_empty(), "{:#?}", r.findings);
    for id in [
        "live.token_probe_ok",
        "live.issuer_ok",
        "live.jwks_ok",
        "static.callback_url",
    ] {
        assert!(has(&r, id), "{id} missing: {:#?}", r.findings);
    }
    assert!(
        one(&r, "static.callback_url")
            .message
            .ends_with("https://mcp.example.com/auth/callback")
    );
    assert_eq!(r.exit_code(), 0);
}

// ---------------------------------------------------------------------------------------
// Discovery-document problems.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_with_a_trailing_slash_is_a_mismatch() {
    // AuthKit's issuer must be the configured domain byte for byte: the proxy checks the
    // `iss` of every bearer token against it.
    let idp = MockIdp::builder()
        .config(idp_config(WORKOS_IDP))
        .issuer_path("/")
        .spawn()
        .await
        .expect("idp");
    assert!(idp.issuer().ends_with('/'));
    let cfg = TempConfig::new(
        "issuer.yaml",
        &format!(
            "provider: authkit\nbase_url: https://mcp.example.com\nupstream:\n  domain: {}\nvalid_scopes: [openid]\n",
            idp.url()
        ),
    );
    let r = live(cfg.path(), &[]).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.issuer_mismatch"],
        "{:#?}",
        r.findings
    );
    let f = one(&r, "live.issuer_mismatch");
    assert!(f.message.contains("trailing slash"), "{}", f.message);
    assert_eq!(f.key.as_deref(), Some("upstream.domain"));

    // A discovery URL drops the issuer's terminating slash (OIDC Discovery §4), so an OIDC
    // issuer `…/` found at `…/.well-known/openid-configuration` is right (Auth0 does this);
    // an explicitly configured issuer without the slash is not.
    let oidc = MockIdp::builder()
        .config(idp_config(
            "flavor: oidc\nclients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post, redirect_uris: [\"https://mcp.example.com/auth/callback\"] }]\n",
        ))
        .issuer_path("/")
        .spawn()
        .await
        .expect("idp");
    let text = clean_oidc(&oidc.discovery_url(), "client_secret_post");
    let cfg = TempConfig::new("issuer-oidc.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(has(&r, "live.issuer_ok"));
    let pinned = text.replace(
        "  scopes: [openid, email, offline_access]\n",
        &format!(
            "  scopes: [openid, email, offline_access]\n  verifier: {{ issuer: \"{}\" }}\n",
            oidc.url()
        ),
    );
    let cfg = TempConfig::new("issuer-pinned.yaml", &pinned);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.issuer_mismatch"],
        "{:#?}",
        r.findings
    );
    assert_eq!(
        one(&r, "live.issuer_mismatch").key.as_deref(),
        Some("upstream.verifier.issuer")
    );
}

/// The mock's discovery document with `edit` applied, served instead of the real one.
async fn serve_edited_discovery(idp: &MockIdpHandle, edit: impl FnOnce(&mut Value)) {
    let mut doc: Value = reqwest::get(idp.discovery_url())
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    edit(&mut doc);
    idp.add_fault(FaultSpec {
        matcher: FaultMatch {
            endpoint: Some("discovery".into()),
            ..FaultMatch::default()
        },
        times: Times::Always,
        delay_ms: None,
        action: Some(FaultAction::Respond(mock_idp::faults::RespondSpec {
            status: 200,
            json: Some(doc),
            body: None,
            headers: Default::default(),
        })),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_s256_is_an_error_and_a_silent_idp_a_warning() {
    let idp = oidc_idp("client_secret_post").await;
    serve_edited_discovery(&idp, |d| {
        d["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
    })
    .await;
    let cfg = TempConfig::new(
        "s256.yaml",
        &clean_oidc(&idp.discovery_url(), "client_secret_post"),
    );
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.pkce_s256_missing"],
        "{:#?}",
        r.findings
    );

    idp.clear_faults();
    serve_edited_discovery(&idp, |d| {
        d.as_object_mut()
            .unwrap()
            .remove("code_challenge_methods_supported");
    })
    .await;
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert_eq!(ids(&r, Severity::Warning), ["live.pkce_unadvertised"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unadvertised_auth_method_and_unknown_scope() {
    let idp = oidc_idp("client_secret_post").await;
    serve_edited_discovery(&idp, |d| {
        d["token_endpoint_auth_methods_supported"] = serde_json::json!(["client_secret_basic"]);
    })
    .await;
    let text = clean_oidc(&idp.discovery_url(), "client_secret_post").replace(
        "[openid, email, offline_access]",
        "[openid, email, offline_access, admin:all]",
    );
    let cfg = TempConfig::new("scope.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    // The list says basic only, but the token endpoint accepts post: a warning, not an error.
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    let unlisted = one(&r, "live.token_auth_method_unsupported");
    assert_eq!(unlisted.severity(), Severity::Warning);
    assert!(
        unlisted.message.contains("accepted it"),
        "{}",
        unlisted.message
    );
    assert!(unlisted.fix.contains("client_secret_basic"));
    let scope = one(&r, "live.scope_unsupported");
    assert_eq!(scope.severity(), Severity::Warning);
    assert!(scope.message.contains("admin:all"), "{}", scope.message);
    // The probe itself still succeeds: the mock accepts post for this client.
    assert!(has(&r, "live.token_probe_ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertised_and_probed_method_mismatch_is_one_finding() {
    let idp = oidc_idp("client_secret_post").await;
    serve_edited_discovery(&idp, |d| {
        d["token_endpoint_auth_methods_supported"] = serde_json::json!(["client_secret_post"]);
    })
    .await;
    let cfg = TempConfig::new(
        "listed-post.yaml",
        &clean_oidc(&idp.discovery_url(), "client_secret_basic"),
    );
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.token_auth_method_mismatch"],
        "{:#?}",
        r.findings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_discovery_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    let cfg = TempConfig::new("down.yaml", &clean_oidc(&url, "client_secret_post"));
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    // One error for one cause: no follow-up "endpoint missing" findings.
    assert_eq!(ids(&r, Severity::Error), ["live.discovery_unreachable"]);
    assert!(
        one(&r, "live.discovery_unreachable")
            .message
            .contains("connection failed"),
        "{:#?}",
        r.findings
    );
    assert_eq!(r.exit_code(), 1);
}

// ---------------------------------------------------------------------------------------
// Presets.

const WORKOS_IDP: &str = "flavor: workos\n\
    clients: [{ id: client_01HZ8E6VQ6X0Q4T2N1R9Y7K5M3, secret: sk_test_example, token_endpoint_auth_method: client_secret_post, redirect_uris: [\"http://127.0.0.1:8000/auth/callback\", \"https://mcp.example.com/auth/callback\"] }]\n\
    users: [{ sub: user_01HZ8E9A1B2C3D4E5F6G7H8J9K }]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workos_example_against_the_workos_flavor_has_no_errors() {
    let idp = idp(WORKOS_IDP).await;
    let out = run_bin(
        vec![
            "examples/workos.yaml".into(),
            "--live".into(),
            "--format".into(),
            "json".into(),
        ],
        // Only the domain changes: the example's client, secret and method are the mock's.
        vars(&[("AUTHPROOF_UPSTREAM__DOMAIN", &idp.url())]),
    )
    .await;
    let j = json_of(&out);
    assert_eq!(errors_in(&j), Vec::<String>::new(), "{j:#}");
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    let found: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for id in ["live.token_probe_ok", "live.userinfo_ok", "live.issuer_ok"] {
        assert!(found.contains(&id), "{id}: {j:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authkit_needs_dynamic_client_registration() {
    let text = "provider: authkit\nbase_url: https://mcp.example.com\nupstream:\n  domain: DOMAIN\nvalid_scopes: [openid]\n";
    let on = idp(WORKOS_IDP).await;
    let cfg = TempConfig::new("authkit.yaml", &text.replace("DOMAIN", &on.url()));
    let r = live(cfg.path(), &[]).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(has(&r, "live.registration_endpoint_ok"));
    assert!(has(&r, "live.jwks_ok"));
    assert!(
        one(&r, "static.resource_url")
            .message
            .contains("https://mcp.example.com/mcp")
    );
    assert!(!has(&r, "static.callback_url"));

    let off = idp(&format!("{WORKOS_IDP}registration: {{ enabled: false }}\n")).await;
    let cfg = TempConfig::new("authkit-off.yaml", &text.replace("DOMAIN", &off.url()));
    let r = live(cfg.path(), &[]).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.registration_endpoint_missing"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_has_no_discovery_and_is_probed_directly() {
    let idp = idp(
        "flavor: github\nclients: [{ id: Iv1.abc, secret: gh-secret, token_endpoint_auth_method: client_secret_post, redirect_uris: [\"https://mcp.example.com/auth/callback\"] }]\nusers: [{ sub: \"1\", claims: { login: alice } }]\n",
    )
    .await;
    let text = format!(
        "provider: github\nbase_url: https://mcp.example.com\nupstream:\n  domain: {}\n  client_id: Iv1.abc\nvalid_scopes: [read:user]\nstorage: redis://redis.internal:6379/0\n",
        idp.url()
    );
    let cfg = TempConfig::new("github.yaml", &text);
    let r = live(cfg.path(), &secret_vars("gh-secret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    for id in [
        "live.no_discovery",
        "live.token_probe_ok",
        "live.userinfo_ok",
    ] {
        assert!(has(&r, id), "{id}: {:#?}", r.findings);
    }
    // A wrong secret: GitHub answers errors with HTTP 200, still recognised.
    let r = live(cfg.path(), &secret_vars("wrong")).await;
    assert_eq!(ids(&r, Severity::Error), ["live.token_invalid_client"]);

    // GitHub configured as OIDC.
    let r = static_only(
        Path::new("examples/validate/github-discovery.yaml"),
        &secret_vars("x"),
    )
    .await;
    assert_eq!(ids(&r, Severity::Error), ["preset.github.no_discovery"]);
    assert!(has(&r, "preset.github.openid_scope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_quirks() {
    let r = static_only(
        Path::new("examples/validate/google-quirks.yaml"),
        &secret_vars("x"),
    )
    .await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["preset.google.offline_access_scope"]
    );
    for id in ["preset.google.auth_method", "preset.google.access_type"] {
        assert_eq!(one(&r, id).severity(), Severity::Warning, "{id}");
    }
    assert!(has(&r, "preset.google.prompt"));

    // The preset's defaults (post, offline, consent) against a Google-like client: clean.
    let idp = oidc_idp("client_secret_post").await;
    let text = format!(
        "provider: google\nbase_url: https://mcp.example.com\nupstream:\n  config_url: {}\n  client_id: upstream-app\nvalid_scopes: [openid, email]\nstorage: redis://redis.internal:6379/0\n",
        idp.discovery_url()
    );
    let cfg = TempConfig::new("google.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(!has(&r, "preset.google.access_type"));
    assert!(has(&r, "live.token_probe_ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_rejecting_resource_is_caught_statically_and_live() {
    let idp = idp(
        "flavor: oidc\nclients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post, reject_resource: true, redirect_uris: [\"https://mcp.example.com/auth/callback\"] }]\n",
    )
    .await;
    let out = run_bin(
        vec![
            "examples/validate/azure-resource.yaml".into(),
            "--live".into(),
            "--format".into(),
            "json".into(),
        ],
        vars(&[
            ("AUTHPROOF_UPSTREAM__CONFIG_URL", &idp.discovery_url()),
            ("AUTHPROOF_UPSTREAM__CLIENT_ID", "upstream-app"),
            ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "s3cret"),
            ("AUTHPROOF_UPSTREAM__TENANT", "contoso.onmicrosoft.com"),
        ]),
    )
    .await;
    let j = json_of(&out);
    assert_eq!(
        errors_in(&j),
        [
            "live.authorize_resource_rejected",
            "live.token_resource_rejected",
            "preset.azure.forward_resource"
        ],
        "{j:#}"
    );
    assert_eq!(out.status.code(), Some(1));

    // Without the tenant: a warning only.
    let r = static_only(
        Path::new("examples/validate/azure-resource.yaml"),
        &secret_vars("s3cret"),
    )
    .await;
    assert!(has(&r, "preset.azure.tenant_missing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_needs_an_audience_and_keycloak_a_realm() {
    let r = static_only(
        Path::new("examples/validate/auth0-no-audience.yaml"),
        &secret_vars("s3cret"),
    )
    .await;
    assert_eq!(ids(&r, Severity::Error), ["preset.auth0.audience_missing"]);
    assert_eq!(
        one(&r, "preset.auth0.audience_missing").key.as_deref(),
        Some("upstream.audience")
    );
    let cfg = TempConfig::new(
        "keycloak.yaml",
        "provider: keycloak\nbase_url: https://mcp.example.com\nupstream:\n  domain: https://kc.example.com\n  client_id: app\n  scopes: [openid]\nvalid_scopes: [openid]\n",
    );
    let r = static_only(cfg.path(), &secret_vars("s3cret")).await;
    assert!(has(&r, "preset.keycloak.realm_url"), "{:#?}", r.findings);
}

// ---------------------------------------------------------------------------------------
// Static findings, exit codes, output.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_production_example_lists_its_mistakes() {
    let r = static_only(Path::new("examples/validate/insecure-production.yaml"), &[]).await;
    let errors = ids(&r, Severity::Error);
    for id in [
        "static.base_url_insecure",
        "static.consent_off",
        "static.allowlist_http_non_loopback",
        "static.allowlist_invalid_pattern",
        "static.allowlist_wildcard_public_suffix",
        "static.upstream_insecure_url",
        "static.storage_memory",
    ] {
        assert!(errors.contains(&id), "{id}: {errors:?}");
    }
    let warnings = ids(&r, Severity::Warning);
    for id in [
        "static.allowlist_wildcard_host",
        "static.allowlist_any_path",
        "static.allowlist_path_prefix",
        "static.allowlist_any_port",
        "static.signing_key_derived",
        "static.secret_in_file",
    ] {
        assert!(warnings.contains(&id), "{id}: {warnings:?}");
    }
    assert!(
        !format!("{:?}", r.findings).contains("not-a-real-secret"),
        "secret leaked"
    );
    // Live: the secret is never sent to a cleartext token endpoint.
    let r = live(Path::new("examples/validate/insecure-production.yaml"), &[]).await;
    assert_eq!(
        one(&r, "live.token_probe_skipped").key.as_deref(),
        Some("upstream.token_endpoint")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_settings_are_not_production_errors() {
    let cfg = TempConfig::new(
        "dev.yaml",
        "base_url: http://127.0.0.1:8000\nupstream:\n  config_url: http://127.0.0.1:9/.well-known/openid-configuration\n  client_id: app\n  client_secret: dev-secret-value\nconsent: \"off\"\nstorage: memory\nvalid_scopes: [openid]\n",
    );
    let r = static_only(cfg.path(), &[]).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert_eq!(one(&r, "static.consent_off").severity(), Severity::Warning);
    assert_eq!(one(&r, "static.storage_memory").severity(), Severity::Info);
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_messages() {
    // 2: a syntax error keeps file:line:column.
    let out = run_bin(vec!["examples/validate/syntax-error.yaml".into()], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains("examples/validate/syntax-error.yaml:7:3") && text.contains("client_secrt"),
        "{text}"
    );
    // 2: no such file, also in JSON.
    let out = run_bin(
        vec!["no/such/file.yaml".into(), "--format".into(), "json".into()],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let j = json_of(&out);
    assert_eq!(j["findings"][0]["id"], "config.unreadable");
    assert_eq!(j["summary"]["exit_code"], 2);
    // 2: bad arguments.
    let out = run_bin(
        vec![
            "examples/proxy.yaml".into(),
            "--format".into(),
            "xml".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    // 2: a bad AUTHPROOF_* variable.
    let out = run_bin(
        vec!["examples/proxy.yaml".into()],
        vars(&[("AUTHPROOF_UPSTREAM__CLIENT_SECRT", "x")]),
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("config.env"), "{}", stdout(&out));
    // 1: errors.
    let out = run_bin(
        vec!["examples/validate/insecure-production.yaml".into()],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("fix the errors before deploying"));
    // 0: the bundled development example.
    let out = run_bin(vec!["examples/proxy.yaml".into()], vec![]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("http://127.0.0.1:8000/auth/callback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_stable_sorted_and_masked() {
    let secret = "very-secret-value-0123456789";
    let cfg = TempConfig::new(
        "masked.yaml",
        &format!(
            "base_url: https://mcp.example.com\nupstream:\n  authorization_endpoint: https://idp.example.com/a\n  token_endpoint: https://idp.example.com/t\n  client_id: app\n  client_secret: {secret}\nallowed_client_redirect_uris: [\"https://*.example.com/cb\"]\nconsent: \"off\"\nstorage: memory\n"
        ),
    );
    let args = || {
        vec![
            cfg.path().display().to_string(),
            "--format".to_string(),
            "json".to_string(),
        ]
    };
    let first = run_bin(args(), vec![]).await;
    let second = run_bin(args(), vec![]).await;
    assert_eq!(stdout(&first), stdout(&second));
    assert!(!stdout(&first).contains(secret));
    let j = json_of(&first);
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["config", "findings", "summary"]);
    assert_eq!(j["config"], cfg.path().display().to_string());
    let rank = |s: &str| match s {
        "error" => 0,
        "warning" => 1,
        _ => 2,
    };
    let order: Vec<(i32, String)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            for k in ["id", "severity", "message", "fix"] {
                assert!(f[k].is_string(), "{k} in {f}");
            }
            (
                rank(f["severity"].as_str().unwrap()),
                f["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(j["summary"]["errors"], errors_in(&j).len());
    assert_eq!(j["summary"]["live"], false);
    assert_eq!(j["summary"]["provider"], "oauth");
    // Text output masks too.
    let text = run_bin(vec![cfg.path().display().to_string()], vec![]).await;
    assert!(!stdout(&text).contains(secret));
    assert!(stdout(&text).contains("static.consent_off"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_verifier_is_probed_with_the_client_credentials() {
    let idp = oidc_idp("client_secret_post").await;
    let text = clean_oidc(&idp.discovery_url(), "client_secret_post")
        .replace("provider: oidc\n", "provider: oauth\n")
        .replace(
            "  scopes: [openid, email, offline_access]\n",
            "  scopes: [openid, email, offline_access]\n  verifier: { kind: introspection }\n",
        );
    let cfg = TempConfig::new("introspection.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(has(&r, "live.introspection_ok"), "{:#?}", r.findings);

    let r = live(cfg.path(), &secret_vars("wrong")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.introspection_failed", "live.token_invalid_client"],
        "{:#?}",
        r.findings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_preset_skips_live_checks_with_one_error_per_cause() {
    let cfg = TempConfig::new(
        "workos-no-domain.yaml",
        "provider: workos\nbase_url: https://mcp.example.com\nupstream:\n  client_id: client_01\n  token_endpoint_auth_method: client_secret_post\nvalid_scopes: [openid]\nstorage: redis://redis.internal:6379/0\n",
    );
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.skipped", "preset.workos.domain_missing"],
        "{:#?}",
        r.findings
    );
    assert_eq!(r.exit_code(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_alone_is_a_configuration() {
    let idp = idp(WORKOS_IDP).await;
    let out = run_bin(
        vec!["--live".into(), "--format".into(), "json".into()],
        vars(&[
            ("AUTHPROOF_PROVIDER", "workos"),
            ("AUTHPROOF_BASE_URL", "https://mcp.example.com"),
            ("AUTHPROOF_UPSTREAM__DOMAIN", &idp.url()),
            (
                "AUTHPROOF_UPSTREAM__CLIENT_ID",
                "client_01HZ8E6VQ6X0Q4T2N1R9Y7K5M3",
            ),
            ("AUTHPROOF_UPSTREAM__CLIENT_SECRET", "sk_test_example"),
            (
                "AUTHPROOF_UPSTREAM__TOKEN_ENDPOINT_AUTH_METHOD",
                "client_secret_post",
            ),
            (
                "AUTHPROOF_UPSTREAM__SCOPES",
                r#"["openid","email","offline_access"]"#,
            ),
            ("AUTHPROOF_VALID_SCOPES", r#"["openid","email"]"#),
            ("AUTHPROOF_JWT_SIGNING_KEY", SIGNING_KEY),
            ("AUTHPROOF_STORAGE", "redis://redis.internal:6379/0"),
        ]),
    )
    .await;
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    assert_eq!(j["config"], "<environment>");
    assert_eq!(j["summary"]["provider"], "workos");
    assert_eq!(j["summary"]["deployment"], "production");
    assert_eq!(j["summary"]["warnings"], 0, "{j:#}");
    assert!(!stdout(&out).contains("sk_test_example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_with_an_audience_passes_live() {
    let idp = idp(
        "flavor: oidc\nclients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post, audience: https://api.example.com, redirect_uris: [\"https://mcp.example.com/auth/callback\"] }]\n",
    )
    .await;
    let text = format!(
        "provider: auth0\nbase_url: https://mcp.example.com\nupstream:\n  config_url: {}\n  client_id: upstream-app\n  audience: https://api.example.com\n  scopes: [openid, email, offline_access]\nvalid_scopes: [openid, email]\nstorage: redis://redis.internal:6379/0\n",
        idp.discovery_url()
    );
    let cfg = TempConfig::new("auth0.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(ids(&r, Severity::Error).is_empty(), "{:#?}", r.findings);
    assert!(has(&r, "live.token_probe_ok"));
    // The probe went out as the proxy's exchange would: with the preset's method and the
    // audience parameter.
    let token = idp
        .journal()
        .into_iter()
        .rfind(|e| e.path.ends_with("/token"))
        .expect("a token request");
    assert_eq!(token.client_auth.as_deref(), Some("client_secret_post"));
    assert_eq!(
        token.form.get("audience").map(String::as_str),
        Some("https://api.example.com")
    );
    assert_eq!(
        token.form.get("redirect_uri").map(String::as_str),
        Some("https://mcp.example.com/auth/callback")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_callback_url_is_found() {
    let idp = oidc_idp("client_secret_post").await;
    let text = clean_oidc(&idp.discovery_url(), "client_secret_post");
    let cfg = TempConfig::new("callback.yaml", &text);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert!(has(&r, "live.authorize_ok"), "{:#?}", r.findings);
    // The probe asked for exactly what a login would: client, callback, PKCE S256.
    let authorize = idp
        .journal()
        .into_iter()
        .find(|e| e.path.ends_with("/authorize"))
        .expect("an authorization request");
    assert_eq!(
        authorize.query.get("redirect_uri").map(String::as_str),
        Some(CALLBACK)
    );
    assert_eq!(
        authorize
            .query
            .get("code_challenge_method")
            .map(String::as_str),
        Some("S256")
    );

    let moved = text.replace("https://mcp.example.com", "https://new-host.example.com");
    let cfg = TempConfig::new("callback-moved.yaml", &moved);
    let r = live(cfg.path(), &secret_vars("s3cret")).await;
    assert_eq!(
        ids(&r, Severity::Error),
        ["live.callback_not_registered"],
        "{:#?}",
        r.findings
    );
    let f = one(&r, "live.callback_not_registered");
    assert!(
        f.fix.contains("https://new-host.example.com/auth/callback"),
        "{}",
        f.fix
    );
}
