//! Provider quirks (`preset.<provider>.*`): what each IdP documents and what breaks in
//! production when it is missed (see the preset table in [`crate::proxy::config`]).
//!
//! The rules `serve` refuses to start without are written once, as
//! [`PresetViolation`]s in the configuration module; here each becomes its own finding, with
//! the same message and a fix. The advisory checks below (warnings and infos `serve` does not
//! enforce) look at the configuration as written (so an explicit value is judged, not a preset
//! default) and at the resolved one (so a preset default that was overridden is noticed).

use super::Context;
use super::catalogue::{Entry, entry};
use super::finding::Finding;
use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::config::{PresetViolation, ProviderKind, VerifierKind};

/// Every preset check for the configured provider.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut f: Vec<Finding> = ctx
        .written
        .preset_violations()
        .iter()
        .map(violation)
        .collect();
    match ctx.written.provider {
        ProviderKind::Google => google(ctx, &mut f),
        ProviderKind::Azure => azure(ctx, &mut f),
        ProviderKind::Github => github(ctx, &mut f),
        ProviderKind::Workos | ProviderKind::Authkit => workos(ctx, &mut f),
        ProviderKind::Keycloak => keycloak(ctx, &mut f),
        ProviderKind::Oidc | ProviderKind::Oauth | ProviderKind::Auth0 => {}
    }
    f
}

fn google(ctx: &Context, f: &mut Vec<Finding>) {
    let w = &ctx.written.upstream;
    let u = &ctx.effective().upstream;
    match w.token_endpoint_auth_method {
        Some(ClientAuthMethod::ClientSecretBasic) => f.push(
            Finding::new(
                entry!("preset.google.auth_method"),
                "token_endpoint_auth_method is client_secret_basic; Google documents client_secret_post for its token endpoint",
                "Remove token_endpoint_auth_method (the google preset uses client_secret_post) or set it to client_secret_post",
            )
            .key("upstream.token_endpoint_auth_method"),
        ),
        Some(ClientAuthMethod::None) => f.push(
            Finding::new(
                entry!("preset.google.auth_method"),
                "token_endpoint_auth_method is none; Google's web-application clients must authenticate with their client secret",
                "Set AUTHPROOF_UPSTREAM__CLIENT_SECRET and remove token_endpoint_auth_method (the preset uses client_secret_post)",
            )
            .otherwise_if(true)
            .key("upstream.token_endpoint_auth_method"),
        ),
        _ => {}
    }
    let param = |k: &str| u.extra_authorize_params.get(k).map(String::as_str);
    if param("access_type") != Some("offline") {
        f.push(
            Finding::new(
                entry!("preset.google.access_type"),
                format!(
                    "extra_authorize_params.access_type is {:?}, not offline: Google then issues no refresh token and users must log in again every hour",
                    param("access_type").unwrap_or("unset")
                ),
                "Remove the override (the google preset sends access_type=offline) or set access_type: offline",
            )
            .key("upstream.extra_authorize_params"),
        );
    }
    if param("prompt") != Some("consent") {
        f.push(
            Finding::new(
                entry!("preset.google.prompt"),
                "extra_authorize_params.prompt is not consent: Google issues a refresh token only on a user's first consent, so users who consented before get none",
                "Keep the preset's prompt=consent unless you store refresh tokens elsewhere",
            )
            .key("upstream.extra_authorize_params"),
        );
    }
    if u.scopes.iter().any(|s| s == "offline_access") {
        f.push(
            Finding::new(
                entry!("preset.google.offline_access_scope"),
                "upstream.scopes has offline_access, which Google rejects (invalid_scope); Google grants offline access through access_type=offline instead",
                "Remove offline_access from upstream.scopes",
            )
            .key("upstream.scopes"),
        );
    }
}

fn azure(ctx: &Context, f: &mut Vec<Finding>) {
    let c = ctx.effective();
    // Without a scope of the operator's own API (api://…/name), Entra ID issues access tokens
    // for Microsoft Graph: signed for Graph alone (a nonce in the header), so no JWT verifier
    // outside Microsoft can check them.
    let own_api = c
        .upstream
        .scopes
        .iter()
        .any(|s| s.contains('/') && !s.starts_with("https://graph.microsoft.com/"));
    if c.verifier_kind() == VerifierKind::Jwt && !own_api {
        f.push(
            Finding::new(
                entry!("preset.azure.verifier"),
                format!(
                    "upstream.verifier.kind is jwt, but upstream.scopes ({}) names no API of your own, so Entra ID issues Microsoft Graph access tokens, which only Graph can verify: every login would fail at the callback",
                    c.upstream.scopes.join(" ")
                ),
                "Remove upstream.verifier.kind (the azure preset checks the ID token), or expose an API in the app registration and add its scope (api://<app-id>/<scope>) to upstream.scopes with verifier.audience set to it",
            )
            .key("upstream.verifier.kind"),
        );
    }
    match ctx.written.upstream.tenant.as_deref() {
        None => f.push(
            Finding::new(
                entry!("preset.azure.tenant_missing"),
                "upstream.tenant is not set, so the preset uses `common`: accounts from any Entra ID tenant and personal Microsoft accounts can sign in, and the ID token issuer cannot be pinned",
                "Set upstream.tenant to your tenant id (a GUID) or domain (contoso.onmicrosoft.com); use organizations or common only for a multi-tenant app",
            )
            .key("upstream.tenant"),
        ),
        Some(t @ ("common" | "organizations" | "consumers")) => f.push(
            Finding::new(
                entry!("preset.azure.multi_tenant"),
                format!("upstream.tenant is {t}: a multi-tenant endpoint, open to users of other tenants"),
                "Use your tenant id for a single-tenant app",
            )
            .key("upstream.tenant"),
        ),
        Some(_) => {}
    }
}

fn github(ctx: &Context, f: &mut Vec<Finding>) {
    let c = ctx.effective();
    if c.upstream.scopes.iter().any(|s| s == "openid") {
        f.push(
            Finding::new(
                entry!("preset.github.openid_scope"),
                "upstream.scopes has openid, which GitHub OAuth apps do not know (GitHub is not an OIDC provider)",
                "Use GitHub scopes, e.g. [read:user, user:email]",
            )
            .key("upstream.scopes"),
        );
    }
}

fn workos(ctx: &Context, f: &mut Vec<Finding>) {
    let p = ctx.written.provider;
    let domain = ctx
        .written
        .upstream
        .domain
        .as_deref()
        .filter(|d| !d.trim().is_empty());
    // Without a domain: PresetViolation::DomainMissing.
    let Some(d) = domain else { return };
    let n = crate::proxy::config::normalize_domain(d);
    if url::Url::parse(&n).is_ok_and(|u| u.path() != "/" && !u.path().is_empty()) {
        f.push(
            Finding::new(
                if p == ProviderKind::Authkit {
                    entry!("preset.authkit.domain_path")
                } else {
                    entry!("preset.workos.domain_path")
                },
                format!("upstream.domain {d} has a path; AuthKit domains are bare hosts, and the preset appends /oauth2/… to it"),
                "Use just the scheme and host, e.g. https://your-app.authkit.app",
            )
            .key("upstream.domain"),
        );
    }
}

fn keycloak(ctx: &Context, f: &mut Vec<Finding>) {
    let w = &ctx.written.upstream;
    if let Some(d) = w.domain.as_deref()
        && w.config_url.is_none()
        && !d.contains("/realms/")
    {
        f.push(
            Finding::new(
                entry!("preset.keycloak.realm_url"),
                format!("upstream.domain {d} has no /realms/<name>; Keycloak's discovery lives under the realm URL"),
                "Set upstream.domain to the realm URL, e.g. https://keycloak.example.com/realms/myrealm",
            )
            .key("upstream.domain"),
        );
    }
}

/// A rule `serve` enforces, as a finding: the same message, the catalogue entry and a fix.
fn violation(v: &PresetViolation) -> Finding {
    let (e, fix): (&'static Entry, &str) = match v {
        PresetViolation::DomainMissing(ProviderKind::Authkit) => (
            entry!("preset.authkit.domain_missing"),
            "Set upstream.domain (or AUTHPROOF_UPSTREAM__DOMAIN) to your AuthKit domain, e.g. https://your-app.authkit.app",
        ),
        PresetViolation::DomainMissing(_) => (
            entry!("preset.workos.domain_missing"),
            "Set upstream.domain (or AUTHPROOF_UPSTREAM__DOMAIN) to your AuthKit domain, e.g. https://your-app.authkit.app",
        ),
        PresetViolation::AzureForwardResource => (
            entry!("preset.azure.forward_resource"),
            "Set upstream.forward_resource: false",
        ),
        PresetViolation::Auth0AudienceMissing => (
            entry!("preset.auth0.audience_missing"),
            "Set upstream.audience to your Auth0 API identifier (Applications → APIs → Identifier), e.g. https://api.example.com",
        ),
        PresetViolation::GithubConfigUrl => (
            entry!("preset.github.no_discovery"),
            "Remove config_url; the github preset knows GitHub's endpoints (set upstream.domain for GitHub Enterprise)",
        ),
        PresetViolation::OpaqueTokens(ProviderKind::Github, _) => (
            entry!("preset.github.verifier"),
            "Remove upstream.verifier.kind (the github preset checks tokens at GET /user) or set it to userinfo",
        ),
        PresetViolation::OpaqueTokens(..) => (
            entry!("preset.google.verifier"),
            "Remove upstream.verifier.kind (the google preset checks tokens at Google's userinfo endpoint) or set it to userinfo or id_token",
        ),
    };
    Finding::new(e, format!("{}: {}", v.key(), v.message()), fix).key(v.key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::config::ProxyConfig;

    /// Each rule `serve` enforces shows up at both call sites with one text: in
    /// `ProxyConfig::problems` (what `serve` prints) and as validate's `preset.*` finding.
    #[test]
    fn serve_and_validate_share_each_rule() {
        let cases = [
            ("provider: workos\n", "preset.workos.domain_missing"),
            ("provider: authkit\n", "preset.authkit.domain_missing"),
            (
                "provider: azure\nupstream:\n  client_id: a\n  forward_resource: true\n",
                "preset.azure.forward_resource",
            ),
            (
                "provider: auth0\nupstream:\n  domain: t.auth0.com\n  client_id: a\n",
                "preset.auth0.audience_missing",
            ),
            (
                "provider: github\nupstream:\n  client_id: a\n  config_url: https://github.com/.well-known/openid-configuration\n",
                "preset.github.no_discovery",
            ),
            (
                "provider: github\nupstream:\n  client_id: a\n  verifier: { kind: id_token }\n",
                "preset.github.verifier",
            ),
            (
                "provider: google\nupstream:\n  client_id: a\n  verifier: { kind: jwt }\n",
                "preset.google.verifier",
            ),
        ];
        for (yaml, id) in cases {
            let written = ProxyConfig::from_yaml_and_env(yaml, "<test>", Vec::new()).unwrap();
            let violations = written.preset_violations();
            assert_eq!(violations.len(), 1, "{yaml}: {violations:?}");
            let line = violations[0].to_string();
            assert!(
                written.problems().contains(&line),
                "{yaml}: serve lacks {line}"
            );
            let ctx = Context::new(written, serde_json::Value::Null, true);
            let found: Vec<Finding> = check(&ctx).into_iter().filter(|f| f.id() == id).collect();
            assert_eq!(found.len(), 1, "{yaml}: {id}");
            assert_eq!(found[0].message, line);
            assert_eq!(found[0].key.as_deref(), Some(violations[0].key()));
        }
        // Userinfo on Google and GitHub breaks no rule.
        let ok = ProxyConfig::from_yaml_and_env(
            "provider: google\nupstream:\n  client_id: a\n",
            "<test>",
            Vec::new(),
        )
        .unwrap();
        assert!(ok.preset_violations().is_empty());
    }
}
