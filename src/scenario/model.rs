//! The scenario file format: serde types with `deny_unknown_fields`, so that every typo is a
//! load error naming the file, line and column and listing the valid field names.
//!
//! Leaves that may hold a template are [`Tmpl<T>`]: either a literal `T` (checked at load time)
//! or a string containing `{{ … }}` (rendered at run time, then checked as `T`). The `idp:` and
//! `proxy:` sections are kept as JSON values with their location; they are rendered and then
//! deserialized into the mock IdP's and the proxy's own config types.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// A value with the place it was written (1-based line and column, 0 when unknown).
pub type Located<T> = Spanned<T>;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "authproof scenario")]
pub struct Scenario {
    /// A short, unique name (the trial is named `area::<file stem>[variant]`).
    pub name: String,
    /// What the scenario checks and why.
    #[serde(default)]
    pub description: Option<String>,
    /// The spec clauses the scenario checks, e.g. `RFC7591-3.2.2`, `MCP-2025-11-25-authorization`:
    /// ids of the spec index (`scenarios/_spec/index.yaml`); an unknown id is a load error.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub spec: Vec<Located<String>>,
    /// The default level of the scenario's expectations (`must`, `should` or `profile`); an
    /// expectation may override it. Without one, the scenario is held to `profile`.
    #[serde(default)]
    pub level: Option<Level>,
    /// Free tags for `--filter tag:NAME`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// What the target must be configured like; against an external target the scenario is
    /// skipped (with the reason) when the profile does not satisfy it.
    #[serde(default)]
    pub requires: Requires,
    /// Variants: every combination of the values is its own trial.
    #[serde(default)]
    pub matrix: OrderedMap<Vec<Value>>,
    /// The mock IdP's configuration (`mock_idp::config::IdpConfig`), templated.
    #[serde(default)]
    #[schemars(with = "Option<IdpSection>")]
    pub idp: Option<Located<Value>>,
    /// The embedded proxy's configuration (`ProxyConfig`), templated with `idp.*` available.
    #[serde(default)]
    #[schemars(with = "Option<ProxySection>")]
    pub proxy: Option<Located<Value>>,
    /// Local servers the trial needs: JSON documents (CIMD) and a reporting MCP backend;
    /// `fixtures.*` is available to every later section and step.
    #[serde(default)]
    #[schemars(with = "Option<FixturesSpec>")]
    pub fixtures: Option<Located<Value>>,
    /// The steps, run in order; the first failing step ends the scenario.
    #[schemars(with = "Vec<StepFile>")]
    pub steps: Vec<Located<Step>>,
    /// Steps that always run after `steps`, even when a step failed.
    #[serde(default)]
    #[schemars(with = "Vec<StepFile>")]
    pub teardown: Vec<Located<Step>>,
}

/// The `fixtures:` section of a scenario (served by `scenario::fixtures`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixturesSpec {
    /// JSON documents served at `{{ fixtures.url }}/<name>` (templated; `fixtures.url` is
    /// known while they are rendered).
    #[serde(default)]
    pub documents: std::collections::BTreeMap<String, Value>,
    /// Serve the reporting MCP backend at `{{ fixtures.backend }}`.
    #[serde(default)]
    pub backend: bool,
}

/// Placeholder schema types for the sections owned by other crates.
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct IdpSection(serde_json::Map<String, Value>);
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct ProxySection(serde_json::Map<String, Value>);

/// How binding a check is. Ordered: `Profile < Should < Must`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// authproof's own contract (DESIGN.md), stricter than the specs.
    Profile,
    /// SHOULD / RECOMMENDED, RFC 9700, the MCP security best practices.
    Should,
    /// MUST, REQUIRED, MUST NOT of the cited clause.
    Must,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Must, Level::Should, Level::Profile];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::Profile => "profile",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "must" => Some(Level::Must),
            "should" => Some(Level::Should),
            "profile" => Some(Level::Profile),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scenario needs from the target's configuration. Values may be templated from the
/// matrix (`upstream_auth_method: "{{ method }}"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// The proxy's consent mode: `always`, `remember` or `off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Tmpl<String>>,
    /// The kind of `allowed_client_redirect_uris`: `absent`, `deny_all` or `patterns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_list: Option<Tmpl<String>>,
    /// The upstream token-endpoint auth method the proxy uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_auth_method: Option<Tmpl<String>>,
    /// The mock IdP flavor the target's upstream is: `oidc`, `workos`, `github`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_flavor: Option<Tmpl<String>>,
    /// The architecture the scenario assumes of the target: `own_tokens` (it mints its own
    /// access tokens), `own_callback` (it redeems the IdP's code at its own callback, rather
    /// than passing the authorization through), `public_clients` (registrations get no
    /// secret). Steps imply some of them (a `callback` step: `own_callback`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub architecture: Vec<Located<String>>,
    /// Redirect URIs the scenario registers and expects to be admitted: against an external
    /// target the profile's `allowed_redirect_uris` must admit each one, else the trial is
    /// skipped (the target's allow-list, not the spec, would refuse it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registers: Vec<Tmpl<String>>,
    /// Redirect URIs the scenario expects the target to refuse at registration: against an
    /// external target the profile's allow-list must refuse each one, else the trial is
    /// skipped (the target's allow-list admits it, so refusing it is not the target's duty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refuses: Vec<Tmpl<String>>,
    /// Other settings of the target the scenario configures (`forward_resource: true`):
    /// against an external target the profile's `settings` must state each one with the
    /// same value.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, Value>,
    /// The MCP endpoint's path the scenario configures (`/mcp`): against an external target
    /// it must be the profile's `mcp_path` (default `/mcp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_path: Option<Tmpl<String>>,
    /// Scopes the scenario asks for and expects the target to offer: against an external
    /// target the profile's `scopes` must list each one, else the trial is skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Scopes the scenario expects the target not to offer (to see them refused): against an
    /// external target the profile's `scopes` must be stated and list none of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_scopes: Vec<String>,
    /// Named features: `dcr`, `cimd`, `refresh_rotation`, `own_config` (needs the embedded
    /// target: its own proxy configuration), …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Why the scenario is embedded only (required with `features: [own_config]`): what it
    /// configures that no profile key states. Part of the skip reason against an external
    /// target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One step as written in the file: exactly one action key, plus the common keys. Loading
/// turns it into a [`Step`], whose action is an enum.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct StepFile {
    /// A label for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Fetch the proxy's RFC 8414 / RFC 9728 metadata (`{}` or `{ what: … }`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub discover: Option<DiscoverStep>,
    /// Dynamic client registration (RFC 7591): the JSON body to POST.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub register: Option<Value>,
    /// The authorization request, followed through consent and the IdP login.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorize: Option<AuthorizeStep>,
    /// Deliver an authorization response to the proxy's callback by hand.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub callback: Option<CallbackStep>,
    /// The token endpoint (code grant by default, with the code and verifier carried along).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub token: Option<TokenStep>,
    /// A refresh-token grant (the last refresh token by default).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh: Option<RefreshStep>,
    /// Token revocation (RFC 7009).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub revoke: Option<RevokeStep>,
    /// A JSON-RPC call to the guarded MCP endpoint.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub mcp: Option<McpStep>,
    /// A raw HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpStep>,
    /// Add a fault to the mock IdP (`mock_idp::config::FaultSpec`).
    #[serde(
        rename = "idp.fault",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub idp_fault: Option<Value>,
    /// Move the shared clock of the mock IdP and the proxy.
    #[serde(
        rename = "idp.clock",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_clock: Option<ClockStep>,
    /// Rotate the mock IdP's signing keys (`idp.rotate_keys: {}`).
    #[serde(
        rename = "idp.rotate_keys",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_rotate_keys: Option<RotateKeysStep>,
    /// Read the mock IdP's request journal.
    #[serde(
        rename = "idp.journal",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub idp_journal: Option<JournalStep>,
    /// Run the steps of another file with inputs; its outputs become variables.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub include: Option<IncludeStep>,

    /// What the step's result must look like: one expectation, or a list of them (each with
    /// its own `level` and `clause`).
    #[serde(
        default,
        deserialize_with = "one_or_list_located",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(with = "Option<OneOrList<Expect>>")]
    pub expect: Vec<Located<Expect<Located<Value>>>>,
    /// Variables to capture: `name: SOURCE` where SOURCE is a JSONPath (`$.client_id`),
    /// `header:NAME`, `query:NAME` (of the redirect), `jwt:FIELD:$.claim`, `status` or `body`.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub save: OrderedMap<String>,
    /// Run the step again until its expectations hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// Run the step only when this template renders to `true` (`"{{ registered == 201 }}"`,
    /// with a status saved earlier); when it renders to `false` the step is left out and the
    /// scenario goes on. For what a spec lets a server decline: the steps that use what it
    /// declined are not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// The action keys of a step, in the order they are listed in errors.
pub const ACTIONS: &[&str] = &[
    "discover",
    "register",
    "authorize",
    "callback",
    "token",
    "refresh",
    "revoke",
    "mcp",
    "http",
    "idp.fault",
    "idp.clock",
    "idp.rotate_keys",
    "idp.journal",
    "include",
];

impl StepFile {
    /// The action keys present in this step (exactly one is valid).
    pub fn actions(&self) -> Vec<&'static str> {
        let present = [
            self.discover.is_some(),
            self.register.is_some(),
            self.authorize.is_some(),
            self.callback.is_some(),
            self.token.is_some(),
            self.refresh.is_some(),
            self.revoke.is_some(),
            self.mcp.is_some(),
            self.http.is_some(),
            self.idp_fault.is_some(),
            self.idp_clock.is_some(),
            self.idp_rotate_keys.is_some(),
            self.idp_journal.is_some(),
            self.include.is_some(),
        ];
        ACTIONS
            .iter()
            .zip(present)
            .filter_map(|(name, p)| p.then_some(*name))
            .collect()
    }
}

/// `names` as a list for messages: `a`, `b`, `c`.
pub fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a step does: the one action key of its [`StepFile`].
#[derive(Debug, Clone)]
pub enum Action {
    Discover(DiscoverStep),
    /// The JSON body to POST to the registration endpoint.
    Register(Value),
    Authorize(AuthorizeStep),
    Callback(CallbackStep),
    Token(TokenStep),
    Refresh(RefreshStep),
    Revoke(RevokeStep),
    Mcp(McpStep),
    Http(HttpStep),
    /// A `mock_idp::config::FaultSpec`, templated.
    IdpFault(Value),
    IdpClock(ClockStep),
    IdpRotateKeys,
    IdpJournal(JournalStep),
    Include(IncludeStep),
}

impl Action {
    /// The action's key in the file.
    pub fn key(&self) -> &'static str {
        match self {
            Action::Discover(_) => "discover",
            Action::Register(_) => "register",
            Action::Authorize(_) => "authorize",
            Action::Callback(_) => "callback",
            Action::Token(_) => "token",
            Action::Refresh(_) => "refresh",
            Action::Revoke(_) => "revoke",
            Action::Mcp(_) => "mcp",
            Action::Http(_) => "http",
            Action::IdpFault(_) => "idp.fault",
            Action::IdpClock(_) => "idp.clock",
            Action::IdpRotateKeys => "idp.rotate_keys",
            Action::IdpJournal(_) => "idp.journal",
            Action::Include(_) => "include",
        }
    }
}

/// One step, loaded: its action, what its result must look like, what it captures and how
/// often it is retried. Deserialized from a [`StepFile`]; a step without an action or with
/// several is a load error at the step's position.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "StepFile")]
pub struct Step {
    /// A label for reports.
    pub name: Option<String>,
    pub action: Action,
    pub expect: Vec<Expect>,
    /// Where each of `expect` was written (same order).
    pub expect_at: Vec<ExpectAt>,
    pub save: OrderedMap<String>,
    pub retry: Option<Retry>,
    /// Run only when this template renders to `true`.
    pub when: Option<String>,
}

/// Where an expectation and its checks were written: the expectation itself, and the field
/// behind each check (`status`, `header NAME`, `json PATH`). `Location::UNKNOWN` where the
/// loader could not say (a single expectation written as a map).
#[derive(Debug, Clone, Default)]
pub struct ExpectAt {
    pub at: Option<Location>,
    pub fields: Vec<(String, Location)>,
}

impl ExpectAt {
    /// The line of the field behind a check named `what` (`json $.error`, `header x`), else
    /// the expectation's own line.
    pub fn line_of(&self, what: &str) -> Option<u64> {
        self.place_of(what).map(|l| l.line())
    }

    /// The place of the field behind a check named `what` (the field itself, or a check
    /// under it: `json $.a` for `json $.a`, `header x` for `header x value`), else the
    /// expectation's own place; `None` when neither is known.
    pub fn place_of(&self, what: &str) -> Option<Location> {
        self.fields
            .iter()
            .find(|(w, _)| what == w || what.starts_with(&format!("{w} ")))
            .map(|(_, l)| *l)
            .or(self.at)
            .filter(|l| l.line() > 0)
    }
}

/// An expectation as written, split into the plain one the runner renders and checks, and the
/// places of its parts.
fn place_expect(e: Located<Expect<Located<Value>>>) -> (Expect, ExpectAt) {
    let known = |l: Location| (l.line() > 0).then_some(l);
    let mut at = ExpectAt {
        at: known(e.referenced),
        fields: Vec::new(),
    };
    let (plain, fields) = e.value.unplace();
    at.fields = fields;
    (plain, at)
}

impl<V> Expect<V> {
    /// What the expectation checks, named as reports name checks (`status`, `json $.a`,
    /// `jwt access_token`, …), for a report that lists it without making it.
    pub fn fields(&self) -> Vec<String> {
        let mut out = Vec::new();
        let named = |out: &mut Vec<String>, prefix: &str, keys: Vec<&String>| {
            out.extend(keys.into_iter().map(|k| format!("{prefix} {k}")));
        };
        if self.status.is_some() {
            out.push("status".to_string());
        }
        named(
            &mut out,
            "header",
            self.headers.iter().map(|(k, _)| k).collect(),
        );
        named(&mut out, "json", self.json.iter().map(|(k, _)| k).collect());
        named(&mut out, "jwt", self.jwt.iter().map(|(k, _)| k).collect());
        let present = [
            ("redirect", self.redirect.is_some()),
            ("html", self.html.is_some()),
            ("body", self.body.is_some()),
            ("journal", self.journal.is_some()),
            ("client_auth", self.client_auth.is_some()),
            ("count", self.count.is_some()),
            ("any_of", !self.any_of.is_empty()),
        ];
        named(&mut out, "form", self.form.iter().map(|(k, _)| k).collect());
        named(
            &mut out,
            "query",
            self.query.iter().map(|(k, _)| k).collect(),
        );
        out.extend(
            present
                .iter()
                .filter(|(_, p)| *p)
                .map(|(n, _)| n.to_string()),
        );
        out
    }
}

impl<V> Default for Expect<V> {
    fn default() -> Self {
        Expect {
            level: None,
            clause: None,
            assumes: Vec::new(),
            status: None,
            headers: OrderedMap::default(),
            json: OrderedMap::default(),
            jwt: OrderedMap::default(),
            redirect: None,
            html: None,
            body: None,
            journal: None,
            form: OrderedMap::default(),
            query: OrderedMap::default(),
            client_auth: None,
            count: None,
            any_of: Vec::new(),
        }
    }
}

impl Expect<Located<Value>> {
    /// The plain expectation, and the place of each field behind a check.
    fn unplace(self) -> (Expect, Vec<(String, Location)>) {
        let mut fields = Vec::new();
        let status = self.status.map(|s| {
            fields.push(("status".to_string(), s.referenced));
            s.value
        });
        let mut unplace_map = |prefix: &str, m: OrderedMap<Located<Value>>| {
            OrderedMap(
                m.0.into_iter()
                    .map(|(k, v)| {
                        fields.push((format!("{prefix} {k}"), v.referenced));
                        (k, v.value)
                    })
                    .collect(),
            )
        };
        let headers = unplace_map("header", self.headers);
        let json = unplace_map("json", self.json);
        let plain = Expect {
            level: self.level,
            clause: self.clause,
            assumes: self.assumes,
            status,
            headers,
            json,
            jwt: self.jwt,
            redirect: self.redirect,
            html: self.html,
            body: self.body,
            journal: self.journal,
            form: self.form,
            query: self.query,
            client_auth: self.client_auth,
            count: self.count,
            any_of: self
                .any_of
                .into_iter()
                .enumerate()
                .map(|(i, alt)| {
                    let (alt, places) = alt.unplace();
                    fields.extend(
                        places
                            .into_iter()
                            .map(|(w, l)| (format!("any_of[{i}] {w}"), l)),
                    );
                    alt
                })
                .collect(),
        };
        (plain, fields)
    }
}

impl TryFrom<StepFile> for Step {
    type Error = String;

    fn try_from(f: StepFile) -> Result<Step, String> {
        let actions = f.actions();
        if actions.len() > 1 {
            return Err(format!(
                "the step has several actions ({}); a step does exactly one",
                quoted(&actions)
            ));
        }
        let action = if let Some(d) = f.discover {
            Action::Discover(d)
        } else if let Some(b) = f.register {
            Action::Register(b)
        } else if let Some(a) = f.authorize {
            Action::Authorize(a)
        } else if let Some(c) = f.callback {
            Action::Callback(c)
        } else if let Some(t) = f.token {
            Action::Token(t)
        } else if let Some(r) = f.refresh {
            Action::Refresh(r)
        } else if let Some(r) = f.revoke {
            Action::Revoke(r)
        } else if let Some(m) = f.mcp {
            Action::Mcp(m)
        } else if let Some(h) = f.http {
            Action::Http(h)
        } else if let Some(x) = f.idp_fault {
            Action::IdpFault(x)
        } else if let Some(c) = f.idp_clock {
            Action::IdpClock(c)
        } else if f.idp_rotate_keys.is_some() {
            Action::IdpRotateKeys
        } else if let Some(j) = f.idp_journal {
            Action::IdpJournal(j)
        } else if let Some(i) = f.include {
            Action::Include(i)
        } else {
            return Err(format!(
                "the step has no action; expected one of: {}",
                quoted(ACTIONS)
            ));
        };
        let (expect, expect_at) = f.expect.into_iter().map(place_expect).unzip();
        Ok(Step {
            name: f.name,
            action,
            expect,
            expect_at,
            save: f.save,
            retry: f.retry,
            when: f.when,
        })
    }
}

impl Step {
    /// The step's action key.
    pub fn action(&self) -> &'static str {
        self.action.key()
    }

    /// A label for reports: the step's name, or its action.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{} ({n})", self.action()),
            None => self.action().to_string(),
        }
    }
}

/// Which metadata document `discover` fetches.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverStep {
    /// Discovery as an MCP client does it (401 challenge → RFC 9728 → RFC 8414); the step
    /// observes `authorization_server` (default: the RFC 8414 document), `protected_resource`
    /// (the RFC 9728 document) or `challenge` (the unauthenticated probe's 401). `openid`
    /// fetches the OIDC discovery document instead (which the proxy must not serve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<Tmpl<DiscoverWhat>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscoverWhat {
    AuthorizationServer,
    ProtectedResource,
    Challenge,
    Openid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsentAction {
    /// Approve on the consent page.
    Approve,
    /// Deny on the consent page.
    Deny,
    /// Stop at the consent page (or wherever the flow stops) without answering.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PkceMode {
    /// A fresh verifier and its S256 challenge (default).
    S256,
    /// `code_challenge_method=plain` (the proxy must refuse it).
    Plain,
    /// No PKCE parameters at all.
    None,
}

/// PKCE for `authorize`: a mode, or an explicit challenge/verifier pair.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PkceSpec {
    Mode(PkceMode),
    Custom(PkceCustom),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkceCustom {
    /// The `code_challenge` sent (may be omitted to send none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// `code_challenge_method` (default `S256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The `code_verifier` later sent by `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeStep {
    /// Default: the client registered last.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub client_id: Param,
    /// Default: the first redirect URI of the last registration.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub redirect_uri: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub scope: Param,
    /// RFC 8707 resource (default: the remembered resource; `null` sends none).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub resource: Param,
    /// Default: a fresh random state.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub state: Param,
    /// Default: `code`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub response_type: Param,
    /// The mock IdP user to log in as (headless login via `login_hint`).
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub as_user: Option<Tmpl<String>>,
    /// `approve` (default), `deny` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Tmpl<ConsentAction>>,
    /// `s256` (default), `plain`, `none` or `{ challenge, verifier, method }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<Tmpl<PkceSpec>>,
    /// Extra query parameters for the authorization request (a map, or a template giving one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Tmpl<OrderedMap<Value>>>,
}

/// Send an authorization response to the proxy's callback (`redirect_path`) directly.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackStep {
    /// Query parameters (`code`, `state`, `error`, …).
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub query: OrderedMap<Value>,
    /// Path of the callback (default `/auth/callback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Tmpl<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenStep {
    /// Default `authorization_code`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub grant_type: Param,
    /// Default: the code from the last `authorize`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub code: Param,
    /// Default: the verifier of the last `authorize` (`null` sends none).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub code_verifier: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub client_id: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub redirect_uri: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub resource: Param,
    /// Extra form fields, sent after the others (repeat a field to test duplicates).
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub form: OrderedMap<Value>,
    /// Client authentication: `auto` (default), `none`, `basic`, `post`, `nothing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Tmpl<AuthKind>>,
    /// The secret for `basic` / `post` (default: the registration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Tmpl<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshStep {
    /// Default: the last refresh token issued.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub refresh_token: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub client_id: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub scope: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub resource: Param,
    /// Client authentication: `auto` (default), `none`, `basic`, `post`, `nothing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Tmpl<AuthKind>>,
    /// The secret for `basic` / `post` (default: the registration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Tmpl<String>>,
    /// Extra form fields.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub form: OrderedMap<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeStep {
    /// Default: the last access token.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub token: Param,
    /// `access_token` or `refresh_token`: which carried token to revoke, and the hint sent.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub token_type_hint: Param,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub client_id: Param,
    /// Client authentication: `auto` (default), `none`, `basic`, `post`, `nothing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Tmpl<AuthKind>>,
    /// The secret for `basic` / `post` (default: the registration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Tmpl<String>>,
    /// Extra form fields.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub form: OrderedMap<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpStep {
    /// JSON-RPC method (default `tools/list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Tmpl<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Bearer token (default: the last access token; `null` sends no Authorization header).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<Tmpl<String>>")]
    pub token: Param,
    /// Extra headers.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub headers: OrderedMap<Value>,
    /// A whole JSON-RPC body instead of `method`/`params`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// Default `GET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Tmpl<String>>,
    /// Absolute, or a path relative to the proxy (`/register`).
    pub url: Tmpl<String>,
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub headers: OrderedMap<Value>,
    /// Query parameters added to the URL.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub query: OrderedMap<Value>,
    /// A form body (`application/x-www-form-urlencoded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<OrderedMap<Value>>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A raw body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Tmpl<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockStep {
    /// Move time forward: `30s`, `5m`, `1h`, `2d`, `1h30m`, `500ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance: Option<Tmpl<String>>,
    /// Stop the clock (`freeze: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freeze: Option<Tmpl<bool>>,
    /// Let a frozen clock run again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Tmpl<bool>>,
    /// Set the time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Tmpl<i64>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeysStep {}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalStep {
    /// Only requests to this path (exact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Tmpl<String>>,
    /// Only requests with this method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Tmpl<String>>,
    /// Only the last matching request (the expectations then see one entry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Tmpl<bool>>,
    /// Only requests recorded since the scenario's previous `idp.journal` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_last: Option<Tmpl<bool>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludeStep {
    /// The file of steps, relative to the including file.
    pub file: String,
    /// Inputs of the included file.
    #[serde(default, rename = "with", skip_serializing_if = "OrderedMap::is_empty")]
    pub with: OrderedMap<Value>,
}

/// A file of steps for `include`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludeFile {
    #[serde(default)]
    pub description: Option<String>,
    /// Input names, with a default value or `null` when required.
    #[serde(default)]
    pub inputs: OrderedMap<Value>,
    #[schemars(with = "Vec<StepFile>")]
    pub steps: Vec<Located<Step>>,
    /// Values handed back to the including scenario (templates over the included scope).
    #[serde(default)]
    pub outputs: OrderedMap<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// How many more attempts after the first.
    pub times: u32,
    /// Pause between attempts (`100ms`, `1s`; default `200ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
}

/// What a step's result must look like. `V` is a value as checked (`Value`), or as loaded
/// with its place (`Located<Value>`) for the fields whose checks report their line.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    bound(serialize = "V: Serialize", deserialize = "V: Deserialize<'de>")
)]
pub struct Expect<V = Value> {
    /// The level of this expectation's checks (default: the scenario's `level`); may be a
    /// template, so that a matrix variant can be judged at its own level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Tmpl<Level>>,
    /// The clause this expectation checks (an id of the spec index); default: the scenario's
    /// first `spec` entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub clause: Option<Located<String>>,
    /// The architecture this expectation's checks assume of the target (`own_tokens`,
    /// `own_callback`, `public_clients`, as in `requires.architecture`). Against a target
    /// whose profile lacks one, the checks are listed as not checked, with the reason, and
    /// the rest of the scenario still runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub assumes: Vec<Located<String>>,
    /// A status (`200`), a class (`4xx`), or a list of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Value>")]
    pub status: Option<V>,
    /// Header name → exact value, `regex:…`, `null` (absent), or a predicate.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    #[schemars(with = "OrderedMap<Value>")]
    pub headers: OrderedMap<V>,
    /// JSONPath → expected value or predicate (`exists`, `absent`, `contains`, `regex`,
    /// `one_of`, `type`, `length`, `gt`, `lt`, `ge`, `le`, `eq`, `ne`, `starts_with`, …).
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    #[schemars(with = "OrderedMap<Value>")]
    pub json: OrderedMap<V>,
    /// Field (or JSONPath) holding a JWT → `{ header, claims, signature }` or a claims map.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub jwt: OrderedMap<Value>,
    /// The redirect: the authorization response, or a `Location` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Tmpl<RedirectExpect>>,
    /// The HTML (or any text) body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<Tmpl<HtmlExpect>>,
    /// The raw body: exact string or predicate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The mock IdP requests made during this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<Tmpl<JournalExpect>>,
    /// `idp.journal` steps: the form of each selected request.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub form: OrderedMap<Value>,
    /// `idp.journal` steps: the query of each selected request.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub query: OrderedMap<Value>,
    /// `idp.journal` steps: the client authentication of each selected request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<Value>,
    /// `idp.journal` steps: how many requests were selected (number or predicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Value>,
    /// Alternatives, any one of which is enough: for a clause that allows several answers
    /// (`X-Frame-Options: DENY` or a CSP `frame-ancestors`). Their own `level` and `clause`
    /// are the enclosing expectation's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<Expect>")]
    pub any_of: Vec<Expect<V>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectExpect {
    /// The redirect target without its query: a prefix match (exact when it has a path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Query parameter → expected value or predicate.
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub query: OrderedMap<Value>,
    /// Query parameters that must not be there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<String>,
    /// `false`: there must be no redirect at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// `true`: check the query only if there is a redirect; without one the checks are not
    /// made (another expectation, at its own level, judges whether there should be one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub when_redirected: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtmlExpect {
    /// Text the body must contain (as written, or after decoding HTML entities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "one_or_many")]
    #[schemars(with = "OneOrMany")]
    pub contains: Vec<String>,
    /// Text the raw body must not contain (`&lt;script` is not `<script`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "one_or_many")]
    #[schemars(with = "OneOrMany")]
    pub not_contains: Vec<String>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalExpect {
    /// Only requests to this path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Number of matching requests (number or predicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Value>,
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub form: OrderedMap<Value>,
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub query: OrderedMap<Value>,
    #[serde(default, skip_serializing_if = "OrderedMap::is_empty")]
    pub headers: OrderedMap<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<Value>,
}

// ---------------------------------------------------------------------------------------------
// Helpers: templated leaves, ordered maps, "present even when null".

/// A request field of a flow step: absent (`None`) = the flow client's automatic value
/// (remembered or generated); `null` (`Some(None)`) = leave the parameter out; a value = send it.
pub type Param = Option<Option<Tmpl<String>>>;

fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Param, D::Error> {
    Option::<Tmpl<String>>::deserialize(d).map(Some)
}

/// How `token`, `refresh` and `revoke` authenticate the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// From the registration (default).
    Auto,
    /// `client_id` in the form, no secret.
    None,
    /// HTTP Basic with `client_secret`.
    Basic,
    /// `client_id` and `client_secret` in the form.
    Post,
    /// Neither `client_id` nor a secret.
    Nothing,
}

/// A leaf that is either a literal `T` or a template string (`"{{ … }}"`).
#[derive(Debug, Clone, PartialEq)]
pub enum Tmpl<T> {
    Lit(T),
    Template(String),
}

impl<T> Tmpl<T> {
    /// The literal value (after rendering every leaf is a literal).
    pub fn lit(&self) -> Option<&T> {
        match self {
            Tmpl::Lit(v) => Some(v),
            Tmpl::Template(_) => None,
        }
    }
}

/// Whether a string holds template syntax.
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tmpl<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use de::IntoDeserializer;
        use de::value::{MapAccessDeserializer, SeqAccessDeserializer};

        struct TmplVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> TmplVisitor<T> {
            /// A scalar as `T`, or (for `state: 123` into a string) its text.
            fn scalar<E: de::Error, V>(v: V, text: String) -> Result<Tmpl<T>, E>
            where
                V: IntoDeserializer<'de, E>,
            {
                match T::deserialize(v.into_deserializer()) {
                    Ok(t) => Ok(Tmpl::Lit(t)),
                    Err(e) => T::deserialize(text.into_deserializer())
                        .map(Tmpl::Lit)
                        .map_err(|_: E| e),
                }
            }
        }

        impl<'de, T: Deserialize<'de>> Visitor<'de> for TmplVisitor<T> {
            type Value = Tmpl<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a template string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if is_template(v) {
                    return Ok(Tmpl::Template(v.to_string()));
                }
                T::deserialize(v.into_deserializer()).map(Tmpl::Lit)
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                self.visit_str(&v)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Self::scalar(v, v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::scalar(v, v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::scalar(v, v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::scalar(v, v.to_string())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                T::deserialize(().into_deserializer()).map(Tmpl::Lit)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                self.visit_unit()
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                Tmpl::deserialize(d)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Tmpl::Lit)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                T::deserialize(SeqAccessDeserializer::new(seq)).map(Tmpl::Lit)
            }
        }

        d.deserialize_any(TmplVisitor(PhantomData))
    }
}

impl<T: Serialize> Serialize for Tmpl<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tmpl::Lit(v) => v.serialize(s),
            Tmpl::Template(t) => s.serialize_str(t),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Tmpl<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Templated_{}", T::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [inner, { "type": "string", "pattern": "\\{\\{", "description": "a template" }]
        })
    }
}

/// A map that keeps the order it was written in.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    out.push((key, value));
                }
                Ok(OrderedMap(out))
            }
        }
        d.deserialize_map(V2(PhantomData))
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<V: JsonSchema> JsonSchema for OrderedMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", V::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let inner = generator.subschema_for::<V>();
        json_schema!({ "type": "object", "additionalProperties": inner })
    }
}

/// `key:` with a null value still counts as present (`idp.rotate_keys:`, `discover:`). The
/// value is deserialized directly (not through a JSON value), so nested errors keep their
/// exact line and column.
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct PresentVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for PresentVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a step argument")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(T::default()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Some(T::default()))
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            T::deserialize(d).map(Some)
        }
    }
    d.deserialize_option(PresentVisitor(PhantomData))
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrList<T> {
    One(T),
    List(Vec<T>),
}

/// [`one_or_list`] for located items: a list keeps each item's place; a single map gets an
/// unknown place (its fields keep theirs).
fn one_or_list_located<'de, D, T>(d: D) -> Result<Vec<Located<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    use de::value::{MapAccessDeserializer, SeqAccessDeserializer};
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<Located<T>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an expectation or a list of expectations")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let t = T::deserialize(MapAccessDeserializer::new(map))?;
            Ok(vec![Located::new(t, Location::UNKNOWN, Location::UNKNOWN)])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Vec::<Located<T>>::deserialize(SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(V(PhantomData))
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(de::Error::custom(format!(
                    "expected a string, found {other}"
                ))),
            })
            .collect(),
        other => Err(de::Error::custom(format!(
            "expected a string or a list of strings, found {other}"
        ))),
    }
}
