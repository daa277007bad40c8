//! The MCP TypeScript SDK client (`@modelcontextprotocol/sdk`, pinned in
//! tests/peers/node/package.json) against the proxy: discovery from the 401, DCR, PKCE, the
//! browser leg (played by authproof's flow client: consent approved, the mock IdP's default
//! user), the code exchange, `initialize`, `tools/list` and `tools/call` through the reverse
//! proxy to the SDK's own MCP server, and a refresh that the SDK drives after the proxy's
//! clock has expired its access token. Skips with a message when node or the SDK is missing.
//!
//! The same flow runs a second time with the SDK's client ID metadata document path: the
//! SDK's `clientMetadataUrl` (which must be https) names a document served over TLS on
//! 127.0.0.1 with a certificate made by the test, which the proxy trusts through
//! `outbound_ca_file`; the client never registers, and its client_id is the document's URL.

mod peers;

use peers::cimd::MetadataDocument;
use peers::{Background, NodePeers, PeerEnv, assert_sdk_authorize_request, run_peer, skipping};
use std::process::Command;

/// The redirect URI sdk-client.mjs uses.
const REDIRECT: &str = "http://127.0.0.1:8975/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_sdk_client_full_flow_through_the_proxy() {
    full_flow(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ts_sdk_client_with_a_client_id_metadata_document() {
    full_flow(true).await;
}

/// The SDK's whole flow; with `cimd`, its client_id is a metadata document URL (no DCR).
async fn full_flow(cimd: bool) {
    let node = match NodePeers::find() {
        Ok(n) => n,
        Err(why) => return skipping("MCP TypeScript SDK client", &why),
    };
    let mut server = Command::new(&node.node);
    server.arg("mcp-server.mjs").current_dir(&node.dir);
    let backend = Background::start(server);
    let doc = if cimd {
        Some(MetadataDocument::serve(REDIRECT, "MCP TypeScript SDK peer (CIMD)").await)
    } else {
        None
    };
    let env = PeerEnv::start_with(Some(&backend.url), |c| {
        if let Some(d) = &doc {
            d.trust(c);
        }
    })
    .await;

    let mut client = Command::new(&node.node);
    client
        .arg("sdk-client.mjs")
        .arg(env.mcp_url())
        .current_dir(&node.dir);
    if let Some(d) = &doc {
        client.arg(&d.url);
    }
    let peer = format!("ts-sdk {}", node.version("@modelcontextprotocol/sdk"));
    let r = run_peer(&env, client, &peer).await;
    // Assertion messages show the result with its tokens masked.
    let shown = authproof::client::mask_json(&r);

    // Discovery and authorization as the SDK did them.
    assert_sdk_authorize_request(&env, &r, &shown);
    if let Some(d) = &doc {
        d.assert_used(&r, &shown);
    }
    let first = &r["first_tokens"];
    assert_eq!(
        first["token_type"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some("bearer")
    );
    assert!(
        first.get("scope").is_none(),
        "no empty scope in the token response: {shown}"
    );
    assert!(first["refresh_token"].is_string(), "{shown}");

    // MCP through the reverse proxy to the SDK's server, with the verified identity.
    assert_eq!(r["server_name"], "ts-sdk-backend", "{shown}");
    assert_eq!(
        r["tools"],
        serde_json::json!(["add", "identity"]),
        "{shown}"
    );
    assert_eq!(r["sum"], "42", "{shown}");
    assert_eq!(r["identity"]["subject"], "alice", "{shown}");
    assert_eq!(r["identity"]["client_id"], r["client_id"], "{shown}");
    assert_eq!(
        r["identity"]["authorization_present"], false,
        "no token passthrough: {shown}"
    );

    // The SDK refreshed on the 401 after expiry: a new, rotated pair, and the call went on.
    let refreshed = &r["refreshed_tokens"];
    assert_eq!(r["after_expiry"], "3", "{shown}");
    assert_eq!(r["token_saves"], 2, "one exchange and one refresh: {shown}");
    assert_ne!(refreshed["access_token"], first["access_token"], "{shown}");
    assert_ne!(
        refreshed["refresh_token"], first["refresh_token"],
        "{shown}"
    );
    env.stop().await;
}
