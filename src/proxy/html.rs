//! Browser-facing answers: small self-contained HTML pages and redirects to clients.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Content-Security-Policy of every page: no scripts, no framing, and only the pages' own
/// style sheet (allowed by its hash, so an injected `<style>` or `style=` would not apply).
/// No `form-action`: browsers apply it to the redirects after a submission too, and the
/// consent form's answer redirects to the IdP or to the client's (possibly private-use)
/// redirect URI.
pub fn csp() -> &'static str {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use base64::Engine as _;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src https: data:; \
             base-uri 'none'; frame-ancestors 'none'"
        )
    });
    &CSP
}

/// Escape text for HTML element content and quoted attribute values (the one escaper, shared
/// with the mock IdP's pages).
pub fn escape(s: &str) -> String {
    foundations::html::escape(s)
}

/// Headers every page carries: no caching, no framing, no referrer, no sniffing.
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp()),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A complete page around `body_html` (already escaped by the caller).
pub fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title}</title><style>{STYLE}</style></head>\n<body><main>\n{body_html}\n</main></body></html>\n",
        title = escape(title),
    );
    let mut resp = (status, html).into_response();
    secure_headers(resp.headers_mut());
    resp
}

/// An error page: a title, an explanation, and an optional error code.
pub fn error_page(status: StatusCode, title: &str, message: &str, code: Option<&str>) -> Response {
    let code_html = code
        .map(|c| {
            format!(
                "<p class=\"code\">Error code: <code>{}</code></p>",
                escape(c)
            )
        })
        .unwrap_or_default();
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1>\n<p>{}</p>\n{code_html}",
            escape(title),
            escape(message)
        ),
    )
}

/// The pages' one style sheet. At phone width (390 px) the card keeps a margin, the details
/// stack, and long identifiers (client IDs, redirect URIs) wrap instead of overflowing.
const STYLE: &str = "*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;background:#f5f5f7;color:#1d1d1f;margin:0;padding:3rem 1rem;line-height:1.45}\
main{max-width:34rem;margin:0 auto;overflow-wrap:anywhere;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}code{overflow-wrap:anywhere}\
dl{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.4rem 1rem}\
dt{font-weight:600}dd{margin:0;min-width:0;overflow-wrap:anywhere}small{color:#555}\
.unverified{display:inline-block;font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.03em;\
color:#8a4b00;background:#fff4e5;border:1px solid #f0a020;border-radius:4px;padding:0 .35rem;vertical-align:middle}\
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.6rem}\
.actions{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1.5rem}\
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:8px;border:1px solid #888;background:#fff;color:#1d1d1f;cursor:pointer}\
button[value=approve]{background:#0a66d8;color:#fff;border-color:#0a66d8}.code{color:#666;font-size:.9rem}\
@media (max-width:30rem){body{padding:1rem .75rem}main{padding:1.25rem}dl{grid-template-columns:minmax(0,1fr)}dd{margin-bottom:.4rem}}";

/// A 302 to `location` that must not be cached.
pub fn redirect(location: &str) -> Response {
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The client's redirect URI with authorization-response parameters added (existing query
/// parameters kept, except ones with the names being set) and RFC 9207 `iss` always last.
pub fn client_redirect_url(redirect_uri: &str, params: &[(&str, &str)], iss: &str) -> String {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    let ours = |k: &str| k == "iss" || params.iter().any(|(p, _)| *p == k);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !ours(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
        q.append_pair("iss", iss);
    }
    url.into()
}

/// Redirect to the client with an OAuth error (plus `state` and `iss`).
pub fn client_error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    iss: &str,
) -> Response {
    let mut params = vec![("error", error)];
    if !description.is_empty() {
        params.push(("error_description", description));
    }
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(&client_redirect_url(redirect_uri, &params, iss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#x27;y&#x27;&lt;/script&gt;"
        );
    }

    #[test]
    fn redirect_keeps_query_and_sets_iss_once() {
        let u = client_redirect_url(
            "http://localhost:3000/cb?x=1&iss=evil&state=old",
            &[("code", "abc"), ("state", "s 1")],
            "http://127.0.0.1:8000",
        );
        assert_eq!(
            u,
            "http://localhost:3000/cb?x=1&code=abc&state=s+1&iss=http%3A%2F%2F127.0.0.1%3A8000"
        );
        let u = client_redirect_url(
            "cursor://anysphere.cursor-retrieval/oauth/cb",
            &[("code", "c")],
            "https://a",
        );
        assert_eq!(
            u,
            "cursor://anysphere.cursor-retrieval/oauth/cb?code=c&iss=https%3A%2F%2Fa"
        );
    }

    #[test]
    fn pages_forbid_framing() {
        let r = error_page(
            StatusCode::BAD_REQUEST,
            "Bad <request>",
            "because",
            Some("invalid_request"),
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let csp = r.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
    }
}
