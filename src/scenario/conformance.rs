//! The conformance report for people, in Markdown and in self-contained HTML: a matrix of
//! areas × levels first, then every failure with the clause it breaks, the requirement quoted
//! from the spec index, expected vs actual, and the HTTP exchange (secrets already masked).
//! Both are written from the same [`matrix`] and the same findings per failed step, so they
//! always say the same thing.

use super::expect::CheckStatus;
use super::model::Level;
use super::report::{Outcome, Summary, TrialResult};
use super::spec;
use super::verdict::StepReport;
use foundations::html::escape;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How one trial counts in a row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    Passed,
    Skipped,
    ExpectedFailure,
    /// Failed at this level (the highest among its failed checks).
    Failed(Level),
}

/// One row of the matrix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    pub area: String,
    pub trials: usize,
    pub passed: usize,
    pub must: usize,
    pub should: usize,
    pub profile: usize,
    pub expected: usize,
    pub skipped: usize,
    pub not_checked: usize,
}

impl Row {
    fn add(&mut self, r: &TrialResult) {
        self.not_checked += r.not_checked.len();
        let status = match &r.outcome {
            Outcome::Passed => Status::Passed,
            Outcome::Skipped { .. } => Status::Skipped,
            Outcome::Failed { .. } if r.expected_failure => Status::ExpectedFailure,
            Outcome::Failed { level, .. } => Status::Failed(*level),
        };
        self.count(status);
    }

    /// Count one trial.
    pub fn count(&mut self, status: Status) {
        self.trials += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Skipped => self.skipped += 1,
            Status::ExpectedFailure => self.expected += 1,
            Status::Failed(Level::Must) => self.must += 1,
            Status::Failed(Level::Should) => self.should += 1,
            Status::Failed(Level::Profile) => self.profile += 1,
        }
    }

    /// Trials that applied (ran rather than being skipped).
    pub fn applied(&self) -> usize {
        self.trials - self.skipped
    }

    /// The share of trials that applied (ran rather than being skipped), in percent.
    pub fn applied_percent(&self) -> f64 {
        if self.trials == 0 {
            return 0.0;
        }
        100.0 * self.applied() as f64 / self.trials as f64
    }
}

/// The matrix: one row per area (sorted), and the total.
pub fn matrix(results: &[TrialResult]) -> (Vec<Row>, Row) {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    let mut total = Row {
        area: "all".into(),
        ..Row::default()
    };
    for r in results {
        rows.entry(r.area.as_str())
            .or_insert_with(|| Row {
                area: r.area.clone(),
                ..Row::default()
            })
            .add(r);
        total.add(r);
    }
    (rows.into_values().collect(), total)
}

/// The matrix of trials given as (area, status): one row per area (sorted), and the total.
pub fn matrix_rows<'a>(trials: impl Iterator<Item = (&'a str, Status)>) -> (Vec<Row>, Row) {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    let mut total = Row {
        area: "all".into(),
        ..Row::default()
    };
    for (area, status) in trials {
        rows.entry(area)
            .or_insert_with(|| Row {
                area: area.to_string(),
                ..Row::default()
            })
            .count(status);
        total.count(status);
    }
    (rows.into_values().collect(), total)
}

const HEADERS: [&str; 9] = [
    "area",
    "trials",
    "passed",
    "failed: must",
    "failed: should",
    "failed: profile",
    "expected failures",
    "skipped",
    "checks not made",
];

fn cells(r: &Row) -> [String; 9] {
    [
        r.area.clone(),
        r.trials.to_string(),
        r.passed.to_string(),
        r.must.to_string(),
        r.should.to_string(),
        r.profile.to_string(),
        r.expected.to_string(),
        r.skipped.to_string(),
        r.not_checked.to_string(),
    ]
}

/// A failed check, an error, or a check not made, as the report shows it.
struct Finding<'a> {
    what: String,
    level: Level,
    clause: Option<&'a str>,
    expected: Option<&'a str>,
    actual: String,
}

fn findings(step: &StepReport) -> Vec<Finding<'_>> {
    let mut out = Vec::new();
    for c in &step.checks {
        match &c.check.status {
            CheckStatus::Passed => {}
            CheckStatus::Failed { expected, actual } => out.push(Finding {
                what: c.check.what.clone(),
                level: c.level,
                clause: c.clause.as_deref(),
                expected: Some(expected),
                actual: actual.clone(),
            }),
            CheckStatus::NotChecked { reason } => out.push(Finding {
                what: format!("{} (not checked)", c.check.what),
                level: c.level,
                clause: c.clause.as_deref(),
                expected: None,
                actual: reason.clone(),
            }),
        }
    }
    if let Some(e) = &step.error {
        out.push(Finding {
            what: format!("the step did not complete ({} error)", e.kind.as_str()),
            level: step.level,
            clause: step.clause.as_deref(),
            expected: None,
            actual: e.message.clone(),
        });
    }
    out
}

fn failed(results: &[TrialResult]) -> Vec<&TrialResult> {
    let mut out: Vec<&TrialResult> = results.iter().filter(|r| r.outcome.is_failure()).collect();
    // Most binding first, then by name.
    out.sort_by(|a, b| {
        b.outcome
            .level()
            .cmp(&a.outcome.level())
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

fn verdict_line(summary: &Summary) -> String {
    let verdict = if summary.success() { "PASS" } else { "FAIL" };
    format!(
        "{verdict} at `--fail-on {}`: {} passed, {} failed (must {}, should {}, profile {}), {} skipped, {} expected failures, {} checks not made.",
        summary.fail_on,
        summary.passed,
        summary.failed,
        summary.failed_by_level.must,
        summary.failed_by_level.should,
        summary.failed_by_level.profile,
        summary.skipped,
        summary.expected_failures,
        summary.not_checked
    )
}

/// The Markdown report.
pub fn markdown(results: &[TrialResult], summary: &Summary, target: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# authproof conformance report\n");
    let _ = writeln!(md, "Target: {}\n", md_inline(target));
    let _ = writeln!(md, "{}\n", verdict_line(summary).replace('`', ""));
    let (rows, total) = matrix(results);
    let _ = writeln!(md, "## Matrix: areas × levels\n");
    let _ = writeln!(md, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(HEADERS.len()));
    for r in rows.iter().chain(std::iter::once(&total)) {
        let mut c = cells(r);
        if r.area == "all" {
            c[0] = "**all**".into();
        }
        let _ = writeln!(md, "| {} |", c.join(" | "));
    }
    let _ = writeln!(
        md,
        "\n{:.0}% of trials applied to this target.\n",
        total.applied_percent()
    );
    let failures = failed(results);
    let _ = writeln!(md, "## Failures\n");
    if failures.is_empty() {
        let _ = writeln!(md, "None.\n");
    }
    for r in failures {
        let level = r.outcome.level().map(Level::as_str).unwrap_or("");
        let listed = if r.expected_failure {
            " (expected failure)"
        } else {
            ""
        };
        let _ = writeln!(md, "### `{}`: {level}{listed}\n", r.name);
        let _ = writeln!(md, "{} ({})\n", md_inline(&r.title), md_inline(&r.file));
        if r.steps.is_empty()
            && let Some(text) = super::report::failure_text(r)
        {
            let _ = writeln!(md, "{}\n", fence(text));
        }
        for step in r.steps.iter().filter(|s| s.failure_level().is_some()) {
            let _ = writeln!(md, "#### {}{}\n", md_inline(&step.place), step.attempt);
            for f in findings(step) {
                let _ = writeln!(md, "- **{}** — {}", md_inline(&f.what), f.level);
                if let Some(id) = f.clause {
                    let _ = write!(md, "  - clause: `{id}`");
                    if let Some(c) = spec::lookup(id) {
                        let _ = write!(md, " [{}]({})", md_inline(&c.title), c.url);
                        match &c.quote {
                            Some(q) => {
                                let _ = write!(md, "\n  - requirement: > {}", md_inline(q));
                            }
                            None => {
                                let _ = write!(md, "\n  - requirement: (not quoted in the index)");
                            }
                        }
                    }
                    let _ = writeln!(md);
                }
                if let Some(e) = f.expected {
                    let _ = writeln!(md, "  - expected: `{}`", md_code(e));
                    let _ = writeln!(md, "  - actual: `{}`", md_code(&f.actual));
                } else {
                    let _ = writeln!(md, "  - {}", md_inline(&f.actual).replace('\n', " "));
                }
            }
            for ex in &step.exchanges {
                let _ = writeln!(md, "\n{}", fence(ex));
            }
            let _ = writeln!(md);
        }
    }
    let unmade: Vec<&TrialResult> = results
        .iter()
        .filter(|r| !r.not_checked.is_empty())
        .collect();
    if !unmade.is_empty() {
        let _ = writeln!(md, "## Checks not made\n");
        for r in unmade {
            for n in &r.not_checked {
                let _ = writeln!(
                    md,
                    "- `{}`: {} ({}{}) — {}",
                    r.name,
                    md_inline(&n.what),
                    n.level,
                    n.clause
                        .as_deref()
                        .map(|c| format!(", {c}"))
                        .unwrap_or_default(),
                    md_inline(&n.reason)
                );
            }
        }
    }
    md
}

fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '*' | '_' | '<' | '>' | '[' | ']' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_code(s: &str) -> String {
    s.replace('`', "'").replace('\n', " ")
}

fn fence(s: &str) -> String {
    let mut ticks = "```".to_string();
    while s.contains(&ticks) {
        ticks.push('`');
    }
    format!("{ticks}text\n{}\n{ticks}", s.trim_end())
}

const STYLE: &str = "body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d1d1f}\
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}\
th:first-child,td:first-child{text-align:left}tr.total td{font-weight:bold}\
.must{background:#fdd}.should{background:#ffe9c7}.profile{background:#eef}\
.zero{color:#999;background:none}section.trial{border-top:1px solid #ddd;margin-top:1.5rem}\
blockquote{border-left:4px solid #999;margin:.3rem 0;padding:.1rem .8rem;color:#333}\
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;font-size:13px}dt{font-weight:bold}\
.badge{display:inline-block;border-radius:.3rem;padding:0 .4rem;font-size:12px;text-transform:uppercase}";

/// The HTML report: one file, no external assets (no scripts, fonts, images or links to
/// stylesheets), readable in any browser.
pub fn html(results: &[TrialResult], summary: &Summary, target: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>authproof conformance report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(h, "<h1>authproof conformance report</h1>");
    let _ = writeln!(h, "<p>Target: <code>{}</code></p>", escape(target));
    let _ = writeln!(
        h,
        "<p id=\"verdict\">{}</p>",
        escape(&verdict_line(summary).replace('`', ""))
    );
    let (rows, total) = matrix(results);
    let _ = writeln!(h, "<h2>Matrix: areas × levels</h2>");
    let _ = writeln!(h, "<table id=\"matrix\">\n<thead><tr>");
    for head in HEADERS {
        let _ = write!(h, "<th>{}</th>", escape(head));
    }
    let _ = writeln!(h, "</tr></thead>\n<tbody>");
    for r in rows.iter().chain(std::iter::once(&total)) {
        let class = if r.area == "all" {
            " class=\"total\""
        } else {
            ""
        };
        let _ = write!(h, "<tr{class}>");
        for (i, c) in cells(r).iter().enumerate() {
            let level_class = match i {
                3 => "must",
                4 => "should",
                5 => "profile",
                _ => "",
            };
            let cls = if level_class.is_empty() {
                String::new()
            } else if c == "0" {
                " class=\"zero\"".into()
            } else {
                format!(" class=\"{level_class}\"")
            };
            let _ = write!(h, "<td{cls}>{}</td>", escape(c));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(h, "</tbody>\n</table>");
    let _ = writeln!(
        h,
        "<p>{:.0}% of trials applied to this target.</p>",
        total.applied_percent()
    );
    let _ = writeln!(h, "<h2>Failures</h2>");
    let failures = failed(results);
    if failures.is_empty() {
        let _ = writeln!(h, "<p>None.</p>");
    }
    for r in failures {
        let level = r.outcome.level().map(Level::as_str).unwrap_or("");
        let _ = writeln!(
            h,
            "<section class=\"trial\" data-level=\"{level}\">\n<h3><code>{}</code> <span class=\"badge {level}\">{level}</span>{}</h3>",
            escape(&r.name),
            if r.expected_failure {
                " (expected failure)"
            } else {
                ""
            }
        );
        let _ = writeln!(
            h,
            "<p>{} (<code>{}</code>)</p>",
            escape(&r.title),
            escape(&r.file)
        );
        if r.steps.is_empty()
            && let Some(text) = super::report::failure_text(r)
        {
            let _ = writeln!(h, "<pre>{}</pre>", escape(text));
        }
        for step in r.steps.iter().filter(|s| s.failure_level().is_some()) {
            let _ = writeln!(
                h,
                "<h4>{}{}</h4>\n<dl class=\"findings\">",
                escape(&step.place),
                escape(&step.attempt)
            );
            for f in findings(step) {
                let _ = writeln!(
                    h,
                    "<dt>{} <span class=\"badge {}\">{}</span></dt>",
                    escape(&f.what),
                    f.level,
                    f.level
                );
                if let Some(id) = f.clause {
                    let _ = write!(h, "<dd class=\"clause\"><code>{}</code>", escape(id));
                    if let Some(c) = spec::lookup(id) {
                        let _ = write!(
                            h,
                            " <a href=\"{}\">{}</a>",
                            escape(&c.url),
                            escape(&c.title)
                        );
                        if let Some(q) = &c.quote {
                            let _ = write!(h, "<blockquote>{}</blockquote>", escape(q));
                        }
                    }
                    let _ = writeln!(h, "</dd>");
                }
                match f.expected {
                    Some(e) => {
                        let _ = writeln!(
                            h,
                            "<dd class=\"expected\">expected: <code>{}</code></dd>\n<dd class=\"actual\">actual: <code>{}</code></dd>",
                            escape(e),
                            escape(&f.actual)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            h,
                            "<dd class=\"actual\"><pre>{}</pre></dd>",
                            escape(&f.actual)
                        );
                    }
                }
            }
            let _ = writeln!(h, "</dl>");
            for ex in &step.exchanges {
                let _ = writeln!(h, "<pre class=\"exchange\">{}</pre>", escape(ex));
            }
        }
        let _ = writeln!(h, "</section>");
    }
    let unmade: Vec<&TrialResult> = results
        .iter()
        .filter(|r| !r.not_checked.is_empty())
        .collect();
    if !unmade.is_empty() {
        let _ = writeln!(h, "<h2>Checks not made</h2>\n<ul id=\"not-checked\">");
        for r in unmade {
            for n in &r.not_checked {
                let _ = writeln!(
                    h,
                    "<li><code>{}</code>: {} ({}) — {}</li>",
                    escape(&r.name),
                    escape(&n.what),
                    n.level,
                    escape(&n.reason)
                );
            }
        }
        let _ = writeln!(h, "</ul>");
    }
    let _ = writeln!(h, "</body>\n</html>");
    h
}
