//! Targets: the embedded proxy + mock IdP (one pair per trial, isolated, on port 0, sharing
//! one clock), or an external proxy with an optional running mock IdP driven through its
//! `/_mock/` control API.

use super::error::{from_value_with_path, located_error};
use super::load::LoadedScenario;
use super::model::{Located, is_template};
use super::profile::Profile;
use super::template;
use crate::proxy::config::ProxyConfig;
use mock_idp::config::IdpConfig;
use mock_idp::{Clock, FaultSpec, MockIdp, MockIdpHandle};
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

/// Where scenarios run.
#[derive(Debug, Clone, Default)]
pub enum TargetConfig {
    /// Each variant gets its own mock IdP and proxy, in-process on port 0.
    #[default]
    Embedded,
    /// A running proxy (and optionally a running mock IdP driven through `/_mock/`).
    External(Box<ExternalTarget>),
}

impl TargetConfig {
    pub fn is_embedded(&self) -> bool {
        matches!(self, TargetConfig::Embedded)
    }
}

#[derive(Debug, Clone)]
pub struct ExternalTarget {
    /// The proxy's base URL.
    pub target: String,
    /// The mock IdP's base URL (its control API is used for `idp.*` steps).
    pub idp: Option<String>,
    pub profile: Profile,
}

/// What templates can say about the target (`proxy.*`, `idp.*`).
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub proxy_url: String,
    pub proxy_issuer: String,
    pub proxy_resource: String,
    pub mcp_path: String,
    pub redirect_path: String,
    pub idp_url: Option<String>,
    pub idp_issuer: Option<String>,
    /// Whether the target advertises `authorization_response_iss_parameter_supported`
    /// (RFC 9207 binds only a server that supports it).
    pub iss_parameter_supported: bool,
    /// The target's architecture (`own_tokens`, `own_callback`, `public_clients`): the
    /// profile's, or authproof's when the profile does not say.
    pub architecture: Vec<String>,
}

impl Facts {
    pub fn proxy_value(&self) -> Value {
        json!({
            "url": self.proxy_url,
            "issuer": self.proxy_issuer,
            "resource": self.proxy_resource,
            "mcp_path": self.mcp_path,
            "redirect_path": self.redirect_path,
            "callback": format!("{}{}", self.proxy_url, self.redirect_path),
            "iss_parameter_supported": self.iss_parameter_supported,
            "architecture": self.architecture,
        })
    }

    pub fn idp_value(&self) -> Value {
        match (&self.idp_url, &self.idp_issuer) {
            (Some(url), issuer) => json!({
                "url": url,
                "issuer": issuer.clone().unwrap_or_else(|| url.clone()),
            }),
            _ => json!({}),
        }
    }
}

/// The mock IdP of a trial.
pub enum Idp {
    Embedded(MockIdpHandle),
    External { base: String, http: reqwest::Client },
    Absent,
}

/// A clock operation.
#[derive(Debug, Clone, Copy)]
pub enum ClockOp {
    Advance(Duration),
    Freeze,
    Resume,
    Set(i64),
}

impl Idp {
    fn absent() -> String {
        "this target has no mock IdP (give --idp URL for an external target)".into()
    }

    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let Idp::External { base, http } = self else {
            return Err(Self::absent());
        };
        let url = format!("{base}/_mock{path}");
        let mut req = http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The journal as JSON entries.
    pub async fn journal(&self) -> Result<Vec<Value>, String> {
        match self {
            Idp::Embedded(h) => Ok(h
                .journal()
                .into_iter()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect()),
            Idp::External { .. } => {
                let v = self.control(reqwest::Method::GET, "/journal", None).await?;
                Ok(v.as_array().cloned().unwrap_or_default())
            }
            Idp::Absent => Err(Self::absent()),
        }
    }

    pub async fn add_fault(&self, spec: Value) -> Result<(), String> {
        match self {
            Idp::Embedded(h) => {
                let f: FaultSpec = from_value_with_path(spec, "idp.fault")?;
                h.add_fault(f);
                Ok(())
            }
            Idp::External { .. } => {
                let _: FaultSpec = from_value_with_path(spec.clone(), "idp.fault")?;
                self.control(reqwest::Method::POST, "/faults", Some(spec))
                    .await
                    .map(|_| ())
            }
            Idp::Absent => Err(Self::absent()),
        }
    }

    pub async fn rotate_keys(&self) -> Result<(), String> {
        match self {
            Idp::Embedded(h) => {
                let h = h.clone();
                tokio::task::spawn_blocking(move || h.rotate_keys())
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("key rotation failed: {e}"))
            }
            Idp::External { .. } => self
                .control(reqwest::Method::POST, "/keys/rotate", None)
                .await
                .map(|_| ()),
            Idp::Absent => Err(Self::absent()),
        }
    }

    pub async fn clock(&self, op: ClockOp) -> Result<(), String> {
        match self {
            Idp::Embedded(h) => {
                let c = h.clock();
                match op {
                    ClockOp::Advance(d) => c.advance(d),
                    ClockOp::Freeze => c.freeze(),
                    ClockOp::Resume => c.resume(),
                    ClockOp::Set(t) => c.set_unix(t),
                }
                Ok(())
            }
            Idp::External { .. } => {
                let (path, body) = match op {
                    ClockOp::Advance(d) => ("/clock/advance", Some(json!({ "secs": d.as_secs() }))),
                    ClockOp::Freeze => ("/clock/freeze", None),
                    ClockOp::Resume => ("/clock/resume", None),
                    ClockOp::Set(t) => ("/clock/set", Some(json!({ "unix": t }))),
                };
                self.control(reqwest::Method::POST, path, body)
                    .await
                    .map(|_| ())
            }
            Idp::Absent => Err(Self::absent()),
        }
    }

    /// The IdP's JWKS and issuer, for signature checks.
    pub async fn jwks(&self) -> Option<(String, Value)> {
        match self {
            Idp::Embedded(h) => Some((h.issuer(), h.jwks())),
            Idp::External { base, http } => {
                let disc: Value = http
                    .get(format!("{base}/.well-known/openid-configuration"))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let issuer = disc.get("issuer")?.as_str()?.to_string();
                let jwks_uri = disc.get("jwks_uri")?.as_str()?.to_string();
                let jwks: Value = http.get(jwks_uri).send().await.ok()?.json().await.ok()?;
                Some((issuer, jwks))
            }
            Idp::Absent => None,
        }
    }
}

/// A trial's target, up and running.
pub struct Target {
    pub facts: Facts,
    pub idp: Idp,
    proxy: Option<crate::proxy::ProxyHandle>,
    /// `(issuer, HS256 key)` of the proxy's tokens when known.
    pub hmac: Option<(String, Vec<u8>)>,
    /// `(issuer, jwks_uri, client)` of an external target that publishes its own keys.
    jwks_uri: Option<(String, String, reqwest::Client)>,
    /// Secrets of the configurations, for masking.
    pub secrets: Vec<String>,
    /// Time to bring the IdP and the proxy up.
    pub setup: Duration,
}

fn collect_secrets(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match val {
                    Value::String(s)
                        if matches!(
                            k.as_str(),
                            "secret" | "client_secret" | "jwt_signing_key" | "initial_access_token"
                        ) =>
                    {
                        out.push(s.clone())
                    }
                    other => collect_secrets(other, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_secrets(i, out)),
        _ => {}
    }
}

/// Fill what the scenario left out of the proxy's config from the spawned IdP: the discovery
/// URL (for presets built from `upstream.domain`: the IdP's base URL as the domain), and the
/// upstream client (the IdP's first client; none for `provider: authkit`) with its secret and
/// auth method.
pub fn fill_proxy_defaults(proxy: &mut Value, idp: &IdpConfig, idp_discovery: &str) {
    if !proxy.is_object() {
        *proxy = json!({});
    }
    let Value::Object(p) = proxy else { return };
    let provider = p
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or("oauth")
        .to_string();
    let upstream = p.entry("upstream").or_insert_with(|| json!({}));
    if !upstream.is_object() {
        return;
    }
    let Value::Object(u) = upstream else { return };
    // Presets that build their endpoints from `upstream.domain` get the IdP's base URL there.
    let uses_domain = matches!(
        provider.as_str(),
        "workos" | "authkit" | "auth0" | "github" | "keycloak"
    );
    let located = u.contains_key("config_url") || u.contains_key("authorization_endpoint");
    if uses_domain && !located && !u.contains_key("domain") {
        let base = idp_discovery.trim_end_matches("/.well-known/openid-configuration");
        u.insert("domain".into(), Value::String(base.to_string()));
    } else if !uses_domain && !located {
        u.insert(
            "config_url".into(),
            Value::String(idp_discovery.to_string()),
        );
    }
    // AuthKit is the authorization server itself: no client credentials of ours.
    if let Some(client) = idp.clients.first().filter(|_| provider != "authkit")
        && !u.contains_key("client_id")
    {
        u.insert("client_id".into(), Value::String(client.id.clone()));
        if !u.contains_key("client_secret")
            && let Some(secret) = &client.secret
        {
            u.insert("client_secret".into(), Value::String(secret.clone()));
        }
        if !u.contains_key("token_endpoint_auth_method") {
            u.insert(
                "token_endpoint_auth_method".into(),
                Value::String(client.auth_method().as_str().to_string()),
            );
        }
    }
}

/// The default IdP of a scenario without `idp:`: one confidential client, one user.
pub fn default_idp() -> Value {
    json!({
        "flavor": "oidc",
        "clients": [{ "id": "upstream-app", "secret": "upstream-s3cret",
                      "token_endpoint_auth_method": "client_secret_basic" }],
        "users": [{ "sub": "alice", "claims": { "email": "alice@example.com" } }],
    })
}

fn render_section(
    sc: &LoadedScenario,
    loc: &Located<Value>,
    ctx: &Value,
    name: &str,
) -> Result<Value, String> {
    template::render_value(&loc.value, ctx)
        .map_err(|e| located_error(sc, loc, format!("{name}: {e}")))
}

impl Target {
    /// Spawn the scenario's mock IdP and proxy (port 0, one shared clock).
    pub async fn embedded(
        sc: &LoadedScenario,
        base_ctx: &Map<String, Value>,
    ) -> Result<Target, String> {
        let started = Instant::now();
        let clock = Clock::system();
        let ctx = Value::Object(base_ctx.clone());
        let mut secrets = Vec::new();
        // The IdP.
        let default_loc;
        let idp_loc = match &sc.scenario.idp {
            Some(l) => l,
            None => {
                default_loc = Located::new(
                    default_idp(),
                    serde_saphyr::Location::UNKNOWN,
                    serde_saphyr::Location::UNKNOWN,
                );
                &default_loc
            }
        };
        let idp_value = render_section(sc, idp_loc, &ctx, "idp")?;
        collect_secrets(&idp_value, &mut secrets);
        let idp_config: IdpConfig =
            from_value_with_path(idp_value, "idp").map_err(|m| located_error(sc, idp_loc, m))?;
        idp_config
            .validate()
            .map_err(|m| located_error(sc, idp_loc, format!("idp: {m}")))?;
        let idp = MockIdp::builder()
            .config(idp_config.clone())
            .clock(clock.clone())
            .spawn()
            .await
            .map_err(|e| format!("cannot start the mock IdP: {e:#}"))?;
        let facts_idp = Facts {
            idp_url: Some(idp.url()),
            idp_issuer: Some(idp.issuer()),
            ..Default::default()
        };
        // The proxy, with `idp.*` known.
        let mut ctx_map = base_ctx.clone();
        ctx_map.insert("idp".into(), facts_idp.idp_value());
        let ctx = Value::Object(ctx_map);
        let mut proxy_value = match &sc.scenario.proxy {
            Some(l) => match render_section(sc, l, &ctx, "proxy") {
                Ok(v) => v,
                Err(e) => {
                    idp.shutdown().await;
                    return Err(e);
                }
            },
            None => json!({ "consent": "off" }),
        };
        fill_proxy_defaults(&mut proxy_value, &idp_config, &idp.discovery_url());
        collect_secrets(&proxy_value, &mut secrets);
        let proxy_config: ProxyConfig = match from_value_with_path(proxy_value, "proxy") {
            Ok(c) => c,
            Err(m) => {
                idp.shutdown().await;
                return Err(match &sc.scenario.proxy {
                    Some(l) => located_error(sc, l, m),
                    None => m,
                });
            }
        };
        let redirect_path = proxy_config.redirect_path.clone();
        let signing = proxy_config
            .jwt_signing_key
            .as_ref()
            .or(proxy_config.upstream.client_secret.as_ref())
            .map(|s| s.expose().as_bytes().to_vec());
        let opts = crate::proxy::SpawnOptions {
            clock: clock.clone(),
            ..Default::default()
        };
        let proxy = match crate::proxy::Proxy::spawn(proxy_config, opts).await {
            Ok(p) => p,
            Err(e) => {
                idp.shutdown().await;
                let msg = format!("the proxy did not start: {e:#}");
                return Err(match &sc.scenario.proxy {
                    Some(l) => located_error(sc, l, msg),
                    None => msg,
                });
            }
        };
        let setup = started.elapsed();
        let facts = Facts {
            proxy_url: proxy.url(),
            proxy_issuer: proxy.issuer(),
            proxy_resource: proxy.resource(),
            mcp_path: path_of(&proxy.resource()),
            redirect_path,
            idp_url: facts_idp.idp_url,
            idp_issuer: facts_idp.idp_issuer,
            iss_parameter_supported: crate::proxy::metadata::ISS_PARAMETER_SUPPORTED,
            architecture: super::profile::Profile::default().architecture(),
        };
        let hmac = signing.map(|s| {
            (
                facts.proxy_issuer.clone(),
                crate::proxy::jwt::derive_key(&s).to_vec(),
            )
        });
        Ok(Target {
            facts,
            idp: Idp::Embedded(idp),
            proxy: Some(proxy),
            hmac,
            jwks_uri: None,
            secrets,
            setup,
        })
    }

    /// An external proxy; the mock IdP (if any) is reset and given the scenario's clients,
    /// users, faults and token settings through its control API.
    pub async fn external(
        sc: &LoadedScenario,
        ext: &ExternalTarget,
        base_ctx: &Map<String, Value>,
    ) -> Result<Target, String> {
        let started = Instant::now();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let mut secrets = Vec::new();
        let base = ext.target.trim_end_matches('/').to_string();
        let mcp_path = ext
            .profile
            .mcp_path
            .clone()
            .unwrap_or_else(|| "/mcp".into());
        let redirect_path = ext
            .profile
            .redirect_path
            .clone()
            .unwrap_or_else(|| "/auth/callback".into());
        // The target's issuer and JWKS, from its metadata when it serves it.
        let metadata = match http
            .get(format!("{base}/.well-known/oauth-authorization-server"))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
            _ => None,
        };
        let field = |name: &str| {
            metadata
                .as_ref()
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let issuer = field("issuer").unwrap_or_else(|| base.clone());
        let jwks_uri = field("jwks_uri");
        let mut facts = Facts {
            proxy_url: base.clone(),
            proxy_issuer: issuer.clone(),
            proxy_resource: format!("{base}{mcp_path}"),
            mcp_path,
            redirect_path,
            idp_url: None,
            idp_issuer: None,
            iss_parameter_supported: metadata
                .as_ref()
                .and_then(|m| m.get("authorization_response_iss_parameter_supported"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            architecture: ext.profile.architecture(),
        };
        let idp = match &ext.idp {
            None => Idp::Absent,
            Some(url) => {
                let idp = Idp::External {
                    base: url.trim_end_matches('/').to_string(),
                    http: http.clone(),
                };
                idp.control(reqwest::Method::POST, "/reset", None).await?;
                let ctx = Value::Object(base_ctx.clone());
                if let Some(loc) = &sc.scenario.idp
                    && !matches!(&loc.value, Value::Object(m) if m.is_empty())
                {
                    let v = render_section(sc, loc, &ctx, "idp")?;
                    collect_secrets(&v, &mut secrets);
                    let tokens = v.get("tokens").cloned();
                    let cfg: IdpConfig =
                        from_value_with_path(v, "idp").map_err(|m| located_error(sc, loc, m))?;
                    for c in &cfg.clients {
                        let body = serde_json::to_value(c).map_err(|e| e.to_string())?;
                        idp.control(reqwest::Method::POST, "/clients", Some(body))
                            .await?;
                    }
                    for u in &cfg.users {
                        let body = serde_json::to_value(u).map_err(|e| e.to_string())?;
                        idp.control(reqwest::Method::POST, "/users", Some(body))
                            .await?;
                    }
                    if !cfg.faults.is_empty() {
                        let body = serde_json::to_value(&cfg.faults).map_err(|e| e.to_string())?;
                        idp.control(reqwest::Method::POST, "/faults", Some(body))
                            .await?;
                    }
                    // Only the keys the scenario names: the rest stays the IdP's.
                    if let Some(t) = tokens {
                        idp.control(reqwest::Method::PATCH, "/tokens", Some(t))
                            .await?;
                    }
                }
                if let Some(c) = &ext.profile.upstream_client {
                    collect_secrets(c, &mut secrets);
                    idp.control(reqwest::Method::POST, "/clients", Some(c.clone()))
                        .await?;
                }
                let idp_issuer =
                    match http
                        .get(format!("{url}/.well-known/openid-configuration"))
                        .send()
                        .await
                    {
                        Ok(r) => r.json::<Value>().await.ok().and_then(|v| {
                            v.get("issuer").and_then(Value::as_str).map(str::to_string)
                        }),
                        Err(_) => None,
                    };
                facts.idp_url = Some(url.trim_end_matches('/').to_string());
                facts.idp_issuer = idp_issuer;
                idp
            }
        };
        let issuer_for_jwks = issuer.clone();
        let hmac = ext
            .profile
            .jwt_hmac_key
            .as_ref()
            .map(|k| (issuer, crate::proxy::jwt::derive_key(k.as_bytes()).to_vec()));
        Ok(Target {
            facts,
            idp,
            proxy: None,
            hmac,
            jwks_uri: jwks_uri.map(|u| (issuer_for_jwks, u, http)),
            secrets,
            setup: started.elapsed(),
        })
    }

    /// The JWKS documents signatures are checked against, fetched now (keys rotate): the
    /// mock IdP's, and the target's own when it publishes a `jwks_uri`.
    pub async fn jwks(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = self.idp.jwks().await.into_iter().collect();
        if let Some((issuer, uri, http)) = &self.jwks_uri
            && let Ok(r) = http.get(uri).send().await
            && let Ok(doc) = r.json::<Value>().await
        {
            out.push((issuer.clone(), doc));
        }
        out
    }

    pub async fn shutdown(self) {
        if let Some(p) = self.proxy {
            p.shutdown().await;
        }
        if let Idp::Embedded(h) = self.idp {
            h.shutdown().await;
        }
    }
}

fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/mcp".into())
}

/// Whether a value (a config section) uses templates anywhere.
pub fn has_templates(v: &Value) -> bool {
    match v {
        Value::String(s) => is_template(s),
        Value::Array(a) => a.iter().any(has_templates),
        Value::Object(o) => o.iter().any(|(k, v)| is_template(k) || has_templates(v)),
        _ => false,
    }
}
