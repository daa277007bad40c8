//! `POST /register`: RFC 7591 dynamic client registration, for public clients.
//!
//! Choices (FastMCP does the same): the proxy registers public clients only. A request for
//! `client_secret_basic` or `client_secret_post` is *coerced* to `none` (no secret is issued,
//! and the 201 response says `token_endpoint_auth_method: none`, so a conforming client uses
//! none); `private_key_jwt` and unknown methods are refused with `invalid_client_metadata`.
//! `grant_types` must include `authorization_code` and may add `refresh_token` (default
//! both); `response_types` is `["code"]`. Every redirect URI must pass the DESIGN.md
//! registration rules (allow-list and `application_type`), else `invalid_redirect_uri`.
//!
//! Bounds (the proxy is on the public internet and DCR is open): every stored field has a
//! size limit ([`MAX_REDIRECT_URIS`], [`MAX_URI_BYTES`], [`MAX_NAME_CHARS`],
//! [`MAX_SHORT_FIELD_BYTES`], [`MAX_CONTACTS`], [`MAX_SCOPE_BYTES`]; beyond them,
//! `invalid_client_metadata`), `client_uri`, `logo_uri`, `tos_uri` and `policy_uri` must be
//! https URLs (http only on a loopback host), unknown metadata is not stored, and a new
//! registration is *provisional*: it expires after `registration_provisional_ttl` unless a
//! token exchange makes it durable first. Each client address may hold only so many
//! provisional registrations (429 beyond), and the instance only so many in total: at that
//! cap the oldest provisional registration is evicted to make room ([`crate::proxy::bounds`]).

use crate::oauth::error::OAuthError;
use crate::proxy::params::{MAX_JSON_BYTES, has_content_type, read_body};
use crate::proxy::redirect::{ApplicationType, check_registration};
use crate::proxy::state::ProxyState;
use crate::proxy::store::ClientRecord;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

/// At most this many redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 20;
/// The longest redirect URI or metadata URL (bytes).
pub const MAX_URI_BYTES: usize = 2048;
/// The longest `client_name` (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest `software_id`, `software_version` or contact (bytes).
pub const MAX_SHORT_FIELD_BYTES: usize = 320;
/// At most this many `contacts`.
pub const MAX_CONTACTS: usize = 10;
/// The longest `scope` (bytes).
pub const MAX_SCOPE_BYTES: usize = 1024;
/// Metadata URLs shown to people: https only (http on loopback for native clients).
const URI_FIELDS: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];
/// Short free-text fields kept as given.
const SHORT_FIELDS: &[&str] = &["software_id", "software_version"];

/// The handler. Every answer is `no-store` ([`crate::proxy::server`] adds it).
pub async fn register(
    State(st): State<Arc<ProxyState>>,
    req: Request,
) -> Result<Response, OAuthError> {
    let st = &*st;
    let who = crate::proxy::bounds::client_address_of(&req);
    let (parts, body) = req.into_parts();
    if !has_content_type(&parts.headers, "application/json") {
        return Err(OAuthError::invalid_client_metadata(
            "the body must be application/json",
        ));
    }
    let bytes = read_body(body, MAX_JSON_BYTES).await?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| OAuthError::invalid_client_metadata(format!("the body is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| OAuthError::invalid_client_metadata("the body must be a JSON object"))?;
    let client = build_client(st, obj)?;
    if let Err(refusal) = st.bounds.admit_registration(&who) {
        // Once per request is for debugging only: a flood must not become a flood of logs.
        tracing::debug!(client = %who, "registration refused: {}", refusal.description());
        return Ok(refusal.json());
    }
    let cap = st.bounds.registrations();
    let evicted = st
        .records
        .put_provisional_client(
            &client,
            st.config.registration_provisional_ttl.get(),
            cap.cap(),
        )
        .await
        .map_err(|e| OAuthError::temporarily_unavailable(e.to_string()))?;
    cap.evicted(evicted);
    // Debug: registration is open to anyone, so a line per registration would let a flood
    // write the log (a full cap is logged once, at warning).
    tracing::debug!(client_id = %client.client_id, name = client.client_name.as_deref().unwrap_or(""), "registered client");
    Ok((StatusCode::CREATED, Json(client.to_registration_response())).into_response())
}

fn string_list(obj: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    OAuthError::invalid_client_metadata(format!("{key} must be a list of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!(
            "{key} must be a list of strings"
        ))),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, OAuthError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!(
            "{key} must be a string"
        ))),
    }
}

/// Validate registration metadata into a client record.
pub fn build_client(st: &ProxyState, obj: &Map<String, Value>) -> Result<ClientRecord, OAuthError> {
    let app: ApplicationType = match opt_string(obj, "application_type")? {
        None => ApplicationType::Native,
        Some(s) => s.parse().map_err(OAuthError::invalid_client_metadata)?,
    };
    let redirect_uris = string_list(obj, "redirect_uris")?
        .ok_or_else(|| OAuthError::invalid_redirect_uri("redirect_uris is required"))?;
    if redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "redirect_uris must not be empty",
        ));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &redirect_uris {
        if uri.len() > MAX_URI_BYTES {
            return Err(OAuthError::invalid_redirect_uri(format!(
                "a redirect URI is longer than {MAX_URI_BYTES} bytes"
            )));
        }
        check_registration(uri, &st.allow, app).map_err(|r| {
            OAuthError::invalid_redirect_uri(format!(
                "redirect URI {} is not allowed: {r}",
                printable(uri)
            ))
        })?;
    }
    match opt_string(obj, "token_endpoint_auth_method")?.as_deref() {
        None | Some("none" | "client_secret_basic" | "client_secret_post") => {}
        Some(other) => {
            return Err(OAuthError::invalid_client_metadata(format!(
                "token_endpoint_auth_method {} is not supported: this server registers public clients (none)",
                printable(other)
            )));
        }
    }
    let grant_types = string_list(obj, "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::invalid_client_metadata(
            "grant_types must include authorization_code",
        ));
    }
    if let Some(g) = grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(OAuthError::invalid_client_metadata(format!(
            "grant type {} is not supported",
            printable(g)
        )));
    }
    let response_types = string_list(obj, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") || response_types.is_empty() {
        return Err(OAuthError::invalid_client_metadata(
            "response_types must be [\"code\"]",
        ));
    }
    let scope = match opt_string(obj, "scope")? {
        None => None,
        Some(s) if s.len() > MAX_SCOPE_BYTES => {
            return Err(OAuthError::invalid_client_metadata(format!(
                "scope is longer than {MAX_SCOPE_BYTES} bytes"
            )));
        }
        Some(s) => {
            let bad: Vec<&str> = s
                .split_ascii_whitespace()
                .filter(|x| !st.config.valid_scopes.iter().any(|v| v == x))
                .collect();
            if !bad.is_empty() {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "requested scopes are not offered by this server: {}",
                    printable(&bad.join(" "))
                )));
            }
            let s = s.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
            (!s.is_empty()).then_some(s)
        }
    };
    let client_name = opt_string(obj, "client_name")?;
    if client_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return Err(OAuthError::invalid_client_metadata(format!(
            "client_name is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    let mut extra = Map::new();
    for k in URI_FIELDS {
        if let Some(v) = opt_string(obj, k)? {
            check_metadata_uri(k, &v)?;
            extra.insert((*k).into(), v.into());
        }
    }
    for k in SHORT_FIELDS {
        if let Some(v) = opt_string(obj, k)? {
            if v.len() > MAX_SHORT_FIELD_BYTES {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "{k} is longer than {MAX_SHORT_FIELD_BYTES} bytes"
                )));
            }
            extra.insert((*k).into(), v.into());
        }
    }
    if let Some(c) = string_list(obj, "contacts")? {
        if c.len() > MAX_CONTACTS || c.iter().any(|x| x.len() > MAX_SHORT_FIELD_BYTES) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "contacts: at most {MAX_CONTACTS} entries of at most {MAX_SHORT_FIELD_BYTES} bytes"
            )));
        }
        extra.insert("contacts".into(), c.into());
    }
    Ok(ClientRecord {
        client_id: uuid::Uuid::new_v4().to_string(),
        redirect_uris,
        application_type: app,
        client_name,
        scope,
        grant_types,
        response_types,
        token_endpoint_auth_method: "none".into(),
        client_id_issued_at: st.now(),
        extra,
        cimd: false,
        provisional: true,
    })
}

/// `client_uri`, `logo_uri`, `tos_uri` and `policy_uri` are shown to people (and `logo_uri`
/// loaded by their browser): an https URL, or http on a loopback host (a native client's
/// local page); never `javascript:`, `data:` or anything else.
fn check_metadata_uri(key: &str, value: &str) -> Result<(), OAuthError> {
    let bad = |why: &str| {
        OAuthError::invalid_client_metadata(format!("{key} {}: {why}", printable(value)))
    };
    if value.len() > MAX_URI_BYTES {
        return Err(OAuthError::invalid_client_metadata(format!(
            "{key} is longer than {MAX_URI_BYTES} bytes"
        )));
    }
    let url = url::Url::parse(value).map_err(|_| bad("not an absolute URL"))?;
    let loopback = url
        .host()
        .is_some_and(|h| crate::proxy::redirect::is_loopback_host(&h));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(bad("http is allowed only on a loopback host; use https")),
        _ => Err(bad("must be an https URL")),
    }?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(())
}

fn printable(s: &str) -> String {
    crate::proxy::redirect::printable(s)
}
