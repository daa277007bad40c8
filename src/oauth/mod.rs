//! Shared OAuth building blocks: PKCE, client authentication, RFC 6749 errors.

pub mod client_auth;
pub mod error;
pub mod pkce;

/// `n` bytes from the operating system's CSPRNG, base64url without padding.
pub fn random_token(n: usize) -> String {
    use base64::Engine as _;
    let mut buf = vec![0u8; n];
    // aws-lc-rs's SystemRandom does not fail on supported platforms; should it ever, the
    // thread RNG of `rand` (a CSPRNG seeded from the OS) fills the buffer instead.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        rand::Rng::fill_bytes(&mut rand::rng(), &mut buf);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&buf)
}

/// SHA-256 of `data`, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = String::with_capacity(64);
    for b in digest.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
