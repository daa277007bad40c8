//! `authproof schema`: JSON Schemas for editors.

use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// scenario | proxy | idp
    pub which: String,
}

pub fn run(_args: SchemaArgs) -> ExitCode {
    ExitCode::from(2)
}
