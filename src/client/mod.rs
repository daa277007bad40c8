//! The one OAuth/MCP flow client used by tests, scenario steps and benches.
//!
//! [`FlowClient`] drives an OAuth proxy the way an MCP client and its user's browser would:
//! [`discover`](FlowClient::discover) (RFC 9728 then RFC 8414), [`register`](FlowClient::register)
//! (RFC 7591), [`authorize`](FlowClient::authorize) (following every redirect itself through
//! the consent page, the upstream IdP with a `login_hint` for headless login, and the proxy's
//! callback, stopping at the client's redirect URI), [`token_code`](FlowClient::token_code),
//! [`refresh`](FlowClient::refresh), [`revoke`](FlowClient::revoke), [`mcp`](FlowClient::mcp)
//! and a raw [`request`](FlowClient::request).
//!
//! Every operation returns an [`Exchange`] (whatever the HTTP status: judging it is the
//! caller's job) or a [`ClientError`] when no answer could be had. The client remembers what
//! each step produced in its [`FlowMemory`] (client id, redirect URI, code, PKCE verifier,
//! tokens…), and each request's [`Param::Auto`] fields take their value from it, so a flow
//! reads `register → authorize → token_code → mcp` with no plumbing, while any field can be
//! set explicitly or omitted to test the server's error handling.
//!
//! HTTP: reqwest with redirects off and a per-client cookie jar (`reqwest::cookie::Jar`, applied
//! by the client itself so that one connection pool can serve many independent flows, see
//! [`FlowClient::with_http`]). Secrets are masked in every `Display`.

mod authorize;
mod discover;
mod error;
mod exchange;
pub mod html;
mod mcp;
mod sse;
mod token;

pub use authorize::{AuthorizeOutcome, AuthorizeRequest, Consent, FollowOptions, Pkce};
pub use discover::{BearerChallenge, Discovery, as_metadata_urls, prm_urls};
pub use error::ClientError;
pub use exchange::{
    Exchange, Headers, Hop, RequestSummary, SECRET_KEYS, header_value, is_secret_key, mask,
    mask_body, mask_form, mask_header, mask_json, mask_url,
};
pub use mcp::McpRequest;
pub use sse::{SseEvent, first_data_event, parse_events};
pub use token::{ClientAuth, RefreshRequest, RevokeRequest, TokenCodeRequest};

use parking_lot::Mutex;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The default per-request timeout (a whole request, body included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a response body the client reads; the rest is dropped.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// The MCP path assumed until discovery or [`FlowClient::set_mcp_url`] says otherwise.
pub const DEFAULT_MCP_PATH: &str = "/mcp";

/// A request field: taken from the flow's memory (or generated), left out, or given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Param {
    /// The remembered (or generated) value; each field documents what that is.
    #[default]
    Auto,
    /// Leave the parameter out of the request.
    Omit,
    /// Send exactly this value.
    Value(String),
}

impl Param {
    /// The value to send: `auto()` for [`Param::Auto`].
    pub fn resolve(&self, auto: impl FnOnce() -> Option<String>) -> Option<String> {
        match self {
            Param::Auto => auto(),
            Param::Omit => None,
            Param::Value(v) => Some(v.clone()),
        }
    }
}

impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Value(v.to_owned())
    }
}

impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Value(v)
    }
}

impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Value(v.clone())
    }
}

/// Where the flow's requests go. Defaults are the proxy's conventional paths under its base
/// URL; [`FlowClient::discover`] replaces them with what the metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: Option<String>,
    pub authorization: String,
    pub token: String,
    pub registration: String,
    pub revocation: String,
    pub mcp: String,
}

impl Endpoints {
    fn defaults(base: &str) -> Endpoints {
        Endpoints {
            issuer: None,
            authorization: format!("{base}/authorize"),
            token: format!("{base}/token"),
            registration: format!("{base}/register"),
            revocation: format!("{base}/revoke"),
            mcp: format!("{base}{DEFAULT_MCP_PATH}"),
        }
    }
}

/// What the flow has learned so far; the source of every [`Param::Auto`].
#[derive(Clone, PartialEq, Eq)]
pub struct FlowMemory {
    pub endpoints: Endpoints,
    /// The protected resource (from discovery, or set): sent as `resource`.
    pub resource: Option<String>,
    /// The scope to ask for (the 401 challenge's, else the PRM's `scopes_supported`).
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code: Option<String>,
    pub code_verifier: Option<String>,
    pub iss: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub mcp_session_id: Option<String>,
    pub mcp_protocol_version: Option<String>,
    /// Every client registered in this flow: `client_id` → its own `(client_secret,
    /// token_endpoint_auth_method)`, so a request for one client never carries another's
    /// secret.
    pub registrations: std::collections::BTreeMap<String, (Option<String>, Option<String>)>,
}

impl FlowMemory {
    fn new(base: &str) -> FlowMemory {
        FlowMemory {
            endpoints: Endpoints::defaults(base),
            resource: None,
            scope: None,
            client_id: None,
            client_secret: None,
            token_endpoint_auth_method: None,
            redirect_uri: None,
            state: None,
            code: None,
            code_verifier: None,
            iss: None,
            access_token: None,
            refresh_token: None,
            mcp_session_id: None,
            mcp_protocol_version: None,
            registrations: std::collections::BTreeMap::new(),
        }
    }
}

impl fmt::Debug for FlowMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |v: &Option<String>| v.as_deref().map(mask);
        f.debug_struct("FlowMemory")
            .field("endpoints", &self.endpoints)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("client_secret", &secret(&self.client_secret))
            .field(
                "token_endpoint_auth_method",
                &self.token_endpoint_auth_method,
            )
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &self.state)
            .field("code", &secret(&self.code))
            .field("code_verifier", &secret(&self.code_verifier))
            .field("iss", &self.iss)
            .field("access_token", &secret(&self.access_token))
            .field("refresh_token", &secret(&self.refresh_token))
            .field("mcp_session_id", &self.mcp_session_id)
            .field("mcp_protocol_version", &self.mcp_protocol_version)
            .field(
                "registrations",
                &self.registrations.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A raw request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RawBody {
    #[default]
    None,
    /// Sent with `Content-Type: application/json`.
    Json(Value),
    /// Sent with `Content-Type: application/x-www-form-urlencoded`, pairs in order
    /// (duplicates allowed).
    Form(Vec<(String, String)>),
    /// Sent as is, with the given content type if any.
    Text {
        content_type: Option<String>,
        text: String,
    },
}

/// A raw HTTP request: anything the OAuth verbs do not cover.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRequest {
    pub method: String,
    /// Absolute, or a path resolved against the proxy's base URL.
    pub url: String,
    /// Sent in order (repeat a name to send it twice). A `Cookie` header given here replaces
    /// the jar's cookies for this request.
    pub headers: Vec<(String, String)>,
    pub body: RawBody,
}

impl RawRequest {
    pub fn get(url: impl Into<String>) -> RawRequest {
        RawRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: RawBody::None,
        }
    }

    pub fn post(url: impl Into<String>, body: RawBody) -> RawRequest {
        RawRequest {
            method: "POST".into(),
            url: url.into(),
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> RawRequest {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// How much of an answer to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// The whole body (up to [`MAX_RESPONSE_BYTES`]).
    Full,
    /// For `text/event-stream`: up to the first event carrying data; otherwise the whole body.
    FirstSseEvent,
}

/// The OAuth/MCP flow client. Cheap to clone; clones share the cookie jar and the memory.
#[derive(Clone)]
pub struct FlowClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    base_str: String,
    http: reqwest::Client,
    jar: Mutex<Arc<Jar>>,
    memory: Mutex<FlowMemory>,
}

impl FlowClient {
    /// A client for the proxy at `base_url` (e.g. `http://127.0.0.1:8000`), with its own
    /// connection pool.
    pub fn new(base_url: &str) -> Result<FlowClient, ClientError> {
        FlowClient::with_http(base_url, FlowClient::http_client(DEFAULT_TIMEOUT)?)
    }

    /// A client sharing `http`'s connection pool (for benches running many flows). `http`
    /// must not follow redirects nor keep cookies itself: use [`FlowClient::http_client`].
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<FlowClient, ClientError> {
        let base = Url::parse(base_url).map_err(|e| ClientError::InvalidUrl {
            url: base_url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl {
                url: base_url.to_owned(),
                reason: "the proxy URL must be http or https".into(),
            });
        }
        let base_str = base_url.trim_end_matches('/').to_owned();
        Ok(FlowClient {
            inner: Arc::new(Inner {
                memory: Mutex::new(FlowMemory::new(&base_str)),
                base,
                base_str,
                http,
                jar: Mutex::new(Arc::new(Jar::default())),
            }),
        })
    }

    /// The HTTP client the flow client expects: no redirects, no cookie store (the flow
    /// client applies its own jar), no environment proxies, `timeout` per request.
    pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
        FlowClient::http_client_builder(timeout)
            .build()
            .map_err(ClientError::Build)
    }

    /// The builder of [`FlowClient::http_client`], to add settings of one's own (a bench binds
    /// each simulated client to its own source address with `local_address`).
    pub fn http_client_builder(timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
    }

    /// The proxy's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_str
    }

    /// A copy of what the flow has learned so far.
    pub fn memory(&self) -> FlowMemory {
        self.inner.memory.lock().clone()
    }

    /// Changes the flow's memory (to set a value for later `Auto` fields, or forget one).
    pub fn update_memory<R>(&self, change: impl FnOnce(&mut FlowMemory) -> R) -> R {
        change(&mut self.inner.memory.lock())
    }

    /// Sets the MCP endpoint URL (and the `resource` sent in OAuth requests, when none is
    /// known yet).
    pub fn set_mcp_url(&self, url: &str) {
        self.update_memory(|m| {
            m.endpoints.mcp = url.to_owned();
            if m.resource.is_none() {
                m.resource = Some(url.to_owned());
            }
        });
    }

    /// Forgets every cookie (a new browser).
    pub fn clear_cookies(&self) {
        *self.inner.jar.lock() = Arc::new(Jar::default());
    }

    /// The `Cookie` header the jar would send to `url`.
    pub fn cookies_for(&self, url: &str) -> Option<String> {
        let url = Url::parse(url).ok()?;
        let jar = self.inner.jar.lock().clone();
        jar.cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// Sends one raw request (no redirect following) and records the exchange.
    pub async fn request(&self, request: RawRequest) -> Result<Exchange, ClientError> {
        let url = self.resolve_url(&request.url)?;
        self.send(
            &request.method,
            url,
            &request.headers,
            &request.body,
            Read::Full,
        )
        .await
    }

    /// `url` resolved against the proxy's base URL.
    pub(crate) fn resolve_url(&self, url: &str) -> Result<Url, ClientError> {
        let resolved = if url.starts_with('/') && !url.starts_with("//") {
            Url::parse(&format!("{}{url}", self.inner.base_str))
        } else {
            self.inner.base.join(url)
        };
        let resolved = resolved.map_err(|e| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(resolved.scheme(), "http" | "https") {
            return Err(ClientError::InvalidUrl {
                url: url.to_owned(),
                reason: "only http and https can be requested".into(),
            });
        }
        Ok(resolved)
    }

    /// Sends one request with the jar's cookies, stores the answer's cookies, reads the body.
    pub(crate) async fn send(
        &self,
        method: &str,
        url: Url,
        headers: &[(String, String)],
        body: &RawBody,
        read: Read,
    ) -> Result<Exchange, ClientError> {
        let method_parsed = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            ClientError::InvalidHeader {
                name: "method".into(),
                reason: format!("{method:?} is not an HTTP method"),
            }
        })?;
        let mut header_map = reqwest::header::HeaderMap::new();
        let mut summary_headers: Headers = Vec::new();
        let mut add = |name: &str, value: &str| -> Result<(), ClientError> {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                ClientError::InvalidHeader {
                    name: name.to_owned(),
                    reason: e.to_string(),
                }
            })?;
            let v = HeaderValue::from_str(value).map_err(|e| ClientError::InvalidHeader {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
            summary_headers.push((n.as_str().to_owned(), mask_header(n.as_str(), value)));
            header_map.append(n, v);
            Ok(())
        };
        for (name, value) in headers {
            add(name, value)?;
        }
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let jar = self.inner.jar.lock().clone();
        if !has("cookie")
            && let Some(cookies) = jar.cookies(&url)
            && let Ok(cookies) = cookies.to_str()
        {
            add("cookie", cookies)?;
        }
        let (content_type, text) = match body {
            RawBody::None => (None, None),
            RawBody::Json(v) => (Some("application/json".to_owned()), Some(v.to_string())),
            RawBody::Form(pairs) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                (
                    Some("application/x-www-form-urlencoded".to_owned()),
                    Some(encoded),
                )
            }
            RawBody::Text { content_type, text } => (content_type.clone(), Some(text.clone())),
        };
        if let Some(ct) = &content_type
            && !has("content-type")
        {
            add("content-type", ct)?;
        }
        let summary_body = text
            .as_deref()
            .map(|t| mask_body(t, content_type.as_deref()));
        let mut builder = self
            .inner
            .http
            .request(method_parsed, url.clone())
            .headers(header_map);
        if let Some(text) = text {
            builder = builder.body(text);
        }
        let transport = |e: reqwest::Error| {
            // The URL is reported (masked) on its own; keep it out of the message.
            let e = e.without_url();
            ClientError::Transport {
                method: method.to_owned(),
                url: mask_url(url.as_str()),
                message: error_chain(&e),
                source: e,
            }
        };
        let started = std::time::Instant::now();
        let mut response = builder.send().await.map_err(transport)?;
        let mut set_cookies = response
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter();
        jar.set_cookies(&mut set_cookies, &url);
        let status = response.status().as_u16();
        let response_headers: Headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let is_sse = header_value(&response_headers, "content-type").is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
        let mut bytes: Vec<u8> = Vec::new();
        let mut sse_json = None;
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            let room = MAX_RESPONSE_BYTES.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if read == Read::FirstSseEvent
                && is_sse
                && let Some(event) = first_data_event(&String::from_utf8_lossy(&bytes))
            {
                sse_json = Some(serde_json::from_str(&event.data).ok());
                break;
            }
            if bytes.len() >= MAX_RESPONSE_BYTES {
                break;
            }
        }
        let body_text = String::from_utf8_lossy(&bytes).into_owned();
        let json = match sse_json {
            Some(parsed) => parsed,
            None if is_sse => {
                first_data_event(&body_text).and_then(|e| serde_json::from_str(&e.data).ok())
            }
            None if body_text.trim().is_empty() => None,
            None => serde_json::from_str(&body_text).ok(),
        };
        Ok(Exchange {
            request: RequestSummary {
                method: method.to_owned(),
                url: url.to_string(),
                headers: summary_headers,
                body: summary_body,
            },
            status,
            headers: response_headers,
            body: body_text,
            json,
            elapsed: started.elapsed(),
        })
    }
}

/// An error and its sources, joined with `: ` (reqwest's own message is terse).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut current = err.source();
    while let Some(e) = current {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
