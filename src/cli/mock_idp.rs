//! `authproof mock-idp`: the same server as the `mock-idp` binary.

use std::process::ExitCode;

pub use ::mock_idp::cli::Args as MockIdpArgs;

pub fn run(args: MockIdpArgs) -> ExitCode {
    ::mock_idp::cli::run(args)
}
