//! The OAuth proxy: an authorization server for MCP clients in front of an upstream IdP.
//!
//! [`Proxy::spawn`] runs it in-process; [`router`] builds its axum router from a resolved
//! [`state::ProxyState`]. See the module of each endpoint for its rules.

pub mod authorize;
pub mod bearer;
pub mod bounds;
pub mod browser;
pub mod callback;
pub mod cimd;
pub mod config;
pub mod consent;
pub mod cookies;
pub mod grants;
pub mod guard;
pub mod html;
pub mod jwt;
pub mod metadata;
pub mod net;
pub mod outbound;
pub mod params;
pub mod providers;
pub mod redirect;
pub mod refresh;
pub mod register;
pub mod resource;
pub mod revoke;
pub mod server;
pub mod ssrf;
pub mod state;
pub mod store;
pub mod token;
pub mod upstream;

pub use config::ProxyConfig;
pub use server::{Proxy, ProxyHandle, SpawnOptions, router};
