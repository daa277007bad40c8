//! JWT decoding and signature checks for `expect.jwt`.
//!
//! Decoding is plain base64url + JSON (so a malformed or `alg: none` token is still shown);
//! signatures are checked with jsonwebtoken against the keys the target is known to use:
//! the mock IdP's JWKS (RS256) and the proxy's HS256 key when the runner knows it. Time-based
//! checks are off: expectations on `exp` are written as claims matchers.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde_json::Value;
use std::str::FromStr;

/// A decoded (not verified) JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub header: Value,
    pub claims: Value,
    pub has_signature: bool,
}

/// Split and decode a compact JWS.
pub fn decode(token: &str) -> Result<Decoded, String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() == 5 {
        return Err("an encrypted JWT (JWE) cannot be inspected".into());
    }
    if parts.len() != 3 {
        return Err(format!(
            "not a JWT: {} dot-separated parts instead of 3",
            parts.len()
        ));
    }
    let part = |i: usize, what: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[i].trim_end_matches('='))
            .map_err(|e| format!("the {what} is not base64url: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("the {what} is not JSON: {e}"))
    };
    Ok(Decoded {
        header: part(0, "header")?,
        claims: part(1, "claims")?,
        has_signature: !parts[2].is_empty(),
    })
}

/// The keys a signature can be checked against.
#[derive(Debug, Clone, Default)]
pub struct JwtKeys {
    /// `(issuer, JWKS document)`: the mock IdP's.
    pub jwks: Vec<(String, Value)>,
    /// `(issuer, HMAC key)`: the proxy's, when known.
    pub hmac: Vec<(String, Vec<u8>)>,
}

impl JwtKeys {
    /// `Ok(true)` valid, `Ok(false)` invalid (bad signature, `alg: none`, unknown `kid`…),
    /// `Err` when no key is known for the token's issuer.
    pub fn verify(&self, token: &str, decoded: &Decoded) -> Result<bool, String> {
        let alg_name = decoded
            .header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("");
        if alg_name.eq_ignore_ascii_case("none") || !decoded.has_signature {
            return Ok(false);
        }
        let Ok(alg) = Algorithm::from_str(alg_name) else {
            return Ok(false);
        };
        let iss = decoded.claims.get("iss").and_then(Value::as_str);
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let check = |key: &DecodingKey| {
            jsonwebtoken::decode::<Value>(token.trim(), key, &validation).is_ok()
        };
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let candidates: Vec<&Vec<u8>> = match iss {
                    Some(i) if self.hmac.iter().any(|(k, _)| k == i) => self
                        .hmac
                        .iter()
                        .filter(|(k, _)| k == i)
                        .map(|(_, v)| v)
                        .collect(),
                    _ => self.hmac.iter().map(|(_, v)| v).collect(),
                };
                if candidates.is_empty() {
                    return Err(format!(
                        "no HMAC key is known for issuer {}",
                        iss.unwrap_or("(none)")
                    ));
                }
                Ok(candidates
                    .iter()
                    .any(|k| check(&DecodingKey::from_secret(k))))
            }
            _ => {
                let sets: Vec<&Value> = match iss {
                    Some(i) if self.jwks.iter().any(|(k, _)| k == i) => self
                        .jwks
                        .iter()
                        .filter(|(k, _)| k == i)
                        .map(|(_, v)| v)
                        .collect(),
                    _ => self.jwks.iter().map(|(_, v)| v).collect(),
                };
                if sets.is_empty() {
                    return Err(format!(
                        "no JWKS is known for issuer {}",
                        iss.unwrap_or("(none)")
                    ));
                }
                let kid = decoded.header.get("kid").and_then(Value::as_str);
                for set in sets {
                    let keys = set
                        .get("keys")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let chosen: Vec<&Value> = match kid {
                        Some(kid) => keys
                            .iter()
                            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                            .collect(),
                        None => keys.iter().collect(),
                    };
                    for k in chosen {
                        let Ok(jwk) = serde_json::from_value::<Jwk>(k.clone()) else {
                            continue;
                        };
                        if let Ok(key) = DecodingKey::from_jwk(&jwk)
                            && check(&key)
                        {
                            return Ok(true);
                        }
                    }
                }
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    fn hs(key: &[u8], claims: &Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    #[test]
    fn decodes_and_verifies_hmac() {
        let claims = json!({"iss": "http://p", "aud": "http://p/mcp"});
        let t = hs(b"k1-secret-key-material", &claims);
        let d = decode(&t).unwrap();
        assert_eq!(d.claims, claims);
        assert_eq!(d.header["alg"], "HS256");
        let keys = JwtKeys {
            jwks: vec![],
            hmac: vec![("http://p".into(), b"k1-secret-key-material".to_vec())],
        };
        assert_eq!(keys.verify(&t, &d), Ok(true));
        let wrong = JwtKeys {
            jwks: vec![],
            hmac: vec![("http://p".into(), b"other".to_vec())],
        };
        assert_eq!(wrong.verify(&t, &d), Ok(false));
        assert!(JwtKeys::default().verify(&t, &d).is_err());
    }

    #[test]
    fn alg_none_and_garbage() {
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"a"}"#);
        let t = format!("{header}.{body}.");
        let d = decode(&t).unwrap();
        assert!(!d.has_signature);
        assert_eq!(JwtKeys::default().verify(&t, &d), Ok(false));
        assert!(decode("abc").unwrap_err().contains("3"));
        assert!(decode("a.b.c").unwrap_err().contains("base64url") || decode("a.b.c").is_err());
    }
}
