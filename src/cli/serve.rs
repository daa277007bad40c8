//! `authproof serve`: run the proxy.
//!
//! Storage: unlike an in-process [`Proxy::spawn`] (memory by default, for tests and the
//! scenario runner), `serve` keeps its state in the embedded file store
//! [`DEFAULT_STATE_FILE`] (in the working directory) when neither the configuration file nor
//! `AUTHPROOF_STORAGE` sets `storage`, so that registrations, consents and refresh tokens
//! survive a restart. `storage: memory` opts out; `redis://…` shares state between instances.
//! It stops gracefully on Ctrl-C (SIGINT) and on SIGTERM.

use crate::proxy::config::{ConsentMode, ProxyConfig, StorageSpec};
use crate::proxy::{Proxy, SpawnOptions};
use clap::Args;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The file store `serve` uses when the configuration does not set `storage`.
pub const DEFAULT_STATE_FILE: &str = "authproof-state.redb";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Proxy configuration (YAML). Optional when AUTHPROOF_* variables supply everything.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on (default: the host and port of base_url).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// `text` (coloured only on a terminal) or `json` (one object per line, for log shippers).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: foundations::logs::LogFormat,
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

/// Whether the configuration file or the environment sets `storage` (an empty
/// `AUTHPROOF_STORAGE` removes the key, so it does not count).
pub fn storage_is_set(
    config_path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> bool {
    let tree = config_path
        .and_then(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            foundations::yaml::from_str::<serde_json::Value>(&text, &path.display().to_string())
                .ok()
        })
        .unwrap_or(serde_json::Value::Null);
    crate::proxy::config::storage_is_set_in(&tree, vars)
}

/// Resolves when the process is asked to stop (SIGINT / Ctrl-C, or SIGTERM on Unix).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    r = tokio::signal::ctrl_c() => {
                        if let Err(e) = r {
                            tracing::warn!(error = %e, "cannot wait for Ctrl-C");
                            term.recv().await;
                        }
                    }
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot wait for SIGTERM"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot wait for Ctrl-C; shutting down");
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    foundations::logs::init(args.log_format);
    let mut config = match ProxyConfig::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("authproof serve: {e}");
            return ExitCode::from(2);
        }
    };
    if !storage_is_set(args.config.as_deref(), std::env::vars()) {
        config.storage = StorageSpec::File(PathBuf::from(DEFAULT_STATE_FILE));
        tracing::info!(
            storage = %config.storage,
            "storage not configured: using the embedded file store (set `storage:` to memory, file:PATH or redis://HOST:PORT/DB)"
        );
    }
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
        stop_signal().await;
        tracing::info!("shutting down");
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

    #[test]
    fn storage_set_by_file_or_environment() {
        let dir = std::env::temp_dir().join(format!(
            "authproof-serve-{}-{}",
            std::process::id(),
            crate::oauth::random_token(6)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let with = dir.join("with.yaml");
        let without = dir.join("without.yaml");
        std::fs::write(&with, "storage: memory\nupstream: { client_id: x }\n").unwrap();
        std::fs::write(&without, "upstream: { client_id: x }\n").unwrap();
        let none = Vec::<(String, String)>::new;
        assert!(storage_is_set(Some(&with), none()));
        assert!(!storage_is_set(Some(&without), none()));
        assert!(!storage_is_set(None, none()));
        let env = |v: &str| vec![("AUTHPROOF_STORAGE".to_string(), v.to_string())];
        assert!(storage_is_set(
            Some(&without),
            env("redis://127.0.0.1:6379/0")
        ));
        assert!(storage_is_set(None, env("memory")));
        assert!(
            !storage_is_set(Some(&with), env("")),
            "an empty variable removes the key"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
