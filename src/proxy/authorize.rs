//! `GET|POST /authorize`: the client's authorization request.
//!
//! Until the client and its redirect URI are known to be good, every error is an HTML page
//! (never a redirect). After that, errors go back to the client's redirect URI with `error`,
//! `error_description`, `state` and `iss`. A valid request becomes a short-lived
//! transaction and goes to consent (or, with `consent: off`, straight upstream).

use crate::oauth::pkce;
use crate::proxy::browser::{PageError, client_or_page};
use crate::proxy::config::ConsentMode;
use crate::proxy::consent;
use crate::proxy::html::{client_error_redirect, redirect};
use crate::proxy::params::{MAX_QUERY_BYTES, Params, read_form};
use crate::proxy::redirect::check_authorization;
use crate::proxy::state::ProxyState;
use crate::proxy::store::{ClientRecord, Transaction};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// The longest `state` a client may send (bytes): it is stored with the transaction.
pub const MAX_STATE_BYTES: usize = 2048;
/// The longest `login_hint` (bytes).
pub const MAX_LOGIN_HINT_BYTES: usize = 256;

/// The handler.
pub async fn authorize(
    State(st): State<Arc<ProxyState>>,
    req: Request,
) -> Result<Response, PageError> {
    let who = crate::proxy::bounds::client_address_of(&req);
    let (parts, body) = req.into_parts();
    let params = if parts.method == Method::POST {
        read_form(&parts.headers, body)
            .await
            .map_err(|e| PageError::from_oauth(INVALID, e))?
    } else {
        let q = parts.uri.query().unwrap_or("");
        if q.len() > MAX_QUERY_BYTES {
            return Err(PageError::new(
                StatusCode::URI_TOO_LONG,
                INVALID,
                "The request is too long.",
                "invalid_request",
            ));
        }
        Params::parse(q.as_bytes())
    };
    handle(&st, &parts.headers, params, who).await
}

const INVALID: &str = "Invalid authorization request";

async fn handle(
    st: &ProxyState,
    headers: &axum::http::HeaderMap,
    params: Params,
    who: crate::proxy::bounds::ClientAddress,
) -> Result<Response, PageError> {
    for key in ["client_id", "redirect_uri"] {
        if params.duplicate() == Some(key) {
            return Err(PageError::bad_request(
                INVALID,
                format!("The parameter {key} is repeated."),
            ));
        }
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(|| PageError::bad_request(INVALID, "The request has no client_id."))?;
    let client = client_or_page(st, client_id).await?;
    let (redirect_uri, explicit) = match params.get("redirect_uri") {
        Some(r) => (r.to_string(), true),
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => {
            return Err(PageError::bad_request(
                INVALID,
                "The request has no redirect_uri and the client registered more than one.",
            ));
        }
    };
    check_authorization(&redirect_uri, &client.redirect_uris, &st.allow).map_err(|why| {
        PageError::bad_request(
            "Invalid redirect URI",
            format!("The redirect URI cannot be used for this client: {why}"),
        )
    })?;
    Ok(answer(st, headers, params, who, client, redirect_uri, explicit).await)
}

/// The rest of an authorization request, once its redirect URI is verified: from here on,
/// errors go back to the client.
async fn answer(
    st: &ProxyState,
    headers: &axum::http::HeaderMap,
    params: Params,
    who: crate::proxy::bounds::ClientAddress,
    client: ClientRecord,
    redirect_uri: String,
    explicit: bool,
) -> Response {
    // From here on, errors go back to the client.
    if params
        .get("state")
        .is_some_and(|s| s.len() > MAX_STATE_BYTES)
    {
        return client_error_redirect(
            &redirect_uri,
            "invalid_request",
            &format!("state is longer than {MAX_STATE_BYTES} bytes"),
            None,
            &st.issuer,
        );
    }
    let state = params.get("state");
    let fail = |code: &str, desc: &str| {
        client_error_redirect(&redirect_uri, code, desc, state, &st.issuer)
    };
    if let Err(e) = params.check() {
        return fail(&e.error, e.description());
    }
    match params.get("response_type") {
        None => return fail("invalid_request", "response_type is required"),
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail(
            "invalid_request",
            "code_challenge is required (PKCE with S256)",
        );
    };
    match params.get("code_challenge_method") {
        Some("S256") => {}
        None => return fail("invalid_request", "code_challenge_method=S256 is required"),
        Some(_) => {
            return fail(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            );
        }
    }
    if !pkce::is_valid_s256_challenge(challenge) {
        return fail(
            "invalid_request",
            "code_challenge is not a valid S256 challenge",
        );
    }
    if let Some(r) = params.get("resource")
        && !st.is_own_resource(r)
    {
        return fail(
            "invalid_target",
            &format!("this server protects {}", st.resource),
        );
    }
    let scopes = match st.grant_scopes(&client, params.get("scope")) {
        Ok(s) => s,
        Err(why) => return fail("invalid_scope", &why),
    };
    if params
        .get("login_hint")
        .is_some_and(|h| h.len() > MAX_LOGIN_HINT_BYTES)
    {
        return fail(
            "invalid_request",
            &format!("login_hint is longer than {MAX_LOGIN_HINT_BYTES} bytes"),
        );
    }
    if let Err(refusal) = st.bounds.admit_authorization(&who) {
        // Debug only, as for registrations.
        tracing::debug!(client = %who, "authorization refused: {}", refusal.description());
        return refusal.page();
    }
    let txn = Transaction {
        txn_id: crate::oauth::random_token(24),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        redirect_uri_explicit: explicit,
        state: state.map(str::to_string),
        code_challenge: challenge.to_string(),
        scopes,
        resource: st.resource.clone(),
        login_hint: params.get("login_hint").map(str::to_string),
        created_at: st.now(),
    };
    if st.consent() == ConsentMode::Off {
        return consent::approve(st, headers, txn).await;
    }
    let cap = st.bounds.authorizations();
    match st
        .records
        .put_pending_transaction(
            &txn,
            st.transaction_ttl(),
            cap.cap(),
            &consent::csrf_key(&txn.txn_id),
        )
        .await
    {
        Ok(evicted) => cap.evicted(evicted),
        Err(e) => return fail("temporarily_unavailable", &e.to_string()),
    }
    // txn_id is base64url: no escaping needed.
    redirect(&format!("{}?txn_id={}", st.url("/consent"), txn.txn_id))
}
