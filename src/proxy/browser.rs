//! What the browser-facing endpoints (authorize, consent, callback) share: [`PageError`], the
//! error they answer with an HTML page (never JSON, and never a redirect to a URI that is not
//! yet verified), and the client lookup that fails with one.
//!
//! Each handler returns `Result<Response, PageError>`: a page error is `?`-propagated, while
//! an error the client's verified redirect URI may receive is an `Ok` redirect. The type tells
//! the two apart, so an error cannot reach an unverified redirect URI by accident.

use crate::oauth::error::OAuthError;
use crate::proxy::html::error_page;
use crate::proxy::state::{ClientLookupError, ProxyState};
use crate::proxy::store::{ClientRecord, StoreError};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// An error shown to the person in the browser as an HTML page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
    code: Cow<'static, str>,
    link: Option<HeaderValue>,
}

impl PageError {
    /// Any page: status, title, message and the OAuth error code shown on it.
    pub fn new(
        status: StatusCode,
        title: &'static str,
        message: impl Into<String>,
        code: &'static str,
    ) -> Self {
        Self {
            status,
            title,
            message: message.into(),
            code: Cow::Borrowed(code),
            link: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message, "invalid_request")
    }

    /// 403 `access_denied`.
    pub fn forbidden(title: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, title, message, "access_denied")
    }

    /// 503 `temporarily_unavailable` (the store, or another dependency, failed).
    pub fn unavailable(why: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            format!("The server cannot handle the request right now ({why}). Please try again."),
            "temporarily_unavailable",
        )
    }

    /// A transaction that is unknown, already used or expired.
    pub fn expired() -> Self {
        Self::bad_request(
            "Authorization expired",
            "This authorization request is unknown, was already used, or has expired. Start again from your application.",
        )
    }

    /// An unknown client: 400, with a `Link` to the registration endpoint.
    pub fn unknown_client(st: &ProxyState, client_id: &str) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "Client not registered",
            format!(
                "The application {client_id:?} is not registered with this server. MCP clients should register again \
                 (dynamic client registration) and retry."
            ),
            "invalid_client",
        );
        e.link = HeaderValue::from_str(&format!(
            "<{}>; rel=\"http://oauth.net/core/2.1/#registration\"",
            st.url("/register")
        ))
        .ok();
        e
    }

    /// An OAuth error (a malformed form body, say) shown as a page titled `title`.
    pub fn from_oauth(title: &'static str, e: OAuthError) -> Self {
        Self {
            status: e.status,
            title,
            message: e.description().to_string(),
            code: e.error,
            link: None,
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::unavailable(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut r = error_page(self.status, self.title, &self.message, Some(&self.code));
        if let Some(link) = self.link {
            r.headers_mut().insert(header::LINK, link);
        }
        r
    }
}

/// Look up the client of a browser-facing request; every failure is a page.
pub async fn client_or_page(st: &ProxyState, client_id: &str) -> Result<ClientRecord, PageError> {
    match st.find_client(client_id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(PageError::unknown_client(st, client_id)),
        Err(ClientLookupError::Cimd(e)) => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Client metadata document rejected",
            e.to_string(),
            "invalid_client",
        )),
        Err(ClientLookupError::Store(e)) => Err(e.into()),
    }
}
