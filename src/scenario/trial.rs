//! One trial, on one forward path: plan (the target and the scenario's requirements: run or
//! skip) → setup (fixtures, target, session) → steps (and teardown) → verdict (levels, checks
//! not made). Nothing here writes text for people: [`super::report`] does.

use super::fixtures::Fixtures;
use super::load::{LoadedScenario, Variant};
use super::model::{Level, Located, Requires};
use super::profile::{implicit_architecture, implicit_features, unportable_idp};
use super::report::{Outcome, TrialResult, ms};
use super::session::{Defaults, Flow, Session, base_context, render_typed};
use super::target::{Target, TargetConfig};
use super::verdict::{self, StepReport};
use serde_json::Value;
use serde_saphyr::Location;
use std::time::Instant;

/// Run one scenario variant against the target.
pub async fn run(sc: &LoadedScenario, variant: &Variant, target_cfg: &TargetConfig) -> TrialResult {
    let started = Instant::now();
    let mut result = TrialResult::new(sc, variant);
    let outcome = match run_phases(sc, variant, target_cfg, &mut result).await {
        Ok(()) => verdict(&result.steps),
        Err(Stop::Skip(reason)) => Outcome::Skipped { reason },
        Err(Stop::Error(message)) => Outcome::Failed {
            level: Level::Must,
            message,
        },
    };
    result.not_checked = verdict::not_checked(&result.steps);
    result.outcome = outcome;
    result.duration_ms = ms(started.elapsed());
    result
}

/// Why a trial ended before its steps could judge the target.
enum Stop {
    /// The target does not satisfy what the scenario requires.
    Skip(String),
    /// The trial could not be set up (scenario or runner error): a failure at `must`, never
    /// silenced by `--fail-on`.
    Error(String),
}

async fn run_phases(
    sc: &LoadedScenario,
    variant: &Variant,
    target_cfg: &TargetConfig,
    result: &mut TrialResult,
) -> Result<(), Stop> {
    // Plan: the variables, the requirements, and whether the target satisfies them.
    let mut base = base_context(sc, variant);
    let mut requires: Requires = render_typed(
        &sc.scenario.requires,
        &Value::Object(base.clone()),
        "requires",
    )
    .map_err(|e| Stop::Error(format!("{}: {e}", sc.path.display())))?;
    for a in implicit_architecture(&sc.scenario) {
        if !requires.architecture.iter().any(|x| x.value == a) {
            requires.architecture.push(Located::new(
                a.to_string(),
                Location::UNKNOWN,
                Location::UNKNOWN,
            ));
        }
    }
    if let TargetConfig::External(ext) = target_cfg
        && let Some(reason) = ext
            .profile
            .unsatisfied(&requires, &implicit_features(&sc.scenario))
    {
        return Err(Stop::Skip(reason));
    }
    if let TargetConfig::External(ext) = target_cfg
        && ext.idp.is_some()
        && let Some(reason) = unportable_idp(&sc.scenario, &ext.profile)
    {
        return Err(Stop::Skip(reason));
    }
    // Setup: fixtures first (the target's config may name them), then the target.
    let fixtures = match &sc.scenario.fixtures {
        Some(loc) => {
            let f = Fixtures::spawn(sc, loc, &base)
                .await
                .map_err(|e| Stop::Error(format!("the fixtures did not start: {e}")))?;
            base.insert("fixtures".into(), f.value());
            Some(f)
        }
        None => None,
    };
    let target = match target_cfg {
        TargetConfig::Embedded => Target::embedded(sc, &base).await,
        TargetConfig::External(ext) => Target::external(sc, ext, &base).await,
    }
    .map_err(|e| Stop::Error(format!("the target did not start: {e}")))?;
    result.setup_ms = Some(ms(target.setup));
    let defaults = Defaults {
        level: sc.scenario.level.unwrap_or(Level::Profile),
        clause: sc.scenario.spec.first().map(|s| s.value.clone()),
        strict: target_cfg.is_embedded(),
    };
    // Steps, then teardown (always).
    let steps = match Session::new(sc, base, &target, defaults).await {
        Err(e) => Err(Stop::Error(e)),
        Ok(mut session) => {
            // A stop ends the steps, not the teardown.
            let _: Flow = session
                .run_steps(&sc.path, &sc.scenario.steps, "step")
                .await;
            let _: Flow = session
                .run_steps(&sc.path, &sc.scenario.teardown, "teardown step")
                .await;
            result.steps_run = session.steps_run;
            Ok(std::mem::take(&mut session.reports))
        }
    };
    target.shutdown().await;
    if let Some(f) = fixtures {
        f.shutdown().await;
    }
    result.steps = steps?;
    Ok(())
}

/// The verdict over the step reports: passed, or failed at the highest failed level.
fn verdict(steps: &[StepReport]) -> Outcome {
    match verdict::level(steps) {
        None => Outcome::Passed,
        Some(level) => Outcome::Failed {
            level,
            message: super::report::steps_text(steps),
        },
    }
}
