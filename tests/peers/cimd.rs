//! A client ID metadata document (CIMD) served over https for the SDK peers' URL-based
//! client IDs: the SDKs require an https `client_id` with a path, so the document is served
//! over TLS on 127.0.0.1 with a certificate made by the test, and the proxy trusts it through
//! `outbound_ca_file` (the CA file written here).

#[path = "../support/tls.rs"]
mod tls;

use authproof::proxy::config::ProxyConfig;
use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A client ID metadata document served over https, and the CA file that trusts it.
pub struct MetadataDocument {
    pub url: String,
    pub ca_file: PathBuf,
    fetches: Arc<AtomicUsize>,
    _front: tls::Front,
}

impl MetadataDocument {
    /// How many times the document was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Let the proxy accept this document: CIMD on, loopback allowed (the document's host is
    /// 127.0.0.1, refused unless allowed), and the test's CA trusted for outbound https.
    pub fn trust(&self, c: &mut ProxyConfig) {
        c.cimd_enabled = true;
        c.cimd_allow_http_loopback = true;
        c.outbound_ca_file = Some(self.ca_file.clone());
    }

    /// The peer's result shows it used this document: its client_id is the document's URL
    /// (so it did not register) and the proxy fetched the document over https.
    pub fn assert_used(&self, r: &Value, shown: &Value) {
        assert_eq!(r["client_id"], self.url.as_str(), "no DCR: {shown}");
        assert!(
            self.fetches() >= 1,
            "the proxy fetched the metadata document over https"
        );
    }

    pub async fn serve(redirect_uri: &str, client_name: &str) -> MetadataDocument {
        let front = tls::Front::bind().await.expect("tls front");
        let url = format!("{}/oauth/client.json", front.base_url());
        let fetches = Arc::new(AtomicUsize::new(0));
        let doc = json!({
            "client_id": url,
            "client_name": client_name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
        let counter = fetches.clone();
        let app = axum::Router::new().route(
            "/oauth/client.json",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let doc = doc.clone();
                async move { Json(doc) }
            }),
        );
        let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain_addr = plain.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(plain, app).await });
        front.forward_to(plain_addr);
        let ca_file = std::env::temp_dir().join(format!(
            "authproof-cimd-ca-{}-{}.pem",
            std::process::id(),
            plain_addr.port()
        ));
        std::fs::write(&ca_file, front.cert_pem()).expect("write the CA file");
        MetadataDocument {
            url,
            ca_file,
            fetches,
            _front: front,
        }
    }
}

impl Drop for MetadataDocument {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}
