//! authproof: an OAuth 2.1 proxy for MCP servers, a scriptable mock identity provider and a
//! declarative conformance-scenario runner.
//!
//! The binary (`src/main.rs`) only parses arguments; everything it does lives here so that
//! tests, benches and the scenario runner call the same code.

pub mod cli;
pub mod client;
pub mod oauth;
pub mod proxy;
pub mod scenario;
pub mod validate;

pub use mock_idp;
