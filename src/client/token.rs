//! Registration (RFC 7591) and the token endpoint family: authorization_code, refresh_token
//! (RFC 6749 §4.1.3, §6) and revocation (RFC 7009).

use super::{ClientError, Exchange, FlowClient, FlowMemory, Param, RawBody, Read};
use crate::oauth::client_auth::basic_header;
use serde_json::Value;

/// How the client authenticates at the token and revocation endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// From the registration: its `token_endpoint_auth_method` with its `client_secret`
    /// (`client_secret_basic` when a secret exists and no method was returned; `none`
    /// — `client_id` in the form — without a secret).
    #[default]
    Auto,
    /// `client_id` in the form, no secret.
    None,
    /// HTTP Basic with `client_id` and this secret (RFC 6749 §2.3.1 encoding); no
    /// `client_id` in the form.
    Basic { secret: String },
    /// `client_id` and `client_secret` in the form.
    Post { secret: String },
    /// No client authentication and no `client_id` at all.
    Nothing,
}

/// An `authorization_code` grant. `Auto` fields come from the flow's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenCodeRequest {
    /// Auto: `authorization_code`.
    pub grant_type: Param,
    /// Auto: the code returned by the last `authorize`.
    pub code: Param,
    /// Auto: the PKCE verifier of the last `authorize`.
    pub code_verifier: Param,
    /// Auto: the redirect URI of the last `authorize`.
    pub redirect_uri: Param,
    /// Auto: the client id of the last `authorize` (else registration).
    pub client_id: Param,
    /// Auto: the remembered resource (omitted when none).
    pub resource: Param,
    pub auth: ClientAuth,
    /// Added to the form after the fields above (repeat a name to duplicate a parameter).
    pub extra: Vec<(String, String)>,
}

/// A `refresh_token` grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshRequest {
    /// Auto: the last refresh token received.
    pub refresh_token: Param,
    /// Auto: the remembered client id.
    pub client_id: Param,
    /// Auto: omitted (clients normally keep the granted scope).
    pub scope: Param,
    /// Auto: the remembered resource (omitted when none).
    pub resource: Param,
    pub auth: ClientAuth,
    pub extra: Vec<(String, String)>,
}

/// An RFC 7009 revocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevokeRequest {
    /// Auto: the last refresh token, else the last access token.
    pub token: Param,
    /// Auto: omitted.
    pub token_type_hint: Param,
    /// Auto: the remembered client id.
    pub client_id: Param,
    pub auth: ClientAuth,
    pub extra: Vec<(String, String)>,
}

impl FlowClient {
    /// POSTs `metadata` as JSON to the registration endpoint. On 2xx, remembers `client_id`,
    /// `client_secret`, `token_endpoint_auth_method` and the first of `redirect_uris` (from
    /// the answer, else from `metadata`).
    pub async fn register(&self, metadata: &Value) -> Result<Exchange, ClientError> {
        let endpoint = self.memory().endpoints.registration;
        let url = self.resolve_url(&endpoint)?;
        let headers = [("accept".to_owned(), "application/json".to_owned())];
        let ex = self
            .send(
                "POST",
                url,
                &headers,
                &RawBody::Json(metadata.clone()),
                Read::Full,
            )
            .await?;
        if (200..300).contains(&ex.status)
            && let Some(answer) = &ex.json
            && let Some(client_id) = answer.get("client_id").and_then(Value::as_str)
        {
            let first_uri = |doc: &Value| {
                doc.get("redirect_uris")?
                    .as_array()?
                    .first()?
                    .as_str()
                    .map(str::to_owned)
            };
            let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
            let redirect = first_uri(answer).or_else(|| first_uri(metadata));
            self.update_memory(|m| {
                m.client_id = Some(client_id.to_owned());
                m.client_secret = text("client_secret");
                m.token_endpoint_auth_method = text("token_endpoint_auth_method");
                m.redirect_uri = redirect;
                m.registrations.insert(
                    client_id.to_owned(),
                    (
                        m.client_secret.clone(),
                        m.token_endpoint_auth_method.clone(),
                    ),
                );
            });
        }
        Ok(ex)
    }

    /// Exchanges an authorization code. On a 200 with an `access_token`, remembers the tokens.
    pub async fn token_code(&self, request: TokenCodeRequest) -> Result<Exchange, ClientError> {
        let m = self.memory();
        let client_id = request.client_id.resolve(|| m.client_id.clone());
        let mut form = Vec::new();
        push(
            &mut form,
            "grant_type",
            request
                .grant_type
                .resolve(|| Some("authorization_code".into())),
        );
        push(&mut form, "code", request.code.resolve(|| m.code.clone()));
        push(
            &mut form,
            "code_verifier",
            request.code_verifier.resolve(|| m.code_verifier.clone()),
        );
        push(
            &mut form,
            "redirect_uri",
            request.redirect_uri.resolve(|| m.redirect_uri.clone()),
        );
        push(
            &mut form,
            "resource",
            request.resource.resolve(|| m.resource.clone()),
        );
        self.token_request(&m, client_id, &request.auth, form, &request.extra)
            .await
    }

    /// Refreshes. On a 200 with an `access_token`, remembers the new tokens (keeping the old
    /// refresh token when none is returned).
    pub async fn refresh(&self, request: RefreshRequest) -> Result<Exchange, ClientError> {
        let m = self.memory();
        let client_id = request.client_id.resolve(|| m.client_id.clone());
        let mut form = Vec::new();
        push(&mut form, "grant_type", Some("refresh_token".into()));
        push(
            &mut form,
            "refresh_token",
            request.refresh_token.resolve(|| m.refresh_token.clone()),
        );
        push(&mut form, "scope", request.scope.resolve(|| None));
        push(
            &mut form,
            "resource",
            request.resource.resolve(|| m.resource.clone()),
        );
        self.token_request(&m, client_id, &request.auth, form, &request.extra)
            .await
    }

    /// Revokes a token at the revocation endpoint.
    pub async fn revoke(&self, request: RevokeRequest) -> Result<Exchange, ClientError> {
        let m = self.memory();
        let client_id = request.client_id.resolve(|| m.client_id.clone());
        let mut form = Vec::new();
        push(
            &mut form,
            "token",
            request
                .token
                .resolve(|| m.refresh_token.clone().or_else(|| m.access_token.clone())),
        );
        push(
            &mut form,
            "token_type_hint",
            request.token_type_hint.resolve(|| None),
        );
        let (headers, form) = client_auth(&m, client_id, &request.auth, form);
        let mut form = form;
        form.extend(request.extra.iter().cloned());
        let url = self.resolve_url(&m.endpoints.revocation)?;
        self.send("POST", url, &headers, &RawBody::Form(form), Read::Full)
            .await
    }

    async fn token_request(
        &self,
        m: &FlowMemory,
        client_id: Option<String>,
        auth: &ClientAuth,
        form: Vec<(String, String)>,
        extra: &[(String, String)],
    ) -> Result<Exchange, ClientError> {
        let (headers, mut form) = client_auth(m, client_id, auth, form);
        form.extend(extra.iter().cloned());
        let url = self.resolve_url(&m.endpoints.token)?;
        let ex = self
            .send("POST", url, &headers, &RawBody::Form(form), Read::Full)
            .await?;
        if ex.status == 200
            && let Some(access) = ex.json_str("access_token")
        {
            let refresh = ex.json_str("refresh_token").map(str::to_owned);
            let access = access.to_owned();
            self.update_memory(|m| {
                m.access_token = Some(access);
                if refresh.is_some() {
                    m.refresh_token = refresh;
                }
            });
        }
        Ok(ex)
    }
}

/// Name/value pairs (headers or form fields), in order.
type Pairs = Vec<(String, String)>;

fn push(form: &mut Pairs, key: &str, value: Option<String>) {
    if let Some(value) = value {
        form.push((key.to_owned(), value));
    }
}

/// Headers and form with the client authentication applied.
fn client_auth(
    m: &FlowMemory,
    client_id: Option<String>,
    auth: &ClientAuth,
    mut form: Vec<(String, String)>,
) -> (Pairs, Pairs) {
    let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
    // Auto: the credentials registered for the client the request names (not those of the
    // client registered last); a client this flow did not register sends none.
    let (own_secret, own_method) = match client_id.as_deref() {
        Some(id) if m.client_id.as_deref() != Some(id) => {
            m.registrations.get(id).cloned().unwrap_or((None, None))
        }
        _ => (
            m.client_secret.clone(),
            m.token_endpoint_auth_method.clone(),
        ),
    };
    let resolved = match auth {
        ClientAuth::Auto => match (&own_secret, own_method.as_deref()) {
            (Some(secret), Some("client_secret_post")) => ClientAuth::Post {
                secret: secret.clone(),
            },
            (Some(secret), Some("client_secret_basic") | None) => ClientAuth::Basic {
                secret: secret.clone(),
            },
            _ => ClientAuth::None,
        },
        other => other.clone(),
    };
    match (resolved, client_id) {
        (ClientAuth::Nothing, _) => {}
        (ClientAuth::Basic { secret }, Some(id)) => {
            headers.push(("authorization".to_owned(), basic_header(&id, &secret)));
        }
        (ClientAuth::Post { secret }, id) => {
            if let Some(id) = id {
                form.push(("client_id".to_owned(), id));
            }
            form.push(("client_secret".to_owned(), secret));
        }
        (_, Some(id)) => form.push(("client_id".to_owned(), id)),
        (_, None) => {}
    }
    (headers, form)
}
