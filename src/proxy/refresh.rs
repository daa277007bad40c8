//! Refresh: the proxy's rotating refresh tokens, and the upstream refresh behind them.
//!
//! Why it is shaped like this:
//!
//! - **Rotation with a grace window** ([`family`]). Clients retry refreshes whose response
//!   they lost, or run several processes sharing one refresh token; strict single use
//!   strands them with `invalid_grant`. Within `refresh_grace_window` (default 10s) the token
//!   just rotated out yields a new successor that *replaces* the earlier one, so exactly one
//!   successor is ever live and a thief replaying it still trips reuse detection once the
//!   legitimate client uses its (now revoked) successor. Refresh tokens are stored only as
//!   hashes.
//! - **Single flight** ([`flight`]). A rotating upstream refresh token can be spent once:
//!   every upstream refresh of a grant, from the token endpoint or from the guard, runs under
//!   a per-grant lock (in-process mutex + a lock in the store for other instances), and
//!   re-reads the grant first so a refresh that already happened is reused, not repeated.
//! - **Every upstream behaviour** ([`upstream`]): rotating or not, omitting `refresh_token`
//!   (the old one is kept), a `refresh_expires_in` shorter than the family (the family
//!   follows it), `invalid_grant` (the session ends), an outage (nothing changes; retry).
//! - **Transparent refresh** ([`ensure_fresh`]): the guard refreshes an expired upstream
//!   access token once instead of failing MCP calls whose proxy token is still valid.
//! - **Lifetimes**: a family lives until its expiry; its grant until the later of that and
//!   the newest access token it backs; an access token's mapping as long as the token.

pub mod family;
pub mod flight;
mod grant;
pub mod upstream;

pub use flight::{Flight, FlightError, Flights};
pub use grant::refresh_token_grant;
pub use upstream::{Need, RefreshError, ensure_fresh, needs_refresh};
