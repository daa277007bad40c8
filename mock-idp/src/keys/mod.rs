//! Signing keys: RS256 (RSA), ES256 (P-256) or EdDSA (Ed25519), per `keys.algorithm`.
//!
//! - [`SigningKey`]: one key pair, parsed once by aws-lc-rs, that signs compact JWS itself
//!   (`signing`);
//! - seeded keys, the same for the same seed on every run and machine, cached in-process and
//!   (RSA) on disk (`derive`, which documents how each kind is made from the seed);
//! - [`KeyRing`]: the key that signs, the ones still published, the JWKS and rotation
//!   (`ring`).

mod derive;
mod ring;
mod signing;

pub use derive::{KeySpec, RSA_BITS};
pub use ring::{KeyRing, workos_kid};
pub use signing::SigningKey;

use crate::config::KeySeed;
use std::sync::Arc;

impl SigningKey {
    /// The key derived from `seed` at position `index` (0 is the first signing key, later
    /// ones are what rotation brings in), of kind `spec`. Cached in-process, RSA also on disk.
    pub fn derive(seed: &KeySeed, index: u32, spec: KeySpec) -> anyhow::Result<Arc<SigningKey>> {
        derive::derive_cached(seed, index, spec)
    }
}

#[cfg(test)]
mod tests {
    use super::derive::{p256_scalar, seed_rng};
    use super::*;
    use crate::config::KeyAlgorithm;
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    use rand_chacha::rand_core::RngCore;
    use serde_json::{Value, json};

    const SPECS: [KeySpec; 3] = [KeySpec::Rsa { bits: 2048 }, KeySpec::P256, KeySpec::Ed25519];

    fn seed() -> KeySeed {
        KeySeed::default()
    }

    fn jwt_alg(a: KeyAlgorithm) -> jsonwebtoken::Algorithm {
        a.as_str().parse().unwrap()
    }

    /// The same seed gives the same key, made again from scratch (past both caches); the PEM
    /// export loads back as the same key.
    #[test]
    fn same_seed_same_key_and_pem_round_trip() {
        for spec in SPECS {
            let a = SigningKey::derive(&seed(), 0, spec).unwrap();
            let mut rng = seed_rng(&seed(), 0);
            let fresh = match spec {
                KeySpec::Rsa { bits } => {
                    use rsa::pkcs8::EncodePrivateKey;
                    let k = rsa::RsaPrivateKey::new(&mut rng, bits).unwrap();
                    SigningKey::rsa_from_pkcs8(k.to_pkcs8_der().unwrap().as_bytes()).unwrap()
                }
                KeySpec::P256 => SigningKey::p256_from_scalar(&p256_scalar(&mut rng)).unwrap(),
                KeySpec::Ed25519 => {
                    let mut s = [0u8; 32];
                    rng.fill_bytes(&mut s);
                    SigningKey::ed25519_from_seed(&s).unwrap()
                }
            };
            assert_eq!(fresh.jwk(), a.jwk(), "{spec:?}");
            let again = SigningKey::from_pem(spec.algorithm(), &a.pkcs8_pem, None).unwrap();
            assert_eq!(again.jwk(), a.jwk(), "{spec:?}");
            assert_eq!(a.kid, a.thumbprint());
            // Another position or another seed is another key.
            let next = SigningKey::derive(&seed(), 1, spec).unwrap();
            let other = SigningKey::derive(&KeySeed::Int(7), 0, spec).unwrap();
            assert_ne!(next.kid, a.kid, "{spec:?}");
            assert_ne!(other.kid, a.kid, "{spec:?}");
        }
    }

    /// The published JWK: the right `kty`/`crv`/`alg`, key material of the right size, and
    /// our RFC 7638 thumbprint equal to jsonwebtoken's.
    #[test]
    fn jwks_name_the_key_type_and_algorithm() {
        for (spec, kty, crv, len) in [
            (SPECS[0], "RSA", None, 256),
            (SPECS[1], "EC", Some("P-256"), 32),
            (SPECS[2], "OKP", Some("Ed25519"), 32),
        ] {
            let k = SigningKey::derive(&seed(), 0, spec).unwrap();
            let j = k.jwk();
            assert_eq!(j["kty"], kty);
            assert_eq!(j["alg"], spec.algorithm().as_str());
            assert_eq!(j["use"], "sig");
            assert_eq!(j["crv"].as_str(), crv);
            let material = if kty == "RSA" { "n" } else { "x" };
            let bytes = crate::ids::b64url_decode(j[material].as_str().unwrap()).unwrap();
            assert_eq!(bytes.len(), len, "{kty}");
            if kty == "EC" {
                assert_eq!(
                    crate::ids::b64url_decode(j["y"].as_str().unwrap())
                        .unwrap()
                        .len(),
                    32
                );
            }
            let parsed: Jwk = serde_json::from_value(j.clone()).unwrap();
            assert_eq!(
                parsed.thumbprint(ThumbprintHash::SHA256).unwrap(),
                k.thumbprint(),
                "{kty}"
            );
        }
    }

    /// Tokens of every algorithm verify with jsonwebtoken against the published JWK, and a
    /// changed byte makes them fail.
    #[test]
    fn signatures_verify_with_jsonwebtoken() {
        for spec in SPECS {
            let k = SigningKey::derive(&seed(), 0, spec).unwrap();
            let claims = json!({ "sub": "a", "n": 1, "name": "Zoë \"q\"" });
            let ours = k.sign("at+jwt", &claims, None).unwrap();
            let key = jsonwebtoken::DecodingKey::from_jwk(
                &serde_json::from_value::<Jwk>(k.jwk()).unwrap(),
            )
            .unwrap();
            let mut v = jsonwebtoken::Validation::new(jwt_alg(spec.algorithm()));
            v.required_spec_claims.clear();
            v.validate_exp = false;
            let got = jsonwebtoken::decode::<Value>(&ours, &key, &v).unwrap();
            assert_eq!(got.claims, claims);
            assert_eq!(got.header.kid.as_deref(), Some(k.kid.as_str()));
            assert_eq!(got.header.typ.as_deref(), Some("at+jwt"));
            let other = k.sign("JWT", &claims, Some("elsewhere")).unwrap();
            let h = jsonwebtoken::decode_header(&other).unwrap();
            assert_eq!(h.kid.as_deref(), Some("elsewhere"));
            let mut tampered = ours.clone().into_bytes();
            let i = ours.find('.').unwrap() + 3;
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(
                jsonwebtoken::decode::<Value>(&tampered, &key, &v).is_err(),
                "{spec:?}"
            );
        }
    }

    /// RS256 and EdDSA signatures are deterministic; RS256 tokens are byte for byte what
    /// jsonwebtoken's `encode` makes with the same key (same header member order).
    #[test]
    fn rs256_tokens_are_what_jsonwebtoken_makes() {
        let k = SigningKey::derive(&seed(), 0, SPECS[0]).unwrap();
        let claims = json!({ "sub": "a", "iat": 1 });
        let ours = k.sign("JWT", &claims, None).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(k.kid.clone());
        let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(k.pkcs8_pem.as_bytes()).unwrap();
        assert_eq!(
            ours,
            jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
        );
        let ed = SigningKey::derive(&seed(), 0, SPECS[2]).unwrap();
        assert_eq!(
            ed.sign("JWT", &claims, None).unwrap(),
            ed.sign("JWT", &claims, None).unwrap()
        );
    }

    /// A stream whose first blocks are out of range: 0xff… (≥ n), then zero, then a scalar.
    #[test]
    fn p256_scalars_outside_one_to_n_are_skipped() {
        struct Blocks(Vec<u8>);
        impl RngCore for Blocks {
            fn next_u32(&mut self) -> u32 {
                unimplemented!()
            }
            fn next_u64(&mut self) -> u64 {
                unimplemented!()
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                let n = dest.len();
                dest.copy_from_slice(&self.0[..n]);
                self.0.drain(..n);
            }
            fn try_fill_bytes(
                &mut self,
                dest: &mut [u8],
            ) -> Result<(), rand_chacha::rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        let mut stream = vec![0xffu8; 32];
        stream.extend([0u8; 32]);
        stream.extend([0x42u8; 32]);
        assert_eq!(p256_scalar(&mut Blocks(stream)), [0x42u8; 32]);
        assert!(SigningKey::p256_from_scalar(&[0x42u8; 32]).is_ok());
        assert!(SigningKey::p256_from_scalar(&[0xffu8; 32]).is_err());
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let e = SigningKey::from_pem(KeyAlgorithm::Es256, "nope", None).unwrap_err();
        assert!(e.to_string().contains("PEM"), "{e}");
        let public_only = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let e = SigningKey::from_pem(KeyAlgorithm::Rs256, public_only, None).unwrap_err();
        assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
    }
}
