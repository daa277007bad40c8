//! Where the rules apply: the allow-list, registration and authorization.

use super::loopback::is_loopback_host;
use super::pattern::{PatternError, RedirectPattern};
use super::safe::{check_safe, check_url, is_special_scheme};
use super::{ApplicationType, Rejection};
use url::Url;

/// `allowed_client_redirect_uris`: absent (any safe URI), `[]` (nothing), or patterns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowList {
    /// The key is absent: any safe redirect URI may be registered.
    #[default]
    Absent,
    /// `[]`: no redirect URI may be registered or used.
    DenyAll,
    /// At least one pattern must match.
    Patterns(Vec<RedirectPattern>),
}

impl AllowList {
    /// From the config value: `None` → [`AllowList::Absent`], `Some([])` →
    /// [`AllowList::DenyAll`], otherwise every entry must be a valid pattern.
    pub fn from_config(list: Option<&[String]>) -> Result<AllowList, PatternError> {
        match list {
            None => Ok(AllowList::Absent),
            Some([]) => Ok(AllowList::DenyAll),
            Some(list) => list
                .iter()
                .map(|p| p.parse())
                .collect::<Result<Vec<_>, _>>()
                .map(AllowList::Patterns),
        }
    }

    /// Does the allow-list permit this URL? The URL-level safety rules (scheme, userinfo,
    /// fragment) apply whatever the list says.
    pub fn permits(&self, uri: &Url) -> bool {
        self.check(uri).is_ok()
    }

    /// Like [`AllowList::permits`], with the reason: `Ok(Some(pattern))` names the pattern that
    /// matched, `Ok(None)` means there is no allow-list.
    pub fn check(&self, uri: &Url) -> Result<Option<&RedirectPattern>, Rejection> {
        check_url(uri)?;
        match self {
            AllowList::Absent => Ok(None),
            AllowList::DenyAll => Err(Rejection::DenyAll),
            AllowList::Patterns(patterns) if patterns.is_empty() => Err(Rejection::DenyAll),
            AllowList::Patterns(patterns) => {
                let mut misses = Vec::with_capacity(patterns.len());
                for pattern in patterns {
                    match pattern.explain_miss(uri) {
                        Ok(()) => return Ok(Some(pattern)),
                        Err(why) => misses.push((pattern.as_str().to_owned(), why)),
                    }
                }
                Err(Rejection::NotAllowed {
                    uri: uri.as_str().to_owned(),
                    misses,
                })
            }
        }
    }
}

/// Does `uri` (a raw string) pass [`check_safe`] and match `pattern`?
pub fn pattern_matches(pattern: &RedirectPattern, uri: &str) -> bool {
    check_safe(uri).is_ok_and(|url| pattern.matches(&url))
}

/// May a client of this `application_type` use this (already safe) URL?
/// `native`: http only to loopback hosts, https anywhere, private-use (non-special) schemes.
/// `web`: https only, never a loopback host.
pub fn check_application_type(url: &Url, app: ApplicationType) -> Result<(), Rejection> {
    let loopback = url.host().is_some_and(|h| is_loopback_host(&h));
    let host = url.host_str().unwrap_or_default();
    let scheme = url.scheme();
    let detail = match app {
        ApplicationType::Native => match scheme {
            "https" => None,
            "http" if loopback => None,
            "http" => Some(format!(
                "allows http redirect URIs only to loopback hosts (localhost, 127.0.0.0/8, [::1]), not `{host}`"
            )),
            s if is_special_scheme(s) => Some(format!(
                "allows https, http to a loopback host, or a private-use scheme, not `{s}:`"
            )),
            _ => None,
        },
        ApplicationType::Web => match scheme {
            "https" if loopback => Some(format!(
                "requires a non-loopback host, not the loopback host `{host}`"
            )),
            "https" => None,
            s => Some(format!("requires an https redirect URI, not `{s}:`")),
        },
    };
    match detail {
        None => Ok(()),
        Some(detail) => Err(Rejection::ApplicationType {
            app,
            uri: url.as_str().to_owned(),
            detail,
        }),
    }
}

/// Registration (DCR / CIMD): the URI must be safe, pass the allow-list, and fit the
/// client's `application_type`.
pub fn check_registration(
    uri: &str,
    allow: &AllowList,
    app: ApplicationType,
) -> Result<Url, Rejection> {
    let url = check_registration_any_app(uri, allow)?;
    check_application_type(&url, app)?;
    Ok(url)
}

/// Registration without the `application_type` rule (what `authproof redirects check` judges).
pub fn check_registration_any_app(uri: &str, allow: &AllowList) -> Result<Url, Rejection> {
    let url = check_safe(uri)?;
    allow.check(&url)?;
    Ok(url)
}

/// Authorization and every later redirect: `requested` must be safe, still pass the
/// allow-list, and equal one of `registered` byte for byte after URL normalisation; the only
/// latitude is the port of a loopback URI (RFC 8252 §7.3). Patterns never widen this.
pub fn check_authorization(
    requested: &str,
    registered: &[String],
    allow: &AllowList,
) -> Result<Url, Rejection> {
    let url = check_safe(requested)?;
    allow.check(&url)?;
    let found = registered
        .iter()
        .filter_map(|r| check_safe(r).ok())
        .any(|r| same_redirect(&r, &url));
    if found {
        Ok(url)
    } else {
        Err(Rejection::NotRegistered {
            uri: url.as_str().to_owned(),
        })
    }
}

fn same_redirect(registered: &Url, requested: &Url) -> bool {
    if registered.as_str() == requested.as_str() {
        return true;
    }
    if !registered.host().is_some_and(|h| is_loopback_host(&h)) {
        return false;
    }
    let (mut a, mut b) = (registered.clone(), requested.clone());
    a.set_port(None).is_ok() && b.set_port(None).is_ok() && a.as_str() == b.as_str()
}
