use clap::Parser;
use std::process::ExitCode;

/// mimalloc: under load the proxy spent a sixth to a quarter of its time in glibc's malloc and
/// free (README, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    foundations::process::disable_transparent_huge_pages();
    let cli = authproof::cli::Cli::parse();
    authproof::cli::run(cli)
}
