//! The built-in echo MCP endpoint, used when no backend is configured.
//!
//! A stateless MCP server over streamable HTTP (MCP 2025-11-25): `POST` a JSON-RPC 2.0
//! message, get `application/json` back. Requests get 200 with the response; notifications
//! and client responses get 202 with no body; `GET` and `DELETE` get 405 (no server-initiated
//! stream, no sessions). Methods: `initialize`, `ping`, `tools/list`, `tools/call` with two
//! tools — `echo` (returns its `text` argument) and `whoami` (returns the verified
//! [`Principal`]); `prompts/list`, `resources/list` and `resources/templates/list` (all empty,
//! so that generic clients that list everything at start-up work) and `logging/setLevel`
//! (accepts the eight RFC 5424 levels; the endpoint never sends log notifications). Unknown
//! methods get JSON-RPC error -32601, unparseable JSON -32700 (HTTP 400), messages that are
//! not JSON-RPC 2.0 objects -32600 (HTTP 400).

use super::{MAX_REQUEST_BODY_BYTES, is_body_limit_error, too_large};
use crate::proxy::bearer::Principal;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The protocol version the echo server prefers (and answers when the client asks for one it
/// does not know).
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// The header naming the protocol version of a request (a constant: a name given as text is
/// parsed again on every look-up).
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// Protocol versions the echo server accepts, newest first.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// The levels `logging/setLevel` accepts (MCP logging utility; RFC 5424 severities).
pub const LOG_LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// What the echo server answers to one message: an HTTP status and, unless 202, a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

/// Serves one HTTP request on the MCP path (already authorized as `principal`).
pub async fn serve(principal: &Principal, parts: Parts, body: Body) -> Response {
    let sub_path = parts.uri.path();
    if !(sub_path.is_empty() || sub_path == "/") {
        return rpc_response(Reply {
            status: StatusCode::NOT_FOUND,
            body: Some(error(
                Value::Null,
                INVALID_REQUEST,
                "No MCP endpoint at this path",
            )),
        });
    }
    if parts.method != Method::POST {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        let is_json = ct
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return rpc_response(Reply {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body: Some(error(
                    Value::Null,
                    INVALID_REQUEST,
                    "Content-Type must be application/json",
                )),
            });
        }
    }
    if let Some(version) = parts.headers.get(MCP_PROTOCOL_VERSION) {
        let known = version
            .to_str()
            .is_ok_and(|v| SUPPORTED_VERSIONS.contains(&v.trim()));
        if !known {
            return rpc_response(Reply {
                status: StatusCode::BAD_REQUEST,
                body: Some(error(
                    Value::Null,
                    INVALID_REQUEST,
                    "Unsupported MCP-Protocol-Version",
                )),
            });
        }
    }
    let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(err) if is_body_limit_error(&err) => return too_large(),
        Err(_) => {
            return rpc_response(Reply {
                status: StatusCode::BAD_REQUEST,
                body: Some(error(
                    Value::Null,
                    PARSE_ERROR,
                    "The request body could not be read",
                )),
            });
        }
    };
    respond(principal, &bytes)
}

/// The HTTP answer to one raw message body (what [`serve`] answers once the request passed
/// its checks): [`handle_message`] as a response.
pub fn respond(principal: &Principal, body: &[u8]) -> Response {
    rpc_response(handle_message(principal, body))
}

fn rpc_response(reply: Reply) -> Response {
    match reply.body {
        None => reply.status.into_response(),
        Some(body) => {
            let mut response = Response::new(Body::from(body.to_string()));
            *response.status_mut() = reply.status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

/// The echo server's answer to one raw message body.
pub fn handle_message(principal: &Principal, body: &[u8]) -> Reply {
    let message: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Reply {
                status: StatusCode::BAD_REQUEST,
                body: Some(error(
                    Value::Null,
                    PARSE_ERROR,
                    &format!("Parse error: {e}"),
                )),
            };
        }
    };
    let bad = |id: Value, msg: &str| Reply {
        status: StatusCode::BAD_REQUEST,
        body: Some(error(id, INVALID_REQUEST, msg)),
    };
    let Some(object) = message.as_object() else {
        return bad(
            Value::Null,
            "Invalid Request: expected one JSON-RPC message object (batches are not supported)",
        );
    };
    let id = object.get("id").cloned();
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return bad(
            Value::Null,
            "Invalid Request: id must be a string or an integer",
        );
    }
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return bad(
            id.unwrap_or(Value::Null),
            "Invalid Request: jsonrpc must be \"2.0\"",
        );
    }
    let method = match object.get("method") {
        Some(Value::String(m)) => m.as_str(),
        Some(_) => {
            return bad(
                id.unwrap_or(Value::Null),
                "Invalid Request: method must be a string",
            );
        }
        None if id.is_some() && (object.contains_key("result") || object.contains_key("error")) => {
            // A response from the client to a server request: accepted, nothing to say.
            return Reply {
                status: StatusCode::ACCEPTED,
                body: None,
            };
        }
        None => {
            return bad(
                id.unwrap_or(Value::Null),
                "Invalid Request: method is missing",
            );
        }
    };
    let Some(id) = id else {
        // A notification (`notifications/initialized`, `notifications/cancelled`, …).
        return Reply {
            status: StatusCode::ACCEPTED,
            body: None,
        };
    };
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    let outcome = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools() })),
        "tools/call" => call_tool(principal, &params),
        "prompts/list" => Ok(json!({ "prompts": [] })),
        "resources/list" => Ok(json!({ "resources": [] })),
        "resources/templates/list" => Ok(json!({ "resourceTemplates": [] })),
        "logging/setLevel" => set_level(&params),
        other => Err((METHOD_NOT_FOUND, format!("Method not found: {other}"))),
    };
    let body = match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, msg)) => error(id, code, &msg),
    };
    Reply {
        status: StatusCode::OK,
        body: Some(body),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

fn initialize(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    let version = requested
        .filter(|v| SUPPORTED_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSION);
    json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": { "listChanged": false },
            "prompts": { "listChanged": false },
            "resources": { "subscribe": false, "listChanged": false },
            "logging": {},
        },
        "serverInfo": {
            "name": "authproof-echo",
            "title": "authproof echo MCP endpoint",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Built-in test endpoint of the authproof proxy: `echo` returns its text, `whoami` the verified identity.",
    })
}

fn tools() -> Value {
    json!([
        {
            "name": "echo",
            "title": "Echo",
            "description": "Returns the given text.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string", "description": "Text to echo back" } },
                "required": ["text"],
            },
        },
        {
            "name": "whoami",
            "title": "Who am I",
            "description": "Returns the identity the proxy verified for this request.",
            "inputSchema": { "type": "object", "properties": {} },
        },
    ])
}

/// `logging/setLevel`: a known level gets `{}`; the endpoint emits no log notifications, so
/// there is nothing to filter.
fn set_level(params: &Value) -> Result<Value, (i64, String)> {
    match params.get("level").and_then(Value::as_str) {
        Some(level) if LOG_LEVELS.contains(&level) => Ok(json!({})),
        Some(level) => Err((
            INVALID_PARAMS,
            format!(
                "Invalid params: unknown log level {level:?} (one of {})",
                LOG_LEVELS.join(", ")
            ),
        )),
        None => Err((
            INVALID_PARAMS,
            "Invalid params: logging/setLevel needs a string `level`".to_owned(),
        )),
    }
}

fn call_tool(principal: &Principal, params: &Value) -> Result<Value, (i64, String)> {
    let name = params.get("name").and_then(Value::as_str).ok_or((
        INVALID_PARAMS,
        "Invalid params: tools/call needs a tool name".to_owned(),
    ))?;
    let arguments = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| json!({}));
    match name {
        "echo" => Ok(match arguments.get("text").and_then(Value::as_str) {
            Some(text) => json!({
                "content": [{ "type": "text", "text": text }],
                "isError": false,
            }),
            None => json!({
                "content": [{ "type": "text", "text": "The echo tool needs a string argument `text`." }],
                "isError": true,
            }),
        }),
        "whoami" => {
            let identity = serde_json::to_value(principal).unwrap_or(Value::Null);
            Ok(json!({
                "content": [{ "type": "text", "text": identity.to_string() }],
                "structuredContent": identity,
                "isError": false,
            }))
        }
        other => Err((INVALID_PARAMS, format!("Unknown tool: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal {
            subject: "alice".into(),
            client_id: Some("c1".into()),
            scopes: vec!["openid".into()],
            claims: json!({ "sub": "alice" }),
        }
    }

    fn call(body: &str) -> Reply {
        handle_message(&alice(), body.as_bytes())
    }

    fn result(reply: &Reply) -> &Value {
        &reply.body.as_ref().unwrap()["result"]
    }

    fn error_code(reply: &Reply) -> i64 {
        reply.body.as_ref().unwrap()["error"]["code"]
            .as_i64()
            .unwrap()
    }

    #[test]
    fn initialize_negotiates() {
        let r = call(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(result(&r)["protocolVersion"], "2025-11-25");
        assert!(result(&r)["capabilities"]["tools"].is_object());
        assert_eq!(result(&r)["serverInfo"]["name"], "authproof-echo");
        assert_eq!(r.body.as_ref().unwrap()["id"], 1);
        let old = call(
            r#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
        );
        assert_eq!(result(&old)["protocolVersion"], "2025-06-18");
        let unknown = call(
            r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}"#,
        );
        assert_eq!(result(&unknown)["protocolVersion"], PROTOCOL_VERSION);
    }

    #[test]
    fn notifications_and_responses_are_accepted() {
        let n = call(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(
            n,
            Reply {
                status: StatusCode::ACCEPTED,
                body: None
            }
        );
        let resp = call(r#"{"jsonrpc":"2.0","id":5,"result":{}}"#);
        assert_eq!(resp.status, StatusCode::ACCEPTED);
    }

    #[test]
    fn tools() {
        let list = call(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        let names: Vec<&str> = result(&list)["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["echo", "whoami"]);
        let echo = call(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
        );
        assert_eq!(result(&echo)["content"][0]["text"], "hi");
        assert_eq!(result(&echo)["isError"], false);
        let missing =
            call(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo"}}"#);
        assert_eq!(result(&missing)["isError"], true);
        let who =
            call(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"whoami"}}"#);
        assert_eq!(result(&who)["structuredContent"]["subject"], "alice");
        assert_eq!(result(&who)["structuredContent"]["client_id"], "c1");
        let unknown =
            call(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"rm"}}"#);
        assert_eq!(error_code(&unknown), INVALID_PARAMS);
        let noname = call(r#"{"jsonrpc":"2.0","id":6,"method":"tools/call"}"#);
        assert_eq!(error_code(&noname), INVALID_PARAMS);
        let ping = call(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#);
        assert_eq!(result(&ping), &json!({}));
    }

    #[test]
    fn empty_lists_and_logging() {
        let init = call(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        let caps = &result(&init)["capabilities"];
        for cap in ["tools", "prompts", "resources", "logging"] {
            assert!(caps[cap].is_object(), "{cap} advertised: {caps}");
        }
        let prompts = call(r#"{"jsonrpc":"2.0","id":2,"method":"prompts/list"}"#);
        assert_eq!(result(&prompts), &json!({ "prompts": [] }));
        let resources = call(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list","params":{}}"#);
        assert_eq!(result(&resources), &json!({ "resources": [] }));
        let templates = call(r#"{"jsonrpc":"2.0","id":4,"method":"resources/templates/list"}"#);
        assert_eq!(result(&templates), &json!({ "resourceTemplates": [] }));
        for level in LOG_LEVELS {
            let r = call(&format!(
                r#"{{"jsonrpc":"2.0","id":5,"method":"logging/setLevel","params":{{"level":"{level}"}}}}"#
            ));
            assert_eq!(result(&r), &json!({}), "{level}");
        }
        let bad = call(
            r#"{"jsonrpc":"2.0","id":6,"method":"logging/setLevel","params":{"level":"loud"}}"#,
        );
        assert_eq!(error_code(&bad), INVALID_PARAMS);
        let missing = call(r#"{"jsonrpc":"2.0","id":7,"method":"logging/setLevel"}"#);
        assert_eq!(error_code(&missing), INVALID_PARAMS);
    }

    #[test]
    fn errors() {
        let unknown = call(r#"{"jsonrpc":"2.0","id":1,"method":"resources/read"}"#);
        assert_eq!(unknown.status, StatusCode::OK);
        assert_eq!(error_code(&unknown), METHOD_NOT_FOUND);
        assert_eq!(unknown.body.as_ref().unwrap()["id"], 1);
        let parse = call("{not json");
        assert_eq!(parse.status, StatusCode::BAD_REQUEST);
        assert_eq!(error_code(&parse), PARSE_ERROR);
        assert_eq!(parse.body.as_ref().unwrap()["id"], Value::Null);
        for bad in [
            "[]",
            "42",
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            let r = call(bad);
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(error_code(&r), INVALID_REQUEST, "{bad}");
        }
    }
}
