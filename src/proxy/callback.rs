//! `GET {redirect_path}`: the upstream IdP sends the browser back here.
//!
//! The upstream `state` must match a stored approved flow exactly (single use, short
//! expiry), and the browser must present the binding cookie set when it approved. Upstream
//! errors are forwarded to the client as OAuth errors; otherwise the upstream code is
//! exchanged (with the configured client authentication and the proxy's PKCE verifier), the
//! upstream tokens stay server-side, and the client gets the proxy's own authorization code,
//! bound to the client, its redirect URI and its PKCE challenge. Every redirect to the client
//! carries RFC 9207 `iss`.
//!
//! Before the grant is stored, the upstream tokens are verified
//! ([`crate::proxy::upstream::verify`]): in OIDC modes the ID token's signature, issuer,
//! audience (our client_id) and expiry, and the access token with the configured verifier
//! (required scopes included). The subject is the verified ID token's `sub`, else what the
//! verifier established; only the generic OAuth proxy without a verifier falls back to an
//! unverified `sub`.

use crate::oauth::{random_token, sha256_hex};
use crate::proxy::browser::{PageError, client_or_page};
use crate::proxy::config::VerifierKind;
use crate::proxy::cookies::BINDING;
use crate::proxy::html::{client_error_redirect, client_redirect_url, redirect};
use crate::proxy::params::{MAX_QUERY_BYTES, Params};
use crate::proxy::redirect::check_authorization;
use crate::proxy::state::ProxyState;
use crate::proxy::store::{CodeRecord, Grant, UpstreamState};
use crate::proxy::upstream::subject_of;
use crate::proxy::upstream::verify::VerifyError;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use std::sync::Arc;

/// Error codes passed through from the upstream as they are (RFC 6749 §4.1.2.1, OIDC).
const KNOWN_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
];

/// The handler.
pub async fn callback(
    State(st): State<Arc<ProxyState>>,
    req: Request,
) -> Result<Response, PageError> {
    let q = req.uri().query().unwrap_or("");
    if q.len() > MAX_QUERY_BYTES {
        return Err(PageError::new(
            StatusCode::URI_TOO_LONG,
            "Invalid callback",
            "The request is too long.",
            "invalid_request",
        ));
    }
    let params = Params::parse(q.as_bytes());
    handle(&st, req.headers(), params).await
}

fn bad(msg: impl Into<String>) -> PageError {
    PageError::bad_request("Sign-in failed", msg)
}

async fn handle(
    st: &ProxyState,
    headers: &axum::http::HeaderMap,
    params: Params,
) -> Result<Response, PageError> {
    if let Some(d) = params.duplicate() {
        return Err(bad(format!("The parameter {d} is repeated.")));
    }
    let state = params
        .get("state")
        .ok_or_else(|| bad("The identity provider's answer has no state."))?;
    let pending = st
        .records
        .take_upstream_state(&sha256_hex(state.as_bytes()))
        .await?
        .ok_or_else(|| {
            bad("This sign-in is unknown, was already completed, or has expired. Start again from your application.")
        })?;
    if pending.created_at + st.config.transaction_ttl.as_secs() as i64 <= st.now() {
        return Err(bad(
            "This sign-in has expired. Start again from your application.",
        ));
    }
    let bound = st.cookies.get(headers, BINDING).is_some_and(|c| {
        crate::oauth::constant_time_eq(
            sha256_hex(c.as_bytes()).as_bytes(),
            pending.binding_hash.as_bytes(),
        )
    });
    if !bound {
        return Err(PageError::forbidden(
            "Authorization session mismatch",
            "This sign-in was not started in this browser. Start again from your application.",
        ));
    }
    let client = client_or_page(st, &pending.txn.client_id).await?;
    check_authorization(&pending.txn.redirect_uri, &client.redirect_uris, &st.allow)
        .map_err(|why| PageError::bad_request("Invalid redirect URI", why.to_string()))?;
    Ok(complete(st, &params, state, pending).await)
}

/// The rest of the callback, once the client's redirect URI is verified: from here on,
/// errors go back to the client.
async fn complete(
    st: &ProxyState,
    params: &Params,
    state: &str,
    pending: UpstreamState,
) -> Response {
    let txn = pending.txn;
    let fail = |code: &str, desc: &str| {
        client_error_redirect(
            &txn.redirect_uri,
            code,
            desc,
            txn.state.as_deref(),
            &st.issuer,
        )
    };

    // RFC 9207 mix-up defence toward the upstream: a named issuer must be the IdP's, and an
    // IdP that advertises `authorization_response_iss_parameter_supported` must name itself
    // (§2.4: a response without `iss` is rejected then).
    if let Ok(endpoints) = st.upstream.endpoints().await {
        match (params.get("iss"), &endpoints.issuer) {
            (Some(iss), Some(expected)) if iss != expected => {
                tracing::warn!(got = iss, expected = %expected, "upstream iss mismatch");
                return fail(
                    "server_error",
                    "the identity provider's iss does not match its issuer",
                );
            }
            (None, _) if endpoints.iss_parameter_supported => {
                tracing::warn!("upstream response without iss, although the IdP advertises it");
                return fail(
                    "server_error",
                    "the identity provider's response carries no iss, although it advertises authorization_response_iss_parameter_supported (RFC 9207)",
                );
            }
            _ => {}
        }
    }
    if let Some(error) = params.get("error") {
        let code = if KNOWN_ERRORS.contains(&error) {
            error
        } else {
            "server_error"
        };
        let desc = params
            .get("error_description")
            .map(|d| {
                d.chars()
                    .filter(|c| !c.is_control())
                    .take(300)
                    .collect::<String>()
            })
            .unwrap_or_else(|| {
                format!(
                    "the identity provider answered {}",
                    crate::proxy::redirect::printable(error)
                )
            });
        tracing::info!(client_id = %txn.client_id, error = code, "upstream authorization error forwarded");
        return fail(code, &desc);
    }
    let Some(code) = params.get("code") else {
        return fail(
            "server_error",
            "the identity provider answered without a code",
        );
    };
    let upstream = match st
        .upstream
        .exchange_code(code, &pending.proxy_code_verifier, &txn.resource)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(client_id = %txn.client_id, error = %e, "upstream code exchange failed");
            return fail(e.authorization_error_code(), &e.to_string());
        }
    };
    // What the IdP issued must verify: the ID token in OIDC modes (signature, iss, aud =
    // our client_id, exp) and the access token with the configured verifier.
    let identity = match st
        .upstream_verifier
        .at_callback(&st.upstream, &upstream, state)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            let why = format!("{e}{}", verifier_hint(st.upstream_verifier.kind(), &e));
            tracing::warn!(client_id = %txn.client_id, error = %why, "upstream tokens refused at the callback");
            return fail(e.authorization_error_code(), &why);
        }
    };
    let subject = match identity.subject {
        Some(s) => s,
        // OIDC modes never take an unverified subject.
        None if st.upstream_verifier.verifies_id_tokens() => {
            tracing::warn!(client_id = %txn.client_id, "no verified subject from the identity provider");
            return fail(
                "server_error",
                "the identity provider sent no verifiable ID token (request the openid scope)",
            );
        }
        None => subject_of(&upstream).unwrap_or_else(|| "unknown".into()),
    };
    let now = st.now();
    let grant = Grant {
        grant_id: random_token(24),
        client_id: txn.client_id.clone(),
        subject,
        scopes: txn.scopes.clone(),
        resource: txn.resource.clone(),
        upstream,
        created_at: now,
    };
    let grant_ttl = st
        .config
        .refresh_token_ttl
        .get()
        .max(st.config.access_token_ttl.get())
        .saturating_add(st.config.code_ttl.get());
    let our_code = random_token(32);
    let rec = CodeRecord {
        client_id: txn.client_id.clone(),
        redirect_uri: txn.redirect_uri.clone(),
        redirect_uri_explicit: txn.redirect_uri_explicit,
        code_challenge: txn.code_challenge.clone(),
        scopes: txn.scopes.clone(),
        resource: txn.resource.clone(),
        grant_id: grant.grant_id.clone(),
        subject: grant.subject.clone(),
        expires_at: now + st.config.code_ttl.as_secs() as i64,
    };
    // The grant and its code go to the store together (with the file store, usually one
    // commit): the code is only handed out once both are stored.
    let code_key = sha256_hex(our_code.as_bytes());
    let (grant_stored, code_stored) = tokio::join!(
        st.records.put_grant(&grant.grant_id, &grant, grant_ttl),
        st.records
            .put_code(&code_key, &rec, st.config.code_ttl.get())
    );
    if let Err(e) = grant_stored.and(code_stored) {
        let _ = tokio::join!(
            st.records.delete_grant(&grant.grant_id),
            st.records.delete_code(&code_key)
        );
        return fail("temporarily_unavailable", &e.to_string());
    }
    tracing::info!(client_id = %txn.client_id, subject = %grant.subject, "authorization completed upstream");
    let mut params = vec![("code", our_code.as_str())];
    if let Some(s) = txn.state.as_deref() {
        params.push(("state", s));
    }
    let mut resp = redirect(&client_redirect_url(&txn.redirect_uri, &params, &st.issuer));
    // The binding cookie has done its job for this flow; keep it for parallel flows but
    // make sure the response is not cached.
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// The setting to change when the configured verifier cannot read what the IdP issued: a
/// `jwt` verifier given an opaque access token (Google, GitHub, Auth0 without `audience`,
/// oidc-provider's defaults) fails every login the same way.
fn verifier_hint(kind: VerifierKind, e: &VerifyError) -> &'static str {
    match (kind, e) {
        (VerifierKind::Jwt, VerifyError::Invalid(m)) if m.starts_with("not a JWT") => {
            " — the identity provider issues opaque access tokens, but upstream.verifier.kind is jwt: set upstream.verifier.kind to userinfo or introspection (`authproof validate --live` checks the token format)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod verifier_hint_tests {
    use super::*;

    #[test]
    fn an_opaque_token_behind_a_jwt_verifier_names_the_setting() {
        let opaque = VerifyError::Invalid("not a JWT (three dot-separated parts)".into());
        assert!(verifier_hint(VerifierKind::Jwt, &opaque).contains("upstream.verifier.kind"));
        assert_eq!(verifier_hint(VerifierKind::Userinfo, &opaque), "");
        let other = VerifyError::Invalid("signature check failed".into());
        assert_eq!(verifier_hint(VerifierKind::Jwt, &other), "");
    }
}
