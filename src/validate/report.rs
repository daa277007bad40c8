//! The result of a validation: findings sorted for stable output, secrets masked, rendered as
//! text for people or JSON for CI, and the exit code (0 clean, 1 errors, 2 could not run).
//!
//! JSON shape (stable; fields are only ever added):
//!
//! ```json
//! { "config": "proxy.yaml",
//!   "findings": [ { "id": "…", "severity": "error", "key": "…", "message": "…", "fix": "…" } ],
//!   "summary": { "errors": 1, "warnings": 0, "info": 2, "live": true, "provider": "workos",
//!                "deployment": "production", "exit_code": 1 } }
//! ```

use super::Context;
use super::catalogue::entry;
use super::finding::{Deployment, Finding, Severity};
use crate::proxy::config::{ConfigError, ENV_PREFIX, StorageSpec};
use serde_json::json;
use std::fmt::Write as _;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For CI: one JSON object.
    Json,
}

/// What `validate` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The configuration path as given.
    pub config: String,
    /// Whether live checks were asked for.
    pub live: bool,
    /// The provider, when the configuration could be read.
    pub provider: Option<String>,
    /// `production` or `development` (from base_url), when the configuration could be read.
    pub deployment: Option<&'static str>,
    /// Sorted, masked findings.
    pub findings: Vec<Finding>,
    /// The configuration could not be read at all (exit code 2).
    pub could_not_run: bool,
}

/// The fix of findings that need none (not repeated in the text output).
pub const NOTHING_TO_DO: &str = "Nothing to do";

/// Secrets shorter than this are not masked inside other text (they would mask ordinary
/// words); the configuration check flags such short secrets anyway.
const MIN_MASKED_LEN: usize = 4;

fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= MIN_MASKED_LEN {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Values of `AUTHPROOF_*` variables that hold secrets (to mask them in error messages).
pub fn env_secrets(vars: &[(String, String)]) -> Vec<String> {
    vars.iter()
        .filter(|(k, _)| {
            k.starts_with(ENV_PREFIX)
                && (k.ends_with("SECRET") || k.ends_with("_KEY") || k.ends_with("_KEYS"))
        })
        .map(|(_, v)| v.clone())
        .collect()
}

fn config_secrets(ctx: &Context) -> Vec<String> {
    let c = &ctx.written;
    let mut s: Vec<String> = c
        .upstream
        .client_secret
        .iter()
        .chain(c.jwt_signing_key.iter())
        .chain(c.storage_key.iter())
        .chain(c.storage_previous_keys.iter())
        .map(|x| x.expose().to_string())
        .collect();
    if let StorageSpec::Redis(u) = &c.storage
        && let Ok(url) = url::Url::parse(u)
        && let Some(p) = url.password()
    {
        s.push(p.to_string());
    }
    s
}

impl Report {
    /// A report from findings: sorted, duplicates dropped, secrets masked.
    pub fn new(config: String, live: bool, ctx: &Context, findings: Vec<Finding>) -> Report {
        let secrets = config_secrets(ctx);
        let mut r = Report::build(
            config,
            live,
            Some(ctx.written.provider.to_string()),
            findings,
            &secrets,
            false,
        );
        r.deployment = Some(match ctx.deployment {
            Deployment::Production => "production",
            Deployment::Development => "development",
        });
        r
    }

    /// The configuration could not be read (unreadable file, YAML error with
    /// file:line:column, a bad `AUTHPROOF_*` variable).
    pub fn could_not_run(
        config: String,
        live: bool,
        error: &ConfigError,
        secrets: &[String],
    ) -> Report {
        let (e, fix) = match error {
            ConfigError::Yaml(y) if y.line == 0 => (
                entry!("config.unreadable"),
                "Check the path and the file's permissions",
            ),
            ConfigError::Yaml(_) => (
                entry!("config.parse"),
                "Fix the file at the line and column shown (`authproof schema proxy` prints the JSON Schema for editors)",
            ),
            ConfigError::Env { .. } | ConfigError::Merged(_) => (
                entry!("config.env"),
                "Fix or unset the AUTHPROOF_* variable named in the message",
            ),
            ConfigError::Invalid { .. } => (
                entry!("config.invalid"),
                "Correct the configuration as the message says",
            ),
        };
        Report::build(
            config,
            live,
            None,
            vec![Finding::new(e, error.to_string(), fix)],
            secrets,
            true,
        )
    }

    fn build(
        config: String,
        live: bool,
        provider: Option<String>,
        mut findings: Vec<Finding>,
        secrets: &[String],
        could_not_run: bool,
    ) -> Report {
        for f in &mut findings {
            f.message = mask(&f.message, secrets);
            f.fix = mask(&f.fix, secrets);
        }
        findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        findings.dedup();
        Report {
            config,
            live,
            provider,
            deployment: None,
            findings,
            could_not_run,
        }
    }

    /// How many findings have this severity.
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity() == s).count()
    }

    /// 0: no errors; 1: errors; 2: the configuration could not be read.
    pub fn exit_code(&self) -> u8 {
        if self.could_not_run {
            2
        } else if self.count(Severity::Error) > 0 {
            1
        } else {
            0
        }
    }

    /// The findings with this id.
    pub fn with_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.id() == id)
    }

    /// The JSON document.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "config": self.config,
            "findings": self.findings,
            "summary": {
                "errors": self.count(Severity::Error),
                "warnings": self.count(Severity::Warning),
                "info": self.count(Severity::Info),
                "live": self.live,
                "provider": self.provider,
                "deployment": self.deployment,
                "exit_code": self.exit_code(),
            }
        })
    }

    /// The text rendering.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "authproof validate {}{}: {} checks",
            self.config,
            match (&self.provider, self.deployment) {
                (Some(p), Some(d)) => format!(" (provider {p}, {d} deployment)"),
                (Some(p), None) => format!(" (provider {p})"),
                _ => String::new(),
            },
            if self.live {
                "static and live"
            } else {
                "static"
            }
        );
        for f in &self.findings {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:<7} {}{}",
                f.severity().as_str(),
                f.id(),
                f.key
                    .as_ref()
                    .map(|k| format!("  [{k}]"))
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "        {}", f.message);
            if f.fix != NOTHING_TO_DO {
                let _ = writeln!(out, "        fix: {}", f.fix);
            }
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}, {}, {}{}",
            plural(self.count(Severity::Error), "error", "errors"),
            plural(self.count(Severity::Warning), "warning", "warnings"),
            plural(self.count(Severity::Info), "info", "info"),
            match self.exit_code() {
                0 => "",
                1 => " — fix the errors before deploying",
                _ => " — the configuration could not be read",
            }
        );
        if !self.live && !self.could_not_run {
            let _ = writeln!(out, "(run with --live to check the IdP as well)");
        }
        out
    }

    /// Render in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.to_text(),
            Format::Json => format!("{}\n", self.to_json()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_and_order() {
        let findings = vec![
            Finding::new(entry!("static.callback_url"), "i", "f"),
            Finding::new(entry!("static.base_url_missing"), "w", "f"),
            Finding::new(
                entry!("static.upstream_insecure_url"),
                "the secret hunter2x leaked",
                "rotate hunter2x",
            ),
            Finding::new(entry!("static.base_url_insecure"), "e", "f").key("k"),
            Finding::new(entry!("static.base_url_insecure"), "e", "f").key("k"),
        ];
        let r = Report::build(
            "c.yaml".into(),
            false,
            None,
            findings,
            &["hunter2x".to_string(), "ab".to_string()],
            false,
        );
        let ids: Vec<&str> = r.findings.iter().map(|f| f.id()).collect();
        assert_eq!(
            ids,
            [
                "static.base_url_insecure",
                "static.upstream_insecure_url",
                "static.base_url_missing",
                "static.callback_url"
            ]
        );
        assert_eq!(r.findings[1].message, "the secret *** leaked");
        assert_eq!(r.findings[1].fix, "rotate ***");
        assert_eq!(r.exit_code(), 1);
        let j = r.to_json();
        assert_eq!(j["summary"]["errors"], 2);
        assert_eq!(j["findings"][0]["key"], "k");
        assert!(j["findings"][1].get("key").is_none());
        assert!(r.to_text().contains("2 errors, 1 warning, 1 info"));
    }

    #[test]
    fn env_secret_names() {
        let vars = vec![
            (
                "AUTHPROOF_UPSTREAM__CLIENT_SECRET".to_string(),
                "x1".to_string(),
            ),
            ("AUTHPROOF_JWT_SIGNING_KEY".to_string(), "x2".to_string()),
            ("AUTHPROOF_BASE_URL".to_string(), "x3".to_string()),
            ("OTHER_SECRET".to_string(), "x4".to_string()),
        ];
        assert_eq!(env_secrets(&vars), ["x1", "x2"]);
    }
}
