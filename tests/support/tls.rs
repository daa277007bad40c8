//! A TLS front for tests: a self-signed certificate for 127.0.0.1 made here (rcgen) and a
//! listener that decrypts each connection and forwards it to a plain local listener. Used for
//! the proxy's `__Host-` cookies on https (tests/peer_browser.rs) and for a client metadata
//! document served over https (tests/peer_ts_sdk_client.rs).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

pub struct Front {
    listener: parking_lot::Mutex<Option<TcpListener>>,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl Front {
    pub async fn bind() -> anyhow::Result<Front> {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
        let cert_der = key.cert.der().to_vec();
        let cert_pem = key.cert.pem();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![key.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
            )?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok(Front {
            listener: parking_lot::Mutex::new(Some(listener)),
            addr,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert_der,
            cert_pem,
        })
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The certificate in PEM, for a trust-store file (`outbound_ca_file`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A reqwest client that trusts this front's certificate.
    pub fn http_client(&self) -> anyhow::Result<reqwest::Client> {
        Ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_certs_only([reqwest::Certificate::from_der(&self.cert_der)?])
            .build()?)
    }

    /// Starts forwarding decrypted connections to `upstream`.
    pub fn forward_to(&self, upstream: SocketAddr) {
        let listener = self.listener.lock().take().expect("forward_to once");
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    }
}
