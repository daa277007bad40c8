//! The OAuth proxy: an authorization server for MCP clients in front of an upstream IdP.

pub mod echo;
pub mod redirect;
pub mod resource;
