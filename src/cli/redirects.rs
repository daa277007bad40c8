//! `authproof redirects check`: explain a redirect-URI verdict.

use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct RedirectsArgs {
    #[command(subcommand)]
    pub command: RedirectsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RedirectsCommand {
    /// May a client register this redirect URI under this allow-list?
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// An allow-list pattern (repeatable). None given: the allow-list is absent.
    #[arg(long = "allow", value_name = "PATTERN")]
    pub allow: Vec<String>,
    /// The allow-list is `[]`: nothing may be registered.
    #[arg(long = "deny-all", conflicts_with = "allow")]
    pub deny_all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The redirect URI to judge.
    pub uri: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(_args: RedirectsArgs) -> ExitCode {
    ExitCode::from(2)
}
