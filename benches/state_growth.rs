//! Guarded throughput as the store fills up (a plain program, not a timed test).
//!
//! An unauthenticated flood leaves live entries in the store: pending authorizations,
//! provisional registrations, consent CSRF tokens. This bench puts N such unrelated live
//! entries straight through the store API (typed records, one hour TTL, spread evenly over
//! five collections: transactions, clients, consent CSRF tokens, consents, used codes) for N
//! in {0, 10k, 100k, 1M}, and after each step measures guarded `tools/list` requests (the
//! load generator of `support/load.rs`, 64 connections, a token from a real flow): requests
//! per second, p99 latency, resident memory, and the ratio to the empty store (the issue's
//! target: at least 0.90 at 1M entries).
//!
//! For each backend — memory, the embedded file (redb) and a private redis-server (skipped
//! when it is not installed) — the stack is what `authproof serve` builds (the store sealed at
//! rest, an OIDC proxy whose guard also checks the upstream RS256 access token) in front of
//! an in-process mock IdP. Each backend runs in a child process of its own, so one backend's
//! memory does not show in the next one's figures.
//!
//! Run: `cargo bench --bench state_growth` (release). `BENCH_SECS=N` sets each phase's length
//! (default 3); `BENCH_STATE_MAX=N` caps the curve (e.g. 100000 for a quick run).

#[path = "support/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../tests/support/redis.rs"]
mod redis_support;
#[path = "support/stack.rs"]
mod stack;

use load::guarded_requests;
use stack::{Rss, Stack, bench_secs, mib, oidc_proxy_config, ratio, serve_store};

use authproof::oauth::sha256_hex;
use authproof::proxy::config::{ProxyConfig, StorageSpec};
use authproof::proxy::redirect::ApplicationType;
use authproof::proxy::store::{
    ClientRecord, ConsentRecord, CsrfRecord, Records, Transaction, UsedCode,
};
use mock_idp::Clock;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const STEPS: [usize; 4] = [0, 10_000, 100_000, 1_000_000];
/// The target at 1M entries: at least this share of the empty store's throughput.
const TARGET_RATIO: f64 = 0.9;
/// Filler entries live this long (longer than the run).
const FILLER_TTL: Duration = Duration::from_secs(3600);
/// Fill tasks at once (the file store commits what is queued together; Redis pipelines).
const FILL_TASKS: usize = 64;
const BACKEND_VAR: &str = "BENCH_STATE_BACKEND";

fn max_entries() -> usize {
    std::env::var("BENCH_STATE_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Entry `i` of the flood, in one of five collections.
async fn put_filler(records: &Records, i: usize) {
    let key = sha256_hex(format!("filler-{i}").as_bytes());
    let now = 1_700_000_000;
    let client_id = format!("{:08x}-flood-4000-8000-{i:012x}", i as u32);
    let r = match i % 5 {
        0 => {
            let txn = Transaction {
                txn_id: key.clone(),
                client_id,
                redirect_uri: "http://127.0.0.1:7777/cb".into(),
                redirect_uri_explicit: true,
                state: Some(key[..22].to_string()),
                code_challenge: key[..43].to_string(),
                scopes: vec!["openid".into(), "email".into()],
                resource: "http://127.0.0.1:8000/mcp".into(),
                login_hint: None,
                created_at: now,
            };
            records.put_transaction(&key, &txn, FILLER_TTL).await
        }
        1 => {
            let client = ClientRecord {
                client_id: client_id.clone(),
                redirect_uris: vec!["http://127.0.0.1:7777/cb".into()],
                application_type: ApplicationType::Native,
                client_name: Some("flood".into()),
                scope: None,
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                response_types: vec!["code".into()],
                token_endpoint_auth_method: "none".into(),
                client_id_issued_at: now,
                extra: serde_json::Map::new(),
                cimd: false,
                provisional: true,
            };
            records.put_client(&client_id, &client, FILLER_TTL).await
        }
        2 => {
            let csrf = CsrfRecord {
                txn_id: key.clone(),
                cookie_hash: key.clone(),
            };
            records.put_csrf(&key, &csrf, FILLER_TTL).await
        }
        3 => {
            let consent = ConsentRecord {
                client_id,
                approved_at: now,
            };
            records.put_consent(&key, &consent, FILLER_TTL).await
        }
        _ => {
            let used = UsedCode {
                grant_id: key.clone(),
            };
            records.put_used_code(&key, &used, FILLER_TTL).await
        }
    };
    r.expect("filler entry");
}

/// Put entries `from..to`.
async fn fill(records: &Records, from: usize, to: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    let per = (to - from).div_ceil(FILL_TASKS).max(1);
    let mut start = from;
    while start < to {
        let end = (start + per).min(to);
        let records = records.clone();
        tasks.spawn(async move {
            for i in start..end {
                put_filler(&records, i).await;
            }
        });
        start = end;
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("fill task");
    }
}

struct Point {
    entries: usize,
    fill_secs: f64,
    rate: f64,
    p99_ms: f64,
    rss: Rss,
    redis_rss: Option<Rss>,
}

/// The curve for one backend, in this process.
async fn curve(label: &str, spec: StorageSpec, redis_pid: Option<u32>, secs: f64) {
    let stack = Stack::start(
        "jwt",
        oidc_proxy_config,
        async |config: &ProxyConfig, clock| serve_store(&spec, config, clock).await,
        Clock::system(),
    )
    .await;
    let token = stack.token().await;
    let records = stack.proxy.state().records.clone();
    let path = stack.mcp_path();
    let max = max_entries();
    let mut points = Vec::new();
    let mut filled = 0;
    for n in STEPS.into_iter().filter(|n| *n <= max) {
        eprintln!("{label}: filling to {n} entries…");
        let t = Instant::now();
        fill(&records, filled, n).await;
        let fill_secs = t.elapsed().as_secs_f64();
        filled = n;
        eprintln!("{label}: {n} entries, guarded requests…");
        let r = guarded_requests(stack.proxy.local_addr(), &path, &token, secs, CONNECTIONS).await;
        assert_eq!(
            r.bad, 0,
            "{label}: failed requests, first: {:?}",
            r.first_bad
        );
        points.push(Point {
            entries: n,
            fill_secs,
            rate: r.rate,
            p99_ms: r.p99_ms,
            rss: Rss::this_process(),
            redis_rss: redis_pid.map(Rss::of_pid),
        });
    }
    stack.stop().await;
    let empty = points.first().map_or(0.0, |p| p.rate);
    for p in &points {
        let vs = if p.entries == 0 {
            "1.00".to_string()
        } else if p.entries == 1_000_000 {
            ratio(p.rate, empty, TARGET_RATIO)
        } else {
            format!("{:.2}", p.rate / empty)
        };
        let redis = p
            .redis_rss
            .map_or_else(String::new, |r| format!("; redis-server {}", mib(r.total)));
        println!(
            "| {label} | {} | {:.0} | {vs} | {:.2} | {}{redis} | {:.1} s |",
            p.entries,
            p.rate,
            p.p99_ms,
            mib(p.rss.total),
            p.fill_secs
        );
    }
}

/// Run one backend (`BENCH_STATE_BACKEND` set): this is a child process.
async fn child(backend: &str, secs: f64) {
    match backend {
        "memory" => curve("memory", StorageSpec::Memory, None, secs).await,
        "file" => {
            let dir = std::env::temp_dir().join(format!("authproof-growth-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            curve(
                "file",
                StorageSpec::File(dir.join("state.redb")),
                None,
                secs,
            )
            .await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        "redis" => match redis_support::RedisServer::start("bench state_growth") {
            Some(server) => {
                let pid = server.pid();
                curve("redis", StorageSpec::Redis(server.url(0)), Some(pid), secs).await;
            }
            None => println!("| redis | skipped: redis-server not installed | | | | |"),
        },
        other => panic!("unknown backend {other}"),
    }
}

fn main() {
    let secs = bench_secs(3.0);
    if let Ok(backend) = std::env::var(BACKEND_VAR) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(child(&backend, secs));
        return;
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "state growth: {secs} s per phase, {CONNECTIONS} connections, {cores} cores, up to {} entries",
        max_entries().min(STEPS[STEPS.len() - 1])
    );
    let exe = std::env::current_exe().expect("this program");
    let mut rows = Vec::new();
    for backend in ["memory", "file", "redis"] {
        let out = std::process::Command::new(&exe)
            .args(std::env::args().skip(1))
            .env(BACKEND_VAR, backend)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run a backend");
        assert!(out.status.success(), "the {backend} run failed");
        rows.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    println!();
    println!(
        "| storage | live unrelated entries | guarded req/s | vs empty store | p99 ms | VmRSS (proxy + IdP + load generator) | fill time |"
    );
    println!("|---|---:|---:|---|---:|---|---:|");
    for r in rows {
        print!("{r}");
    }
}
