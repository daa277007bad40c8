//! Guarded throughput as the store fills up (a plain program, not a timed test).
//!
//! An unauthenticated flood leaves live entries in the store: pending authorizations,
//! provisional registrations, consent CSRF tokens. This bench puts N such unrelated live
//! entries straight through the store API (typed records, one hour TTL, spread evenly over
//! five collections: transactions, clients, consent CSRF tokens, consents, used codes) for N
//! in {0, 10k, 100k, 1M}, and after each step measures guarded `tools/list` requests (the
//! load generator of `support/load.rs`, 64 connections, a token from a real flow): requests
//! per second, p99 latency, resident memory, and the ratio to an empty store of the same
//! backend served beside it (the target: at least 0.90 at 1M entries). The two are
//! measured alternately, three phases each per step, and the medians compared, so that other
//! load on a shared machine does not show as a trend.
//!
//! For each backend — memory, the embedded file (redb) and a private redis-server (skipped
//! when it is not installed) — the stack is what `authproof serve` builds (the store sealed at
//! rest, an OIDC proxy whose guard also checks the upstream RS256 access token) in front of
//! an in-process mock IdP. Each backend runs in a child process of its own, so one backend's
//! memory does not show in the next one's figures.
//!
//! Run: `cargo bench --bench state_growth` (release). `BENCH_SECS=N` sets each phase's length
//! (default 3); `BENCH_STATE_MAX=N` caps the curve (e.g. 100000 for a quick run).

#[path = "support/allocator.rs"]
mod allocator;
#[allow(dead_code)] // the other benches use the rest
#[path = "support/flows.rs"]
mod flows;
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../tests/support/redis.rs"]
mod redis_support;
#[allow(dead_code)] // the flood bench uses the rest
#[path = "support/rss.rs"]
mod rss;
#[path = "support/stack.rs"]
mod stack;

use load::{RequestFigures, guarded_requests};
use rss::{Rss, mib};
use stack::{Stack, bench_secs, oidc_proxy_config, ratio, serve_store};

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
/// Load phases per store and step (the median counts).
const ROUNDS: usize = 3;

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
                token_hash: key.clone(),
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
    empty_rate: f64,
    p99_ms: f64,
    rss: Rss,
    redis_rss: Option<Rss>,
}

/// A proxy over a store of `spec`, with a token.
async fn stack(spec: &StorageSpec) -> (Stack, String) {
    let stack = Stack::start(
        "jwt",
        oidc_proxy_config,
        async |config: &ProxyConfig, clock| serve_store(spec, config, clock).await,
        Clock::system(),
    )
    .await;
    let token = stack.token().await;
    (stack, token)
}

/// Guarded requests per second at `stack` (median of `ROUNDS` phases), and the p99 of the
/// median phase.
async fn guarded(stack: &Stack, token: &str, secs: f64, label: &str) -> RequestFigures {
    let r = guarded_requests(
        stack.proxy.local_addr(),
        &stack.mcp_path(),
        token,
        secs,
        CONNECTIONS,
    )
    .await;
    assert_eq!(
        r.bad, 0,
        "{label}: failed requests, first: {:?}",
        r.first_bad
    );
    r
}

fn median(mut runs: Vec<RequestFigures>) -> RequestFigures {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    runs.swap_remove(runs.len() / 2)
}

/// The curve for one backend, in this process: a store of `grown` filled step by step, and
/// beside it an empty one of `empty` (the same backend), measured alternately at each step so
/// that the ratio does not follow the other load on the machine.
async fn curve(
    label: &str,
    grown: StorageSpec,
    empty: StorageSpec,
    redis_pid: Option<u32>,
    secs: f64,
) {
    let (stack_g, token_g) = stack(&grown).await;
    let (stack_e, token_e) = stack(&empty).await;
    let records = stack_g.proxy.state().records.clone();
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
        let (mut g, mut e) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            g.push(guarded(&stack_g, &token_g, secs, label).await);
            e.push(guarded(&stack_e, &token_e, secs, label).await);
        }
        let (g, e) = (median(g), median(e));
        points.push(Point {
            entries: n,
            fill_secs,
            rate: g.rate,
            empty_rate: e.rate,
            p99_ms: g.p99_ms,
            rss: Rss::this_process(),
            redis_rss: redis_pid.map(Rss::of_pid),
        });
    }
    stack_g.stop().await;
    stack_e.stop().await;
    for p in &points {
        let vs = if p.entries == STEPS[STEPS.len() - 1] {
            ratio(p.rate, p.empty_rate, TARGET_RATIO)
        } else {
            format!("{:.2}", p.rate / p.empty_rate)
        };
        let redis = p
            .redis_rss
            .map_or_else(String::new, |r| format!("; redis-server {}", mib(r.total)));
        println!(
            "| {label} | {} | {:.0} | {:.0} | {vs} | {:.2} | {}{redis} | {:.1} s |",
            p.entries,
            p.rate,
            p.empty_rate,
            p.p99_ms,
            mib(p.rss.total),
            p.fill_secs
        );
    }
}

/// Run one backend (`BENCH_STATE_BACKEND` set): this is a child process.
async fn child(backend: &str, secs: f64) {
    match backend {
        "memory" => {
            curve(
                "memory",
                StorageSpec::Memory,
                StorageSpec::Memory,
                None,
                secs,
            )
            .await
        }
        "file" => {
            let dir = std::env::temp_dir().join(format!("authproof-growth-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            curve(
                "file",
                StorageSpec::File(dir.join("grown.redb")),
                StorageSpec::File(dir.join("empty.redb")),
                None,
                secs,
            )
            .await;
            let _ = std::fs::remove_dir_all(&dir);
        }
        "redis" => match redis_support::RedisServer::start("bench state_growth") {
            Some(server) => {
                let pid = server.pid();
                let (grown, empty) = (server.url(0), server.url(1));
                let (grown, empty) = (StorageSpec::Redis(grown), StorageSpec::Redis(empty));
                curve("redis", grown, empty, Some(pid), secs).await;
            }
            None => println!("| redis | skipped: redis-server not installed | | | | | | |"),
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
        "| storage | live unrelated entries | guarded req/s | empty store beside it, req/s | ratio | p99 ms | VmRSS (both proxies, IdPs, load generator) | fill time |"
    );
    println!("|---|---:|---:|---:|---|---:|---|---:|");
    for r in rows {
        print!("{r}");
    }
}
