//! One signing key: an aws-lc-rs key pair parsed once, which signs compact JWS itself.
//!
//! jsonwebtoken's `encode` builds its signer from the `EncodingKey` on every call, and for RSA
//! that means `RsaKeyPair::from_der` (parsing and checking the private key) before each
//! signature, which cost more than the signature. Here the pair is parsed when the key is
//! made, and a token is `base64url(header) . base64url(claims) . base64url(signature)`.

use crate::config::KeyAlgorithm;
use crate::ids::{b64url, sha256};
use anyhow::anyhow;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::sync::Arc;

/// A parsed private key.
enum Pair {
    Rsa(sig::RsaKeyPair),
    P256(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
}

/// The public key as the JWK members that carry it.
#[derive(Clone)]
enum Public {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { x: Vec<u8>, y: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// One key pair, ready to sign tokens with its algorithm.
pub struct SigningKey {
    /// Key id published in the JWKS and put in token headers.
    pub kid: String,
    /// PKCS#8 PEM of the private key.
    pub pkcs8_pem: String,
    algorithm: KeyAlgorithm,
    public: Public,
    pair: Arc<Pair>,
    /// aws-lc-rs ignores it, but its signing API takes one; made once per key.
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn new(algorithm: KeyAlgorithm, pair: Pair, kid: Option<String>) -> anyhow::Result<Self> {
        let (public, pkcs8) = match &pair {
            Pair::Rsa(p) => (
                Public::Rsa {
                    n: p.public_key()
                        .modulus()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                    e: p.public_key()
                        .exponent()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                },
                AsDer::<Pkcs8V1Der>::as_der(p).map(|d| d.as_ref().to_vec()),
            ),
            Pair::P256(p) => {
                // SEC 1 uncompressed point: 0x04 || x || y.
                let point = p.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(anyhow!("unexpected P-256 public key encoding"));
                }
                (
                    Public::P256 {
                        x: point[1..33].to_vec(),
                        y: point[33..].to_vec(),
                    },
                    p.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
                )
            }
            Pair::Ed25519(p) => (
                Public::Ed25519 {
                    x: p.public_key().as_ref().to_vec(),
                },
                AsDer::<Pkcs8V1Der>::as_der(p).map(|d| d.as_ref().to_vec()),
            ),
        };
        let pkcs8 = pkcs8.map_err(|_| anyhow!("cannot export the key as PKCS#8"))?;
        let pkcs8_pem = pem::encode_config(
            &pem::Pem::new("PRIVATE KEY", pkcs8),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        let mut key = Self {
            kid: String::new(),
            pkcs8_pem,
            algorithm,
            public,
            pair: Arc::new(pair),
            rng: SystemRandom::new(),
        };
        key.kid = kid.unwrap_or_else(|| key.thumbprint());
        Ok(key)
    }

    /// An RSA key from its PKCS#8 DER (2048 to 8192 bits: what aws-lc-rs signs with).
    pub(super) fn rsa_from_pkcs8(der: &[u8]) -> anyhow::Result<Self> {
        let pair = sig::RsaKeyPair::from_pkcs8(der)
            .map_err(|e| anyhow!("aws-lc-rs rejected the RSA key: {e}"))?;
        Self::new(KeyAlgorithm::Rs256, Pair::Rsa(pair), None)
    }

    /// A P-256 key from its private scalar (32 bytes, big-endian, 1 ≤ d < n).
    pub(super) fn p256_from_scalar(d: &[u8]) -> anyhow::Result<Self> {
        use aws_lc_rs::agreement;
        let public = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, d)
            .map_err(|e| anyhow!("not a P-256 private scalar: {e}"))?
            .compute_public_key()
            .map_err(|_| anyhow!("cannot compute the P-256 public key"))?;
        let pair = sig::EcdsaKeyPair::from_private_key_and_public_key(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            d,
            public.as_ref(),
        )
        .map_err(|e| anyhow!("aws-lc-rs rejected the P-256 key: {e}"))?;
        Self::new(KeyAlgorithm::Es256, Pair::P256(pair), None)
    }

    /// An Ed25519 key from its 32-byte seed (the RFC 8032 private key).
    pub(super) fn ed25519_from_seed(seed: &[u8; 32]) -> anyhow::Result<Self> {
        let pair = sig::Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| anyhow!("aws-lc-rs rejected the Ed25519 seed: {e}"))?;
        Self::new(KeyAlgorithm::EdDsa, Pair::Ed25519(pair), None)
    }

    /// Load a private key of `algorithm` from PEM: RS256 takes PKCS#8 (`PRIVATE KEY`) or
    /// PKCS#1 (`RSA PRIVATE KEY`), ES256 a P-256 key in PKCS#8 or SEC 1 (`EC PRIVATE KEY`,
    /// after an `EC PARAMETERS` block as `openssl ecparam -genkey` writes), EdDSA an Ed25519
    /// key in PKCS#8.
    pub fn from_pem(
        algorithm: KeyAlgorithm,
        text: &str,
        kid: Option<String>,
    ) -> anyhow::Result<Self> {
        let blocks = pem::parse_many(text).map_err(|e| anyhow!("not a PEM document ({e})"))?;
        let block = blocks
            .iter()
            .find(|b| b.tag().ends_with("PRIVATE KEY"))
            .ok_or_else(|| anyhow!("no PRIVATE KEY block in the PEM text"))?;
        let der = block.contents();
        let pair = match (algorithm, block.tag()) {
            (KeyAlgorithm::Rs256, "PRIVATE KEY") => sig::RsaKeyPair::from_pkcs8(der).map(Pair::Rsa),
            (KeyAlgorithm::Rs256, "RSA PRIVATE KEY") => {
                sig::RsaKeyPair::from_der(der).map(Pair::Rsa)
            }
            (KeyAlgorithm::Es256, "PRIVATE KEY" | "EC PRIVATE KEY") => {
                sig::EcdsaKeyPair::from_private_key_der(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map(Pair::P256)
            }
            (KeyAlgorithm::EdDsa, "PRIVATE KEY") => {
                sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map(Pair::Ed25519)
            }
            (_, tag) => {
                return Err(anyhow!(
                    "a {tag} cannot be a key for {algorithm} (keys.algorithm)"
                ));
            }
        }
        .map_err(|e| {
            let what = match algorithm {
                KeyAlgorithm::Rs256 => "an RSA private key of 2048 to 8192 bits",
                KeyAlgorithm::Es256 => "an EC P-256 private key",
                KeyAlgorithm::EdDsa => "an Ed25519 private key",
            };
            anyhow!("not {what}, as keys.algorithm {algorithm} needs ({e})")
        })?;
        Self::new(algorithm, pair, kid)
    }

    /// The same key under another kid.
    pub fn with_kid(&self, kid: String) -> SigningKey {
        SigningKey {
            kid,
            pkcs8_pem: self.pkcs8_pem.clone(),
            algorithm: self.algorithm,
            public: self.public.clone(),
            pair: self.pair.clone(),
            rng: SystemRandom::new(),
        }
    }

    /// The JWS algorithm this key signs with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let canonical = match &self.public {
            Public::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
            }
            Public::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                b64url(x),
                b64url(y)
            ),
            Public::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(x))
            }
        };
        b64url(&sha256(canonical.as_bytes()))
    }

    /// The public JWK, with `use: sig` and this key's `alg`.
    pub fn jwk(&self) -> Value {
        let mut jwk = match &self.public {
            Public::Rsa { n, e } => json!({ "kty": "RSA", "n": b64url(n), "e": b64url(e) }),
            Public::P256 { x, y } => {
                json!({ "kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y) })
            }
            Public::Ed25519 { x } => json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(x) }),
        };
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(self.algorithm.as_str());
        jwk["kid"] = json!(self.kid);
        jwk
    }

    /// Sign `claims` as a compact JWS with header `{"typ", "alg", "kid"}` (this key's kid, or
    /// `kid_override`).
    pub fn sign(
        &self,
        typ: &str,
        claims: &Value,
        kid_override: Option<&str>,
    ) -> anyhow::Result<String> {
        // Members in jsonwebtoken's order, so RS256 tokens are the bytes it made before.
        let header = format!(
            r#"{{"typ":{},"alg":"{}","kid":{}}}"#,
            Value::from(typ),
            self.algorithm.as_str(),
            Value::from(kid_override.unwrap_or(&self.kid))
        );
        let mut token = String::with_capacity(512);
        URL_SAFE_NO_PAD.encode_string(header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    /// The raw JWS signature of `message` (RSA PKCS#1 v1.5 SHA-256, ECDSA P-256 SHA-256 as
    /// r ‖ s, or Ed25519).
    pub fn sign_bytes(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        match self.pair.as_ref() {
            Pair::Rsa(p) => {
                let mut out = vec![0; p.public_modulus_len()];
                p.sign(&sig::RSA_PKCS1_SHA256, &self.rng, message, &mut out)
                    .map_err(|_| anyhow!("RSA signing failed"))?;
                Ok(out)
            }
            Pair::P256(p) => p
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| anyhow!("ECDSA signing failed")),
            Pair::Ed25519(p) => Ok(p.sign(message).as_ref().to_vec()),
        }
    }
}
