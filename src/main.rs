use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = authproof::cli::Cli::parse();
    authproof::cli::run(cli)
}
