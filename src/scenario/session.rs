//! Running one trial: the target, the variables, and each step with its expectations,
//! captures and retries. OAuth steps go through the one flow client ([`FlowClient`]); `idp.*`
//! steps through the mock IdP handle (or its control API).

use super::error::from_value_with_path;
use super::expect::{self, CheckStatus, Observation};
use super::jwt::JwtKeys;
use super::load::{LoadedScenario, Variant, parse_duration, resolve_include};
use super::model::{
    Action, AuthKind, ConsentAction, DiscoverWhat, Expect, IncludeFile, Level, Located, OrderedMap,
    Param, PkceMode, PkceSpec, Step, Tmpl,
};
use super::record::Masker;
use super::save;
use super::target::{ClockOp, Target};
use super::template;
use super::verdict::{LeveledCheck, StepReport};
use crate::client::{
    AuthorizeOutcome, AuthorizeRequest, ClientAuth, ClientError, Consent, Exchange, FlowClient,
    FollowOptions, McpRequest, Pkce, RawBody, RawRequest, RefreshRequest, RevokeRequest,
    TokenCodeRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

/// Matrix values, `env.*` and `scenario.*`.
pub(super) fn base_context(sc: &LoadedScenario, variant: &Variant) -> Map<String, Value> {
    let mut base = Map::new();
    for (k, v) in &variant.values {
        base.insert(k.clone(), v.clone());
    }
    let env: Map<String, Value> = std::env::vars()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    base.insert("env".into(), Value::Object(env));
    base.insert(
        "scenario".into(),
        json!({ "name": sc.scenario.name, "area": sc.area, "variant": variant.name }),
    );
    base
}

/// Serialize `v`, render every template in it, deserialize it back (errors carry the path).
pub(super) fn render_typed<T: Serialize + DeserializeOwned>(
    v: &T,
    ctx: &Value,
    section: &str,
) -> Result<T, String> {
    let raw = serde_json::to_value(v).map_err(|e| e.to_string())?;
    let rendered = template::render_value(&raw, ctx).map_err(|e| format!("{section}: {e}"))?;
    from_value_with_path(rendered, section)
}

/// What a step produced.
struct StepOutput {
    obs: Observation,
    /// The HTTP exchanges, as text (already masked by the flow client).
    transcript: Vec<String>,
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

fn client_error(e: ClientError) -> String {
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
    msg
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Whether the steps may go on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    Stop,
}

/// The level and clause an expectation is judged at when it says nothing.
#[derive(Debug, Clone)]
pub(super) struct Defaults {
    pub level: Level,
    pub clause: Option<String>,
    /// The embedded target: a check that cannot be made is a failure (the runner knows
    /// every key and setting there), not a "not checked".
    pub strict: bool,
}

/// The state of one running trial.
pub(super) struct Session<'t> {
    target: &'t Target,
    includes: &'t std::collections::BTreeMap<PathBuf, (PathBuf, std::sync::Arc<IncludeFile>)>,
    client: FlowClient,
    /// Matrix values and saved variables (the current scope).
    vars: Map<String, Value>,
    keys: JwtKeys,
    masker: Masker,
    /// The highest journal sequence number an `idp.journal` step has seen.
    journal_seen: u64,
    pub steps_run: usize,
    mcp_id: u64,
    defaults: Defaults,
    /// Steps that failed, errored or left checks unmade, in order.
    pub reports: Vec<StepReport>,
    /// Set while an included file runs: the including step's place.
    within: Vec<String>,
}

impl<'t> Session<'t> {
    pub(super) async fn new(
        sc: &'t LoadedScenario,
        vars: Map<String, Value>,
        target: &'t Target,
        defaults: Defaults,
    ) -> Result<Session<'t>, String> {
        let client = FlowClient::new(&target.facts.proxy_url)
            .map_err(|e| format!("cannot build the flow client: {e}"))?;
        client.set_mcp_url(&target.facts.proxy_resource);
        let mut masker = Masker::default();
        for s in &target.secrets {
            masker.add(s);
        }
        for (k, v) in vars
            .get("env")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let upper = k.to_ascii_uppercase();
            if ["SECRET", "TOKEN", "PASSWORD", "KEY"]
                .iter()
                .any(|w| upper.contains(w))
                && let Some(s) = v.as_str()
            {
                masker.add(s);
            }
        }
        let mut keys = JwtKeys::default();
        if let Some(h) = &target.hmac {
            keys.hmac.push(h.clone());
        }
        Ok(Session {
            target,
            includes: &sc.includes,
            client,
            vars,
            keys,
            masker,
            journal_seen: 0,
            steps_run: 0,
            mcp_id: 0,
            defaults,
            reports: Vec::new(),
            within: Vec::new(),
        })
    }

    /// The template context: variables, target facts, the flow's memory.
    fn context(&self) -> Value {
        let mut ctx = self.vars.clone();
        ctx.insert("proxy".into(), self.target.facts.proxy_value());
        ctx.insert("idp".into(), self.target.facts.idp_value());
        let m = self.client.memory();
        ctx.insert(
            "flow".into(),
            json!({
                "client_id": m.client_id, "client_secret": m.client_secret,
                "redirect_uri": m.redirect_uri, "state": m.state, "code": m.code,
                "code_verifier": m.code_verifier, "iss": m.iss,
                "access_token": m.access_token, "refresh_token": m.refresh_token,
                "resource": m.resource, "scope": m.scope,
            }),
        );
        Value::Object(ctx)
    }

    /// Run the steps in order until one stops the trial; what failed is in `reports`.
    pub(super) fn run_steps<'a>(
        &'a mut self,
        file: &'a Path,
        steps: &'a [Located<Step>],
        kind: &'a str,
    ) -> BoxFuture<'a, Flow> {
        Box::pin(async move {
            for (i, step) in steps.iter().enumerate() {
                if self.run_step(file, i + 1, step, kind).await == Flow::Stop {
                    return Flow::Stop;
                }
            }
            Flow::Continue
        })
    }

    /// The level and clause of each expectation of a step (a templated level is rendered
    /// now; one that does not render to a level counts as `must`, so no failure is hidden).
    fn levels(&self, step: &Step) -> Vec<(Level, Option<String>)> {
        let ctx = self.context();
        step.expect
            .iter()
            .map(|e| {
                let level = match &e.level {
                    None => self.defaults.level,
                    Some(Tmpl::Lit(l)) => *l,
                    Some(Tmpl::Template(t)) => template::render_string(t, &ctx)
                        .ok()
                        .and_then(|l| Level::parse(l.trim()))
                        .unwrap_or(Level::Must),
                };
                let clause = e
                    .clause
                    .as_ref()
                    .map(|c| {
                        template::render_string(&c.value, &ctx).unwrap_or_else(|_| c.value.clone())
                    })
                    .or_else(|| self.defaults.clause.clone());
                (level, clause)
            })
            .collect()
    }

    fn report(&self, place: &str, step: &Step) -> StepReport {
        let levels = self.levels(step);
        StepReport {
            place: place.to_string(),
            attempt: String::new(),
            checks: Vec::new(),
            error: None,
            level: levels
                .iter()
                .map(|(l, _)| *l)
                .max()
                .unwrap_or(self.defaults.level),
            clause: levels
                .first()
                .and_then(|(_, c)| c.clone())
                .or_else(|| self.defaults.clause.clone()),
            exchanges: Vec::new(),
        }
    }

    /// Record an error that ends the trial.
    fn stop(&mut self, mut report: StepReport, error: String) -> Flow {
        report.error = Some(self.masker.mask(&error));
        self.reports.push(report);
        Flow::Stop
    }

    async fn run_step(
        &mut self,
        file: &Path,
        index: usize,
        located: &Located<Step>,
        kind: &str,
    ) -> Flow {
        let step = &located.value;
        self.steps_run += 1;
        let mut place = format!(
            "{kind} {index} `{}` at {}:{}:{}",
            step.label(),
            file.display(),
            located.referenced.line(),
            located.referenced.column()
        );
        if let Some(outer) = self.within.last() {
            place = format!("{outer}\n  in the included file: {place}");
        }
        if let Action::Include(inc) = &step.action {
            return self.run_include(file, inc, &place).await;
        }
        let mut report = self.report(&place, step);
        let attempts = 1 + step.retry.as_ref().map(|r| r.times).unwrap_or(0);
        let delay = step
            .retry
            .as_ref()
            .and_then(|r| r.delay.as_deref())
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_millis(200));
        let wants_journal = step.expect.iter().any(|e| e.journal.is_some());
        for attempt in 1..=attempts {
            if attempts > 1 {
                report.attempt = format!(" (attempt {attempt} of {attempts})");
            }
            let before = if wants_journal {
                match self.target.idp.journal().await {
                    Ok(j) => max_seq(&j),
                    Err(e) => {
                        return self.stop(report, format!("cannot read the IdP journal: {e}"));
                    }
                }
            } else {
                0
            };
            report.error = None;
            report.checks.clear();
            report.exchanges.clear();
            match self.execute(step).await {
                Err(e) => report.error = Some(self.masker.mask(&e)),
                Ok(mut out) => {
                    if let Some(j) = &out.obs.json {
                        self.masker.add_from_json(j);
                    }
                    if wants_journal {
                        match self.target.idp.journal().await {
                            Ok(j) => {
                                out.obs.journal =
                                    j.into_iter().filter(|e| seq(e) > before).collect();
                            }
                            Err(e) => {
                                return self
                                    .stop(report, format!("cannot read the IdP journal: {e}"));
                            }
                        }
                    }
                    report.exchanges = out.transcript.iter().map(|t| self.masker.mask(t)).collect();
                    match self.check(step, &out.obs).await {
                        Err(e) => return self.stop(report, e),
                        Ok(checks) => report.checks = checks,
                    }
                    if report.failure_level().is_none() {
                        if let Err(e) = self.save(&step.save, &out.obs) {
                            return self.stop(report, e);
                        }
                        if !report
                            .checks
                            .iter()
                            .all(|c| c.check.status == CheckStatus::Passed)
                        {
                            self.reports.push(report);
                        }
                        return Flow::Continue;
                    }
                    // Only checks below `must` failed: the flow can go on if its captures can.
                    if attempt == attempts && report.failure_level() < Some(Level::Must) {
                        let saved = self.save(&step.save, &out.obs);
                        let flow = match saved {
                            Ok(()) => Flow::Continue,
                            Err(e) => {
                                report.error = Some(self.masker.mask(&e));
                                Flow::Stop
                            }
                        };
                        self.reports.push(report);
                        return flow;
                    }
                }
            }
            if attempt < attempts {
                tokio::time::sleep(delay).await;
            }
        }
        self.reports.push(report);
        Flow::Stop
    }

    /// Every expectation of the step, rendered and checked, each check with its level.
    async fn check(&mut self, step: &Step, obs: &Observation) -> Result<Vec<LeveledCheck>, String> {
        let mut out = Vec::new();
        let levels = self.levels(step);
        for (expect, (level, clause)) in step.expect.iter().zip(levels) {
            let mut raw = expect.clone();
            raw.level = None;
            raw.clause = None;
            let expect: Expect = render_typed(&raw, &self.context(), "expect")?;
            let needs_jwks = expect
                .jwt
                .iter()
                .any(|(_, spec)| spec.get("signature").is_some());
            if needs_jwks {
                // Keys rotate: always check against the current JWKS.
                self.keys.jwks = self.target.jwks().await;
            }
            for mut check in expect::evaluate(&expect, obs, &self.keys).0 {
                if let CheckStatus::Failed { expected, actual } = &mut check.status {
                    *expected = self.masker.mask(expected);
                    *actual = self.masker.mask(actual);
                }
                if self.defaults.strict
                    && let CheckStatus::NotChecked { reason } = &check.status
                {
                    check.status = CheckStatus::Failed {
                        expected: "a check the runner can make".into(),
                        actual: format!("(not checked: {reason})"),
                    };
                }
                out.push(LeveledCheck {
                    level,
                    clause: clause.clone(),
                    check,
                });
            }
        }
        Ok(out)
    }

    fn save(&mut self, saves: &OrderedMap<String>, obs: &Observation) -> Result<(), String> {
        let ctx = self.context();
        for (name, source) in saves.iter() {
            let source =
                template::render_string(source, &ctx).map_err(|e| format!("save `{name}`: {e}"))?;
            let parsed = save::parse_source(&source).map_err(|e| format!("save `{name}`: {e}"))?;
            let value = save::extract(&parsed, obs)
                .map_err(|e| format!("save `{name}` from `{source}`: {e}"))?;
            self.vars.insert(name.clone(), value);
        }
        Ok(())
    }

    async fn run_include(
        &mut self,
        file: &Path,
        inc: &super::model::IncludeStep,
        place: &str,
    ) -> Flow {
        match self.include(file, inc, place).await {
            Ok(flow) => flow,
            Err(e) => {
                let report = StepReport {
                    place: place.to_string(),
                    attempt: String::new(),
                    checks: Vec::new(),
                    error: None,
                    level: self.defaults.level,
                    clause: self.defaults.clause.clone(),
                    exchanges: Vec::new(),
                };
                self.stop(report, e)
            }
        }
    }

    async fn include(
        &mut self,
        file: &Path,
        inc: &super::model::IncludeStep,
        place: &str,
    ) -> Result<Flow, String> {
        let target = resolve_include(file, &inc.file);
        let key = std::fs::canonicalize(&target).unwrap_or(target.clone());
        let Some((path, parsed)) = self.includes.get(&key).cloned() else {
            return Err(format!("include `{}` was not loaded", inc.file));
        };
        let ctx = self.context();
        let mut scope = Map::new();
        for (k, v) in &self.vars {
            // Matrix values and env stay visible; saved variables do not leak in.
            if k == "env" || k == "scenario" {
                scope.insert(k.clone(), v.clone());
            }
        }
        for (name, default) in parsed.inputs.iter() {
            let value = match inc.with.get(name) {
                Some(v) => template::render_value(v, &ctx)
                    .map_err(|e| format!("include input `{name}`: {e}"))?,
                None => default.clone(),
            };
            scope.insert(name.clone(), value);
        }
        let outer = std::mem::replace(&mut self.vars, scope);
        self.within.push(place.to_string());
        let flow = self.run_steps(&path, &parsed.steps, "step").await;
        self.within.pop();
        let inner = std::mem::replace(&mut self.vars, outer);
        if flow == Flow::Stop {
            return Ok(Flow::Stop);
        }
        let mut inner_ctx = self.context();
        if let Value::Object(m) = &mut inner_ctx {
            for (k, v) in inner {
                m.insert(k, v);
            }
        }
        for (name, tmpl) in parsed.outputs.iter() {
            let value = template::render_value(tmpl, &inner_ctx)
                .map_err(|e| format!("include output `{name}`: {e}"))?;
            self.vars.insert(name.clone(), value);
        }
        Ok(Flow::Continue)
    }

    /// Render the step's action and perform it.
    async fn execute(&mut self, step: &Step) -> Result<StepOutput, String> {
        let ctx = self.context();
        match &step.action {
            Action::Discover(d) => {
                let d = render_typed(d, &ctx, "discover")?;
                return self.discover(d.what.and_then(|w| w.lit().copied())).await;
            }
            Action::Register(body) => {
                let body =
                    template::render_value(body, &ctx).map_err(|e| format!("register: {e}"))?;
                let body = if body.is_null() { json!({}) } else { body };
                let ex = self.client.register(&body).await.map_err(client_error)?;
                if let Some(secret) = self.client.memory().client_secret {
                    self.masker.add(&secret);
                }
                Ok(StepOutput::from_exchange(&ex))
            }
            Action::Authorize(a) => {
                let a = render_typed(a, &ctx, "authorize")?;
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
            Action::Callback(c) => {
                let c = render_typed(c, &ctx, "callback")?;
                let path = c
                    .path
                    .as_ref()
                    .and_then(|p| p.lit().cloned())
                    .unwrap_or_else(|| self.target.facts.redirect_path.clone());
                let mut url = url::Url::parse(&format!("{}{path}", self.target.facts.proxy_url))
                    .map_err(|e| format!("callback: {e}"))?;
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
            Action::Token(t) => {
                let t = render_typed(t, &ctx, "token")?;
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
            Action::Refresh(r) => {
                let r = render_typed(r, &ctx, "refresh")?;
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
            Action::Revoke(r) => {
                let r = render_typed(r, &ctx, "revoke")?;
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
            Action::Mcp(m) => {
                let m = render_typed(m, &ctx, "mcp")?;
                self.mcp_id += 1;
                let body = match &m.body {
                    Some(b) => b.clone(),
                    None => {
                        let method = m
                            .method
                            .as_ref()
                            .and_then(|x| x.lit().cloned())
                            .unwrap_or_else(|| "tools/list".into());
                        let mut body =
                            json!({ "jsonrpc": "2.0", "id": self.mcp_id, "method": method });
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
            Action::Http(h) => {
                let h = render_typed(h, &ctx, "http")?;
                let mut url = h.url.lit().cloned().unwrap_or_default();
                if !h.query.is_empty() {
                    let mut parsed = if url.starts_with('/') {
                        url::Url::parse(&format!("{}{url}", self.target.facts.proxy_url))
                    } else {
                        url::Url::parse(&url)
                    }
                    .map_err(|e| format!("http: `{url}` is not a URL: {e}"))?;
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
            Action::IdpFault(f) => {
                let f = template::render_value(f, &ctx).map_err(|e| format!("idp.fault: {e}"))?;
                self.target.idp.add_fault(f).await?;
                Ok(StepOutput::none())
            }
            Action::IdpClock(c) => {
                let c = render_typed(c, &ctx, "idp.clock")?;
                let op = if let Some(Tmpl::Lit(d)) = &c.advance {
                    ClockOp::Advance(
                        parse_duration(d).map_err(|e| format!("idp.clock.advance: {e}"))?,
                    )
                } else if c.freeze.is_some() {
                    ClockOp::Freeze
                } else if c.resume.is_some() {
                    ClockOp::Resume
                } else if let Some(Tmpl::Lit(t)) = &c.set {
                    ClockOp::Set(*t)
                } else {
                    return Err(
                        "idp.clock: give one of `advance`, `freeze`, `resume`, `set`".into(),
                    );
                };
                self.target.idp.clock(op).await?;
                Ok(StepOutput::none())
            }
            Action::IdpRotateKeys => {
                self.target.idp.rotate_keys().await?;
                Ok(StepOutput::none())
            }
            Action::IdpJournal(j) => {
                let j = render_typed(j, &ctx, "idp.journal")?;
                let all = self.target.idp.journal().await?;
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
            Action::Include(_) => Err("an include is run by its step, not performed".into()),
        }
    }

    async fn discover(&mut self, what: Option<DiscoverWhat>) -> Result<StepOutput, String> {
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
            return Err("discovery made no request".into());
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
                    out.push((k.clone(), super::load::display_value(i)));
                }
            }
            other => out.push((k.clone(), other.to_string())),
        }
    }
    out
}

fn seq(entry: &Value) -> u64 {
    entry.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

fn max_seq(entries: &[Value]) -> u64 {
    entries.iter().map(seq).max().unwrap_or(0)
}
