//! `authproof test` end to end: exit codes, reports, load errors and secret masking.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let p = std::env::temp_dir().join(format!("authproof-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn authproof(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authproof"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run authproof")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const PASSING: &str = "name: passes
steps:
  - register: { redirect_uris: [http://localhost:3000/cb] }
    expect: { status: 201 }
";

#[test]
fn passing_run_exits_0_and_writes_reports() {
    let d = Dir::new();
    d.write("scen/dcr/ok.yaml", PASSING);
    let o = authproof(
        &[
            "test",
            "scen",
            "--report",
            "junit=out/j.xml",
            "--report",
            "json=out/r.json",
        ],
        &d.0,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.lines().any(|l| l == "1 passed, 0 failed, 0 skipped"),
        "{t}"
    );
    let xml = std::fs::read_to_string(d.0.join("out/j.xml")).unwrap();
    assert!(xml.contains("<testcase name=\"dcr::ok\""), "{xml}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.0.join("out/r.json")).unwrap()).unwrap();
    assert_eq!(json["summary"]["passed"], 1);
    assert_eq!(json["results"][0]["name"], "dcr::ok");
}

#[test]
fn failures_exit_1_with_the_step_and_masked_secrets() {
    let d = Dir::new();
    d.write(
        "scen/auth/fails.yaml",
        "name: fails
idp:
  flavor: oidc
  clients: [{ id: upstream-app, secret: very-secret-value, token_endpoint_auth_method: client_secret_post }]
  users: [{ sub: alice }]
proxy: { consent: \"off\" }
steps:
  - register: { redirect_uris: [http://localhost:3000/cb] }
  - authorize: { as: alice }
  - token: {}
    expect: { status: 200 }
  - idp.journal: { path: /token, last: true }
    expect: { client_auth: client_secret_basic }
",
    );
    let o = authproof(&["test", "scen"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("step 4 `idp.journal` at scen/auth/fails.yaml:12:5"),
        "{t}"
    );
    assert!(t.contains("expected: \"client_secret_basic\""), "{t}");
    assert!(t.contains("actual:   \"client_secret_post\""), "{t}");
    assert!(
        !t.contains("very-secret-value"),
        "the IdP client secret leaked:\n{t}"
    );
    assert!(
        t.lines().any(|l| l == "0 passed, 1 failed, 0 skipped"),
        "{t}"
    );
}

#[test]
fn a_typo_is_a_load_error_with_place_and_exit_2() {
    let d = Dir::new();
    d.write("scen/dcr/ok.yaml", PASSING);
    d.write(
        "scen/dcr/typo.yaml",
        "name: typo\nsteps:\n  - reigster: { redirect_uris: [http://localhost:3000/cb] }\n",
    );
    let o = authproof(&["test", "scen"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("scen/dcr/typo.yaml:3:5: unknown field `reigster`; expected one of:"),
        "{t}"
    );
    assert!(t.contains("`register`"), "{t}");
    assert!(
        t.lines().any(|l| l == "1 passed, 1 failed, 0 skipped"),
        "{t}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = Dir::new();
    d.write("scen/dcr/ok.yaml", PASSING);
    let o = authproof(&["test", "scen", "--report", "pdf=x"], &d.0);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = authproof(&["test", "missing-folder"], &d.0);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = authproof(&["test", "scen", "-j", "0"], &d.0);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn filters_and_expected_failures() {
    let d = Dir::new();
    d.write("scen/dcr/ok.yaml", PASSING);
    d.write(
        "scen/dcr/known.yaml",
        "name: known gap\nsteps:\n  - register: { redirect_uris: [http://localhost:3000/cb] }\n    expect: { status: 418 }\n",
    );
    // The known failure is listed: the run passes.
    d.write("expected.txt", "# known gaps\ndcr::known\n");
    let o = authproof(
        &["test", "scen", "--expected-failures", "expected.txt"],
        &d.0,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A listed trial that passes fails the run.
    d.write("expected.txt", "dcr::ok\n");
    let o = authproof(
        &[
            "test",
            "scen",
            "--filter",
            "dcr::ok",
            "--expected-failures",
            "expected.txt",
        ],
        &d.0,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("now pass: dcr::ok"), "{t}");
    // Filters select trials.
    let o = authproof(&["test", "scen", "--filter", "known"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.lines().any(|l| l == "0 passed, 1 failed, 0 skipped"),
        "{t}"
    );
}

#[test]
fn external_target_skips_unsatisfied_requires() {
    let d = Dir::new();
    d.write(
        "scen/consent/needs-off.yaml",
        "name: needs consent off\nrequires: { consent: \"off\" }\nsteps:\n  - discover: {}\n",
    );
    d.write("profile.yaml", "consent: always\n");
    // Nothing listens on port 9: the trial must be skipped before any request is made.
    let o = authproof(
        &[
            "test",
            "scen",
            "--target",
            "http://127.0.0.1:9",
            "--profile",
            "profile.yaml",
        ],
        &d.0,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains("requires consent: off (the target has always)"),
        "{t}"
    );
    assert!(
        t.lines().any(|l| l == "0 passed, 0 failed, 1 skipped"),
        "{t}"
    );
}

/// Fails only at `profile` (the proxy's wording is not this one), passes at `must`.
const HOUSE_RULE_ONLY: &str = "name: house rule only
spec: [RFC7591-3.2.2]
level: must
steps:
  - register: { client_name: no uris }
    expect:
      - status: 400
        json: { $.error: { one_of: [invalid_redirect_uri, invalid_client_metadata] } }
      - level: profile
        clause: AUTHPROOF-ERRORS
        json: { $.error_description: not the wording }
";

#[test]
fn fail_on_sets_the_exit_code_and_reports_carry_levels() {
    let d = Dir::new();
    d.write("scen/dcr/house.yaml", HOUSE_RULE_ONLY);
    d.write("scen/dcr/ok.yaml", PASSING);
    // The embedded run holds authproof to every level: a profile failure fails it.
    let o = authproof(&["test", "scen", "--report", "json=out/r.json"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("dcr::house (") && t.contains("[profile]"), "{t}");
    assert!(t.contains("[profile AUTHPROOF-ERRORS]"), "{t}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.0.join("out/r.json")).unwrap()).unwrap();
    let house = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dcr::house")
        .unwrap();
    assert_eq!(house["status"], "failed");
    assert_eq!(house["level"], "profile");
    assert_eq!(json["summary"]["failed_by_level"]["profile"], 1);
    // `--fail-on must` (the default against an external target) lets it through.
    let o = authproof(
        &[
            "test",
            "scen",
            "--fail-on",
            "must",
            "--report",
            "junit=out/j.xml",
            "--report",
            "markdown=out/r.md",
            "--report",
            "html=out/r.html",
        ],
        &d.0,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("1 passed, 1 failed, 0 skipped"), "{t}");
    let xml = std::fs::read_to_string(d.0.join("out/j.xml")).unwrap();
    assert!(
        xml.contains("<property name=\"level\" value=\"profile\"/>"),
        "{xml}"
    );
    assert!(xml.contains("<failure") && !xml.contains("<error"), "{xml}");
    let md = std::fs::read_to_string(d.0.join("out/r.md")).unwrap();
    assert!(md.starts_with("# authproof conformance report"), "{md}");
    assert!(
        md.contains("| dcr | 2 | 1 | 0 | 0 | 1 | 0 | 0 | 0 |"),
        "{md}"
    );
    assert!(md.contains("clause: `AUTHPROOF-ERRORS`"), "{md}");
    assert!(
        std::fs::read_to_string(d.0.join("out/r.html"))
            .unwrap()
            .contains("<table id=\"matrix\">")
    );
    let o = authproof(&["test", "scen", "--fail-on", "sometimes"], &d.0);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("expected must, should or profile"));
}

/// `when:` runs a step only when it renders to `true`: a step whose condition is false is
/// left out (its failing expectation is never checked), one whose condition is true runs
/// (its failing expectation fails the trial), and anything but `true`/`false` is an error
/// in the scenario that names the step.
#[test]
fn when_runs_a_step_only_if_true() {
    let d = Dir::new();
    let scenario = |cond: &str| {
        format!(
            "name: conditional\nsteps:\n  \
             - register: {{ redirect_uris: [http://localhost:3000/cb] }}\n    \
             save: {{ registered: status }}\n  \
             - register: {{ redirect_uris: [http://localhost:3000/cb] }}\n    \
             when: \"{cond}\"\n    \
             expect: {{ status: 418 }}\n"
        )
    };
    d.write("skip/dcr/when.yaml", &scenario("{{ registered == 400 }}"));
    d.write("run/dcr/when.yaml", &scenario("{{ registered == 201 }}"));
    d.write("bad/dcr/when.yaml", &scenario("{{ registered }}"));
    let o = authproof(&["test", "skip"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.lines().any(|l| l == "1 passed, 0 failed, 0 skipped"),
        "{t}"
    );
    let o = authproof(&["test", "run"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("step 2 `register`") && t.contains("418"), "{t}");
    let o = authproof(&["test", "bad"], &d.0);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("rendered to `201`, not `true` or `false`") && t.contains("step 2 `register`"),
        "{t}"
    );
}
