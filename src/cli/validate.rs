//! `authproof validate [CONFIG] [--live] [--format text|json]`: check a proxy configuration
//! before deploying it (see [`crate::validate`]). Exit 0 clean, 1 errors, 2 could not run.

use crate::validate::{Format, Options, validate_source};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status: 0 no errors, 1 errors, 2 the configuration could not be read (or bad
/// arguments). Finding ids are stable (see `authproof::validate::catalogue`).
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 no errors, 1 errors, 2 the configuration could not be read or bad arguments.\nFindings have stable ids (static.*, preset.*, live.*, config.*); --format json is for CI."
)]
pub struct ValidateArgs {
    /// Proxy configuration (YAML); AUTHPROOF_* variables apply on top, as for `serve`.
    /// Without it, the AUTHPROOF_* variables alone are the configuration.
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Also check the IdP: discovery, issuer, JWKS, the callback URL's registration and a
    /// token-endpoint probe (client id, secret and authentication method).
    #[arg(long)]
    pub live: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: ValidateArgs) -> ExitCode {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let options = Options { live: args.live };
    let report = super::runtime().block_on(validate_source(args.config.as_deref(), &vars, options));
    print!("{}", report.render(args.format));
    ExitCode::from(report.exit_code())
}
