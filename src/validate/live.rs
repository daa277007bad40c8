//! `--live`: ask the IdP. First its metadata (OIDC discovery or RFC 8414, judged by
//! [`super::metadata`]), then, in parallel, the JWKS ([`super::jwks`]), the token-endpoint
//! probe ([`super::probe`]), the authorization endpoint with the proxy's callback URL
//! ([`super::authorize`]), and the userinfo or introspection endpoint the verifier uses.
//!
//! HTTP goes through the proxy's upstream client settings
//! ([`crate::proxy::outbound::upstream_http`]: no redirects, no cookies, connect timeout) with
//! `upstream.timeout` per request, so what works here works for the proxy.

use super::catalogue::entry;
use super::finding::Finding;
use super::metadata::{Metadata, metadata_checks, metadata_url};
use super::probe::{self, Target};
use super::report::NOTHING_TO_DO;
use super::static_checks::is_cleartext_remote;
use super::{Context, authorize, jwks};
use crate::proxy::config::{ProviderKind, ProxyConfig, VerifierKind};
use crate::proxy::outbound::{
    MAX_RESPONSE_BYTES, SchemeClients, TrustRoots, read_limited, reqwest_error, upstream_http,
};
use crate::proxy::upstream::verify::VerifyError;
use crate::proxy::upstream::verify::introspection::IntrospectionVerifier;
use crate::proxy::upstream::{Discovered, discover};
use serde_json::Value;
use std::time::Duration;

/// HTTP for the live checks.
struct Http {
    clients: SchemeClients,
    timeout: Duration,
}

impl Http {
    /// GET `url` (optionally with a bearer token): status and body, or why there is none.
    async fn get(&self, url: &str, bearer: Option<&str>) -> Result<(u16, Vec<u8>), String> {
        let client = self
            .clients
            .for_url(url)
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        let mut req = client
            .get(url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| reqwest_error(&e).to_string())?;
        let status = resp.status().as_u16();
        let body = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// Fetch a metadata document the way the proxy does ([`discover`]).
    async fn discover(&self, url: &str) -> Result<Discovered, String> {
        let client = self
            .clients
            .for_url(url)
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        discover(client, url, self.timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// GET `url` without following redirects: status, `Location`, and the body as text.
    async fn page(&self, url: &str) -> Result<(u16, Option<String>, String), String> {
        let client = self
            .clients
            .for_url(url)
            .map_err(|e| format!("the HTTP client cannot be built: {e}"))?;
        let resp = client
            .get(url)
            .timeout(self.timeout)
            .header(reqwest::header::ACCEPT, "text/html")
            .send()
            .await
            .map_err(|e| reqwest_error(&e).to_string())?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        Ok((
            status,
            location,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    }

    /// GET a JSON object.
    async fn json(&self, url: &str) -> Result<Value, String> {
        let (status, body) = self.get(url, None).await?;
        if !(200..300).contains(&status) {
            return Err(format!("HTTP {status}"));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("the body is not JSON ({e})"))?;
        if v.is_object() {
            Ok(v)
        } else {
            Err("the body is not a JSON object".into())
        }
    }
}

/// Every live check.
pub async fn check(ctx: &Context) -> Vec<Finding> {
    let Some(c) = &ctx.resolved else {
        return vec![Finding::new(
            entry!("live.skipped"),
            "the live checks did not run: the provider preset cannot be built from this configuration",
            "Fix the upstream.* errors above, then run again with --live",
        )];
    };
    // A file that cannot be read is reported by the static checks (config.*).
    let roots = TrustRoots::load(c.outbound_ca_file.as_deref()).unwrap_or_default();
    let http = Http {
        clients: SchemeClients::new(upstream_http).trusting(&roots),
        timeout: c.upstream.timeout.get(),
    };
    let mut f = Vec::new();
    let meta = match metadata_url(c) {
        Some((url, key)) => match http.discover(&url).await {
            Ok(discovered) => Some(Metadata { url, discovered }),
            Err(why) => {
                f.push(
                    Finding::new(
                        entry!("live.discovery_unreachable"),
                        format!("the IdP's metadata at {url} could not be used: {why}"),
                        "Check the URL and that this machine can reach the IdP (a typo in the domain or tenant shows up as HTTP 404)",
                    )
                    .key(key),
                );
                None
            }
        },
        None => {
            f.push(Finding::new(
                entry!("live.no_discovery"),
                format!(
                    "no metadata document to check for provider {}{}; the endpoints are probed directly",
                    c.provider,
                    if c.provider == ProviderKind::Github {
                        " (GitHub has none)"
                    } else {
                        ""
                    }
                ),
                NOTHING_TO_DO,
            ));
            None
        }
    };
    if let Some(m) = &meta {
        f.extend(metadata_checks(ctx, c, m));
    }
    // Endpoints missing because discovery failed are that failure, already reported.
    let discovery_failed = metadata_url(c).is_some() && meta.is_none();
    // Explicit settings first, then the metadata, as the proxy picks them.
    let d = meta.as_ref().map(|m| &m.discovered);
    let pick = |explicit: &Option<String>, found: fn(&Discovered) -> &Option<String>| {
        explicit
            .clone()
            .or_else(|| d.and_then(|d| found(d).clone()))
    };
    let authorization = pick(&c.upstream.authorization_endpoint, |d| {
        &d.authorization_endpoint
    });
    let token = pick(&c.upstream.token_endpoint, |d| &d.token_endpoint);
    let jwks_uri = pick(&c.upstream.jwks_uri, |d| &d.jwks_uri);
    let userinfo = pick(&c.upstream.userinfo_endpoint, |d| &d.userinfo_endpoint);
    let remote = c.provider.is_remote_auth();
    let verifier = c.verifier_kind();

    let jwks_needed =
        matches!(verifier, VerifierKind::Jwt | VerifierKind::IdToken) || c.provider.is_oidc();
    let jwks_check = async {
        match &jwks_uri {
            Some(uri) => match http.json(uri).await {
                Ok(d) => jwks::findings(uri, &d, &c.upstream.verifier.algorithms(), jwks_needed),
                Err(why) => vec![Finding::new(
                    entry!("live.jwks_unreachable"),
                    format!("the JWKS at {uri} could not be used: {why}"),
                    "Check upstream.jwks_uri (or the discovery document's jwks_uri)",
                )
                .otherwise_if(!jwks_needed)
                .key("upstream.jwks_uri")],
            },
            None if jwks_needed && !discovery_failed => vec![Finding::new(
                entry!("live.endpoint_missing"),
                format!("no jwks_uri: the {verifier} verifier (and ID-token checks) need the IdP's keys"),
                "Set upstream.jwks_uri, or use a config_url whose document lists jwks_uri",
            )
            .key("upstream.jwks_uri")],
            None => Vec::new(),
        }
    };
    let probe_check = async {
        if remote {
            return Vec::new();
        }
        match (&authorization, &token) {
            // Never send the client secret where it would cross the network in clear.
            (Some(_), Some(t)) if is_cleartext_remote(t) => vec![Finding::new(
                entry!("live.token_probe_skipped"),
                format!("the token endpoint {t} is plain http on a non-loopback host, so the client credentials were not sent to it"),
                "Use the IdP's https token endpoint, then run again",
            )
            .key("upstream.token_endpoint")],
            (Some(a), Some(t)) => {
                probe::check(&Target {
                    upstream: c.upstream.clone(),
                    authorization_endpoint: a.clone(),
                    token_endpoint: t.clone(),
                    redirect_uri: ctx.callback_url(),
                    resource: ctx.resource_url(),
                    roots: roots.clone(),
                })
                .await
            }
            _ if discovery_failed => Vec::new(),
            _ => {
                let missing = if authorization.is_none() {
                    "upstream.authorization_endpoint"
                } else {
                    "upstream.token_endpoint"
                };
                vec![
                    Finding::new(
                        entry!("live.endpoint_missing"),
                        format!("{missing} is neither configured nor in the IdP's metadata"),
                        "Set it explicitly, or use a config_url whose document lists it",
                    )
                    .key(missing),
                ]
            }
        }
    };
    let userinfo_check = async {
        if verifier != VerifierKind::Userinfo {
            return Vec::new();
        }
        match &userinfo {
            Some(u) => userinfo_probe(&http, u).await,
            None if discovery_failed => Vec::new(),
            None => vec![Finding::new(
                entry!("live.endpoint_missing"),
                "no userinfo endpoint: the userinfo verifier needs one",
                "Set upstream.userinfo_endpoint, or use a config_url whose document lists userinfo_endpoint",
            )
            .key("upstream.userinfo_endpoint")],
        }
    };
    let introspection = pick(&c.upstream.introspection_endpoint, |d| {
        &d.introspection_endpoint
    });
    let introspection_check = async {
        if verifier != VerifierKind::Introspection {
            return Vec::new();
        }
        match &introspection {
            Some(u) if is_cleartext_remote(u) => vec![Finding::new(
                entry!("live.introspection_probe_skipped"),
                format!("the introspection endpoint {u} is plain http on a non-loopback host, so the client credentials were not sent to it"),
                "Use the IdP's https introspection endpoint, then run again",
            )
            .key("upstream.introspection_endpoint")],
            Some(u) => introspection_probe(c, u).await,
            None if discovery_failed => Vec::new(),
            None => vec![Finding::new(
                entry!("live.endpoint_missing"),
                "no introspection endpoint: the introspection verifier needs one",
                "Set upstream.introspection_endpoint, or use a config_url whose document lists introspection_endpoint",
            )
            .key("upstream.introspection_endpoint")],
        }
    };
    let authorize_check =
        async {
            match (&authorization, &token) {
                (Some(a), Some(t)) if !remote => {
                    let callback = ctx.callback_url();
                    match authorize::authorization_url(c, a, t, &callback, &ctx.resource_url())
                        .await
                    {
                        Ok(url) => match http.page(&url).await {
                            Ok((status, location, body)) => {
                                let sent = authorize::Sent {
                                    callback: &callback,
                                    scopes: &c.upstream.scopes,
                                    audience: c
                                        .upstream
                                        .extra_authorize_params
                                        .get("audience")
                                        .map(String::as_str),
                                    resource: c.upstream.forward_resource,
                                };
                                vec![authorize::classify(
                                    status,
                                    location.as_deref(),
                                    &body,
                                    &sent,
                                )]
                            }
                            Err(why) => vec![Finding::new(
                            entry!("live.authorize_unreachable"),
                            format!("the authorization endpoint {a} could not be reached: {why}"),
                            "Check upstream.authorization_endpoint (or the discovery document)",
                        )
                        .key("upstream.authorization_endpoint")],
                        },
                        Err(why) => {
                            vec![Finding::new(
                        entry!("live.authorize_unreachable"),
                        format!("no authorization URL could be built from {a}: {why}"),
                        "Check upstream.authorization_endpoint (or the discovery document)",
                    )
                    .key("upstream.authorization_endpoint")]
                        }
                    }
                }
                _ => Vec::new(),
            }
        };
    // The presets know their token format (checked statically); a generic OAuth / OIDC IdP
    // behind a jwt verifier is asked.
    let format_check = async {
        match (&authorization, &token) {
            (Some(a), Some(t))
                if verifier == VerifierKind::Jwt
                    && matches!(c.provider, ProviderKind::Oidc | ProviderKind::Oauth)
                    && !is_cleartext_remote(t) =>
            {
                vec![
                    probe::access_token_format(&Target {
                        upstream: c.upstream.clone(),
                        authorization_endpoint: a.clone(),
                        token_endpoint: t.clone(),
                        redirect_uri: ctx.callback_url(),
                        resource: ctx.resource_url(),
                        roots: roots.clone(),
                    })
                    .await,
                ]
            }
            _ => Vec::new(),
        }
    };
    let (a, b, u, i, z, t) = tokio::join!(
        jwks_check,
        probe_check,
        userinfo_check,
        introspection_check,
        authorize_check,
        format_check
    );
    f.extend(a);
    f.extend(b);
    f.extend(u);
    f.extend(i);
    f.extend(z);
    f.extend(t);
    reconcile_methods(f)
}

/// The token-endpoint probe is the IdP's actual behaviour; the advertised method list is only
/// what it claims. When the probe accepted the configured method, a method missing from the
/// list is a warning (the list is incomplete); when the probe found the method the IdP
/// expects, that finding says it all and the list's error is dropped.
fn reconcile_methods(mut f: Vec<Finding>) -> Vec<Finding> {
    let has = |f: &[Finding], id: &str| f.iter().any(|x| x.id() == id);
    if has(&f, "live.token_auth_method_mismatch") {
        f.retain(|x| x.id() != "live.token_auth_method_unsupported");
    } else if has(&f, "live.token_probe_ok") {
        for x in f
            .iter_mut()
            .filter(|x| x.id() == "live.token_auth_method_unsupported")
        {
            *x = x.clone().otherwise_if(true);
            x.message
                .push_str(", yet the token endpoint accepted it (the list is incomplete)");
        }
    }
    f
}

/// Ask the introspection endpoint about a made-up token through the proxy's own
/// introspection verifier: "not active" means the endpoint works and accepted the client.
async fn introspection_probe(c: &ProxyConfig, endpoint: &str) -> Vec<Finding> {
    let key = "upstream.introspection_endpoint";
    let url = match url::Url::parse(endpoint) {
        Ok(u) => u,
        Err(e) => {
            return vec![
                Finding::new(
                    entry!("live.endpoint_invalid"),
                    format!("the introspection endpoint {endpoint:?} is not a URL ({e})"),
                    "Fix upstream.introspection_endpoint",
                )
                .key(key),
            ];
        }
    };
    let verifier = IntrospectionVerifier::new(
        url,
        std::sync::Arc::new(
            SchemeClients::new(upstream_http)
                .trusting(&TrustRoots::load(c.outbound_ca_file.as_deref()).unwrap_or_default()),
        ),
        &c.upstream,
        None,
        foundations::Clock::system(),
    );
    match verifier.verify("authproof-validate-probe-invalid-token").await {
        Err(VerifyError::Invalid(_)) => vec![Finding::new(
            entry!("live.introspection_ok"),
            format!("the introspection endpoint {endpoint} accepted the client and reports a made-up token as not active"),
            NOTHING_TO_DO,
        )
        .key(key)],
        Ok(_) | Err(VerifyError::Expired | VerifyError::InsufficientScope(_)) => {
            vec![Finding::new(
                entry!("live.introspection_accepts_invalid_token"),
                format!("the introspection endpoint {endpoint} called a made-up token active"),
                "Check upstream.introspection_endpoint",
            )
            .key(key)]
        }
        Err(VerifyError::Unavailable(why)) => vec![Finding::new(
            entry!("live.introspection_failed"),
            format!("the introspection endpoint {endpoint} gave no usable answer: {why}"),
            "Check upstream.introspection_endpoint and the client credentials (RFC 7662 requires client authentication with the configured method)",
        )
        .key(key)],
    }
}

/// A made-up token at userinfo must be refused with 401 (or 403): then the endpoint exists
/// and checks tokens.
async fn userinfo_probe(http: &Http, url: &str) -> Vec<Finding> {
    let key = "upstream.userinfo_endpoint";
    match http.get(url, Some("authproof-validate-probe-invalid-token")).await {
        Ok((401 | 403, _)) => vec![Finding::new(
            entry!("live.userinfo_ok"),
            format!("the userinfo endpoint {url} answers and refuses a made-up token"),
            NOTHING_TO_DO,
        )
        .key(key)],
        Ok((status, _)) if (200..300).contains(&status) => vec![Finding::new(
            entry!("live.userinfo_accepts_invalid_token"),
            format!("the userinfo endpoint {url} accepted a made-up token (HTTP {status}), so the userinfo verifier would accept anything"),
            "Check upstream.userinfo_endpoint",
        )
        .key(key)],
        Ok((status, _)) => vec![Finding::new(
            entry!("live.userinfo_unreachable"),
            format!("the userinfo endpoint {url} answered HTTP {status} to a bearer token (expected 401)"),
            "Check upstream.userinfo_endpoint (or the domain it is built from)",
        )
        .key(key)],
        Err(why) => vec![Finding::new(
            entry!("live.userinfo_unreachable"),
            format!("the userinfo endpoint {url} could not be reached: {why}"),
            "Check upstream.userinfo_endpoint (or the domain it is built from)",
        )
        .key(key)],
    }
}
