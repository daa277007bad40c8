//! The bearer guard on the MCP path, the built-in echo endpoint and the reverse proxy to a
//! backend MCP server, over real HTTP on loopback.

use authproof::proxy::resource::{
    BearerError, BearerVerifier, MAX_REQUEST_BODY_BYTES, Principal, ResourceGuard, Verdict,
    mcp_routes,
};
use axum::Router;
use axum::body::{Body, Bytes};
use http_body_util::channel::Channel;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RESOURCE: &str = "http://127.0.0.1:1/mcp";
const PRM: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp";

/// Tokens: `good` (scope mcp), `noscope`, `expired`, `down`; anything else is invalid.
#[derive(Default)]
struct StubVerifier {
    seen: Mutex<Vec<String>>,
}

impl BearerVerifier for StubVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a> {
        Box::pin(async move {
            self.seen.lock().push(token.to_owned());
            let principal = |scopes: &[&str]| {
                Arc::new(Principal {
                    subject: "alice".into(),
                    client_id: Some("client-1".into()),
                    scopes: scopes.iter().map(|s| s.to_string()).collect(),
                    claims: json!({ "sub": "alice", "email": "alice@example.com" }),
                })
            };
            match token {
                "good" => Ok(principal(&["mcp", "email"])),
                "noscope" => Ok(principal(&["email"])),
                "expired" => Err(BearerError::Expired),
                "down" => Err(BearerError::Unavailable("store offline".into())),
                _ => Err(BearerError::Invalid("unknown \"token\"".into())),
            }
        })
    }
}

fn guard(verifier: Arc<StubVerifier>, backend: Option<&str>) -> ResourceGuard {
    ResourceGuard {
        verifier,
        resource: RESOURCE.into(),
        resource_metadata_url: PRM.into(),
        required_scopes: vec!["mcp".into()],
        backend: backend.map(|b| url::Url::parse(b).unwrap()),
        backend_roots: Default::default(),
    }
}

struct Served {
    url: String,
    verifier: Arc<StubVerifier>,
    http: reqwest::Client,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    format!("http://{addr}")
}

async fn spawn(backend: Option<&str>) -> Served {
    let verifier = Arc::new(StubVerifier::default());
    let router = Router::new().nest_service("/mcp", mcp_routes(guard(verifier.clone(), backend)));
    Served {
        url: serve(router).await,
        verifier,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl Served {
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    }

    async fn rpc(&self, token: &str, body: Value) -> reqwest::Response {
        self.post("/mcp")
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }
}

fn www(resp: &reqwest::Response) -> &str {
    resp.headers()["www-authenticate"].to_str().unwrap()
}

const BARE: &str = "Bearer resource_metadata=\"http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\"";

fn init() -> Value {
    json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}})
}

// ---------------------------------------------------------------- the guard

#[tokio::test]
async fn no_token_gets_bare_challenge() {
    let s = spawn(None).await;
    let resp = s
        .post("/mcp")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(www(&resp), BARE);
    assert!(!www(&resp).contains("error="));
    assert!(s.verifier.seen.lock().is_empty());
    // GET (SSE) and DELETE are guarded too.
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = s
            .http
            .request(m, format!("{}/mcp", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(www(&resp), BARE);
    }
    // Sub-paths are guarded as well.
    for p in ["/mcp/", "/mcp/anything"] {
        let resp = s.post(p).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{p}");
    }
}

#[tokio::test]
async fn other_schemes_and_malformed_headers_get_bare_challenge() {
    let s = spawn(None).await;
    for value in [
        "Basic Z29vZDpnb29k",
        "Bearer",
        "Bearer good extra",
        "Token good",
        "Bearergood",
    ] {
        let resp = s
            .post("/mcp")
            .header("authorization", value)
            .body(init().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{value}");
        assert_eq!(www(&resp), BARE, "{value}");
    }
    let resp = s
        .post("/mcp")
        .header("authorization", "Bearer good")
        .header("authorization", "Bearer good")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "two Authorization headers");
    assert!(s.verifier.seen.lock().is_empty());
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let s = spawn(None).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp = s
            .post("/mcp")
            .header("authorization", format!("{scheme} good"))
            .body(init().to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn invalid_and_expired_tokens_get_invalid_token() {
    let s = spawn(None).await;
    let resp = s.rpc("forged", init()).await;
    assert_eq!(resp.status(), 401);
    let challenge = www(&resp).to_owned();
    assert!(challenge.starts_with(BARE), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(
        challenge.contains("error_description=\"unknown 'token'\""),
        "{challenge}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let resp = s.rpc("expired", init()).await;
    assert_eq!(resp.status(), 401);
    assert!(www(&resp).contains("error=\"invalid_token\""));
    assert!(www(&resp).contains("expired"));
}

#[tokio::test]
async fn query_string_tokens_are_ignored() {
    let s = spawn(None).await;
    let resp = s
        .post("/mcp?access_token=good")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(www(&resp), BARE);
    assert!(s.verifier.seen.lock().is_empty());
}

#[tokio::test]
async fn insufficient_scope_gets_403() {
    let s = spawn(None).await;
    let resp = s.rpc("noscope", init()).await;
    assert_eq!(resp.status(), 403);
    let challenge = www(&resp).to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"mcp\""), "{challenge}");
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn unavailable_verifier_gets_503_json() {
    let s = spawn(None).await;
    let resp = s.rpc("down", init()).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().get("www-authenticate").is_none());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        !body.to_string().contains("store offline"),
        "internal reason leaked"
    );
}

#[tokio::test]
async fn cors_preflight_and_exposed_headers() {
    let s = spawn(None).await;
    let resp = s
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/mcp", s.url))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let allowed = resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("mcp-session-id"),
        "{allowed}"
    );
    assert!(s.verifier.seen.lock().is_empty());

    let resp = s
        .post("/mcp")
        .header("origin", "https://app.example")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let exposed = resp.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );
}

#[tokio::test]
async fn nest_mount_answers_path_and_subpaths() {
    let verifier = Arc::new(StubVerifier::default());
    let router = Router::new().nest("/mcp", mcp_routes(guard(verifier, None)));
    let url = serve(router).await;
    let http = reqwest::Client::new();
    for p in ["/mcp", "/mcp/sub"] {
        let resp = http.post(format!("{url}{p}")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{p}");
    }
    let resp = http.post(format!("{url}/other")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
}

// ---------------------------------------------------------------- the echo endpoint

#[tokio::test]
async fn echo_endpoint_speaks_mcp() {
    let s = spawn(None).await;
    let resp = s.rpc("good", init()).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert!(body["result"]["serverInfo"]["name"].is_string());
    assert!(body["result"]["capabilities"]["tools"].is_object());

    let resp = s
        .rpc(
            "good",
            json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        )
        .await;
    assert_eq!(resp.status(), 202);
    assert!(resp.text().await.unwrap().is_empty());

    let body: Value = s
        .rpc(
            "good",
            json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let tools: Vec<&str> = body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["echo", "whoami"]);

    let body: Value = s
        .rpc("good", json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"héllo"}}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "héllo");

    let body: Value = s
        .rpc("good", json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"whoami","arguments":{}}}))
        .await
        .json()
        .await
        .unwrap();
    let who = &body["result"]["structuredContent"];
    assert_eq!(who["subject"], "alice");
    assert_eq!(who["client_id"], "client-1");
    assert_eq!(who["scopes"], json!(["mcp", "email"]));
    assert_eq!(who["claims"]["email"], "alice@example.com");

    let body: Value = s
        .rpc("good", json!({"jsonrpc":"2.0","id":5,"method":"ping"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["result"], json!({}));

    let body: Value = s
        .rpc("good", json!({"jsonrpc":"2.0","id":6,"method":"no/such"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], -32601);
    assert_eq!(body["id"], 6);
}

#[tokio::test]
async fn echo_endpoint_rejects_bad_input() {
    let s = spawn(None).await;
    let resp = s
        .post("/mcp")
        .bearer_auth("good")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);

    let resp = s
        .http
        .get(format!("{}/mcp", s.url))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    let resp = s
        .http
        .post(format!("{}/mcp", s.url))
        .bearer_auth("good")
        .header("content-type", "text/plain")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);

    let resp = s
        .post("/mcp")
        .bearer_auth("good")
        .header("mcp-protocol-version", "1999-01-01")
        .body(json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = s
        .post("/mcp")
        .bearer_auth("good")
        .body(vec![b' '; MAX_REQUEST_BODY_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    let resp = s
        .post("/mcp/elsewhere")
        .bearer_auth("good")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413() {
    // No Content-Length: the limit must hold while streaming, both for the echo endpoint and
    // on the way to a backend (which reads whole bodies, so only the limit can stop it).
    let backend = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&backend)
        .await;
    let backend_url = format!("{}/mcp", backend.uri());
    for target in [None, Some(backend_url.as_str())] {
        let verifier = Arc::new(StubVerifier::default());
        let app = mcp_routes(guard(verifier, target));
        let (mut tx, body) = Channel::<Bytes>::new(4);
        tokio::spawn(async move {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            for _ in 0..(MAX_REQUEST_BODY_BYTES / chunk.len() + 2) {
                if tx.send_data(chunk.clone()).await.is_err() {
                    break;
                }
            }
        });
        let request = axum::http::Request::post("/")
            .header("authorization", "Bearer good")
            .header("content-type", "application/json")
            .body(Body::new(body))
            .unwrap();
        let resp = app.oneshot(request).await.unwrap();
        assert_eq!(resp.status(), 413, "backend: {target:?}");
    }
    assert!(backend.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------- the reverse proxy

#[tokio::test]
async fn proxied_requests_carry_identity_and_no_credentials() {
    let backend = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/backend/mcp"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("mcp-session-id", "sess-1")
                .insert_header("content-type", "application/json")
                .set_body_json(json!({"jsonrpc":"2.0","id":1,"result":{"ok":true}})),
        )
        .mount(&backend)
        .await;
    let s = spawn(Some(&format!("{}/backend/mcp", backend.uri()))).await;
    let resp = s
        .post("/mcp?access_token=good&keep=1")
        .bearer_auth("good")
        .header("x-authproof-subject", "mallory")
        .header("X-Authproof-Scopes", "admin")
        .header("x-authproof-extra", "1")
        .header("mcp-session-id", "sess-1")
        .body(init().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["mcp-session-id"], "sess-1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["ok"], true);

    let received = backend.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    let h = &r.headers;
    assert!(h.get("authorization").is_none(), "token passed through");
    assert_eq!(
        h.get_all("x-authproof-subject").iter().collect::<Vec<_>>(),
        ["alice"]
    );
    assert_eq!(
        h.get_all("x-authproof-scopes").iter().collect::<Vec<_>>(),
        ["mcp email"]
    );
    assert_eq!(h["x-authproof-client-id"], "client-1");
    assert!(h.get("x-authproof-extra").is_none());
    assert_eq!(h["mcp-session-id"], "sess-1");
    assert_eq!(r.url.query(), Some("keep=1"), "query token forwarded");
    assert!(!r.url.as_str().contains("access_token"));
    assert_eq!(serde_json::from_slice::<Value>(&r.body).unwrap(), init());
}

#[tokio::test]
async fn proxied_subpaths_and_status_pass_through() {
    let backend = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/backend/mcp/session"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&backend)
        .await;
    Mock::given(method("GET"))
        .and(path("/backend/mcp"))
        .respond_with(ResponseTemplate::new(405).insert_header("allow", "POST"))
        .mount(&backend)
        .await;
    let s = spawn(Some(&format!("{}/backend/mcp", backend.uri()))).await;
    let resp = s
        .http
        .delete(format!("{}/mcp/session", s.url))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = s
        .http
        .get(format!("{}/mcp", s.url))
        .bearer_auth("good")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    // Unauthorized requests never reach the backend.
    let resp = s
        .http
        .get(format!("{}/mcp", s.url))
        .bearer_auth("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = s
        .http
        .get(format!("{}/mcp", s.url))
        .bearer_auth("noscope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(backend.received_requests().await.unwrap().len(), 2);
    // Dot segments, backslashes and encoded separators cannot climb out of the backend path
    // (sent raw: reqwest would normalise).
    let verifier = Arc::new(StubVerifier::default());
    let app = mcp_routes(guard(
        verifier,
        Some(&format!("{}/backend/mcp", backend.uri())),
    ));
    for raw in [
        "/%2e%2e/admin",
        "/../admin",
        "/a/%2E/b",
        "/..\\admin",
        "/.%2e\\admin",
        "/x/..\\..\\admin",
        "/..%5Cadmin",
        "/..%2Fadmin",
    ] {
        let request = axum::http::Request::get(raw)
            .header("authorization", "Bearer good")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(request).await.unwrap();
        assert_eq!(resp.status(), 400, "{raw}");
    }
    assert_eq!(backend.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn backend_down_is_502_json() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let s = spawn(Some(&dead)).await;
    let resp = s.rpc("good", init()).await;
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
}

#[tokio::test]
async fn sse_streams_through_unbuffered() {
    // A backend that sends one SSE event, then holds the stream open until the test has
    // received that event through the proxy. A buffering proxy would never deliver it.
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let seen_headers = Arc::new(Mutex::new(None));
    let seen = seen_headers.clone();
    let backend = Router::new().route(
        "/mcp",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let release = release_rx.lock().take();
            *seen.lock() = Some(headers);
            async move {
                let (mut tx, body) = Channel::<Bytes>::new(4);
                tokio::spawn(async move {
                    tx.send_data(Bytes::from_static(b"id: 1\ndata: {\"n\":1}\n\n"))
                        .await
                        .ok();
                    if let Some(release) = release {
                        release.await.ok();
                    }
                    tx.send_data(Bytes::from_static(b"id: 2\ndata: {\"n\":2}\n\n"))
                        .await
                        .ok();
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-cache")
                    .body(Body::new(body))
                    .unwrap()
            }
        }),
    );
    let backend_url = serve(backend).await;
    let s = spawn(Some(&format!("{backend_url}/mcp"))).await;
    let mut resp = s.rpc("good", init()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");

    let guard = Duration::from_secs(30); // a hang guard, not a timing assertion
    let mut received = Vec::new();
    while !String::from_utf8_lossy(&received).contains("\n\n") {
        let chunk = tokio::time::timeout(guard, resp.chunk())
            .await
            .expect("the first event was held back by the proxy")
            .unwrap()
            .expect("stream ended before the first event");
        received.extend_from_slice(&chunk);
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    assert!(text.contains("data: {\"n\":1}"), "{text}");
    assert!(
        !text.contains("\"n\":2"),
        "the backend had not sent event 2 yet: {text}"
    );
    release_tx.send(()).unwrap();
    let rest = tokio::time::timeout(guard, resp.bytes())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&rest).contains("data: {\"n\":2}"));

    let headers = seen_headers.lock().take().unwrap();
    assert!(headers.get("authorization").is_none());
    assert_eq!(headers["x-authproof-subject"], "alice");
}
