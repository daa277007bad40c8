//! The browser leg of the authorization code flow, followed hop by hop.

use super::html::consent_form;
use super::{ClientError, Exchange, FlowClient, Hop, Param, RawBody, Read, mask_url};
use crate::oauth::pkce;
use std::fmt;
use url::Url;

/// The most redirects one `authorize` follows.
pub const MAX_HOPS: usize = 20;

/// What to do on a consent page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consent {
    /// Submit the form with `action=approve`.
    #[default]
    Approve,
    /// Submit the form with `action=deny`.
    Deny,
    /// Do not answer: stop at the consent page and return it in
    /// [`AuthorizeOutcome::consent_page`].
    Skip,
}

/// The PKCE part of the authorization request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pkce {
    /// A fresh verifier, its S256 challenge, `code_challenge_method=S256`.
    #[default]
    Auto,
    /// No `code_challenge` at all.
    None,
    /// This verifier, its S256 challenge.
    Verifier(String),
    /// Exactly these parameters (each omitted when `None`); `verifier` is what
    /// `token_code` will send later.
    Raw {
        code_challenge: Option<String>,
        code_challenge_method: Option<String>,
        verifier: Option<String>,
    },
}

/// An authorization request. `Auto` fields come from the flow's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Auto: the registered client id (omitted when none).
    pub client_id: Param,
    /// Auto: the registration's first redirect URI (omitted when none).
    pub redirect_uri: Param,
    /// Auto: the remembered scope (from the 401 challenge or the PRM), else omitted.
    pub scope: Param,
    /// Auto: the remembered resource (from discovery or `set_mcp_url`), else omitted.
    pub resource: Param,
    /// Auto: a fresh random state.
    pub state: Param,
    /// Auto: `code`.
    pub response_type: Param,
    pub pkce: Pkce,
    /// The upstream user to log in as: `login_hint=<user>` is added to the upstream IdP's
    /// authorization request (headless login at the mock IdP).
    pub as_user: Option<String>,
    pub consent: Consent,
    /// Added to the authorization URL after the parameters above.
    pub extra: Vec<(String, String)>,
    /// Auto: the remembered authorization endpoint.
    pub endpoint: Param,
}

/// How [`FlowClient::follow`] walks a redirect chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowOptions {
    /// The client's redirect URI: a `Location` to it (same scheme, host, port and path) ends
    /// the walk and is never fetched.
    pub stop_at: Option<String>,
    pub consent: Consent,
    /// See [`AuthorizeRequest::as_user`].
    pub as_user: Option<String>,
}

/// Where an authorization ended and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizeOutcome {
    /// Every request made, in order, with its status and `Location`.
    pub hops: Vec<Hop>,
    /// The client redirect the walk stopped at, or the URL of the last page fetched.
    pub final_url: String,
    /// Whether the walk ended with a redirect to the client (code or error in `final_url`).
    pub reached_redirect_uri: bool,
    /// The status of the last response (the redirect's 30x, or the page's status).
    pub final_status: u16,
    /// The body of the last response.
    pub final_body: String,
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// The consent page's HTML, when one was shown.
    pub consent_page: Option<String>,
    /// The PKCE verifier of this request (carried to `token_code`).
    pub pkce_verifier: Option<String>,
    /// The `state` sent.
    pub sent_state: Option<String>,
}

impl AuthorizeOutcome {
    /// A query parameter of the final URL (the client redirect's `code`, `state`, `iss`…).
    pub fn query(&self, key: &str) -> Option<String> {
        query_param(&self.final_url, key)
    }
}

impl fmt::Display for AuthorizeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, hop) in self.hops.iter().enumerate() {
            writeln!(f, "{:>2}. {hop}", i + 1)?;
        }
        writeln!(
            f,
            "final: {} ({})",
            mask_url(&self.final_url),
            self.final_status
        )?;
        if let Some(error) = &self.error {
            writeln!(
                f,
                "error: {error}{}",
                self.error_description
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            )?;
        }
        if !self.reached_redirect_uri && !self.final_body.is_empty() {
            let shown: String = self.final_body.chars().take(2048).collect();
            writeln!(f, "last page:\n{shown}")?;
        }
        Ok(())
    }
}

fn query_param(url: &str, key: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// An authorization request as sent: the URL and what the later steps need from it.
struct PreparedAuthorization {
    url: Url,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    verifier: Option<String>,
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

impl FlowClient {
    /// The authorization URL for `request` (PKCE, state and the remembered values filled in).
    fn prepare_authorization(
        &self,
        request: &AuthorizeRequest,
    ) -> Result<PreparedAuthorization, ClientError> {
        let m = self.memory();
        let endpoint = request
            .endpoint
            .resolve(|| Some(m.endpoints.authorization.clone()))
            .ok_or(ClientError::Missing {
                what: "authorization endpoint",
                hint: "give AuthorizeRequest::endpoint",
            })?;
        let mut url = self.resolve_url(&endpoint)?;
        let client_id = request.client_id.resolve(|| m.client_id.clone());
        let redirect_uri = request.redirect_uri.resolve(|| m.redirect_uri.clone());
        let state = request
            .state
            .resolve(|| Some(crate::oauth::random_token(16)));
        let (challenge, method, verifier) = match &request.pkce {
            Pkce::Auto => {
                let v = pkce::new_verifier();
                (
                    Some(pkce::challenge_s256(&v)),
                    Some("S256".to_owned()),
                    Some(v),
                )
            }
            Pkce::None => (None, None, None),
            Pkce::Verifier(v) => (
                Some(pkce::challenge_s256(v)),
                Some("S256".to_owned()),
                Some(v.clone()),
            ),
            Pkce::Raw {
                code_challenge,
                code_challenge_method,
                verifier,
            } => (
                code_challenge.clone(),
                code_challenge_method.clone(),
                verifier.clone(),
            ),
        };
        {
            let mut q = url.query_pairs_mut();
            let mut put = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            };
            put(
                "response_type",
                &request.response_type.resolve(|| Some("code".into())),
            );
            put("client_id", &client_id);
            put("redirect_uri", &redirect_uri);
            put("scope", &request.scope.resolve(|| m.scope.clone()));
            put("state", &state);
            put("code_challenge", &challenge);
            put("code_challenge_method", &method);
            put("resource", &request.resource.resolve(|| m.resource.clone()));
            for (k, v) in &request.extra {
                q.append_pair(k, v);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(PreparedAuthorization {
            url,
            client_id,
            redirect_uri,
            state,
            verifier,
        })
    }

    /// The authorization URL [`FlowClient::authorize`] would open, for a real browser to
    /// follow instead. Remembers client id, redirect URI, state and PKCE verifier, so that
    /// once the browser reaches the redirect URI, setting the code in the memory is all
    /// [`FlowClient::token_code`] needs.
    pub fn authorization_url(&self, request: &AuthorizeRequest) -> Result<Url, ClientError> {
        let p = self.prepare_authorization(request)?;
        self.update_memory(|mem| {
            if p.client_id.is_some() {
                mem.client_id = p.client_id.clone();
            }
            if p.redirect_uri.is_some() {
                mem.redirect_uri = p.redirect_uri.clone();
            }
            mem.state = p.state.clone();
            mem.code_verifier = p.verifier.clone();
            mem.code = None;
        });
        Ok(p.url)
    }

    /// Builds the authorization URL, then follows the chain: proxy `/authorize` → consent
    /// page (answered as `request.consent` says) → upstream IdP (with `login_hint`) → proxy
    /// callback → the client's redirect URI (not fetched). Remembers client id, redirect URI,
    /// state, verifier, code and `iss` for the next steps.
    pub async fn authorize(
        &self,
        request: AuthorizeRequest,
    ) -> Result<AuthorizeOutcome, ClientError> {
        let m = self.memory();
        let PreparedAuthorization {
            url,
            client_id,
            redirect_uri,
            state,
            verifier,
        } = self.prepare_authorization(&request)?;
        let options = FollowOptions {
            stop_at: redirect_uri.clone().or(m.redirect_uri.clone()),
            consent: request.consent,
            as_user: request.as_user.clone(),
        };
        let mut outcome = self
            .follow_from("GET", url, RawBody::None, &options)
            .await?;
        outcome.pkce_verifier = verifier.clone();
        outcome.sent_state = state.clone();
        self.update_memory(|mem| {
            if client_id.is_some() {
                mem.client_id = client_id;
            }
            if redirect_uri.is_some() {
                mem.redirect_uri = redirect_uri;
            }
            mem.state = state;
            mem.code_verifier = verifier;
            mem.code = outcome.code.clone();
            mem.iss = outcome.iss.clone();
        });
        Ok(outcome)
    }

    /// Follows a redirect chain from `first` (e.g. a callback URL), answering consent pages
    /// and adding `login_hint` upstream as `options` say.
    pub async fn follow(
        &self,
        first: super::RawRequest,
        options: FollowOptions,
    ) -> Result<AuthorizeOutcome, ClientError> {
        let url = self.resolve_url(&first.url)?;
        self.follow_from(&first.method, url, first.body, &options)
            .await
    }

    async fn follow_from(
        &self,
        method: &str,
        url: Url,
        body: RawBody,
        options: &FollowOptions,
    ) -> Result<AuthorizeOutcome, ClientError> {
        let proxy_origin = Url::parse(self.base_url())
            .map(|u| u.origin())
            .map_err(|e| ClientError::InvalidUrl {
                url: self.base_url().to_owned(),
                reason: e.to_string(),
            })?;
        let stop_at = options.stop_at.as_deref().and_then(|s| Url::parse(s).ok());
        let mut hops = Vec::new();
        let mut consent_page = None;
        let mut method = method.to_owned();
        let mut url = url;
        let mut body = body;
        let mut headers: Vec<(String, String)> = Vec::new();
        for _ in 0..MAX_HOPS {
            let ex = self
                .send(&method, url.clone(), &headers, &body, Read::Full)
                .await?;
            let location = ex.header("location").and_then(|l| url.join(l).ok());
            hops.push(Hop {
                method: method.clone(),
                url: url.to_string(),
                status: ex.status,
                location: location.as_ref().map(Url::to_string),
                headers: ex.headers.clone(),
                elapsed: ex.elapsed,
            });
            if is_redirect(ex.status)
                && let Some(next) = location
            {
                let has = |k: &str| next.query_pairs().any(|(key, _)| key == k);
                let to_client = stop_at.as_ref().is_some_and(|s| same_endpoint(s, &next))
                    || !matches!(next.scheme(), "http" | "https")
                    || (next.origin() != proxy_origin && (has("code") || has("error")));
                if to_client {
                    return Ok(finish(hops, next.to_string(), true, &ex, consent_page));
                }
                let upstream_authorize = next.origin() != proxy_origin && has("response_type");
                let mut next = next;
                if let Some(user) = &options.as_user
                    && upstream_authorize
                {
                    set_query_param(&mut next, "login_hint", user);
                }
                if !matches!(ex.status, 307 | 308) {
                    method = "GET".into();
                    body = RawBody::None;
                }
                headers.clear();
                url = next;
                continue;
            }
            let form = (ex.status == 200).then(|| consent_form(&ex.body)).flatten();
            let Some(form) = form else {
                return Ok(finish(hops, url.to_string(), false, &ex, consent_page));
            };
            consent_page = Some(ex.body.clone());
            let choice = match options.consent {
                Consent::Skip => {
                    return Ok(finish(hops, url.to_string(), false, &ex, consent_page));
                }
                Consent::Approve => "approve",
                Consent::Deny => "deny",
            };
            if !form.has_button("action", choice) {
                return Err(ClientError::ConsentForm {
                    url: mask_url(url.as_str()),
                    reason: format!("no button name=\"action\" value=\"{choice}\""),
                });
            }
            let target = match &form.action {
                Some(action) if !action.trim().is_empty() => {
                    url.join(action.trim())
                        .map_err(|e| ClientError::ConsentForm {
                            url: mask_url(url.as_str()),
                            reason: format!("form action {action:?}: {e}"),
                        })?
                }
                _ => url.clone(),
            };
            let mut fields = form.fields.clone();
            fields.push(("action".into(), choice.into()));
            headers = vec![("origin".to_owned(), url.origin().ascii_serialization())];
            if form.method == "POST" {
                method = "POST".into();
                body = RawBody::Form(fields);
                url = target;
            } else {
                method = "GET".into();
                body = RawBody::None;
                url = target;
                url.query_pairs_mut().clear().extend_pairs(&fields);
            }
        }
        Err(ClientError::TooManyRedirects {
            limit: MAX_HOPS,
            hops,
        })
    }
}

fn set_query_param(url: &mut Url, key: &str, value: &str) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(key, value);
}

fn finish(
    hops: Vec<Hop>,
    final_url: String,
    reached: bool,
    last: &Exchange,
    consent_page: Option<String>,
) -> AuthorizeOutcome {
    let param = |k: &str| reached.then(|| query_param(&final_url, k)).flatten();
    AuthorizeOutcome {
        code: param("code"),
        state: param("state"),
        iss: param("iss"),
        error: param("error"),
        error_description: param("error_description"),
        hops,
        reached_redirect_uri: reached,
        final_status: last.status,
        final_body: last.body.clone(),
        final_url,
        consent_page,
        pkce_verifier: None,
        sent_state: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_match_ignores_query_only() {
        let a = Url::parse("http://localhost:3000/cb").unwrap();
        assert!(same_endpoint(
            &a,
            &Url::parse("http://LOCALHOST:3000/cb?code=x").unwrap()
        ));
        assert!(!same_endpoint(
            &a,
            &Url::parse("http://localhost:3001/cb").unwrap()
        ));
        assert!(!same_endpoint(
            &a,
            &Url::parse("http://127.0.0.1:3000/cb").unwrap()
        ));
        assert!(!same_endpoint(
            &a,
            &Url::parse("http://localhost:3000/cb2").unwrap()
        ));
        assert!(!same_endpoint(
            &a,
            &Url::parse("https://localhost:3000/cb").unwrap()
        ));
    }

    #[test]
    fn login_hint_replaces() {
        let mut u = Url::parse("http://idp/authorize?a=1&login_hint=bob&b=2").unwrap();
        set_query_param(&mut u, "login_hint", "alice");
        assert_eq!(u.as_str(), "http://idp/authorize?a=1&b=2&login_hint=alice");
    }
}
