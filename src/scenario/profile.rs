//! External targets: the profile that describes a target's configuration (which scenarios
//! apply), and the expected-failures file (known failures; the run fails when they change).

use super::model::{Action, Located, Requires, Scenario, Tmpl};
use serde::Deserialize;
use std::path::Path;

/// What an external target is configured like (`--profile FILE`, YAML).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "authproof target profile")]
pub struct Profile {
    /// `always`, `remember` or `off`.
    #[serde(default)]
    pub consent: Option<String>,
    /// `absent`, `deny_all` or `patterns`.
    #[serde(default)]
    pub allow_list: Option<String>,
    /// The upstream auth method the target uses toward the IdP.
    #[serde(default)]
    pub upstream_auth_method: Option<String>,
    /// The flavor of the mock IdP the target's upstream points at.
    #[serde(default)]
    pub idp_flavor: Option<String>,
    /// The patterns of the target's redirect-URI allow-list, when `allow_list` is `patterns`
    /// (the runner judges which URIs the target admits with the proxy's own matcher).
    #[serde(default)]
    pub allowed_redirect_uris: Option<Vec<String>>,
    /// The target's architecture (see `requires.architecture`): `own_tokens`,
    /// `own_callback`, `public_clients`. Unstated: authproof's, all three.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub architecture: Option<Vec<Located<String>>>,
    /// The scopes the target offers (its valid scopes): what a registration or an
    /// authorization request may ask for. Unstated: scenarios that name scopes are skipped.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Other settings of the target that scenarios may require (`requires.settings`), by the
    /// name authproof's configuration gives them: `forward_resource: true`, …
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, serde_json::Value>,
    /// Features the target has (`dcr`, `cimd`, `refresh_rotation`, …).
    #[serde(default)]
    pub features: Vec<String>,
    /// The MCP path of the target (default `/mcp`).
    #[serde(default)]
    pub mcp_path: Option<String>,
    /// The callback path of the target (default `/auth/callback`).
    #[serde(default)]
    pub redirect_path: Option<String>,
    /// The upstream client the target uses at the mock IdP (added through its control API).
    #[serde(default)]
    pub upstream_client: Option<serde_json::Value>,
    /// The HMAC key of the target's tokens, when known (for `signature: valid`).
    #[serde(default)]
    pub jwt_hmac_key: Option<String>,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Profile, String> {
        let p: Profile = foundations::yaml::from_file(path).map_err(|e| e.to_string())?;
        for a in p.architecture.iter().flatten() {
            check_architecture_term(&a.value).map_err(|m| {
                let at = a.referenced;
                format!(
                    "{}:{}:{}: architecture: {m}",
                    path.display(),
                    at.line(),
                    at.column()
                )
            })?;
        }
        Ok(p)
    }

    /// The target's architecture: the profile's, or authproof's when it does not say.
    pub fn architecture(&self) -> Vec<String> {
        match &self.architecture {
            Some(have) => have.iter().map(|a| a.value.clone()).collect(),
            None => ARCHITECTURE.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// `None` when the profile satisfies `requires` (already rendered for the variant), else
    /// the reason to skip.
    pub fn unsatisfied(&self, requires: &Requires, implicit: &[&str]) -> Option<String> {
        let check = |what: &str, want: &Option<Tmpl<String>>, have: &Option<String>| {
            differs(
                what,
                want.as_ref()?.lit()?,
                have.as_deref(),
                "the profile does not say",
            )
        };
        // The architecture first: it says most about why a scenario does not fit.
        let wanted = requires.architecture.iter().map(|a| a.value.as_str());
        if let Some(r) = lacks_architecture(&self.architecture(), wanted) {
            return Some(r);
        }
        if let Some(r) = check("consent", &requires.consent, &self.consent) {
            return Some(r);
        }
        if let Some(r) = check("allow_list", &requires.allow_list, &self.allow_list) {
            return Some(r);
        }
        if let Some(r) = check(
            "upstream_auth_method",
            &requires.upstream_auth_method,
            &self.upstream_auth_method,
        ) {
            return Some(r);
        }
        if let Some(r) = check("idp_flavor", &requires.idp_flavor, &self.idp_flavor) {
            return Some(r);
        }
        let mcp_path = Some(self.mcp_path.clone().unwrap_or_else(|| "/mcp".into()));
        if let Some(r) = check("mcp_path", &requires.mcp_path, &mcp_path) {
            return Some(r);
        }
        if let Some(r) = self.refuses(requires) {
            return Some(r);
        }
        if let Some(r) = self.lacks_scopes(requires) {
            return Some(r);
        }
        for (name, want) in &requires.settings {
            let have = self.settings.get(name).map(setting_text);
            let unstated = "the profile's settings do not say";
            if let Some(r) = differs(name, &setting_text(want), have.as_deref(), unstated) {
                return Some(r);
            }
        }
        for f in requires
            .features
            .iter()
            .map(String::as_str)
            .chain(implicit.iter().copied())
        {
            if !self.features.iter().any(|x| x == f) {
                return Some(match f {
                    "own_config" => format!(
                        "embedded only: {}",
                        requires.reason.as_deref().unwrap_or(
                            "the scenario configures the proxy itself (its `proxy:` section), \
                             which an external target's profile cannot state"
                        )
                    ),
                    "shared_clock" => "embedded only: the scenario moves the clock the \
                                       proxy and the mock IdP share"
                        .to_string(),
                    _ => format!("requires feature `{f}`, which the profile does not list"),
                });
            }
        }
        None
    }
}

impl Profile {
    /// The target's redirect-URI allow-list as the profile states it, or why it cannot say.
    fn stated_allow_list(&self) -> Result<crate::proxy::redirect::AllowList, String> {
        use crate::proxy::redirect::AllowList;
        match (self.allow_list.as_deref(), &self.allowed_redirect_uris) {
            (Some("deny_all"), _) => Ok(AllowList::DenyAll),
            (_, Some(patterns)) => AllowList::from_config(Some(patterns))
                .map_err(|e| format!("the profile's allowed_redirect_uris: {e}")),
            (Some("patterns"), None) => Err("names redirect URIs, and the profile says \
                 allow_list: patterns without listing them in allowed_redirect_uris"
                .into()),
            _ => Ok(AllowList::Absent),
        }
    }

    /// Why the target's stated scopes do not fit `requires.scopes` / `unknown_scopes`.
    fn lacks_scopes(&self, requires: &Requires) -> Option<String> {
        if requires.scopes.is_empty() && requires.unknown_scopes.is_empty() {
            return None;
        }
        let Some(offered) = &self.scopes else {
            return Some(
                "names scopes, and the profile does not state the scopes the target offers \
                 (scopes)"
                    .into(),
            );
        };
        let has = |s: &String| offered.iter().any(|o| o == s);
        if let Some(s) = requires.scopes.iter().find(|s| !has(s)) {
            return Some(format!(
                "asks for scope {s}, which the profile's scopes do not list"
            ));
        }
        requires
            .unknown_scopes
            .iter()
            .find(|s| has(s))
            .map(|s| format!("expects scope {s} to be unknown, and the profile's scopes list it"))
    }

    /// The first URI of `requires.registers` the target's allow-list would refuse, or the
    /// first of `requires.refuses` it would admit.
    fn refuses(&self, requires: &Requires) -> Option<String> {
        use crate::proxy::redirect::check_registration_any_app;
        let admit: Vec<&String> = requires.registers.iter().filter_map(|u| u.lit()).collect();
        let refuse: Vec<&String> = requires.refuses.iter().filter_map(|u| u.lit()).collect();
        if admit.is_empty() && refuse.is_empty() {
            return None;
        }
        let list = match self.stated_allow_list() {
            Ok(l) => l,
            Err(why) => return Some(why),
        };
        let refused = admit.into_iter().find_map(|u| {
            check_registration_any_app(u, &list)
                .err()
                .map(|why| format!("registers {u}, which the target's allow-list refuses ({why})"))
        });
        refused.or_else(|| {
            refuse.into_iter().find_map(|u| {
                check_registration_any_app(u, &list).is_ok().then(|| {
                    format!(
                        "expects {u} to be refused, and the target's allow-list admits it \
                         (the scenario's own allow-list is not the target's)"
                    )
                })
            })
        })
    }
}

/// Why the target's `have` does not satisfy a requirement `what: want` (`unstated` when the
/// profile does not give it), or `None` when it does.
fn differs(what: &str, want: &str, have: Option<&str>, unstated: &str) -> Option<String> {
    match have {
        Some(h) if h == want => None,
        Some(h) => Some(format!("requires {what}: {want} (the target has {h})")),
        None => Some(format!("requires {what}: {want} ({unstated})")),
    }
}

/// A setting's value as text: `true` and `"true"` are the same setting.
fn setting_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Features a scenario needs without saying so: moving the clock needs a target that shares
/// the runner's clock (only the embedded one does).
pub fn implicit_features(s: &Scenario) -> Vec<&'static str> {
    let mut out = Vec::new();
    let uses_clock = s
        .steps
        .iter()
        .chain(s.teardown.iter())
        .any(|st| matches!(st.value.action, Action::IdpClock(_)));
    if uses_clock {
        out.push("shared_clock");
    }
    out
}

/// The parts of a mock IdP configuration an external target's IdP takes through its control
/// API (`/_mock/clients`, `/_mock/users`, `/_mock/faults`, `/_mock/tokens`); `flavor` must be
/// the profile's.
const PORTABLE_IDP_KEYS: [&str; 5] = ["flavor", "clients", "users", "faults", "tokens"];

/// Why a scenario's `idp:` section cannot be applied to an external target's mock IdP: it
/// sets what the control API cannot change (keys, unknown users, …), or asks for
/// another flavor than the profile's. `None`: the section applies (or there is none).
pub fn unportable_idp(s: &Scenario, profile: &Profile) -> Option<String> {
    let serde_json::Value::Object(idp) = &s.idp.as_ref()?.value else {
        return None;
    };
    if let Some(key) = idp
        .keys()
        .find(|k| !PORTABLE_IDP_KEYS.contains(&k.as_str()))
    {
        return Some(format!(
            "embedded only: the scenario sets the mock IdP's `{key}`, which an external \
             target's IdP cannot change through its control API"
        ));
    }
    let flavor = idp.get("flavor").and_then(serde_json::Value::as_str)?;
    match profile.idp_flavor.as_deref() {
        Some(have) if have == flavor => None,
        Some(have) => Some(format!(
            "requires idp_flavor: {flavor} (the target's IdP is {have})"
        )),
        None => Some(format!(
            "requires idp_flavor: {flavor} (the profile does not say)"
        )),
    }
}

/// The architecture terms (`requires.architecture`, `expect.assumes`, a profile's
/// `architecture`), which are also authproof's own architecture: a proxy that mints its own
/// tokens, redeems the IdP's code at its own callback, and registers public clients.
pub const ARCHITECTURE: [&str; 3] = ["own_tokens", "own_callback", "public_clients"];

/// Why a target of architecture `have` does not fit what is `wanted` of it (the first term
/// it lacks), or `None` when it has all of it. A skipped scenario and an expectation left
/// unchecked say it the same way.
pub fn lacks_architecture<'a>(
    have: &[String],
    wanted: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let missing = wanted.into_iter().find(|w| !have.iter().any(|h| h == w))?;
    Some(format!(
        "assumes a target with {missing} (the profile's architecture: {})",
        if have.is_empty() {
            format!("none of {}", ARCHITECTURE.join(", "))
        } else {
            have.join(", ")
        }
    ))
}

/// An error for an architecture term that is not one of [`ARCHITECTURE`].
pub fn check_architecture_term(term: &str) -> Result<(), String> {
    if ARCHITECTURE.contains(&term) {
        Ok(())
    } else {
        Err(format!(
            "unknown architecture `{term}` (expected one of: {})",
            ARCHITECTURE.join(", ")
        ))
    }
}

/// Architecture a scenario assumes without saying so: a `callback` step delivers an IdP
/// response to the target's own callback.
pub fn implicit_architecture(s: &Scenario) -> Vec<&'static str> {
    let callback = s
        .steps
        .iter()
        .chain(s.teardown.iter())
        .any(|st| matches!(st.value.action, Action::Callback(_)));
    if callback {
        vec!["own_callback"]
    } else {
        vec![]
    }
}

/// Known failing trials (`--expected-failures FILE`): one trial name per line, `#` comments,
/// `*` matches any run of characters.
#[derive(Debug, Clone, Default)]
pub struct ExpectedFailures {
    pub patterns: Vec<String>,
}

impl ExpectedFailures {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let patterns = text
            .lines()
            .map(|l| l.split_once('#').map(|(a, _)| a).unwrap_or(l).trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        ExpectedFailures { patterns }
    }

    pub fn contains(&self, trial: &str) -> bool {
        self.patterns.iter().any(|p| glob(p, trial))
    }
}

/// `*` wildcard matching over a trial name (not over URLs: trial names only).
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_against_profile() {
        let p = Profile {
            consent: Some("always".into()),
            upstream_auth_method: Some("client_secret_basic".into()),
            features: vec!["dcr".into()],
            ..Default::default()
        };
        let mut r = Requires::default();
        assert_eq!(p.unsatisfied(&r, &[]), None);
        r.consent = Some(Tmpl::Lit("off".into()));
        assert!(
            p.unsatisfied(&r, &[])
                .unwrap()
                .contains("consent: off (the target has always)")
        );
        r.consent = None;
        r.upstream_auth_method = Some(Tmpl::Lit("client_secret_basic".into()));
        r.features = vec!["dcr".into()];
        assert_eq!(p.unsatisfied(&r, &[]), None);
        assert!(
            p.unsatisfied(&r, &["shared_clock"])
                .unwrap()
                .contains("moves the clock")
        );
        r.allow_list = Some(Tmpl::Lit("patterns".into()));
        assert!(p.unsatisfied(&r, &[]).unwrap().contains("does not say"));
    }

    #[test]
    fn registered_uris_against_the_stated_allow_list() {
        let mut p = Profile {
            allow_list: Some("patterns".into()),
            allowed_redirect_uris: Some(vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
            ]),
            ..Default::default()
        };
        let mut r = Requires {
            registers: vec![Tmpl::Lit("http://localhost:3000/cb".into())],
            ..Default::default()
        };
        assert_eq!(p.unsatisfied(&r, &[]), None);
        r.registers = vec![Tmpl::Lit("http://[::1]:1234/cb".into())];
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(why.contains("registers http://[::1]:1234/cb"), "{why}");
        p.allowed_redirect_uris = None;
        assert!(p.unsatisfied(&r, &[]).unwrap().contains("without listing"));
        p.allow_list = None;
        assert_eq!(p.unsatisfied(&r, &[]), None);
    }

    #[test]
    fn refused_uris_against_the_stated_allow_list() {
        let mut p = Profile {
            allow_list: Some("patterns".into()),
            allowed_redirect_uris: Some(vec!["http://localhost:*".into()]),
            ..Default::default()
        };
        let mut r = Requires {
            refuses: vec![Tmpl::Lit("https://evil.example/cb".into())],
            ..Default::default()
        };
        assert_eq!(p.unsatisfied(&r, &[]), None);
        r.refuses = vec![Tmpl::Lit("http://localhost:3000/cb".into())];
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(
            why.contains("expects http://localhost:3000/cb to be refused"),
            "{why}"
        );
        // No allow-list admits every safe URI: nothing to expect refused.
        p.allow_list = Some("absent".into());
        p.allowed_redirect_uris = None;
        r.refuses = vec![Tmpl::Lit("https://evil.example/cb".into())];
        assert!(p.unsatisfied(&r, &[]).unwrap().contains("admits it"));
        // An empty allow-list refuses everything.
        p.allow_list = Some("deny_all".into());
        assert_eq!(p.unsatisfied(&r, &[]), None);
    }

    #[test]
    fn scopes_against_the_stated_ones() {
        let mut p = Profile::default();
        let mut r = Requires {
            scopes: vec!["openid".into()],
            unknown_scopes: vec!["admin".into()],
            ..Default::default()
        };
        assert!(p.unsatisfied(&r, &[]).unwrap().contains("does not state"));
        p.scopes = Some(vec!["openid".into(), "email".into()]);
        assert_eq!(p.unsatisfied(&r, &[]), None);
        r.scopes.push("tools".into());
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(why.contains("asks for scope tools"), "{why}");
        r.scopes.pop();
        p.scopes.as_mut().unwrap().push("admin".into());
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(why.contains("expects scope admin to be unknown"), "{why}");
    }

    #[test]
    fn settings_against_the_stated_ones() {
        let mut p = Profile::default();
        let mut r = Requires::default();
        r.settings
            .insert("forward_resource".into(), serde_json::json!("true"));
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(why.contains("settings do not say"), "{why}");
        p.settings
            .insert("forward_resource".into(), serde_json::json!(true));
        assert_eq!(p.unsatisfied(&r, &[]), None);
        r.settings
            .insert("forward_resource".into(), serde_json::json!(false));
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert_eq!(
            why,
            "requires forward_resource: false (the target has true)"
        );
    }

    #[test]
    fn own_config_skips_with_the_scenarios_reason() {
        let r = Requires {
            features: vec!["own_config".into()],
            reason: Some("sets the proxy's code_ttl".into()),
            ..Default::default()
        };
        let why = Profile::default().unsatisfied(&r, &[]).unwrap();
        assert_eq!(why, "embedded only: sets the proxy's code_ttl");
    }

    fn scenario_with_idp(idp: serde_json::Value) -> Scenario {
        let mut s: Scenario = foundations::yaml::from_str("name: x\nsteps: []\n", "t").unwrap();
        s.idp = Some(crate::scenario::model::Located::new(
            idp,
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        ));
        s
    }

    #[test]
    fn idp_sections_apply_through_the_control_api_or_skip() {
        let p = Profile {
            idp_flavor: Some("oidc".into()),
            ..Default::default()
        };
        let portable = scenario_with_idp(serde_json::json!({
            "flavor": "oidc", "clients": [], "users": [], "faults": [],
            "tokens": { "refresh_rotation": "off" }
        }));
        assert_eq!(unportable_idp(&portable, &p), None);
        let unknown_users = scenario_with_idp(serde_json::json!({
            "flavor": "oidc", "accept_unknown_users": false
        }));
        let why = unportable_idp(&unknown_users, &p).unwrap();
        assert!(why.contains("`accept_unknown_users`"), "{why}");
        let github = scenario_with_idp(serde_json::json!({ "flavor": "github" }));
        let why = unportable_idp(&github, &p).unwrap();
        assert!(
            why.contains("requires idp_flavor: github (the target's IdP is oidc)"),
            "{why}"
        );
        let unstated = unportable_idp(&portable, &Profile::default()).unwrap();
        assert!(unstated.contains("the profile does not say"), "{unstated}");
    }

    #[test]
    fn an_unknown_architecture_in_a_profile_is_an_error_with_its_place() {
        let path = std::env::temp_dir().join(format!(
            "authproof-profile-{}.yaml",
            crate::oauth::random_token(6)
        ));
        std::fs::write(
            &path,
            "consent: always\narchitecture: [own_tokens, own_token]\n",
        )
        .unwrap();
        let e = Profile::load(&path).unwrap_err();
        std::fs::remove_file(&path).ok();
        assert!(
            e.ends_with(":2:28: architecture: unknown architecture `own_token` (expected one of: own_tokens, own_callback, public_clients)"),
            "{e}"
        );
        assert!(e.starts_with(&path.display().to_string()), "{e}");
    }

    #[test]
    fn architecture_assumptions() {
        let terms = |t: &[&str]| -> Vec<Located<String>> {
            t.iter()
                .map(|a| {
                    let u = serde_saphyr::Location::UNKNOWN;
                    Located::new(a.to_string(), u, u)
                })
                .collect()
        };
        let r = Requires {
            architecture: terms(&["own_callback"]),
            ..Default::default()
        };
        // Unstated: authproof's architecture.
        let mut p = Profile::default();
        assert_eq!(p.unsatisfied(&r, &[]), None);
        p.architecture = Some(terms(&["own_tokens"]));
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(why.contains("assumes a target with own_callback"), "{why}");
        p.architecture = Some(terms(&[]));
        let why = p.unsatisfied(&r, &[]).unwrap();
        assert!(
            why.contains("(the profile's architecture: none of own_tokens, own_callback"),
            "{why}"
        );
        p.architecture = Some(terms(&["own_tokens", "own_callback"]));
        assert_eq!(p.unsatisfied(&r, &[]), None);
    }

    #[test]
    fn expected_failures_globs() {
        let e =
            ExpectedFailures::parse("# known\ndcr::a\nredirects::*[method=none]  # why\n*::slow\n");
        assert!(e.contains("dcr::a"));
        assert!(!e.contains("dcr::ab"));
        assert!(e.contains("redirects::x[method=none]"));
        assert!(!e.contains("redirects::x[method=post]"));
        assert!(e.contains("faults::slow"));
    }
}
