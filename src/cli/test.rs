//! `authproof test`: run scenarios and report.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Scenario files or folders (default: the bundled suite in ./scenarios).
    pub paths: Vec<PathBuf>,
}

pub fn run(_args: TestArgs) -> ExitCode {
    println!("no scenarios yet");
    ExitCode::SUCCESS
}
