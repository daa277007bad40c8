//! Real `authproof serve` processes sharing state: (a) two instances behind one URL sharing a
//! private redis-server, with the steps of one flow spread over both and one instance killed
//! mid-flow; (b) one instance restarted on the same file store — registrations, tokens and
//! refresh tokens survive, a wrong storage key refuses to start, a second process cannot open
//! the file.
//!
//! "One URL": a switchable TCP forwarder (tests/support/switch.rs) plays the load balancer.
//! Both instances have the same `base_url` (the forwarder), `jwt_signing_key` and storage;
//! the test routes each step to A or B. The flow is driven by the one FlowClient, with an
//! HTTP client that opens a connection per request so that each request is routed anew.

mod support;

use authproof::client::{
    FlowClient, FollowOptions, McpRequest, Param, RawRequest, RefreshRequest, TokenCodeRequest,
};
use authproof::mock_idp::{self, MockIdp, MockIdpHandle};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use support::TempDir;
use support::redis::RedisServer;
use support::serve::{Serve, StartFailure};
use support::switch::{Switch, no_reuse_http};

const EXE: &str = env!("CARGO_BIN_EXE_authproof");
const REDIRECT: &str = "http://localhost:3000/cb";
const KEY_A: &str = "serve-storage-key-A-0123456789abcdef012345";
const KEY_B: &str = "serve-storage-key-B-0123456789abcdef012345";

async fn idp() -> MockIdpHandle {
    let cfg: mock_idp::IdpConfig = foundations::yaml::from_str(
        "flavor: oidc\n\
         clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }]\n\
         users: [{ sub: alice, claims: { email: alice@example.com } }]\n\
         default_user: alice\n",
        "<serve_instances idp>",
    )
    .expect("idp config");
    MockIdp::builder()
        .config(cfg)
        .spawn()
        .await
        .expect("mock idp")
}

/// The proxy configuration both instances share.
fn write_config(dir: &Path, base_url: &str, idp: &MockIdpHandle, storage: Option<&str>) -> PathBuf {
    let storage = storage
        .map(|s| format!("storage: \"{s}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "base_url: {base_url}\n\
         upstream:\n\
         \x20 config_url: {}\n\
         \x20 client_id: upstream-app\n\
         \x20 client_secret: s3cret\n\
         \x20 token_endpoint_auth_method: client_secret_post\n\
         \x20 scopes: [openid, email]\n\
         valid_scopes: [openid, email]\n\
         allowed_client_redirect_uris: ['http://localhost:*']\n\
         consent: always\n\
         jwt_signing_key: serve-instances-signing-key-0123456789\n\
         {storage}",
        idp.discovery_url()
    );
    let path = dir.join("proxy.yaml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn start(config: &Path, cwd: &Path, env: &[(&str, &str)]) -> Result<Serve, StartFailure> {
    let config = config.to_path_buf();
    let cwd = cwd.to_path_buf();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Serve::start(EXE, &config, &cwd, &env)
    })
    .await
    .expect("start task")
}

async fn started(config: &Path, cwd: &Path, env: &[(&str, &str)]) -> Serve {
    match start(config, cwd, env).await {
        Ok(s) => s,
        Err(f) => panic!(
            "authproof serve did not start ({:?}):\n{}",
            f.status, f.stderr
        ),
    }
}

fn mcp_init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
}

/// An MCP `initialize` with `token` at whatever instance the switch routes to.
async fn mcp_status(fc: &FlowClient, token: &str) -> u16 {
    fc.mcp_with(McpRequest {
        token: Param::Value(token.to_string()),
        body: mcp_init(),
        session_id: Param::Omit,
        protocol_version: Param::Omit,
        ..McpRequest::default()
    })
    .await
    .expect("mcp")
    .status
}

async fn new_client(switch: &Switch) -> FlowClient {
    let fc = FlowClient::with_http(&switch.url(), no_reuse_http()).expect("flow client");
    fc.discover().await.expect("discover");
    let reg = fc
        .register(&json!({"redirect_uris": [REDIRECT], "client_name": "Instances"}))
        .await
        .expect("register");
    assert_eq!(reg.status, 201, "{}", reg.body);
    fc
}

/// `/authorize` → consent (approved) → upstream login, stopping at the redirect to the
/// proxy's callback (not fetched). Returns the callback URL.
async fn until_callback(fc: &FlowClient, base: &str) -> String {
    let m = fc.memory();
    let verifier = authproof::oauth::pkce::new_verifier();
    let mut url = url::Url::parse(&m.endpoints.authorization).expect("authorization endpoint");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", m.client_id.as_deref().expect("registered"))
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair(
            "code_challenge",
            &authproof::oauth::pkce::challenge_s256(&verifier),
        )
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", &authproof::oauth::random_token(12))
        .append_pair(
            "resource",
            m.resource.as_deref().expect("discovered resource"),
        );
    fc.update_memory(|m| {
        m.code_verifier = Some(verifier);
        m.redirect_uri = Some(REDIRECT.into());
    });
    let out = fc
        .follow(
            RawRequest::get(url.as_str()),
            FollowOptions {
                stop_at: Some(format!("{base}/auth/callback")),
                as_user: Some("alice".into()),
                ..FollowOptions::default()
            },
        )
        .await
        .expect("authorize");
    assert!(
        out.reached_redirect_uri && out.final_url.contains("/auth/callback?"),
        "stops at the proxy callback: {out}"
    );
    assert!(out.consent_page.is_some(), "consent was asked");
    out.final_url
}

/// The proxy's callback → the client's redirect URI with a code (remembered for token_code).
async fn callback(fc: &FlowClient, callback_url: &str) {
    let out = fc
        .follow(
            RawRequest::get(callback_url),
            FollowOptions {
                stop_at: Some(REDIRECT.into()),
                ..FollowOptions::default()
            },
        )
        .await
        .expect("callback");
    assert!(out.reached_redirect_uri, "{out}");
    let code = out.code.clone();
    assert!(code.is_some(), "a code: {out}");
    fc.update_memory(|m| m.code = code);
}

async fn token(fc: &FlowClient) -> Value {
    let t = fc
        .token_code(TokenCodeRequest::default())
        .await
        .expect("token");
    assert_eq!(t.status, 200, "{}", t.body);
    t.json.expect("json")
}

async fn refresh(fc: &FlowClient) -> Value {
    let r = fc
        .refresh(RefreshRequest::default())
        .await
        .expect("refresh");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json.expect("json")
}

fn access(v: &Value) -> String {
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_redis_and_survive_one_dying() {
    let Some(redis) = RedisServer::start("two_instances_share_redis_and_survive_one_dying") else {
        return;
    };
    let idp = idp().await;
    let dir = TempDir::new("serve-redis");
    let switch = Switch::start().await;
    let base = switch.url();
    let config = write_config(dir.path(), &base, &idp, Some(&redis.url(0)));
    let env = [("AUTHPROOF_STORAGE_KEY", KEY_A)];
    let a = started(&config, dir.path(), &env).await;
    let b = started(&config, dir.path(), &env).await;
    let (a_addr, b_addr): (SocketAddr, SocketAddr) = (a.addr(), b.addr());
    assert_ne!(a_addr, b_addr);

    // Register on A, authorize on B, callback on A, token on B, refresh on A.
    switch.route_to(a_addr);
    let fc = new_client(&switch).await;
    switch.route_to(b_addr);
    let cb = until_callback(&fc, &base).await;
    switch.route_to(a_addr);
    callback(&fc, &cb).await;
    switch.route_to(b_addr);
    let first = token(&fc).await;
    assert_eq!(
        mcp_status(&fc, &access(&first)).await,
        200,
        "B's token at B"
    );
    switch.route_to(a_addr);
    assert_eq!(
        mcp_status(&fc, &access(&first)).await,
        200,
        "B's token at A"
    );
    let refreshed = refresh(&fc).await;
    assert_ne!(
        refreshed["refresh_token"], first["refresh_token"],
        "rotated"
    );
    // A second flow: authorize on A, A dies before the callback, B finishes.
    let fc2 = {
        switch.route_to(a_addr);
        new_client(&switch).await
    };
    let cb2 = until_callback(&fc2, &base).await;
    a.kill();
    switch.route_to(b_addr);
    callback(&fc2, &cb2).await;
    let t2 = token(&fc2).await;
    assert_eq!(mcp_status(&fc2, &access(&t2)).await, 200);
    let r2 = refresh(&fc2).await;
    assert_eq!(mcp_status(&fc2, &access(&r2)).await, 200);

    // Nothing of the first flow was lost with A either: its current refresh token works on B.
    let again = fc
        .refresh(RefreshRequest {
            refresh_token: Param::Value(refreshed["refresh_token"].as_str().unwrap().into()),
            ..RefreshRequest::default()
        })
        .await
        .expect("refresh on B");
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(mcp_status(&fc, &access(&refreshed)).await, 200);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_survives_restarts_and_refuses_a_wrong_key() {
    let idp = idp().await;
    let dir = TempDir::new("serve-file");
    let switch = Switch::start().await;
    let base = switch.url();
    let state = dir.path().join("state.redb");
    let config = write_config(
        dir.path(),
        &base,
        &idp,
        Some(&format!("file:{}", state.display())),
    );
    let env = [("AUTHPROOF_STORAGE_KEY", KEY_A)];

    let first = started(&config, dir.path(), &env).await;
    switch.route_to(first.addr());
    let fc = new_client(&switch).await;
    let cb = until_callback(&fc, &base).await;
    callback(&fc, &cb).await;
    let tokens = token(&fc).await;
    assert_eq!(mcp_status(&fc, &access(&tokens)).await, 200);
    // A second process on the same file is refused with a clear message.
    let refused = start(&config, dir.path(), &env)
        .await
        .err()
        .expect("the file is in use");
    assert!(
        refused.stderr.contains("in use"),
        "second process: {}",
        refused.stderr
    );
    assert!(!refused.status.expect("exited").success());
    assert!(first.terminate().success(), "stops cleanly on SIGTERM");

    // Restart on the same file: the access token still works (same signing key, mapping
    // persisted), the refresh token refreshes, the registration is still known.
    let second = started(&config, dir.path(), &env).await;
    switch.route_to(second.addr());
    assert_eq!(
        mcp_status(&fc, &access(&tokens)).await,
        200,
        "a token issued before the restart"
    );
    let refreshed = refresh(&fc).await;
    assert_eq!(mcp_status(&fc, &access(&refreshed)).await, 200);
    let cb = until_callback(&fc, &base).await;
    callback(&fc, &cb).await;
    let _ = token(&fc).await;

    // A crash (SIGKILL) loses nothing that was answered.
    let last_refresh = fc.memory().refresh_token.expect("refresh token");
    second.kill();
    let third = started(&config, dir.path(), &env).await;
    switch.route_to(third.addr());
    let r = fc
        .refresh(RefreshRequest {
            refresh_token: Param::Value(last_refresh),
            ..RefreshRequest::default()
        })
        .await
        .expect("refresh after a crash");
    assert_eq!(r.status, 200, "{}", r.body);
    third.kill();

    // A wrong storage key: refuse to start, naming the key id found and the fix.
    let wrong = start(&config, dir.path(), &[("AUTHPROOF_STORAGE_KEY", KEY_B)])
        .await
        .err()
        .expect("a wrong storage key must not start");
    assert_eq!(
        wrong.status.and_then(|s| s.code()),
        Some(1),
        "{}",
        wrong.stderr
    );
    let found = authproof::proxy::store::seal::SealingKey::derive(KEY_A.as_bytes(), "x").id_hex();
    assert!(
        wrong.stderr.contains(&found),
        "names the key id found ({found}): {}",
        wrong.stderr
    );
    assert!(
        wrong.stderr.contains("storage_previous_keys"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains(KEY_A) && !wrong.stderr.contains(KEY_B));
    // The state is intact for the right key.
    let fourth = started(&config, dir.path(), &env).await;
    switch.route_to(fourth.addr());
    assert_eq!(refresh(&fc).await["token_type"], "Bearer");
    drop(fourth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_defaults_to_a_file_store_in_the_working_directory() {
    let idp = idp().await;
    let dir = TempDir::new("serve-default");
    let switch = Switch::start().await;
    let config = write_config(dir.path(), &switch.url(), &idp, None);
    let s = started(&config, dir.path(), &[]).await;
    assert!(
        dir.path().join("authproof-state.redb").is_file(),
        "the default state file is created in the working directory"
    );
    assert!(s.log().contains("file:authproof-state.redb"), "{}", s.log());
    drop(s);
    // `storage: memory` opts out.
    let mem_dir = TempDir::new("serve-memory");
    let config = write_config(mem_dir.path(), &switch.url(), &idp, Some("memory"));
    let s = started(&config, mem_dir.path(), &[]).await;
    assert!(!mem_dir.path().join("authproof-state.redb").exists());
    drop(s);
}
