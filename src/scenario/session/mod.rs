//! Running one trial: the target, the variables, and each step with its expectations,
//! captures and retries. OAuth steps go through the one flow client ([`FlowClient`]); `idp.*`
//! steps through the mock IdP handle (or its control API).

mod actions;

use super::error::from_value_with_path;
use super::expect::{self, CheckStatus, Observation};
use super::jwt::JwtKeys;
use super::load::{LoadedScenario, Variant, parse_duration, resolve_include};
use super::model::{Action, Expect, IncludeFile, Level, Located, OrderedMap, Step, Tmpl};
use super::profile::lacks_architecture;
use super::record::Masker;
use super::save;
use super::target::Target;
use super::template;
use super::verdict::{LeveledCheck, StepError, StepReport};
use crate::client::FlowClient;
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
                match self.wanted(step) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        let report = self.report(&self.place(file, i + 1, step, kind), &step.value);
                        return self.stop(report, StepError::scenario(e));
                    }
                }
                if self.run_step(file, i + 1, step, kind).await == Flow::Stop {
                    return Flow::Stop;
                }
            }
            Flow::Continue
        })
    }

    /// Where a step is, as reports name it (`step 3 `token` at FILE:LINE:COL`, within the
    /// including step when it runs from an included file).
    fn place(&self, file: &Path, index: usize, located: &Located<Step>, kind: &str) -> String {
        let place = format!(
            "{kind} {index} `{}` at {}:{}:{}",
            located.value.label(),
            file.display(),
            located.referenced.line(),
            located.referenced.column()
        );
        match self.within.last() {
            Some(outer) => format!("{outer}\n  in the included file: {place}"),
            None => place,
        }
    }

    /// Whether a step runs: its `when`, rendered now, says `true` or `false` (anything else
    /// is an error in the scenario).
    fn wanted(&self, step: &Located<Step>) -> Result<bool, String> {
        let Some(when) = &step.value.when else {
            return Ok(true);
        };
        let rendered =
            template::render_string(when, &self.context()).map_err(|e| format!("when: {e}"))?;
        match rendered.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!(
                "when: `{when}` rendered to `{other}`, not `true` or `false`"
            )),
        }
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
    fn stop(&mut self, mut report: StepReport, error: StepError) -> Flow {
        report.error = Some(self.masked(error));
        self.reports.push(report);
        Flow::Stop
    }

    /// The error with its secrets masked.
    fn masked(&self, mut error: StepError) -> StepError {
        error.message = self.masker.mask(&error.message);
        error
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
        let place = self.place(file, index, located, kind);
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
                        return self.stop(
                            report,
                            StepError::idp(format!("cannot read the IdP journal: {e}")),
                        );
                    }
                }
            } else {
                0
            };
            report.error = None;
            report.checks.clear();
            report.exchanges.clear();
            match self.execute(step).await {
                Err(e) => report.error = Some(self.masked(e)),
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
                                return self.stop(
                                    report,
                                    StepError::idp(format!("cannot read the IdP journal: {e}")),
                                );
                            }
                        }
                    }
                    report.exchanges = out.transcript.iter().map(|t| self.masker.mask(t)).collect();
                    match self.check(step, &out.obs).await {
                        Err(e) => return self.stop(report, StepError::scenario(e)),
                        Ok(checks) => report.checks = checks,
                    }
                    if report.failure_level().is_none() {
                        if let Err(e) = self.save(&step.save, &out.obs) {
                            return self.stop(report, StepError::capture(e));
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
                                report.error = Some(self.masked(StepError::capture(e)));
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
        let places = step
            .expect_at
            .iter()
            .map(Some)
            .chain(std::iter::repeat(None));
        for ((expect, (level, clause)), at) in step.expect.iter().zip(levels).zip(places) {
            let wanted = expect.assumes.iter().map(|a| a.value.as_str());
            if let Some(reason) = lacks_architecture(&self.target.facts.architecture, wanted) {
                // Not a check the runner failed to make: these checks do not apply to this
                // target, so even the strict embedded run lists them as not checked.
                out.push(LeveledCheck {
                    level,
                    clause: clause.clone(),
                    line: expect
                        .assumes
                        .first()
                        .map(|a| a.referenced.line())
                        .filter(|l| *l > 0),
                    check: expect::Check {
                        what: match expect.fields() {
                            f if f.is_empty() => "expectation".into(),
                            f => f.join(", "),
                        },
                        status: CheckStatus::NotChecked { reason },
                    },
                });
                continue;
            }
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
                    line: at.and_then(|a| a.line_of(&check.what)),
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
                self.stop(report, StepError::scenario(e))
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
}

pub(super) fn seq(entry: &Value) -> u64 {
    entry.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

pub(super) fn max_seq(entries: &[Value]) -> u64 {
    entries.iter().map(seq).max().unwrap_or(0)
}
