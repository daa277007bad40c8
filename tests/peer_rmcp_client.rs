//! The official Rust MCP SDK (`rmcp`) as a real client of the proxy, through its own OAuth
//! support: discovery from the 401 challenge (RFC 9728, RFC 8414), dynamic client
//! registration, PKCE and the code exchange, then `initialize`, `tools/list` and
//! `tools/call` through the reverse proxy to an rmcp MCP server behind it; an explicit
//! refresh, and the automatic refresh rmcp does when its stored token has expired.
//! Needs neither node nor python, so it runs everywhere.

mod peers;

use authproof::client::FlowClient;
use peers::PeerEnv;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthorizationManager, AuthorizationRequest, CredentialStore,
    InMemoryCredentialStore, OAuthState,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const REDIRECT: &str = "http://127.0.0.1:8976/callback";

/// The MCP server behind the proxy: one tool, `reverse`; it records the `Authorization`
/// headers it receives (the proxy must not pass its own tokens through).
#[derive(Clone, Default)]
struct Backend {
    seen_authorization: Arc<Mutex<Vec<String>>>,
}

impl ServerHandler for Backend {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({
            "type": "object",
            "properties": { "text": { "type": "string" } },
            "required": ["text"],
        });
        let Value::Object(schema) = schema else {
            unreachable!("a JSON object literal")
        };
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "reverse",
            "Returns the text reversed.",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if let Some(parts) = context.extensions.get::<axum::http::request::Parts>()
            && let Some(auth) = parts.headers.get("authorization")
        {
            self.seen_authorization
                .lock()
                .unwrap()
                .push(auth.to_str().unwrap_or_default().to_owned());
        }
        if request.name != "reverse" {
            return Err(ErrorData::invalid_params("unknown tool", None));
        }
        let text = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reversed: String = text.chars().rev().collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(reversed)]).into())
    }
}

/// Serve [`Backend`] on loopback; returns its MCP URL.
async fn start_backend(backend: Backend) -> String {
    let service = StreamableHttpService::new(
        move || Ok(backend.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}

/// The text of a tool result's first content block.
fn first_text(result: &CallToolResult) -> String {
    let value = serde_json::to_value(result).expect("result json");
    value["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The stored token response as JSON (access and refresh tokens, without the oauth2 traits).
async fn stored_tokens(store: &InMemoryCredentialStore) -> Value {
    let stored = store.load().await.expect("load").expect("credentials");
    serde_json::to_value(stored.token_response.expect("token response")).expect("token json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_full_flow_through_the_proxy() {
    let backend = Backend::default();
    let seen = backend.seen_authorization.clone();
    let backend_url = start_backend(backend).await;
    let env = PeerEnv::start(Some(&backend_url)).await;
    let mcp_url = env.mcp_url();

    // The 401 challenge that starts discovery.
    let challenge = FlowClient::http_client(std::time::Duration::from_secs(10))
        .expect("http")
        .post(&mcp_url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .expect("unauthenticated request");
    assert_eq!(challenge.status(), 401);
    let www_authenticate = challenge.headers()["www-authenticate"]
        .to_str()
        .expect("header")
        .to_owned();

    // rmcp's own OAuth: discovery, DCR, PKCE; the browser leg by the flow client.
    let store = InMemoryCredentialStore::new();
    let mut manager = AuthorizationManager::new(mcp_url.as_str())
        .await
        .expect("authorization manager");
    manager.set_credential_store(store.clone());
    let mut oauth = OAuthState::Unauthorized(manager);
    oauth
        .start_authorization(
            AuthorizationRequest::new(REDIRECT)
                .with_client_name("rmcp peer test")
                .with_challenge(www_authenticate),
        )
        .await
        .expect("discovery and registration");
    let authorize_url = oauth.get_authorization_url().await.expect("authorize url");
    let url = url::Url::parse(&authorize_url).expect("authorize url parses");
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(query.get("resource"), Some(&mcp_url), "{authorize_url}");
    let out = env.browser(&authorize_url, REDIRECT).await;
    assert!(out.reached_redirect_uri && out.code.is_some(), "{out}");
    assert_eq!(out.iss.as_deref(), Some(env.proxy.issuer().as_str()));
    oauth
        .handle_callback_url(&out.final_url)
        .await
        .expect("code exchange (with the iss check)");
    let first = stored_tokens(&store).await;
    let first_access = first["access_token"].as_str().expect("access").to_owned();
    let first_refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    assert!(
        first.get("scope").is_none(),
        "no scope asked, none sent: {first}"
    );

    let OAuthState::Authorized(manager) = oauth else {
        panic!("not authorized after the callback");
    };
    let auth_client = AuthClient::new(reqwest::Client::default(), manager);
    let transport = StreamableHttpClientTransport::with_client(
        auth_client.clone(),
        StreamableHttpClientTransportConfig::with_uri(mcp_url.as_str()),
    );
    let client = ().serve(transport).await.expect("initialize through the proxy");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(
        tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>(),
        ["reverse"]
    );
    let call = |text: &str| {
        let mut params = CallToolRequestParams::new("reverse");
        let Value::Object(args) = json!({ "text": text }) else {
            unreachable!("a JSON object literal")
        };
        params.arguments = Some(args);
        params
    };
    let r = client.call_tool(call("proxy")).await.expect("tools/call");
    assert_eq!(first_text(&r), "yxorp");

    // Explicit refresh: a rotated pair; the new access token works.
    auth_client
        .auth_manager
        .lock()
        .await
        .refresh_token()
        .await
        .expect("explicit refresh");
    let second = stored_tokens(&store).await;
    let second_refresh = second["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(second["access_token"].as_str(), Some(first_access.as_str()));
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    let r = client
        .call_tool(call("again"))
        .await
        .expect("tools/call after refresh");
    assert_eq!(first_text(&r), "niaga");

    // Automatic refresh: the proxy's clock passes the access-token lifetime and rmcp's stored
    // token is marked as received that long ago; the next call refreshes on its own.
    let advanced = env.expire_access_tokens().as_secs();
    let mut stored = store.load().await.expect("load").expect("credentials");
    stored.token_received_at = stored.token_received_at.map(|t| t.saturating_sub(advanced));
    store.save(stored).await.expect("save");
    let r = client
        .call_tool(call("expired"))
        .await
        .expect("tools/call with an expired token refreshes");
    assert_eq!(first_text(&r), "deripxe");
    let third = stored_tokens(&store).await;
    assert_ne!(
        third["refresh_token"].as_str(),
        Some(second_refresh.as_str())
    );
    assert_ne!(third["access_token"], second["access_token"]);

    // The old access token is dead at the proxy, and no proxy token reached the backend.
    let stale = FlowClient::new(&env.proxy.url())
        .expect("flow client")
        .mcp(
            second["access_token"].as_str().unwrap(),
            &json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}),
        )
        .await
        .expect("stale token request");
    assert_eq!(stale.status, 401);
    for token in [&first, &second, &third] {
        let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
        assert!(
            !seen.lock().unwrap().contains(&bearer),
            "the proxy passed its own access token through to the backend"
        );
    }
    client.cancel().await.expect("close");
    env.stop().await;
}
