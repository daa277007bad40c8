use clap::Parser;
use std::process::ExitCode;

/// The same allocator as the `authproof` binary (README, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    foundations::process::disable_transparent_huge_pages();
    mock_idp::cli::run(mock_idp::cli::Args::parse())
}
