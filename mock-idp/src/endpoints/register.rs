//! RFC 7591 dynamic client registration.

use crate::config::{AuthMethod, ClientConfig, Flavor, PkcePolicy};
use crate::error::OAuthError;
use crate::ids;
use crate::params::{JsonBody, bearer};
use crate::state::Idp;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

fn metadata_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_client_metadata", d)
}

fn redirect_error(d: impl Into<String>) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_redirect_uri", d)
}

fn string_list(m: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, OAuthError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| metadata_error(format!("{key} must be an array of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(metadata_error(format!("{key} must be an array of strings"))),
    }
}

fn check_redirect(uri: &str) -> Result<(), OAuthError> {
    let u = url::Url::parse(uri)
        .map_err(|_| redirect_error(format!("{uri:?} is not an absolute URI")))?;
    if u.fragment().is_some() {
        return Err(redirect_error(format!("{uri:?} has a fragment")));
    }
    if matches!(
        u.scheme(),
        "javascript" | "data" | "file" | "vbscript" | "blob"
    ) {
        return Err(redirect_error(format!("{uri:?} uses a forbidden scheme")));
    }
    Ok(())
}

/// `POST {register}`.
pub async fn post(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    body: Result<JsonBody<Value>, OAuthError>,
) -> Result<Response, OAuthError> {
    let (enabled, iat) = {
        let s = idp.settings.read();
        (
            s.registration_enabled(),
            s.registration.initial_access_token.clone(),
        )
    };
    if !enabled {
        return Err(OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "dynamic client registration is disabled",
        ));
    }
    if let Some(want) = iat {
        let ok = bearer(&headers, false).is_some_and(|t| {
            aws_lc_rs::constant_time::verify_slices_are_equal(t.as_bytes(), want.as_bytes()).is_ok()
        });
        if !ok {
            return Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "initial access token required",
            )
            .with_www_authenticate("Bearer"));
        }
    }
    let JsonBody(body) = body?;
    let Value::Object(meta) = body else {
        return Err(metadata_error("the body must be a JSON object"));
    };
    let redirect_uris = string_list(&meta, "redirect_uris")?.unwrap_or_default();
    let grant_types =
        string_list(&meta, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let response_types =
        string_list(&meta, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    let supported = crate::flavors::grant_types(idp.flavor);
    if let Some(g) = grant_types
        .iter()
        .find(|g| !supported.contains(&g.as_str()))
    {
        return Err(metadata_error(format!("grant type {g:?} is not supported")));
    }
    if let Some(r) = response_types.iter().find(|r| r.as_str() != "code") {
        return Err(metadata_error(format!(
            "response type {r:?} is not supported"
        )));
    }
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    if uses_code && redirect_uris.is_empty() {
        return Err(redirect_error(
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    for u in &redirect_uris {
        check_redirect(u)?;
    }
    let method = match meta.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => AuthMethod::ClientSecretBasic,
        Some(Value::String(s)) => AuthMethod::parse(s)
            .filter(|m| *m != AuthMethod::PrivateKeyJwt || meta.contains_key("jwks"))
            .ok_or_else(|| {
                metadata_error(format!("token_endpoint_auth_method {s:?} is not supported"))
            })?,
        Some(_) => {
            return Err(metadata_error(
                "token_endpoint_auth_method must be a string",
            ));
        }
    };
    if method == AuthMethod::None && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(metadata_error(
            "a public client cannot use client_credentials",
        ));
    }
    let scope = match meta.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(metadata_error("scope must be a string")),
    };
    let name = match meta.get("client_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(metadata_error("client_name must be a string")),
    };
    let now_ms = idp.clock.now_millis();
    let client_id = match idp.flavor {
        Flavor::Workos => ids::prefixed("client", now_ms),
        _ => ids::random_token()[..24].to_string(),
    };
    let secret = matches!(
        method,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
    )
    .then(ids::random_token);
    let client = ClientConfig {
        id: client_id.clone(),
        secret: secret.clone(),
        token_endpoint_auth_method: Some(method),
        redirect_uris: redirect_uris.clone(),
        pkce: if idp.flavor == Flavor::Workos {
            PkcePolicy::S256Required
        } else {
            PkcePolicy::Optional
        },
        scopes: Vec::new(),
        grant_types: grant_types.clone(),
        jwks: meta.get("jwks").cloned(),
        name,
        ..Default::default()
    };
    idp.add_client(client);
    let mut out = meta.clone();
    out.insert("client_id".into(), json!(client_id));
    out.insert("client_id_issued_at".into(), json!(idp.clock.now_unix()));
    out.insert("redirect_uris".into(), json!(redirect_uris));
    out.insert("grant_types".into(), json!(grant_types));
    out.insert("response_types".into(), json!(response_types));
    out.insert("token_endpoint_auth_method".into(), json!(method.as_str()));
    if let Some(s) = scope {
        out.insert("scope".into(), json!(s));
    }
    if let Some(s) = secret {
        out.insert("client_secret".into(), json!(s));
        out.insert("client_secret_expires_at".into(), json!(0));
    }
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(Value::Object(out)),
    )
        .into_response())
}
