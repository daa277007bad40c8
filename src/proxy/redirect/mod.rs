//! Redirect-URI safety checks, allow-list patterns and matching (DESIGN.md's contract).
//! Pure: no I/O.
//!
//! - [`check_safe`]: the rules that reject a URI outright (parse failure, unsafe scheme,
//!   userinfo, fragment, dot segments, control characters or whitespace).
//! - [`RedirectPattern`]: an allow-list entry; `*` may be the whole port, the leftmost host
//!   label or any run in the path. Matching is component by component, never a string glob.
//! - [`check_registration`]: may a client register this URI (allow-list + `application_type`)?
//! - [`check_authorization`]: is this requested URI one the client registered (exactly, but for
//!   the port of a loopback URI), and does the allow-list still permit it?

mod loopback;
mod pattern;
mod policy;
mod safe;

#[cfg(test)]
mod tests;

pub use loopback::is_loopback_host;
pub use pattern::{PatternError, RedirectPattern};
pub use policy::{
    AllowList, check_application_type, check_authorization, check_registration,
    check_registration_any_app, pattern_matches,
};
pub use safe::{UNSAFE_SCHEMES, check_safe, check_url, is_unsafe_scheme, printable};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The client's `application_type` (OpenID Connect DCR, SEP-837). Unset means `native`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    /// http only to loopback hosts, https anywhere, private-use schemes allowed.
    #[default]
    Native,
    /// https only, never a loopback host.
    Web,
}

impl ApplicationType {
    /// `"native"` or `"web"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Native => "native",
            ApplicationType::Web => "web",
        }
    }
}

impl fmt::Display for ApplicationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApplicationType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(ApplicationType::Native),
            "web" => Ok(ApplicationType::Web),
            other => Err(format!(
                "unknown application_type `{}` (expected `native` or `web`)",
                printable(other)
            )),
        }
    }
}

/// Why a redirect URI was refused. `Display` is one sentence naming the offending part;
/// [`Rejection::code`] is a short machine-readable id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The original string holds a control character or whitespace.
    #[error(
        "the redirect URI contains {} at byte {index}, and control characters and whitespace are not allowed",
        safe::describe_char(*ch)
    )]
    ControlOrWhitespace { index: usize, ch: char },
    /// `url::Url` cannot parse it as an absolute URL.
    #[error("the redirect URI is not a valid absolute URL ({reason})")]
    Unparseable { reason: String },
    /// javascript, data, file, vbscript or blob.
    #[error("the scheme `{scheme}:` is never allowed for a redirect URI")]
    UnsafeScheme { scheme: String },
    /// `user@` or `user:pass@` before the host (a password is shown as `***`).
    #[error(
        "userinfo `{userinfo}@` (in front of the host `{host}`) is not allowed in a redirect URI"
    )]
    Userinfo { userinfo: String, host: String },
    /// `#…`, including an empty trailing `#`.
    #[error("a fragment (`#{fragment}`) is not allowed in a redirect URI")]
    Fragment { fragment: String },
    /// A `.` or `..` path segment, raw or percent-encoded.
    #[error(
        "the path `{path}` contains the dot segment `{segment}`, and `.`/`..` segments (raw or percent-encoded) are not allowed in a redirect URI"
    )]
    DotSegment { segment: String, path: String },
    /// No pattern of the allow-list matches; `misses` says, per pattern, what differs.
    #[error(
        "the redirect URI {uri} matches none of the allowed patterns ({})",
        describe_misses(misses)
    )]
    NotAllowed {
        uri: String,
        misses: Vec<(String, String)>,
    },
    /// The allow-list is `[]`.
    #[error("the allow-list is empty ([]), so no redirect URI may be used")]
    DenyAll,
    /// At authorization: not one of the client's registered URIs.
    #[error(
        "the redirect URI {uri} is not one of the client's registered redirect URIs (only the port of a loopback URI may differ)"
    )]
    NotRegistered { uri: String },
    /// The URI does not fit the client's `application_type`.
    #[error("application_type {app} {detail}")]
    ApplicationType {
        app: ApplicationType,
        uri: String,
        detail: String,
    },
}

fn describe_misses(misses: &[(String, String)]) -> String {
    misses
        .iter()
        .map(|(pattern, why)| format!("{pattern}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Rejection {
    /// The short machine code: `control_or_whitespace`, `unparseable`, `unsafe_scheme`,
    /// `userinfo`, `fragment`, `dot_segment`, `not_allowed`, `deny_all`, `not_registered`,
    /// `application_type`.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ControlOrWhitespace { .. } => "control_or_whitespace",
            Rejection::Unparseable { .. } => "unparseable",
            Rejection::UnsafeScheme { .. } => "unsafe_scheme",
            Rejection::Userinfo { .. } => "userinfo",
            Rejection::Fragment { .. } => "fragment",
            Rejection::DotSegment { .. } => "dot_segment",
            Rejection::NotAllowed { .. } => "not_allowed",
            Rejection::DenyAll => "deny_all",
            Rejection::NotRegistered { .. } => "not_registered",
            Rejection::ApplicationType { .. } => "application_type",
        }
    }

    /// Is this one of the rules that reject a URI outright (before any allow-list)?
    pub fn is_unsafe(&self) -> bool {
        matches!(
            self,
            Rejection::ControlOrWhitespace { .. }
                | Rejection::Unparseable { .. }
                | Rejection::UnsafeScheme { .. }
                | Rejection::Userinfo { .. }
                | Rejection::Fragment { .. }
                | Rejection::DotSegment { .. }
        )
    }
}
