//! OIDC userinfo, and GitHub's `GET /user` and `GET /user/emails`.

use crate::config::Flavor;
use crate::ids::sha256;
use crate::params::bearer;
use crate::state::Idp;
use crate::store::AccessRecord;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

fn unauthorized(idp: &Idp, presented: bool) -> Response {
    let (body, challenge) = match idp.flavor {
        Flavor::Workos => (json!({ "error": "unauthorized" }), "Bearer".to_string()),
        Flavor::Github => (
            json!({
                "message": if presented { "Bad credentials" } else { "Requires authentication" },
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            }),
            "Bearer".to_string(),
        ),
        Flavor::Oidc => {
            let d = if presented {
                "the access token is invalid or expired"
            } else {
                "missing bearer token"
            };
            let challenge = if presented {
                format!("Bearer error=\"invalid_token\", error_description=\"{d}\"")
            } else {
                "Bearer".to_string()
            };
            (
                json!({ "error": "invalid_token", "error_description": d }),
                challenge,
            )
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        axum::Json(body),
    )
        .into_response()
}

/// Why a request has no usable token: `true` when a token was presented but is not live.
struct NoToken(bool);

fn token_record(idp: &Idp, headers: &HeaderMap) -> Result<AccessRecord, NoToken> {
    let Some(token) = bearer(headers, idp.flavor == Flavor::Github) else {
        return Err(NoToken(false));
    };
    idp.store
        .live_access(&token, idp.clock.now_unix())
        .ok_or(NoToken(true))
}

/// `GET|POST {userinfo}`.
pub async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let rec = match token_record(&idp, &headers) {
        Ok(r) => r,
        Err(NoToken(p)) => return unauthorized(&idp, p),
    };
    let mut claims = serde_json::Map::new();
    if rec.user
        && let Some(u) = idp.users.read().get(&rec.sub)
    {
        claims.extend(u.claims.clone());
    }
    claims.insert("sub".into(), json!(rec.sub));
    if idp.flavor == Flavor::Workos {
        // AuthKit reports the token's scopes, which a resource server enforces.
        claims.insert("scope".into(), json!(rec.scope));
    }
    axum::Json(Value::Object(claims)).into_response()
}

fn github_user(idp: &Idp, sub: &str) -> Value {
    let h = sha256(sub.as_bytes());
    let numeric = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]) & 0x3fff_ffff);
    let mut user = json!({
        "login": sub,
        "id": numeric,
        "node_id": format!("U_{}", &crate::ids::b64url(&h[..12])),
        "type": "User",
        "site_admin": false,
        "name": null,
        "email": null,
        "html_url": format!("https://github.com/{sub}"),
    });
    if let (Some(o), Some(u)) = (user.as_object_mut(), idp.users.read().get(sub)) {
        o.extend(u.claims.clone());
    }
    user
}

/// GitHub `GET /user`.
pub async fn github_user_endpoint(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    match token_record(&idp, &headers) {
        Ok(rec) if rec.user => {
            // GitHub names the token's scopes in X-OAuth-Scopes ("read:user, user:email").
            let scopes = rec
                .scope
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            (
                [(header::HeaderName::from_static("x-oauth-scopes"), scopes)],
                axum::Json(github_user(&idp, &rec.sub)),
            )
                .into_response()
        }
        Ok(_) => (
            StatusCode::FORBIDDEN,
            axum::Json(
                json!({ "message": "Resource not accessible by integration", "status": "403" }),
            ),
        )
            .into_response(),
        Err(NoToken(p)) => unauthorized(&idp, p),
    }
}

/// GitHub `GET /user/emails`.
pub async fn github_user_emails(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let rec = match token_record(&idp, &headers) {
        Ok(r) => r,
        Err(NoToken(p)) => return unauthorized(&idp, p),
    };
    let email = github_user(&idp, &rec.sub)
        .get("email")
        .and_then(|v| v.as_str())
        .map(String::from);
    let list: Vec<Value> = email
        .into_iter()
        .map(|e| json!({ "email": e, "primary": true, "verified": true, "visibility": "private" }))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}
