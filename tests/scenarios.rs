//! Every bundled scenario × variant as its own test: `area::scenario[variant]`.
//!
//! libtest-mimic (harness = false), so `cargo test --test scenarios -- FILTER`, `--exact`,
//! `--list` and cargo-nextest all work. A file that does not load is a failing trial with the
//! error (never a panic in `main`, which would break `--list` for every trial). Each trial runs
//! on its own current-thread tokio runtime against its own embedded mock IdP and proxy. A
//! failure at any level (`must`, `should` or `profile`) fails the trial.

use authproof::scenario::load;
use authproof::scenario::report::Outcome;
use authproof::scenario::run::{self, PlannedTrial, TargetConfig};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::PathBuf;

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let trials = match load::load_paths(std::slice::from_ref(&root)) {
        Ok(loaded) => run::plan(&loaded).into_iter().map(trial).collect(),
        Err(e) => vec![Trial::test("scenarios::load", move || {
            Err(Failed::from(e.to_string()))
        })],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn trial(planned: PlannedTrial) -> Trial {
    let name = planned.name.clone();
    Trial::test(name, move || {
        let result = run::execute(&planned, &TargetConfig::Embedded);
        match result.outcome {
            Outcome::Passed => Ok(()),
            Outcome::Skipped { reason } => {
                eprintln!("{} skipped: {reason}", result.name);
                Ok(())
            }
            // The embedded proxy is held to every level, `profile` included.
            Outcome::Failed { level, message } => {
                Err(Failed::from(format!("failed at {level}:\n{message}")))
            }
        }
    })
}
