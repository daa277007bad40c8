//! Local servers a scenario needs besides the mock IdP and the proxy: JSON documents (client
//! ID metadata documents for CIMD scenarios) and an MCP backend that reports what it received
//! (to check the identity headers and the absence of token passthrough behind the proxy).
//!
//! ```yaml
//! fixtures:
//!   documents:                       # GET {{ fixtures.url }}/<name> answers the JSON
//!     client.json:
//!       client_id: "{{ fixtures.url }}/client.json"
//!       redirect_uris: [http://127.0.0.1:3000/cb]
//!   backend: true                    # {{ fixtures.backend }}: the reporting MCP backend
//! proxy:
//!   backend: "{{ fixtures.backend }}"
//! ```
//!
//! The server binds a loopback port before the section is rendered, so documents can name
//! their own URL (a CIMD document's `client_id` must equal it). `GET {{ fixtures.url }}/_hits`
//! answers how many times each document was fetched, for scenarios about caching.
//!
//! The backend answers every request with a JSON-RPC result (the request's `id`, when it sent
//! one) whose `received` member holds the method, path, query and headers it got, header
//! names in lower case: `$.result.received.headers['x-authproof-subject']`.

use super::error::{from_value_with_path, located_error};
use super::load::LoadedScenario;
use super::model::Located;
use super::template;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::oneshot;

pub use super::model::FixturesSpec;

/// The largest backend request body kept for the report.
const MAX_BODY: usize = 64 * 1024;

#[derive(Default)]
struct Shared {
    documents: BTreeMap<String, Value>,
    hits: Mutex<BTreeMap<String, u64>>,
}

/// The running fixture server of one trial.
pub struct Fixtures {
    url: String,
    backend: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Fixtures {
    /// Bind, render the section with `fixtures.*` known, and serve.
    pub async fn spawn(
        sc: &LoadedScenario,
        loc: &Located<Value>,
        base_ctx: &Map<String, Value>,
    ) -> Result<Fixtures, String> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot bind the fixture server: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("fixture server: {e}"))?;
        let url = format!("http://{addr}");
        let mut ctx = base_ctx.clone();
        ctx.insert("fixtures".into(), facts(&url, true));
        let rendered = template::render_value(&loc.value, &Value::Object(ctx))
            .map_err(|e| located_error(sc, loc, format!("fixtures: {e}")))?;
        let spec: FixturesSpec =
            from_value_with_path(rendered, "fixtures").map_err(|m| located_error(sc, loc, m))?;
        if let Some(bad) = spec.documents.keys().find(|n| !is_document_name(n)) {
            return Err(located_error(
                sc,
                loc,
                format!(
                    "fixtures.documents: `{bad}` is not a valid document name (letters, digits, `.`, `-`, `_`, and `/` between parts)"
                ),
            ));
        }
        let shared = Arc::new(Shared {
            documents: spec.documents,
            hits: Mutex::default(),
        });
        let mut app = Router::new()
            .route("/_hits", get(hits))
            .route("/{*name}", get(document));
        if spec.backend {
            app = app
                .route("/mcp-backend", any(backend))
                .route("/mcp-backend/{*rest}", any(backend));
        }
        let app = app.with_state(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Fixtures {
            url,
            backend: spec.backend,
            shutdown: Some(tx),
            task,
        })
    }

    /// What templates see as `fixtures`.
    pub fn value(&self) -> Value {
        facts(&self.url, self.backend)
    }

    /// Stop serving.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task).await;
        self.task.abort();
    }
}

fn facts(url: &str, backend: bool) -> Value {
    let mut v = json!({ "url": url });
    if backend {
        v["backend"] = Value::String(format!("{url}/mcp-backend"));
    }
    v
}

fn is_document_name(n: &str) -> bool {
    !n.is_empty()
        && n != "_hits"
        && !n.starts_with("mcp-backend")
        && n.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        })
}

async fn document(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.documents.get(&name) {
        Some(doc) => {
            *s.hits.lock().entry(name).or_default() += 1;
            (
                [(header::CACHE_CONTROL, "max-age=300")],
                axum::Json(doc.clone()),
            )
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "not_found" })),
        )
            .into_response(),
    }
}

async fn hits(State(s): State<Arc<Shared>>) -> Response {
    let hits = s.hits.lock().clone();
    axum::Json(json!(hits)).into_response()
}

async fn backend(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let request: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    let received = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "rpc_method": request.get("method").cloned().unwrap_or(Value::Null),
    });
    axum::Json(json!({
        "jsonrpc": "2.0",
        "id": request.get("id").cloned().unwrap_or(Value::Null),
        "result": { "received": received },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_stay_inside_the_server() {
        assert!(is_document_name("client.json"));
        assert!(is_document_name("clients/a-1_b.json"));
        for bad in [
            "",
            "../x",
            "a//b",
            "a/./b",
            "_hits",
            "mcp-backend",
            "a b",
            "a?b",
        ] {
            assert!(!is_document_name(bad), "{bad}");
        }
    }
}
