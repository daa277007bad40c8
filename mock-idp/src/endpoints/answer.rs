//! Answers sent to the client's redirect URI once a sign-in is over: a fresh authorization
//! code, or an authorization error (with `iss` for the flavors that send it, RFC 9207).

use crate::error::{HtmlError, OAuthError};
use crate::flavors;
use crate::ids;
use crate::pages;
use crate::state::Idp;
use crate::store::{AuthzRequest, CodeRecord};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error to send back to the client's redirect_uri.
#[derive(Debug)]
pub struct RedirectError {
    /// Where.
    pub redirect_uri: String,
    /// Client state.
    pub state: Option<String>,
    /// The error.
    pub error: OAuthError,
}

/// Issue a code for `sub` and redirect to the client.
pub fn issue_code(idp: &Idp, req: &AuthzRequest, sub: &str, auth_time: i64) -> Response {
    let code = ids::random_token();
    let ttl = idp.settings.read().tokens.code_ttl_secs;
    let now = idp.clock.now_unix();
    idp.store.codes.lock().insert(
        code.clone(),
        CodeRecord {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri_given.then(|| req.redirect_uri.clone()),
            sub: sub.to_string(),
            scope: req.scope.clone(),
            nonce: req.nonce.clone(),
            challenge: req.challenge.clone(),
            resources: req.resources.clone(),
            offline: req.offline,
            auth_time,
            expires_at: now.saturating_add(ttl as i64),
            used: false,
            grant_id: String::new(),
        },
    );
    let mut pairs = vec![("code", code)];
    if let Some(s) = &req.state {
        pairs.push(("state", s.clone()));
    }
    redirect(idp, &req.redirect_uri, pairs)
}

/// Send an authorization error to the client's redirect_uri.
pub fn error_redirect(idp: &Idp, e: &RedirectError) -> Response {
    let mut pairs = vec![("error", e.error.error.to_string())];
    if !e.error.description.is_empty() {
        pairs.push(("error_description", e.error.description.clone()));
    }
    if let Some(s) = &e.state {
        pairs.push(("state", s.clone()));
    }
    redirect(idp, &e.redirect_uri, pairs)
}

fn redirect(idp: &Idp, target: &str, mut pairs: Vec<(&str, String)>) -> Response {
    if flavors::sends_iss_in_redirect(idp.flavor) {
        pairs.push(("iss", idp.issuer.clone()));
    }
    let Ok(mut url) = url::Url::parse(target) else {
        return HtmlError::bad_request("Invalid redirect_uri", "the redirect_uri does not parse")
            .into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
    }
    let body = pages::page(
        "Redirecting",
        &format!(
            "<p><a href=\"{0}\">{0}</a></p>",
            foundations::html::escape(url.as_str())
        ),
    );
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, url.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        axum::response::Html(body),
    )
        .into_response()
}
