//! Scripted faults: which requests they hit, how often, and what they do.
//!
//! ```yaml
//! faults:
//!   - match: { endpoint: token, params: { grant_type: refresh_token } }
//!     times: once                      # once | always | N
//!     action: { respond: { status: 503, json: { error: temporarily_unavailable } } }
//!   - match: { endpoint: token }
//!     delay_ms: 250                    # alone, or before any action
//!   - match: { endpoint: jwks }
//!     action: close                    # drop the connection without a response
//!   - action: malformed_json
//!   - action: { mutate_token: expired }  # wrong_iss | wrong_aud | expired | alg_none | unknown_kid | bad_signature
//!   - action: { token_response: { omit: [refresh_token], set: { expires_in: 5 } } }
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// One fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Which requests it hits (all of them when empty).
    #[serde(rename = "match", default)]
    pub matcher: FaultMatch,
    /// How many times it fires: `once`, `always` or a number. Default once.
    #[serde(default)]
    pub times: Times,
    /// Wait this long before answering (real time, not the mock clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// What happens instead of (or to) the normal answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FaultAction>,
}

/// Request matcher: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FaultMatch {
    /// Endpoint name: discovery, authorization_server_metadata, jwks, authorize, login,
    /// consent, token, userinfo, register, revoke, introspect, user (github).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Exact request path (alternative to `endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// HTTP method (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Query or form parameters that must be present with these values (`"*"`: any value).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The client making the request (form, query or Basic credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// How often a fault fires.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Times {
    /// The first matching request only.
    #[default]
    Once,
    /// The first N matching requests.
    Count(u64),
    /// Every matching request.
    Always,
}

impl Serialize for Times {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Times::Once => s.serialize_str("once"),
            Times::Always => s.serialize_str("always"),
            Times::Count(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Times {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Times;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`once`, `always` or a positive number")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Times, E> {
                if v == 0 {
                    return Err(E::custom("times must be at least 1"));
                }
                Ok(Times::Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Times, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("times must be at least 1"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Times, E> {
                match v {
                    "once" => Ok(Times::Once),
                    "always" => Ok(Times::Always),
                    other => match other.parse::<u64>() {
                        Ok(n) => self.visit_u64(n),
                        Err(_) => Err(E::custom(format!(
                            "unknown times {other:?}: expected once, always or a number"
                        ))),
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// What [`Times`]' deserializer accepts: `once`, `always`, a positive integer, or a string of
/// digits (an optional `+`, as `u64::from_str` takes) whose value is positive.
impl JsonSchema for Times {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Times".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How many times a fault fires: `once`, `always` or a positive number.",
            "oneOf": [
                { "type": "string", "enum": ["once", "always"] },
                { "type": "integer", "minimum": 1, "maximum": u64::MAX },
                { "type": "string", "pattern": "^\\+?0*[1-9][0-9]*$" }
            ]
        })
    }
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status, JSON body and headers instead of the real answer.
    Respond(RespondSpec),
    /// Drop the connection without answering.
    Close,
    /// Answer 200 with `Content-Type: application/json` and a truncated JSON body.
    MalformedJson,
    /// Damage both the access token (when a JWT) and the ID token of the answer.
    MutateToken(Mutation),
    /// Damage only the access token.
    MutateAccessToken(Mutation),
    /// Damage only the ID token.
    MutateIdToken(Mutation),
    /// Change fields of a successful token response.
    TokenResponse(TokenResponseOverride),
}

/// A canned answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondSpec {
    /// HTTP status.
    pub status: u16,
    /// JSON body (sent with `Content-Type: application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// Raw body text (when `json` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Extra response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A token mutation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mutation {
    /// `iss` of another issuer, validly signed.
    WrongIss,
    /// `aud` of another audience, validly signed.
    WrongAud,
    /// `exp` in the past, validly signed.
    Expired,
    /// `alg: none` and no signature.
    AlgNone,
    /// Signed by the current key but with a `kid` not in the JWKS.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
}

/// Changes to a token response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TokenResponseOverride {
    /// Fields to remove (e.g. `refresh_token`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub omit: Vec<String>,
    /// Fields to set or add (e.g. `expires_in: 5`, `refresh_expires_in: 60`).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub set: serde_json::Map<String, serde_json::Value>,
}

/// What the matcher sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Endpoint name, when the path is a known endpoint.
    pub endpoint: Option<&'a str>,
    /// Request path.
    pub path: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// Query parameters.
    pub query: &'a BTreeMap<String, String>,
    /// Form parameters.
    pub form: &'a BTreeMap<String, String>,
    /// The client making the request.
    pub client_id: Option<&'a str>,
}

impl FaultMatch {
    /// Whether this matcher accepts the request.
    pub fn matches(&self, r: &RequestFacts<'_>) -> bool {
        if let Some(e) = &self.endpoint
            && r.endpoint != Some(e.as_str())
        {
            return false;
        }
        if let Some(p) = &self.path
            && p != r.path
        {
            return false;
        }
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(r.method)
        {
            return false;
        }
        if let Some(c) = &self.client_id
            && r.client_id != Some(c.as_str())
        {
            return false;
        }
        self.params.iter().all(|(k, want)| {
            let got = r.form.get(k).or_else(|| r.query.get(k));
            match got {
                Some(v) => want == "*" || v == want,
                None => false,
            }
        })
    }
}

/// A fault with its remaining count.
#[derive(Debug, Clone)]
pub struct ActiveFault {
    /// The fault as configured.
    pub spec: FaultSpec,
    /// Fires left (None: always).
    remaining: Option<u64>,
}

impl ActiveFault {
    /// Arm a fault.
    pub fn new(spec: FaultSpec) -> Self {
        let remaining = match spec.times {
            Times::Once => Some(1),
            Times::Count(n) => Some(n),
            Times::Always => None,
        };
        Self { spec, remaining }
    }
}

/// The armed faults, in the order they were added.
#[derive(Debug, Clone, Default)]
pub struct FaultList {
    faults: Vec<ActiveFault>,
}

impl FaultList {
    /// Add a fault at the end.
    pub fn push(&mut self, spec: FaultSpec) {
        self.faults.push(ActiveFault::new(spec));
    }

    /// Remove every fault.
    pub fn clear(&mut self) {
        self.faults.clear();
    }

    /// The faults still armed.
    pub fn specs(&self) -> Vec<FaultSpec> {
        self.faults.iter().map(|f| f.spec.clone()).collect()
    }

    /// Take the first matching fault, spending one of its fires; spent faults are dropped.
    pub fn take(&mut self, r: &RequestFacts<'_>) -> Option<FaultSpec> {
        let i = self.faults.iter().position(|f| f.spec.matcher.matches(r))?;
        let f = &mut self.faults[i];
        let spec = f.spec.clone();
        if let Some(n) = f.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.faults.remove(i);
            }
        }
        Some(spec)
    }

    /// Whether any fault is armed (a cheap check before collecting request facts).
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        q: &'a BTreeMap<String, String>,
        f: &'a BTreeMap<String, String>,
    ) -> RequestFacts<'a> {
        RequestFacts {
            endpoint: Some("token"),
            path: "/token",
            method: "POST",
            query: q,
            form: f,
            client_id: Some("app"),
        }
    }

    #[test]
    fn times_parse_from_yaml() {
        let specs: Vec<FaultSpec> = crate::yaml::from_str(
            "- { times: once, action: close }\n- { times: 3, action: malformed_json }\n- { times: always, delay_ms: 5 }\n",
            "t",
        )
        .unwrap();
        assert_eq!(specs[0].times, Times::Once);
        assert_eq!(specs[1].times, Times::Count(3));
        assert_eq!(specs[2].times, Times::Always);
        assert!(crate::yaml::from_str::<FaultSpec>("times: 0\n", "t").is_err());
        assert!(crate::yaml::from_str::<FaultSpec>("times: twice\n", "t").is_err());
    }

    #[test]
    fn actions_parse_from_yaml() {
        let s: FaultSpec = crate::yaml::from_str(
            "action: { respond: { status: 503, json: { error: x }, headers: { retry-after: '1' } } }\n",
            "t",
        )
        .unwrap();
        assert!(matches!(s.action, Some(FaultAction::Respond(ref r)) if r.status == 503));
        let s: FaultSpec =
            crate::yaml::from_str("action: { mutate_token: alg_none }\n", "t").unwrap();
        assert_eq!(s.action, Some(FaultAction::MutateToken(Mutation::AlgNone)));
        let s: FaultSpec = crate::yaml::from_str(
            "action: { token_response: { omit: [refresh_token], set: { expires_in: 5 } } }\n",
            "t",
        )
        .unwrap();
        let Some(FaultAction::TokenResponse(o)) = s.action else {
            panic!()
        };
        assert_eq!(o.omit, vec!["refresh_token"]);
        assert_eq!(o.set["expires_in"], 5);
    }

    #[test]
    fn matching_and_counting() {
        let q = BTreeMap::new();
        let mut f = BTreeMap::new();
        f.insert("grant_type".to_string(), "refresh_token".to_string());
        let mut list = FaultList::default();
        list.push(FaultSpec {
            matcher: FaultMatch {
                endpoint: Some("token".into()),
                params: [("grant_type".to_string(), "authorization_code".to_string())].into(),
                ..Default::default()
            },
            times: Times::Always,
            ..Default::default()
        });
        list.push(FaultSpec {
            matcher: FaultMatch {
                client_id: Some("app".into()),
                params: [("grant_type".to_string(), "*".to_string())].into(),
                ..Default::default()
            },
            times: Times::Count(2),
            ..Default::default()
        });
        assert!(list.take(&facts(&q, &f)).is_some());
        assert!(list.take(&facts(&q, &f)).is_some());
        assert!(list.take(&facts(&q, &f)).is_none());
        assert_eq!(list.specs().len(), 1);
    }
}
