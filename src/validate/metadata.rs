//! Checks on the IdP's metadata document (OIDC discovery or RFC 8414), once fetched: the
//! issuer byte for byte, endpoints present and usable, strict OIDC fields, the advertised
//! client-authentication methods, PKCE, scopes, grant and response types, ID-token
//! algorithms, and (AuthKit) the registration endpoint. Pure: no I/O.

use super::Context;
use super::catalogue::entry;
use super::finding::Finding;
use super::report::NOTHING_TO_DO;
use super::static_checks::is_cleartext_remote;
use crate::oauth::client_auth::ClientAuthMethod;
use crate::proxy::config::{ProviderKind, ProxyConfig, normalize_domain};
use crate::proxy::upstream::Discovered;

/// The IdP's metadata document and where it came from.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// Where it was fetched from.
    pub url: String,
    /// What it says.
    pub discovered: Discovered,
}

/// The metadata document to fetch, and the key it comes from: `config_url`, or AuthKit's
/// RFC 8414 document under the domain (workos, authkit).
pub fn metadata_url(c: &ProxyConfig) -> Option<(String, &'static str)> {
    if let Some(u) = &c.upstream.config_url {
        return Some((u.clone(), "upstream.config_url"));
    }
    match c.provider {
        ProviderKind::Workos | ProviderKind::Authkit => c.upstream.domain.as_deref().map(|d| {
            (
                format!(
                    "{}/.well-known/oauth-authorization-server",
                    normalize_domain(d)
                ),
                "upstream.domain",
            )
        }),
        _ => None,
    }
}

/// The issuer the configuration implies, and the key that implies it.
fn expected_issuer(ctx: &Context, c: &ProxyConfig) -> Option<(String, &'static str)> {
    if let Some(i) = &ctx.written.upstream.verifier.issuer {
        return Some((i.clone(), "upstream.verifier.issuer"));
    }
    if matches!(c.provider, ProviderKind::Workos | ProviderKind::Authkit)
        && c.upstream.config_url.is_none()
    {
        return c
            .upstream
            .domain
            .as_deref()
            .map(|d| (normalize_domain(d), "upstream.domain"));
    }
    let url = c.upstream.config_url.as_deref()?;
    if let Some(prefix) = url.strip_suffix("/.well-known/openid-configuration") {
        return Some((prefix.to_string(), "upstream.config_url"));
    }
    if let Some(prefix) = url.strip_suffix("/.well-known/oauth-authorization-server") {
        return Some((prefix.to_string(), "upstream.config_url"));
    }
    // RFC 8414 §3: the well-known segment goes between the host and the issuer's path.
    let u = url::Url::parse(url).ok()?;
    let rest = u
        .path()
        .strip_prefix("/.well-known/oauth-authorization-server")?;
    Some((
        format!("{}{rest}", u.origin().ascii_serialization()),
        "upstream.config_url",
    ))
}

impl Metadata {
    /// A URL-valued field of the document, as read by [`Discovered`].
    fn endpoint(&self, field: &str) -> Option<&str> {
        let d = &self.discovered;
        match field {
            "authorization_endpoint" => d.authorization_endpoint.as_deref(),
            "token_endpoint" => d.token_endpoint.as_deref(),
            "jwks_uri" => d.jwks_uri.as_deref(),
            "userinfo_endpoint" => d.userinfo_endpoint.as_deref(),
            "registration_endpoint" => d.registration_endpoint.as_deref(),
            "revocation_endpoint" => d.revocation_endpoint.as_deref(),
            "introspection_endpoint" => d.introspection_endpoint.as_deref(),
            _ => None,
        }
    }
}

pub fn metadata_checks(ctx: &Context, c: &ProxyConfig, m: &Metadata) -> Vec<Finding> {
    let mut f = Vec::new();
    let d = &m.discovered;
    let url = &m.url;
    let remote = c.provider.is_remote_auth();
    issuer_check(ctx, c, m, &mut f);
    let str_of = |k: &str| m.endpoint(k);
    let mut required: Vec<(&str, &str)> = Vec::new();
    if !remote {
        if c.upstream.authorization_endpoint.is_none() {
            required.push(("authorization_endpoint", "upstream.authorization_endpoint"));
        }
        if c.upstream.token_endpoint.is_none() {
            required.push(("token_endpoint", "upstream.token_endpoint"));
        }
    }
    for (field, key) in required {
        if str_of(field).is_none() {
            f.push(
                Finding::new(
                    entry!("live.endpoint_missing"),
                    format!("the metadata at {url} has no {field}"),
                    format!("Set {key} explicitly, or point upstream.config_url at the IdP's complete document"),
                )
                .key(key),
            );
        }
    }
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "registration_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
    ] {
        let Some(v) = str_of(field) else { continue };
        let bad = match url::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                is_cleartext_remote(v).then(|| "plain http on a non-loopback host".to_string())
            }
            Ok(u) => Some(format!("scheme {} is not http(s)", u.scheme())),
            Err(e) => Some(format!("not a URL ({e})")),
        };
        if let Some(why) = bad {
            f.push(Finding::new(
                entry!("live.endpoint_invalid"),
                format!("the metadata's {field} {v:?} is unusable: {why}"),
                "Fix the IdP's metadata, or configure the endpoint explicitly",
            ));
        }
    }
    // Configured endpoints that disagree with the IdP's own metadata.
    for (field, configured, key) in [
        (
            "authorization_endpoint",
            &c.upstream.authorization_endpoint,
            "upstream.authorization_endpoint",
        ),
        (
            "token_endpoint",
            &c.upstream.token_endpoint,
            "upstream.token_endpoint",
        ),
    ] {
        if remote {
            break;
        }
        if let (Some(mine), Some(theirs)) = (configured, str_of(field))
            && mine != theirs
        {
            f.push(
                Finding::new(
                    entry!("live.endpoint_differs"),
                    format!("{key} is {mine}, but the IdP's metadata says {theirs}"),
                    format!("Use the IdP's {field} (or remove the explicit setting and let discovery supply it)"),
                )
                .key(key),
            );
        }
    }
    if c.provider.is_oidc() && c.upstream.strict && c.upstream.config_url.is_some() {
        let problems = m.discovered.oidc_problems();
        if !problems.is_empty() {
            f.push(
                Finding::new(
                    entry!("live.discovery_not_strict"),
                    format!(
                        "the discovery document at {url} is not a complete OIDC configuration ({}); with upstream.strict the proxy refuses it",
                        problems.join("; ")
                    ),
                    "Set upstream.strict: false if the IdP is known to omit these fields",
                )
                .key("upstream.strict"),
            );
        }
    }
    if !remote {
        auth_method_check(c, d, url, &mut f);
    }
    pkce_check(c, d, url, &mut f);
    scope_check(c, d, url, &mut f);
    if let Some(rt) = &d.response_types_supported
        && !rt.iter().any(|t| t == "code")
    {
        f.push(Finding::new(
            entry!("live.response_type_unsupported"),
            format!(
                "the IdP's response_types_supported ({}) lacks code",
                rt.join(", ")
            ),
            "Use an IdP (or client type) that supports the authorization code flow",
        ));
    }
    if let Some(g) = &d.grant_types_supported
        && !remote
    {
        if !g.iter().any(|t| t == "authorization_code") {
            f.push(Finding::new(
                entry!("live.grant_unsupported"),
                format!(
                    "the IdP's grant_types_supported ({}) lacks authorization_code",
                    g.join(", ")
                ),
                "Use an IdP that supports the authorization code grant",
            ));
        } else if !g.iter().any(|t| t == "refresh_token") {
            f.push(Finding::new(
                entry!("live.refresh_unsupported"),
                "the IdP does not list refresh_token in grant_types_supported: upstream tokens cannot be refreshed",
                "Expect users to log in again when the upstream token expires",
            ));
        }
    }
    if c.provider.is_oidc()
        && let Some(algs) = &d.id_token_signing_alg_values_supported
    {
        let mine = c.upstream.verifier.algorithms();
        if !mine.iter().any(|a| algs.iter().any(|x| x == a.as_str())) {
            f.push(
                Finding::new(
                    entry!("live.id_token_alg_unsupported"),
                    format!(
                        "the IdP signs ID tokens with {}, none of which is in upstream.verifier.algorithms ({})",
                        algs.join(", "),
                        mine.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    "Add the IdP's algorithm to upstream.verifier.algorithms",
                )
                .key("upstream.verifier.algorithms"),
            );
        }
    }
    if remote {
        if str_of("registration_endpoint").is_none() {
            f.push(
                Finding::new(
                    entry!("live.registration_endpoint_missing"),
                    format!("AuthKit's metadata at {url} has no registration_endpoint: MCP clients cannot register (AuthKit does DCR in this mode)"),
                    "Enable Dynamic Client Registration in the WorkOS dashboard (Connect → Configuration)",
                )
                .key("upstream.domain"),
            );
        } else {
            f.push(Finding::new(
                entry!("live.registration_endpoint_ok"),
                format!(
                    "AuthKit's metadata lists registration_endpoint {}",
                    str_of("registration_endpoint").unwrap_or("")
                ),
                NOTHING_TO_DO,
            ));
        }
    }
    f
}

fn issuer_check(ctx: &Context, c: &ProxyConfig, m: &Metadata, f: &mut Vec<Finding>) {
    let got = m.discovered.issuer.as_deref();
    let expected = expected_issuer(ctx, c);
    let Some(got) = got else {
        let plain_oauth = !(c.provider.is_oidc() || c.provider.is_remote_auth());
        f.push(
            Finding::new(
                entry!("live.issuer_missing"),
                format!("the metadata at {} has no issuer", m.url),
                "Point upstream.config_url at the IdP's real discovery document",
            )
            .otherwise_if(plain_oauth),
        );
        return;
    };
    // A discovery URL is the issuer with any terminating `/` removed, then the well-known
    // suffix (OIDC Discovery §4, RFC 8414 §3), so an issuer derived from it may carry one
    // trailing slash (Auth0's does). Explicitly configured issuers must match exactly.
    let matches = |want: &str, key: &str| {
        want == got || (key == "upstream.config_url" && got.strip_suffix('/') == Some(want))
    };
    match expected {
        Some((want, key)) if !matches(&want, key) => {
            if c.provider == ProviderKind::Azure
                && (got.contains("{tenantid}")
                    || got.starts_with("https://login.microsoftonline.com/"))
            {
                // Entra ID names itself by tenant id, whatever name the tenant was given as.
                f.push(
                    Finding::new(
                        entry!("live.issuer_tenant"),
                        format!(
                            "Entra ID names itself {got:?}{}; ID tokens are checked against that",
                            if got.contains("{tenantid}") {
                                ", a multi-tenant template: each user's own tenant appears in their tokens"
                            } else {
                                " (by tenant id)"
                            }
                        ),
                        "Set upstream.tenant to your tenant id (a GUID) to pin the issuer",
                    )
                    .key("upstream.tenant"),
                );
                return;
            }
            let hint = if want.trim_end_matches('/') == got.trim_end_matches('/') {
                " (they differ only in the trailing slash, and issuers are compared byte for byte)"
            } else {
                ""
            };
            let fix = match key {
                "upstream.verifier.issuer" => format!("Set upstream.verifier.issuer: {got:?}"),
                "upstream.domain" => {
                    format!("Set upstream.domain to {got:?}, exactly as the IdP names itself")
                }
                _ => format!(
                    "Fetch discovery under the exact issuer ({}/.well-known/openid-configuration); if the IdP really answers there with another issuer, its metadata is wrong and tokens will fail the issuer check",
                    got.trim_end_matches('/')
                ),
            };
            f.push(
                Finding::new(
                    entry!("live.issuer_mismatch"),
                    format!("the IdP's issuer is {got:?}, but {key} implies {want:?}{hint}"),
                    fix,
                )
                .key(key),
            );
        }
        Some((want, _)) => f.push(Finding::new(
            entry!("live.issuer_ok"),
            if want == got {
                format!("the IdP's issuer {got:?} is exactly the expected one")
            } else {
                format!(
                    "the IdP's issuer {got:?} matches its discovery URL (the terminating `/` is dropped there)"
                )
            },
            NOTHING_TO_DO,
        )),
        None => f.push(Finding::new(
            entry!("live.issuer"),
            format!("the IdP's issuer is {got:?}"),
            NOTHING_TO_DO,
        )),
    }
}

fn auth_method_check(c: &ProxyConfig, d: &Discovered, url: &str, f: &mut Vec<Finding>) {
    let method = c.upstream.auth_method();
    let key = "upstream.token_endpoint_auth_method";
    match &d.token_endpoint_auth_methods_supported {
        Some(list) if !list.iter().any(|m| m == method.as_str()) => {
            let better = [
                ClientAuthMethod::ClientSecretPost,
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::None,
            ]
            .into_iter()
            .find(|m| list.iter().any(|x| x == m.as_str()));
            f.push(
                Finding::new(
                    entry!("live.token_auth_method_unsupported"),
                    format!(
                        "the IdP's token_endpoint_auth_methods_supported ({}) does not list {method}",
                        list.join(", ")
                    ),
                    match better {
                        Some(b) => format!("Set upstream.token_endpoint_auth_method: {b}"),
                        None => "The IdP supports none of client_secret_basic, client_secret_post and none; the proxy cannot authenticate to it".to_string(),
                    },
                )
                .key(key),
            );
        }
        Some(_) => {}
        None if method != ClientAuthMethod::ClientSecretBasic => f.push(
            Finding::new(
                entry!("live.token_auth_methods_unadvertised"),
                format!("the metadata at {url} has no token_endpoint_auth_methods_supported, whose default is client_secret_basic, and the proxy uses {method}"),
                "Rely on the token-endpoint probe below; switch to client_secret_basic if it reports invalid_client",
            )
            .key(key),
        ),
        None => {}
    }
}

fn pkce_check(c: &ProxyConfig, d: &Discovered, url: &str, f: &mut Vec<Finding>) {
    match &d.code_challenge_methods_supported {
        Some(list) if !list.iter().any(|m| m == "S256") => f.push(Finding::new(
            entry!("live.pkce_s256_missing"),
            format!(
                "the IdP's code_challenge_methods_supported ({}) lacks S256, which the proxy always uses{}",
                list.join(", "),
                if c.provider.is_remote_auth() {
                    " and MCP clients require"
                } else {
                    ""
                }
            ),
            "Enable PKCE with S256 for this client at the IdP",
        )),
        Some(_) => {}
        None => f.push(Finding::new(
            if c.provider.is_remote_auth() {
                entry!("live.pkce_s256_missing")
            } else {
                entry!("live.pkce_unadvertised")
            },
            format!(
                "the metadata at {url} has no code_challenge_methods_supported{}",
                if c.provider.is_remote_auth() {
                    ": MCP clients refuse an authorization server that does not advertise S256"
                } else {
                    ": the proxy sends S256 anyway, but cannot tell whether the IdP checks it"
                }
            ),
            "Confirm that the IdP supports PKCE with S256",
        )),
    }
}

fn scope_check(c: &ProxyConfig, d: &Discovered, url: &str, f: &mut Vec<Finding>) {
    let Some(supported) = &d.scopes_supported else {
        return;
    };
    let (wanted, key) = if c.provider.is_remote_auth() {
        (c.effective_required_scopes(), "required_scopes")
    } else {
        (c.upstream.scopes.clone(), "upstream.scopes")
    };
    for s in wanted.iter().filter(|s| !supported.contains(s)) {
        f.push(
            Finding::new(
                entry!("live.scope_unsupported"),
                format!(
                    "{key} has {s}, which the IdP's scopes_supported at {url} ({}) does not list; the IdP may refuse it with invalid_scope",
                    supported.join(", ")
                ),
                format!("Remove {s} or check its exact name at the IdP (custom API scopes are often unlisted)"),
            )
            .key(key),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Severity;
    use serde_json::{Value, json};

    fn ctx(yaml: &str) -> Context {
        let written = ProxyConfig::from_yaml_and_env(yaml, "<test>", Vec::new()).unwrap();
        Context::new(written, Value::Null, true)
    }

    fn run(yaml: &str, doc: Value) -> Vec<Finding> {
        let c = ctx(yaml);
        let r = c.resolved.clone().unwrap();
        let m = Metadata {
            url: "https://idp.example.com/.well-known/openid-configuration".into(),
            discovered: Discovered::from_document(doc).unwrap(),
        };
        metadata_checks(&c, &r, &m)
    }

    fn good_doc() -> Value {
        json!({
            "issuer": "https://idp.example.com",
            "authorization_endpoint": "https://idp.example.com/authorize",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email"],
        })
    }

    const OIDC: &str = "provider: oidc\nupstream:\n  config_url: https://idp.example.com/.well-known/openid-configuration\n  client_id: app\n  client_secret: s3cret-value\n  token_endpoint_auth_method: client_secret_post\n  scopes: [openid, email]\n";

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.severity() != Severity::Info)
            .map(|f| f.id())
            .collect()
    }

    #[test]
    fn expected_issuers() {
        let e = |yaml: &str| {
            let c = ctx(yaml);
            let r = c.resolved.clone().unwrap();
            expected_issuer(&c, &r)
        };
        assert_eq!(
            e(OIDC),
            Some(("https://idp.example.com".into(), "upstream.config_url"))
        );
        let rfc8414 = OIDC.replace(
            "https://idp.example.com/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant-a",
        );
        assert_eq!(
            e(&rfc8414),
            Some((
                "https://idp.example.com/tenant-a".into(),
                "upstream.config_url"
            ))
        );
        assert_eq!(
            e(
                "provider: workos\nupstream:\n  domain: your-app.authkit.app/\n  client_id: c\n  client_secret: s3cret-value\n"
            ),
            Some(("https://your-app.authkit.app".into(), "upstream.domain"))
        );
        let custom = OIDC.replace("/.well-known/openid-configuration", "/meta.json");
        assert_eq!(e(&custom), None);
    }

    #[test]
    fn a_good_document_has_no_findings_but_info() {
        assert!(ids(&run(OIDC, good_doc())).is_empty());
        // Auth0-style: the issuer keeps the slash its discovery URL dropped.
        let mut d = good_doc();
        d["issuer"] = json!("https://idp.example.com/");
        assert!(ids(&run(OIDC, d.clone())).is_empty());
        // ... but an explicitly configured issuer must match byte for byte.
        let explicit = OIDC.replace(
            "  scopes: [openid, email]\n",
            "  scopes: [openid, email]\n  verifier: { issuer: \"https://idp.example.com\" }\n",
        );
        assert_eq!(ids(&run(&explicit, d)), ["live.issuer_mismatch"]);
    }

    #[test]
    fn each_defect_is_named() {
        let mut d = good_doc();
        d["issuer"] = json!("https://idp.example.com/tenant");
        d["token_endpoint_auth_methods_supported"] = json!(["client_secret_basic"]);
        d["code_challenge_methods_supported"] = json!(["plain"]);
        d["scopes_supported"] = json!(["openid"]);
        d["response_types_supported"] = json!(["token"]);
        d["id_token_signing_alg_values_supported"] = json!(["ES256"]);
        d.as_object_mut().unwrap().remove("subject_types_supported");
        let found = run(OIDC, d);
        let mut got = ids(&found);
        got.sort();
        assert_eq!(
            got,
            [
                "live.discovery_not_strict",
                "live.id_token_alg_unsupported",
                "live.issuer_mismatch",
                "live.pkce_s256_missing",
                "live.response_type_unsupported",
                "live.scope_unsupported",
                "live.token_auth_method_unsupported",
            ]
        );
    }

    #[test]
    fn explicit_endpoints_that_disagree_and_cleartext_ones() {
        let yaml = OIDC.replace(
            "  client_id: app\n",
            "  client_id: app\n  token_endpoint: https://other.example.com/token\n",
        );
        let mut d = good_doc();
        d["jwks_uri"] = json!("http://idp.example.com/jwks");
        let f = run(&yaml, d);
        assert!(f.iter().any(|f| f.id() == "live.endpoint_differs"));
        assert!(f.iter().any(|f| f.id() == "live.endpoint_invalid"));
    }
}
