//! A scriptable mock identity provider: OIDC, WorkOS AuthKit and GitHub-style flavors, with
//! fault injection, latency and clock control, a request journal and a control API.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mock_idp::{MockIdp, config::IdpConfig};
//! let config: IdpConfig = foundations::yaml::from_str(
//!     "flavor: oidc\nclients: [{ id: app, secret: s3cret }]\nusers: [{ sub: alice }]\n",
//!     "<inline>",
//! )?;
//! let idp = MockIdp::builder().config(config).spawn().await?;
//! println!("discovery at {}", idp.discovery_url());
//! idp.shutdown().await;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod client_auth;
pub mod config;
pub mod endpoints;
pub mod error;
pub mod faults;
pub mod flavors;
pub mod ids;
pub mod journal;
pub mod keys;
pub mod mutate;
pub mod observe;
pub mod pages;
pub mod params;
pub mod server;
pub mod state;
pub mod store;
pub mod tokens;

pub use config::{AuthMethod, ClientConfig, Flavor, IdpConfig, UserConfig};
pub use faults::{FaultAction, FaultMatch, FaultSpec, Mutation, Times};
pub use foundations::{Clock, clock, yaml};
pub use journal::JournalEntry;
pub use server::{MockIdp, MockIdpBuilder, MockIdpHandle};
