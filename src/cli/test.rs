//! `authproof test`: run scenarios and report.
//!
//! Exit codes: 0 no failure at the `--fail-on` level or above (skipped trials, expected
//! failures and failures below the level do not count), 1 failures (or expected failures that
//! now pass), 2 usage or load errors.

use crate::scenario::conformance;
use crate::scenario::load::{self, Loaded};
use crate::scenario::model::Level;
use crate::scenario::profile::{ExpectedFailures, Profile};
use crate::scenario::report::{self, Outcome, Summary, TrialResult};
use crate::scenario::run::{self, ExternalTarget, TargetConfig};
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files or folders (default: the bundled suite in ./scenarios).
    pub paths: Vec<PathBuf>,
    /// Run only trials whose name contains F (`area::scenario[variant]`), or `tag:NAME`.
    /// Repeatable: a trial runs when any filter matches.
    #[arg(long, value_name = "F")]
    pub filter: Vec<String>,
    /// Run against this proxy instead of the embedded one.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// The running mock IdP the external target uses upstream (driven via /_mock/).
    #[arg(long, value_name = "URL", requires = "target")]
    pub idp: Option<String>,
    /// The external target's configuration: scenarios it does not satisfy are skipped.
    #[arg(long, value_name = "FILE", requires = "target")]
    pub profile: Option<PathBuf>,
    /// Known failing trials (one name per line, `*` wildcards); the run fails when a listed
    /// trial passes or an unlisted one fails.
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<PathBuf>,
    /// Write a report: `junit=FILE`, `json=FILE`, `markdown=FILE` or `html=FILE` (repeatable).
    /// Markdown and HTML are the conformance report for people: a matrix of areas × levels,
    /// then each failure with its clause, the quoted requirement, expected vs actual and the
    /// HTTP exchange (secrets masked).
    #[arg(long, value_name = "KIND=FILE")]
    pub report: Vec<String>,
    /// The lowest level of failure that fails the run: `must`, `should` or `profile`.
    /// Default: `must` against an external target, `profile` for the embedded one.
    #[arg(long, value_name = "LEVEL")]
    pub fail_on: Option<String>,
    /// Parallel trials (default: the number of cores; 1 against an external target).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
}

enum ReportKind {
    Junit,
    Json,
    Markdown,
    Html,
}

fn usage(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("authproof test: {msg}");
    ExitCode::from(2)
}

pub fn run(args: TestArgs) -> ExitCode {
    let started = Instant::now();
    let mut reports = Vec::new();
    for r in &args.report {
        let Some((kind, file)) = r.split_once('=') else {
            return usage(format!(
                "--report {r}: expected junit=FILE, json=FILE, markdown=FILE or html=FILE"
            ));
        };
        let kind = match kind {
            "junit" => ReportKind::Junit,
            "json" => ReportKind::Json,
            "markdown" | "md" => ReportKind::Markdown,
            "html" => ReportKind::Html,
            other => {
                return usage(format!(
                    "--report {other}=…: unknown kind (junit, json, markdown or html)"
                ));
            }
        };
        if file.is_empty() {
            return usage(format!("--report {r}: the file name is missing"));
        }
        reports.push((kind, PathBuf::from(file)));
    }
    if args.jobs == Some(0) {
        return usage("-j must be at least 1");
    }
    let target = match &args.target {
        None => TargetConfig::Embedded,
        Some(url) => {
            if url::Url::parse(url).is_err() {
                return usage(format!("--target {url}: not a URL"));
            }
            let profile = match &args.profile {
                Some(p) => match Profile::load(p) {
                    Ok(p) => p,
                    Err(e) => return usage(format!("--profile: {e}")),
                },
                None => Profile::default(),
            };
            TargetConfig::External(Box::new(ExternalTarget {
                target: url.clone(),
                idp: args.idp.clone(),
                profile,
            }))
        }
    };
    let fail_on = match &args.fail_on {
        None if target.is_embedded() => Level::Profile,
        None => Level::Must,
        Some(l) => match Level::parse(l) {
            Some(l) => l,
            None => return usage(format!("--fail-on {l}: expected must, should or profile")),
        },
    };
    let expected = match &args.expected_failures {
        Some(p) => match ExpectedFailures::load(p) {
            Ok(e) => e,
            Err(e) => return usage(e),
        },
        None => ExpectedFailures::default(),
    };
    let paths = if args.paths.is_empty() {
        run::default_paths()
    } else {
        args.paths.clone()
    };
    let loaded = match load::load_paths(&paths) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let load_errors: Vec<String> = loaded
        .iter()
        .filter_map(|l| match l {
            Loaded::Err { error, .. } => Some(error.to_string()),
            Loaded::Ok(_) => None,
        })
        .collect();
    let trials: Vec<_> = run::plan(&loaded)
        .into_iter()
        .filter(|t| run::matches_filter(t, &args.filter))
        .collect();
    if trials.is_empty() {
        eprintln!(
            "authproof test: no scenarios matched in {}",
            show_paths(&paths)
        );
        println!("0 passed, 0 failed, 0 skipped");
        return if load_errors.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let jobs = args.jobs.unwrap_or(match target {
        TargetConfig::Embedded => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        // One shared IdP and proxy: trials would see each other's faults and journal.
        TargetConfig::External(_) => 1,
    });
    let total = trials.len();
    let tty = std::io::stderr().is_terminal();
    let bar = tty.then(|| {
        let pb = indicatif::ProgressBar::new(total as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    });
    println!(
        "running {total} trials ({} jobs, {} target)",
        jobs.min(total),
        match &target {
            TargetConfig::Embedded => "embedded".to_string(),
            TargetConfig::External(e) => e.target.clone(),
        }
    );
    let results = run::run_all(trials, &target, jobs, &expected, |r: &TrialResult| {
        let line = report::result_line(r);
        match &bar {
            Some(pb) => {
                if r.outcome.is_failure() && !r.expected_failure {
                    pb.println(line);
                }
                pb.set_message(r.name.clone());
                pb.inc(1);
            }
            None => println!("{line}"),
        }
    });
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let summary = Summary::from_results(
        &results,
        run::unexpected_passes(&results),
        fail_on,
        started.elapsed(),
    );
    let failures: Vec<&TrialResult> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }) && !r.expected_failure)
        .collect();
    if !failures.is_empty() {
        println!("\nfailures:");
        for r in failures {
            let level = r
                .outcome
                .level()
                .map(|l| format!(", {l}"))
                .unwrap_or_default();
            println!("\n---- {} ({}{level}) ----", r.name, r.outcome.label());
            if let Some(text) = report::failure_text(r) {
                println!("{text}");
            }
        }
    }
    let target_label = match &target {
        TargetConfig::Embedded => "the embedded proxy".to_string(),
        TargetConfig::External(e) => e.target.clone(),
    };
    let mut write_failed = false;
    for (kind, file) in &reports {
        let text = match kind {
            ReportKind::Junit => match report::junit(&results, &summary) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("authproof test: cannot write the JUnit report: {e}");
                    write_failed = true;
                    continue;
                }
            },
            ReportKind::Json => report::json(&results, &summary),
            ReportKind::Markdown => conformance::markdown(&results, &summary, &target_label),
            ReportKind::Html => conformance::html(&results, &summary, &target_label),
        };
        if let Some(dir) = file.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(file, text) {
            eprintln!("authproof test: cannot write {}: {e}", file.display());
            write_failed = true;
        }
    }
    println!("\n{}", summary.details());
    println!("{}", summary.line());
    if !load_errors.is_empty() || write_failed {
        ExitCode::from(2)
    } else if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
