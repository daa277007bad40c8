//! What each step's action does: rendered with the trial's variables, then performed through
//! the flow client (OAuth and MCP steps) or the mock IdP's handle (`idp.*` steps), and
//! observed for the step's expectations.

use super::{Session, max_seq, render_typed, seq};
use crate::client::{
    AuthorizeOutcome, AuthorizeRequest, ClientAuth, ClientError, Consent, Exchange, FollowOptions,
    McpRequest, Pkce, RawBody, RawRequest, RefreshRequest, RevokeRequest, TokenCodeRequest,
};
use crate::scenario::expect::Observation;
use crate::scenario::load::parse_duration;
use crate::scenario::model::{
    Action, AuthKind, AuthorizeStep, CallbackStep, ClockStep, ConsentAction, DiscoverStep,
    DiscoverWhat, HttpStep, JournalStep, McpStep, OrderedMap, Param, PkceMode, PkceSpec,
    RefreshStep, RevokeStep, Step, Tmpl, TokenStep,
};
use crate::scenario::target::ClockOp;
use crate::scenario::template;
use crate::scenario::verdict::StepError;
use serde_json::{Value, json};

/// What a step produced.
pub(super) struct StepOutput {
    pub(super) obs: Observation,
    /// The HTTP exchanges, as text (already masked by the flow client).
    pub(super) transcript: Vec<String>,
}

impl StepOutput {
    fn none() -> Self {
        StepOutput {
            obs: Observation::default(),
            transcript: Vec::new(),
        }
    }

    fn from_exchange(ex: &Exchange) -> Self {
        StepOutput {
            obs: observe(ex),
            transcript: vec![ex.to_string()],
        }
    }
}

fn observe(ex: &Exchange) -> Observation {
    let redirect = ex.header("location").map(|l| {
        url::Url::parse(&ex.request.url)
            .ok()
            .and_then(|base| base.join(l).ok())
            .map(|u| u.to_string())
            .unwrap_or_else(|| l.to_string())
    });
    Observation {
        status: Some(ex.status),
        headers: ex.headers.clone(),
        body: Some(ex.body.clone()),
        json: ex.json.clone(),
        redirect,
        url: Some(ex.request.url.clone()),
        ..Default::default()
    }
}

fn observe_authorize(o: &AuthorizeOutcome) -> StepOutput {
    let last = o.hops.last();
    let redirect = if o.reached_redirect_uri {
        Some(o.final_url.clone())
    } else {
        last.and_then(|h| h.location.clone())
    };
    let json = serde_json::from_str(&o.final_body).ok();
    StepOutput {
        obs: Observation {
            status: Some(o.final_status),
            headers: last.map(|h| h.headers.clone()).unwrap_or_default(),
            body: Some(o.final_body.clone()),
            json,
            redirect,
            url: Some(o.final_url.clone()),
            ..Default::default()
        },
        transcript: vec![o.to_string()],
    }
}

fn client_error(e: ClientError) -> StepError {
    let mut msg = e.to_string();
    match &e {
        ClientError::Discovery { exchanges, .. } => {
            for ex in exchanges {
                msg.push_str(&format!("\n\n{ex}"));
            }
        }
        ClientError::TooManyRedirects { hops, .. } => {
            for h in hops {
                msg.push_str(&format!("\n  {h}"));
            }
        }
        _ => {}
    }
    StepError::transport(msg)
}

impl Session<'_> {
    /// Render the step's action and perform it.
    pub(super) async fn execute(&mut self, step: &Step) -> Result<StepOutput, StepError> {
        let ctx = self.context();
        match &step.action {
            Action::Discover(d) => self.discover_step(d, &ctx).await,
            Action::Register(body) => self.register(body, &ctx).await,
            Action::Authorize(a) => self.authorize(a, &ctx).await,
            Action::Callback(c) => self.callback(c, &ctx).await,
            Action::Token(t) => self.token(t, &ctx).await,
            Action::Refresh(r) => self.refresh(r, &ctx).await,
            Action::Revoke(r) => self.revoke(r, &ctx).await,
            Action::Mcp(m) => self.mcp(m, &ctx).await,
            Action::Http(h) => self.http(h, &ctx).await,
            Action::IdpFault(f) => self.idp_fault(f, &ctx).await,
            Action::IdpClock(c) => self.idp_clock(c, &ctx).await,
            Action::IdpRotateKeys => self.idp_rotate_keys().await,
            Action::IdpJournal(j) => self.idp_journal(j, &ctx).await,
            Action::Include(_) => Err(StepError::scenario(
                "an include is run by its step, not performed",
            )),
        }
    }

    /// `discover`: the metadata documents, as a client finds them.
    async fn discover_step(
        &mut self,
        d: &DiscoverStep,
        ctx: &Value,
    ) -> Result<StepOutput, StepError> {
        let d = render_typed(d, ctx, "discover").map_err(StepError::scenario)?;
        return self.discover(d.what.and_then(|w| w.lit().copied())).await;
    }

    /// `register`: dynamic client registration with the rendered body.
    async fn register(&mut self, body: &Value, ctx: &Value) -> Result<StepOutput, StepError> {
        let body = template::render_value(body, ctx)
            .map_err(|e| StepError::scenario(format!("register: {e}")))?;
        let body = if body.is_null() { json!({}) } else { body };
        let ex = self.client.register(&body).await.map_err(client_error)?;
        if let Some(secret) = self.client.memory().client_secret {
            self.masker.add(&secret);
        }
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `authorize`: the authorization request, followed through consent and the IdP login.
    async fn authorize(&mut self, a: &AuthorizeStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let a = render_typed(a, ctx, "authorize").map_err(StepError::scenario)?;
        let pkce = match a.pkce.as_ref().and_then(|p| p.lit()) {
            None | Some(PkceSpec::Mode(PkceMode::S256)) => Pkce::Auto,
            Some(PkceSpec::Mode(PkceMode::None)) => Pkce::None,
            Some(PkceSpec::Mode(PkceMode::Plain)) => {
                let v = crate::oauth::pkce::new_verifier();
                Pkce::Raw {
                    code_challenge: Some(v.clone()),
                    code_challenge_method: Some("plain".into()),
                    verifier: Some(v),
                }
            }
            Some(PkceSpec::Custom(c)) => Pkce::Raw {
                code_challenge: c.challenge.clone(),
                code_challenge_method: c
                    .method
                    .clone()
                    .or_else(|| c.challenge.as_ref().map(|_| "S256".to_string())),
                verifier: c.verifier.clone(),
            },
        };
        let consent = match a.consent.as_ref().and_then(|c| c.lit().copied()) {
            None | Some(ConsentAction::Approve) => Consent::Approve,
            Some(ConsentAction::Deny) => Consent::Deny,
            Some(ConsentAction::None) => Consent::Skip,
        };
        let request = AuthorizeRequest {
            client_id: param(&a.client_id),
            redirect_uri: param(&a.redirect_uri),
            scope: param(&a.scope),
            resource: param(&a.resource),
            state: param(&a.state),
            response_type: param(&a.response_type),
            pkce,
            as_user: a.as_user.as_ref().and_then(|u| u.lit().cloned()),
            consent,
            extra: a
                .params
                .as_ref()
                .and_then(|p| p.lit())
                .map(pairs)
                .unwrap_or_default(),
            ..AuthorizeRequest::default()
        };
        let outcome = self.client.authorize(request).await.map_err(client_error)?;
        for s in [&outcome.code, &outcome.pkce_verifier]
            .into_iter()
            .flatten()
        {
            self.masker.add(s);
        }
        Ok(observe_authorize(&outcome))
    }

    /// `callback`: an authorization response delivered to the callback by hand.
    async fn callback(&mut self, c: &CallbackStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let c = render_typed(c, ctx, "callback").map_err(StepError::scenario)?;
        let path = c
            .path
            .as_ref()
            .and_then(|p| p.lit().cloned())
            .unwrap_or_else(|| self.target.facts.redirect_path.clone());
        let mut url = url::Url::parse(&format!("{}{path}", self.target.facts.proxy_url))
            .map_err(|e| StepError::scenario(format!("callback: {e}")))?;
        if !c.query.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs(&c.query));
        }
        let options = FollowOptions {
            stop_at: self.client.memory().redirect_uri,
            ..FollowOptions::default()
        };
        let outcome = self
            .client
            .follow(RawRequest::get(url.to_string()), options)
            .await
            .map_err(client_error)?;
        Ok(observe_authorize(&outcome))
    }

    /// `token`: the token endpoint (the code grant unless told otherwise).
    async fn token(&mut self, t: &TokenStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let t = render_typed(t, ctx, "token").map_err(StepError::scenario)?;
        let request = TokenCodeRequest {
            grant_type: param(&t.grant_type),
            code: param(&t.code),
            code_verifier: param(&t.code_verifier),
            redirect_uri: param(&t.redirect_uri),
            client_id: param(&t.client_id),
            resource: param(&t.resource),
            auth: self.auth(&t.auth, &t.client_secret, &t.client_id),
            extra: pairs(&t.form),
        };
        let ex = self
            .client
            .token_code(request)
            .await
            .map_err(client_error)?;
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `refresh`: a refresh-token grant.
    async fn refresh(&mut self, r: &RefreshStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let r = render_typed(r, ctx, "refresh").map_err(StepError::scenario)?;
        let request = RefreshRequest {
            refresh_token: param(&r.refresh_token),
            client_id: param(&r.client_id),
            scope: param(&r.scope),
            resource: param(&r.resource),
            auth: self.auth(&r.auth, &r.client_secret, &r.client_id),
            extra: pairs(&r.form),
        };
        let ex = self.client.refresh(request).await.map_err(client_error)?;
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `revoke`: token revocation (RFC 7009).
    async fn revoke(&mut self, r: &RevokeStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let r = render_typed(r, ctx, "revoke").map_err(StepError::scenario)?;
        let request = RevokeRequest {
            token: param(&r.token),
            token_type_hint: param(&r.token_type_hint),
            client_id: param(&r.client_id),
            auth: self.auth(&r.auth, &r.client_secret, &r.client_id),
            extra: pairs(&r.form),
        };
        let ex = self.client.revoke(request).await.map_err(client_error)?;
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `mcp`: a JSON-RPC call to the guarded MCP endpoint.
    async fn mcp(&mut self, m: &McpStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let m = render_typed(m, ctx, "mcp").map_err(StepError::scenario)?;
        self.mcp_id += 1;
        let body = match &m.body {
            Some(b) => b.clone(),
            None => {
                let method = m
                    .method
                    .as_ref()
                    .and_then(|x| x.lit().cloned())
                    .unwrap_or_else(|| "tools/list".into());
                let mut body = json!({ "jsonrpc": "2.0", "id": self.mcp_id, "method": method });
                if let Some(p) = &m.params {
                    body["params"] = p.clone();
                }
                body
            }
        };
        let request = McpRequest {
            token: param(&m.token),
            body,
            headers: pairs(&m.headers),
            ..McpRequest::default()
        };
        let ex = self.client.mcp_with(request).await.map_err(client_error)?;
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `http`: a raw HTTP request.
    async fn http(&mut self, h: &HttpStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let h = render_typed(h, ctx, "http").map_err(StepError::scenario)?;
        let mut url = h.url.lit().cloned().unwrap_or_default();
        if !h.query.is_empty() {
            let mut parsed = if url.starts_with('/') {
                url::Url::parse(&format!("{}{url}", self.target.facts.proxy_url))
            } else {
                url::Url::parse(&url)
            }
            .map_err(|e| StepError::scenario(format!("http: `{url}` is not a URL: {e}")))?;
            parsed.query_pairs_mut().extend_pairs(pairs(&h.query));
            url = parsed.to_string();
        }
        let body = if let Some(form) = &h.form {
            RawBody::Form(pairs(form))
        } else if let Some(j) = &h.json {
            RawBody::Json(j.clone())
        } else if let Some(b) = &h.body {
            RawBody::Text {
                content_type: None,
                text: b.lit().cloned().unwrap_or_default(),
            }
        } else {
            RawBody::None
        };
        let request = RawRequest {
            method: h
                .method
                .as_ref()
                .and_then(|m| m.lit().cloned())
                .unwrap_or_else(|| "GET".into())
                .to_ascii_uppercase(),
            url,
            headers: pairs(&h.headers),
            body,
        };
        let ex = self.client.request(request).await.map_err(client_error)?;
        Ok(StepOutput::from_exchange(&ex))
    }

    /// `idp.fault`: a fault added to the mock IdP.
    async fn idp_fault(&mut self, f: &Value, ctx: &Value) -> Result<StepOutput, StepError> {
        let f = template::render_value(f, ctx)
            .map_err(|e| StepError::scenario(format!("idp.fault: {e}")))?;
        self.target.idp.add_fault(f).await.map_err(StepError::idp)?;
        Ok(StepOutput::none())
    }

    /// `idp.clock`: the shared clock moved, frozen, resumed or set.
    async fn idp_clock(&mut self, c: &ClockStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let c = render_typed(c, ctx, "idp.clock").map_err(StepError::scenario)?;
        let op = if let Some(Tmpl::Lit(d)) = &c.advance {
            ClockOp::Advance(
                parse_duration(d)
                    .map_err(|e| StepError::scenario(format!("idp.clock.advance: {e}")))?,
            )
        } else if c.freeze.is_some() {
            ClockOp::Freeze
        } else if c.resume.is_some() {
            ClockOp::Resume
        } else if let Some(Tmpl::Lit(t)) = &c.set {
            ClockOp::Set(*t)
        } else {
            return Err(StepError::scenario(
                "idp.clock: give one of `advance`, `freeze`, `resume`, `set`",
            ));
        };
        self.target.idp.clock(op).await.map_err(StepError::idp)?;
        Ok(StepOutput::none())
    }

    /// `idp.rotate_keys`: the mock IdP's signing keys rotated.
    async fn idp_rotate_keys(&mut self) -> Result<StepOutput, StepError> {
        self.target
            .idp
            .rotate_keys()
            .await
            .map_err(StepError::idp)?;
        Ok(StepOutput::none())
    }

    /// `idp.journal`: entries of the mock IdP's request journal.
    async fn idp_journal(&mut self, j: &JournalStep, ctx: &Value) -> Result<StepOutput, StepError> {
        let j = render_typed(j, ctx, "idp.journal").map_err(StepError::scenario)?;
        let all = self.target.idp.journal().await.map_err(StepError::idp)?;
        let since = if j
            .since_last
            .as_ref()
            .and_then(|b| b.lit().copied())
            .unwrap_or(false)
        {
            self.journal_seen
        } else {
            0
        };
        self.journal_seen = self.journal_seen.max(max_seq(&all));
        let path = j.path.as_ref().and_then(|p| p.lit().cloned());
        let method = j.method.as_ref().and_then(|p| p.lit().cloned());
        let mut selected: Vec<Value> = all
            .into_iter()
            .filter(|e| seq(e) > since)
            .filter(|e| {
                path.as_deref()
                    .is_none_or(|p| e.get("path").and_then(Value::as_str) == Some(p))
            })
            .filter(|e| {
                method.as_deref().is_none_or(|m| {
                    e.get("method")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case(m))
                })
            })
            .collect();
        if j.last
            .as_ref()
            .and_then(|b| b.lit().copied())
            .unwrap_or(false)
        {
            selected = selected.pop().into_iter().collect();
        }
        let json = match selected.len() {
            1 => Some(selected[0].clone()),
            _ => Some(Value::Array(selected.clone())),
        };
        for e in &selected {
            if let Some(form) = e.get("form") {
                self.masker.add_from_json(form);
            }
        }
        let transcript = selected
            .iter()
            .map(|e| format!("IdP journal entry: {}", crate::client::mask_json(e)))
            .collect();
        Ok(StepOutput {
            obs: Observation {
                status: selected
                    .last()
                    .and_then(|e| e.get("status"))
                    .and_then(Value::as_u64)
                    .map(|s| s as u16),
                json,
                selected: Some(selected),
                ..Default::default()
            },
            transcript,
        })
    }

    async fn discover(&mut self, what: Option<DiscoverWhat>) -> Result<StepOutput, StepError> {
        if what == Some(DiscoverWhat::Openid) {
            let ex = self
                .client
                .request(RawRequest::get("/.well-known/openid-configuration"))
                .await
                .map_err(client_error)?;
            return Ok(StepOutput::from_exchange(&ex));
        }
        let d = self.client.discover().await.map_err(client_error)?;
        let transcript: Vec<String> = d.exchanges.iter().map(|e| e.to_string()).collect();
        let wanted = match what {
            Some(DiscoverWhat::Challenge) => d.exchanges.first(),
            Some(DiscoverWhat::ProtectedResource) => d
                .exchanges
                .iter()
                .find(|e| e.request.url == d.resource_metadata_url),
            _ => d.exchanges.last(),
        };
        let Some(ex) = wanted else {
            return Err(StepError::transport("discovery made no request"));
        };
        Ok(StepOutput {
            obs: observe(ex),
            transcript,
        })
    }

    /// The client authentication of a step: an explicit secret, else the secret registered
    /// for the client the step names (each client keeps its own), else the last client's.
    fn auth(
        &self,
        kind: &Option<Tmpl<AuthKind>>,
        secret: &Option<Tmpl<String>>,
        client_id: &Param,
    ) -> ClientAuth {
        let memory = self.client.memory();
        let named = match client_id {
            Some(Some(t)) => t.lit().cloned(),
            _ => None,
        };
        let registered = match named {
            Some(id) => memory.registrations.get(&id).and_then(|(s, _)| s.clone()),
            None => memory.client_secret.clone(),
        };
        let secret = secret
            .as_ref()
            .and_then(|s| s.lit().cloned())
            .or(registered)
            .unwrap_or_default();
        match kind.as_ref().and_then(|k| k.lit().copied()) {
            None | Some(AuthKind::Auto) => ClientAuth::Auto,
            Some(AuthKind::None) => ClientAuth::None,
            Some(AuthKind::Basic) => ClientAuth::Basic { secret },
            Some(AuthKind::Post) => ClientAuth::Post { secret },
            Some(AuthKind::Nothing) => ClientAuth::Nothing,
        }
    }
}

/// A step field to the flow client's `Param`.
fn param(p: &Param) -> crate::client::Param {
    match p {
        None => crate::client::Param::Auto,
        Some(None) => crate::client::Param::Omit,
        Some(Some(t)) => match t.lit() {
            Some(v) => crate::client::Param::Value(v.clone()),
            None => crate::client::Param::Auto,
        },
    }
}

/// Map entries as string pairs (non-strings written as JSON; lists repeat the name).
fn pairs(m: &OrderedMap<Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in m.iter() {
        match v {
            Value::Null => {}
            Value::String(s) => out.push((k.clone(), s.clone())),
            Value::Array(items) => {
                for i in items {
                    out.push((k.clone(), crate::scenario::load::display_value(i)));
                }
            }
            other => out.push((k.clone(), other.to_string())),
        }
    }
    out
}
