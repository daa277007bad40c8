//! Random tokens, ULID-style ids (`user_01…`), hashing and base64url helpers.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// `n` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

/// A random URL-safe token with 256 bits of entropy.
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url without padding (padding tolerated).
pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// SHA-256.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A ULID (26 Crockford base32 characters) from a millisecond timestamp and 80 bits.
pub fn ulid_from(unix_millis: i64, random: [u8; 10]) -> String {
    let mut v: u128 = (u128::from(unix_millis.max(0) as u64) & ((1u128 << 48) - 1)) << 80;
    for (i, b) in random.iter().enumerate() {
        v |= u128::from(*b) << (72 - 8 * i);
    }
    let mut out = [0u8; 26];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 125 - 5 * i as u32;
        *slot = CROCKFORD[((v >> shift) & 0x1f) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh ULID at `unix_millis`.
pub fn ulid(unix_millis: i64) -> String {
    ulid_from(unix_millis, random_bytes::<10>())
}

/// A prefixed id such as `client_01HZ…`.
pub fn prefixed(prefix: &str, unix_millis: i64) -> String {
    format!("{prefix}_{}", ulid(unix_millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_26_crockford_chars_and_sort_by_time() {
        let a = ulid_from(1_700_000_000_000, [0xff; 10]);
        let b = ulid_from(1_700_000_000_001, [0; 10]);
        assert_eq!(a.len(), 26);
        assert!(a.bytes().all(|c| CROCKFORD.contains(&c)));
        assert!(a < b);
        assert!(a.starts_with("01"), "{a}");
    }

    #[test]
    fn tokens_are_distinct_and_url_safe() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
