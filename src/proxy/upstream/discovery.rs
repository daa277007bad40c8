//! OIDC discovery / RFC 8414 metadata of the upstream IdP.
//!
//! Strict discovery (OIDC presets with `upstream.strict: true`, the default) requires every
//! field OIDC Discovery §3 makes mandatory: `issuer`, `authorization_endpoint`,
//! `token_endpoint`, `jwks_uri` (all http(s) URLs), `response_types_supported`,
//! `subject_types_supported` and `id_token_signing_alg_values_supported`. Non-strict
//! discovery needs only the two endpoints.

use super::{MAX_RESPONSE_BYTES, UpstreamError, read_limited, reqwest_error};
use crate::proxy::config::UpstreamConfig;
use serde_json::Value;
use std::time::Duration;

/// The upstream endpoints the proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The IdP's issuer, when discovered (checked against RFC 9207 `iss` in callbacks).
    pub issuer: Option<String>,
    /// Where browsers are sent to log in.
    pub authorization_endpoint: url::Url,
    /// Code exchange and refresh.
    pub token_endpoint: url::Url,
    /// RFC 7009 revocation, if any.
    pub revocation_endpoint: Option<url::Url>,
    /// Whether the IdP says it sends `iss` in authorization responses.
    pub iss_parameter_supported: bool,
    /// The IdP's JWKS (explicit or discovered).
    pub jwks_uri: Option<url::Url>,
    /// The userinfo endpoint (explicit or discovered).
    pub userinfo_endpoint: Option<url::Url>,
    /// The RFC 7662 introspection endpoint (explicit or discovered).
    pub introspection_endpoint: Option<url::Url>,
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// `issuer`.
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<String>,
    /// `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: Option<String>,
    /// `introspection_endpoint`.
    pub introspection_endpoint: Option<String>,
    /// `registration_endpoint` (RFC 7591; AuthKit).
    pub registration_endpoint: Option<String>,
    /// `authorization_response_iss_parameter_supported`.
    pub iss_parameter_supported: bool,
    /// `token_endpoint_auth_methods_supported` (absent: not advertised).
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported`.
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `response_types_supported`.
    pub response_types_supported: Option<Vec<String>>,
    /// `grant_types_supported`.
    pub grant_types_supported: Option<Vec<String>>,
    /// `id_token_signing_alg_values_supported`.
    pub id_token_signing_alg_values_supported: Option<Vec<String>>,
    /// The whole document.
    pub document: Value,
}

/// OIDC Discovery §3 fields that must be present (and non-empty) in strict mode.
pub const OIDC_REQUIRED_FIELDS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
];
/// Required fields that must be http(s) URLs.
const OIDC_URL_FIELDS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
];

fn http_url(what: &str, s: &str) -> Result<url::Url, UpstreamError> {
    let u = url::Url::parse(s)
        .map_err(|e| UpstreamError::BadResponse(format!("{what} {s:?} is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(UpstreamError::BadResponse(format!(
            "{what} {s:?} is not http(s)"
        )));
    }
    Ok(u)
}

/// Fetch and parse a discovery document, within `timeout` (the whole request).
pub async fn discover(
    http: &reqwest::Client,
    config_url: &str,
    timeout: Duration,
) -> Result<Discovered, UpstreamError> {
    let resp = http
        .get(config_url)
        .timeout(timeout)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| reqwest_error(&e))?;
    let status = resp.status().as_u16();
    if matches!(status, 429 | 502 | 503 | 504) {
        return Err(UpstreamError::Unavailable(format!(
            "discovery answered HTTP {status}"
        )));
    }
    if !(200..300).contains(&status) {
        return Err(UpstreamError::BadResponse(format!(
            "discovery answered HTTP {status}"
        )));
    }
    let body = read_limited(resp, MAX_RESPONSE_BYTES).await?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| UpstreamError::BadResponse(format!("discovery document is not JSON: {e}")))?;
    Discovered::from_document(v)
}

impl Discovered {
    /// Read a discovery document.
    pub fn from_document(v: Value) -> Result<Discovered, UpstreamError> {
        if !v.is_object() {
            return Err(UpstreamError::BadResponse(
                "discovery document is not a JSON object".into(),
            ));
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        // A list of strings; members that are not strings are ignored.
        let list = |k: &str| {
            v.get(k).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
        };
        Ok(Discovered {
            registration_endpoint: s("registration_endpoint"),
            token_endpoint_auth_methods_supported: list("token_endpoint_auth_methods_supported"),
            code_challenge_methods_supported: list("code_challenge_methods_supported"),
            scopes_supported: list("scopes_supported"),
            response_types_supported: list("response_types_supported"),
            grant_types_supported: list("grant_types_supported"),
            id_token_signing_alg_values_supported: list("id_token_signing_alg_values_supported"),
            issuer: s("issuer"),
            authorization_endpoint: s("authorization_endpoint"),
            token_endpoint: s("token_endpoint"),
            revocation_endpoint: s("revocation_endpoint"),
            jwks_uri: s("jwks_uri"),
            userinfo_endpoint: s("userinfo_endpoint"),
            introspection_endpoint: s("introspection_endpoint"),
            iss_parameter_supported: v
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            document: v,
        })
    }

    /// The OIDC-mandatory fields that are missing or unusable (empty when all are fine).
    pub fn oidc_problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for field in OIDC_REQUIRED_FIELDS {
            let ok = match self.document.get(*field) {
                Some(Value::String(s)) => !s.trim().is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                _ => false,
            };
            if !ok {
                out.push(format!("missing required configuration metadata: {field}"));
                continue;
            }
            if OIDC_URL_FIELDS.contains(field)
                && let Some(s) = self.document.get(*field).and_then(Value::as_str)
                && http_url(field, s).is_err()
            {
                out.push(format!("invalid URL for configuration metadata: {field}"));
            }
        }
        out
    }

    /// Strict mode: every OIDC-mandatory field, or an error naming the first ones missing.
    pub fn check_strict(&self) -> Result<(), UpstreamError> {
        let problems = self.oidc_problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(UpstreamError::BadResponse(format!(
                "the discovery document is not a complete OIDC configuration (strict): {}",
                problems.join("; ")
            )))
        }
    }
}

impl Endpoints {
    /// Explicit configuration first, discovery for the rest.
    pub fn merge(cfg: &UpstreamConfig, d: Option<Discovered>) -> Result<Endpoints, UpstreamError> {
        let d = d.unwrap_or_default();
        let pick = |explicit: &Option<String>,
                    found: Option<String>,
                    what: &str|
         -> Result<Option<url::Url>, UpstreamError> {
            match explicit.clone().or(found) {
                Some(s) => http_url(what, &s).map(Some),
                None => Ok(None),
            }
        };
        let authorization_endpoint = pick(
            &cfg.authorization_endpoint,
            d.authorization_endpoint,
            "authorization_endpoint",
        )?
        .ok_or_else(|| {
            UpstreamError::BadResponse(
                "no authorization_endpoint (configure one or use config_url)".into(),
            )
        })?;
        let token_endpoint = pick(&cfg.token_endpoint, d.token_endpoint, "token_endpoint")?
            .ok_or_else(|| {
                UpstreamError::BadResponse(
                    "no token_endpoint (configure one or use config_url)".into(),
                )
            })?;
        let revocation_endpoint = pick(
            &cfg.revocation_endpoint,
            d.revocation_endpoint,
            "revocation_endpoint",
        )?;
        Ok(Endpoints {
            issuer: d.issuer,
            authorization_endpoint,
            token_endpoint,
            revocation_endpoint,
            iss_parameter_supported: d.iss_parameter_supported,
            jwks_uri: pick(&cfg.jwks_uri, d.jwks_uri, "jwks_uri")?,
            userinfo_endpoint: pick(
                &cfg.userinfo_endpoint,
                d.userinfo_endpoint,
                "userinfo_endpoint",
            )?,
            introspection_endpoint: pick(
                &cfg.introspection_endpoint,
                d.introspection_endpoint,
                "introspection_endpoint",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> Value {
        json!({
            "issuer": "https://idp.example.com",
            "authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    #[test]
    fn strict_needs_every_oidc_field() {
        Discovered::from_document(full())
            .unwrap()
            .check_strict()
            .unwrap();
        for field in OIDC_REQUIRED_FIELDS {
            let mut d = full();
            d.as_object_mut().unwrap().remove(*field);
            let e = Discovered::from_document(d)
                .unwrap()
                .check_strict()
                .unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        let mut d = full();
        d["subject_types_supported"] = json!([]);
        assert!(
            Discovered::from_document(d)
                .unwrap()
                .check_strict()
                .is_err()
        );
        let mut d = full();
        d["jwks_uri"] = json!("ftp://idp.example.com/jwks");
        let e = Discovered::from_document(d)
            .unwrap()
            .check_strict()
            .unwrap_err();
        assert!(e.to_string().contains("invalid URL"), "{e}");
        assert!(Discovered::from_document(json!([1])).is_err());
    }

    /// The typed lists (what `authproof validate` judges) read the document's arrays.
    #[test]
    fn lists_are_typed() {
        let mut doc = full();
        doc["code_challenge_methods_supported"] = json!(["S256", 7]);
        doc["registration_endpoint"] = json!("https://idp.example.com/register");
        let d = Discovered::from_document(doc).unwrap();
        assert_eq!(
            d.code_challenge_methods_supported,
            Some(vec!["S256".into()])
        );
        assert_eq!(d.response_types_supported, Some(vec!["code".into()]));
        assert_eq!(d.scopes_supported, None);
        assert_eq!(
            d.registration_endpoint.as_deref(),
            Some("https://idp.example.com/register")
        );
    }

    #[test]
    fn explicit_endpoints_win_over_discovery() {
        let cfg = UpstreamConfig {
            jwks_uri: Some("https://keys.example.com/jwks".into()),
            ..Default::default()
        };
        let e = Endpoints::merge(&cfg, Some(Discovered::from_document(full()).unwrap())).unwrap();
        assert_eq!(
            e.jwks_uri.unwrap().as_str(),
            "https://keys.example.com/jwks"
        );
        assert_eq!(e.issuer.as_deref(), Some("https://idp.example.com"));
        assert!(e.userinfo_endpoint.is_none());
    }
}
