//! Every finding `authproof validate` can report: its stable id, its severity and what it
//! means. This table is the only place a severity is written: a [`Finding`] is built from its
//! entry ([`entry!`](crate::validate_entry) looks the id up at compile time, so an id that is
//! not here does not compile), and takes the entry's severity. The few findings whose weight
//! depends on the situation (a development deployment, a check the verifier does not depend
//! on) state their second severity here too, with when it applies; code can only choose
//! between the two the entry names.
//!
//! [`Finding`]: super::Finding

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

/// One kind of finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Stable identifier (`static.storage_memory`); CI pipelines filter on it.
    pub id: &'static str,
    /// The severity it is reported with.
    pub severity: Severity,
    /// The other severity, and when it applies instead.
    pub otherwise: Option<(Severity, &'static str)>,
    /// What it means, in a few words.
    pub meaning: &'static str,
}

macro_rules! catalogue {
    ($( $id:literal, $sev:ident $(/ $alt:ident when $cond:literal)?, $meaning:literal; )*) => {
        /// Every entry, grouped as the checks are.
        pub const ALL: &[Entry] = &[$(
            Entry {
                id: $id,
                severity: Severity::$sev,
                otherwise: catalogue!(@alt $($alt, $cond)?),
                meaning: $meaning,
            },
        )*];
    };
    (@alt) => { None };
    (@alt $alt:ident, $cond:literal) => { Some((Severity::$alt, $cond)) };
}

/// The entry of `id`. Used in `const` context (through [`entry!`](crate::validate_entry)), an
/// unknown id is a compile error.
pub const fn entry(id: &str) -> &'static Entry {
    let mut i = 0;
    while i < ALL.len() {
        if same(ALL[i].id, id) {
            return &ALL[i];
        }
        i += 1;
    }
    panic!("finding id not in the catalogue (src/validate/catalogue.rs)")
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The catalogue entry of a finding id, checked at compile time.
#[macro_export]
#[doc(hidden)]
macro_rules! validate_entry {
    ($id:literal) => {
        const { $crate::validate::catalogue::entry($id) }
    };
}
pub use crate::validate_entry as entry;

catalogue! {
    // The configuration could not be read (exit code 2), or `serve` refuses it.
    "config.unreadable", Error, "the file cannot be read";
    "config.parse", Error, "YAML syntax or schema error (file:line:column)";
    "config.env", Error, "an AUTHPROOF_* variable is wrong";
    "config.invalid", Error, "a problem `serve` refuses to start with";
    // Static: base URL, callback, production settings.
    "static.base_url_missing", Warning, "no base_url: the listen address is used";
    "static.base_url_insecure", Error, "http base_url on a non-loopback host";
    "static.issuer_url_insecure", Error, "http issuer_url on a non-loopback host";
    "static.issuer_url_other_origin", Warning, "issuer_url on another origin than base_url";
    "static.callback_url", Info, "the exact callback URL to register at the IdP";
    "static.resource_url", Info, "AuthKit: the resource URL to register as a Resource Indicator";
    "static.redirect_path_trailing_slash", Warning, "redirect_path ends with /";
    "static.redirect_path_under_mcp", Warning, "redirect_path lies under mcp_path";
    "static.consent_off", Error / Warning when "in development (base_url on loopback)", "consent \"off\"";
    "static.storage_default", Info, "storage not set: serve's default file store";
    "static.storage_memory", Error / Info when "in development (base_url on loopback)", "memory storage: state lost on restart, not shared";
    "static.cimd_http_loopback", Warning, "cimd_allow_http_loopback in production";
    "static.backend_cleartext", Warning, "http backend on a non-loopback host";
    "static.signing_key_derived", Warning / Info when "in development (base_url on loopback)", "no jwt_signing_key: derived from the client secret";
    "static.signing_key_short", Warning, "jwt_signing_key shorter than 32 characters";
    "static.secret_in_file", Warning / Info when "in development (base_url on loopback)", "a secret written in the file instead of the environment";
    "static.upstream_insecure_url", Error, "an upstream URL over http to a non-loopback host";
    // Static: client authentication, scopes and the verifier.
    "static.auth_method_none_with_secret", Warning, "method none, but a secret is set";
    "static.auth_method_without_secret", Error, "a secret method without a secret";
    "static.auth_method_default", Info, "no method set: client_secret_basic is used";
    "static.basic_needs_encoding", Info, "id or secret changes under form-urlencoding (basic)";
    "static.upstream_scopes_unset", Warning, "OIDC provider without upstream.scopes";
    "static.scope_openid_missing", Error, "OIDC provider without the openid scope";
    "static.scope_offline_access_missing", Warning / Info when "for a generic oidc provider, whose refresh policy is unknown", "no offline_access: no upstream refresh token";
    "static.verifier_scope_not_requested", Error, "a verifier-required scope never requested";
    "static.required_scope_not_valid", Error, "required_scopes not within valid_scopes";
    "static.valid_scopes_empty", Info, "valid_scopes is empty";
    // Static: the redirect allow-list.
    "static.allowlist_absent", Info, "no allow-list: any safe redirect URI may register";
    "static.allowlist_deny_all", Warning, "allow-list []: nobody can register";
    "static.allowlist_invalid_pattern", Error, "a pattern the proxy refuses";
    "static.allowlist_http_non_loopback", Error, "http redirects to a non-loopback host";
    "static.allowlist_wildcard_host", Warning, "a *. host wildcard under a domain the operator may own";
    "static.allowlist_wildcard_public_suffix", Error, "a *. host wildcard directly under a public suffix (anyone can get a host there)";
    "static.allowlist_any_port", Warning, "any port on a non-loopback host";
    "static.allowlist_any_path", Warning, "no path: every path on the host";
    "static.allowlist_path_prefix", Warning, "a * that continues a path segment";
    "static.allowlist_path_wildcard_spans", Warning, "a * in mid-path that also matches /";
    "static.allowlist_loopback_variant", Warning, "localhost or 127.0.0.1, not both: native clients locked out";
    "static.allowlist_known_clients", Info, "which well-known clients may register";
    // Presets.
    "preset.google.auth_method", Warning / Error when "with none: Google web clients must authenticate", "Google with basic (warning) or none (error)";
    "preset.google.access_type", Warning, "Google without access_type=offline";
    "preset.google.prompt", Info, "Google without prompt=consent";
    "preset.google.offline_access_scope", Error, "Google with the offline_access scope";
    "preset.google.verifier", Error, "Google with the jwt verifier: its access tokens are opaque";
    "preset.azure.forward_resource", Error, "Entra ID with forward_resource: true";
    "preset.azure.tenant_missing", Warning, "Entra ID without a tenant";
    "preset.azure.multi_tenant", Info, "Entra ID with a multi-tenant endpoint";
    "preset.azure.verifier", Error, "Entra ID with the jwt verifier on Microsoft Graph tokens";
    "preset.auth0.audience_missing", Error, "Auth0 without an API audience";
    "preset.github.no_discovery", Error, "GitHub with a config_url";
    "preset.github.verifier", Error, "GitHub with a JWT or ID-token verifier";
    "preset.github.openid_scope", Warning, "GitHub with the openid scope";
    "preset.workos.domain_missing", Error, "WorkOS without upstream.domain";
    "preset.workos.domain_path", Warning, "WorkOS domain with a path";
    "preset.authkit.domain_missing", Error, "AuthKit without upstream.domain";
    "preset.authkit.domain_path", Warning, "AuthKit domain with a path";
    "preset.keycloak.realm_url", Warning, "Keycloak domain without /realms/<name>";
    // Live: metadata.
    "live.skipped", Error, "live checks not run: the preset cannot be built";
    "live.no_discovery", Info, "no metadata document (GitHub, explicit endpoints)";
    "live.discovery_unreachable", Error, "the metadata document cannot be fetched or parsed";
    "live.discovery_not_strict", Error, "OIDC-mandatory fields missing (upstream.strict)";
    "live.issuer", Info, "the IdP's issuer (nothing configured to compare)";
    "live.issuer_ok", Info, "the issuer is the expected one";
    "live.issuer_mismatch", Error, "the issuer differs from the configured/expected one";
    "live.issuer_missing", Error / Warning when "for a plain OAuth provider", "the metadata has no issuer";
    "live.issuer_tenant", Info, "Entra ID's issuer names the tenant id";
    "live.endpoint_missing", Error, "an endpoint neither configured nor discovered";
    "live.endpoint_invalid", Error, "an endpoint in the metadata is unusable";
    "live.endpoint_differs", Warning, "a configured endpoint differs from the metadata";
    "live.token_auth_method_unsupported", Error / Warning when "the token endpoint accepted the method anyway", "the method is not in token_endpoint_auth_methods_supported";
    "live.token_auth_methods_unadvertised", Warning, "no methods listed, and the method is not basic";
    "live.pkce_s256_missing", Error, "S256 not in code_challenge_methods_supported";
    "live.pkce_unadvertised", Warning, "no code_challenge_methods_supported";
    "live.scope_unsupported", Warning, "a requested scope not in scopes_supported";
    "live.response_type_unsupported", Error, "no code response type";
    "live.grant_unsupported", Error, "no authorization_code grant";
    "live.refresh_unsupported", Warning, "no refresh_token grant";
    "live.id_token_alg_unsupported", Error, "no ID-token algorithm the verifier accepts";
    "live.registration_endpoint_ok", Info, "AuthKit: DCR is on";
    "live.registration_endpoint_missing", Error, "AuthKit: no registration endpoint (DCR off)";
    // Live: JWKS.
    "live.jwks_ok", Info, "usable signing keys";
    "live.jwks_unreachable", Error / Warning when "the verifier does not need the keys", "the JWKS cannot be fetched";
    "live.jwks_invalid", Error / Warning when "the verifier does not need the keys", "not a JWK set";
    "live.jwks_no_usable_keys", Error / Warning when "the verifier does not need the keys", "no key the verifier can use";
    "live.jwks_keys_skipped", Info, "some keys unusable (with reasons)";
    "live.jwks_kid_missing", Warning, "several keys, not all with a kid";
    "live.jwks_symmetric_key", Error, "a symmetric key published in the JWKS";
    // Live: the access-token format behind a jwt verifier.
    "live.access_token_jwt", Info, "a token the IdP issued to this client is a JWT";
    "live.access_token_opaque", Error, "the IdP issues opaque access tokens, the jwt verifier needs JWTs";
    "live.access_token_format_unverified", Info, "the jwt verifier assumes JWT access tokens; the IdP did not let validate check";
    // Live: probes.
    "live.token_probe_ok", Info, "the token endpoint accepted the client credentials";
    "live.token_auth_method_mismatch", Error, "refused with the configured method, accepted with the other";
    "live.token_invalid_client", Error, "refused with every method: wrong id or secret";
    "live.token_resource_rejected", Error, "the IdP refuses the forwarded resource";
    "live.token_grant_not_allowed", Error, "the client may not use authorization_code";
    "live.token_probe_inconclusive", Warning, "an unexpected OAuth error";
    "live.token_accepts_invalid_code", Error, "tokens for a made-up code";
    "live.token_endpoint_unreachable", Error, "no usable answer from the token endpoint";
    "live.token_probe_skipped", Warning, "cleartext token endpoint: credentials not sent";
    "live.authorize_ok", Info, "the IdP accepts the authorization request with the callback URL";
    "live.callback_not_registered", Error / Warning when "the IdP answered with a 200 page that only mentions the redirect URI", "the IdP refuses the callback URL";
    "live.authorize_scope_rejected", Error, "the IdP answered invalid_scope: upstream.scopes";
    "live.authorize_audience_rejected", Error, "the IdP refused upstream.audience";
    "live.authorize_resource_rejected", Error, "the IdP refused the forwarded resource at /authorize";
    "live.authorize_client_not_allowed", Error, "the client may not use the code flow";
    "live.authorize_error", Error, "another OAuth error redirected to the callback";
    "live.authorize_inconclusive", Warning, "an unexpected answer to the authorization request";
    "live.authorize_unreachable", Error, "the authorization endpoint cannot be reached";
    "live.userinfo_ok", Info, "userinfo refuses a made-up token";
    "live.userinfo_accepts_invalid_token", Error, "userinfo accepts a made-up token";
    "live.userinfo_unreachable", Error, "userinfo missing or failing";
    "live.introspection_ok", Info, "introspection accepts the client, token not active";
    "live.introspection_accepts_invalid_token", Error, "introspection calls a made-up token active";
    "live.introspection_failed", Error, "introspection gives no usable answer";
    "live.introspection_probe_skipped", Warning, "cleartext introspection endpoint: credentials not sent";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for e in ALL {
            assert!(seen.insert(e.id), "duplicate id {}", e.id);
            assert!(
                ["config.", "static.", "preset.", "live."]
                    .iter()
                    .any(|p| e.id.starts_with(p)),
                "{}",
                e.id
            );
            assert!(
                e.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c)),
                "{}",
                e.id
            );
            if let Some((other, when)) = e.otherwise {
                assert_ne!(other, e.severity, "{}: the same severity twice", e.id);
                assert!(!when.is_empty(), "{}", e.id);
            }
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(entry("static.storage_memory").severity, Severity::Error);
        assert_eq!(
            entry!("static.allowlist_loopback_variant").severity,
            Severity::Warning
        );
    }
}
