//! PKCE (RFC 7636), S256 only.

use base64::Engine as _;

/// A fresh code verifier: 32 random bytes, base64url (43 characters).
pub fn new_verifier() -> String {
    super::random_token(32)
}

/// `BASE64URL(SHA256(verifier))` without padding.
pub fn challenge_s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Whether `verifier` is a well-formed verifier whose S256 challenge is `challenge`.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier)
        && super::constant_time_eq(challenge_s256(verifier).as_bytes(), challenge.as_bytes())
}

/// RFC 7636 §4.1: 43 to 128 characters from `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `challenge` has the shape of an S256 challenge: 43 base64url characters.
pub fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            challenge_s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify_s256(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!verify_s256(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
    }

    #[test]
    fn verifier_shape() {
        let v = new_verifier();
        assert_eq!(v.len(), 43);
        assert!(is_valid_verifier(&v));
        assert_ne!(v, new_verifier());
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!is_valid_verifier(&format!("{} ", "a".repeat(43))));
    }

    #[test]
    fn plain_is_not_accepted_as_s256() {
        // A client sending the verifier itself as the challenge (plain) must not pass.
        let v = new_verifier();
        assert!(!verify_s256(&v, &v));
        assert!(is_valid_s256_challenge(&challenge_s256(&v)));
        assert!(!is_valid_s256_challenge("short"));
        assert!(!is_valid_s256_challenge(&format!(
            "{}=",
            &challenge_s256(&v)[..42]
        )));
    }

    proptest! {
        #[test]
        fn roundtrip(v in "[A-Za-z0-9._~-]{43,128}") {
            let c = challenge_s256(&v);
            prop_assert!(is_valid_s256_challenge(&c));
            prop_assert!(verify_s256(&v, &c));
        }

        #[test]
        fn other_verifier_fails(a in "[A-Za-z0-9._~-]{43,64}", b in "[A-Za-z0-9._~-]{43,64}") {
            prop_assume!(a != b);
            prop_assert!(!verify_s256(&b, &challenge_s256(&a)));
        }
    }
}
