//! Provider modes beyond the generic OAuth proxy.
//!
//! The presets themselves (what `provider: workos|auth0|google|…` fills in) live with the
//! configuration, in [`crate::proxy::config::ProviderKind`] and
//! [`crate::proxy::config::ProxyConfig::resolved`]; their token checks in
//! [`crate::proxy::upstream::verify`]. This module holds what changes the proxy's shape:
//!
//! - [`authkit`]: remote-auth mode. WorkOS AuthKit is the authorization server (it does DCR
//!   itself); the proxy only serves RFC 9728 metadata naming it, forwards its RFC 8414
//!   document, and guards the MCP endpoint with AuthKit's JWKS.

pub mod authkit;
