//! The MCP Python SDK client (`mcp` from PyPI, pinned in tests/peers/python/requirements.txt,
//! installed into tests/peers/python/.venv by .ci/install.d/20-peers.sh) against the proxy:
//! discovery from the 401, DCR, PKCE, the browser leg (played by authproof's flow client:
//! consent approved, the mock IdP's default user), the code exchange, `initialize`,
//! `tools/list` and `tools/call` through the reverse proxy to the SDK's own MCPServer, and
//! the SDK's own refresh once the access token has expired (the proxy's clock and the
//! client's clock moved by the same amount). Skips with a message when python3 or the venv
//! is missing.
//!
//! The same flow runs a second time with the SDK's client ID metadata document path
//! (`client_metadata_url`, which must be https): the document is served over TLS on
//! 127.0.0.1 (see `peers::cimd`), the proxy trusts it through `outbound_ca_file`, the client
//! never registers, and its client_id is the document's URL.

mod peers;

use peers::cimd::MetadataDocument;
use peers::{Background, PeerEnv, assert_sdk_authorize_request, python_peer, run_peer, skipping};
use serde_json::json;
use std::process::Command;

/// The redirect URI sdk_client.py uses.
const REDIRECT: &str = "http://127.0.0.1:8974/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_full_flow_through_the_proxy() {
    full_flow(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_with_a_client_id_metadata_document() {
    full_flow(true).await;
}

/// The SDK's whole flow; with `cimd`, its client_id is a metadata document URL (no DCR).
async fn full_flow(cimd: bool) {
    let python = match python_peer() {
        Ok(p) => p,
        Err(why) => return skipping("MCP Python SDK client", &why),
    };
    let dir = peers::peers_dir().join("python");
    let mut server = Command::new(&python);
    server.arg("mcp_server.py").current_dir(&dir);
    let backend = Background::start(server);
    let doc = if cimd {
        Some(MetadataDocument::serve(REDIRECT, "MCP Python SDK peer (CIMD)").await)
    } else {
        None
    };
    let env = PeerEnv::start_with(Some(&backend.url), |c| {
        if let Some(d) = &doc {
            d.trust(c);
        }
    })
    .await;

    let mut client = Command::new(&python);
    client
        .arg("sdk_client.py")
        .arg(env.mcp_url())
        .current_dir(&dir);
    if let Some(d) = &doc {
        client.arg(&d.url);
    }
    let r = run_peer(&env, client, "python-sdk").await;
    // Assertion messages show the result with its tokens masked.
    let shown = authproof::client::mask_json(&r);

    // Discovery and authorization as the SDK did them.
    assert_sdk_authorize_request(&env, &r, &shown);
    if let Some(d) = &doc {
        d.assert_used(&r, &shown);
    }
    // (The SDK stores the requested scope when a token response omits `scope`, so the stored
    // tokens cannot show what the proxy sent; tests/proxy_token.rs and the other peers do.)
    let first = &r["first_tokens"];
    assert!(first["refresh_token"].is_string(), "{shown}");

    // MCP through the reverse proxy to the SDK's server, with the verified identity.
    assert_eq!(r["server_name"], "py-sdk-backend", "{shown}");
    assert_eq!(r["tools"], json!(["add", "identity"]), "{shown}");
    assert_eq!(r["sum"], "42", "{shown}");
    assert_eq!(r["identity"]["subject"], "alice", "{shown}");
    assert_eq!(r["identity"]["client_id"], r["client_id"], "{shown}");
    assert_eq!(
        r["identity"]["authorization_present"], false,
        "no token passthrough: {shown}"
    );

    // The SDK refreshed by itself: a new, rotated pair, and the call went on.
    let refreshed = &r["refreshed_tokens"];
    assert_eq!(r["after_expiry"], "3", "{shown}");
    assert_eq!(r["token_saves"], 2, "one exchange and one refresh: {shown}");
    assert_eq!(
        r["authorizations"], 1,
        "refreshed, not authorized again: {shown}"
    );
    assert_ne!(refreshed["access_token"], first["access_token"], "{shown}");
    assert_ne!(
        refreshed["refresh_token"], first["refresh_token"],
        "{shown}"
    );
    env.stop().await;
}
