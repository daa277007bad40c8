//! What the proxy benches share to run complete OAuth flows: the mock IdP's configuration,
//! the proxy's configuration as YAML for the `authproof serve` binary, and one complete flow
//! through `authproof::client::FlowClient`.

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use mock_idp::{IdpConfig, MockIdpHandle};
use serde_json::json;

/// The redirect URI every bench client registers.
pub const REDIRECT: &str = "http://127.0.0.1:7777/cb";

/// The mock IdP: `upstream-app` (client_secret_post), user alice; `access_token_format` is
/// `jwt` (the IdP signs an ID token and a JWT access token) or `opaque` (the ID token only);
/// RS256 keys (the default IdP).
pub fn idp_config(access_token_format: &str) -> IdpConfig {
    idp_config_with(access_token_format, "RS256", true)
}

/// [`idp_config`] signing with `algorithm` (`RS256`, `ES256`, `EdDSA`), and with or without a
/// new ID token in each refresh answer.
pub fn idp_config_with(
    access_token_format: &str,
    algorithm: &str,
    id_token_on_refresh: bool,
) -> IdpConfig {
    let text = format!(
        "flavor: oidc\n\
         clients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }}]\n\
         users: [{{ sub: alice, claims: {{ email: alice@example.com }} }}]\n\
         default_user: alice\n\
         keys: {{ algorithm: {algorithm} }}\n\
         tokens: {{ access_token_format: {access_token_format}, id_token_on_refresh: {id_token_on_refresh} }}\n\
         journal: {{ max_entries: 1000 }}\n"
    );
    foundations::yaml::from_str(&text, "<bench idp>").expect("bench idp config")
}

/// The proxy's configuration for `authproof serve` in front of `idp`, with consent, the
/// default bounds and `storage` (`memory`, `file:PATH`, `redis://…`).
pub fn proxy_yaml(idp: &MockIdpHandle, storage: &str) -> String {
    format!(
        "upstream:\n\
         \x20 config_url: {}\n\
         \x20 client_id: upstream-app\n\
         \x20 client_secret: s3cret\n\
         \x20 token_endpoint_auth_method: client_secret_post\n\
         \x20 scopes: [openid, email]\n\
         \x20 timeout: 10s\n\
         valid_scopes: [openid, email]\n\
         allowed_client_redirect_uris: ['http://127.0.0.1:*']\n\
         consent: always\n\
         jwt_signing_key: bench-signing-key-0123456789abcdef\n\
         storage_key: bench-storage-key-0123456789abcdef0123\n\
         storage: '{storage}'\n",
        idp.discovery_url()
    )
}

/// One complete flow: register → authorize with consent (the page is parsed and approved) →
/// headless login at the IdP → callback → token. Returns the access token, or which step
/// failed and how.
pub async fn one_flow(
    http: &reqwest::Client,
    proxy: &str,
    resource: &str,
) -> Result<String, String> {
    one_flow_timed(http, proxy, resource).await.map(|(t, _)| t)
}

/// The requests of a flow, each named by its method and path (`idp` in front for the IdP's),
/// with how long each took.
pub type Steps = Vec<(String, std::time::Duration)>;

/// [`one_flow`], also answering how long each request took.
pub async fn one_flow_timed(
    http: &reqwest::Client,
    proxy: &str,
    resource: &str,
) -> Result<(String, Steps), String> {
    let fc = FlowClient::with_http(proxy, http.clone()).map_err(|e| e.to_string())?;
    fc.set_mcp_url(resource);
    let mut steps = Steps::new();
    let reg = fc
        .register(&json!({"redirect_uris": [REDIRECT], "client_name": "bench"}))
        .await
        .map_err(|e| e.to_string())?;
    if reg.status != 201 {
        return Err(format!("register answered {}: {}", reg.status, reg.body));
    }
    steps.push(("POST /register".into(), reg.elapsed));
    let out = fc
        .authorize(AuthorizeRequest {
            as_user: Some("alice".into()),
            ..AuthorizeRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    if out.consent_page.is_none() {
        return Err(format!("no consent page was shown:\n{out}"));
    }
    if !(out.reached_redirect_uri && out.code.is_some()) {
        return Err(format!("authorization did not produce a code:\n{out}"));
    }
    for hop in &out.hops {
        let Ok(url) = url::Url::parse(&hop.url) else {
            continue;
        };
        let at = if hop.url.starts_with(proxy) {
            ""
        } else {
            "idp "
        };
        steps.push((format!("{at}{} {}", hop.method, url.path()), hop.elapsed));
    }
    let tok = fc
        .token_code(TokenCodeRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    steps.push(("POST /token".into(), tok.elapsed));
    match tok.json_str("access_token") {
        Some(t) if tok.status == 200 => Ok((t.to_owned(), steps)),
        _ => Err(format!("token answered {}: {}", tok.status, tok.body)),
    }
}
