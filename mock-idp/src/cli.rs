//! The `mock-idp` command line, shared with `authproof mock-idp`.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run the scriptable mock identity provider.
#[derive(Debug, Clone, Parser)]
#[command(name = "mock-idp", version, about)]
pub struct Args {
    /// The IdP configuration file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on (127.0.0.1). Without --issuer the issuer becomes http://127.0.0.1:PORT.
    #[arg(long)]
    pub port: Option<u16>,
    /// The exact issuer to advertise.
    #[arg(long)]
    pub issuer: Option<String>,
}

pub fn run(_args: Args) -> ExitCode {
    ExitCode::from(2)
}
