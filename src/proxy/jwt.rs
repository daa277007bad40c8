//! The proxy's own tokens: HS256 JWTs with a key derived by HKDF-SHA256 from
//! `jwt_signing_key` (or the upstream client secret).
//!
//! Claims: `iss`, `aud` (= the resource), `sub`, `client_id`, `scope`, `exp`, `iat`, `jti`,
//! and `token_use` (`access` | `refresh`), so a refresh token is never accepted as a bearer
//! token and an access token is never accepted at the refresh grant. Refresh tokens also carry
//! `fid`, their family id. Time comes from the injected [`Clock`]; jsonwebtoken's own time
//! checks are off.

use foundations::Clock;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// HKDF salt for the signing key (versioned: changing it invalidates every token).
const HKDF_SALT: &[u8] = b"authproof-jwt-signing-key-v1";
/// HKDF info for the HS256 key.
const HKDF_INFO: &[u8] = b"authproof hs256 token key";
/// Longer tokens are refused without parsing.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Which kind of proxy token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// A bearer token for the MCP path.
    Access,
    /// A refresh token for the token endpoint.
    Refresh,
}

impl fmt::Display for TokenUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenUse::Access => "access",
            TokenUse::Refresh => "refresh",
        })
    }
}

/// The claims of a proxy token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The proxy's issuer identifier.
    pub iss: String,
    /// The resource (base_url + mcp_path).
    pub aud: String,
    /// The end user.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Unique id (keys the upstream token mapping).
    pub jti: String,
    /// `access` or `refresh`.
    pub token_use: TokenUse,
    /// The refresh family (refresh tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fid: Option<String>,
}

impl Claims {
    /// The scopes as a list.
    pub fn scopes(&self) -> Vec<String> {
        self.scope
            .split_ascii_whitespace()
            .map(str::to_string)
            .collect()
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, bad signature, wrong issuer or audience.
    #[error("{0}")]
    Invalid(String),
    /// A refresh token where an access token belongs, or the reverse.
    #[error("this is a {found} token, not a{} {expected} token", if *.expected == TokenUse::Access { "n" } else { "" })]
    WrongUse {
        /// What the caller wanted.
        expected: TokenUse,
        /// What the token is.
        found: TokenUse,
    },
    /// Past its `exp`.
    #[error("the token has expired")]
    Expired,
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    /// The end user.
    pub subject: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Scopes.
    pub scopes: &'a [String],
    /// Lifetime.
    pub ttl: Duration,
    /// Access or refresh.
    pub token_use: TokenUse,
    /// Refresh family id (refresh tokens).
    pub family_id: Option<&'a str>,
}

/// A signed token and its claims.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The compact JWT.
    pub token: String,
    /// Its claims.
    pub claims: Claims,
}

/// Issues and verifies the proxy's tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    clock: Clock,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// HKDF-SHA256(secret) → 32-byte HS256 key.
pub fn derive_key(secret: &[u8]) -> [u8; 32] {
    use aws_lc_rs::hkdf;
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret);
    let mut out = [0u8; 32];
    // HKDF_SHA256 as the length type asks for exactly one hash length (32 bytes): this
    // cannot fail.
    if let Ok(okm) = prk.expand(&[HKDF_INFO], hkdf::HKDF_SHA256) {
        let _ = okm.fill(&mut out);
    }
    out
}

impl TokenIssuer {
    /// An issuer whose key is derived from `secret`.
    pub fn new(secret: &[u8], issuer: &str, audience: &str, clock: Clock) -> Self {
        let key = derive_key(secret);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_audience(&[audience]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub", "jti"]);
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            clock,
        }
    }

    /// The `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` of every token.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Sign a new token with a fresh jti.
    pub fn issue(&self, t: NewToken<'_>) -> Result<Issued, TokenError> {
        let now = self.clock.now_unix();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: t.subject.to_string(),
            client_id: t.client_id.to_string(),
            scope: t.scopes.join(" "),
            exp: now.saturating_add(i64::try_from(t.ttl.as_secs()).unwrap_or(i64::MAX)),
            iat: now,
            jti: crate::oauth::random_token(24),
            token_use: t.token_use,
            fid: t.family_id.map(str::to_string),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(format!("cannot sign: {e}")))?;
        Ok(Issued { token, claims })
    }

    /// Verify signature, issuer, audience, expiry (by the clock) and `token_use`.
    pub fn verify(&self, token: &str, expected: TokenUse) -> Result<Claims, TokenError> {
        let claims = self.verify_ignoring_expiry(token)?;
        if claims.token_use != expected {
            return Err(TokenError::WrongUse {
                expected,
                found: claims.token_use,
            });
        }
        if claims.exp <= self.clock.now_unix() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Verify signature, issuer and audience only (revocation accepts expired tokens).
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Invalid("token too long".into()));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(describe(&e)))
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAudience => "issued for another resource".into(),
        ErrorKind::InvalidIssuer => "issued by another server".into(),
        ErrorKind::InvalidAlgorithm => "unexpected algorithm".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        _ => "not a token issued by this server".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn issuer(clock: &Clock) -> TokenIssuer {
        TokenIssuer::new(
            b"0123456789abcdef-test",
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/mcp",
            clock.clone(),
        )
    }

    fn new(use_: TokenUse, ttl: u64) -> NewToken<'static> {
        static SCOPES: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec!["openid".into(), "email".into()]);
        NewToken {
            subject: "alice",
            client_id: "client-1",
            scopes: &SCOPES,
            ttl: Duration::from_secs(ttl),
            token_use: use_,
            family_id: (use_ == TokenUse::Refresh).then_some("fam"),
        }
    }

    #[test]
    fn roundtrip_with_all_claims() {
        let clock = Clock::frozen_at(1_700_000_000);
        let iss = issuer(&clock);
        let t = iss.issue(new(TokenUse::Access, 3600)).unwrap();
        let c = iss.verify(&t.token, TokenUse::Access).unwrap();
        assert_eq!(c, t.claims);
        assert_eq!(c.iss, "http://127.0.0.1:8000");
        assert_eq!(c.aud, "http://127.0.0.1:8000/mcp");
        assert_eq!(c.sub, "alice");
        assert_eq!(c.client_id, "client-1");
        assert_eq!(c.scope, "openid email");
        assert_eq!(c.exp, 1_700_003_600);
        assert_eq!(c.iat, 1_700_000_000);
        assert!(c.jti.len() >= 32);
        let header = jsonwebtoken::decode_header(&t.token).unwrap();
        assert_eq!(header.alg, Algorithm::HS256);
    }

    #[test]
    fn token_use_is_enforced_both_ways() {
        let clock = Clock::frozen_at(1_700_000_000);
        let iss = issuer(&clock);
        let refresh = iss.issue(new(TokenUse::Refresh, 3600)).unwrap();
        let access = iss.issue(new(TokenUse::Access, 3600)).unwrap();
        assert!(matches!(
            iss.verify(&refresh.token, TokenUse::Access),
            Err(TokenError::WrongUse {
                expected: TokenUse::Access,
                found: TokenUse::Refresh
            })
        ));
        assert!(matches!(
            iss.verify(&access.token, TokenUse::Refresh),
            Err(TokenError::WrongUse { .. })
        ));
        assert_eq!(
            iss.verify(&refresh.token, TokenUse::Refresh)
                .unwrap()
                .fid
                .as_deref(),
            Some("fam")
        );
    }

    #[test]
    fn expiry_follows_the_injected_clock() {
        let clock = Clock::frozen_at(1_700_000_000);
        let iss = issuer(&clock);
        let t = iss.issue(new(TokenUse::Access, 60)).unwrap();
        clock.advance(Duration::from_secs(59));
        assert!(iss.verify(&t.token, TokenUse::Access).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            iss.verify(&t.token, TokenUse::Access),
            Err(TokenError::Expired)
        );
        assert!(iss.verify_ignoring_expiry(&t.token).is_ok());
        // A token from the far past is rejected by our clock even though the system clock
        // (which jsonwebtoken would use) says nothing about it.
        let old = Clock::frozen_at(1_000);
        let t = issuer(&old).issue(new(TokenUse::Access, 60)).unwrap();
        assert_eq!(
            iss.verify(&t.token, TokenUse::Access),
            Err(TokenError::Expired)
        );
        // And one from the future is accepted when our clock is in the future too.
        let future = Clock::frozen_at(4_000_000_000);
        let t = issuer(&future).issue(new(TokenUse::Access, 60)).unwrap();
        assert!(issuer(&future).verify(&t.token, TokenUse::Access).is_ok());
    }

    #[test]
    fn other_key_issuer_or_audience_fail() {
        let clock = Clock::frozen_at(1_700_000_000);
        let iss = issuer(&clock);
        let t = iss.issue(new(TokenUse::Access, 60)).unwrap();
        let other_key = TokenIssuer::new(
            b"another-secret-value",
            iss.issuer(),
            iss.audience(),
            clock.clone(),
        );
        assert_eq!(
            other_key.verify(&t.token, TokenUse::Access),
            Err(TokenError::Invalid("bad signature".into()))
        );
        let other_aud = TokenIssuer::new(
            b"0123456789abcdef-test",
            iss.issuer(),
            "http://x/mcp",
            clock.clone(),
        );
        assert!(matches!(
            other_aud.verify(&t.token, TokenUse::Access),
            Err(TokenError::Invalid(_))
        ));
        let other_iss = TokenIssuer::new(
            b"0123456789abcdef-test",
            "http://evil",
            iss.audience(),
            clock.clone(),
        );
        assert!(matches!(
            other_iss.verify(&t.token, TokenUse::Access),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            iss.verify("garbage", TokenUse::Access),
            Err(TokenError::Invalid(_))
        ));
        assert!(matches!(
            iss.verify(&"a".repeat(MAX_TOKEN_LEN + 1), TokenUse::Access),
            Err(TokenError::Invalid(_))
        ));
    }

    #[test]
    fn unsigned_and_other_algorithms_are_refused() {
        let clock = Clock::frozen_at(1_700_000_000);
        let iss = issuer(&clock);
        let t = iss.issue(new(TokenUse::Access, 60)).unwrap();
        let mut parts = t.token.split('.');
        let (_, payload) = (parts.next().unwrap(), parts.next().unwrap());
        // alg=none
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(iss.verify(&none, TokenUse::Access).is_err());
        // HS512 with the same derived key
        let key = derive_key(b"0123456789abcdef-test");
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &t.claims,
            &EncodingKey::from_secret(&key),
        )
        .unwrap();
        assert!(iss.verify(&hs512, TokenUse::Access).is_err());
    }

    #[test]
    fn key_derivation_is_stable_and_secret_dependent() {
        assert_eq!(derive_key(b"abc"), derive_key(b"abc"));
        assert_ne!(derive_key(b"abc"), derive_key(b"abd"));
        assert_ne!(&derive_key(b"abc")[..3], b"abc");
    }

    proptest! {
        #[test]
        fn any_subject_and_scopes_roundtrip(sub in "\\PC{1,40}", scopes in proptest::collection::vec("[a-z:._-]{1,12}", 0..5), ttl in 1u64..100_000) {
            let clock = Clock::frozen_at(1_700_000_000);
            let iss = issuer(&clock);
            let t = iss.issue(NewToken { subject: &sub, client_id: "c", scopes: &scopes, ttl: Duration::from_secs(ttl), token_use: TokenUse::Access, family_id: None }).unwrap();
            let c = iss.verify(&t.token, TokenUse::Access).unwrap();
            prop_assert_eq!(c.scopes(), scopes);
            prop_assert_eq!(c.sub, sub);
        }

        #[test]
        fn tampered_tokens_fail(pos in 0usize..200, byte in 0u8..64) {
            let clock = Clock::frozen_at(1_700_000_000);
            let iss = issuer(&clock);
            let t = iss.issue(new(TokenUse::Access, 60)).unwrap().token;
            let mut b = t.clone().into_bytes();
            let i = pos % b.len();
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let c = alphabet[byte as usize];
            prop_assume!(b[i] != c && b[i] != b'.');
            b[i] = c;
            let tampered = String::from_utf8(b).unwrap();
            // Changing the last base64 character of the signature may only touch padding
            // bits; every other change must fail.
            if let Ok(claims) = iss.verify(&tampered, TokenUse::Access) {
                prop_assert_eq!(i, t.len() - 1);
                prop_assert_eq!(claims.jti, iss.verify(&t, TokenUse::Access).unwrap().jti);
            }
        }
    }
}
