//! RFC 7009 token revocation.

use crate::client_auth;
use crate::error::OAuthError;
use crate::params::FormBody;
use crate::state::Idp;
use crate::store::key_of;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `POST {revoke}`: 200 whether or not the token was known (RFC 7009 §2.2).
pub async fn post(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    form: Result<FormBody, OAuthError>,
) -> Result<Response, OAuthError> {
    let FormBody(p) = form?;
    let audience = [
        idp.endpoint_url(idp.paths.revoke.unwrap_or("/revoke")),
        idp.issuer.clone(),
    ];
    let (client, _) = client_auth::authenticate(&idp, &headers, &p, &audience)?;
    let token = p.require("token")?;
    let hint = p.get("token_type_hint")?;
    if let Some(h) = hint
        && h != "access_token"
        && h != "refresh_token"
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            format!("token_type_hint {h:?} is not supported"),
        ));
    }
    let key = key_of(token);
    let refresh_grant = {
        let mut map = idp.store.refresh.lock();
        match map.get_mut(&key) {
            Some(r) if r.client_id == client.id => {
                r.revoked = true;
                Some(r.grant_id.clone())
            }
            _ => None,
        }
    };
    // Revoking a refresh token ends the grant, its access tokens included.
    if let Some(g) = refresh_grant {
        idp.store.revoke_grant(&g);
    } else if let Some(a) = idp.store.access.lock().get_mut(&key)
        && a.client_id == client.id
    {
        a.revoked = true;
    }
    Ok((
        StatusCode::OK,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
    )
        .into_response())
}
