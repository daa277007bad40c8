//! The in-process server: [`MockIdp::builder`] → [`MockIdpHandle`].

use crate::clock::Clock;
use crate::config::{ClientConfig, Flavor, IdpConfig, UserConfig};
use crate::faults::FaultSpec;
use crate::journal::JournalEntry;
use crate::observe;
use crate::state::Idp;
use crate::store::StoreSizes;
use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use foundations::http::{ConnKill, ConnLimits, OnShutdown};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Entry point of the library API.
#[derive(Debug, Clone, Copy)]
pub struct MockIdp;

impl MockIdp {
    /// Start configuring a mock IdP.
    pub fn builder() -> MockIdpBuilder {
        MockIdpBuilder::default()
    }
}

/// Configures and spawns a mock IdP.
#[derive(Debug, Clone, Default)]
pub struct MockIdpBuilder {
    config: IdpConfig,
    clock: Option<Clock>,
    issuer: Option<String>,
    issuer_path: Option<String>,
    port: u16,
}

impl MockIdpBuilder {
    /// The configuration (clients, users, flavor…).
    pub fn config(mut self, config: IdpConfig) -> Self {
        self.config = config;
        self
    }

    /// The clock (share it with the proxy to move both in step). Default: real time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The exact issuer; overrides `config.issuer`. Default `http://127.0.0.1:PORT`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Serve under this path of the bound address: the issuer becomes
    /// `http://127.0.0.1:PORT{path}` (e.g. `/tenants/acme/`, trailing slash kept).
    /// Ignored when [`MockIdpBuilder::issuer`] is set.
    pub fn issuer_path(mut self, path: impl Into<String>) -> Self {
        self.issuer_path = Some(path.into());
        self
    }

    /// The port on 127.0.0.1 (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Bind, build the state (keys come from the cache when possible) and serve.
    pub async fn spawn(self) -> anyhow::Result<MockIdpHandle> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .with_context(|| format!("cannot bind 127.0.0.1:{}", self.port))?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}");
        let issuer = match (self.issuer, self.issuer_path) {
            (Some(i), _) => i,
            (None, Some(p)) => format!("{url}/{}", p.trim_start_matches('/')),
            (None, None) => self.config.issuer.clone().unwrap_or_else(|| url.clone()),
        };
        let clock = self.clock.unwrap_or_default();
        let config = self.config;
        let url2 = url.clone();
        // Key generation can take a while on a cold cache: keep it off the async threads.
        let idp = tokio::task::spawn_blocking(move || Idp::new(config, issuer, url2, clock))
            .await
            .context("IdP setup panicked")??;
        let idp = Arc::new(idp);
        let router = crate::endpoints::router(idp.clone());
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, idp.clone(), router, rx.clone()));
        tokio::spawn(sweeper(Arc::downgrade(&idp), rx));
        Ok(MockIdpHandle {
            inner: Arc::new(Inner {
                idp,
                url,
                shutdown: tx,
                task: parking_lot::Mutex::new(Some(task)),
            }),
        })
    }
}

/// Serve through the shared bounded server (header, body and idle timeouts; unread bodies
/// drained so that a client that writes first reads its 413), with faults and the journal
/// around every request. On shutdown the mock drops its connections at once, even mid-fault.
async fn serve(
    listener: TcpListener,
    idp: Arc<Idp>,
    router: Router,
    shutdown: watch::Receiver<bool>,
) {
    let handler = move |req: Request<Body>| {
        let (idp, router) = (idp.clone(), router.clone());
        async move {
            let kill = req.extensions().get::<ConnKill>().cloned();
            observe::handle(idp, router, req, kill).await
        }
    };
    foundations::http::serve(
        listener,
        ConnLimits::default(),
        OnShutdown::Drop,
        handler,
        shutdown,
    )
    .await;
}

async fn sweeper(idp: std::sync::Weak<Idp>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => match idp.upgrade() {
                Some(idp) => idp.sweep(),
                None => break,
            },
            _ = shutdown.changed() => break,
        }
    }
}

struct Inner {
    idp: Arc<Idp>,
    url: String,
    shutdown: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// A running mock IdP. Clones share it; the server stops at [`MockIdpHandle::shutdown`] or
/// when the last clone is dropped.
#[derive(Clone)]
pub struct MockIdpHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MockIdpHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockIdpHandle")
            .field("url", &self.inner.url)
            .field("issuer", &self.inner.idp.issuer)
            .finish_non_exhaustive()
    }
}

impl MockIdpHandle {
    fn idp(&self) -> &Idp {
        &self.inner.idp
    }

    /// Where it listens, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// The exact issuer.
    pub fn issuer(&self) -> String {
        self.idp().issuer.clone()
    }

    /// The flavor.
    pub fn flavor(&self) -> Flavor {
        self.idp().flavor
    }

    /// `{issuer}/.well-known/openid-configuration` (the github flavor answers 404 there).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.idp().base)
    }

    /// The RFC 8414 metadata URL in the OIDC-style position (`{issuer}/.well-known/…`).
    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-authorization-server", self.idp().base)
    }

    /// Absolute URLs of the flavor's endpoints by name (authorize, token, jwks, userinfo…).
    pub fn endpoints(&self) -> BTreeMap<String, String> {
        self.idp()
            .paths
            .named()
            .into_iter()
            .map(|(name, p)| (name.to_string(), self.idp().endpoint_url(p)))
            .collect()
    }

    /// The clock (shared, not a copy).
    pub fn clock(&self) -> Clock {
        self.idp().clock.clone()
    }

    /// The journal, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.idp().journal.lock().entries()
    }

    /// Forget the journal.
    pub fn clear_journal(&self) {
        self.idp().journal.lock().clear();
    }

    /// Arm a fault.
    pub fn add_fault(&self, fault: FaultSpec) {
        self.idp().add_fault(fault);
    }

    /// Disarm every fault.
    pub fn clear_faults(&self) {
        self.idp().faults.lock().clear();
    }

    /// The faults still armed.
    pub fn faults(&self) -> Vec<FaultSpec> {
        self.idp().faults.lock().specs()
    }

    /// Rotate the signing key; returns the new kid. The old key stays in the JWKS for
    /// `keys.rotation_overlap_secs`. (May block while a key is generated on a cold cache.)
    pub fn rotate_keys(&self) -> String {
        match self.idp().rotate_keys() {
            Ok(kid) => kid,
            Err(e) => {
                tracing::error!("key rotation failed: {e:#}");
                self.idp().signing_key().kid.clone()
            }
        }
    }

    /// The published JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        self.idp().jwks()
    }

    /// Add or replace a client.
    pub fn add_client(&self, client: ClientConfig) {
        self.idp().add_client(client);
    }

    /// Add or replace a user.
    pub fn add_user(&self, user: UserConfig) {
        self.idp().add_user(user);
    }

    /// The current configuration (clients, users and armed faults included).
    pub fn config(&self) -> IdpConfig {
        self.idp().current_config()
    }

    /// Back to the start configuration; drops codes, tokens and the journal (not the clock).
    pub fn reset(&self) {
        self.idp().reset();
    }

    /// How many codes, grants and tokens are held.
    pub fn store_sizes(&self) -> StoreSizes {
        self.idp().store.sizes()
    }

    /// Evict what has expired now (the server also does it every second).
    pub fn sweep(&self) {
        self.idp().sweep();
    }

    /// Stop serving and close every connection.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        let task = self.inner.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
