//! One result of `authproof validate`: a stable id, a severity, what is wrong and how to fix it.
//!
//! Ids are part of the command's interface (CI pipelines filter on them), so they never change
//! meaning: `config.*` for what `serve` itself refuses, `static.*` for checks on the
//! configuration alone, `preset.<provider>.*` for a provider's documented quirks, and `live.*`
//! for what the IdP answered. The same id may appear several times, once per offending key
//! or pattern.

use super::catalogue::Entry;
pub use super::catalogue::Severity;
use serde::Serialize;

/// One finding. `key` names the configuration key it is about, when there is one. Its id and
/// severity come from its [`Entry`] in the catalogue and cannot be set otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `live.token_auth_method_mismatch`.
    #[serde(rename = "id", serialize_with = "entry_id")]
    entry: &'static Entry,
    /// The entry's severity, or its `otherwise` severity.
    severity: Severity,
    /// The configuration key concerned (`upstream.token_endpoint_auth_method`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What was found, in one or two sentences.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

fn entry_id<S: serde::Serializer>(e: &&'static Entry, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(e.id)
}

impl Finding {
    /// A finding of the kind `entry` (from [`entry!`](crate::validate_entry)), with the
    /// entry's severity.
    pub fn new(entry: &'static Entry, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            entry,
            severity: entry.severity,
            key: None,
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// With the entry's other severity when `cond` holds (the catalogue says when it
    /// applies); unchanged for entries that have only one.
    pub fn otherwise_if(mut self, cond: bool) -> Self {
        if cond && let Some((s, _)) = self.entry.otherwise {
            self.severity = s;
        }
        self
    }

    /// With the entry's other severity in a development deployment.
    pub fn for_deployment(self, d: Deployment) -> Self {
        self.otherwise_if(d == Deployment::Development)
    }

    /// The same finding about `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The stable id.
    pub fn id(&self) -> &'static str {
        self.entry.id
    }

    /// Error, warning or info.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The catalogue entry.
    pub fn entry(&self) -> &'static Entry {
        self.entry
    }

    /// The order findings are reported in: worst first, then by id, key and text, so that
    /// the same configuration and IdP always give the same output.
    pub fn sort_key(&self) -> (Severity, &str, &str, &str, &str) {
        (
            self.severity,
            self.entry.id,
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
