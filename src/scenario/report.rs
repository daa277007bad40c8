//! Results and reports: terminal lines, the failure text, the summary, JUnit XML
//! (quick-junit) and JSON. The conformance report for people (Markdown, HTML) is in
//! [`super::conformance`].

use super::expect::CheckStatus;
use super::load::{LoadedScenario, Variant};
use super::model::Level;
use super::verdict::{NotChecked, StepReport};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// How a trial ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    /// Failed at `level` (the highest level among the failed checks; `must` for load, setup
    /// and runner errors).
    Failed {
        level: Level,
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
            Outcome::Skipped { .. } => "skipped",
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed { .. })
    }

    /// The level of a failure.
    pub fn level(&self) -> Option<Level> {
        match self {
            Outcome::Failed { level, .. } => Some(*level),
            _ => None,
        }
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
    /// The steps that failed, errored, or left checks unmade (secrets masked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
    /// The checks that could not be made, with the reason.
    pub not_checked: Vec<NotChecked>,
}

impl TrialResult {
    /// A result for a trial of `sc` that has not run yet (it passes until told otherwise).
    pub fn new(sc: &LoadedScenario, variant: &Variant) -> Self {
        TrialResult {
            name: sc.trial_name(variant),
            area: sc.area.clone(),
            title: sc.scenario.name.clone(),
            file: sc.path.display().to_string(),
            variant: variant.name.clone(),
            spec: sc.scenario.spec.iter().map(|s| s.value.clone()).collect(),
            tags: sc.scenario.tags.clone(),
            outcome: Outcome::Passed,
            expected_failure: false,
            duration_ms: 0.0,
            setup_ms: None,
            steps_run: 0,
            steps: Vec::new(),
            not_checked: Vec::new(),
        }
    }
}

/// Failures per level.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ByLevel {
    pub must: usize,
    pub should: usize,
    pub profile: usize,
}

impl ByLevel {
    pub fn add(&mut self, level: Level) {
        *self.get_mut(level) += 1;
    }

    pub fn get(&self, level: Level) -> usize {
        match level {
            Level::Must => self.must,
            Level::Should => self.should,
            Level::Profile => self.profile,
        }
    }

    fn get_mut(&mut self, level: Level) -> &mut usize {
        match level {
            Level::Must => &mut self.must,
            Level::Should => &mut self.should,
            Level::Profile => &mut self.profile,
        }
    }

    /// Failures at `level` or above.
    pub fn at_or_above(&self, level: Level) -> usize {
        Level::ALL
            .iter()
            .filter(|l| **l >= level)
            .map(|l| self.get(*l))
            .sum()
    }
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub passed: usize,
    /// Failures not listed in the expected-failures file, whatever their level.
    pub failed: usize,
    pub skipped: usize,
    /// `failed`, per level.
    pub failed_by_level: ByLevel,
    /// The lowest level that fails the run (`--fail-on`).
    pub fail_on: Level,
    /// Failures listed in the expected-failures file (not counted in `failed`).
    pub expected_failures: usize,
    /// Entries of the expected-failures file that passed (the run fails on them too).
    pub unexpected_passes: Vec<String>,
    /// Checks not made, over all trials.
    pub not_checked: usize,
    pub duration_ms: f64,
}

impl Summary {
    pub fn from_results(
        results: &[TrialResult],
        unexpected_passes: Vec<String>,
        fail_on: Level,
        wall: Duration,
    ) -> Self {
        let mut s = Summary {
            passed: 0,
            failed: 0,
            skipped: 0,
            failed_by_level: ByLevel::default(),
            fail_on,
            expected_failures: 0,
            unexpected_passes,
            not_checked: 0,
            duration_ms: ms(wall),
        };
        for r in results {
            s.not_checked += r.not_checked.len();
            match (&r.outcome, r.expected_failure) {
                (Outcome::Passed, _) => s.passed += 1,
                (Outcome::Failed { .. }, true) => s.expected_failures += 1,
                (Outcome::Failed { level, .. }, false) => {
                    s.failed += 1;
                    s.failed_by_level.add(*level);
                }
                (Outcome::Skipped { .. }, _) => s.skipped += 1,
            }
        }
        s
    }

    /// No unlisted failure at `fail_on` or above, and no listed failure that now passes.
    pub fn success(&self) -> bool {
        self.failed_by_level.at_or_above(self.fail_on) == 0 && self.unexpected_passes.is_empty()
    }

    /// `N passed, N failed, N skipped`: the plain closing line CI reads (nothing else on it).
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// Levels, expected failures and the wall time, for the line before the summary.
    pub fn details(&self) -> String {
        let mut extra = vec![format!("{:.2}s", self.duration_ms / 1000.0)];
        if self.failed > 0 {
            let b = &self.failed_by_level;
            extra.push(format!(
                "failed at must {}, should {}, profile {} (the run fails on {} and above)",
                b.must, b.should, b.profile, self.fail_on
            ));
        }
        if self.not_checked > 0 {
            extra.push(format!("{} checks not made", self.not_checked));
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
    if let Some(level) = r.outcome.level() {
        s.push_str(&format!(" [{level}]"));
    }
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
        Outcome::Failed { message, .. } => Some(message),
        _ => None,
    }
}

/// `[must RFC6749-5.2]`
fn tag(level: Level, clause: Option<&str>) -> String {
    match clause {
        Some(c) => format!("[{level} {c}]"),
        None => format!("[{level}]"),
    }
}

/// The text of one step report: its place, each failed check (expected vs actual) and check
/// not made, with its level and clause, the error, then the HTTP exchanges.
pub fn step_text(step: &StepReport) -> String {
    let mut text = format!("{}{}", step.place, step.attempt);
    for c in &step.checks {
        let mut t = tag(c.level, c.clause.as_deref());
        if let Some(line) = c.line {
            let _ = write!(t, " line {line}");
        }
        match &c.check.status {
            CheckStatus::Passed => {}
            CheckStatus::Failed { expected, actual } => {
                let _ = write!(
                    text,
                    "\n  {} {t}\n    expected: {expected}\n    actual:   {actual}",
                    c.check.what
                );
            }
            CheckStatus::NotChecked { reason } => {
                let _ = write!(text, "\n  {} {t}\n    not checked: {reason}", c.check.what);
            }
        }
    }
    if let Some(e) = &step.error {
        let _ = write!(
            text,
            "\n  {} {} error",
            tag(step.level, step.clause.as_deref()),
            e.kind.as_str()
        );
        for line in e.message.lines() {
            let _ = write!(text, "\n  {line}");
        }
    }
    for ex in &step.exchanges {
        text.push_str("\n\n");
        for line in ex.lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    text.trim_end().to_string()
}

/// The failure text of a trial: every step that failed (steps that only left checks unmade
/// are listed after them).
pub fn steps_text(steps: &[StepReport]) -> String {
    let failed: Vec<String> = steps
        .iter()
        .filter(|s| s.failure_level().is_some())
        .map(step_text)
        .collect();
    let mut text = failed.join("\n\n");
    let unmade: Vec<String> = steps
        .iter()
        .filter(|s| s.failure_level().is_none())
        .map(step_text)
        .collect();
    if !unmade.is_empty() {
        text.push_str("\n\nchecks not made:\n");
        text.push_str(&unmade.join("\n"));
    }
    text
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
                Outcome::Failed { message, .. } => {
                    if r.expected_failure {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(format!("expected failure: {}", first_line(message)));
                        s.set_description(message.as_str());
                        s
                    } else {
                        // Checks that failed are `<failure>`; a trial that never got to its
                        // checks (load, setup or runner error) is an `<error>`.
                        let judged = r.steps.iter().any(|st| st.failed_checks().next().is_some());
                        // The error's type says whose it is: the scenario's, the transport's,
                        // the mock IdP's, or a capture's (`error` for load and setup errors).
                        let error_kind = r
                            .steps
                            .iter()
                            .find_map(|st| st.error.as_ref())
                            .map_or("error", |e| e.kind.as_str());
                        let (kind, kind_type) = if judged {
                            (NonSuccessKind::Failure, "assertion")
                        } else {
                            (NonSuccessKind::Error, error_kind)
                        };
                        let mut s = TestCaseStatus::non_success(kind);
                        s.set_message(first_line(message));
                        s.set_type(kind_type);
                        s.set_description(message.as_str());
                        s
                    }
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
            if let Some(level) = r.outcome.level() {
                tc.add_property(quick_junit::Property::new("level", level.as_str()));
            }
            for c in &r.spec {
                tc.add_property(quick_junit::Property::new("clause", c.as_str()));
            }
            for n in &r.not_checked {
                tc.add_property(quick_junit::Property::new(
                    "not_checked",
                    format!("{}: {}", n.what, n.reason),
                ));
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
            steps: vec![],
            not_checked: vec![],
        }
    }

    fn results() -> Vec<TrialResult> {
        vec![
            result("dcr::ok[m=a]", Outcome::Passed),
            result(
                "dcr::bad",
                Outcome::Failed {
                    level: Level::Must,
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
                "redirects::house",
                Outcome::Failed {
                    level: Level::Profile,
                    message: "meh".into(),
                },
            ),
        ]
    }

    #[test]
    fn junit_is_well_formed() {
        let r = results();
        let s = Summary::from_results(&r, vec![], Level::Must, Duration::from_millis(1500));
        let xml = junit(&r, &s).unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 4, "{xml}");
        assert_eq!(xml.matches("<testsuite ").count(), 2, "{xml}");
        // No step carries a failed check in these results: load-style errors.
        assert!(xml.contains("<error"), "{xml}");
        assert!(!xml.contains("<failure"), "{xml}");
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(
            xml.contains("<property name=\"level\" value=\"must\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<property name=\"level\" value=\"profile\"/>"),
            "{xml}"
        );
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
    fn junit_names_the_kind_of_a_step_error() {
        use crate::scenario::verdict::{StepError, StepReport};
        let mut r = result(
            "token::capture",
            Outcome::Failed {
                level: Level::Must,
                message: "capture error".into(),
            },
        );
        r.steps = vec![StepReport {
            place: "step 1".into(),
            attempt: String::new(),
            checks: vec![],
            error: Some(StepError::capture("save `code`: no query parameter `code`")),
            level: Level::Must,
            clause: None,
            exchanges: vec![],
        }];
        let rs = vec![r];
        let s = Summary::from_results(&rs, vec![], Level::Must, Duration::from_millis(5));
        let xml = junit(&rs, &s).unwrap();
        assert!(xml.contains("<error"), "{xml}");
        assert!(xml.contains("type=\"capture\""), "{xml}");
        // In the JSON report the error is data: its kind and its text.
        let v = serde_json::to_value(&rs[0].steps[0]).unwrap();
        assert_eq!(v["error"]["kind"], "capture");
        assert_eq!(
            v["error"]["message"],
            "save `code`: no query parameter `code`"
        );
    }

    #[test]
    fn summary_and_json() {
        let r = results();
        let s = Summary::from_results(&r, vec![], Level::Must, Duration::from_millis(2000));
        assert_eq!((s.passed, s.failed, s.skipped), (1, 2, 1));
        assert_eq!(
            s.failed_by_level,
            ByLevel {
                must: 1,
                should: 0,
                profile: 1
            }
        );
        assert!(!s.success());
        // Only the profile failure: a `must` gate passes, a `profile` gate does not.
        let house = &r[3..];
        let s = Summary::from_results(house, vec![], Level::Must, Duration::ZERO);
        assert!(s.success(), "{}", s.details());
        let s = Summary::from_results(house, vec![], Level::Should, Duration::ZERO);
        assert!(s.success());
        let s = Summary::from_results(house, vec![], Level::Profile, Duration::ZERO);
        assert!(!s.success());
        let s = Summary::from_results(
            &r,
            vec!["x::y".into()],
            Level::Must,
            Duration::from_millis(2000),
        );
        assert_eq!(s.line(), "1 passed, 2 failed, 1 skipped");
        assert!(s.details().contains("now pass: x::y"), "{}", s.details());
        let j: serde_json::Value = serde_json::from_str(&json(&r, &s)).unwrap();
        assert_eq!(j["version"], 1);
        assert_eq!(j["results"][1]["status"], "failed");
        assert_eq!(j["results"][1]["level"], "must");
        assert_eq!(j["results"][3]["level"], "profile");
        assert!(j["results"][0].get("level").is_none());
        assert_eq!(j["results"][2]["reason"], "requires consent: off");
        assert_eq!(j["summary"]["unexpected_passes"][0], "x::y");
    }
}
