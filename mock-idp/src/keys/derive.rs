//! Keys derived deterministically from `keys.seed`, cached in-process (and RSA keys on disk).
//!
//! The seed and the key's position (0 signs first, rotation brings in 1, 2, …) pick a
//! ChaCha20 stream ([`seed_rng`]); the key is then made from that stream:
//!
//! - **RS256**: `rsa::RsaPrivateKey::new(stream, bits)` (rsa 0.9.10, pinned: another version
//!   searches primes differently). Generation takes 80–250 ms in release, so the PKCS#8 PEM
//!   is kept in `$TMPDIR/mock-idp-key-cache/`.
//! - **ES256**: the P-256 private scalar is the first 32-byte big-endian block of the stream
//!   with 1 ≤ d < n (the group order); a block outside that range (odds about 2⁻³²) is skipped.
//! - **EdDSA**: the Ed25519 private key (RFC 8032's 32-byte seed) is the first 32 bytes of
//!   the stream.

use super::SigningKey;
use crate::config::{KeyAlgorithm, KeySeed, KeysConfig};
use crate::ids::{b64url, sha256};
use anyhow::{Context, anyhow};
use parking_lot::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rsa::RsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

/// The RSA modulus sizes aws-lc-rs signs with.
pub const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;

/// What kind of key a seed makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// RS256 with a modulus of this many bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// ES256.
    P256,
    /// EdDSA.
    Ed25519,
}

impl KeySpec {
    /// The spec `keys` asks for (`bits` matters for RS256 only).
    pub fn of(cfg: &KeysConfig) -> Self {
        match cfg.algorithm {
            KeyAlgorithm::Rs256 => KeySpec::Rsa { bits: cfg.bits },
            KeyAlgorithm::Es256 => KeySpec::P256,
            KeyAlgorithm::EdDsa => KeySpec::Ed25519,
        }
    }

    /// The algorithm its keys sign with.
    pub fn algorithm(self) -> KeyAlgorithm {
        match self {
            KeySpec::Rsa { .. } => KeyAlgorithm::Rs256,
            KeySpec::P256 => KeyAlgorithm::Es256,
            KeySpec::Ed25519 => KeyAlgorithm::EdDsa,
        }
    }
}

/// The ChaCha20 stream of key `index` of `seed`: an integer seed through `seed_from_u64`, a
/// text seed through SHA-256; later indexes hash the first stream's seed with the index.
pub(super) fn seed_rng(seed: &KeySeed, index: u32) -> ChaCha20Rng {
    let base = match seed {
        KeySeed::Int(n) => ChaCha20Rng::seed_from_u64(*n),
        KeySeed::Text(s) => ChaCha20Rng::from_seed(sha256(s.as_bytes())),
    };
    if index == 0 {
        return base;
    }
    let mut input = b"mock-idp/rotation/".to_vec();
    input.extend_from_slice(&base.get_seed());
    input.extend_from_slice(&index.to_be_bytes());
    ChaCha20Rng::from_seed(sha256(&input))
}

/// The order n of the P-256 group, big-endian.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The P-256 private scalar of a stream: its first 32-byte block in 1..n.
pub(super) fn p256_scalar(rng: &mut impl RngCore) -> [u8; 32] {
    loop {
        let mut d = [0u8; 32];
        rng.fill_bytes(&mut d);
        if d != [0u8; 32] && d < P256_ORDER {
            return d;
        }
    }
}

type CacheKey = (KeySeed, u32, KeySpec);
type Slot = Arc<Mutex<Option<Arc<SigningKey>>>>;
static CACHE: LazyLock<Mutex<HashMap<CacheKey, Slot>>> = LazyLock::new(Default::default);

/// Key `index` of `seed` for `spec`, from the in-process cache or made (once per process).
pub(super) fn derive_cached(
    seed: &KeySeed,
    index: u32,
    spec: KeySpec,
) -> anyhow::Result<Arc<SigningKey>> {
    if let KeySpec::Rsa { bits } = spec
        && !RSA_BITS.contains(&bits)
    {
        return Err(anyhow!(
            "keys.bits must be between {} and {}, not {bits}",
            RSA_BITS.start(),
            RSA_BITS.end()
        ));
    }
    let slot = CACHE
        .lock()
        .entry((seed.clone(), index, spec))
        .or_default()
        .clone();
    // Holding the slot lock while generating: other threads wanting this key wait for it.
    let mut guard = slot.lock();
    if let Some(k) = guard.as_ref() {
        return Ok(k.clone());
    }
    let mut rng = seed_rng(seed, index);
    let key = Arc::new(match spec {
        KeySpec::Rsa { bits } => rsa_from_disk_or_generate(seed, index, bits, rng)?,
        KeySpec::P256 => SigningKey::p256_from_scalar(&p256_scalar(&mut rng))?,
        KeySpec::Ed25519 => {
            let mut s = [0u8; 32];
            rng.fill_bytes(&mut s);
            SigningKey::ed25519_from_seed(&s)?
        }
    });
    *guard = Some(key.clone());
    Ok(key)
}

fn disk_path(seed: &KeySeed, index: u32, bits: usize) -> PathBuf {
    let id = match seed {
        KeySeed::Int(n) => format!("int:{n}"),
        KeySeed::Text(s) => format!("text:{s}"),
    };
    let h = sha256(format!("{id}#{index}#{bits}").as_bytes());
    let name = format!("rsa-0.9.10-{bits}-{}.pem", &b64url(&h)[..32]);
    std::env::temp_dir().join("mock-idp-key-cache").join(name)
}

fn rsa_from_disk_or_generate(
    seed: &KeySeed,
    index: u32,
    bits: usize,
    mut rng: ChaCha20Rng,
) -> anyhow::Result<SigningKey> {
    let path = disk_path(seed, index, bits);
    if let Ok(pem) = std::fs::read_to_string(&path)
        && let Ok(k) = SigningKey::from_pem(KeyAlgorithm::Rs256, &pem, None)
    {
        return Ok(k);
    }
    let key = RsaPrivateKey::new(&mut rng, bits).context("RSA key generation failed")?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| anyhow!("cannot export the key as PKCS#8: {e}"))?;
    let k = SigningKey::rsa_from_pkcs8(der.as_bytes())?;
    // Best effort: a read-only temp dir only costs the next run a regeneration.
    let _ = write_atomically(&path, &k.pkcs8_pem);
    Ok(k)
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        crate::ids::random_token()
    ));
    std::fs::write(&tmp, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
