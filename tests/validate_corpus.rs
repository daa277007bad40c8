//! The misconfiguration corpus of `authproof validate`: realistic mistakes across the presets
//! (google, github, azure, auth0, keycloak, workos, authkit, generic oidc/oauth), each with the
//! finding ids and severities it must produce, plus correct configurations that must stay
//! clean. Static cases judge the configuration alone; live cases run against an in-process
//! mock IdP set up with the provider's quirks (and, for IdPs that misbehave, scripted faults).
//!
//! The cases are data (`tests/validate_corpus/*.yaml`); a case whose name starts with
//! `correct` is a correct configuration. For each case:
//! - every expected `id: severity` must be reported with exactly that severity (a miss
//!   otherwise);
//! - every error or warning not expected is a false alarm (info findings not listed are
//!   allowed: the callback URL to register is always reported, for example).
//!
//! The test prints recall and false alarms, fails on any miss or false alarm, and checks that
//! every finding id of the catalogue is exercised by at least one case.
//!
//! In the case texts, `{idp}` stands for the mock IdP's base URL.

use authproof::validate::catalogue::ALL;
use authproof::validate::{Options, Severity};
use foundations::yaml;
use mock_idp::{FaultSpec, IdpConfig, MockIdp};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The client secret every case's environment carries (and the mock IdPs' clients use).
const SECRET: &str = "corpus-s3cret-0123456789";
/// The proxy's signing key every case's environment carries.
const SIGNING_KEY: &str = "corpus-signing-key-0123456789abcdef";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    /// What the cases in this file are about.
    #[allow(dead_code)]
    about: String,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The proxy configuration (YAML text; `{idp}` is replaced).
    #[serde(default)]
    config: Option<String>,
    /// A path to validate instead of `config` (for unreadable files).
    #[serde(default)]
    config_path: Option<String>,
    /// A mock IdP to run (its YAML configuration): the case is then live.
    #[serde(default)]
    idp: Option<String>,
    /// The mock IdP's issuer path (e.g. `/realms/acme`).
    #[serde(default)]
    issuer_path: Option<String>,
    /// Faults added to the mock IdP once it runs (a YAML list; `{idp}` is replaced).
    #[serde(default)]
    faults: Option<String>,
    /// Live without a mock IdP (endpoints that are unreachable or not contacted).
    #[serde(default)]
    live: bool,
    /// `AUTHPROOF_*` variables, over the defaults (client secret and signing key).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Whether the default variables apply.
    #[serde(default = "yes")]
    default_env: bool,
    /// `finding id: severity`.
    #[serde(default)]
    expect: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn severity(s: &str) -> Severity {
    match s {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        "info" => Severity::Info,
        other => panic!("unknown severity {other:?} (error, warning or info)"),
    }
}

/// What one case produced.
struct Outcome {
    name: String,
    live: bool,
    expected: usize,
    missed: Vec<String>,
    false_alarms: Vec<String>,
    exercised: Vec<String>,
}

/// A configuration file in its own temporary directory, removed on drop.
struct Temp(PathBuf);

impl Temp {
    fn new(n: usize, text: &str) -> Temp {
        let dir = std::env::temp_dir().join(format!(
            "authproof-validate-corpus-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("proxy.yaml");
        std::fs::write(&path, text).expect("write config");
        Temp(path)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

async fn run(n: usize, case: &Case) -> Outcome {
    let idp = match &case.idp {
        Some(text) => {
            let config: IdpConfig = yaml::from_str(text, &case.name).expect("idp config");
            let mut b = MockIdp::builder().config(config);
            if let Some(p) = &case.issuer_path {
                b = b.issuer_path(p.clone());
            }
            let idp = b.spawn().await.expect("mock idp");
            if let Some(f) = &case.faults {
                let faults: Vec<FaultSpec> =
                    yaml::from_str(&f.replace("{idp}", &idp.url()), &case.name).expect("faults");
                for fault in faults {
                    idp.add_fault(fault);
                }
            }
            Some(idp)
        }
        None => None,
    };
    let url = idp.as_ref().map(|i| i.url()).unwrap_or_default();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if case.default_env {
        vars.insert("AUTHPROOF_UPSTREAM__CLIENT_SECRET".into(), SECRET.into());
        vars.insert("AUTHPROOF_JWT_SIGNING_KEY".into(), SIGNING_KEY.into());
    }
    vars.extend(case.env.clone());
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let live = case.live || idp.is_some();
    let temp;
    let path: &Path = match (&case.config, &case.config_path) {
        (Some(text), None) => {
            temp = Temp::new(n, &text.replace("{idp}", &url));
            &temp.0
        }
        (None, Some(p)) => Path::new(p),
        _ => panic!("{}: give config or config_path", case.name),
    };
    let report = authproof::validate::validate(path, &vars, Options { live }).await;
    if let Some(idp) = idp {
        idp.shutdown().await;
    }
    let mut missed = Vec::new();
    let mut exercised = Vec::new();
    for (id, sev) in &case.expect {
        let want = severity(sev);
        if report.with_id(id).any(|f| f.severity() == want) {
            exercised.push(id.clone());
        } else {
            let got: Vec<String> = report
                .with_id(id)
                .map(|f| f.severity().to_string())
                .collect();
            missed.push(format!("{id}: {sev} (got {got:?})"));
        }
    }
    let false_alarms = report
        .findings
        .iter()
        .filter(|f| f.severity() != Severity::Info)
        .filter(|f| case.expect.get(f.id()).map(|s| severity(s)) != Some(f.severity()))
        .map(|f| format!("{} {}: {}", f.severity(), f.id(), f.message))
        .collect();
    Outcome {
        name: case.name.clone(),
        live,
        expected: case.expect.len(),
        missed,
        false_alarms,
        exercised,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut outcomes = Vec::new();
    for file in &files {
        let corpus: CorpusFile = yaml::from_file(file).expect("corpus file");
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        for case in &corpus.cases {
            let mut o = run(outcomes.len(), case).await;
            o.name = format!("{stem}: {}", o.name);
            // A correct configuration (its name says so) expects nothing worse than info.
            let correct = case.name.starts_with("correct");
            assert!(
                !correct || case.expect.values().all(|s| s == "info"),
                "{}: a correct configuration cannot expect errors or warnings",
                o.name
            );
            outcomes.push((o, correct));
        }
    }
    let mut exercised = BTreeSet::new();
    let (mut expected, mut found, mut alarms) = (0, 0, 0);
    let (mut live, mut clean) = (0, 0);
    let mut report = String::new();
    for (o, is_clean) in &outcomes {
        expected += o.expected;
        found += o.expected - o.missed.len();
        alarms += o.false_alarms.len();
        live += usize::from(o.live);
        clean += usize::from(*is_clean);
        exercised.extend(o.exercised.iter().cloned());
        let status = if o.missed.is_empty() && o.false_alarms.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        report.push_str(&format!(
            "{status:<4} {}{} ({}/{} expected)\n",
            o.name,
            if o.live { " [live]" } else { "" },
            o.expected - o.missed.len(),
            o.expected
        ));
        for m in &o.missed {
            report.push_str(&format!("     missed: {m}\n"));
        }
        for a in &o.false_alarms {
            report.push_str(&format!("     false alarm: {a}\n"));
        }
    }
    let unexercised: Vec<&str> = ALL
        .iter()
        .map(|e| e.id)
        .filter(|id| !exercised.contains(*id))
        .collect();
    let recall = if expected == 0 {
        0.0
    } else {
        100.0 * found as f64 / expected as f64
    };
    println!("{report}");
    println!(
        "validate corpus: {} cases ({} static, {live} live; {clean} correct configs), recall {found}/{expected} = {recall:.1}%, false alarms {alarms}, catalogue ids exercised {}/{}",
        outcomes.len(),
        outcomes.len() - live,
        ALL.len() - unexercised.len(),
        ALL.len()
    );
    assert!(outcomes.len() >= 40, "the corpus needs at least 40 cases");
    assert!(clean >= 8, "the corpus needs correct configurations too");
    assert!(
        found == expected && alarms == 0,
        "misses or false alarms:\n{report}"
    );
    assert!(
        unexercised.is_empty(),
        "catalogue ids no case exercises: {unexercised:?}"
    );
}
