//! A switchable TCP forwarder: one stable loopback URL in front of several proxy instances
//! (what a load balancer is in production). Each new connection goes to the instance chosen
//! at that moment ([`Switch::route_to`]); use an HTTP client without connection reuse
//! ([`no_reuse_http`]) so that every request is routed anew.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Switch {
    addr: SocketAddr,
    target: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl Switch {
    /// Listen on a free loopback port; no target yet (connections are closed).
    pub async fn start() -> Switch {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind switch");
        let addr = listener.local_addr().expect("switch address");
        let target = Arc::new(AtomicU16::new(0));
        let t = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let port = t.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    if port == 0 {
                        return;
                    }
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Switch { addr, target, task }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Send new connections to the instance listening on `addr`.
    pub fn route_to(&self, addr: SocketAddr) {
        self.target.store(addr.port(), Ordering::SeqCst);
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A FlowClient-compatible HTTP client (no redirects, no cookie store, no proxies) that opens
/// a new connection for every request.
pub fn no_reuse_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("http client")
}
