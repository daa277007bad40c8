//! MCP over streamable HTTP: one JSON-RPC POST to the guarded endpoint.

use super::{ClientError, Exchange, FlowClient, Param, RawBody, Read};
use serde_json::Value;

/// A JSON-RPC call to the MCP endpoint. `Auto` fields come from the flow's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct McpRequest {
    /// The bearer token. Auto: the last access token (no `Authorization` when none).
    pub token: Param,
    /// The JSON-RPC message.
    pub body: Value,
    /// Auto: the remembered MCP endpoint.
    pub url: Param,
    /// `Mcp-Session-Id`. Auto: the one the server last assigned, if any.
    pub session_id: Param,
    /// `MCP-Protocol-Version`. Auto: the version negotiated by the last `initialize`, if any.
    pub protocol_version: Param,
    /// Extra headers, sent after the ones above.
    pub headers: Vec<(String, String)>,
}

impl FlowClient {
    /// POSTs a JSON-RPC message with `Authorization: Bearer <access_token>` and
    /// `Accept: application/json, text/event-stream`. The exchange's `json` is the JSON body
    /// or, for an SSE answer, the first event's data (the stream is not read further).
    pub async fn mcp(&self, access_token: &str, body: &Value) -> Result<Exchange, ClientError> {
        self.mcp_with(McpRequest {
            token: Param::Value(access_token.to_owned()),
            body: body.clone(),
            ..McpRequest::default()
        })
        .await
    }

    /// [`FlowClient::mcp`] with every part adjustable. Remembers the `Mcp-Session-Id` the
    /// server assigns and the protocol version an `initialize` result negotiates.
    pub async fn mcp_with(&self, request: McpRequest) -> Result<Exchange, ClientError> {
        let m = self.memory();
        let url = request
            .url
            .resolve(|| Some(m.endpoints.mcp.clone()))
            .ok_or(ClientError::Missing {
                what: "MCP URL",
                hint: "give McpRequest::url or call discover()/set_mcp_url()",
            })?;
        let url = self.resolve_url(&url)?;
        let mut headers = vec![(
            "accept".to_owned(),
            "application/json, text/event-stream".to_owned(),
        )];
        if let Some(token) = request.token.resolve(|| m.access_token.clone()) {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        if let Some(session) = request.session_id.resolve(|| m.mcp_session_id.clone()) {
            headers.push(("mcp-session-id".to_owned(), session));
        }
        if let Some(version) = request
            .protocol_version
            .resolve(|| m.mcp_protocol_version.clone())
        {
            headers.push(("mcp-protocol-version".to_owned(), version));
        }
        headers.extend(request.headers.iter().cloned());
        let is_initialize =
            request.body.get("method").and_then(Value::as_str) == Some("initialize");
        let ex = self
            .send(
                "POST",
                url,
                &headers,
                &RawBody::Json(request.body),
                Read::FirstSseEvent,
            )
            .await?;
        if (200..300).contains(&ex.status) {
            let session = ex.header("mcp-session-id").map(str::to_owned);
            let version = ex
                .json
                .as_ref()
                .filter(|_| is_initialize)
                .and_then(|j| j.pointer("/result/protocolVersion"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            self.update_memory(|m| {
                if session.is_some() {
                    m.mcp_session_id = session;
                }
                if version.is_some() {
                    m.mcp_protocol_version = version;
                }
            });
        }
        Ok(ex)
    }
}
