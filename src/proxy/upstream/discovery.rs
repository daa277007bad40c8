//! OIDC discovery / RFC 8414 metadata of the upstream IdP.

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
}

/// What discovery found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    iss_parameter_supported: bool,
}

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
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if !v.is_object() {
        return Err(UpstreamError::BadResponse(
            "discovery document is not a JSON object".into(),
        ));
    }
    Ok(Discovered {
        issuer: s("issuer"),
        authorization_endpoint: s("authorization_endpoint"),
        token_endpoint: s("token_endpoint"),
        revocation_endpoint: s("revocation_endpoint"),
        iss_parameter_supported: v
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
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
        })
    }
}
