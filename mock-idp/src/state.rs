//! The state one running IdP shares between its handlers and its handle.

use crate::clock::Clock;
use crate::config::{ClientConfig, Flavor, IdpConfig, UserConfig};
use crate::faults::{FaultList, FaultSpec};
use crate::flavors::{self, MetadataInput, Paths};
use crate::journal::Journal;
use crate::keys::{KeyRing, SigningKey};
use crate::store::Store;
use anyhow::Context;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;

/// Users in the order they were configured (the login page lists them in that order).
#[derive(Debug, Default, Clone)]
pub struct Users {
    order: Vec<String>,
    by_sub: HashMap<String, UserConfig>,
}

impl Users {
    /// Add or replace a user.
    pub fn upsert(&mut self, u: UserConfig) {
        if !self.by_sub.contains_key(&u.sub) {
            self.order.push(u.sub.clone());
        }
        self.by_sub.insert(u.sub.clone(), u);
    }

    /// A user by subject.
    pub fn get(&self, sub: &str) -> Option<&UserConfig> {
        self.by_sub.get(sub)
    }

    /// All users in order.
    pub fn all(&self) -> Vec<UserConfig> {
        self.order
            .iter()
            .filter_map(|s| self.by_sub.get(s).cloned())
            .collect()
    }
}

/// One running mock IdP.
#[derive(Debug)]
pub struct Idp {
    /// Flavor (fixed at start).
    pub flavor: Flavor,
    /// The exact issuer.
    pub issuer: String,
    /// Endpoint URL base: the issuer without a trailing slash.
    pub base: String,
    /// Route prefix: the issuer's path without a trailing slash (`""` at the root).
    pub prefix: String,
    /// The URL the server listens on (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Endpoint paths of the flavor.
    pub paths: Paths,
    /// Time.
    pub clock: Clock,
    /// The configuration at start (what `reset` goes back to).
    pub initial: IdpConfig,
    /// Current settings (clients, users and faults live in their own fields).
    pub settings: RwLock<IdpConfig>,
    /// Clients by id.
    pub clients: RwLock<HashMap<String, Arc<ClientConfig>>>,
    /// Users.
    pub users: RwLock<Users>,
    /// Armed faults.
    pub faults: Mutex<FaultList>,
    /// Signing keys.
    pub keys: RwLock<KeyRing>,
    /// The keys at start (what `reset` goes back to).
    initial_keys: KeyRing,
    /// Issued codes and tokens.
    pub store: Store,
    /// Request journal.
    pub journal: Mutex<Journal>,
    /// Endpoint names by route path, for the journal and fault matching.
    endpoint_names: HashMap<String, &'static str>,
}

impl Idp {
    /// Build the state for `config`, serving `issuer`, listening at `url`.
    pub fn new(
        config: IdpConfig,
        issuer: String,
        url: String,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        config
            .validate()
            .map_err(anyhow::Error::msg)
            .context("invalid IdP configuration")?;
        let parsed =
            url::Url::parse(&issuer).with_context(|| format!("invalid issuer {issuer:?}"))?;
        let base = issuer.trim_end_matches('/').to_string();
        let prefix = parsed.path().trim_end_matches('/').to_string();
        let paths = flavors::paths(config.flavor);
        let keys = KeyRing::new(&config.keys, config.flavor == Flavor::Workos)?;
        let mut endpoint_names = HashMap::new();
        for (name, p) in paths.named() {
            endpoint_names.insert(format!("{prefix}{p}"), name);
        }
        for p in discovery_paths(&prefix, "openid-configuration") {
            endpoint_names.insert(p, "discovery");
        }
        for p in discovery_paths(&prefix, "oauth-authorization-server") {
            endpoint_names.insert(p, "authorization_server_metadata");
        }
        let idp = Idp {
            flavor: config.flavor,
            issuer,
            base,
            prefix,
            url,
            paths,
            clock,
            journal: Mutex::new(Journal::new(config.journal.max_entries)),
            settings: RwLock::new(IdpConfig::default()),
            clients: RwLock::new(HashMap::new()),
            users: RwLock::new(Users::default()),
            faults: Mutex::new(FaultList::default()),
            keys: RwLock::new(keys.clone()),
            initial_keys: keys,
            store: Store::default(),
            initial: config,
            endpoint_names,
        };
        idp.load(&idp.initial.clone());
        Ok(idp)
    }

    fn load(&self, config: &IdpConfig) {
        let mut settings = config.clone();
        settings.clients.clear();
        settings.users.clear();
        settings.faults.clear();
        *self.settings.write() = settings;
        *self.clients.write() = config
            .clients
            .iter()
            .map(|c| (c.id.clone(), Arc::new(c.clone())))
            .collect();
        let mut users = Users::default();
        for u in &config.users {
            users.upsert(u.clone());
        }
        *self.users.write() = users;
        let mut faults = self.faults.lock();
        faults.clear();
        for f in &config.faults {
            faults.push(f.clone());
        }
    }

    /// Back to the configuration at start: clients, users, faults, keys; codes, tokens and
    /// the journal are dropped. The clock is left alone (it may be shared).
    pub fn reset(&self) {
        *self.keys.write() = self.initial_keys.clone();
        self.load(&self.initial.clone());
        self.store.clear();
        self.journal.lock().clear();
    }

    /// The endpoint name of a request path (`token`, `discovery`, …).
    pub fn endpoint_name(&self, path: &str) -> Option<&'static str> {
        self.endpoint_names.get(path).copied()
    }

    /// Absolute URL of an endpoint path of the flavor.
    pub fn endpoint_url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// What the discovery documents are made from.
    pub fn metadata_input(&self) -> MetadataInput<'_> {
        MetadataInput {
            issuer: &self.issuer,
            base: &self.base,
            registration: self.settings.read().registration_enabled(),
            signing_alg: self.keys.read().algorithm(),
        }
    }

    /// A client by id.
    pub fn client(&self, id: &str) -> Option<Arc<ClientConfig>> {
        self.clients.read().get(id).cloned()
    }

    /// Add or replace a client.
    pub fn add_client(&self, c: ClientConfig) {
        self.clients.write().insert(c.id.clone(), Arc::new(c));
    }

    /// Add or replace a user.
    pub fn add_user(&self, u: UserConfig) {
        self.users.write().upsert(u);
    }

    /// Arm a fault.
    pub fn add_fault(&self, f: FaultSpec) {
        self.faults.lock().push(f);
    }

    /// The current configuration, clients, users and armed faults included.
    pub fn current_config(&self) -> IdpConfig {
        let mut c = self.settings.read().clone();
        let mut clients: Vec<ClientConfig> = self
            .clients
            .read()
            .values()
            .map(|c| (**c).clone())
            .collect();
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        c.clients = clients;
        c.users = self.users.read().all();
        c.faults = self.faults.lock().specs();
        c
    }

    /// The key that signs now.
    pub fn signing_key(&self) -> Arc<SigningKey> {
        self.keys.read().active()
    }

    /// Rotate: a new key signs, the old one stays published for the overlap window.
    /// Returns the new kid. Generating the key happens outside the lock.
    pub fn rotate_keys(&self) -> anyhow::Result<String> {
        let (seed, index, spec) = self.keys.read().next_rotation();
        let key = SigningKey::derive(&seed, index, spec)?;
        let now = self.clock.now_unix();
        let mut ring = self.keys.write();
        ring.prune(now);
        Ok(ring.install_rotated(index, key, now))
    }

    /// The published JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.read().jwks(self.clock.now_unix())
    }

    /// Drop expired codes, tokens and keys.
    pub fn sweep(&self) {
        let now = self.clock.now_unix();
        self.store.sweep(now);
        self.keys.write().prune(now);
    }
}

/// The request paths of a well-known document for an issuer path: OIDC-style
/// (`{prefix}/.well-known/x`) and RFC 8414-style (`/.well-known/x{prefix}`).
pub fn discovery_paths(prefix: &str, doc: &str) -> Vec<String> {
    let mut v = vec![format!("{prefix}/.well-known/{doc}")];
    if !prefix.is_empty() {
        v.push(format!("/.well-known/{doc}{prefix}"));
    }
    v
}
