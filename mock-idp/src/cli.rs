//! The `mock-idp` command line, shared with `authproof mock-idp`.

use crate::config::IdpConfig;
use crate::server::MockIdp;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run the scriptable mock identity provider.
#[derive(Debug, Clone, Parser)]
#[command(name = "mock-idp", version, about)]
pub struct Args {
    /// The IdP configuration file (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on (127.0.0.1). Without --issuer the issuer becomes http://127.0.0.1:PORT.
    #[arg(long)]
    pub port: Option<u16>,
    /// The exact issuer to advertise.
    #[arg(long)]
    pub issuer: Option<String>,
    /// `text` (coloured only on a terminal) or `json` (one object per line, for log shippers).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: foundations::logs::LogFormat,
}

/// The issuer to serve: `--issuer`, else `http://127.0.0.1:PORT` when `--port` is given,
/// else the config file's `issuer` (else the bound address).
pub fn effective_issuer(args: &Args, config: &IdpConfig) -> Option<String> {
    match (&args.issuer, args.port) {
        (Some(i), _) => Some(i.clone()),
        (None, Some(p)) if p != 0 => Some(format!("http://127.0.0.1:{p}")),
        _ => config.issuer.clone(),
    }
}

/// Load the config, serve until Ctrl-C. Exit 0 on a clean stop, 1 when serving fails,
/// 2 for a bad config or arguments.
pub fn run(args: Args) -> ExitCode {
    foundations::logs::init(args.log_format);
    let config = match &args.config {
        Some(path) => match crate::yaml::from_file::<IdpConfig>(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => IdpConfig::default(),
    };
    if let Err(e) = config.validate() {
        let origin = args
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        eprintln!("error: {origin}: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(async move {
        let mut builder = MockIdp::builder()
            .config(config.clone())
            .port(args.port.unwrap_or(0));
        if let Some(i) = effective_issuer(&args, &config) {
            builder = builder.issuer(i);
        }
        let idp = match builder.spawn().await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(1);
            }
        };
        println!("mock-idp ({}) listening on {}", idp.flavor(), idp.url());
        println!("issuer: {}", idp.issuer());
        if idp.flavor() != crate::config::Flavor::Github {
            println!("discovery: {}", idp.discovery_url());
        }
        println!("control API: {}/_mock/", idp.url());
        let _ = tokio::signal::ctrl_c().await;
        idp.shutdown().await;
        ExitCode::SUCCESS
    });
    // Do not wait for idle worker threads on the way out.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_without_issuer_makes_a_loopback_issuer() {
        let c = IdpConfig {
            issuer: Some("https://idp.example/".into()),
            ..Default::default()
        };
        let a = Args {
            config: None,
            port: Some(9000),
            issuer: None,
            log_format: Default::default(),
        };
        assert_eq!(
            effective_issuer(&a, &c).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        let a = Args {
            config: None,
            port: Some(9000),
            issuer: Some("http://x/".into()),
            log_format: Default::default(),
        };
        assert_eq!(effective_issuer(&a, &c).as_deref(), Some("http://x/"));
        let a = Args {
            config: None,
            port: None,
            issuer: None,
            log_format: Default::default(),
        };
        assert_eq!(
            effective_issuer(&a, &c).as_deref(),
            Some("https://idp.example/")
        );
    }
}
