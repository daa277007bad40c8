//! What happens around every request: the body-size limit, fault injection and the journal.

use crate::client_auth;
use crate::error::OAuthError;
use crate::faults::{FaultAction, FaultSpec, RequestFacts};
use crate::journal::JournalEntry;
use crate::mutate::{self, Target};
use crate::params::{Params, is_form};
use crate::state::Idp;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

pub use foundations::http::ConnKill;

fn lower_headers(h: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in h {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        out.entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

async fn route(router: Router, req: Request<Body>) -> Response {
    match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}

/// Serve one request through the router, with faults and journaling.
pub async fn handle(
    idp: Arc<Idp>,
    router: Router,
    req: Request<Body>,
    kill: Option<ConnKill>,
) -> Response {
    let path = req.uri().path().to_string();
    if path == "/_mock" || path.starts_with("/_mock/") {
        return route(router, req).await;
    }
    let (parts, body) = req.into_parts();
    let limit = idp.settings.read().limits.max_body_bytes;
    let body = axum::body::to_bytes(body, limit).await;
    let endpoint = idp.endpoint_name(&path);
    let query = Params::from_query(parts.uri.query());
    let form = match &body {
        Ok(b) if is_form(&parts.headers) => Params::parse(b),
        _ => Params::default(),
    };
    let client_auth = match endpoint {
        Some("token" | "revoke" | "introspect") => client_auth::detect(&parts.headers, &form),
        _ => None,
    };
    let client_id = client_auth::claimed_client_id(&parts.headers, &form, &query);
    let query_map = query.to_map();
    let form_map = form.to_map();
    let method = parts.method.as_str().to_string();
    let fault = {
        let mut faults = idp.faults.lock();
        if faults.is_empty() {
            None
        } else {
            faults.take(&RequestFacts {
                endpoint,
                path: &path,
                method: &method,
                query: &query_map,
                form: &form_map,
                client_id: client_id.as_deref(),
            })
        }
    };
    let mut entry = JournalEntry {
        seq: idp.journal.lock().next_seq(),
        method,
        path,
        query: query_map,
        headers: lower_headers(&parts.headers),
        form: form_map,
        client_auth,
        client_id,
        status: 0,
        at_unix: idp.clock.now_unix(),
    };
    let resp = match body {
        Err(_) => Some(OAuthError::too_large(limit).into_response()),
        Ok(bytes) => {
            let req = Request::from_parts(parts, Body::from(bytes));
            match fault {
                None => Some(route(router, req).await),
                Some(f) => apply_fault(&idp, router, req, f, kill.is_some()).await,
            }
        }
    };
    match resp {
        Some(r) => {
            entry.status = r.status().as_u16();
            idp.journal.lock().push(entry);
            r
        }
        None => {
            idp.journal.lock().push(entry);
            match kill {
                Some(k) => {
                    k.kill();
                    // The connection task drops this future along with the connection.
                    match std::future::pending::<Infallible>().await {}
                }
                None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            }
        }
    }
}

/// `None` means: close the connection without answering.
async fn apply_fault(
    idp: &Idp,
    router: Router,
    req: Request<Body>,
    f: FaultSpec,
    can_close: bool,
) -> Option<Response> {
    if let Some(ms) = f.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let Some(action) = f.action else {
        return Some(route(router, req).await);
    };
    match action {
        FaultAction::Close if can_close => None,
        FaultAction::Close => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
        FaultAction::Respond(r) => Some(canned(&r)),
        FaultAction::MalformedJson => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"access_token\": \"eyJhbGciOiJSUzI1NiIs\", \"token_type\": \"Bear",
            )
                .into_response(),
        ),
        FaultAction::MutateToken(m) => Some(
            rewrite(route(router, req).await, |b| {
                mutate::mutate_response(idp, b, m, Target::Both)
            })
            .await,
        ),
        FaultAction::MutateAccessToken(m) => Some(
            rewrite(route(router, req).await, |b| {
                mutate::mutate_response(idp, b, m, Target::Access)
            })
            .await,
        ),
        FaultAction::MutateIdToken(m) => Some(
            rewrite(route(router, req).await, |b| {
                mutate::mutate_response(idp, b, m, Target::Id)
            })
            .await,
        ),
        FaultAction::TokenResponse(o) => Some(
            rewrite(route(router, req).await, |b| {
                mutate::override_response(b, &o)
            })
            .await,
        ),
    }
}

fn canned(r: &crate::faults::RespondSpec) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match (&r.json, &r.body) {
        (Some(j), _) => (status, axum::Json(j.clone())).into_response(),
        (None, Some(b)) => (status, b.clone()).into_response(),
        (None, None) => status.into_response(),
    };
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

/// Edit a successful JSON (or form-encoded) object body.
async fn rewrite(
    resp: Response,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Response {
    if !resp.status().is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::BAD_GATEWAY, "response body unreadable").into_response();
    };
    let form = is_form(&parts.headers);
    let parsed: Option<serde_json::Map<String, serde_json::Value>> = if form {
        Some(
            Params::parse(&bytes)
                .0
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        )
    } else {
        serde_json::from_slice(&bytes).ok()
    };
    let Some(mut obj) = parsed else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    edit(&mut obj);
    let new_body = if form {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &obj {
            match v {
                serde_json::Value::String(s) => ser.append_pair(k, s),
                other => ser.append_pair(k, &other.to_string()),
            };
        }
        ser.finish().into_bytes()
    } else {
        serde_json::to_vec(&obj).unwrap_or_default()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(new_body))
}
