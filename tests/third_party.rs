//! The bundled suite against third-party authorization servers, each in front of authproof's
//! mock IdP: FastMCP's `OIDCProxy` (Python) and the MCP TypeScript SDK's `mcpAuthRouter` with
//! its `ProxyOAuthServerProvider` (Node). One folder per target under `tests/targets/` holds
//! the server script, the mock IdP's configuration, the `--profile` file and
//! `expected-failures.yaml`.
//!
//! For each target this starts the mock IdP (`authproof mock-idp`, port 0) and the target
//! (port 0), runs `authproof test --target … --idp … --profile … --report json=…`, and
//! compares the report with the expected failures:
//! - every failed trial must be listed (as a violation of the target, or as a known bug of
//!   the suite), else the test fails and names it;
//! - every listed trial must still fail, else the list is stale;
//! - when the report gives a failed trial's `level`, it must be the level listed.
//!
//! The peers are installed by `.ci/install.d/30-targets.sh`. Without them the tests print
//! `skipping: …` and pass. Where they are found:
//! - `AUTHPROOF_FASTMCP_VENV`: the FastMCP virtualenv (default `/opt/authproof-peers/fastmcp-venv`);
//! - `AUTHPROOF_NODE`: the Node.js binary (default `node` on the PATH); the SDK itself is
//!   in `tests/targets/ts-sdk/node_modules` (`npm ci` there);
//! - `AUTHPROOF_THIRD_PARTY_REPORTS`: a folder to keep each run's JSON report in
//!   (`NAME.json`), for updating the lists.

use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEFAULT_FASTMCP_VENV: &str = "/opt/authproof-peers/fastmcp-venv";
/// How long a process may take to say it listens (FastMCP's imports take a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(90);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------
// Processes

/// A child process that printed `… listening on URL` on stdout; killed on drop.
struct Process {
    name: String,
    child: Child,
    url: String,
    log: PathBuf,
}

impl Process {
    /// Spawn `cmd` (stdout piped, stderr to `log`) and wait for its `listening on URL` line.
    fn start(name: &str, mut cmd: Command, log: PathBuf) -> Result<Process, String> {
        let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHPROOF_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout for the whole life of the process, so it never blocks on a
        // full pipe; lines after the first one are dropped.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut process = Process {
            name: name.to_string(),
            child,
            url: String::new(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(url) = listening_url(&line) {
                        process.url = url;
                        return Ok(process);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = process.child.wait().ok();
                    return Err(format!(
                        "{name} exited ({status:?}) before it listened:\n{}",
                        process.log_tail()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => {
                    return Err(format!(
                        "{name} did not say it listens within {START_TIMEOUT:?}:\n{}",
                        process.log_tail()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// The last lines it wrote to stderr.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        format!(
            "--- {} stderr ({}) ---\n{tail}",
            self.name,
            self.log.display()
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mock-idp (oidc) listening on http://127.0.0.1:9000` → `http://127.0.0.1:9000`.
fn listening_url(line: &str) -> Option<String> {
    let rest = line.split_once("listening on ")?.1;
    let url = rest.split_whitespace().next()?;
    url.starts_with("http://").then(|| url.to_string())
}

/// A scratch directory for logs and the report, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!(
            "authproof-third-party-{tag}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Expected failures

/// `tests/targets/NAME/expected-failures.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    /// Trials that fail because the target does not do what the cited clause requires.
    #[serde(default)]
    violations: Vec<Violation>,
    /// Trials that fail because of the suite (see `suite-bugs.md` beside the file).
    #[serde(default)]
    suite_bugs: Vec<SuiteBug>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Violation {
    trial: String,
    /// `must`, `should` or `profile`.
    level: String,
    /// The clause id (`RFC6749-3.1.2`), as the suite's spec index names it.
    clause: String,
    /// One line on why this is the target's fault.
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteBug {
    trial: String,
    why: String,
}

impl Expected {
    fn load(path: &Path) -> Expected {
        let e: Expected = foundations::yaml::from_file(path).unwrap_or_else(|e| panic!("{e}"));
        let mut seen = BTreeSet::new();
        for v in &e.violations {
            assert!(
                matches!(v.level.as_str(), "must" | "should" | "profile"),
                "{}: {}: level must be must, should or profile (not {:?})",
                path.display(),
                v.trial,
                v.level
            );
            assert!(
                !v.clause.trim().is_empty() && !v.why.trim().is_empty(),
                "{}: {}: a violation needs its clause and why",
                path.display(),
                v.trial
            );
        }
        for s in &e.suite_bugs {
            assert!(
                !s.why.trim().is_empty(),
                "{}: {}: a suite bug needs its why",
                path.display(),
                s.trial
            );
        }
        for t in e.trials() {
            assert!(
                seen.insert(t.to_string()),
                "{}: {t} is listed twice",
                path.display()
            );
        }
        e
    }

    fn trials(&self) -> impl Iterator<Item = &str> {
        self.violations
            .iter()
            .map(|v| v.trial.as_str())
            .chain(self.suite_bugs.iter().map(|s| s.trial.as_str()))
    }
}

// ---------------------------------------------------------------------------------------
// The report and the comparison (pure)

#[derive(Debug, Clone, PartialEq)]
struct Trial {
    name: String,
    status: String,
    level: Option<String>,
    reason: Option<String>,
}

fn parse_report(json: &Value) -> Result<Vec<Trial>, String> {
    let results = json
        .get("results")
        .and_then(Value::as_array)
        .ok_or("the report has no `results` array")?;
    results
        .iter()
        .map(|r| {
            let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
            let name = field("name").ok_or_else(|| format!("a result without a name: {r}"))?;
            let status = field("status").ok_or_else(|| format!("{name}: no status"))?;
            if !matches!(status.as_str(), "passed" | "failed" | "skipped") {
                return Err(format!("{name}: unknown status {status:?}"));
            }
            Ok(Trial {
                name,
                status,
                level: field("level"),
                reason: field("reason"),
            })
        })
        .collect()
}

/// What differs between a run and its expected failures.
#[derive(Debug, Default, PartialEq)]
struct Differences {
    /// Failed, but not listed: `(trial, level)`.
    unexpected: Vec<(String, Option<String>)>,
    /// Listed, but did not fail: `(trial, what happened instead)`.
    stale: Vec<(String, String)>,
    /// Failed at another level than listed: `(trial, listed, reported)`.
    wrong_level: Vec<(String, String, String)>,
}

impl Differences {
    fn is_empty(&self) -> bool {
        self.unexpected.is_empty() && self.stale.is_empty() && self.wrong_level.is_empty()
    }
}

fn compare(trials: &[Trial], expected: &Expected) -> Differences {
    let by_name: BTreeMap<&str, &Trial> = trials.iter().map(|t| (t.name.as_str(), t)).collect();
    let listed: BTreeSet<&str> = expected.trials().collect();
    let mut d = Differences::default();
    for t in trials {
        if t.status == "failed" && !listed.contains(t.name.as_str()) {
            d.unexpected.push((t.name.clone(), t.level.clone()));
        }
    }
    for name in expected.trials() {
        match by_name.get(name) {
            Some(t) if t.status == "failed" => {}
            Some(t) => {
                let why = match &t.reason {
                    Some(r) => format!("{} ({r})", t.status),
                    None => t.status.clone(),
                };
                d.stale.push((name.to_string(), why));
            }
            None => d
                .stale
                .push((name.to_string(), "no such trial in the suite".into())),
        }
    }
    for v in &expected.violations {
        if let Some(Trial {
            status,
            level: Some(level),
            ..
        }) = by_name.get(v.trial.as_str())
            && status == "failed"
            && *level != v.level
        {
            d.wrong_level
                .push((v.trial.clone(), v.level.clone(), level.clone()));
        }
    }
    d
}

/// Counts for the summary line.
fn summary(name: &str, trials: &[Trial], expected: &Expected) -> String {
    let count = |s: &str| trials.iter().filter(|t| t.status == s).count();
    let (passed, failed, skipped) = (count("passed"), count("failed"), count("skipped"));
    let applied = passed + failed;
    let total = trials.len();
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * applied as f64 / total as f64
    };
    let failed_names: BTreeSet<&str> = trials
        .iter()
        .filter(|t| t.status == "failed")
        .map(|t| t.name.as_str())
        .collect();
    let mut levels: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &expected.violations {
        if failed_names.contains(v.trial.as_str()) {
            *levels.entry(v.level.as_str()).or_default() += 1;
        }
    }
    let bugs = expected
        .suite_bugs
        .iter()
        .filter(|s| failed_names.contains(s.trial.as_str()))
        .count();
    let violations: usize = levels.values().sum();
    let levels = ["must", "should", "profile"]
        .iter()
        .map(|l| format!("{l} {}", levels.get(l).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{name}: {applied} of {total} trials applied ({percent:.0}%): {passed} passed, \
         {failed} failed ({violations} violations of the target: {levels}; {bugs} known suite \
         bugs), {skipped} skipped"
    )
}

/// Per area: passed, violations by level, suite bugs, skipped (a small table for the log).
fn area_matrix(trials: &[Trial], expected: &Expected) -> String {
    let level: BTreeMap<&str, &str> = expected
        .violations
        .iter()
        .map(|v| (v.trial.as_str(), v.level.as_str()))
        .collect();
    // area -> [passed, must, should, profile, suite bug, unlisted failure, skipped]
    let mut rows: BTreeMap<&str, [usize; 7]> = BTreeMap::new();
    for t in trials {
        let area = t.name.split("::").next().unwrap_or("");
        let col = match (t.status.as_str(), level.get(t.name.as_str())) {
            ("passed", _) => 0,
            ("failed", Some(&"must")) => 1,
            ("failed", Some(&"should")) => 2,
            ("failed", Some(_)) => 3,
            ("failed", None) if expected.trials().any(|n| n == t.name) => 4,
            ("failed", None) => 5,
            _ => 6,
        };
        rows.entry(area).or_default()[col] += 1;
    }
    let mut out = format!(
        "  {:<14}{:>7}{:>6}{:>8}{:>9}{:>11}{:>10}{:>9}",
        "area", "passed", "must", "should", "profile", "suite bug", "unlisted", "skipped"
    );
    for (area, c) in rows {
        out.push_str(&format!(
            "\n  {area:<14}{:>7}{:>6}{:>8}{:>9}{:>11}{:>10}{:>9}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        ));
    }
    out
}

/// The most common reasons trials were skipped, for the log.
fn skip_reasons(trials: &[Trial]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in trials.iter().filter(|t| t.status == "skipped") {
        *counts
            .entry(t.reason.as_deref().unwrap_or("(no reason)"))
            .or_default() += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(r, n)| format!("  {n:>4}  {r}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn explain(name: &str, file: &Path, d: &Differences) -> String {
    let mut out = format!(
        "{name}: the run does not match {}\n",
        file.strip_prefix(root()).unwrap_or(file).display()
    );
    if !d.unexpected.is_empty() {
        out.push_str(
            "\nfailed, but not listed (check each one: a violation of the target goes under \
             `violations` with its clause, a false failure under `suite_bugs` and in \
             suite-bugs.md):\n",
        );
        for (t, level) in &d.unexpected {
            match level {
                Some(l) => out.push_str(&format!("  - {t}   (level {l})\n")),
                None => out.push_str(&format!("  - {t}\n")),
            }
        }
    }
    if !d.stale.is_empty() {
        out.push_str("\nlisted, but did not fail (the list is stale: remove them):\n");
        for (t, what) in &d.stale {
            out.push_str(&format!("  - {t}: {what}\n"));
        }
    }
    if !d.wrong_level.is_empty() {
        out.push_str("\nfailed at another level than listed:\n");
        for (t, listed, reported) in &d.wrong_level {
            out.push_str(&format!("  - {t}: listed {listed}, reported {reported}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Running a target

/// How to start a target once the mock IdP is up.
struct TargetSpec {
    /// The folder under tests/targets/.
    name: &'static str,
    /// The command for the target, given the IdP's URL.
    command: Box<dyn Fn(&str) -> Command>,
}

fn run_target(spec: TargetSpec) {
    let dir = root().join("tests/targets").join(spec.name);
    let expected_file = dir.join("expected-failures.yaml");
    let expected = Expected::load(&expected_file);
    let scratch = Scratch::new(spec.name);
    let exe = env!("CARGO_BIN_EXE_authproof");

    let mut idp_cmd = Command::new(exe);
    idp_cmd
        .arg("mock-idp")
        .arg("--config")
        .arg(dir.join("idp.yaml"))
        .arg("--port")
        .arg("0")
        .env("RUST_LOG", "warn");
    let idp = Process::start("mock-idp", idp_cmd, scratch.0.join("idp.log"))
        .unwrap_or_else(|e| panic!("{e}"));
    let target = Process::start(
        spec.name,
        (spec.command)(&idp.url),
        scratch.0.join("target.log"),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let report = scratch.0.join("report.json");
    let mut test_cmd = Command::new(exe);
    for (k, _) in std::env::vars() {
        if k.starts_with("AUTHPROOF_") {
            test_cmd.env_remove(k);
        }
    }
    let out = test_cmd
        .arg("test")
        .arg("--target")
        .arg(&target.url)
        .arg("--idp")
        .arg(&idp.url)
        .arg("--profile")
        .arg(dir.join("profile.yaml"))
        .arg("--report")
        .arg(format!("json={}", report.display()))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run authproof test");
    // 0: all passed; 1: failures (compared below). Anything else is a usage or load error.
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "authproof test exited with {:?}:\n{}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        target.log_tail(),
        idp.log_tail()
    );
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{}: {e}", report.display())),
    )
    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", report.display()));
    let trials = parse_report(&json).unwrap_or_else(|e| panic!("{e}"));
    assert!(!trials.is_empty(), "the report lists no trials");
    println!("{}", summary(spec.name, &trials, &expected));
    println!("{}", area_matrix(&trials, &expected));
    println!("skipped, by reason:\n{}", skip_reasons(&trials));
    if let Some(dir) = std::env::var_os("AUTHPROOF_THIRD_PARTY_REPORTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let keep = dir.join(format!("{}.json", spec.name));
        std::fs::copy(&report, &keep).unwrap_or_else(|e| panic!("{}: {e}", keep.display()));
        println!("report kept at {}", keep.display());
    }

    let d = compare(&trials, &expected);
    if !d.is_empty() {
        panic!(
            "{}\n{}\n{}",
            explain(spec.name, &expected_file, &d),
            target.log_tail(),
            idp.log_tail()
        );
    }
}

// ---------------------------------------------------------------------------------------
// The targets

/// `…/site-packages/fastmcp-X.dist-info` exists for the pinned version.
fn fastmcp_installed(venv: &Path, version: &str) -> bool {
    let Ok(libs) = std::fs::read_dir(venv.join("lib")) else {
        return false;
    };
    libs.flatten().any(|py| {
        py.path()
            .join("site-packages")
            .join(format!("fastmcp-{version}.dist-info"))
            .is_dir()
    })
}

/// The version `requirements.txt` pins for `package`.
fn pinned(requirements: &Path, package: &str) -> String {
    let text = std::fs::read_to_string(requirements)
        .unwrap_or_else(|e| panic!("{}: {e}", requirements.display()));
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{package}==")))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{}: {package} is not pinned", requirements.display()))
}

#[test]
fn fastmcp_oidc_proxy() {
    let venv = std::env::var_os("AUTHPROOF_FASTMCP_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FASTMCP_VENV));
    let python = venv.join("bin/python");
    if !python.exists() {
        println!(
            "skipping: FastMCP not installed (no {}; run .ci/install.d/30-targets.sh or set \
             AUTHPROOF_FASTMCP_VENV)",
            python.display()
        );
        return;
    }
    let dir = root().join("tests/targets/fastmcp");
    let version = pinned(&dir.join("requirements.txt"), "fastmcp");
    assert!(
        fastmcp_installed(&venv, &version),
        "{} does not hold fastmcp {version} (as requirements.txt pins): run \
         .ci/install.d/30-targets.sh again",
        venv.display()
    );
    let script = dir.join("server.py");
    run_target(TargetSpec {
        name: "fastmcp",
        command: Box::new(move |idp| {
            let mut c = Command::new(&python);
            c.arg(&script)
                .arg("--idp")
                .arg(idp)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("FASTMCP_LOG_LEVEL", "WARNING");
            c
        }),
    });
}

#[test]
fn ts_sdk_auth_router() {
    let node = std::env::var("AUTHPROOF_NODE").unwrap_or_else(|_| "node".into());
    let has_node = Command::new(&node)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_node {
        println!("skipping: node not installed (set AUTHPROOF_NODE to its path)");
        return;
    }
    let dir = root().join("tests/targets/ts-sdk");
    let installed = dir.join("node_modules/@modelcontextprotocol/sdk/package.json");
    if !installed.exists() {
        println!(
            "skipping: @modelcontextprotocol/sdk not installed (no {}; run \
             .ci/install.d/30-targets.sh)",
            installed.display()
        );
        return;
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap())
            .expect("package.json");
    let want = manifest["dependencies"]["@modelcontextprotocol/sdk"].clone();
    let have: Value = serde_json::from_str(&std::fs::read_to_string(&installed).unwrap())
        .expect("the SDK's package.json");
    assert_eq!(
        have["version"], want,
        "node_modules holds another SDK version than package.json pins: run \
         .ci/install.d/30-targets.sh again"
    );
    let script = dir.join("server.mjs");
    run_target(TargetSpec {
        name: "ts-sdk",
        command: Box::new(move |idp| {
            let mut c = Command::new(&node);
            c.arg(&script).arg("--idp").arg(idp);
            c
        }),
    });
}

// ---------------------------------------------------------------------------------------
// The comparison itself (runs without any peer installed)

#[cfg(test)]
mod comparison {
    use super::*;

    fn trial(name: &str, status: &str, level: Option<&str>) -> Trial {
        Trial {
            name: name.into(),
            status: status.into(),
            level: level.map(str::to_string),
            reason: (status == "skipped").then(|| "requires feature `x`".to_string()),
        }
    }

    fn expected(yaml: &str) -> Expected {
        foundations::yaml::from_str(yaml, "test").unwrap()
    }

    const LIST: &str = r#"
violations:
  - trial: "redirects::unsafe[uri=#frag]"
    level: must
    clause: RFC6749-3.1.2
    why: registers a fragment
  - trial: "token::grant[case=x]"
    level: must
    clause: RFC6749-5.2
    why: 401 for invalid_grant
suite_bugs:
  - trial: "dcr::wording"
    why: checks the wording of error_description
"#;

    #[test]
    fn a_matching_run_has_no_differences() {
        let e = expected(LIST);
        let run = vec![
            trial("redirects::unsafe[uri=#frag]", "failed", Some("must")),
            trial("token::grant[case=x]", "failed", None),
            trial("dcr::wording", "failed", Some("profile")),
            trial("dcr::ok", "passed", None),
            trial("cimd::x", "skipped", None),
        ];
        assert_eq!(compare(&run, &e), Differences::default());
        let s = summary("t", &run, &e);
        assert!(s.contains("4 of 5 trials applied (80%)"), "{s}");
        let m = area_matrix(&run, &e);
        let row = |area: &str| {
            m.lines()
                .find(|l| l.split_whitespace().next() == Some(area))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        };
        assert_eq!(row("dcr").as_deref(), Some("1 0 0 0 1 0 0"), "{m}");
        assert_eq!(row("token").as_deref(), Some("0 1 0 0 0 0 0"), "{m}");
        assert_eq!(row("cimd").as_deref(), Some("0 0 0 0 0 0 1"), "{m}");
        assert!(
            s.contains("must 2, should 0, profile 0; 1 known suite bugs"),
            "{s}"
        );
    }

    #[test]
    fn an_unlisted_failure_is_named() {
        let e = expected(LIST);
        let run = vec![
            trial("redirects::unsafe[uri=#frag]", "failed", None),
            trial("token::grant[case=x]", "failed", None),
            trial("dcr::wording", "failed", None),
            trial("dcr::new", "failed", Some("should")),
        ];
        let d = compare(&run, &e);
        assert_eq!(
            d.unexpected,
            vec![("dcr::new".into(), Some("should".into()))]
        );
        assert!(d.stale.is_empty() && d.wrong_level.is_empty());
        assert!(explain("t", Path::new("x.yaml"), &d).contains("dcr::new   (level should)"));
    }

    #[test]
    fn a_listed_trial_that_passes_or_vanished_is_stale() {
        let e = expected(LIST);
        let run = vec![
            trial("redirects::unsafe[uri=#frag]", "passed", None),
            trial("dcr::wording", "skipped", None),
        ];
        let d = compare(&run, &e);
        assert_eq!(
            d.stale,
            vec![
                ("redirects::unsafe[uri=#frag]".into(), "passed".into()),
                (
                    "token::grant[case=x]".into(),
                    "no such trial in the suite".into()
                ),
                (
                    "dcr::wording".into(),
                    "skipped (requires feature `x`)".into()
                ),
            ]
        );
        assert!(d.unexpected.is_empty());
    }

    #[test]
    fn a_reported_level_must_match_the_listed_one() {
        let e = expected(LIST);
        let run = vec![
            trial("redirects::unsafe[uri=#frag]", "failed", Some("profile")),
            trial("token::grant[case=x]", "failed", Some("must")),
            trial("dcr::wording", "failed", Some("should")),
        ];
        let d = compare(&run, &e);
        assert_eq!(
            d.wrong_level,
            vec![(
                "redirects::unsafe[uri=#frag]".into(),
                "must".into(),
                "profile".into()
            )]
        );
        assert!(d.unexpected.is_empty() && d.stale.is_empty());
    }

    #[test]
    fn the_report_is_read_strictly() {
        let ok = serde_json::json!({ "results": [
            { "name": "a::b", "status": "failed", "level": "must" },
            { "name": "a::c", "status": "skipped", "reason": "why" },
        ]});
        let t = parse_report(&ok).unwrap();
        assert_eq!(t[0].level.as_deref(), Some("must"));
        assert_eq!(t[1].reason.as_deref(), Some("why"));
        let bad = serde_json::json!({ "results": [{ "name": "a::b", "status": "flaky" }] });
        assert!(parse_report(&bad).unwrap_err().contains("unknown status"));
        assert!(parse_report(&serde_json::json!({})).is_err());
    }

    #[test]
    fn listening_lines_are_parsed() {
        assert_eq!(
            listening_url("mock-idp (oidc) listening on http://127.0.0.1:9000").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            listening_url("listening on http://127.0.0.1:41234").as_deref(),
            Some("http://127.0.0.1:41234")
        );
        assert_eq!(listening_url("issuer: http://127.0.0.1:9000"), None);
    }

    #[test]
    fn the_checked_in_lists_load() {
        for name in ["fastmcp", "ts-sdk"] {
            let e = Expected::load(
                &root()
                    .join("tests/targets")
                    .join(name)
                    .join("expected-failures.yaml"),
            );
            assert!(
                !e.violations.is_empty(),
                "{name}: a third-party target without a single violation is worth a second look"
            );
        }
    }
}
