//! Errors of the flow client. An HTTP answer, whatever its status, is never an error: it is an
//! [`Exchange`](super::Exchange) for the caller to judge. Errors are what prevents getting one.

use super::exchange::{Exchange, Hop};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or its answer not read (connection refused, timeout…).
    #[error("{method} {url}: {message}")]
    Transport {
        method: String,
        /// Masked.
        url: String,
        message: String,
        #[source]
        source: reqwest::Error,
    },
    /// A URL given to or found by the client does not parse or cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A header given to the client is not a valid HTTP header.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader { name: String, reason: String },
    /// A value the operation needs was neither given nor remembered from an earlier step.
    #[error("no {what} to use: {hint}")]
    Missing {
        what: &'static str,
        hint: &'static str,
    },
    /// Discovery could not find the metadata documents; `exchanges` holds what was tried.
    #[error("discovery failed: {reason}")]
    Discovery {
        reason: String,
        exchanges: Vec<Exchange>,
    },
    /// A consent page was reached but cannot be answered as asked.
    #[error("consent page at {url}: {reason}")]
    ConsentForm { url: String, reason: String },
    /// The authorization redirect chain did not end.
    #[error("more than {limit} redirects while authorizing")]
    TooManyRedirects { limit: usize, hops: Vec<Hop> },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}
