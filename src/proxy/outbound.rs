//! Calls to other servers: the IdP, a client's metadata document host, the MCP backend.
//!
//! One place for what every outbound call shares: how the reqwest clients are built (per URL
//! scheme, on first use), how much of an answer is read, and how a failed call is described
//! ([`UpstreamError`], without the URL, which may carry secrets).

use crate::oauth::error::OAuthError;
use anyhow::Context as _;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The largest upstream response body read.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The longest wait for a TCP (and TLS) connection to the IdP; the configured
/// `upstream.timeout`, applied to every request as a whole, can make it shorter.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the HTTP clients for the IdP are built: no redirects, no cookie store; the configured
/// timeout is set on each request. (Also used by `authproof validate --live`.)
pub fn upstream_http() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("authproof/", env!("CARGO_PKG_VERSION")))
}

/// An upstream call that did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Unreachable, timed out, or answered 429/502/503/504.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// An answer that is not a usable OAuth response.
    #[error("the identity provider answered with something unusable: {0}")]
    BadResponse(String),
    /// A well-formed OAuth error from the IdP.
    #[error("the identity provider answered {error}{}", .description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Rejected {
        /// The IdP's error code.
        error: String,
        /// The IdP's description.
        description: Option<String>,
    },
}

impl UpstreamError {
    /// Whether the IdP answered `invalid_grant` (the grant is over).
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, UpstreamError::Rejected { error, .. } if error == "invalid_grant")
    }

    /// The error the proxy's client gets at the token endpoint.
    pub fn to_token_error(&self) -> OAuthError {
        match self {
            UpstreamError::Unavailable(_) => OAuthError::temporarily_unavailable(self.to_string()),
            UpstreamError::BadResponse(_) => OAuthError::server_error(self.to_string()),
            e if e.is_invalid_grant() => OAuthError::invalid_grant(self.to_string()),
            UpstreamError::Rejected { error, .. } if error == "temporarily_unavailable" => {
                OAuthError::temporarily_unavailable(self.to_string())
            }
            UpstreamError::Rejected { .. } => OAuthError::server_error(self.to_string()),
        }
    }

    /// The error code for an authorization response (RFC 6749 §4.1.2.1 codes only).
    pub fn authorization_error_code(&self) -> &'static str {
        match self {
            UpstreamError::Unavailable(_) => "temporarily_unavailable",
            UpstreamError::Rejected { error, .. } if error == "temporarily_unavailable" => {
                "temporarily_unavailable"
            }
            e if e.is_invalid_grant() => "access_denied",
            _ => "server_error",
        }
    }
}

/// A failed request as an [`UpstreamError`] (without the URL, which may carry secrets).
pub fn reqwest_error(e: &reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Unavailable("timed out".into())
    } else if e.is_connect() {
        UpstreamError::Unavailable("connection failed".into())
    } else if e.is_request() {
        UpstreamError::Unavailable(format!("request failed: {}", without_url(e)))
    } else {
        UpstreamError::BadResponse(without_url(e))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" for url ({u})"), "");
    }
    s
}

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

/// Extra root certificates that every outbound https call trusts besides the system's
/// (`outbound_ca_file`: an IdP, a client's metadata host or an MCP backend behind a private
/// certificate authority). Empty by default.
#[derive(Clone, Default)]
pub struct TrustRoots(Arc<Vec<reqwest::Certificate>>);

impl TrustRoots {
    /// The certificates of a PEM bundle; none without a path. A file that cannot be read or
    /// holds no certificate is an error naming the file.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let pem = std::fs::read(path)
            .with_context(|| format!("outbound_ca_file: cannot read {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            anyhow::anyhow!(
                "outbound_ca_file: {} is not a PEM certificate bundle: {e}",
                path.display()
            )
        })?;
        anyhow::ensure!(
            !certs.is_empty(),
            "outbound_ca_file: {} holds no PEM certificate",
            path.display()
        );
        Ok(Self(Arc::new(certs)))
    }

    /// How many certificates.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustRoots({} extra)", self.0.len())
    }
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

    /// The same clients, trusting `roots` besides the system's roots for https.
    pub fn trusting(self, roots: &TrustRoots) -> Self {
        if roots.is_empty() {
            return self;
        }
        let roots = roots.clone();
        let configure = self.configure;
        Self::new(move || configure().tls_certs_merge(roots.0.iter().cloned()))
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

    #[test]
    fn trust_roots_load_a_pem_bundle_and_name_the_file_in_errors() {
        assert!(TrustRoots::load(None).unwrap().is_empty());
        let dir = std::env::temp_dir().join(format!("authproof-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let e = TrustRoots::load(Some(&missing)).unwrap_err().to_string();
        assert!(
            e.contains("outbound_ca_file") && e.contains("missing.pem"),
            "{e}"
        );
        let garbage = dir.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let e = TrustRoots::load(Some(&garbage)).unwrap_err().to_string();
        assert!(e.contains("garbage.pem"), "{e}");
        let good = dir.join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        std::fs::write(&good, cert.cert.pem()).unwrap();
        let roots = TrustRoots::load(Some(&good)).unwrap();
        assert_eq!(roots.len(), 1);
        // Trusting roots still builds working clients for both schemes.
        let clients = SchemeClients::new(upstream_http).trusting(&roots);
        clients.for_url("https://example.com/").unwrap();
        clients.for_url("http://127.0.0.1:9/").unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
