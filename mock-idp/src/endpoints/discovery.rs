//! Discovery documents and the JWKS.

use crate::error::OAuthError;
use crate::flavors;
use crate::state::Idp;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

fn json_doc(doc: Option<serde_json::Value>) -> Response {
    match doc {
        Some(d) => {
            let mut r = axum::Json(d).into_response();
            r.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            r
        }
        None => OAuthError::not_found().into_response(),
    }
}

/// `GET /.well-known/openid-configuration`.
pub async fn openid_configuration(State(idp): State<Arc<Idp>>) -> Response {
    json_doc(flavors::openid_configuration(
        idp.flavor,
        &idp.metadata_input(),
    ))
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn authorization_server(State(idp): State<Arc<Idp>>) -> Response {
    json_doc(flavors::authorization_server_metadata(
        idp.flavor,
        &idp.metadata_input(),
    ))
}

/// `GET {jwks}`.
pub async fn jwks(State(idp): State<Arc<Idp>>) -> Response {
    json_doc(Some(idp.jwks()))
}
