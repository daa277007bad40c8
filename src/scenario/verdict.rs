//! Results as data: every check with its level and clause, the steps that did not go as
//! expected, the checks not made, and the verdict of a trial (the highest level among its
//! failed checks). The text is written by [`super::report`].

use super::expect::{Check, CheckStatus};
use super::model::Level;
use serde::Serialize;

/// Why a step could not be judged by its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepErrorKind {
    /// The step as written cannot be performed: a template that does not render, a URL or a
    /// duration that does not parse, an include that was not loaded.
    Scenario,
    /// The exchange with the target did not complete: no connection, a timeout, a redirect
    /// loop, a discovery that found no document.
    Transport,
    /// The mock IdP's control API or journal could not be reached.
    Idp,
    /// A check or a `save:` capture could not be evaluated (a capture that found nothing).
    Capture,
}

impl StepErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepErrorKind::Scenario => "scenario",
            StepErrorKind::Transport => "transport",
            StepErrorKind::Idp => "idp",
            StepErrorKind::Capture => "capture",
        }
    }
}

/// A step that ended without a verdict from its checks: what kind of error, and its text
/// (secrets already masked when it is in a report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepError {
    pub kind: StepErrorKind,
    pub message: String,
}

impl StepError {
    pub fn scenario(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::Scenario, message)
    }
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::Transport, message)
    }
    pub fn idp(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::Idp, message)
    }
    pub fn capture(message: impl Into<String>) -> Self {
        Self::new(StepErrorKind::Capture, message)
    }
    fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} error: {}", self.kind.as_str(), self.message)
    }
}

/// A check with the level and clause of the expectation it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeveledCheck {
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// The line of the scenario file (or of the included file) the check was written on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(flatten)]
    pub check: Check,
}

impl LeveledCheck {
    pub fn failed(&self) -> bool {
        matches!(self.check.status, CheckStatus::Failed { .. })
    }
}

/// A step that failed, errored, or left checks unmade (secrets already masked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// `step 2 `token` at scenarios/token/x.yaml:12:5`.
    pub place: String,
    /// ` (attempt 3 of 3)` for retried steps, else empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub attempt: String,
    /// The checks of the last attempt (passed ones included).
    pub checks: Vec<LeveledCheck>,
    /// A scenario, transport, IdP or capture error (the step could not be judged by its
    /// checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
    /// The level an error counts at: the highest level of the step's expectations.
    pub level: Level,
    /// The clause of the step's first expectation, for an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    /// The HTTP exchanges of the last attempt, as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<String>,
}

impl StepReport {
    pub fn failed_checks(&self) -> impl Iterator<Item = &LeveledCheck> {
        self.checks.iter().filter(|c| c.failed())
    }

    /// The highest level among the failed checks and the error, if anything failed.
    pub fn failure_level(&self) -> Option<Level> {
        let checks = self.failed_checks().map(|c| c.level).max();
        let error = self.error.as_ref().map(|_| self.level);
        checks.max(error)
    }
}

/// A check that could not be made, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotChecked {
    pub place: String,
    pub what: String,
    pub level: Level,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clause: Option<String>,
    pub reason: String,
}

/// The checks not made in these steps.
pub fn not_checked(steps: &[StepReport]) -> Vec<NotChecked> {
    steps
        .iter()
        .flat_map(|s| {
            s.checks.iter().filter_map(move |c| match &c.check.status {
                CheckStatus::NotChecked { reason } => Some(NotChecked {
                    place: s.place.clone(),
                    what: c.check.what.clone(),
                    level: c.level,
                    clause: c.clause.clone(),
                    reason: reason.clone(),
                }),
                _ => None,
            })
        })
        .collect()
}

/// The verdict over a trial's steps: `None` when nothing failed, else the highest level.
pub fn level(steps: &[StepReport]) -> Option<Level> {
    steps.iter().filter_map(StepReport::failure_level).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(level: Level, status: CheckStatus) -> LeveledCheck {
        LeveledCheck {
            line: None,
            level,
            clause: None,
            check: Check {
                what: "status".into(),
                status,
            },
        }
    }

    fn step(checks: Vec<LeveledCheck>, error: Option<&str>) -> StepReport {
        StepReport {
            place: "step 1".into(),
            attempt: String::new(),
            checks,
            error: error.map(StepError::transport),
            level: Level::Should,
            clause: None,
            exchanges: vec![],
        }
    }

    fn failed() -> CheckStatus {
        CheckStatus::Failed {
            expected: "400".into(),
            actual: "401".into(),
        }
    }

    #[test]
    fn the_highest_failed_level_wins() {
        let steps = vec![
            step(
                vec![
                    check(Level::Profile, failed()),
                    check(Level::Must, CheckStatus::Passed),
                ],
                None,
            ),
            step(vec![check(Level::Should, failed())], None),
        ];
        assert_eq!(level(&steps), Some(Level::Should));
        assert_eq!(level(&steps[..1]), Some(Level::Profile));
        let error = vec![step(vec![], Some("connection refused"))];
        assert_eq!(level(&error), Some(Level::Should));
    }

    #[test]
    fn not_checked_is_no_failure() {
        let steps = vec![step(
            vec![check(
                Level::Must,
                CheckStatus::NotChecked {
                    reason: "no key".into(),
                },
            )],
            None,
        )];
        assert_eq!(level(&steps), None);
        let n = not_checked(&steps);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].reason, "no key");
        assert_eq!(n[0].level, Level::Must);
    }
}
