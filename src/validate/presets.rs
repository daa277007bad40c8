//! Provider quirks (`preset.<provider>.*`): what each IdP documents and what breaks in
//! production when it is missed (see the preset table in [`crate::proxy::config`]).
//!
//! These look at the configuration as written (so an explicit value is judged, not a preset
//! default) and at the resolved one (so a preset default that was overridden is noticed).

use super::Context;
use super::finding::Finding;
use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::config::{ProviderKind, VerifierKind};

/// Every preset check for the configured provider.
pub fn check(ctx: &Context) -> Vec<Finding> {
    let mut f = Vec::new();
    match ctx.written.provider {
        ProviderKind::Google => google(ctx, &mut f),
        ProviderKind::Azure => azure(ctx, &mut f),
        ProviderKind::Auth0 => auth0(ctx, &mut f),
        ProviderKind::Github => github(ctx, &mut f),
        ProviderKind::Workos | ProviderKind::Authkit => workos(ctx, &mut f),
        ProviderKind::Keycloak => keycloak(ctx, &mut f),
        ProviderKind::Oidc | ProviderKind::Oauth => {}
    }
    f
}

fn google(ctx: &Context, f: &mut Vec<Finding>) {
    let w = &ctx.written.upstream;
    let u = &ctx.effective().upstream;
    match w.token_endpoint_auth_method {
        Some(ClientAuthMethod::ClientSecretBasic) => f.push(
            Finding::warning(
                "preset.google.auth_method",
                "token_endpoint_auth_method is client_secret_basic; Google documents client_secret_post for its token endpoint",
                "Remove token_endpoint_auth_method (the google preset uses client_secret_post) or set it to client_secret_post",
            )
            .key("upstream.token_endpoint_auth_method"),
        ),
        Some(ClientAuthMethod::None) => f.push(
            Finding::error(
                "preset.google.auth_method",
                "token_endpoint_auth_method is none; Google's web-application clients must authenticate with their client secret",
                "Set AUTHPROOF_UPSTREAM__CLIENT_SECRET and remove token_endpoint_auth_method (the preset uses client_secret_post)",
            )
            .key("upstream.token_endpoint_auth_method"),
        ),
        _ => {}
    }
    let param = |k: &str| u.extra_authorize_params.get(k).map(String::as_str);
    if param("access_type") != Some("offline") {
        f.push(
            Finding::warning(
                "preset.google.access_type",
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
            Finding::info(
                "preset.google.prompt",
                "extra_authorize_params.prompt is not consent: Google issues a refresh token only on a user's first consent, so users who consented before get none",
                "Keep the preset's prompt=consent unless you store refresh tokens elsewhere",
            )
            .key("upstream.extra_authorize_params"),
        );
    }
    if u.scopes.iter().any(|s| s == "offline_access") {
        f.push(
            Finding::error(
                "preset.google.offline_access_scope",
                "upstream.scopes has offline_access, which Google rejects (invalid_scope); Google grants offline access through access_type=offline instead",
                "Remove offline_access from upstream.scopes",
            )
            .key("upstream.scopes"),
        );
    }
}

fn azure(ctx: &Context, f: &mut Vec<Finding>) {
    let u = &ctx.effective().upstream;
    if u.forward_resource {
        f.push(
            Finding::error(
                "preset.azure.forward_resource",
                "upstream.forward_resource is true: Entra ID rejects the `resource` parameter with v2.0 scopes (AADSTS9010010 / invalid_target), so every login fails",
                "Set upstream.forward_resource: false",
            )
            .key("upstream.forward_resource"),
        );
    }
    match ctx.written.upstream.tenant.as_deref() {
        None => f.push(
            Finding::warning(
                "preset.azure.tenant_missing",
                "upstream.tenant is not set, so the preset uses `common`: accounts from any Entra ID tenant and personal Microsoft accounts can sign in, and the ID token issuer cannot be pinned",
                "Set upstream.tenant to your tenant id (a GUID) or domain (contoso.onmicrosoft.com); use organizations or common only for a multi-tenant app",
            )
            .key("upstream.tenant"),
        ),
        Some(t @ ("common" | "organizations" | "consumers")) => f.push(
            Finding::info(
                "preset.azure.multi_tenant",
                format!("upstream.tenant is {t}: a multi-tenant endpoint, open to users of other tenants"),
                "Use your tenant id for a single-tenant app",
            )
            .key("upstream.tenant"),
        ),
        Some(_) => {}
    }
}

fn auth0(ctx: &Context, f: &mut Vec<Finding>) {
    let u = &ctx.effective().upstream;
    if u.audience_missing() {
        f.push(
            Finding::error(
                "preset.auth0.audience_missing",
                "upstream.audience is not set: without it Auth0 issues opaque access tokens that are only good for its /userinfo, and a JWT verifier cannot check them",
                "Set upstream.audience to your Auth0 API identifier (Applications → APIs → Identifier), e.g. https://api.example.com",
            )
            .key("upstream.audience"),
        );
    }
}

fn github(ctx: &Context, f: &mut Vec<Finding>) {
    let w = &ctx.written.upstream;
    let c = ctx.effective();
    if w.config_url.is_some() {
        f.push(
            Finding::error(
                "preset.github.no_discovery",
                "upstream.config_url is set, but GitHub has no OIDC discovery document",
                "Remove config_url; the github preset knows GitHub's endpoints (set upstream.domain for GitHub Enterprise)",
            )
            .key("upstream.config_url"),
        );
    }
    if matches!(c.verifier_kind(), VerifierKind::Jwt | VerifierKind::IdToken) {
        f.push(
            Finding::error(
                "preset.github.verifier",
                format!(
                    "upstream.verifier.kind is {}, but GitHub issues opaque tokens and no ID tokens",
                    c.verifier_kind()
                ),
                "Remove upstream.verifier.kind (the github preset checks tokens at GET /user) or set it to userinfo",
            )
            .key("upstream.verifier.kind"),
        );
    }
    if c.upstream.scopes.iter().any(|s| s == "openid") {
        f.push(
            Finding::warning(
                "preset.github.openid_scope",
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
    let Some(d) = domain else {
        f.push(
            Finding::error(
                format!("preset.{p}.domain_missing"),
                format!("upstream.domain is not set: provider {p} builds every AuthKit URL from it"),
                "Set upstream.domain (or AUTHPROOF_UPSTREAM__DOMAIN) to your AuthKit domain, e.g. https://your-app.authkit.app",
            )
            .key("upstream.domain"),
        );
        return;
    };
    let n = crate::proxy::config::normalize_domain(d);
    if url::Url::parse(&n).is_ok_and(|u| u.path() != "/" && !u.path().is_empty()) {
        f.push(
            Finding::warning(
                format!("preset.{p}.domain_path"),
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
            Finding::warning(
                "preset.keycloak.realm_url",
                format!("upstream.domain {d} has no /realms/<name>; Keycloak's discovery lives under the realm URL"),
                "Set upstream.domain to the realm URL, e.g. https://keycloak.example.com/realms/myrealm",
            )
            .key("upstream.domain"),
        );
    }
}
