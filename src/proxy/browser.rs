//! What the browser-facing endpoints (authorize, consent, callback) share: looking up the
//! client of a request with every failure answered as an HTML page, never JSON and never a
//! redirect to an unverified URI.

use crate::proxy::html::error_page;
use crate::proxy::state::{ClientLookupError, ProxyState};
use crate::proxy::store::ClientRecord;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The unknown-client page: 400, never a redirect.
pub fn unknown_client_page(st: &ProxyState, client_id: &str) -> Response {
    let mut r = error_page(
        StatusCode::BAD_REQUEST,
        "Client not registered",
        &format!(
            "The application {client_id:?} is not registered with this server. MCP clients should register again \
             (dynamic client registration) and retry."
        ),
        Some("invalid_client"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "<{}>; rel=\"http://oauth.net/core/2.1/#registration\"",
        st.url("/register")
    )) {
        r.headers_mut().insert(header::LINK, v);
    }
    r
}

/// Look up a client for a browser-facing endpoint; errors are pages.
pub async fn client_or_page(st: &ProxyState, client_id: &str) -> Result<ClientRecord, Response> {
    match st.find_client(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(unknown_client_page(st, client_id)),
        Err(ClientLookupError::Cimd(e)) => Err(error_page(
            StatusCode::BAD_REQUEST,
            "Client metadata document rejected",
            &e.to_string(),
            Some("invalid_client"),
        )),
        Err(ClientLookupError::Store(e)) => Err(error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            &format!("The server cannot handle the request right now ({e}). Please try again."),
            Some("temporarily_unavailable"),
        )),
    }
}

/// A page for a transaction that is unknown or expired.
pub fn expired_page() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Authorization expired",
        "This authorization request is unknown, was already used, or has expired. Start again from your application.",
        Some("invalid_request"),
    )
}
