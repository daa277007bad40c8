//! `authproof serve`: run the proxy.

use crate::proxy::config::{ConsentMode, ProxyConfig};
use crate::proxy::{Proxy, SpawnOptions};
use clap::Args;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Proxy configuration (YAML). Optional when AUTHPROOF_* variables supply everything.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default: the host and port of base_url).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

/// Where to listen: `--listen`, else base_url's host and port, else 127.0.0.1:8000.
pub fn listen_addr(args_listen: Option<&str>, config: &ProxyConfig) -> Result<SocketAddr, String> {
    if let Some(l) = args_listen {
        return l
            .to_socket_addrs()
            .map_err(|e| format!("--listen {l}: {e}"))?
            .next()
            .ok_or_else(|| format!("--listen {l}: no address"));
    }
    let Some(base) = &config.base_url else {
        return Ok(SocketAddr::from(([127, 0, 0, 1], 8000)));
    };
    let u = url::Url::parse(base).map_err(|e| format!("base_url: {e}"))?;
    let host = u.host_str().unwrap_or("127.0.0.1").trim_matches(['[', ']']);
    let port = u.port_or_known_default().unwrap_or(8000);
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot listen on base_url's host {host}: {e} (use --listen)"))?
        .next()
        .ok_or_else(|| format!("base_url's host {host} has no address (use --listen)"))
}

pub fn run(args: ServeArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = match ProxyConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("authproof serve: {e}");
            return ExitCode::from(2);
        }
    };
    let listen = match listen_addr(args.listen.as_deref(), &config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("authproof serve: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = super::runtime();
    rt.block_on(async move {
        let opts = SpawnOptions { listen, ..SpawnOptions::default() };
        let handle = match Proxy::spawn(config, opts).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("authproof serve: {e:#}");
                return ExitCode::from(1);
            }
        };
        let st = handle.state();
        tracing::info!(listen = %handle.local_addr(), base_url = %handle.url(), issuer = %handle.issuer(), "authproof proxy started");
        tracing::info!(
            metadata = %st.url("/.well-known/oauth-authorization-server"),
            protected_resource = %st.resource_metadata_url,
            "discovery"
        );
        tracing::info!(
            resource = %handle.resource(),
            backend = st.config.backend.as_deref().unwrap_or("built-in echo MCP endpoint"),
            "guarding"
        );
        tracing::info!(
            upstream_client_id = %st.config.upstream.client_id,
            upstream_config = st.config.upstream.config_url.as_deref().unwrap_or("(explicit endpoints)"),
            upstream_auth = %st.config.upstream.auth_method(),
            callback = %st.upstream.redirect_uri(),
            storage = %st.config.storage,
            consent = ?st.config.consent,
            "upstream (secrets masked)"
        );
        if st.config.consent == ConsentMode::Off {
            tracing::warn!("consent: off — do not use this in production");
        }
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!("shutting down"),
            Err(e) => tracing::warn!(error = %e, "cannot wait for Ctrl-C; shutting down"),
        }
        handle.shutdown().await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_defaults_from_base_url() {
        let mut c = ProxyConfig::default();
        assert_eq!(
            listen_addr(None, &c).unwrap(),
            "127.0.0.1:8000".parse().unwrap()
        );
        c.base_url = Some("http://127.0.0.1:8123".into());
        assert_eq!(
            listen_addr(None, &c).unwrap(),
            "127.0.0.1:8123".parse().unwrap()
        );
        assert_eq!(
            listen_addr(Some("0.0.0.0:9999"), &c).unwrap(),
            "0.0.0.0:9999".parse().unwrap()
        );
        assert!(listen_addr(Some("nonsense"), &c).is_err());
    }
}
