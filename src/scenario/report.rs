//! Results and reports: terminal lines, the summary, JUnit XML (quick-junit) and JSON.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// Failed (severity `failure`), or a load error.
    Failed {
        message: String,
    },
    /// Failed, but the scenario's severity is `warning`.
    Warning {
        message: String,
    },
    Skipped {
        reason: String,
    },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "ok",
            Outcome::Failed { .. } => "FAILED",
            Outcome::Warning { .. } => "warning",
            Outcome::Skipped { .. } => "skipped",
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }
}

/// One trial's result.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// `area::stem[variant]`.
    pub name: String,
    pub area: String,
    /// The scenario's `name:`.
    pub title: String,
    pub file: String,
    pub variant: String,
    pub spec: Vec<String>,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Whether the failure is listed in the expected-failures file.
    pub expected_failure: bool,
    pub duration_ms: f64,
    /// Time to bring the target up (IdP + proxy listening), when measured.
    pub setup_ms: Option<f64>,
    pub steps_run: usize,
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub warnings: usize,
    pub skipped: usize,
    /// Failures listed in the expected-failures file (not counted in `failed`).
    pub expected_failures: usize,
    /// Entries of the expected-failures file that passed (the run fails on them too).
    pub unexpected_passes: Vec<String>,
    pub duration_ms: f64,
}

impl Summary {
    pub fn from_results(
        results: &[TrialResult],
        unexpected_passes: Vec<String>,
        wall: Duration,
    ) -> Self {
        let mut s = Summary {
            unexpected_passes,
            duration_ms: ms(wall),
            ..Default::default()
        };
        for r in results {
            match (&r.outcome, r.expected_failure) {
                (Outcome::Passed, _) => s.passed += 1,
                (Outcome::Failed { .. }, true) => s.expected_failures += 1,
                (Outcome::Failed { .. }, false) => s.failed += 1,
                (Outcome::Warning { .. }, _) => s.warnings += 1,
                (Outcome::Skipped { .. }, _) => s.skipped += 1,
            }
        }
        s
    }

    pub fn success(&self) -> bool {
        self.failed == 0 && self.unexpected_passes.is_empty()
    }

    /// `N passed, N failed, N skipped`: the plain closing line CI reads (nothing else on it).
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// Warnings, expected failures and the wall time, for the line before the summary.
    pub fn details(&self) -> String {
        let mut extra = vec![format!("{:.2}s", self.duration_ms / 1000.0)];
        if self.warnings > 0 {
            extra.push(format!("{} warnings", self.warnings));
        }
        if self.expected_failures > 0 {
            extra.push(format!("{} expected failures", self.expected_failures));
        }
        if !self.unexpected_passes.is_empty() {
            extra.push(format!(
                "{} listed as expected failures now pass: {}",
                self.unexpected_passes.len(),
                self.unexpected_passes.join(", ")
            ));
        }
        extra.join(", ")
    }
}

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The terminal line for one result (failure details follow on the next lines).
pub fn result_line(r: &TrialResult) -> String {
    let mut s = format!(
        "{:<8} {} ({:.0} ms)",
        r.outcome.label(),
        r.name,
        r.duration_ms
    );
    if r.expected_failure && r.outcome.is_failure() {
        s.push_str(" [expected failure]");
    }
    if let Outcome::Skipped { reason } = &r.outcome {
        s.push_str(&format!(": {reason}"));
    }
    s
}

/// The failure text of a result, if any.
pub fn failure_text(r: &TrialResult) -> Option<&str> {
    match &r.outcome {
        Outcome::Failed { message } | Outcome::Warning { message } => Some(message),
        _ => None,
    }
}

/// JUnit XML: one `<testsuite>` per area, one `<testcase>` per trial.
pub fn junit(results: &[TrialResult], summary: &Summary) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("authproof");
    report.set_time(Duration::from_secs_f64(summary.duration_ms / 1000.0));
    let mut suites: BTreeMap<&str, Vec<&TrialResult>> = BTreeMap::new();
    for r in results {
        suites.entry(r.area.as_str()).or_default().push(r);
    }
    for (area, trials) in suites {
        let mut suite = TestSuite::new(area);
        for r in trials {
            let status = match &r.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed { message } => {
                    if r.expected_failure {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(format!("expected failure: {}", first_line(message)));
                        s.set_description(message.as_str());
                        s
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(first_line(message));
                        s.set_type("assertion");
                        s.set_description(message.as_str());
                        s
                    }
                }
                Outcome::Warning { message } => {
                    let mut s = TestCaseStatus::success();
                    s.set_message(format!("warning: {}", first_line(message)));
                    s
                }
                Outcome::Skipped { reason } => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(reason.as_str());
                    s
                }
            };
            let mut tc = TestCase::new(r.name.as_str(), status);
            tc.set_classname(format!("authproof.{area}"));
            tc.set_time(Duration::from_secs_f64(r.duration_ms / 1000.0));
            tc.set_assertions(r.steps_run);
            if let Outcome::Warning { message } = &r.outcome {
                tc.set_system_out(message.as_str());
            }
            suite.add_test_case(tc);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| e.to_string())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

/// The JSON report: `{ "version": 1, "summary": {…}, "results": [ … ] }`.
pub fn json(results: &[TrialResult], summary: &Summary) -> String {
    let doc = serde_json::json!({
        "version": 1,
        "tool": "authproof",
        "summary": summary,
        "results": results,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, outcome: Outcome) -> TrialResult {
        TrialResult {
            name: name.into(),
            area: name.split("::").next().unwrap_or("x").into(),
            title: "t".into(),
            file: "scenarios/x.yaml".into(),
            variant: String::new(),
            spec: vec!["RFC6749-5.2".into()],
            tags: vec![],
            outcome,
            expected_failure: false,
            duration_ms: 12.5,
            setup_ms: Some(1.0),
            steps_run: 3,
        }
    }

    fn results() -> Vec<TrialResult> {
        vec![
            result("dcr::ok[m=a]", Outcome::Passed),
            result(
                "dcr::bad",
                Outcome::Failed {
                    message:
                        "step 2 (token) at x.yaml:3:5\n  status\n   expected: 200 <&> \u{1b}[31m"
                            .into(),
                },
            ),
            result(
                "redirects::skip",
                Outcome::Skipped {
                    reason: "requires consent: off".into(),
                },
            ),
            result(
                "redirects::warn",
                Outcome::Warning {
                    message: "meh".into(),
                },
            ),
        ]
    }

    #[test]
    fn junit_is_well_formed() {
        let r = results();
        let s = Summary::from_results(&r, vec![], Duration::from_millis(1500));
        let xml = junit(&r, &s).unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        assert!(xml.contains("<failure"), "{xml}");
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(xml.contains("&lt;&amp;&gt;"), "{xml}");
        assert!(
            !xml.contains('\u{1b}'),
            "control characters must not reach XML: {xml}"
        );
        // Every element that opens closes.
        for tag in ["testsuites", "testsuite", "testcase"] {
            let opens =
                xml.matches(&format!("<{tag} ")).count() + xml.matches(&format!("<{tag}>")).count();
            let closes = xml.matches(&format!("</{tag}>")).count();
            let selfclosed = xml
                .split(&format!("<{tag} "))
                .skip(1)
                .filter(|rest| rest.split('>').next().is_some_and(|t| t.ends_with('/')))
                .count();
            assert_eq!(opens, closes + selfclosed, "{tag} in {xml}");
        }
    }

    #[test]
    fn summary_and_json() {
        let r = results();
        let s = Summary::from_results(&r, vec!["x::y".into()], Duration::from_millis(2000));
        assert_eq!((s.passed, s.failed, s.skipped, s.warnings), (1, 1, 1, 1));
        assert!(!s.success());
        assert_eq!(s.line(), "1 passed, 1 failed, 1 skipped");
        assert!(s.details().contains("now pass: x::y"), "{}", s.details());
        let j: serde_json::Value = serde_json::from_str(&json(&r, &s)).unwrap();
        assert_eq!(j["version"], 1);
        assert_eq!(j["results"][1]["status"], "failed");
        assert_eq!(j["results"][2]["reason"], "requires consent: off");
        assert_eq!(j["summary"]["unexpected_passes"][0], "x::y");
    }
}
