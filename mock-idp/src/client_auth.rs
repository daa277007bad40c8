//! Client authentication at the token, revocation and introspection endpoints, enforced
//! strictly: a client must use exactly the method it is registered with.

use crate::config::{AuthMethod, ClientConfig};
use crate::error::OAuthError;
use crate::params::{Params, form_decode};
use crate::state::Idp;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use std::sync::Arc;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials a request presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// HTTP Basic, already form-decoded.
    Basic {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_secret` in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// A `client_assertion` JWT.
    Assertion {
        /// `client_id` from the body, if sent.
        id: Option<String>,
        /// The JWT.
        assertion: String,
    },
    /// Only `client_id`.
    Public {
        /// Client id.
        id: String,
    },
}

impl Presented {
    /// The method the credentials amount to.
    pub fn method(&self) -> AuthMethod {
        match self {
            Presented::Basic { .. } => AuthMethod::ClientSecretBasic,
            Presented::Post { .. } => AuthMethod::ClientSecretPost,
            Presented::Assertion { .. } => AuthMethod::PrivateKeyJwt,
            Presented::Public { .. } => AuthMethod::None,
        }
    }
}

fn basic_challenge(e: OAuthError) -> OAuthError {
    e.with_www_authenticate("Basic realm=\"mock-idp\", charset=\"UTF-8\"")
}

/// Decode `Authorization: Basic …` per RFC 6749 §2.3.1 (form-urlencoded id and secret).
/// `Ok(None)` when there is no Basic header.
pub fn decode_basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || basic_challenge(OAuthError::invalid_client("malformed Basic credentials"));
    let v = v.to_str().map_err(|_| bad())?.trim();
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id);
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, form_decode(secret))))
}

/// What the request presents. Mixing methods is an `invalid_request`; nothing at all is
/// an `invalid_client`.
pub fn presented(headers: &HeaderMap, form: &Params) -> Result<Presented, OAuthError> {
    let basic = decode_basic(headers)?;
    let form_id = form.get("client_id")?.map(String::from);
    let form_secret = form.get("client_secret")?.map(String::from);
    let assertion = form.get("client_assertion")?.map(String::from);
    let assertion_type = form.get("client_assertion_type")?;
    let count = usize::from(basic.is_some())
        + usize::from(form_secret.is_some())
        + usize::from(assertion.is_some());
    if count > 1 {
        return Err(OAuthError::invalid_request(
            "more than one client authentication method used (RFC 6749 §2.3)",
        ));
    }
    if let Some((id, secret)) = basic {
        if form_id.as_ref().is_some_and(|f| f != &id) {
            return Err(basic_challenge(OAuthError::invalid_client(
                "client_id in the body differs from the Basic credentials",
            )));
        }
        return Ok(Presented::Basic { id, secret });
    }
    if let Some(secret) = form_secret {
        let id = form_id
            .ok_or_else(|| OAuthError::invalid_client("client_secret sent without client_id"))?;
        return Ok(Presented::Post { id, secret });
    }
    if let Some(assertion) = assertion {
        if assertion_type != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        return Ok(Presented::Assertion {
            id: form_id,
            assertion,
        });
    }
    match form_id {
        Some(id) => Ok(Presented::Public { id }),
        None => Err(basic_challenge(OAuthError::invalid_client(
            "client authentication required",
        ))),
    }
}

/// The method name a request presents, for the journal (never fails).
pub fn detect(headers: &HeaderMap, form: &Params) -> Option<String> {
    let has_basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic "));
    let name = if has_basic {
        "client_secret_basic"
    } else if form.0.iter().any(|(k, _)| k == "client_assertion") {
        "private_key_jwt"
    } else if form.0.iter().any(|(k, _)| k == "client_secret") {
        "client_secret_post"
    } else if form.0.iter().any(|(k, _)| k == "client_id") {
        "none"
    } else {
        return None;
    };
    Some(name.to_string())
}

/// The client id a request names (body, query or Basic credentials), for the journal.
pub fn claimed_client_id(headers: &HeaderMap, form: &Params, query: &Params) -> Option<String> {
    let from = |p: &Params| {
        p.0.iter()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v.clone())
    };
    from(form)
        .or_else(|| from(query))
        .or_else(|| decode_basic(headers).ok().flatten().map(|(id, _)| id))
        .or_else(|| {
            let a = form.0.iter().find(|(k, _)| k == "client_assertion")?;
            let claims =
                jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&a.1).ok()?;
            claims.claims.get("sub")?.as_str().map(String::from)
        })
}

/// Authenticate the client of a request. `audience` lists what a client assertion's `aud`
/// may be (the endpoint URL and the issuer).
pub fn authenticate(
    idp: &Idp,
    headers: &HeaderMap,
    form: &Params,
    audience: &[String],
) -> Result<(Arc<ClientConfig>, AuthMethod), OAuthError> {
    let p = presented(headers, form)?;
    let used = p.method();
    let id = match &p {
        Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => {
            id.clone()
        }
        Presented::Assertion { id, assertion } => match id {
            Some(id) => id.clone(),
            None => assertion_subject(assertion)?,
        },
    };
    let wrap = |e: OAuthError| {
        if used == AuthMethod::ClientSecretBasic {
            basic_challenge(e)
        } else {
            e
        }
    };
    let client = idp
        .client(&id)
        .ok_or_else(|| wrap(OAuthError::invalid_client("unknown client")))?;
    let registered = client.auth_method();
    if registered != used {
        let e = OAuthError::invalid_client(format!(
            "client is registered for {registered} but authenticated with {used}"
        ));
        return Err(if registered == AuthMethod::ClientSecretBasic {
            basic_challenge(e)
        } else {
            wrap(e)
        });
    }
    match &p {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            let want = client.secret.as_deref().unwrap_or("");
            let ok = aws_lc_rs::constant_time::verify_slices_are_equal(
                want.as_bytes(),
                secret.as_bytes(),
            )
            .is_ok();
            if !ok || want.is_empty() {
                return Err(wrap(OAuthError::invalid_client("wrong client secret")));
            }
        }
        Presented::Assertion { assertion, .. } => {
            verify_assertion(idp, &client, assertion, audience)?
        }
        Presented::Public { .. } => {}
    }
    Ok((client, used))
}

fn assertion_subject(assertion: &str) -> Result<String, OAuthError> {
    let data = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(assertion)
        .map_err(|_| OAuthError::invalid_client("client_assertion is not a JWT"))?;
    data.claims
        .get("sub")
        .and_then(|v| v.as_str())
        .map(String::from)
        .ok_or_else(|| OAuthError::invalid_client("client_assertion has no sub"))
}

fn verify_assertion(
    idp: &Idp,
    client: &ClientConfig,
    assertion: &str,
    audience: &[String],
) -> Result<(), OAuthError> {
    let bad = |why: &str| OAuthError::invalid_client(format!("client_assertion rejected: {why}"));
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| bad("malformed JWT"))?;
    let jwks: JwkSet = client
        .jwks
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| bad("the client has no usable jwks"))?;
    let candidates: Vec<_> = match &header.kid {
        Some(kid) => jwks.find(kid).into_iter().collect(),
        None => jwks.keys.iter().collect(),
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    validation.set_audience(audience);
    validation.set_issuer(&[client.id.as_str()]);
    let claims = candidates
        .iter()
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| {
            jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation).ok()
        })
        .ok_or_else(|| bad("signature, issuer or audience does not verify"))?
        .claims;
    if claims.get("sub").and_then(|v| v.as_str()) != Some(client.id.as_str()) {
        return Err(bad("sub must be the client id"));
    }
    let now = idp.clock.now_unix();
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad("exp missing"))?;
    if exp <= now {
        return Err(bad("expired"));
    }
    if let Some(nbf) = claims.get("nbf").and_then(|v| v.as_i64())
        && nbf > now + 60
    {
        return Err(bad("not yet valid"));
    }
    let jti = claims
        .get("jti")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("jti missing"))?;
    let mut seen = idp.store.assertion_jtis.lock();
    let key = format!("{}\u{0}{jti}", client.id);
    if seen.contains_key(&key) {
        return Err(bad("jti already used"));
    }
    seen.insert(key, exp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let v = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Basic {v}").parse().unwrap());
        h
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = basic("client-1", "s3cr3t:/&");
        assert_eq!(
            decode_basic(&h).unwrap(),
            Some(("client-1".to_string(), "s3cr3t:/&".to_string()))
        );
        let p = presented(&h, &Params::default()).unwrap();
        assert_eq!(p.method(), AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        let e = decode_basic(&h).unwrap_err();
        assert_eq!(e.error, "invalid_client");
        assert!(e.www_authenticate.unwrap().starts_with("Basic"));
    }

    #[test]
    fn methods_from_the_body() {
        let h = HeaderMap::new();
        let p = presented(&h, &Params::parse(b"client_id=a&client_secret=b")).unwrap();
        assert_eq!(
            p,
            Presented::Post {
                id: "a".into(),
                secret: "b".into()
            }
        );
        let p = presented(&h, &Params::parse(b"client_id=a")).unwrap();
        assert_eq!(p.method(), AuthMethod::None);
        assert_eq!(
            presented(&h, &Params::default())
                .unwrap_err()
                .status
                .as_u16(),
            401
        );
        let both = presented(&basic("a", "b"), &Params::parse(b"client_secret=b"));
        assert_eq!(both.unwrap_err().error, "invalid_request");
        assert_eq!(
            detect(&basic("a", "b"), &Params::default()).as_deref(),
            Some("client_secret_basic")
        );
    }
}
