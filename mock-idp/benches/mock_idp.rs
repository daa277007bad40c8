//! Mock IdP benchmark (a plain program, not a timed test):
//!
//! 1. signing against the machine's limit, for RS256, ES256 and EdDSA: a baseline, aws-lc-rs
//!    signing in a tight loop on 2 OS threads (like `openssl speed -multi 2`); then
//!    `client_credentials` grants/s (one signature each: the JWT access token) and refresh
//!    grants/s with rotation off (two: access and ID token), each as a ratio of the baseline's
//!    signatures/s. Three rounds, each between two baseline measurements, and the medians (see
//!    [`ROUNDS`]). The load generator (raw keep-alive HTTP/1.1, `benches/support/load.rs`)
//!    runs on the same cores as the IdP;
//! 2. cold start to the first discovery answer: in-process (`MockIdp::builder().spawn()`)
//!    with keys from the cache and from PEM, and the release binary as a fresh process;
//! 3. token-endpoint grants per second at 16 concurrent reqwest clients, for
//!    authorization_code (codes minted beforehand) and refresh_token (rotation on);
//! 4. memory: resident set size, and the store emptied by eviction once tokens expire.
//!
//! Run: `cargo bench -p mock-idp --bench mock_idp` (release profile). `BENCH_SECS=N` sets each
//! load phase's length.

#[path = "../../benches/support/allocator.rs"]
mod allocator;
#[path = "../../benches/support/load.rs"]
mod load;

use aws_lc_rs::signature as sig;
use mock_idp::config::{KeyAlgorithm, KeySeed, Rotation};
use mock_idp::keys::{KeySpec, SigningKey};
use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
/// The issue's target: one-signature grants per second at least this share of the machine's
/// signing rate (the in-bench baseline).
const TARGET_RATIO: f64 = 0.8;
const REDIRECT: &str = "http://127.0.0.1:7777/cb";

const CONFIG: &str = r#"
flavor: oidc
clients:
  - { id: bench, secret: bench-secret, token_endpoint_auth_method: client_secret_post }
users:
  - { sub: alice, claims: { email: alice@example.com } }
tokens: { code_ttl_secs: 600, access_token_ttl_secs: 300, refresh_token_ttl_secs: 600, refresh_rotation: on }
journal: { max_entries: 1000 }
"#;

fn config() -> IdpConfig {
    foundations::yaml::from_str(CONFIG, "<bench>").expect("bench config")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn first_answer(client: &reqwest::Client, url: &str) {
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            let _ = r.bytes().await;
            return;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn cold_start_in_process(cfg: IdpConfig) -> f64 {
    let client = reqwest::Client::new();
    let t = Instant::now();
    let idp = MockIdp::builder().config(cfg).spawn().await.expect("spawn");
    first_answer(&client, &idp.discovery_url()).await;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    idp.shutdown().await;
    ms
}

async fn cold_start_binary() -> Option<f64> {
    let bin = env!("CARGO_BIN_EXE_mock-idp");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/oidc.yaml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    let t = Instant::now();
    let mut child = std::process::Command::new(bin)
        .args(["--config", example, "--port", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let ok = tokio::time::timeout(Duration::from_secs(20), first_answer(&client, &url))
        .await
        .is_ok();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = child.kill();
    let _ = child.wait();
    ok.then_some(ms)
}

async fn mint_code(client: &reqwest::Client, idp: &MockIdpHandle, scope: &str) -> String {
    let r = client
        .get(&idp.endpoints()["authorize"])
        .query(&[
            ("response_type", "code"),
            ("client_id", "bench"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("login_hint", "alice"),
            ("nonce", "n"),
        ])
        .send()
        .await
        .expect("authorize");
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code")
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap()
}

async fn redeem(client: &reqwest::Client, token_url: &str, code: &str) -> serde_json::Value {
    let r = client
        .post(token_url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", "bench"),
            ("client_secret", "bench-secret"),
        ])
        .send()
        .await
        .expect("token");
    assert!(
        r.status().is_success(),
        "token endpoint answered {}",
        r.status()
    );
    r.json().await.expect("json")
}

/// authorization_code grants/s: codes are minted first, then redeemed by 16 workers.
async fn code_grants(idp: &MockIdpHandle, secs: f64, scope: &'static str) -> (f64, f64, u64) {
    let client = http();
    // Estimate how many codes a phase needs from a short trial, then mint them concurrently.
    let target = (secs * 3000.0) as usize;
    let codes = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(target)));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, idp, codes) = (client.clone(), idp.clone(), codes.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..target / CONCURRENCY {
                let c = mint_code(&client, &idp, scope).await;
                codes.lock().push(c);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let minted = codes.lock().len();
    let authorize_rate = minted as f64 / t.elapsed().as_secs_f64();
    let token_url = idp.endpoints()["token"].clone();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, codes, done, token_url) = (
            client.clone(),
            codes.clone(),
            done.clone(),
            token_url.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Some(code) = codes.lock().pop() else {
                    break;
                };
                let body = redeem(&client, &token_url, &code).await;
                assert!(body["access_token"].is_string());
                assert_eq!(body["id_token"].is_string(), scope.contains("openid"));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    (n as f64 / t.elapsed().as_secs_f64(), authorize_rate, n)
}

/// refresh_token grants/s: 16 workers, each refreshing its own grant (rotation on).
async fn refresh_grants(idp: &MockIdpHandle, secs: f64, scope: &'static str) -> (f64, u64) {
    let client = http();
    let token_url = idp.endpoints()["token"].clone();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, idp, done, token_url) =
            (client.clone(), idp.clone(), done.clone(), token_url.clone());
        tasks.push(tokio::spawn(async move {
            let code = mint_code(&client, &idp, scope).await;
            let mut rt = redeem(&client, &token_url, &code).await["refresh_token"]
                .as_str()
                .unwrap()
                .to_string();
            while Instant::now() < deadline {
                let r = client
                    .post(&token_url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", rt.as_str()),
                        ("client_id", "bench"),
                        ("client_secret", "bench-secret"),
                    ])
                    .send()
                    .await
                    .expect("refresh");
                assert!(r.status().is_success(), "refresh answered {}", r.status());
                let body: serde_json::Value = r.json().await.unwrap();
                rt = body["refresh_token"].as_str().unwrap().to_string();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    (n as f64 / t.elapsed().as_secs_f64(), n)
}

/// One private key parsed by aws-lc-rs, to sign with directly.
enum Raw {
    Rsa(sig::RsaKeyPair),
    Ec(sig::EcdsaKeyPair),
    Ed(sig::Ed25519KeyPair),
}

impl Raw {
    fn of(key: &SigningKey) -> Raw {
        let der = pem::parse(&key.pkcs8_pem).expect("PEM").into_contents();
        match key.algorithm() {
            KeyAlgorithm::Rs256 => Raw::Rsa(sig::RsaKeyPair::from_pkcs8(&der).unwrap()),
            KeyAlgorithm::Es256 => Raw::Ec(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &der).unwrap(),
            ),
            KeyAlgorithm::EdDsa => Raw::Ed(sig::Ed25519KeyPair::from_pkcs8(&der).unwrap()),
        }
    }

    fn sign(&self, rng: &aws_lc_rs::rand::SystemRandom, msg: &[u8], out: &mut [u8]) {
        match self {
            Raw::Rsa(k) => k.sign(&sig::RSA_PKCS1_SHA256, rng, msg, out).unwrap(),
            Raw::Ec(k) => out[..64].copy_from_slice(k.sign(rng, msg).unwrap().as_ref()),
            Raw::Ed(k) => out[..64].copy_from_slice(k.sign(msg).as_ref()),
        }
    }

    fn signature_len(&self) -> usize {
        match self {
            Raw::Rsa(k) => k.public_modulus_len(),
            Raw::Ec(_) | Raw::Ed(_) => 64,
        }
    }
}

/// The machine's signing rate for `key`'s algorithm: aws-lc-rs signing a JWT-sized message in
/// a tight loop on `threads` OS threads for `secs` seconds (what `openssl speed -multi 2`
/// measures). Signatures per second, all threads together.
fn baseline_signatures(key: &SigningKey, threads: usize, secs: f64) -> f64 {
    let raw = Arc::new(Raw::of(key));
    // A signing input the size of the IdP's access tokens.
    let msg = key
        .sign("at+jwt", &serde_json::json!({ "iss": "http://127.0.0.1:1", "sub": "bench", "aud": "bench", "client_id": "bench", "scope": "", "iat": 1_900_000_000, "exp": 1_900_000_300, "jti": "x".repeat(43) }), None)
        .unwrap();
    let msg = Arc::new(msg.rsplit_once('.').unwrap().0.as_bytes().to_vec());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (raw, msg) = (raw.clone(), msg.clone());
            std::thread::spawn(move || {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                let mut out = vec![0u8; raw.signature_len()];
                let mut n = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..8 {
                        raw.sign(&rng, &msg, &mut out);
                    }
                    n += 8;
                }
                n
            })
        })
        .collect();
    let n: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    n as f64 / start.elapsed().as_secs_f64()
}

fn has_tokens(body: &[u8], fields: &[&str]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match fields.iter().find(|f| !v[**f].is_string()) {
        None => Ok(()),
        Some(f) => Err(format!("no {f} in {}", String::from_utf8_lossy(body))),
    }
}

/// The mock IdP with `cfg`, its clock frozen (tokens never expire during a phase).
async fn spawn_frozen(cfg: IdpConfig) -> MockIdpHandle {
    MockIdp::builder()
        .config(cfg)
        .clock(Clock::frozen_at(1_900_000_000))
        .spawn()
        .await
        .unwrap()
}

/// client_credentials grants/s with opaque access tokens: the grant without any signature.
async fn unsigned_grants(secs: f64) -> load::RequestFigures {
    let mut cfg = config();
    cfg.tokens.access_token_format = mock_idp::config::AccessTokenFormat::Opaque;
    let idp = spawn_frozen(cfg).await;
    let (addr, token_path) = token_endpoint(&idp);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "bench"),
        ("client_secret", "bench-secret"),
    ];
    let f = load::repeated_requests(
        addr,
        load::form_post(addr, &token_path, &form),
        secs,
        CONCURRENCY,
        |b| has_tokens(b, &["access_token"]),
    )
    .await;
    idp.shutdown().await;
    f
}

/// The address and path of an IdP's token endpoint.
fn token_endpoint(idp: &MockIdpHandle) -> (std::net::SocketAddr, String) {
    let url = url::Url::parse(&idp.endpoints()["token"]).unwrap();
    (
        url.socket_addrs(|| None).unwrap()[0],
        url.path().to_string(),
    )
}

/// Rounds of the signing phases per algorithm: each round's grant rates are compared with the
/// baselines measured right before and right after them, and the medians are reported, so a
/// burst of load from elsewhere on a shared machine moves one round, not the figure.
const ROUNDS: usize = 3;

/// One round: grants/s with 1 and 2 signatures, and the baseline around them.
struct Round {
    one: f64,
    two: f64,
    /// Mean of the baselines before and after.
    baseline: f64,
}

impl Round {
    fn ratio_one(&self) -> f64 {
        self.one / self.baseline
    }

    fn ratio_two(&self) -> f64 {
        2.0 * self.two / self.baseline
    }
}

/// What one algorithm measured.
struct SigningFigures {
    alg: KeyAlgorithm,
    rounds: Vec<Round>,
    p99_ms: (f64, f64),
}

impl SigningFigures {
    fn median_of(&self, f: impl Fn(&Round) -> f64) -> f64 {
        median(self.rounds.iter().map(f).collect())
    }

    fn spread(&self, f: impl Fn(&Round) -> f64) -> String {
        let v: Vec<f64> = self.rounds.iter().map(f).collect();
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.2}–{hi:.2}")
    }
}

/// For an IdP signing with `alg`, [`ROUNDS`] rounds of: client_credentials (1 signature) and
/// refresh_token with rotation off (2 signatures) grants/s by 16 raw keep-alive connections,
/// each phase `secs` / [`ROUNDS`] long, between measurements of the baseline.
async fn signing_phases(alg: KeyAlgorithm, secs: f64) -> SigningFigures {
    let spec = match alg {
        KeyAlgorithm::Rs256 => KeySpec::Rsa { bits: 2048 },
        KeyAlgorithm::Es256 => KeySpec::P256,
        KeyAlgorithm::EdDsa => KeySpec::Ed25519,
    };
    let key = SigningKey::derive(&KeySeed::default(), 0, spec).unwrap();
    let mut cfg = config();
    cfg.keys.algorithm = alg;
    cfg.tokens.refresh_rotation = Rotation::Off;
    let idp = spawn_frozen(cfg).await;
    let (addr, token_path) = token_endpoint(&idp);
    let creds = [("client_id", "bench"), ("client_secret", "bench-secret")];
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(creds);
    let one_request = load::form_post(addr, &token_path, &form);
    let client = http();
    let code = mint_code(&client, &idp, "openid offline_access").await;
    let rt = redeem(&client, &idp.endpoints()["token"], &code).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    form.extend(creds);
    let two_request = load::form_post(addr, &token_path, &form);
    let phase = (secs / ROUNDS as f64).max(1.0);
    let baseline_secs = phase.min(1.5);
    let mut rounds = Vec::new();
    let mut p99 = (Vec::new(), Vec::new());
    let mut before = baseline_signatures(&key, 2, baseline_secs);
    for _ in 0..ROUNDS {
        let mut rates = Vec::new();
        let access_only: fn(&[u8]) -> Result<(), String> = |b| has_tokens(b, &["access_token"]);
        let with_id: fn(&[u8]) -> Result<(), String> =
            |b| has_tokens(b, &["access_token", "id_token"]);
        for (what, request, check, p99) in [
            ("client_credentials", &one_request, access_only, &mut p99.0),
            ("refresh", &two_request, with_id, &mut p99.1),
        ] {
            let f = load::repeated_requests(addr, request.clone(), phase, CONCURRENCY, check).await;
            if f.bad > 0 {
                println!(
                    "  {alg} {what}: {} failed requests, first: {}",
                    f.bad,
                    f.first_bad.as_deref().unwrap_or("")
                );
            }
            rates.push(f.rate);
            p99.push(f.p99_ms);
        }
        let after = baseline_signatures(&key, 2, baseline_secs);
        rounds.push(Round {
            one: rates[0],
            two: rates[1],
            baseline: (before + after) / 2.0,
        });
        before = after;
    }
    idp.shutdown().await;
    SigningFigures {
        alg,
        rounds,
        p99_ms: (median(p99.0), median(p99.1)),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored.
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!("mock-idp benchmark ({} cores, {CONCURRENCY} concurrent clients, {secs} s per load phase)",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));

        // Warm the key cache (the first run on a machine generates and stores the key).
        let t = Instant::now();
        let key = SigningKey::derive(&KeySeed::default(), 0, KeySpec::Rsa { bits: 2048 }).unwrap();
        println!("key from cache or generation: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);

        // Signing at the machine's limit: the baseline, then grants with 1 and 2 signatures.
        let mut signing = Vec::new();
        for alg in [KeyAlgorithm::Rs256, KeyAlgorithm::Es256, KeyAlgorithm::EdDsa] {
            signing.push(signing_phases(alg, secs).await);
        }
        let unsigned = unsigned_grants(secs).await;
        println!(
            "client_credentials grants without a signature (opaque access tokens): {:.0}/s, p99 {:.1} ms",
            unsigned.rate, unsigned.p99_ms
        );
        println!("\n| algorithm | baseline: aws-lc-rs signatures/s on 2 threads | client_credentials grants/s (1 signature) | ratio (rounds), target ≥ {TARGET_RATIO:.2} | refresh grants/s (2 signatures) | ratio: 2 × grants / baseline (rounds) | p99 ms (1 / 2) |");
        println!("|---|---:|---:|---|---:|---|---|");
        for f in &signing {
            println!(
                "| {} | {:.0} | {:.0} | {:.2} ({}): {} | {:.0} | {:.2} ({}) | {:.1} / {:.1} |",
                f.alg,
                f.median_of(|r| r.baseline),
                f.median_of(|r| r.one),
                f.median_of(Round::ratio_one),
                f.spread(Round::ratio_one),
                if f.median_of(Round::ratio_one) >= TARGET_RATIO { "met" } else { "not met" },
                f.median_of(|r| r.two),
                f.median_of(Round::ratio_two),
                f.spread(Round::ratio_two),
                f.p99_ms.0,
                f.p99_ms.1
            );
        }
        println!("(medians of {ROUNDS} rounds; each round's ratio uses the baselines measured right before and after it)");
        println!();

        let mut cached = Vec::new();
        for _ in 0..20 {
            cached.push(cold_start_in_process(config()).await);
        }
        let mut pem_cfg = config();
        pem_cfg.keys.pem = vec![mock_idp::config::PemKey { kid: Some("bench".into()), pem: Some(key.pkcs8_pem.clone()), file: None }];
        let mut pem = Vec::new();
        for _ in 0..20 {
            pem.push(cold_start_in_process(pem_cfg.clone()).await);
        }
        println!("cold start → first discovery answer, in process, keys from cache: median {:.2} ms (max {:.2})",
            median(cached.clone()), cached.iter().cloned().fold(0.0, f64::max));
        println!("cold start → first discovery answer, in process, keys from PEM:   median {:.2} ms (max {:.2})",
            median(pem.clone()), pem.iter().cloned().fold(0.0, f64::max));
        let mut bin = Vec::new();
        for _ in 0..5 {
            if let Some(ms) = cold_start_binary().await {
                bin.push(ms);
            }
        }
        if !bin.is_empty() {
            println!("cold start → first discovery answer, mock-idp binary (new process, examples/oidc.yaml): median {:.1} ms", median(bin));
        }

        let clock = Clock::frozen_at(1_900_000_000);
        let idp = MockIdp::builder().config(config()).clock(clock.clone()).spawn().await.unwrap();
        let rss0 = rss_kib();
        let full = "openid offline_access";
        let (code_rate, authorize_rate, n_code) = code_grants(&idp, secs, full).await;
        println!("authorize (headless, 302 with code): {authorize_rate:.0} requests/s");
        println!("authorization_code grants, scope openid: {code_rate:.0}/s ({n_code} grants; JWT access + ID token = 2 RS256 signatures)");
        let (refresh_rate, n_refresh) = refresh_grants(&idp, secs, full).await;
        println!("refresh_token grants, scope openid:      {refresh_rate:.0}/s ({n_refresh} grants; rotation on, 2 RS256 signatures)");
        let (one_sig, _, _) = code_grants(&idp, secs, "offline_access").await;
        println!("authorization_code grants, no openid:    {one_sig:.0}/s (JWT access token only = 1 signature)");
        let sizes = idp.store_sizes();
        let rss1 = rss_kib();
        println!("store after load: {sizes:?}; RSS {} MiB → {} MiB", rss0 / 1024, rss1 / 1024);
        clock.advance(Duration::from_secs(3600));
        idp.sweep();
        println!("store after the clock passes every lifetime and a sweep: {:?}", idp.store_sizes());
        idp.shutdown().await;

        let mut opaque = config();
        opaque.tokens.access_token_format = mock_idp::config::AccessTokenFormat::Opaque;
        let idp = spawn_frozen(opaque).await;
        let (code0, _, _) = code_grants(&idp, secs, "offline_access").await;
        let (refresh0, _) = refresh_grants(&idp, secs, "offline_access").await;
        println!("no signatures (opaque access tokens, no openid): authorization_code {code0:.0}/s, refresh_token {refresh0:.0}/s");
        idp.shutdown().await;
    });
}
