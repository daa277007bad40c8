//! Checks on the configuration alone: base_url, the callback URL to register, production
//! settings (consent, storage, keys, secrets in the file), upstream URLs, client
//! authentication and scopes. Provider quirks are in [`super::presets`], the redirect
//! allow-list in [`super::allowlist`].
//!
//! [`with_config_problems`] adds what [`ProxyConfig::problems`] reports (what `serve`
//! refuses), unless a more specific error about the same key is already there.

use super::Context;
use super::catalogue::entry;
use super::finding::{Deployment, Finding, Severity};
use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::config::{ProviderKind, ProxyConfig, StorageSpec};
use crate::proxy::redirect::is_loopback_host;

/// Every static check except presets and the allow-list.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut f = Vec::new();
    base_url(ctx, &mut f);
    callback(ctx, &mut f);
    production(ctx, &mut f);
    secrets_in_file(ctx, &mut f);
    upstream_urls(ctx, &mut f);
    client_auth(ctx, &mut f);
    scopes(ctx, &mut f);
    f
}

/// Is `s` an http (not https) URL to a host that is not loopback?
pub fn is_cleartext_remote(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| u.scheme() == "http" && u.host().is_some_and(|h| !is_loopback_host(&h)))
}

fn base_url(ctx: &Context, f: &mut Vec<Finding>) {
    let c = &ctx.written;
    match &c.base_url {
        None => f.push(
            Finding::new(
                entry!("static.base_url_missing"),
                format!(
                    "base_url is not set: `serve` then uses its listen address ({}) as the public URL, the issuer and the callback host, which only works on this machine",
                    ctx.base_url
                ),
                "Set base_url to the public https URL clients reach the proxy at, e.g. base_url: https://mcp.example.com",
            )
            .key("base_url"),
        ),
        Some(b) if is_cleartext_remote(b) => f.push(
            Finding::new(
                entry!("static.base_url_insecure"),
                format!(
                    "base_url {b} is plain http on a non-loopback host: authorization codes, tokens and consent cookies would cross the network in clear"
                ),
                "Serve the proxy over https (e.g. TLS terminated by a load balancer in front of it) and set base_url to the https URL",
            )
            .key("base_url"),
        ),
        Some(_) => {}
    }
    if let Some(i) = &c.issuer_url {
        if is_cleartext_remote(i) {
            f.push(
                Finding::new(
                    entry!("static.issuer_url_insecure"),
                    format!("issuer_url {i} is plain http on a non-loopback host"),
                    "Use an https issuer_url (normally the same as base_url, or leave it unset)",
                )
                .key("issuer_url"),
            );
        }
        let origin = |s: &str| {
            url::Url::parse(s)
                .ok()
                .map(|u| u.origin().ascii_serialization())
        };
        if let (Some(a), Some(b)) = (origin(i), origin(&ctx.base_url))
            && a != b
        {
            f.push(
                Finding::new(
                    entry!("static.issuer_url_other_origin"),
                    format!(
                        "issuer_url {i} is on another origin than base_url {}: MCP clients look for the authorization-server metadata under the issuer's origin, where the proxy does not serve it",
                        ctx.base_url
                    ),
                    "Leave issuer_url unset (it defaults to base_url) unless something at the issuer's origin serves the proxy's metadata",
                )
                .key("issuer_url"),
            );
        }
    }
}

/// Where each provider's console keeps the list of allowed callback URLs.
fn where_to_register(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Workos => {
            "the WorkOS dashboard → Redirects (redirect URIs of your application)"
        }
        ProviderKind::Auth0 => "the Auth0 application's Settings → Allowed Callback URLs",
        ProviderKind::Google => {
            "Google Cloud console → APIs & Services → Credentials → your OAuth client → Authorized redirect URIs"
        }
        ProviderKind::Github => "the GitHub OAuth app's settings → Authorization callback URL",
        ProviderKind::Azure => {
            "the Entra ID app registration → Authentication → Web platform → Redirect URIs"
        }
        ProviderKind::Keycloak => "the Keycloak client → Settings → Valid redirect URIs",
        ProviderKind::Oauth | ProviderKind::Oidc | ProviderKind::Authkit => {
            "the IdP's settings of the OAuth client upstream.client_id (allowed redirect / callback URLs)"
        }
    }
}

fn callback(ctx: &Context, f: &mut Vec<Finding>) {
    let c = &ctx.written;
    if c.provider.is_remote_auth() {
        f.push(
            Finding::new(
                entry!("static.resource_url"),
                format!(
                    "MCP clients use the resource {}; AuthKit issues tokens for it and the proxy accepts only tokens whose audience is this URL",
                    ctx.resource_url()
                ),
                "Add this exact URL as a Resource Indicator in the WorkOS dashboard (Connect → Configuration)",
            )
            .key("mcp_path"),
        );
        return;
    }
    f.push(
        Finding::new(
            entry!("static.callback_url"),
            format!(
                "the IdP must have this exact callback URL registered: {}",
                ctx.callback_url()
            ),
            format!(
                "Add it, byte for byte (scheme, host, port, path, no trailing slash added), in {}",
                where_to_register(c.provider)
            ),
        )
        .key("redirect_path"),
    );
    let rp = &c.redirect_path;
    if rp.len() > 1 && rp.ends_with('/') {
        f.push(
            Finding::new(
                entry!("static.redirect_path_trailing_slash"),
                format!(
                    "redirect_path {rp} ends with a slash; IdPs compare callback URLs byte for byte, and the slash is easily left out when registering"
                ),
                "Drop the trailing slash (redirect_path: /auth/callback) and register the URL exactly as printed",
            )
            .key("redirect_path"),
        );
    }
    let mcp = c.mcp_path.trim_end_matches('/');
    if !mcp.is_empty() && rp.starts_with(&format!("{mcp}/")) {
        f.push(
            Finding::new(
                entry!("static.redirect_path_under_mcp"),
                format!(
                    "redirect_path {rp} lies under mcp_path {}: the IdP's redirect carries no bearer token, and paths under the MCP endpoint belong to the guarded resource",
                    c.mcp_path
                ),
                "Use a path outside mcp_path, e.g. redirect_path: /auth/callback",
            )
            .key("redirect_path"),
        );
    }
}

fn production(ctx: &Context, f: &mut Vec<Finding>) {
    let c = &ctx.written;
    let d = ctx.deployment;
    let remote = c.provider.is_remote_auth();
    if !remote && c.consent == crate::proxy::config::ConsentMode::Off {
        f.push(
            Finding::new(
                entry!("static.consent_off"),
                "consent is \"off\": any web page can start a login through the proxy's shared upstream client and have the user's grant delivered to a client it registered itself (the confused-deputy attack consent exists to stop)",
                "Use consent: always (or remember); \"off\" is for tests and trusted single-client setups",
            )
            .for_deployment(d)
            .key("consent"),
        );
    }
    if !remote {
        if !ctx.storage_set {
            f.push(
                Finding::new(
                    entry!("static.storage_default"),
                    "storage is not set: `serve` keeps its state in the embedded file store authproof-state.redb in its working directory",
                    "Set storage explicitly: file:/var/lib/authproof/state.redb on a persistent volume (one instance) or redis://HOST:6379/0 (several instances)",
                )
                .key("storage"),
            );
        } else if c.storage == StorageSpec::Memory {
            f.push(
                Finding::new(
                    entry!("static.storage_memory"),
                    "storage is memory: registrations, consents and refresh tokens are lost on every restart (clients then fail with invalid_client and must register again), and several instances cannot share them",
                    "Use storage: file:/var/lib/authproof/state.redb (one instance) or redis://HOST:6379/0 (several instances)",
                )
                .for_deployment(d)
                .key("storage"),
            );
        }
    }
    if c.cimd_allow_http_loopback && d == Deployment::Production {
        f.push(
            Finding::new(
                entry!("static.cimd_http_loopback"),
                "cimd_allow_http_loopback is on: client metadata documents are then also fetched over plain http from loopback hosts, which only tests need",
                "Remove cimd_allow_http_loopback (default false)",
            )
            .key("cimd_allow_http_loopback"),
        );
    }
    if let Some(b) = &c.backend
        && is_cleartext_remote(b)
    {
        f.push(
            Finding::new(
                entry!("static.backend_cleartext"),
                format!(
                    "backend {b} is plain http on a non-loopback host: the users' identity headers and MCP traffic travel in clear between the proxy and the MCP server"
                ),
                "Use https to the backend, or keep it on a private network / loopback",
            )
            .key("backend"),
        );
    }
    match &c.jwt_signing_key {
        None if !remote && c.upstream.client_secret.is_some() => f.push(
            Finding::new(
                entry!("static.signing_key_derived"),
                "jwt_signing_key is not set: the proxy's token key is derived from upstream.client_secret, so rotating that secret at the IdP invalidates every token the proxy has issued",
                "Set jwt_signing_key (better: AUTHPROOF_JWT_SIGNING_KEY) to 32 or more random characters, e.g. the output of `openssl rand -base64 32`",
            )
            .for_deployment(d)
            .key("jwt_signing_key"),
        ),
        Some(k) if (16..32).contains(&k.expose().chars().count()) => f.push(
            Finding::new(
                entry!("static.signing_key_short"),
                "jwt_signing_key has fewer than 32 characters",
                "Use 32 or more random characters, e.g. the output of `openssl rand -base64 32`",
            )
            .key("jwt_signing_key"),
        ),
        _ => {}
    }
}

/// A secret written in the file (rather than given through the environment).
fn secrets_in_file(ctx: &Context, f: &mut Vec<Finding>) {
    let d = ctx.deployment;
    for path in [
        &["upstream", "client_secret"][..],
        &["jwt_signing_key"],
        &["storage_key"],
    ] {
        let mut node = &ctx.file_tree;
        for seg in path {
            node = node.get(seg).unwrap_or(&serde_json::Value::Null);
        }
        if node.as_str().is_some_and(|s| !s.is_empty()) {
            let key = path.join(".");
            let var = format!("AUTHPROOF_{}", path.join("__").to_ascii_uppercase());
            f.push(
                Finding::new(
                    entry!("static.secret_in_file"),
                    format!(
                        "{key} is written in the configuration file; files end up in repositories, images and backups"
                    ),
                    format!(
                        "Remove it from the file and set {var} in the environment (from a secret store) instead"
                    ),
                )
                .for_deployment(d)
                .key(key),
            );
        }
    }
}

fn upstream_urls(ctx: &Context, f: &mut Vec<Finding>) {
    let u = &ctx.effective().upstream;
    let domain = u
        .domain
        .as_deref()
        .map(crate::proxy::config::normalize_domain);
    for (key, v) in [
        ("upstream.domain", domain.as_ref()),
        ("upstream.config_url", u.config_url.as_ref()),
        (
            "upstream.authorization_endpoint",
            u.authorization_endpoint.as_ref(),
        ),
        ("upstream.token_endpoint", u.token_endpoint.as_ref()),
        (
            "upstream.revocation_endpoint",
            u.revocation_endpoint.as_ref(),
        ),
        ("upstream.jwks_uri", u.jwks_uri.as_ref()),
        ("upstream.userinfo_endpoint", u.userinfo_endpoint.as_ref()),
        (
            "upstream.introspection_endpoint",
            u.introspection_endpoint.as_ref(),
        ),
    ] {
        if let Some(v) = v
            && is_cleartext_remote(v)
        {
            f.push(
                Finding::new(
                    entry!("static.upstream_insecure_url"),
                    format!(
                        "{key} {v} is plain http on a non-loopback host: the client secret, codes and users' tokens would travel in clear, and discovery or keys could be forged"
                    ),
                    "Use the IdP's https URL",
                )
                .key(key),
            );
        }
    }
}

fn client_auth(ctx: &Context, f: &mut Vec<Finding>) {
    let c = ctx.effective();
    if c.provider.is_remote_auth() {
        return;
    }
    let u = &c.upstream;
    let secret = u.client_secret.as_ref().filter(|s| !s.expose().is_empty());
    let method = u.auth_method();
    match (method, secret) {
        (ClientAuthMethod::None, Some(_)) if u.token_endpoint_auth_method.is_some() => f.push(
            Finding::new(
                entry!("static.auth_method_none_with_secret"),
                "token_endpoint_auth_method is none but upstream.client_secret is set: the secret is never sent to the IdP (it only seeds the token key)",
                "Set token_endpoint_auth_method to the method the IdP app uses (client_secret_basic or client_secret_post), or remove client_secret and set jwt_signing_key",
            )
            .key("upstream.token_endpoint_auth_method"),
        ),
        (ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost, None) => f.push(
            Finding::new(
                entry!("static.auth_method_without_secret"),
                format!(
                    "token_endpoint_auth_method {method} needs upstream.client_secret, which is not set"
                ),
                "Set AUTHPROOF_UPSTREAM__CLIENT_SECRET to the client secret of the IdP app, or use token_endpoint_auth_method: none for a public (PKCE-only) client",
            )
            .key("upstream.client_secret"),
        ),
        _ => {}
    }
    if u.token_endpoint_auth_method.is_none() && secret.is_some() {
        f.push(
            Finding::new(
                entry!("static.auth_method_default"),
                "token_endpoint_auth_method is not set: the proxy authenticates to the IdP with client_secret_basic",
                "Set it to the method the IdP app is registered for; `authproof validate --live` probes the token endpoint to confirm",
            )
            .key("upstream.token_endpoint_auth_method"),
        );
    }
    if method == ClientAuthMethod::ClientSecretBasic
        && let Some(s) = secret
    {
        let changed =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>() != v;
        if changed(s.expose()) || changed(&u.client_id) {
            f.push(
                Finding::new(
                    entry!("static.basic_needs_encoding"),
                    "the client id or secret contains characters that client_secret_basic form-urlencodes before base64 (RFC 6749 §2.3.1); a few IdPs skip the decoding and then reject the credentials",
                    "If `--live` reports invalid_client, switch to client_secret_post where the IdP supports it",
                )
                .key("upstream.client_secret"),
            );
        }
    }
}

/// Scopes that name OIDC itself.
const OPENID: &str = "openid";
const OFFLINE: &str = "offline_access";

fn scopes(ctx: &Context, f: &mut Vec<Finding>) {
    let c = ctx.effective();
    let p = c.provider;
    if p.is_remote_auth() {
        return;
    }
    let up = &c.upstream.scopes;
    let has = |s: &str| up.iter().any(|x| x == s);
    if p.is_oidc() {
        if up.is_empty() {
            f.push(
                Finding::new(
                    entry!("static.upstream_scopes_unset"),
                    format!(
                        "upstream.scopes is empty: the proxy forwards whatever scopes the MCP client asked for, which usually lack `openid`, and provider {p} needs the upstream ID token"
                    ),
                    "Set upstream.scopes, e.g. [openid, email, profile, offline_access]",
                )
                .key("upstream.scopes"),
            );
        } else if !has(OPENID) {
            f.push(
                Finding::new(
                    entry!("static.scope_openid_missing"),
                    format!(
                        "upstream.scopes lacks openid: the IdP then issues no ID token, and provider {p} verifies the upstream ID token at the callback"
                    ),
                    "Add openid to upstream.scopes",
                )
                .key("upstream.scopes"),
            );
        }
    }
    let wants_offline = matches!(
        p,
        ProviderKind::Oidc | ProviderKind::Auth0 | ProviderKind::Azure | ProviderKind::Workos
    );
    if wants_offline && !up.is_empty() && !has(OFFLINE) {
        f.push(
            Finding::new(
                entry!("static.scope_offline_access_missing"),
                "upstream.scopes lacks offline_access: most OIDC providers then issue no refresh token, so the proxy cannot refresh the upstream token and users must log in again when it expires",
                "Add offline_access to upstream.scopes (Auth0 also needs \"Allow Offline Access\" on the API)",
            )
            .otherwise_if(p == ProviderKind::Oidc)
            .key("upstream.scopes"),
        );
    }
    if !up.is_empty() {
        for s in &c.upstream.verifier.required_scopes {
            if !up.contains(s) {
                f.push(
                    Finding::new(
                        entry!("static.verifier_scope_not_requested"),
                        format!(
                            "upstream.verifier.required_scopes needs {s}, but upstream.scopes never requests it, so no upstream token will carry it"
                        ),
                        format!("Add {s} to upstream.scopes, or drop it from upstream.verifier.required_scopes"),
                    )
                    .key("upstream.verifier.required_scopes"),
                );
            }
        }
    }
    if let Some(req) = &c.required_scopes {
        for s in req.iter().filter(|s| !c.valid_scopes.contains(s)) {
            f.push(
                Finding::new(
                    entry!("static.required_scope_not_valid"),
                    format!(
                        "required_scopes has {s}, which is not in valid_scopes: no client could obtain a token that passes the guard"
                    ),
                    format!("Add {s} to valid_scopes, or remove it from required_scopes"),
                )
                .key("required_scopes"),
            );
        }
    }
    if c.valid_scopes.is_empty() {
        f.push(
            Finding::new(
                entry!("static.valid_scopes_empty"),
                "valid_scopes is empty: MCP clients can only be authorized without scopes, and the proxy advertises none",
                "List the scopes clients may request, e.g. valid_scopes: [openid, email]",
            )
            .key("valid_scopes"),
        );
    }
}

/// Append what [`ProxyConfig::problems`] reports, one `config.invalid` error per line, except
/// lines about a key that already has an error (the specific finding explains it better).
/// When the preset cannot be built, only its causes are reported: the other lines would be
/// consequences (no endpoints without the domain, …).
pub fn with_config_problems(ctx: &Context, mut findings: Vec<Finding>) -> Vec<Finding> {
    let lines = if ctx.blockers.is_empty() {
        problems_of(&ctx.written)
    } else {
        ctx.blockers.iter().map(|l| split_problem(l)).collect()
    };
    let extra: Vec<Finding> = lines
        .into_iter()
        .filter(|(key, _)| {
            !findings.iter().any(|f| {
                f.severity() == Severity::Error && f.key.as_deref() == Some(key.as_str())
            })
        })
        .map(|(key, message)| {
            if key.is_empty() {
                Finding::new(
                    entry!("config.invalid"),
                    format!("`serve` refuses this configuration: {message}"),
                    "Correct the configuration as the message says; the proxy will not start until then",
                )
            } else {
                Finding::new(
                    entry!("config.invalid"),
                    format!("`serve` refuses this configuration: {key}: {message}"),
                    format!("Correct {key} as the message says; the proxy will not start until then"),
                )
                .key(key)
            }
        })
        .collect();
    findings.extend(extra);
    findings
}

/// `(key, message)` for each line of [`ProxyConfig::problems`] (`key: message`).
fn problems_of(c: &ProxyConfig) -> Vec<(String, String)> {
    c.problems().iter().map(|l| split_problem(l)).collect()
}

fn split_problem(line: &str) -> (String, String) {
    match line.split_once(": ") {
        Some((k, m)) if !k.contains(' ') => (k.to_string(), m.to_string()),
        _ => (String::new(), line.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_remote() {
        assert!(is_cleartext_remote("http://idp.example.com/x"));
        assert!(!is_cleartext_remote("http://127.0.0.1:9000/x"));
        assert!(!is_cleartext_remote("http://localhost/x"));
        assert!(!is_cleartext_remote("https://idp.example.com/x"));
        assert!(!is_cleartext_remote("not a url"));
    }

    #[test]
    fn problems_split_on_key() {
        let c = ProxyConfig::default();
        let p = problems_of(&c);
        assert!(p.iter().any(|(k, _)| k == "upstream.client_id"), "{p:?}");
    }

    #[test]
    fn deployment_picks_the_catalogue_severity() {
        let f = |d| {
            Finding::new(entry!("static.storage_memory"), "m", "f")
                .for_deployment(d)
                .severity()
        };
        assert_eq!(f(Deployment::Production), Severity::Error);
        assert_eq!(f(Deployment::Development), Severity::Info);
        // An entry with one severity keeps it.
        let one = Finding::new(entry!("static.backend_cleartext"), "m", "f")
            .for_deployment(Deployment::Development);
        assert_eq!(one.severity(), Severity::Warning);
    }
}
