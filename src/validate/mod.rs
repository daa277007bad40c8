//! `authproof validate`: check a proxy configuration before deploying it.
//!
//! Users find out in production that the callback URL is not registered at the IdP, that
//! Google wants the secret in the form body, or that Entra ID rejects `resource`. This module
//! catches those mistakes up front, in two passes:
//!
//! - **static** ([`static_checks`], [`allowlist`], [`presets`]): the configuration alone
//!   (file + `AUTHPROOF_*` overrides, exactly as `serve` reads it): base_url, the callback URL
//!   to register, storage, signing key, consent, the redirect allow-list (reasoned about with
//!   the proxy's own [`crate::proxy::redirect`] matcher), client authentication, scopes, and
//!   each preset's quirks. Everything [`ProxyConfig::problems`] reports (what `serve` refuses)
//!   is a finding too.
//! - **live** ([`live`], `--live`): the IdP itself, all on loopback in well under a second:
//!   the metadata ([`metadata`]: discovery reachable, the issuer byte for byte, endpoints,
//!   advertised methods, PKCE and scopes), the JWKS ([`jwks`]), the authorization endpoint
//!   with the proxy's exact callback URL ([`authorize`]: is it registered?), and a
//!   token-endpoint probe with an invalid code ([`probe`], sent through the proxy's own
//!   upstream client, [`crate::proxy::upstream::Upstream`]) that tells a wrong secret from a
//!   wrong client-authentication method. After discovery, the probes run in parallel.
//!
//! The result is a [`Report`]: findings with stable ids and severities (both from
//! [`catalogue::ALL`], the one place a severity is written),
//! rendered as text or JSON, and an exit code (0 clean, 1 errors, 2 could not run).

pub mod allowlist;
pub mod authorize;
pub mod catalogue;
pub mod finding;
pub mod jwks;
pub mod live;
pub mod metadata;
pub mod presets;
pub mod probe;
pub mod report;
pub mod static_checks;

pub use finding::{Deployment, Finding, Severity};
pub use report::{Format, Report};

use crate::proxy::config::{ConfigError, ProxyConfig};
use crate::proxy::redirect::is_loopback_host;
use std::path::Path;

/// What to check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also ask the IdP (`--live`).
    pub live: bool,
}

/// The configuration under test, in the forms the checks need.
#[derive(Debug, Clone)]
pub struct Context {
    /// As written (file + environment), before preset defaults.
    pub written: ProxyConfig,
    /// With preset defaults applied; `None` when the preset cannot be built (e.g.
    /// `provider: workos` without `upstream.domain`).
    pub resolved: Option<ProxyConfig>,
    /// Why the preset cannot be built (one line per cause, `key: message`); empty when it can.
    pub blockers: Vec<String>,
    /// The file's own YAML tree (no environment), to tell secrets in the file from secrets
    /// in the environment.
    pub file_tree: serde_json::Value,
    /// Whether `storage` is set in the file or the environment (`serve` defaults to its
    /// embedded file store otherwise).
    pub storage_set: bool,
    /// Production or development, from base_url.
    pub deployment: Deployment,
    /// The public base URL the proxy will use (base_url, or `serve`'s default listen address).
    pub base_url: String,
}

impl Context {
    /// The resolved configuration when there is one, else the configuration as written.
    pub fn effective(&self) -> &ProxyConfig {
        self.resolved.as_ref().unwrap_or(&self.written)
    }

    /// The exact callback URL the IdP must have registered (what the proxy sends as
    /// `redirect_uri`): base_url without a trailing slash, then redirect_path.
    pub fn callback_url(&self) -> String {
        format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            self.written.redirect_path
        )
    }

    /// The protected resource (base_url + mcp_path).
    pub fn resource_url(&self) -> String {
        format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            self.written.mcp_path
        )
    }
}

/// `serve`'s base URL when base_url is absent: its default listen address.
const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8000";

/// What `--config`-less runs call the configuration in messages and output.
pub const ENVIRONMENT_ONLY: &str = "<environment>";

/// Read the file (if any) and apply `vars` the way `serve` does (no validation: problems
/// become findings). Errors mean the configuration cannot be read at all.
pub fn load(path: Option<&Path>, vars: &[(String, String)]) -> Result<Context, ConfigError> {
    let (text, origin) = match path {
        Some(p) => {
            let origin = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| foundations::yaml::YamlError {
                origin: origin.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read file: {e}"),
            })?;
            (text, origin)
        }
        None => (String::new(), ENVIRONMENT_ONLY.to_string()),
    };
    let written = ProxyConfig::from_yaml_and_env(&text, &origin, vars.iter().cloned())?;
    let file_tree: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Null
    } else {
        foundations::yaml::from_str(&text, &origin)?
    };
    let storage_set = crate::proxy::config::storage_is_set_in(&file_tree, vars.iter().cloned());
    Ok(Context::new(written, file_tree, storage_set))
}

impl Context {
    /// The context of a configuration (`written`: file + environment, not resolved),
    /// the file's own YAML tree, and whether `storage` was set explicitly.
    pub fn new(written: ProxyConfig, file_tree: serde_json::Value, storage_set: bool) -> Context {
        let (resolved, blockers) = match written.resolved() {
            Ok(r) => (Some(r), Vec::new()),
            Err(ConfigError::Invalid { problems, .. }) => (None, problems),
            Err(e) => (None, vec![e.to_string()]),
        };
        let base_url = written
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let deployment = match url::Url::parse(&base_url) {
            Ok(u) if u.host().is_some_and(|h| !is_loopback_host(&h)) => Deployment::Production,
            _ => Deployment::Development,
        };
        Context {
            written,
            resolved,
            blockers,
            file_tree,
            storage_set,
            deployment,
            base_url,
        }
    }
}

/// Validate the configuration at `path` with the environment `vars`.
pub async fn validate(path: &Path, vars: &[(String, String)], options: Options) -> Report {
    validate_source(Some(path), vars, options).await
}

/// Validate a configuration from an optional file plus the environment `vars` (without a
/// file, the environment alone, as `serve` accepts it).
pub async fn validate_source(
    path: Option<&Path>,
    vars: &[(String, String)],
    options: Options,
) -> Report {
    let shown = path.map_or_else(|| ENVIRONMENT_ONLY.to_string(), |p| p.display().to_string());
    let ctx = match load(path, vars) {
        Ok(c) => c,
        Err(e) => {
            return Report::could_not_run(shown, options.live, &e, &report::env_secrets(vars));
        }
    };
    let mut findings = static_checks::check(&ctx);
    findings.extend(allowlist::check(&ctx));
    findings.extend(presets::check(&ctx));
    findings = static_checks::with_config_problems(&ctx, findings);
    if options.live {
        findings.extend(live::check(&ctx).await);
    }
    Report::new(shown, options.live, &ctx, findings)
}
