//! Every finding id `authproof validate` can report, with what it means. Ids are stable: CI
//! pipelines filter on them. A test checks that every id the checks emit is listed here.

/// `(id, meaning)`, grouped as the checks are.
pub const IDS: &[(&str, &str)] = &[
    // The configuration could not be read (exit code 2), or `serve` refuses it.
    ("config.unreadable", "the file cannot be read"),
    (
        "config.parse",
        "YAML syntax or schema error (file:line:column)",
    ),
    ("config.env", "an AUTHPROOF_* variable is wrong"),
    ("config.invalid", "a problem `serve` refuses to start with"),
    // Static: base URL, callback, production settings.
    (
        "static.base_url_missing",
        "no base_url: the listen address is used",
    ),
    (
        "static.base_url_insecure",
        "http base_url on a non-loopback host",
    ),
    (
        "static.issuer_url_insecure",
        "http issuer_url on a non-loopback host",
    ),
    (
        "static.issuer_url_other_origin",
        "issuer_url on another origin than base_url",
    ),
    (
        "static.callback_url",
        "the exact callback URL to register at the IdP",
    ),
    (
        "static.resource_url",
        "AuthKit: the resource URL to register as a Resource Indicator",
    ),
    (
        "static.redirect_path_trailing_slash",
        "redirect_path ends with /",
    ),
    (
        "static.redirect_path_under_mcp",
        "redirect_path lies under mcp_path",
    ),
    (
        "static.consent_off",
        "consent \"off\" (error in production)",
    ),
    (
        "static.storage_default",
        "storage not set: serve's default file store",
    ),
    (
        "static.storage_memory",
        "memory storage (error in production)",
    ),
    (
        "static.cimd_http_loopback",
        "cimd_allow_http_loopback in production",
    ),
    (
        "static.backend_cleartext",
        "http backend on a non-loopback host",
    ),
    (
        "static.signing_key_derived",
        "no jwt_signing_key: derived from the client secret",
    ),
    (
        "static.signing_key_short",
        "jwt_signing_key shorter than 32 characters",
    ),
    (
        "static.secret_in_file",
        "a secret written in the file instead of the environment",
    ),
    (
        "static.upstream_insecure_url",
        "an upstream URL over http to a non-loopback host",
    ),
    // Static: client authentication and scopes.
    (
        "static.auth_method_none_with_secret",
        "method none, but a secret is set",
    ),
    (
        "static.auth_method_without_secret",
        "a secret method without a secret",
    ),
    (
        "static.auth_method_default",
        "no method set: client_secret_basic is used",
    ),
    (
        "static.basic_needs_encoding",
        "id or secret changes under form-urlencoding (basic)",
    ),
    (
        "static.upstream_scopes_unset",
        "OIDC provider without upstream.scopes",
    ),
    (
        "static.scope_openid_missing",
        "OIDC provider without the openid scope",
    ),
    (
        "static.scope_offline_access_missing",
        "no offline_access: no upstream refresh token",
    ),
    (
        "static.verifier_scope_not_requested",
        "a verifier-required scope never requested",
    ),
    (
        "static.required_scope_not_valid",
        "required_scopes not within valid_scopes",
    ),
    ("static.valid_scopes_empty", "valid_scopes is empty"),
    // Static: the redirect allow-list.
    (
        "static.allowlist_absent",
        "no allow-list: any safe redirect URI may register",
    ),
    (
        "static.allowlist_deny_all",
        "allow-list []: nobody can register",
    ),
    (
        "static.allowlist_invalid_pattern",
        "a pattern the proxy refuses",
    ),
    (
        "static.allowlist_http_non_loopback",
        "http redirects to a non-loopback host",
    ),
    ("static.allowlist_wildcard_host", "a *. host wildcard"),
    (
        "static.allowlist_any_port",
        "any port on a non-loopback host",
    ),
    (
        "static.allowlist_any_path",
        "no path: every path on the host",
    ),
    (
        "static.allowlist_path_prefix",
        "a * that continues a path segment",
    ),
    (
        "static.allowlist_path_wildcard_spans",
        "a * in mid-path that also matches /",
    ),
    (
        "static.allowlist_loopback_variant",
        "localhost or 127.0.0.1, not both",
    ),
    (
        "static.allowlist_known_clients",
        "which well-known clients may register",
    ),
    // Presets.
    (
        "preset.google.auth_method",
        "Google with basic (warning) or none (error)",
    ),
    (
        "preset.google.access_type",
        "Google without access_type=offline",
    ),
    ("preset.google.prompt", "Google without prompt=consent"),
    (
        "preset.google.offline_access_scope",
        "Google with the offline_access scope",
    ),
    (
        "preset.azure.forward_resource",
        "Entra ID with forward_resource: true",
    ),
    ("preset.azure.tenant_missing", "Entra ID without a tenant"),
    (
        "preset.azure.multi_tenant",
        "Entra ID with a multi-tenant endpoint",
    ),
    (
        "preset.auth0.audience_missing",
        "Auth0 without an API audience",
    ),
    ("preset.github.no_discovery", "GitHub with a config_url"),
    (
        "preset.github.verifier",
        "GitHub with a JWT or ID-token verifier",
    ),
    ("preset.github.openid_scope", "GitHub with the openid scope"),
    (
        "preset.workos.domain_missing",
        "WorkOS without upstream.domain",
    ),
    ("preset.workos.domain_path", "WorkOS domain with a path"),
    (
        "preset.authkit.domain_missing",
        "AuthKit without upstream.domain",
    ),
    ("preset.authkit.domain_path", "AuthKit domain with a path"),
    (
        "preset.keycloak.realm_url",
        "Keycloak domain without /realms/<name>",
    ),
    // Live: metadata.
    (
        "live.skipped",
        "live checks not run: the preset cannot be built",
    ),
    (
        "live.no_discovery",
        "no metadata document (GitHub, explicit endpoints)",
    ),
    (
        "live.discovery_unreachable",
        "the metadata document cannot be fetched or parsed",
    ),
    (
        "live.discovery_not_strict",
        "OIDC-mandatory fields missing (upstream.strict)",
    ),
    (
        "live.issuer",
        "the IdP's issuer (nothing configured to compare)",
    ),
    ("live.issuer_ok", "the issuer is the expected one"),
    (
        "live.issuer_mismatch",
        "the issuer differs from the configured/expected one",
    ),
    ("live.issuer_missing", "the metadata has no issuer"),
    (
        "live.issuer_tenant",
        "Entra ID's issuer names the tenant id",
    ),
    (
        "live.endpoint_missing",
        "an endpoint neither configured nor discovered",
    ),
    (
        "live.endpoint_invalid",
        "an endpoint in the metadata is unusable",
    ),
    (
        "live.endpoint_differs",
        "a configured endpoint differs from the metadata",
    ),
    (
        "live.token_auth_method_unsupported",
        "the method is not in token_endpoint_auth_methods_supported",
    ),
    (
        "live.token_auth_methods_unadvertised",
        "no methods listed, and the method is not basic",
    ),
    (
        "live.pkce_s256_missing",
        "S256 not in code_challenge_methods_supported",
    ),
    (
        "live.pkce_unadvertised",
        "no code_challenge_methods_supported",
    ),
    (
        "live.scope_unsupported",
        "a requested scope not in scopes_supported",
    ),
    ("live.response_type_unsupported", "no code response type"),
    ("live.grant_unsupported", "no authorization_code grant"),
    ("live.refresh_unsupported", "no refresh_token grant"),
    (
        "live.id_token_alg_unsupported",
        "no ID-token algorithm the verifier accepts",
    ),
    ("live.registration_endpoint_ok", "AuthKit: DCR is on"),
    (
        "live.registration_endpoint_missing",
        "AuthKit: no registration endpoint (DCR off)",
    ),
    // Live: JWKS.
    ("live.jwks_ok", "usable signing keys"),
    ("live.jwks_unreachable", "the JWKS cannot be fetched"),
    ("live.jwks_invalid", "not a JWK set"),
    ("live.jwks_no_usable_keys", "no key the verifier can use"),
    (
        "live.jwks_keys_skipped",
        "some keys unusable (with reasons)",
    ),
    ("live.jwks_kid_missing", "several keys, not all with a kid"),
    (
        "live.jwks_symmetric_key",
        "a symmetric key published in the JWKS",
    ),
    // Live: probes.
    (
        "live.token_probe_ok",
        "the token endpoint accepted the client credentials",
    ),
    (
        "live.token_auth_method_mismatch",
        "refused with the configured method, accepted with the other",
    ),
    (
        "live.token_invalid_client",
        "refused with every method: wrong id or secret",
    ),
    (
        "live.token_resource_rejected",
        "the IdP refuses the forwarded resource",
    ),
    (
        "live.token_grant_not_allowed",
        "the client may not use authorization_code",
    ),
    ("live.token_probe_inconclusive", "an unexpected OAuth error"),
    (
        "live.token_accepts_invalid_code",
        "tokens for a made-up code",
    ),
    (
        "live.token_endpoint_unreachable",
        "no usable answer from the token endpoint",
    ),
    (
        "live.token_probe_skipped",
        "cleartext token endpoint: credentials not sent",
    ),
    (
        "live.authorize_ok",
        "the IdP accepts the authorization request with the callback URL",
    ),
    (
        "live.callback_not_registered",
        "the IdP refuses the callback URL",
    ),
    (
        "live.authorize_inconclusive",
        "an unexpected answer to the authorization request",
    ),
    (
        "live.authorize_unreachable",
        "the authorization endpoint cannot be reached",
    ),
    ("live.userinfo_ok", "userinfo refuses a made-up token"),
    (
        "live.userinfo_accepts_invalid_token",
        "userinfo accepts a made-up token",
    ),
    ("live.userinfo_unreachable", "userinfo missing or failing"),
    (
        "live.introspection_ok",
        "introspection accepts the client, token not active",
    ),
    (
        "live.introspection_accepts_invalid_token",
        "introspection calls a made-up token active",
    ),
    (
        "live.introspection_failed",
        "introspection gives no usable answer",
    ),
    (
        "live.introspection_probe_skipped",
        "cleartext introspection endpoint: credentials not sent",
    ),
];

#[cfg(test)]
mod tests {
    use super::IDS;

    /// Every quoted id in the checks' sources is in the catalogue, and vice versa.
    #[test]
    fn catalogue_is_complete() {
        let sources = [
            include_str!("static_checks.rs"),
            include_str!("allowlist.rs"),
            include_str!("presets.rs"),
            include_str!("metadata.rs"),
            include_str!("live.rs"),
            include_str!("jwks.rs"),
            include_str!("probe.rs"),
            include_str!("authorize.rs"),
            include_str!("report.rs"),
        ];
        let mut used = std::collections::BTreeSet::new();
        for src in sources {
            for part in src.split('"').skip(1).step_by(2) {
                let known_prefix = ["config.", "static.", "live.", "preset."]
                    .iter()
                    .any(|p| part.starts_with(p));
                if known_prefix
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._{}".contains(c))
                {
                    if let Some(rest) = part.strip_prefix("preset.{p}.") {
                        used.insert(format!("preset.workos.{rest}"));
                        used.insert(format!("preset.authkit.{rest}"));
                    } else {
                        used.insert(part.to_string());
                    }
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            IDS.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(listed.len(), IDS.len(), "duplicate ids");
        let missing: Vec<_> = used.difference(&listed).collect();
        assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
        let unused: Vec<_> = listed.difference(&used).collect();
        assert!(unused.is_empty(), "never emitted: {unused:?}");
    }
}
