//! Who is calling, and under which name: the client's address (from the socket, or from
//! `X-Forwarded-For` behind `trusted_proxies`) and the `Host` policy. Pure functions of the
//! request and the configuration, used by the abuse bounds and checked by the configuration.

mod address;
mod hosts;

pub use address::{ClientAddress, TrustedProxies};
pub use hosts::HostPolicy;
