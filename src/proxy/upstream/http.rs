//! Reading bounded response bodies, and building reqwest clients only when needed.

use super::{UpstreamError, reqwest_error};
use std::sync::OnceLock;

/// Read at most `limit` bytes of a response body; larger bodies are an error.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::BadResponse(format!(
            "the response is larger than {limit} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| reqwest_error(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::BadResponse(format!(
                "the response is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest clients built on first use, one per URL scheme.
///
/// Building a reqwest client that can speak https is expensive: the rustls platform verifier
/// reads and parses every root certificate of the system (about 4 ms here), which used to be
/// most of `Proxy::spawn` (two such clients per proxy). Plain http needs no trust store, so its
/// client is built with an empty one (`tls_certs_only([])`, microseconds; any https attempt
/// through it fails verification), and the https client is built only when an https URL is
/// first requested. Each owner keeps its own connection pools: a pool shared across tokio
/// runtimes (the scenario runner uses one per trial) hands out connections whose driving task
/// died with another runtime ("dispatch task is gone").
///
/// Redirects must be off in `configure`: a request must not change scheme.
pub struct SchemeClients {
    configure: Box<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>,
    plain: OnceLock<reqwest::Client>,
    tls: OnceLock<reqwest::Client>,
}

impl SchemeClients {
    /// Clients made from `configure`'s builder (the trust store is chosen here).
    pub fn new(configure: impl Fn() -> reqwest::ClientBuilder + Send + Sync + 'static) -> Self {
        Self {
            configure: Box::new(configure),
            plain: OnceLock::new(),
            tls: OnceLock::new(),
        }
    }

    /// The client for a request to `url`.
    pub fn for_url(&self, url: &str) -> reqwest::Result<&reqwest::Client> {
        let plain = url
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("http:"))
            && !https_proxy_for_http();
        let cell = if plain { &self.plain } else { &self.tls };
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let builder = (self.configure)();
        let built = if plain {
            builder.tls_certs_only(Vec::new()).build()?
        } else {
            builder.build()?
        };
        Ok(cell.get_or_init(|| built))
    }
}

impl std::fmt::Debug for SchemeClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemeClients")
            .field("plain_built", &self.plain.get().is_some())
            .field("tls_built", &self.tls.get().is_some())
            .finish()
    }
}

/// Whether reqwest would send plain-http requests through an https proxy (from the
/// environment), which needs the trust store after all.
fn https_proxy_for_http() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .any(|v| {
            v.trim()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("https:"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_never_builds_the_tls_client() {
        let clients = SchemeClients::new(|| {
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
        });
        if !https_proxy_for_http() {
            clients.for_url("http://127.0.0.1:9/x").unwrap();
            clients.for_url("HTTP://localhost/y").unwrap();
            assert!(clients.plain.get().is_some());
            assert!(clients.tls.get().is_none(), "{clients:?}");
        }
        clients.for_url("https://example.com/z").unwrap();
        assert!(clients.tls.get().is_some());
    }
}
