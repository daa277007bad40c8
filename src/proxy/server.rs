//! The proxy's router and its in-process server.

use crate::oauth::error::OAuthError;
use crate::proxy::bearer::BearerVerifier;
use crate::proxy::bounds::{self, BoundsLayer, BoundsService, Endpoint};
use crate::proxy::config::{ConsentMode, ProxyConfig, StorageSpec};
use crate::proxy::guard::ProxyVerifier;
use crate::proxy::params::MAX_FORM_BYTES;
use crate::proxy::providers::authkit;
use crate::proxy::resource::{self, McpEndpoint, ResourceGuard};
use crate::proxy::state::ProxyState;
use crate::proxy::store::Store;
use crate::proxy::{authorize, callback, consent, metadata, register, revoke, token};
use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use foundations::Clock;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::Layer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// The proxy's HTTP routes: OAuth endpoints, metadata, the callback, consent, and the guarded
/// MCP endpoint at `mcp_path` (all under the path of base_url), behind the
/// [`BoundsLayer::front`] layer (Host check, client address).
pub fn router(st: Arc<ProxyState>) -> Router {
    let verifier: Arc<dyn BearerVerifier> = if st.config.provider.is_remote_auth() {
        authkit::guard(&st).verifier
    } else {
        Arc::new(ProxyVerifier::new(st.clone()))
    };
    router_with_verifier(st, verifier)
}

/// [`router`] with `verifier` checking the bearer tokens on the MCP path in place of the one
/// the mode uses: everything else (routes, layers, the echo endpoint or the backend) is the
/// same. The guard benchmark measures each stage of the token check this way.
pub fn router_with_verifier(st: Arc<ProxyState>, verifier: Arc<dyn BearerVerifier>) -> Router {
    let routes = if st.config.provider.is_remote_auth() {
        let guard = ResourceGuard {
            verifier,
            ..authkit::guard(&st)
        };
        let mcp = mcp_endpoint(&st, guard);
        authkit::metadata_router(st.clone())
            .nest_service(&format!("{}{}", st.base_path, st.config.mcp_path), mcp)
            .fallback(not_found)
    } else {
        oauth_router(st.clone(), verifier)
    };
    routes.layer(BoundsLayer::front(st.bounds.clone()))
}

/// The guarded MCP endpoint, behind the `Origin` check.
pub fn mcp_endpoint(st: &ProxyState, guard: ResourceGuard) -> BoundsService<McpEndpoint> {
    BoundsLayer::mcp_origin(st.bounds.clone()).layer(resource::mcp_service(guard))
}

/// `route` with `Cache-Control: no-store` and `Pragma: no-cache` on every answer, success or
/// error (RFC 6749 §5.1, RFC 7591 §3.2.1): the one place the OAuth JSON endpoints get them.
fn no_store(
    route: axum::routing::MethodRouter<Arc<ProxyState>>,
) -> axum::routing::MethodRouter<Arc<ProxyState>> {
    route.layer(
        tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::PRAGMA,
                HeaderValue::from_static("no-cache"),
            )),
    )
}

/// `route` behind the rate limit of `endpoint`.
fn limited(
    st: &ProxyState,
    endpoint: Endpoint,
    route: axum::routing::MethodRouter<Arc<ProxyState>>,
) -> axum::routing::MethodRouter<Arc<ProxyState>> {
    route.layer(axum::middleware::from_fn_with_state(
        (st.bounds.clone(), endpoint),
        bounds::limit,
    ))
}

fn oauth_router(st: Arc<ProxyState>, verifier: Arc<dyn BearerVerifier>) -> Router {
    let bp = st.base_path.clone();
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("mcp-protocol-version"),
        ])
        .max_age(Duration::from_secs(600));
    let mut api = Router::new()
        .route(
            &format!("{bp}/register"),
            limited(&st, Endpoint::Register, no_store(post(register::register))),
        )
        .route(
            &format!("{bp}/token"),
            limited(&st, Endpoint::Token, no_store(post(token::token))),
        )
        .route(
            &format!("{bp}/revoke"),
            limited(&st, Endpoint::Revoke, no_store(post(revoke::revoke))),
        )
        .route(
            &st.resource_metadata_path,
            get(metadata::protected_resource_handler),
        );
    for p in metadata::authorization_server_paths(&st) {
        api = api.route(&p, get(metadata::authorization_server_handler));
    }
    let browser = Router::new()
        .route(
            &format!("{bp}/authorize"),
            limited(
                &st,
                Endpoint::Authorize,
                get(authorize::authorize).post(authorize::authorize),
            ),
        )
        .route(
            &format!("{bp}/consent"),
            limited(
                &st,
                Endpoint::Consent,
                get(consent::consent).post(consent::consent),
            ),
        )
        .route(
            &format!("{bp}{}", st.config.redirect_path),
            get(callback::callback),
        );
    let oauth = api
        .layer(cors)
        .merge(browser)
        .with_state(st.clone())
        .layer(RequestBodyLimitLayer::new(MAX_FORM_BYTES))
        .layer(axum::middleware::map_response(json_413));
    let guard = ResourceGuard {
        verifier,
        resource: st.resource.clone(),
        resource_metadata_url: st.resource_metadata_url.clone(),
        required_scopes: st.required_scopes.clone(),
        backend: st
            .config
            .backend
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok()),
        backend_roots: st.outbound_roots.clone(),
    };
    oauth
        .nest_service(
            &format!("{bp}{}", st.config.mcp_path),
            mcp_endpoint(&st, guard),
        )
        .fallback(not_found)
}

/// tower-http answers an oversize body (by Content-Length) with plain text; make it JSON.
async fn json_413(resp: Response) -> Response {
    let is_plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.to_str().is_ok_and(|s| s.starts_with("text/plain")));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && is_plain {
        return OAuthError::too_large(MAX_FORM_BYTES).into_response();
    }
    resp
}

/// 404 JSON for every path the proxy does not serve.
pub(crate) async fn not_found() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The connection bounds of a configuration (`timeouts`; the drain bound is fixed at
/// [`foundations::http::DEFAULT_DRAIN_BYTES`]).
pub fn conn_limits(config: &ProxyConfig) -> foundations::http::ConnLimits {
    foundations::http::ConnLimits {
        header: config.timeouts.header.get(),
        body: config.timeouts.body.get(),
        idle: config.timeouts.idle.get(),
        drain: foundations::http::DEFAULT_DRAIN_BYTES,
    }
}

/// How to run a proxy in-process.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Where to listen (default 127.0.0.1:0).
    pub listen: SocketAddr,
    /// The clock (share it with the mock IdP to move time in tests).
    pub clock: Clock,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            clock: Clock::system(),
        }
    }
}

/// Builds the store a configuration asks for (memory | file | redis, sealed at rest).
pub async fn build_store(
    spec: &StorageSpec,
    config: &ProxyConfig,
    clock: Clock,
) -> anyhow::Result<Arc<dyn Store>> {
    crate::proxy::store::open(spec, config, clock).await
}

/// The proxy.
pub struct Proxy;

impl Proxy {
    /// Bind, resolve the configuration and serve in the background.
    pub async fn spawn(config: ProxyConfig, opts: SpawnOptions) -> anyhow::Result<ProxyHandle> {
        let store = build_store(&config.storage, &config, opts.clock.clone()).await?;
        Self::spawn_with_store(config, opts, store).await
    }

    /// [`Proxy::spawn`] with a given store (tests, other backends).
    pub async fn spawn_with_store(
        config: ProxyConfig,
        opts: SpawnOptions,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<ProxyHandle> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let bound = listener.local_addr()?;
        let state = Arc::new(ProxyState::new(config, bound, opts.clock, store)?);
        if state.consent() == ConsentMode::Off {
            tracing::warn!(
                "consent is off: clients are sent to the identity provider without asking the user (trusted setups and tests only)"
            );
        }
        if state
            .config
            .allowed_client_redirect_uris
            .as_ref()
            .is_some_and(Vec::is_empty)
        {
            tracing::warn!(
                "allowed_client_redirect_uris is []: no client can register or authorize"
            );
        }
        let app = router(state.clone());
        let (tx, rx) = watch::channel(false);
        tokio::spawn(crate::proxy::store::held::log_held(
            state.records.store().clone(),
            rx.clone(),
        ));
        let limits = conn_limits(&state.config);
        let task = tokio::spawn(foundations::http::serve(
            listener,
            limits,
            foundations::http::OnShutdown::Finish,
            foundations::http::router_handler(app),
            rx,
        ));
        // Discover the upstream in the background; failures are retried when needed.
        let warm = state.clone();
        let remote = state.config.provider.is_remote_auth();
        tokio::spawn(async move {
            if remote {
                return;
            }
            if let Err(e) = warm.upstream.endpoints().await {
                tracing::warn!(error = %e, "upstream discovery failed (will retry on the next authorization)");
            }
        });
        Ok(ProxyHandle {
            addr: bound,
            state,
            shutdown: Arc::new(Mutex::new(Some(tx))),
            task: Arc::new(Mutex::new(Some(task))),
        })
    }
}

/// A running proxy.
#[derive(Clone)]
pub struct ProxyHandle {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    shutdown: Arc<Mutex<Option<watch::Sender<bool>>>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl ProxyHandle {
    /// The public base URL (no trailing slash).
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }
    /// The issuer identifier.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }
    /// The protected resource (base_url + mcp_path).
    pub fn resource(&self) -> String {
        self.state.resource.clone()
    }
    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The proxy's state (store, token issuer, …) for tests and tools.
    pub fn state(&self) -> &Arc<ProxyState> {
        &self.state
    }
    /// Stop accepting, finish in-flight requests (at most 5 s), and stop.
    pub async fn shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().take() {
            let _ = tx.send(true);
        }
        let task = self.task.lock().take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}
