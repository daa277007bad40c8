//! The command line: one file per subcommand. Each `run` returns the process exit code.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub mod conformance_matrix;
pub mod mock_idp;
pub mod redirects;
pub mod schema;
pub mod serve;
pub mod test;
pub mod validate;

/// OAuth proxy, mock IdP and conformance scenario runner for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "authproof", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run conformance scenarios (default: the bundled suite, embedded proxy and mock IdP).
    Test(test::TestArgs),
    /// Run the OAuth proxy.
    Serve(serve::ServeArgs),
    /// Run the mock identity provider (same as the `mock-idp` binary).
    MockIdp(mock_idp::MockIdpArgs),
    /// Redirect-URI tools.
    Redirects(redirects::RedirectsArgs),
    /// Print a JSON Schema for editors.
    Schema(schema::SchemaArgs),
    /// Check a proxy configuration before deploying it (statically, and live with --live).
    Validate(validate::ValidateArgs),
    /// Several targets' JSON reports side by side: targets × areas × levels, in Markdown.
    ConformanceMatrix(conformance_matrix::ConformanceMatrixArgs),
}

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Test(args) => test::run(args),
        Command::Serve(args) => serve::run(args),
        Command::MockIdp(args) => mock_idp::run(args),
        Command::Redirects(args) => redirects::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Validate(args) => validate::run(args),
        Command::ConformanceMatrix(args) => conformance_matrix::run(args),
    }
}

/// A multi-threaded runtime for the subcommands that serve or call the network.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime")
}
