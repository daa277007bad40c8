//! A certified upstream IdP: `oidc-provider` (npm, OpenID Certified; pinned in
//! tests/peers/oidc-provider/package.json) runs as the upstream of `authproof serve` in OIDC
//! mode. Its interaction app (tests/peers/oidc-provider/server.mjs) signs `alice` in and
//! grants consent headlessly, so authproof's flow client drives every flow end to end.
//!
//! Covered: discovery, `client_secret_basic` and `client_secret_post`, PKCE, ID-token
//! verification with a nonce, upstream refresh with rotation, revocation, `authproof validate
//! --live` (a correct config has no errors; a wrong auth method is the method mismatch), and
//! the `oidc` preset's default `jwt` verifier against the IdP's opaque access tokens.
//!
//! Without node, or without `npm ci` in tests/peers/oidc-provider, every case prints
//! `skipping: … not installed` and passes (`.ci/install.d/25-browser.sh` installs it).

mod support;

use authproof::client::{AuthorizeRequest, FlowClient, RefreshRequest, RevokeRequest};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use support::TempDir;
use support::serve::Serve;

const EXE: &str = env!("CARGO_BIN_EXE_authproof");
const SECRET: &str = "peer-client-s3cret-0123456789-abcdefghij";

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc-provider")
}

/// Whether node and the pinned oidc-provider are installed; says why not.
fn available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node {
        eprintln!("skipping: node not installed");
        return false;
    }
    if !peer_dir()
        .join("node_modules/oidc-provider/package.json")
        .exists()
    {
        eprintln!(
            "skipping: oidc-provider not installed (npm ci --prefix tests/peers/oidc-provider)"
        );
        return false;
    }
    true
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The oidc-provider process, stopped (by its own pid) on drop.
struct Idp {
    child: Child,
    issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts oidc-provider on `port` with one confidential client, `upstream-app`, using
    /// `method` and redirecting to `redirect_uri`.
    fn start(port: u16, method: &str, redirect_uri: &str) -> Idp {
        let clients = json!([{
            "client_id": "upstream-app",
            "client_secret": SECRET,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": method,
        }]);
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(peer_dir())
            .env("PORT", port.to_string())
            .env("CLIENTS", clients.to_string())
            .env("NODE_ENV", "test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node server.mjs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let issuer = match lines.next() {
            Some(Ok(l)) if l.starts_with("listening ") => l["listening ".len()..].to_string(),
            other => {
                let _ = child.kill();
                panic!("oidc-provider did not start: {other:?}");
            }
        };
        Idp { child, issuer }
    }

    fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// What each endpoint received so far.
    async fn journal(&self) -> Vec<Value> {
        reqwest::get(format!("{}/__journal", self.issuer))
            .await
            .expect("journal")
            .json()
            .await
            .expect("journal json")
    }

    async fn requests(&self, path: &str) -> Vec<Value> {
        self.journal()
            .await
            .into_iter()
            .filter(|e| e["path"] == path)
            .collect()
    }
}

/// The proxy's configuration in front of oidc-provider at `discovery`.
fn proxy_yaml(discovery: &str, method: &str, verifier: Option<&str>) -> String {
    let verifier = verifier
        .map(|v| format!("  verifier: {{ kind: {v} }}\n"))
        .unwrap_or_default();
    // A public client (`none`) has no secret.
    let secret = if method == "none" {
        String::new()
    } else {
        format!("  client_secret: {SECRET}\n")
    };
    format!(
        "provider: oidc\n\
         upstream:\n\
         \x20 config_url: {discovery}\n\
         \x20 client_id: upstream-app\n\
         {secret}\
         \x20 token_endpoint_auth_method: {method}\n\
         \x20 scopes: [openid, email]\n\
         {verifier}\
         valid_scopes: [openid, email]\n\
         allowed_client_redirect_uris: [\"http://localhost:*\"]\n\
         consent: always\n\
         jwt_signing_key: peer-oidc-provider-signing-key-0123456789\n"
    )
}

struct Env {
    idp: Idp,
    serve: Serve,
    dir: TempDir,
}

impl Env {
    /// `authproof serve` (from a config file) in front of oidc-provider. `idp_method` is what
    /// the IdP's client is registered with, `proxy_method` what the proxy is told to use.
    fn start(idp_method: &str, proxy_method: &str, verifier: Option<&str>) -> Env {
        let port = free_port();
        let discovery = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
        let dir = TempDir::new("peer-oidc-provider");
        let config = dir.path().join("proxy.yaml");
        std::fs::write(&config, proxy_yaml(&discovery, proxy_method, verifier)).unwrap();
        let serve = Serve::start(EXE, &config, dir.path(), &[])
            .unwrap_or_else(|f| panic!("authproof serve did not start: {f:?}"));
        let callback = format!("http://{}/auth/callback", serve.addr());
        let idp = Idp::start(port, idp_method, &callback);
        assert_eq!(idp.discovery_url(), discovery);
        Env { idp, serve, dir }
    }

    fn url(&self) -> String {
        format!("http://{}", self.serve.addr())
    }

    /// A client of the proxy that discovered it and registered.
    async fn client(&self) -> FlowClient {
        let fc = FlowClient::new(&self.url()).expect("flow client");
        fc.discover().await.expect("discover");
        let reg = fc
            .register(
                &json!({"redirect_uris": ["http://localhost:3000/cb"], "client_name": "Peer test"}),
            )
            .await
            .expect("register");
        assert_eq!(reg.status, 201, "{}", reg.body);
        fc
    }

    /// `authproof validate --live --format json` on this proxy's config (with its base_url).
    fn validate(&self, method: &str) -> Value {
        let config = self.dir.path().join("validate.yaml");
        let text = format!(
            "base_url: {}\n{}",
            self.url(),
            proxy_yaml(&self.idp.discovery_url(), method, Some("userinfo"))
        );
        std::fs::write(&config, text).unwrap();
        let out = Command::new(EXE)
            .arg("validate")
            .arg(&config)
            .args(["--live", "--format", "json"])
            .env("NO_COLOR", "1")
            .output()
            .expect("run authproof validate");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "validate printed no JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

fn errors(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter(|f| f["severity"] == "error").collect())
        .unwrap_or_default()
}

/// One full flow with `method` on both sides: discovery, PKCE, nonce, code exchange, two
/// refreshes (the upstream rotates its refresh token each time), revocation.
async fn full_flow(method: &str) {
    if !available() {
        return;
    }
    let env = Env::start(method, method, Some("userinfo"));
    let fc = env.client().await;
    let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    assert!(
        out.reached_redirect_uri && out.code.is_some(),
        "{out}\n{}",
        env.serve.log()
    );
    let tok = fc.token_code(Default::default()).await.unwrap();
    assert_eq!(tok.status, 200, "{}\n{}", tok.body, env.serve.log());
    let access = tok.json_str("access_token").unwrap().to_string();

    // The proxy's own token works at the guarded MCP endpoint (the upstream token behind it
    // is checked at oidc-provider's userinfo endpoint).
    let mcp = fc
        .mcp(
            &access,
            &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "peer", "version": "1"}}}),
        )
        .await
        .unwrap();
    assert_eq!(mcp.status, 200, "{}", mcp.body);
    assert!(
        !env.idp.requests("/me").await.is_empty(),
        "the upstream token was checked at userinfo"
    );

    // What oidc-provider received: PKCE S256 and a nonce at /auth; the configured client
    // authentication and the verifier at /token.
    let auth = env.idp.requests("/auth").await;
    let first = auth.first().expect("an authorization request");
    assert_eq!(first["params"]["code_challenge_method"], "S256", "{first}");
    assert!(first["params"]["code_challenge"].is_string(), "{first}");
    assert!(
        first["params"]["nonce"]
            .as_str()
            .is_some_and(|n| n.len() >= 16),
        "a nonce for the ID token: {first}"
    );
    let tokens = env.idp.requests("/token").await;
    let exchange = &tokens[0];
    assert_eq!(exchange["status"], 200, "{exchange}");
    assert_eq!(exchange["params"]["grant_type"], "authorization_code");
    assert!(
        exchange["params"]["code_verifier"].is_string(),
        "{exchange}"
    );
    match method {
        "client_secret_basic" => {
            assert_eq!(exchange["authorization"], "Basic", "{exchange}");
            assert_eq!(exchange["client_secret_in_body"], false, "{exchange}");
        }
        _ => {
            assert!(exchange["authorization"].is_null(), "{exchange}");
            assert_eq!(exchange["client_secret_in_body"], true, "{exchange}");
        }
    }

    // Two refreshes: each spends the proxy's refresh token and refreshes upstream with the
    // refresh token oidc-provider rotated in last time (a reused one would end the grant).
    for round in 1..=2 {
        let before = fc.memory().refresh_token.clone();
        let r = fc.refresh(RefreshRequest::default()).await.unwrap();
        assert_eq!(
            r.status,
            200,
            "refresh {round}: {}\n{}",
            r.body,
            env.serve.log()
        );
        assert_ne!(fc.memory().refresh_token, before, "the proxy rotates too");
    }
    let refreshes: Vec<Value> = env
        .idp
        .requests("/token")
        .await
        .into_iter()
        .filter(|e| e["params"]["grant_type"] == "refresh_token")
        .collect();
    assert_eq!(refreshes.len(), 2, "{refreshes:?}");
    assert!(
        refreshes.iter().all(|e| e["status"] == 200),
        "{refreshes:?}"
    );
    assert_ne!(
        refreshes[0]["params"]["refresh_token"], refreshes[1]["params"]["refresh_token"],
        "the second upstream refresh used the rotated token"
    );

    // Revoking the proxy's refresh token revokes the upstream one at oidc-provider.
    let rt = fc.memory().refresh_token.unwrap();
    let r = fc
        .revoke(RevokeRequest {
            token: authproof::client::Param::Value(rt),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let revoked = env.idp.requests("/token/revocation").await;
    assert!(
        revoked.iter().any(|e| e["status"] == 200),
        "upstream revocation: {revoked:?}"
    );
    let r = fc.refresh(RefreshRequest::default()).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json_str("error"), Some("invalid_grant"), "{}", r.body);
}

#[tokio::test]
async fn full_flow_with_client_secret_basic() {
    full_flow("client_secret_basic").await;
}

#[tokio::test]
async fn full_flow_with_client_secret_post() {
    full_flow("client_secret_post").await;
}

#[tokio::test]
async fn validate_live_passes_a_correct_config() {
    if !available() {
        return;
    }
    let env = Env::start(
        "client_secret_basic",
        "client_secret_basic",
        Some("userinfo"),
    );
    let report = env.validate("client_secret_basic");
    assert!(errors(&report).is_empty(), "{report:#}");
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"live.token_probe_ok"), "{ids:?}");
}

/// oidc-provider accepts either secret method (basic or post) from a client registered for
/// one of them, so the one mismatch it enforces is a secret-less (`none`) proxy in front of
/// its confidential client: validate must blame the auth method, as an error.
#[tokio::test]
async fn validate_live_reports_the_wrong_auth_method() {
    if !available() {
        return;
    }
    let env = Env::start("client_secret_post", "client_secret_post", Some("userinfo"));
    let swapped = env.validate("client_secret_basic");
    assert!(errors(&swapped).is_empty(), "{swapped:#}");
    let report = env.validate("none");
    let errs = errors(&report);
    let method = errs
        .iter()
        .find(|f| f["key"] == "upstream.token_endpoint_auth_method")
        .unwrap_or_else(|| panic!("no error on the auth method: {report:#}"));
    let message = method["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("none") && message.contains("invalid_client"),
        "{method:#}"
    );
    assert_eq!(report["summary"]["exit_code"], 1, "{report:#}");
}

/// The `oidc` preset verifies upstream access tokens as JWTs by default, and oidc-provider
/// issues opaque ones: the flow must stop with a clear error that names the verifier (the
/// wording is the validate issue's; the status and the mention are what stay).
#[tokio::test]
async fn default_jwt_verifier_against_opaque_access_tokens_fails_clearly() {
    if !available() {
        return;
    }
    let env = Env::start("client_secret_basic", "client_secret_basic", None);
    let fc = env.client().await;
    let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    // The login itself worked; the proxy refuses the upstream token at its callback and
    // tells the client with an OAuth error (a redirect, not a 500), naming the JWT check.
    assert!(out.reached_redirect_uri, "{out}");
    assert!(
        out.code.is_none(),
        "no code for an unverifiable token: {out}"
    );
    let callback = out
        .hops
        .iter()
        .find(|h| h.url.contains("/auth/callback"))
        .unwrap_or_else(|| panic!("the callback was reached: {out}"));
    assert_eq!(callback.status, 302, "{out}");
    assert!(out.error.is_some(), "{out}");
    let description = out.error_description.clone().unwrap_or_default();
    assert!(
        description.to_ascii_lowercase().contains("jwt"),
        "the error names the JWT verification: {out}"
    );
    assert!(
        env.serve
            .log()
            .contains("upstream tokens refused at the callback"),
        "{}",
        env.serve.log()
    );
}
