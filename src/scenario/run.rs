//! Planning and running trials: every scenario × variant, in parallel worker threads, each
//! trial on its own current-thread tokio runtime (the same way `tests/scenarios.rs` runs them).

use super::load::{LoadError, Loaded, LoadedScenario, Variant};
use super::model::Level;
use super::profile::ExpectedFailures;
use super::report::{Outcome, TrialResult};
pub use super::target::{ExternalTarget, TargetConfig};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// One trial to run.
#[derive(Debug, Clone)]
pub struct PlannedTrial {
    /// `area::stem[variant]`.
    pub name: String,
    pub kind: TrialKind,
}

#[derive(Debug, Clone)]
pub enum TrialKind {
    Run {
        scenario: Arc<LoadedScenario>,
        variant: Variant,
    },
    /// A file that did not load: a failing trial with the error.
    LoadError { area: String, error: LoadError },
}

impl PlannedTrial {
    pub fn tags(&self) -> &[String] {
        match &self.kind {
            TrialKind::Run { scenario, .. } => &scenario.scenario.tags,
            TrialKind::LoadError { .. } => &[],
        }
    }
}

/// Every trial of the loaded files, in file order.
pub fn plan(loaded: &[Loaded]) -> Vec<PlannedTrial> {
    let mut out = Vec::new();
    for l in loaded {
        match l {
            Loaded::Ok(s) => {
                for v in &s.variants {
                    out.push(PlannedTrial {
                        name: s.trial_name(v),
                        kind: TrialKind::Run {
                            scenario: s.clone(),
                            variant: v.clone(),
                        },
                    });
                }
            }
            Loaded::Err { id, error } => out.push(PlannedTrial {
                name: id.clone(),
                kind: TrialKind::LoadError {
                    area: id.split("::").next().unwrap_or("").to_string(),
                    error: error.clone(),
                },
            }),
        }
    }
    out
}

/// `--filter F`: a substring of the trial name, or `tag:NAME`. Several filters: any matches.
pub fn matches_filter(trial: &PlannedTrial, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| match f.strip_prefix("tag:") {
            Some(tag) => trial.tags().iter().any(|t| t == tag),
            None => trial.name.contains(f.as_str()),
        })
}

/// Run one trial to completion on a fresh current-thread runtime.
pub fn execute(trial: &PlannedTrial, target: &TargetConfig) -> TrialResult {
    let started = Instant::now();
    match &trial.kind {
        TrialKind::LoadError { area, error } => TrialResult {
            name: trial.name.clone(),
            area: area.clone(),
            title: String::new(),
            file: error.file.clone(),
            variant: String::new(),
            spec: vec![],
            tags: vec![],
            outcome: Outcome::Failed {
                level: Level::Must,
                message: format!("load error: {error}"),
            },
            expected_failure: false,
            duration_ms: super::report::ms(started.elapsed()),
            setup_ms: None,
            steps_run: 0,
            steps: vec![],
            not_checked: vec![],
        },
        TrialKind::Run { scenario, variant } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(super::trial::run(scenario, variant, target)),
                Err(e) => {
                    let mut r = TrialResult::new(scenario, variant);
                    r.outcome = Outcome::Failed {
                        level: Level::Must,
                        message: format!("cannot start a runtime: {e}"),
                    };
                    r.duration_ms = super::report::ms(started.elapsed());
                    r
                }
            }
        }
    }
}

/// Run trials on `jobs` worker threads; `on_result` sees each result as it arrives (on the
/// calling thread). Results come back in plan order.
pub fn run_all(
    trials: Vec<PlannedTrial>,
    target: &TargetConfig,
    jobs: usize,
    expected: &ExpectedFailures,
    mut on_result: impl FnMut(&TrialResult),
) -> Vec<TrialResult> {
    let total = trials.len();
    let jobs = jobs.clamp(1, total.max(1));
    let queue: Arc<Mutex<VecDeque<(usize, PlannedTrial)>>> =
        Arc::new(Mutex::new(trials.into_iter().enumerate().collect()));
    let (tx, rx) = mpsc::channel::<(usize, TrialResult)>();
    let mut handles = Vec::new();
    for i in 0..jobs {
        let queue = queue.clone();
        let tx = tx.clone();
        let target = target.clone();
        let handle = std::thread::Builder::new()
            .name(format!("authproof-trial-{i}"))
            .stack_size(16 * 1024 * 1024)
            .spawn(move || {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((index, trial)) = next else { break };
                    let result = execute(&trial, &target);
                    if tx.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => eprintln!("cannot start worker thread {i}: {e}"),
        }
    }
    drop(tx);
    let mut results: Vec<Option<TrialResult>> = (0..total).map(|_| None).collect();
    for (index, mut result) in rx {
        result.expected_failure = expected.contains(&result.name);
        on_result(&result);
        results[index] = Some(result);
    }
    for h in handles {
        let _ = h.join();
    }
    results.into_iter().flatten().collect()
}

/// Trials listed as expected failures that passed (the run fails on them).
pub fn unexpected_passes(results: &[TrialResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.expected_failure && matches!(r.outcome, Outcome::Passed))
        .map(|r| r.name.clone())
        .collect()
}

/// The bundled suite: `./scenarios`, else the crate's own folder (for `cargo run` elsewhere).
pub fn default_paths() -> Vec<PathBuf> {
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        return vec![local];
    }
    vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")]
}
