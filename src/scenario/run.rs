//! Planning and running trials: every scenario × variant, in parallel worker threads, each
//! trial on its own current-thread tokio runtime (the same way `tests/scenarios.rs` runs them).

use super::load::{LoadError, Loaded, LoadedScenario, Variant};
use super::profile::{ExpectedFailures, Profile};
use super::report::{Outcome, TrialResult};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

/// Where scenarios run.
#[derive(Debug, Clone, Default)]
pub enum TargetConfig {
    /// Each variant gets its own mock IdP and proxy, in-process on port 0.
    #[default]
    Embedded,
    /// A running proxy (and optionally a running mock IdP driven through `/_mock/`).
    External(Box<ExternalTarget>),
}

#[derive(Debug, Clone)]
pub struct ExternalTarget {
    /// The proxy's base URL.
    pub target: String,
    /// The mock IdP's base URL (its control API is used for `idp.*` steps).
    pub idp: Option<String>,
    pub profile: Profile,
}

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
                message: format!("load error: {error}"),
            },
            expected_failure: false,
            duration_ms: super::report::ms(started.elapsed()),
            setup_ms: None,
            steps_run: 0,
        },
        TrialKind::Run { scenario, variant } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(super::session::run_trial(scenario, variant, target)),
                Err(e) => TrialResult {
                    name: trial.name.clone(),
                    area: scenario.area.clone(),
                    title: scenario.scenario.name.clone(),
                    file: scenario.path.display().to_string(),
                    variant: variant.name.clone(),
                    spec: scenario.scenario.spec.clone(),
                    tags: scenario.scenario.tags.clone(),
                    outcome: Outcome::Failed {
                        message: format!("cannot start a runtime: {e}"),
                    },
                    expected_failure: false,
                    duration_ms: super::report::ms(started.elapsed()),
                    setup_ms: None,
                    steps_run: 0,
                },
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
