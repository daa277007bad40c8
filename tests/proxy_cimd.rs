//! Client ID metadata documents: fetched, validated, cached, SSRF-safe.

mod proxy_common;

use authproof::client::{AuthorizeRequest, TokenCodeRequest};
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use proxy_common::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Docs {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn doc_server() -> Docs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let doc =
        |path: &str, cache: &'static str, client_id: Option<String>, uris: serde_json::Value| {
            let b = base.clone();
            let p = path.to_string();
            let hits = hits.clone();
            move || {
                let hits = hits.clone();
                let body = json!({
                    "client_id": client_id.clone().unwrap_or_else(|| format!("{b}{p}")),
                    "client_name": "Doc Client",
                    "redirect_uris": uris.clone(),
                });
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let mut h = HeaderMap::new();
                    h.insert(header::CACHE_CONTROL, cache.parse().unwrap());
                    (h, axum::Json(body))
                }
            }
        };
    let uris = json!([
        REDIRECT,
        "http://127.0.0.1:3000/cb",
        "https://evil.example/cb"
    ]);
    let app = Router::new()
        .route(
            "/good.json",
            get(doc("/good.json", "max-age=60", None, uris.clone())),
        )
        .route(
            "/nostore.json",
            get(doc("/nostore.json", "no-store", None, uris.clone())),
        )
        .route(
            "/mismatch.json",
            get(doc(
                "/mismatch.json",
                "no-store",
                Some("http://127.0.0.1:1/other.json".into()),
                uris.clone(),
            )),
        )
        .route(
            "/noallowed.json",
            get(doc(
                "/noallowed.json",
                "no-store",
                None,
                json!(["https://evil.example/cb"]),
            )),
        )
        .route(
            "/redirect.json",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/good.json")]).into_response()
            }),
        )
        .route("/big.json", get(|| async { "x".repeat(100_000) }))
        .route("/notjson.json", get(|| async { "<html></html>" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Docs { base, hits }
}

fn cimd_env(c: &mut authproof::proxy::ProxyConfig) {
    c.cimd_allow_http_loopback = true;
}

#[tokio::test]
async fn full_flow_with_a_metadata_document() {
    let docs = doc_server().await;
    let env = start_with("client_secret_basic", cimd_env).await;
    let client_id = format!("{}/good.json", docs.base);
    let fc = env.client();
    fc.discover().await.unwrap();
    fc.update_memory(|m| {
        m.client_id = Some(client_id.clone());
        m.redirect_uri = Some(REDIRECT.into());
    });
    let out = fc.authorize(AuthorizeRequest::default()).await.unwrap();
    assert!(out.code.is_some(), "{out}");
    assert!(out.consent_page.as_deref().unwrap().contains("Doc Client"));
    let t = fc.token_code(TokenCodeRequest::default()).await.unwrap();
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(
        fc.mcp(t.json_str("access_token").unwrap(), &mcp_init())
            .await
            .unwrap()
            .status,
        200
    );
    // Cache-Control: max-age=60 → fetched once for the whole flow.
    assert_eq!(docs.hits.load(Ordering::SeqCst), 1);
    // A listed URI that fails the allow-list is ignored, not usable.
    let out = fc
        .authorize(AuthorizeRequest {
            redirect_uri: "https://evil.example/cb".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(out.final_status, 400);
    assert!(!out.reached_redirect_uri);
    env.stop().await;
}

async fn authorize_status(env: &Env, client_id: &str) -> (u16, String) {
    let mut u = url::Url::parse(&format!("{}/authorize", env.proxy.url())).unwrap();
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &"a".repeat(43))
        .append_pair("code_challenge_method", "S256");
    let r = http().get(u.as_str()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn invalid_documents_are_refused_with_a_page() {
    let docs = doc_server().await;
    let env = start_with("client_secret_basic", cimd_env).await;
    for (path, needle) in [
        ("/mismatch.json", "not the document URL"),
        (
            "/noallowed.json",
            "no redirect URI in the document is allowed",
        ),
        ("/redirect.json", "redirects are not followed"),
        ("/big.json", "larger than"),
        ("/notjson.json", "not JSON"),
        ("/missing.json", "HTTP 404"),
    ] {
        let (status, body) = authorize_status(&env, &format!("{}{path}", docs.base)).await;
        assert_eq!(status, 400, "{path}");
        assert!(body.contains(needle), "{path}: {body}");
    }
    // no-store → fetched on every use.
    let before = docs.hits.load(Ordering::SeqCst);
    let id = format!("{}/nostore.json", docs.base);
    assert_eq!(authorize_status(&env, &id).await.0, 302);
    assert_eq!(authorize_status(&env, &id).await.0, 302);
    assert_eq!(docs.hits.load(Ordering::SeqCst), before + 2);
    env.stop().await;
}

#[tokio::test]
async fn ssrf_protection_without_the_test_switch() {
    let docs = doc_server().await;
    let env = start("client_secret_basic").await;
    // http on loopback is not a CIMD client_id at all here.
    let (status, body) = authorize_status(&env, &format!("{}/good.json", docs.base)).await;
    assert_eq!(status, 400);
    assert!(body.contains("not registered"), "{body}");
    let port = url::Url::parse(&docs.base).unwrap().port().unwrap();
    for (id, needle) in [
        (
            format!("https://127.0.0.1:{port}/good.json"),
            "not a public address",
        ),
        (
            format!("https://[::1]:{port}/good.json"),
            "not a public address",
        ),
        (
            format!("https://localhost:{port}/good.json"),
            "non-public address",
        ),
        (
            format!("https://10.0.0.1:{port}/good.json"),
            "not a public address",
        ),
    ] {
        let (status, body) = authorize_status(&env, &id).await;
        assert_eq!(status, 400, "{id}");
        assert!(body.contains(needle), "{id}: {body}");
        if id.contains("localhost") {
            // A name's resolved address is never told to the client (no DNS oracle).
            assert!(body.contains("is not allowed"), "{body}");
            assert!(
                !body.contains("127.0.0.1") && !body.contains("::1"),
                "{body}"
            );
        }
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0, "nothing was fetched");
    env.stop().await;
}
