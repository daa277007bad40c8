//! Mock IdP benchmark (a plain program, not a timed test):
//!
//! 1. cold start to the first discovery answer: in-process (`MockIdp::builder().spawn()`)
//!    with keys from the cache and from PEM, and the release binary as a fresh process;
//! 2. token-endpoint grants per second at 16 concurrent clients, for authorization_code
//!    (codes minted beforehand) and refresh_token (rotation on);
//! 3. memory: resident set size, and the store emptied by eviction once tokens expire.
//!
//! Run: `cargo bench -p mock-idp` (release profile). `BENCH_SECS=N` sets each load phase's length.

use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
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
        let key = mock_idp::keys::RsaKey::derive(&mock_idp::config::KeySeed::default(), 0, 2048).unwrap();
        println!("key from cache or generation: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);

        // What bounds the grant rate: one RS256 signature (jsonwebtoken, aws-lc-rs backend).
        let claims = serde_json::json!({ "sub": "alice", "iss": "http://127.0.0.1", "exp": 2_000_000_000 });
        let n = 300;
        let t = Instant::now();
        for _ in 0..n {
            key.sign("JWT", &claims, None).unwrap();
        }
        let per_sig = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!("RS256 signature (2048-bit, one core): {per_sig:.3} ms");

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
        let idp = MockIdp::builder().config(opaque).clock(Clock::frozen_at(1_900_000_000)).spawn().await.unwrap();
        let (code0, _, _) = code_grants(&idp, secs, "offline_access").await;
        let (refresh0, _) = refresh_grants(&idp, secs, "offline_access").await;
        println!("no signatures (opaque access tokens, no openid): authorization_code {code0:.0}/s, refresh_token {refresh0:.0}/s");
        idp.shutdown().await;
    });
}
