//! Foundations shared by the product (`authproof`) and its test double (`mock-idp`).
//!
//! Both crates need the same clock (so a scenario that advances the IdP's time advances the
//! proxy's), the same strict YAML 1.2 loader (so `off` means the same string in every file),
//! the same HTML escaper, and the same bounded HTTP/1.1 server (timeouts, drained 413s).
//! Both binaries set up their process the same way (logs, transparent huge pages off).
//! They live here, so that the product never imports the mock IdP.

pub mod clock;
pub mod html;
pub mod http;
pub mod logs;
pub mod process;
pub mod yaml;

pub use clock::Clock;
