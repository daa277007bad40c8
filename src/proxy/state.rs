//! Everything a request handler needs, resolved once at start.

use crate::proxy::bounds::Bounds;
use crate::proxy::cimd::{CimdError, CimdFetcher};
use crate::proxy::config::{ConsentMode, ProxyConfig};
use crate::proxy::cookies::Cookies;
use crate::proxy::jwt::TokenIssuer;
use crate::proxy::outbound::TrustRoots;
use crate::proxy::redirect::AllowList;
use crate::proxy::store::{ClientRecord, Records, Store, StoreError};
use crate::proxy::upstream::Upstream;
use crate::proxy::upstream::verify::UpstreamVerifier;
use anyhow::Context as _;
use foundations::Clock;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The proxy's resolved settings and services.
pub struct ProxyState {
    /// The configuration as given (after defaults).
    pub config: ProxyConfig,
    /// Public base URL without a trailing slash.
    pub base_url: String,
    /// The path part of base_url (`""` or `/prefix`); every route is served under it.
    pub base_path: String,
    /// The issuer identifier.
    pub issuer: String,
    /// The protected resource: base_url + mcp_path.
    pub resource: String,
    /// RFC 9728 metadata URL of the resource.
    pub resource_metadata_url: String,
    /// Path of the RFC 9728 document.
    pub resource_metadata_path: String,
    /// The redirect-URI allow-list.
    pub allow: AllowList,
    /// Scopes needed at the MCP path.
    pub required_scopes: Vec<String>,
    /// Typed storage.
    pub records: Records,
    /// The proxy's token issuer.
    pub tokens: TokenIssuer,
    /// The upstream IdP.
    pub upstream: Upstream,
    /// Verifies upstream tokens (ID tokens at the callback, access tokens at the guard,
    /// bearer tokens in remote-auth mode).
    pub upstream_verifier: UpstreamVerifier,
    /// CIMD documents.
    pub cimd: CimdFetcher,
    /// Extra roots every outbound https call trusts (`outbound_ca_file`).
    pub outbound_roots: TrustRoots,
    /// Cookie names and attributes.
    pub cookies: Cookies,
    /// The one clock.
    pub clock: Clock,
    /// Rate limits, caps, and the Host and Origin policy.
    pub bounds: Arc<Bounds>,
}

/// Why a client could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client_id is a CIMD URL whose document cannot be used.
    #[error(transparent)]
    Cimd(#[from] CimdError),
}

impl ProxyState {
    /// Resolve the configuration for a proxy listening on `bound`.
    pub fn new(
        config: ProxyConfig,
        bound: SocketAddr,
        clock: Clock,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        // Provider presets: endpoints, parameters and the verifier filled in once, here.
        let config = config.resolved()?;
        let base_url = match &config.base_url {
            Some(b) => b.trim_end_matches('/').to_string(),
            None => {
                let ip = if bound.ip().is_unspecified() {
                    "127.0.0.1".parse()?
                } else {
                    bound.ip()
                };
                format!("http://{}", SocketAddr::new(ip, bound.port()))
            }
        };
        let parsed = url::Url::parse(&base_url).context("base_url")?;
        let base_path = parsed.path().trim_end_matches('/').to_string();
        let origin = parsed.origin().ascii_serialization();
        let issuer = config
            .issuer_url
            .clone()
            .unwrap_or_else(|| base_url.clone());
        let resource = format!("{base_url}{}", config.mcp_path);
        let resource_metadata_path = format!(
            "/.well-known/oauth-protected-resource{base_path}{}",
            config.mcp_path
        );
        let resource_metadata_url = format!("{origin}{resource_metadata_path}");
        let allow = AllowList::from_config(config.allowed_client_redirect_uris.as_deref())
            .map_err(|e| anyhow::anyhow!("allowed_client_redirect_uris: {e}"))?;
        let key = match config
            .jwt_signing_key
            .as_ref()
            .or(config.upstream.client_secret.as_ref())
        {
            Some(s) => s.expose().as_bytes().to_vec(),
            // Remote auth issues no tokens of its own: a random key that nothing depends on.
            None if config.provider.is_remote_auth() => crate::oauth::random_token(32).into_bytes(),
            None => anyhow::bail!("jwt_signing_key or upstream.client_secret is required"),
        };
        let tokens = TokenIssuer::new(&key, &issuer, &resource, clock.clone());
        let roots = TrustRoots::load(config.outbound_ca_file.as_deref())?;
        let mut upstream = Upstream::new(
            config.upstream.clone(),
            format!("{base_url}{}", config.redirect_path),
            clock.clone(),
        )?;
        upstream.configure_for(&config);
        upstream.trust(&roots);
        let upstream_verifier = UpstreamVerifier::new(
            config.provider,
            config.upstream.clone(),
            resource.clone(),
            clock.clone(),
        )
        .trusting(&roots);
        let cimd =
            CimdFetcher::new(config.cimd_allow_http_loopback, clock.clone())?.trusting(&roots);
        let bounds = Bounds::new(&config, &parsed).map_err(anyhow::Error::msg)?;
        Ok(Self {
            bounds: Arc::new(bounds),
            outbound_roots: roots,
            required_scopes: config.effective_required_scopes(),
            cookies: Cookies::new(parsed.scheme() == "https"),
            records: Records::new(store),
            base_url,
            base_path,
            issuer,
            resource,
            resource_metadata_url,
            resource_metadata_path,
            allow,
            tokens,
            upstream,
            upstream_verifier,
            cimd,
            clock,
            config,
        })
    }

    /// An absolute URL of one of the proxy's endpoints (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The consent mode.
    pub fn consent(&self) -> ConsentMode {
        self.config.consent
    }

    /// Lifetime of transactions, consent forms and upstream flows.
    pub fn transaction_ttl(&self) -> Duration {
        self.config.transaction_ttl.get()
    }

    /// Now, in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// A registered client, or the client a CIMD URL describes; `None` when unknown.
    pub async fn find_client(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRecord>, ClientLookupError> {
        if client_id.is_empty() || client_id.len() > 2048 {
            return Ok(None);
        }
        if self.config.cimd_enabled && self.cimd.is_cimd_client_id(client_id) {
            return Ok(Some(self.cimd.client(client_id, &self.allow).await?));
        }
        Ok(self.records.get_client(client_id).await?)
    }

    /// The scope list a client gets: requested ones (checked), or its defaults.
    pub fn grant_scopes(
        &self,
        client: &ClientRecord,
        requested: Option<&str>,
    ) -> Result<Vec<String>, String> {
        let client_scopes: Option<Vec<&str>> = client
            .scope
            .as_deref()
            .map(|s| s.split_ascii_whitespace().collect());
        match requested.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(match &client_scopes {
                Some(cs) => cs.iter().map(|s| s.to_string()).collect(),
                None => self.config.valid_scopes.clone(),
            }),
            Some(req) => {
                let mut out: Vec<String> = Vec::new();
                for s in req.split(' ').filter(|s| !s.is_empty()) {
                    if !self.config.valid_scopes.iter().any(|v| v == s) {
                        return Err(format!("scope {s} is not offered by this server"));
                    }
                    if client_scopes.as_ref().is_some_and(|cs| !cs.contains(&s)) {
                        return Err(format!("scope {s} was not registered by this client"));
                    }
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_string());
                    }
                }
                Ok(out)
            }
        }
    }

    /// Whether `requested` names this server's resource (RFC 8707): byte-equal, or equal
    /// after URL normalisation (scheme and host case, default port, one trailing slash).
    pub fn is_own_resource(&self, requested: &str) -> bool {
        if requested == self.resource {
            return true;
        }
        let norm = |s: &str| {
            url::Url::parse(s)
                .ok()
                .filter(|u| u.fragment().is_none())
                .map(|u| u.as_str().trim_end_matches('/').to_string())
        };
        matches!((norm(requested), norm(&self.resource)), (Some(a), Some(b)) if a == b)
    }
}
