//! A scriptable mock identity provider: OIDC, WorkOS AuthKit and GitHub-style flavors, with
//! fault injection, latency and clock control, a request journal and a control API.

pub mod cli;
pub mod clock;
pub mod yaml;

pub use clock::Clock;
