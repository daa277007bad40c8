//! One result of `authproof validate`: a stable id, a severity, what is wrong and how to fix it.
//!
//! Ids are part of the command's interface (CI pipelines filter on them), so they never change
//! meaning: `config.*` for what `serve` itself refuses, `static.*` for checks on the
//! configuration alone, `preset.<provider>.*` for a provider's documented quirks, and `live.*`
//! for what the IdP answered. The same id may appear several times, once per offending key
//! or pattern.

use serde::Serialize;
use std::fmt;

/// How bad a finding is. Ordered worst first, so sorting puts errors on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The proxy will not work (or is unsafe) as configured: exit code 1.
    Error,
    /// Works, but probably not as intended, or fragile in production.
    Warning,
    /// Something to know or to do at the IdP (e.g. the callback URL to register).
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding. `key` names the configuration key it is about, when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `live.token_auth_method_mismatch`.
    pub id: String,
    /// Error, warning or info.
    pub severity: Severity,
    /// The configuration key concerned (`upstream.token_endpoint_auth_method`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What was found, in one or two sentences.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    /// A finding without a key.
    pub fn new(
        id: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            id: id.into(),
            severity,
            key: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// An error.
    pub fn error(
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(id, Severity::Error, message, fix)
    }

    /// A warning.
    pub fn warning(
        id: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(id, Severity::Warning, message, fix)
    }

    /// An info.
    pub fn info(id: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(id, Severity::Info, message, fix)
    }

    /// The same finding about `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The order findings are reported in: worst first, then by id, key and text, so that
    /// the same configuration and IdP always give the same output.
    pub fn sort_key(&self) -> (Severity, &str, &str, &str, &str) {
        (
            self.severity,
            &self.id,
            self.key.as_deref().unwrap_or(""),
            &self.message,
            &self.fix,
        )
    }
}

/// Whether a deployment is for real users (its base_url is not on a loopback host). Production
/// turns some development conveniences (memory storage, consent off) into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    /// base_url absent or on localhost / 127.0.0.0/8 / ::1.
    Development,
    /// Anything else.
    Production,
}

impl Deployment {
    /// `production` for a production deployment, `development` otherwise.
    pub fn pick(self, production: Severity, development: Severity) -> Severity {
        match self {
            Deployment::Production => production,
            Deployment::Development => development,
        }
    }
}
