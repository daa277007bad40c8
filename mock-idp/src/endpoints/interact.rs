//! The login and consent pages a person sees when no user was chosen headlessly.

use crate::endpoints::answer::{RedirectError, error_redirect, issue_code};
use crate::error::{HtmlError, OAuthError};
use crate::pages::page;
use crate::params::FormBody;
use crate::state::Idp;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use foundations::html::escape as html_escape;
use std::sync::Arc;

fn hidden(id: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"interaction\" value=\"{}\">",
        html_escape(id)
    )
}

/// The login form: one button per configured user, and a free-text subject.
pub fn login_page(idp: &Idp, interaction: &str, error: Option<&str>) -> Response {
    let action = html_escape(&format!("{}{}", idp.prefix, idp.paths.login));
    let mut body = format!(
        "<p>Sign in to <strong>{}</strong>.</p>",
        html_escape(&idp.issuer)
    );
    if let Some(e) = error {
        body.push_str(&format!("<p class=\"error\">{}</p>", html_escape(e)));
    }
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\">{}",
        hidden(interaction)
    ));
    for u in idp.users.read().all() {
        let label = u
            .claims
            .get("email")
            .or_else(|| u.claims.get("name"))
            .or_else(|| u.claims.get("login"))
            .and_then(|v| v.as_str())
            .map(|l| format!("{} ({})", u.sub, l))
            .unwrap_or_else(|| u.sub.clone());
        body.push_str(&format!(
            "<p><button type=\"submit\" name=\"sub\" value=\"{}\">Sign in as {}</button></p>",
            html_escape(&u.sub),
            html_escape(&label)
        ));
    }
    body.push_str("</form>");
    body.push_str(&format!(
        "<form method=\"post\" action=\"{action}\">{}<p><label>Subject <input name=\"sub\" autocomplete=\"username\" required></label> \
<button type=\"submit\">Sign in</button></p></form>",
        hidden(interaction)
    ));
    (StatusCode::OK, Html(page("Sign in", &body))).into_response()
}

/// The consent form: approve or deny.
pub fn consent_page(idp: &Idp, interaction: &str) -> Response {
    let Some(i) = idp.store.interactions.lock().get(interaction).cloned() else {
        return expired();
    };
    let client = idp.client(&i.request.client_id);
    let name = client
        .as_ref()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| i.request.client_id.clone());
    let action = html_escape(&format!("{}{}", idp.prefix, idp.paths.consent));
    let scope = if i.request.scope.is_empty() {
        "(no scope)".to_string()
    } else {
        i.request.scope.clone()
    };
    let redirect_host = url::Url::parse(&i.request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| i.request.redirect_uri.clone());
    let body = format!(
        "<p>Signed in to <strong>{issuer}</strong> as <strong>{sub}</strong>.</p>\
<p><strong>{name}</strong> asks to act as you with scope <code>{scope}</code>. If you approve, \
an authorization code is sent to <strong>{host}</strong>.</p>\
<dl><dt>Client ID</dt><dd><code>{client_id}</code></dd>\
<dt>Redirect URI</dt><dd><code>{redirect}</code></dd></dl>\
<form method=\"post\" action=\"{action}\">{hidden}\
<button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\
<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
        issuer = html_escape(&idp.issuer),
        sub = html_escape(i.sub.as_deref().unwrap_or("")),
        name = html_escape(&name),
        scope = html_escape(&scope),
        host = html_escape(&redirect_host),
        client_id = html_escape(&i.request.client_id),
        redirect = html_escape(&i.request.redirect_uri),
        hidden = hidden(interaction),
    );
    (StatusCode::OK, Html(page("Authorize access", &body))).into_response()
}

fn expired() -> Response {
    HtmlError::bad_request(
        "Sign-in expired",
        "this sign-in is unknown or has expired; start again",
    )
    .into_response()
}

fn bad_form(e: OAuthError) -> Response {
    HtmlError {
        status: e.status,
        title: "Bad request".into(),
        detail: e.description,
    }
    .into_response()
}

/// `POST {login}`: the user picked on the login page.
pub async fn login(State(idp): State<Arc<Idp>>, form: Result<FormBody, OAuthError>) -> Response {
    let FormBody(p) = match form {
        Ok(f) => f,
        Err(e) => return bad_form(e),
    };
    let (Ok(Some(id)), Ok(sub)) = (p.get("interaction"), p.get("sub")) else {
        return bad_form(OAuthError::invalid_request("missing interaction"));
    };
    let Some(mut i) = idp.store.interactions.lock().get(id).cloned() else {
        return expired();
    };
    let Some(sub) = sub.map(str::trim).filter(|s| !s.is_empty()) else {
        return login_page(&idp, id, Some("Choose a user."));
    };
    let known = idp.users.read().get(sub).is_some();
    if !known && !idp.settings.read().accepts_unknown_users() {
        return login_page(&idp, id, Some("Unknown user."));
    }
    let now = idp.clock.now_unix();
    i.sub = Some(sub.to_string());
    i.auth_time = now;
    let wants_consent = idp.settings.read().consent == crate::config::ConsentMode::Prompt
        || i.request.prompt.iter().any(|v| v == "consent");
    if wants_consent {
        idp.store.interactions.lock().insert(id.to_string(), i);
        return consent_page(&idp, id);
    }
    idp.store.interactions.lock().remove(id);
    issue_code(&idp, &i.request, sub, now)
}

/// `POST {consent}`: approve or deny.
pub async fn consent(State(idp): State<Arc<Idp>>, form: Result<FormBody, OAuthError>) -> Response {
    let FormBody(p) = match form {
        Ok(f) => f,
        Err(e) => return bad_form(e),
    };
    // The buttons are named `action` (like the proxy's consent form, so one flow client
    // answers both); `decision` is accepted too.
    let (Ok(Some(id)), Ok(decision), Ok(action)) =
        (p.get("interaction"), p.get("decision"), p.get("action"))
    else {
        return bad_form(OAuthError::invalid_request("missing interaction"));
    };
    let decision = decision.or(action);
    let Some(i) = idp.store.interactions.lock().remove(id) else {
        return expired();
    };
    let Some(sub) = i.sub.clone() else {
        return expired();
    };
    match decision {
        Some("approve") => issue_code(&idp, &i.request, &sub, i.auth_time),
        Some("deny") => error_redirect(
            &idp,
            &RedirectError {
                redirect_uri: i.request.redirect_uri.clone(),
                state: i.request.state.clone(),
                error: OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "access_denied",
                    "the user denied access",
                ),
            },
        ),
        _ => {
            idp.store.interactions.lock().insert(id.to_string(), i);
            bad_form(OAuthError::invalid_request(
                "decision must be approve or deny",
            ))
        }
    }
}
