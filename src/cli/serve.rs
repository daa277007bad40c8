//! `authproof serve`: run the proxy.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Proxy configuration (YAML). Optional when AUTHPROOF_* variables supply everything.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default: the host and port of base_url).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

pub fn run(_args: ServeArgs) -> ExitCode {
    eprintln!("authproof serve: the proxy is being built");
    ExitCode::from(2)
}
