//! The authorization-endpoint probe: is the proxy's callback URL registered at the IdP?
//!
//! The most common deployment mistake. The probe builds the exact authorization URL the
//! proxy would send a browser to ([`Upstream::authorize_url`]: client id, callback URL,
//! scopes, PKCE S256, extra parameters) and requests it once without following redirects.
//! IdPs check `client_id` and `redirect_uri` before anything else and show an error page
//! (not a redirect) when the callback is unknown, so:
//!
//! - a redirect back to the callback URL with a `code` (an IdP with a session), or on to a
//!   login page, means the request was accepted;
//! - a redirect back to the callback URL with `error=` means the IdP refused a parameter of
//!   the request; the finding names the setting that sent it (`invalid_scope` →
//!   `upstream.scopes`, `access_denied` with an `audience` → `upstream.audience`,
//!   `invalid_target` → `upstream.forward_resource`, …);
//! - a 4xx page that talks about the redirect URI / callback means it is not registered;
//! - other answers are reported as inconclusive, never guessed.

use super::catalogue::entry;
use super::finding::Finding;
use super::report::NOTHING_TO_DO;
use crate::proxy::config::ProxyConfig;
use crate::proxy::outbound::TrustRoots;
use crate::proxy::upstream::Upstream;

/// What IdPs' error pages say when the redirect URI is unknown, distinctive enough to judge
/// even a 200 page by (a login page may well contain `redirect_uri` in a form; lower case).
const STRONG_MARKERS: &[&str] = &[
    "redirect_uri_mismatch",
    "aadsts50011",
    "callback url mismatch",
    "invalid redirect_uri",
    "invalid parameter: redirect_uri",
    "redirect_uri is not registered",
    "not associated with this application",
];

/// How an IdP's 4xx error page says the redirect URI is wrong (lower case).
const REDIRECT_MARKERS: &[&str] = &[
    "redirect_uri",
    "redirect uri",
    "redirect url",
    "callback url",
    "aadsts50011",
    "not associated with this application",
];

/// The authorization URL the proxy would use for a login (the same provider-mode parameters,
/// `nonce` included), with a throwaway state and PKCE.
pub async fn authorization_url(
    config: &ProxyConfig,
    authorization_endpoint: &str,
    token_endpoint: &str,
    callback: &str,
    resource: &str,
) -> Result<String, String> {
    let mut cfg = config.upstream.clone();
    cfg.config_url = None;
    cfg.authorization_endpoint = Some(authorization_endpoint.to_string());
    cfg.token_endpoint = Some(token_endpoint.to_string());
    let mut up = Upstream::new(cfg, callback.to_string(), foundations::Clock::system())
        .map_err(|e| e.to_string())?;
    // Discovery already happened: only the request parameters matter here.
    up.configure_for(config);
    up.trust(&TrustRoots::load(config.outbound_ca_file.as_deref()).unwrap_or_default());
    up.set_strict_oidc(false);
    let endpoints = up.endpoints().await.map_err(|e| e.to_string())?;
    let challenge = crate::oauth::pkce::challenge_s256(&crate::oauth::pkce::new_verifier());
    Ok(up.authorize_url(
        endpoints,
        "authproof-validate-probe",
        &challenge,
        &[],
        resource,
        None,
    ))
}

/// What the authorization request carried that an IdP may refuse, to name the setting to fix.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent<'a> {
    /// The proxy's callback URL (`redirect_uri`).
    pub callback: &'a str,
    /// `upstream.scopes`.
    pub scopes: &'a [String],
    /// The `audience` parameter (Auth0's API identifier), when one was sent.
    pub audience: Option<&'a str>,
    /// Whether `resource` was sent (`upstream.forward_resource`).
    pub resource: bool,
}

/// Is `location` the callback URL itself (scheme, host, port and path; the query aside)?
fn to_callback(location: &str, callback: &str) -> bool {
    let strip = |u: &str| {
        url::Url::parse(u).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        })
    };
    strip(location).is_some_and(|l| Some(l) == strip(callback))
}

/// The `error` and `error_description` of a redirect, if it carries an error.
fn redirect_error(location: &str) -> Option<(String, Option<String>)> {
    let u = url::Url::parse(location).ok()?;
    let get = |k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    get("error").map(|e| (e, get("error_description")))
}

/// The IdP redirected an OAuth error to the callback: name the setting behind it.
fn refused(error: &str, description: Option<&str>, sent: &Sent) -> Finding {
    let said = format!(
        "error={error}{}",
        description
            .map(|d| format!(" ({})", clip(d)))
            .unwrap_or_default()
    );
    match error {
        "invalid_scope" => Finding::new(
            entry!("live.authorize_scope_rejected"),
            format!(
                "the IdP refused the scopes of the authorization request ({}) and redirected {said} to the callback",
                sent.scopes.join(" ")
            ),
            "Remove the scope the IdP names from upstream.scopes, or allow it for upstream.client_id at the IdP",
        )
        .key("upstream.scopes"),
        "access_denied" | "invalid_target" if sent.audience.is_some() && !(error == "invalid_target" && sent.resource) => {
            let a = sent.audience.unwrap_or_default();
            let slash = if a.ends_with('/') {
                " It ends with a slash: API identifiers are compared byte for byte, and are often registered without one."
            } else {
                ""
            };
            Finding::new(
                entry!("live.authorize_audience_rejected"),
                format!("the IdP refused the audience {a:?} and redirected {said} to the callback: no API with that exact identifier is known to it.{slash}"),
                "Set upstream.audience to the API identifier exactly as the IdP shows it (Auth0: Applications → APIs → Identifier)",
            )
            .key("upstream.audience")
        }
        "invalid_target" => Finding::new(
            entry!("live.authorize_resource_rejected"),
            format!("the IdP refused the `resource` parameter the proxy forwards and redirected {said} to the callback"),
            "Set upstream.forward_resource: false",
        )
        .key("upstream.forward_resource"),
        "unauthorized_client" | "unsupported_response_type" => Finding::new(
            entry!("live.authorize_client_not_allowed"),
            format!("the IdP does not let upstream.client_id use the authorization code flow: {said}"),
            "Enable the authorization code grant (a web / confidential application) for this client at the IdP",
        )
        .key("upstream.client_id"),
        _ => Finding::new(
            entry!("live.authorize_error"),
            format!("the IdP refused the authorization request and redirected {said} to the callback"),
            "Check upstream.extra_authorize_params, upstream.scopes and upstream.audience against the IdP's settings for this client; the description names the parameter",
        )
        .key("upstream.extra_authorize_params"),
    }
}

/// Judge the IdP's answer to the authorization request.
pub fn classify(status: u16, location: Option<&str>, body: &str, sent: &Sent) -> Finding {
    let callback = sent.callback;
    let key = "redirect_path";
    let lower = body.to_ascii_lowercase();
    let mentions_redirect = if (200..300).contains(&status) {
        STRONG_MARKERS.iter().any(|m| lower.contains(m))
    } else {
        REDIRECT_MARKERS.iter().any(|m| lower.contains(m))
    };
    match (status, location) {
        (300..=399, Some(loc)) if to_callback(loc, callback) => match redirect_error(loc) {
            Some((error, description)) => refused(&error, description.as_deref(), sent),
            None => Finding::new(
                entry!("live.authorize_ok"),
                format!("the IdP accepted the authorization request and redirected to the callback {callback}"),
                NOTHING_TO_DO,
            )
            .key(key),
        },
        (300..=399, Some(loc)) if error_redirect(loc) => Finding::new(
            entry!("live.callback_not_registered"),
            format!(
                "the IdP sent the authorization request to its error page ({}): the callback {callback} is most likely not registered",
                clip(loc)
            ),
            format!("Register exactly {callback} as a redirect / callback URL of upstream.client_id at the IdP (see static.callback_url)"),
        )
        .key(key),
        (300..=399, Some(_)) => Finding::new(
            entry!("live.authorize_ok"),
            "the IdP accepted the authorization request and sent the browser on to log in (most IdPs check the callback URL before that; GitHub only after the login)",
            NOTHING_TO_DO,
        )
        .key(key),
        (200..=299, _) if !mentions_redirect => Finding::new(
            entry!("live.authorize_ok"),
            "the IdP answered the authorization request with a page (normally its login page)",
            NOTHING_TO_DO,
        )
        .key(key),
        (400..=499, _) | (200..=299, _) if mentions_redirect => Finding::new(
            entry!("live.callback_not_registered"),
            format!(
                "the IdP refused the authorization request (HTTP {status}) with a page about the redirect URI: the callback {callback} is most likely not registered{}",
                excerpt(body)
            ),
            format!("Register exactly {callback} as a redirect / callback URL of upstream.client_id at the IdP (see static.callback_url)"),
        )
        .otherwise_if(status < 400)
        .key(key),
        _ => Finding::new(
            entry!("live.authorize_inconclusive"),
            format!(
                "the IdP answered the authorization request with HTTP {status}{}",
                excerpt(body)
            ),
            "Try a login in a browser; check upstream.client_id, upstream.extra_authorize_params and the callback registration",
        )
        .key(key),
    }
}

/// Does a redirect go to an error page about the redirect URI (Auth0-style
/// `/error?error=…&error_description=Callback URL mismatch…`)?
fn error_redirect(location: &str) -> bool {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    let text: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v} "))
        .collect::<String>()
        .to_ascii_lowercase();
    text.contains("error") && REDIRECT_MARKERS.iter().any(|m| text.contains(m))
}

fn clip(s: &str) -> String {
    let c: String = s.chars().filter(|c| !c.is_control()).take(160).collect();
    if s.chars().count() > 160 {
        format!("{c}…")
    } else {
        c
    }
}

/// A short, printable piece of an error page's text (tags dropped), for the message.
fn excerpt(body: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(if c.is_control() { ' ' } else { c }),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return String::new();
    }
    let joined = words.join(" ");
    let clipped: String = joined.chars().take(160).collect();
    format!(
        " (\"{clipped}{}\")",
        if joined.chars().count() > 160 {
            "…"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Severity;

    const CB: &str = "https://mcp.example.com/auth/callback";

    fn sent() -> Sent<'static> {
        Sent {
            callback: CB,
            ..Sent::default()
        }
    }

    #[test]
    fn answers_are_classified() {
        let id = |s, l, b| classify(s, l, b, &sent()).id();
        assert_eq!(
            id(
                302,
                Some("https://mcp.example.com/auth/callback?code=x"),
                ""
            ),
            "live.authorize_ok"
        );
        assert_eq!(
            id(302, Some("https://idp.example.com/login?x=1"), ""),
            "live.authorize_ok"
        );
        // A longer path that starts like the callback is not the callback.
        assert_eq!(
            id(
                302,
                Some("https://mcp.example.com/auth/callback-other?error=access_denied"),
                ""
            ),
            "live.authorize_ok"
        );
        assert_eq!(id(200, None, "<html>Sign in</html>"), "live.authorize_ok");
        // A login page carrying the redirect_uri in its form is not an error page.
        assert_eq!(
            id(
                200,
                None,
                "<form action=\"/login?redirect_uri=https%3A%2F%2Fx\">"
            ),
            "live.authorize_ok"
        );
        assert_eq!(
            id(
                302,
                Some(
                    "https://t.auth0.com/error?error=invalid_request&error_description=Callback%20URL%20mismatch."
                ),
                ""
            ),
            "live.callback_not_registered"
        );
        let f = classify(
            400,
            None,
            "<html><h1>Error 400: redirect_uri_mismatch</h1></html>",
            &sent(),
        );
        assert_eq!(f.id(), "live.callback_not_registered");
        assert_eq!(f.severity(), Severity::Error);
        assert!(
            f.message.contains("Error 400: redirect_uri_mismatch"),
            "{}",
            f.message
        );
        let f = classify(
            200,
            None,
            "AADSTS50011: The redirect URI ... does not match",
            &sent(),
        );
        assert_eq!(f.severity(), Severity::Warning);
        assert_eq!(id(500, None, "oops"), "live.authorize_inconclusive");
        assert_eq!(
            id(400, None, "invalid scope"),
            "live.authorize_inconclusive"
        );
    }

    /// An error redirected to the callback names the setting that sent the refused value.
    #[test]
    fn errors_at_the_callback_name_the_setting() {
        let scopes = vec!["openid".to_string(), "admin".to_string()];
        let with = |error: &str, audience: Option<&'static str>, resource: bool| {
            let sent = Sent {
                callback: CB,
                scopes: &scopes,
                audience,
                resource,
            };
            let loc = format!("{CB}?error={error}&error_description=Service%20not%20found&state=s");
            let f = classify(302, Some(&loc), "", &sent);
            assert_eq!(f.severity(), Severity::Error, "{f:?}");
            (f.id(), f.key.clone().unwrap_or_default(), f.message)
        };
        let (id, key, msg) = with("invalid_scope", None, false);
        assert_eq!(
            (id, key.as_str()),
            ("live.authorize_scope_rejected", "upstream.scopes")
        );
        assert!(msg.contains("openid admin"), "{msg}");
        let (id, key, msg) = with("access_denied", Some("https://api.acme.io/"), false);
        assert_eq!(
            (id, key.as_str()),
            ("live.authorize_audience_rejected", "upstream.audience")
        );
        assert!(
            msg.contains("slash") && msg.contains("Service not found"),
            "{msg}"
        );
        let (id, key, _) = with("invalid_target", None, true);
        assert_eq!(
            (id, key.as_str()),
            (
                "live.authorize_resource_rejected",
                "upstream.forward_resource"
            )
        );
        let (id, key, _) = with("unauthorized_client", None, false);
        assert_eq!(
            (id, key.as_str()),
            ("live.authorize_client_not_allowed", "upstream.client_id")
        );
        let (id, _, _) = with("access_denied", None, false);
        assert_eq!(id, "live.authorize_error");
    }

    #[test]
    fn excerpts_are_short_and_plain() {
        assert_eq!(excerpt(""), "");
        assert_eq!(excerpt("<p>a\n<b>b</b></p>"), " (\"a b\")");
        assert!(excerpt(&"x ".repeat(500)).ends_with("…\")"));
    }
}
