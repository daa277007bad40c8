use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    mock_idp::cli::run(mock_idp::cli::Args::parse())
}
