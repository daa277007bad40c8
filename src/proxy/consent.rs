//! `GET|POST /consent`: the user approves or denies a client before the upstream IdP is
//! involved (the upstream may auto-approve the proxy's one static client, so the proxy must
//! ask: MCP security best practices, confused deputy).
//!
//! - The page names the client, its redirect URI (and host) and the scopes, and warns when
//!   the redirect goes to this machine (loopback).
//! - CSRF: the form carries a random token, stored server-side (by hash) with the
//!   transaction and the hash of a random per-browser cookie; the POST must present both.
//!   One token per transaction: showing the page again replaces it (the earlier page's form
//!   then counts as expired), so however often the page is shown, the store holds one CSRF
//!   record per pending transaction.
//! - Framing is forbidden (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
//! - Approve: only now the proxy creates its own PKCE pair and a fresh random upstream
//!   `state`, stores them server-side, sets the browser-binding cookie and redirects upstream.
//! - Deny: `access_denied` back to the client (with `state` and `iss`).
//! - `remember`: an approval is stored server-side under a hash of a random per-browser
//!   cookie and exactly what the page showed: the client, the redirect URI, the scopes and
//!   the resource. A request for anything else (another redirect URI, one more scope, another
//!   resource) finds no record and is asked again. It is used only when the browser says the
//!   navigation is not cross-site (`Sec-Fetch-Site: none | same-origin | same-site`). It lasts
//!   [`REMEMBER_FOR`], or, for a provisional registration, no longer than the registration
//!   itself may (`registration_provisional_ttl`): approvals of clients that never complete a
//!   token exchange do not pile up in the store for a month.
//! - A second submission of the same form (a double click, the back button) is answered
//!   "already submitted": the used CSRF token leaves a tombstone for the transaction's life.

use crate::oauth::{pkce, random_token, sha256_hex};
use crate::proxy::browser::{PageError, client_or_page};
use crate::proxy::config::{ConsentMode, ProviderKind};
use crate::proxy::cookies::{BINDING, BROWSER, CSRF};
use crate::proxy::html::{client_error_redirect, escape, page, redirect};
use crate::proxy::params::{Params, read_form};
use crate::proxy::redirect::{check_authorization, is_loopback_host};
use crate::proxy::state::ProxyState;
use crate::proxy::store::{ClientRecord, ConsentRecord, CsrfRecord, Transaction, UpstreamState};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;

/// How long a remembered consent lasts.
pub const REMEMBER_FOR: Duration = Duration::from_secs(30 * 86_400);

/// The handler for both methods.
pub async fn consent(
    State(st): State<Arc<ProxyState>>,
    req: Request,
) -> Result<Response, PageError> {
    let (parts, body) = req.into_parts();
    if parts.method == Method::POST {
        let p = read_form(&parts.headers, body)
            .await
            .map_err(|e| PageError::from_oauth(INVALID_SUBMISSION, e))?;
        submit(&st, &parts.headers, p).await
    } else {
        let params = Params::parse(parts.uri.query().unwrap_or("").as_bytes());
        show(&st, &parts.headers, params).await
    }
}

/// The key a remembered consent is stored under: the browser's secret and everything the
/// consent page showed (client, redirect URI, scopes in any order, resource), so that a
/// remembered approval never covers more than the person saw.
fn remember_key(browser_secret: &str, txn: &Transaction) -> String {
    let mut scopes: Vec<&str> = txn.scopes.iter().map(String::as_str).collect();
    scopes.sort_unstable();
    scopes.dedup();
    // JSON keeps the fields apart whatever characters they hold.
    let shown = serde_json::json!([
        browser_secret,
        txn.client_id,
        txn.redirect_uri,
        scopes,
        txn.resource
    ]);
    sha256_hex(shown.to_string().as_bytes())
}

fn fetch_is_not_cross_site(headers: &HeaderMap) -> bool {
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("none" | "same-origin" | "same-site")
    )
}

async fn show(st: &ProxyState, headers: &HeaderMap, params: Params) -> Result<Response, PageError> {
    if params.duplicate().is_some() {
        return Err(PageError::expired());
    }
    let txn_id = params.get("txn_id").ok_or_else(PageError::expired)?;
    let txn = st
        .records
        .get_transaction(txn_id)
        .await?
        .ok_or_else(PageError::expired)?;
    // With remembered consents, the client must be known before the transaction goes
    // upstream without a page; otherwise it is looked up while the form's record is stored.
    let mut known = None;
    if st.consent() == ConsentMode::Remember {
        let client = client_or_page(st, &txn.client_id).await?;
        if fetch_is_not_cross_site(headers)
            && let Some(secret) = st.cookies.get(headers, BROWSER)
            && let Ok(Some(rec)) = st.records.get_consent(&remember_key(&secret, &txn)).await
            && rec.client_id == txn.client_id
        {
            // Remembered: consume the transaction and go upstream.
            let txn = st
                .records
                .take_transaction(txn_id)
                .await?
                .ok_or_else(PageError::expired)?;
            return Ok(approve(st, headers, txn).await);
        }
        known = Some(client);
    }
    let csrf_token = random_token(32);
    let cookie = st
        .cookies
        .get(headers, CSRF)
        .unwrap_or_else(|| random_token(32));
    let rec = CsrfRecord {
        txn_id: txn.txn_id.clone(),
        cookie_hash: sha256_hex(cookie.as_bytes()),
        token_hash: sha256_hex(csrf_token.as_bytes()),
    };
    let form_key = csrf_key(&txn.txn_id);
    let store_form = st.records.put_csrf(&form_key, &rec, st.transaction_ttl());
    let (client, stored) = match known {
        Some(c) => (Ok(c), store_form.await),
        None => tokio::join!(client_or_page(st, &txn.client_id), store_form),
    };
    let client = client?;
    stored?;
    let mut resp = page(
        StatusCode::OK,
        "Authorize access",
        &render(st, &client, &txn, &csrf_token),
    );
    resp.headers_mut().append(
        header::SET_COOKIE,
        st.cookies.set(CSRF, &cookie, st.transaction_ttl()),
    );
    Ok(resp)
}

fn render(st: &ProxyState, client: &ClientRecord, txn: &Transaction, csrf_token: &str) -> String {
    let parsed = url::Url::parse(&txn.redirect_uri).ok();
    let redirect_host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| txn.redirect_uri.clone());
    let loopback = parsed
        .as_ref()
        .and_then(|u| u.host().map(|h| is_loopback_host(&h)))
        .unwrap_or(false);
    let warn = if loopback {
        "<p class=\"warn\">The authorization code goes to <strong>this computer</strong> \
         (a local address). Only continue if you just started signing in from an application you trust.</p>"
    } else {
        ""
    };
    // The name is whatever the client wrote in its registration (or its metadata document):
    // say so, and show the identifier it is known by.
    let (id_label, name_source) = if client.cimd {
        (
            "Client ID (metadata document)",
            "The name comes from the application's metadata document and is not verified.",
        )
    } else {
        (
            "Client ID",
            "The application chose this name itself when it registered; it is not verified.",
        )
    };
    let scopes = if txn.scopes.is_empty() {
        "<em>none</em>".to_string()
    } else {
        txn.scopes
            .iter()
            .map(|s| format!("<code>{}</code>", escape(s)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "<h1>Authorize access</h1>\n\
<p>An application calling itself <strong>{name}</strong> <span class=\"unverified\">unverified</span> \
wants to access <strong>{resource}</strong> on your behalf.</p>\n\
<p>If you allow it, you will sign in with <strong>{idp}</strong> next, and an authorization code \
will then be sent to <strong>{host}</strong>.</p>\n{warn}\n\
<dl><dt>Application name</dt><dd>{name} <span class=\"unverified\">unverified</span>\
<br><small>{name_source}</small></dd>\
<dt>{id_label}</dt><dd><code>{client_id}</code></dd>\
<dt>Redirect URI</dt><dd><code>{redirect}</code></dd><dt>Scopes</dt><dd>{scopes}</dd>\
<dt>Identity provider</dt><dd>{idp}</dd></dl>\n\
<form method=\"post\" action=\"{action}\">\n\
<input type=\"hidden\" name=\"txn_id\" value=\"{txn_id}\">\n\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\n\
<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"approve\">Allow access</button>\n\
<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></div>\n</form>",
        name = escape(client.display_name()),
        client_id = escape(&client.client_id),
        resource = escape(&st.resource),
        idp = escape(&idp_label(st)),
        host = escape(&redirect_host),
        redirect = escape(&txn.redirect_uri),
        action = escape(&st.url("/consent")),
        txn_id = escape(&txn.txn_id),
        csrf = escape(csrf_token),
    )
}

/// How the page names the upstream identity provider: the preset (when there is one) and
/// the host the person will be sent to sign in.
fn idp_label(st: &ProxyState) -> String {
    let up = &st.config.upstream;
    let host = [&up.authorization_endpoint, &up.config_url]
        .into_iter()
        .flatten()
        .find_map(|u| {
            let u = url::Url::parse(u).ok()?;
            let host = u.host_str()?;
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            })
        });
    let preset = match st.config.provider {
        ProviderKind::Oauth | ProviderKind::Oidc => None,
        ProviderKind::Workos | ProviderKind::Authkit => Some("WorkOS"),
        ProviderKind::Auth0 => Some("Auth0"),
        ProviderKind::Google => Some("Google"),
        ProviderKind::Github => Some("GitHub"),
        ProviderKind::Azure => Some("Microsoft Entra ID"),
        ProviderKind::Keycloak => Some("Keycloak"),
    };
    match (preset, host) {
        (Some(p), Some(h)) => format!("{p} ({h})"),
        (Some(p), None) => p.to_string(),
        (None, Some(h)) => h,
        (None, None) => "your identity provider".to_string(),
    }
}

/// The key of a transaction's CSRF record (evicted with the transaction at the cap).
pub(crate) fn csrf_key(txn_id: &str) -> String {
    format!("txn.{}", sha256_hex(txn_id.as_bytes()))
}

/// The key of the tombstone a used CSRF token leaves behind.
fn used_key(token_hash: &str) -> String {
    format!("used.{token_hash}")
}

const INVALID_SUBMISSION: &str = "Invalid consent submission";

/// The answer to a token that is not (or no longer) the transaction's: already submitted when
/// it left a tombstone, else expired.
async fn submitted_or_expired(st: &ProxyState, token_hash: &str) -> PageError {
    match st.records.get_csrf(&used_key(token_hash)).await {
        Ok(Some(_)) => already_submitted(),
        Ok(None) => expired_form(),
        Err(e) => e.into(),
    }
}

fn already_submitted() -> PageError {
    PageError::forbidden(
        "Already submitted",
        "This consent form was already submitted, so it cannot be used again. \
         If signing in did not continue, start again from your application.",
    )
}

fn expired_form() -> PageError {
    PageError::forbidden(
        "Consent form expired",
        "This consent form is unknown or has expired. Start again from your application.",
    )
}

async fn submit(
    st: &ProxyState,
    headers: &HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    params
        .check()
        .map_err(|e| PageError::bad_request(INVALID_SUBMISSION, e.description()))?;
    let (Some(txn_id), Some(csrf_token)) = (params.get("txn_id"), params.get("csrf_token")) else {
        return Err(PageError::bad_request(
            INVALID_SUBMISSION,
            "txn_id and csrf_token are required.",
        ));
    };
    let approve_it = match params.get("action") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(PageError::bad_request(
                INVALID_SUBMISSION,
                "action must be approve or deny.",
            ));
        }
    };
    // CSRF: the token (single use) must be the one the transaction's page carries now, and
    // belong to this browser.
    let token_hash = sha256_hex(csrf_token.as_bytes());
    let key = csrf_key(txn_id);
    // Independent reads go together: the form's CSRF record and the transaction, then the
    // CSRF record's consumption and the transaction's client. Nothing is decided on them
    // before the CSRF token is checked.
    let (current, pending) = tokio::join!(
        st.records.read_csrf(&key),
        st.records.get_transaction(txn_id)
    );
    let current = current?
        .filter(|c| crate::oauth::constant_time_eq(c.token_hash.as_bytes(), token_hash.as_bytes()));
    let Some(current) = current else {
        return Err(submitted_or_expired(st, &token_hash).await);
    };
    let client_of_pending = async {
        match pending {
            Ok(Some(t)) => Some(client_or_page(st, &t.client_id).await),
            _ => None,
        }
    };
    let (taken, client_of_pending) =
        tokio::join!(st.records.take_csrf_read(&key, &current), client_of_pending);
    // Gone, used by a concurrent submission, or replaced by the page shown again: say which.
    if !taken? {
        return Err(submitted_or_expired(st, &token_hash).await);
    }
    let csrf = current.into_inner();
    // Leave a tombstone so that a second submission is told what happened. Best effort: without
    // it the page says the form expired, which is still safe.
    let cap = st.bounds.authorizations();
    let tombstone = async {
        if let Ok(evicted) = st
            .records
            .put_csrf_capped(
                &used_key(&token_hash),
                &csrf,
                st.transaction_ttl(),
                cap.cap(),
            )
            .await
        {
            cap.evicted(evicted);
        }
    };
    let cookie_ok = st.cookies.get(headers, CSRF).is_some_and(|c| {
        crate::oauth::constant_time_eq(
            sha256_hex(c.as_bytes()).as_bytes(),
            csrf.cookie_hash.as_bytes(),
        )
    });
    if csrf.txn_id != txn_id || !cookie_ok {
        tombstone.await;
        return Err(PageError::forbidden(
            "Authorization session mismatch",
            "This consent form was not shown to this browser. Start again from your application.",
        ));
    }
    // The tombstone and the transaction's consumption are independent writes: sent together
    // (with the file store, usually one commit).
    let ((), txn) = tokio::join!(tombstone, st.records.take_transaction(txn_id));
    let txn = txn?.ok_or_else(PageError::expired)?;
    let client = match client_of_pending {
        Some(Ok(c)) if c.client_id == txn.client_id => c,
        _ => client_or_page(st, &txn.client_id).await?,
    };
    // The allow-list may have changed since: re-check before any redirect to the client.
    check_authorization(&txn.redirect_uri, &client.redirect_uris, &st.allow)
        .map_err(|why| PageError::bad_request("Invalid redirect URI", why.to_string()))?;
    if !approve_it {
        tracing::info!(client_id = %txn.client_id, "consent denied");
        return Ok(client_error_redirect(
            &txn.redirect_uri,
            "access_denied",
            "the user denied the request",
            txn.state.as_deref(),
            &st.issuer,
        ));
    }
    let mut extra_cookie = None;
    if st.consent() == ConsentMode::Remember {
        let secret = st
            .cookies
            .get(headers, BROWSER)
            .unwrap_or_else(|| random_token(32));
        let rec = ConsentRecord {
            client_id: txn.client_id.clone(),
            approved_at: st.now(),
        };
        let remember_for = if client.provisional {
            REMEMBER_FOR.min(st.config.registration_provisional_ttl.get())
        } else {
            REMEMBER_FOR
        };
        if st
            .records
            .put_consent(&remember_key(&secret, &txn), &rec, remember_for)
            .await
            .is_ok()
        {
            extra_cookie = Some(st.cookies.set(BROWSER, &secret, REMEMBER_FOR));
        }
    }
    let mut resp = approve(st, headers, txn).await;
    if let Some(c) = extra_cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Send an approved transaction upstream: the proxy's own PKCE pair and a fresh random
/// `state` are created now, stored server-side with the hash of the browser-binding cookie,
/// and the browser goes to the upstream authorization endpoint.
pub async fn approve(st: &ProxyState, headers: &HeaderMap, txn: Transaction) -> Response {
    let fail = |code: &str, desc: &str| {
        client_error_redirect(
            &txn.redirect_uri,
            code,
            desc,
            txn.state.as_deref(),
            &st.issuer,
        )
    };
    let endpoints = match st.upstream.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "upstream discovery failed");
            return fail(e.authorization_error_code(), &e.to_string());
        }
    };
    let state = random_token(32);
    let verifier = pkce::new_verifier();
    let binding = st
        .cookies
        .get(headers, BINDING)
        .unwrap_or_else(|| random_token(32));
    let url = st.upstream.authorize_url(
        endpoints,
        &state,
        &pkce::challenge_s256(&verifier),
        &txn.scopes,
        &txn.resource,
        txn.login_hint.as_deref(),
    );
    let pending = UpstreamState {
        txn: txn.clone(),
        proxy_code_verifier: verifier,
        binding_hash: sha256_hex(binding.as_bytes()),
        created_at: st.now(),
    };
    let cap = st.bounds.authorizations();
    match st
        .records
        .put_upstream_state_capped(
            &sha256_hex(state.as_bytes()),
            &pending,
            st.transaction_ttl(),
            cap.cap(),
        )
        .await
    {
        Ok(evicted) => cap.evicted(evicted),
        Err(e) => return fail("temporarily_unavailable", &e.to_string()),
    }
    tracing::debug!(client_id = %txn.client_id, "consent approved; sending the browser upstream");
    let mut resp = redirect(&url);
    resp.headers_mut().append(
        header::SET_COOKIE,
        st.cookies.set(BINDING, &binding, st.transaction_ttl()),
    );
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    resp.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}
