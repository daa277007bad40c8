//! RFC 7662 token introspection.

use crate::client_auth;
use crate::error::OAuthError;
use crate::params::FormBody;
use crate::state::Idp;
use crate::store::key_of;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::sync::Arc;

/// `POST {introspect}`: any registered client may ask.
pub async fn post(
    State(idp): State<Arc<Idp>>,
    headers: HeaderMap,
    form: Result<FormBody, OAuthError>,
) -> Result<axum::Json<Value>, OAuthError> {
    let FormBody(p) = form?;
    let path = idp.paths.introspect.unwrap_or("/introspect");
    let audience = [idp.endpoint_url(path), idp.issuer.clone()];
    client_auth::authenticate(&idp, &headers, &p, &audience)?;
    let token = p.require("token")?;
    p.get("token_type_hint")?;
    let now = idp.clock.now_unix();
    if let Some(a) = idp.store.live_access(token, now) {
        let aud = if a.aud.len() == 1 {
            json!(a.aud[0])
        } else {
            json!(a.aud)
        };
        return Ok(axum::Json(json!({
            "active": true,
            "token_type": "Bearer",
            "scope": a.scope,
            "client_id": a.client_id,
            "sub": a.sub,
            "username": a.sub,
            "aud": aud,
            "iss": idp.issuer,
            "exp": a.exp,
            "iat": a.iat,
            "jti": a.jti,
        })));
    }
    let refresh = idp.store.refresh.lock().get(&key_of(token)).cloned();
    if let Some(r) = refresh
        && !r.revoked
        && !r.used
        && r.exp > now
        && idp.store.grant_live(&r.grant_id)
    {
        let sub = idp
            .store
            .grants
            .lock()
            .get(&r.grant_id)
            .and_then(|g| g.sub.clone());
        let mut v = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": r.scope,
            "client_id": r.client_id,
            "iss": idp.issuer,
        });
        if let Some(s) = sub {
            v["sub"] = json!(s);
        }
        if r.exp != i64::MAX {
            v["exp"] = json!(r.exp);
        }
        return Ok(axum::Json(v));
    }
    Ok(axum::Json(json!({ "active": false })))
}
