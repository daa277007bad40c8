//! `authproof conformance-matrix`: several targets' JSON reports side by side (targets ×
//! areas × levels), printed or written into a file between the matrix markers.
//! `scripts/conformance-matrix.sh` runs the three targets and calls it on the README.

use crate::scenario::matrix;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ConformanceMatrixArgs {
    /// `NAME=REPORT.json` per target, in column order (JSON reports of `authproof test`).
    #[arg(required = true, value_name = "NAME=REPORT")]
    pub reports: Vec<String>,
    /// Write the table into this file between its matrix markers, instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,
}

pub fn run(args: ConformanceMatrixArgs) -> ExitCode {
    match build(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn build(args: &ConformanceMatrixArgs) -> Result<(), String> {
    let mut targets = Vec::new();
    for spec in &args.reports {
        let (name, file) = spec
            .split_once('=')
            .filter(|(n, f)| !n.trim().is_empty() && !f.is_empty())
            .ok_or_else(|| format!("{spec:?}: expected NAME=REPORT.json"))?;
        if name.contains('|') || name.contains(':') {
            return Err(format!(
                "{name:?}: a target name may not contain `|` or `:`"
            ));
        }
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("{file}: cannot read: {e}"))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
        targets.push(matrix::from_report(name.trim(), &json)?);
    }
    let table = matrix::markdown(&targets);
    match &args.write {
        None => print!("{table}"),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
            let out =
                matrix::splice(&text, &table).map_err(|e| format!("{}: {e}", path.display()))?;
            std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("wrote the conformance matrix into {}", path.display());
        }
    }
    Ok(())
}
