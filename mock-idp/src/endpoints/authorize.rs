//! The authorization endpoint: validate the request, pick the user (login_hint, default
//! user, or the login page), ask for consent when configured, and redirect with a code.

use crate::config::{ClientConfig, ConsentMode, PkcePolicy};
use crate::endpoints::answer::{RedirectError, error_redirect, issue_code};
use crate::endpoints::interact;
use crate::error::{HtmlError, OAuthError};
use crate::ids;
use crate::params::{FormBody, Params};
use crate::state::Idp;
use crate::store::{AuthzRequest, Interaction};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `GET {authorize}`.
pub async fn get(State(idp): State<Arc<Idp>>, RawQuery(q): RawQuery) -> Response {
    authorize(&idp, &Params::from_query(q.as_deref()))
}

/// `POST {authorize}` (form-encoded, as OIDC allows).
pub async fn post(State(idp): State<Arc<Idp>>, form: Result<FormBody, OAuthError>) -> Response {
    match form {
        Ok(FormBody(p)) => authorize(&idp, &p),
        Err(e) => HtmlError {
            status: e.status,
            title: "Bad request".into(),
            detail: e.description,
        }
        .into_response(),
    }
}

fn authorize(idp: &Idp, p: &Params) -> Response {
    let req = match validate(idp, p) {
        Ok(r) => r,
        Err(Validation::Page(e)) => return e.into_response(),
        Err(Validation::Redirect(e)) => return error_redirect(idp, &e),
    };
    let (consent, default_user, accept_unknown) = {
        let s = idp.settings.read();
        (s.consent, s.default_user.clone(), s.accepts_unknown_users())
    };
    let wants_consent = consent == ConsentMode::Prompt || req.prompt.iter().any(|v| v == "consent");
    let none = req.prompt.iter().any(|v| v == "none");
    let user = match req.login_hint.clone() {
        Some(h) if idp.users.read().get(&h).is_some() || accept_unknown => Some(h),
        Some(_) => None,
        None if req.prompt.iter().any(|v| v == "login") => None,
        None => default_user,
    };
    if none && (user.is_none() || wants_consent) {
        let error = if user.is_none() {
            "login_required"
        } else {
            "consent_required"
        };
        return error_redirect(
            idp,
            &RedirectError {
                redirect_uri: req.redirect_uri.clone(),
                state: req.state.clone(),
                error: OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    error,
                    "prompt=none cannot be satisfied",
                ),
            },
        );
    }
    let now = idp.clock.now_unix();
    match user {
        Some(sub) if !wants_consent => issue_code(idp, &req, &sub, now),
        sub => {
            let id = ids::random_token();
            let logged_in = sub.is_some();
            idp.store.interactions.lock().insert(
                id.clone(),
                Interaction {
                    request: req,
                    sub,
                    auth_time: now,
                    expires_at: now + 600,
                },
            );
            if logged_in {
                interact::consent_page(idp, &id)
            } else {
                interact::login_page(idp, &id, None)
            }
        }
    }
}

enum Validation {
    Page(HtmlError),
    Redirect(RedirectError),
}

fn page_err(detail: impl Into<String>) -> Validation {
    Validation::Page(HtmlError::bad_request(
        "Invalid authorization request",
        detail,
    ))
}

fn validate(idp: &Idp, p: &Params) -> Result<AuthzRequest, Validation> {
    let get = |k: &str| p.get(k).map(|v| v.map(String::from));
    let client_id = get("client_id")
        .map_err(|e| page_err(e.description))?
        .ok_or_else(|| page_err("missing client_id"))?;
    let client = idp
        .client(&client_id)
        .ok_or_else(|| page_err("unknown client_id"))?;
    let requested = get("redirect_uri").map_err(|e| page_err(e.description))?;
    let redirect_uri = match &requested {
        Some(r) if redirect_allowed(&client, r) => r.clone(),
        Some(_) => return Err(page_err("redirect_uri is not registered for this client")),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(page_err("missing redirect_uri")),
    };
    let state =
        p.0.iter()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
    let fail = |error: OAuthError| {
        Validation::Redirect(RedirectError {
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            error,
        })
    };
    let one = |k: &str| get(k).map_err(fail);
    match one("response_type")?.as_deref() {
        Some("code") => {}
        // GitHub's authorize URL has no response_type.
        None if idp.flavor == crate::config::Flavor::Github => {}
        Some(other) => {
            return Err(fail(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_response_type",
                format!("response_type {other:?} is not supported; use code"),
            )));
        }
        None => return Err(fail(OAuthError::invalid_request("missing response_type"))),
    }
    if !client.grant_types.is_empty()
        && !client.grant_types.iter().any(|g| g == "authorization_code")
    {
        return Err(fail(OAuthError::unauthorized_client(
            "the client may not use the code flow",
        )));
    }
    let scope = one("scope")?.unwrap_or_default();
    let scope = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if !client.scopes.is_empty()
        && let Some(bad) = scope
            .split(' ')
            .find(|s| !s.is_empty() && !client.scopes.iter().any(|c| c == s))
    {
        return Err(fail(OAuthError::invalid_scope(format!(
            "scope {bad:?} is not allowed for this client"
        ))));
    }
    let challenge = match (one("code_challenge")?, one("code_challenge_method")?) {
        (None, Some(_)) => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            )));
        }
        (None, None) => None,
        (Some(c), m) => {
            let m = m.unwrap_or_else(|| "plain".to_string());
            if m != "S256" && m != "plain" {
                return Err(fail(OAuthError::invalid_request(format!(
                    "unsupported code_challenge_method {m:?}"
                ))));
            }
            if !is_pkce_text(&c) {
                return Err(fail(OAuthError::invalid_request(
                    "code_challenge must be 43-128 unreserved characters",
                )));
            }
            Some((c, m))
        }
    };
    match (client.pkce, &challenge) {
        (PkcePolicy::Required | PkcePolicy::S256Required, None) => {
            return Err(fail(OAuthError::invalid_request(
                "PKCE is required: send code_challenge",
            )));
        }
        (PkcePolicy::S256Required, Some((_, m))) if m != "S256" => {
            return Err(fail(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            )));
        }
        _ => {}
    }
    let mut resources: Vec<String> = p.all("resource").into_iter().map(String::from).collect();
    if client.reject_resource && !resources.is_empty() {
        return Err(fail(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.",
        )));
    }
    if let Some(api) = &client.audience
        && let Some(requested) = one("audience")?
    {
        if &requested != api {
            return Err(fail(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("Service not found: {requested}"),
            )));
        }
        resources.push(requested);
    }
    for r in &resources {
        let ok = url::Url::parse(r).is_ok_and(|u| u.fragment().is_none());
        if !ok {
            return Err(fail(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                "resource must be an absolute URI without a fragment",
            )));
        }
    }
    let prompt: Vec<String> = one("prompt")?
        .map(|v| {
            v.split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let login_hint = match one("login_hint")? {
        Some(h) => Some(h),
        None => one("login")?,
    };
    let nonce = one("nonce")?;
    let offline =
        one("access_type")?.as_deref() == Some("offline") && prompt.iter().any(|v| v == "consent");
    Ok(AuthzRequest {
        client_id,
        redirect_uri: redirect_uri.clone(),
        redirect_uri_given: requested.is_some(),
        scope,
        state: state.clone(),
        nonce,
        challenge,
        resources,
        offline,
        prompt,
        login_hint,
    })
}

/// RFC 7636 §4.1 characters and length.
pub fn is_pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `uri` may receive the client's authorization response: one of the registered URIs
/// (see [`matches_registered`]); with none registered, any loopback URL.
pub fn redirect_allowed(client: &ClientConfig, uri: &str) -> bool {
    if !client.redirect_uris.is_empty() {
        return client
            .redirect_uris
            .iter()
            .any(|r| matches_registered(r, uri));
    }
    let Ok(u) = url::Url::parse(uri) else {
        return false;
    };
    if !matches!(u.scheme(), "http" | "https") || u.fragment().is_some() || !u.username().is_empty()
    {
        return false;
    }
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A requested redirect URI against one registered URI: the same string, or, when the
/// registered host is a loopback IP literal (`127.0.0.1`, `[::1]`), the same URL in every part
/// but the port: a native app listens on whatever port the OS gave it (RFC 8252 §7.3 requires
/// the server to allow any port). `localhost` gets no such latitude (RFC 8252 §8.3 calls it
/// NOT RECOMMENDED: the name may resolve elsewhere), and neither do other hosts.
fn matches_registered(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(mut reg), Ok(mut req)) = (url::Url::parse(registered), url::Url::parse(requested))
    else {
        return false;
    };
    let loopback_ip = match reg.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    loopback_ip
        && reg.set_port(None).is_ok()
        && req.set_port(None).is_ok()
        && reg.as_str() == req.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> ClientConfig {
        ClientConfig {
            id: "c".into(),
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn registered_uris_match_exactly() {
        let c = client(&["https://app.example.com/cb", "http://localhost:8080/cb"]);
        assert!(redirect_allowed(&c, "https://app.example.com/cb"));
        assert!(redirect_allowed(&c, "http://localhost:8080/cb"));
        for bad in [
            "https://app.example.com:444/cb",
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            // localhost is a name, not a loopback literal: its port must match too.
            "http://localhost:8081/cb",
            "http://localhost/cb",
            "http://127.0.0.1:8080/cb",
        ] {
            assert!(!redirect_allowed(&c, bad), "{bad}");
        }
    }

    /// RFC 8252 §7.3: a registered loopback IP literal matches at any port, and in nothing
    /// else.
    #[test]
    fn registered_loopback_ip_literals_match_any_port() {
        let c = client(&["http://127.0.0.1:8080/cb"]);
        for ok in [
            "http://127.0.0.1:8080/cb",
            "http://127.0.0.1:51234/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:80/cb",
        ] {
            assert!(redirect_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:51234/cb/",
            "http://127.0.0.1:51234/other",
            "http://127.0.0.1:51234/cb?x=1",
            "http://127.0.0.1:51234/cb#f",
            "https://127.0.0.1:8080/cb",
            "http://127.0.0.2:8080/cb",
            "http://[::1]:8080/cb",
            "http://localhost:8080/cb",
            "http://user@127.0.0.1:8080/cb",
            "not a url",
        ] {
            assert!(!redirect_allowed(&c, bad), "{bad}");
        }
        let v6 = client(&["http://[::1]/cb"]);
        assert!(redirect_allowed(&v6, "http://[::1]:61000/cb"));
        assert!(!redirect_allowed(&v6, "http://127.0.0.1:61000/cb"));
        assert!(!redirect_allowed(&v6, "http://[::1]:61000/cb2"));
    }

    #[test]
    fn without_registered_uris_any_loopback_is_accepted() {
        let c = client(&[]);
        for ok in [
            "http://127.0.0.1:4321/cb",
            "http://localhost/x",
            "http://[::1]:9/cb",
            "http://127.9.9.9/",
        ] {
            assert!(redirect_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "https://example.com/cb",
            "http://127.0.0.1.evil.com/cb",
            "http://localhost@evil.com/",
            "http://127.0.0.1/cb#frag",
            "cursor://callback",
            "not a url",
        ] {
            assert!(!redirect_allowed(&c, bad), "{bad}");
        }
    }

    #[test]
    fn pkce_text() {
        assert!(is_pkce_text(&"a".repeat(43)));
        assert!(!is_pkce_text(&"a".repeat(42)));
        assert!(!is_pkce_text(&format!("{}+", "a".repeat(43))));
    }
}
