//! Refresh-grant benchmark (a plain program, not a timed test): throughput and latency of
//! `grant_type=refresh_token` at the proxy's token endpoint, end to end — each proxy refresh
//! rotates the proxy's refresh token and refreshes upstream at an in-process mock IdP (which
//! signs new tokens: RS256, then ES256, then EdDSA) — for each storage backend: memory, the embedded file store and a
//! private redis-server (skipped when redis-server is not installed). Everything runs on
//! loopback in this process's tokio runtime (proxy, mock IdP and load generator share the
//! machine's cores).
//!
//! For each backend: 32 clients each complete a real flow through
//! `authproof::client::FlowClient` (register → authorize → token), refresh once to warm up,
//! then refresh in a loop — 32 concurrent clients, one request in flight each — for
//! `BENCH_SECS` seconds (default 3), three times, the backends taking turns (so that other
//! load on a shared machine falls on all of them alike); the median phase counts. Reported:
//! refresh grants per second, p50/p90/p99 latency, errors, and for Redis the number of keys
//! left and how many have no TTL (must be 0: every key is bounded by its TTL).
//!
//! Run: `cargo bench --bench refresh` (release profile). `BENCH_IDP_ACCESS_TOKENS=opaque`
//! takes one of the IdP's two RS256 signatures out of each refresh;
//! `BENCH_IDP_ID_TOKEN_ON_REFRESH=false` as well takes the other (the IdP then answers a
//! refresh without an ID token, as OIDC allows), which leaves the proxy's and the store's
//! own cost. `BENCH_STORAGE=memory,redis` runs only the backends named; `BENCH_IDP_ALGS`
//! the IdP's signing algorithms (default `RS256,ES256,EdDSA`: the default IdP, then the two
//! whose signatures cost a fraction of an RSA one), each over every backend.

#[path = "support/allocator.rs"]
mod allocator;
#[allow(dead_code)] // the other benches use the rest
#[path = "support/flows.rs"]
mod flows;
#[allow(dead_code)] // the load generator's helpers: only `percentile` here
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)]
#[path = "../tests/support/redis.rs"]
mod redis_support;
#[path = "support/stack.rs"]
mod stack;

use flows::{REDIRECT, idp_config_with};
use load::percentile;
use stack::{bench_secs, ratio, within};

use authproof::client::{AuthorizeRequest, FlowClient, RefreshRequest, TokenCodeRequest};
use authproof::proxy::config::{ConsentMode, ProxyConfig, Secret, StorageSpec};
use authproof::proxy::{Proxy, SpawnOptions};
use mock_idp::{MockIdp, MockIdpHandle};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
/// Load phases per backend, taking turns; the median phase counts.
const ROUNDS: usize = 3;
/// The targets: refresh grants per second with the memory store, each other store's
/// share of it, and the p99 latency bound (ms).
const TARGET_MEMORY: f64 = 800.0;
const TARGET_REDIS_SHARE: f64 = 0.7;
const TARGET_FILE_SHARE: f64 = 0.5;
const TARGET_P99_MS: f64 = 50.0;

/// `BENCH_IDP_ACCESS_TOKENS=opaque` makes the mock IdP issue opaque access tokens (one RS256
/// signature per refresh, for the ID token, instead of two), to separate the proxy's and the
/// storage's cost from the IdP's signing.
fn access_token_format() -> String {
    std::env::var("BENCH_IDP_ACCESS_TOKENS")
        .ok()
        .filter(|v| v == "opaque" || v == "jwt")
        .unwrap_or_else(|| "jwt".into())
}

/// `BENCH_IDP_ID_TOKEN_ON_REFRESH=false`: refresh responses carry no new ID token.
fn id_token_on_refresh() -> bool {
    std::env::var("BENCH_IDP_ID_TOKEN_ON_REFRESH").as_deref() != Ok("false")
}

/// `BENCH_STORAGE=memory,redis` runs only those backends (all three by default).
fn runs(storage: &str) -> bool {
    std::env::var("BENCH_STORAGE").map_or(true, |list| list.split(',').any(|s| s.trim() == storage))
}

/// `BENCH_IDP_ALGS=RS256,ES256`: the IdP's signing algorithms to run, each over every
/// backend (default all three: RS256, the default IdP, first).
fn algorithms() -> Vec<String> {
    std::env::var("BENCH_IDP_ALGS")
        .unwrap_or_else(|_| "RS256,ES256,EdDSA".into())
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The benches' proxy ([`stack::proxy_config`]) without a consent page, on `storage`.
fn proxy_config(idp: &MockIdpHandle, storage: StorageSpec) -> ProxyConfig {
    let mut c = stack::proxy_config(idp);
    c.consent = ConsentMode::Off;
    c.storage_key = Some(Secret::new("bench-storage-key-0123456789abcdef0123"));
    c.storage = storage;
    c
}

struct Row {
    alg: String,
    label: String,
    grants: usize,
    secs: f64,
    errors: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    keys: String,
}

/// One client with a fresh refresh token.
async fn client(http: &reqwest::Client, base: &str) -> Result<FlowClient, String> {
    let fc = FlowClient::with_http(base, http.clone()).map_err(|e| e.to_string())?;
    fc.discover().await.map_err(|e| e.to_string())?;
    let reg = fc
        .register(&json!({"redirect_uris": [REDIRECT], "client_name": "bench"}))
        .await
        .map_err(|e| e.to_string())?;
    if reg.status != 201 {
        return Err(format!("register: {} {}", reg.status, reg.body));
    }
    let out = fc
        .authorize(AuthorizeRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    if out.code.is_none() {
        return Err(format!("authorize: {out}"));
    }
    let tok = fc
        .token_code(TokenCodeRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    if tok.status != 200 || fc.memory().refresh_token.is_none() {
        return Err(format!("token: {} {}", tok.status, tok.body));
    }
    Ok(fc)
}

async fn refresh_once(fc: &FlowClient) -> bool {
    matches!(fc.refresh(RefreshRequest::default()).await, Ok(ex) if ex.status == 200)
}

/// A proxy over one backend in front of its own mock IdP signing with `alg`, and
/// [`CLIENTS`] clients holding a fresh refresh token each (refreshed once to warm up).
struct Bench {
    alg: String,
    label: &'static str,
    idp: MockIdpHandle,
    proxy: authproof::proxy::ProxyHandle,
    clients: Vec<Arc<FlowClient>>,
}

impl Bench {
    async fn start(alg: &str, label: &'static str, storage: StorageSpec) -> Bench {
        let idp = MockIdp::builder()
            .config(idp_config_with(
                &access_token_format(),
                alg,
                id_token_on_refresh(),
            ))
            .spawn()
            .await
            .expect("mock idp");
        let proxy = Proxy::spawn(proxy_config(&idp, storage), SpawnOptions::default())
            .await
            .expect("proxy");
        let http = FlowClient::http_client(Duration::from_secs(30)).expect("http");
        let base = proxy.url();
        let mut setup = Vec::new();
        for _ in 0..CLIENTS {
            let (http, base) = (http.clone(), base.clone());
            setup.push(tokio::spawn(async move { client(&http, &base).await }));
        }
        let mut clients = Vec::new();
        for s in setup {
            clients.push(Arc::new(
                s.await.expect("setup task").expect("client setup"),
            ));
        }
        for fc in &clients {
            assert!(refresh_once(fc).await, "warm-up refresh");
        }
        Bench {
            alg: alg.into(),
            label,
            idp,
            proxy,
            clients,
        }
    }

    /// Every client refreshes in a loop for `secs`.
    async fn phase(&self, secs: f64) -> Row {
        let start = Instant::now();
        let deadline = start + Duration::from_secs_f64(secs);
        let mut tasks = Vec::new();
        for fc in &self.clients {
            let fc = fc.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0usize;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if refresh_once(&fc).await {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            }));
        }
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (lat, e) = t.await.expect("load task");
            all.extend(lat);
            errors += e;
        }
        let elapsed = start.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        Row {
            alg: self.alg.clone(),
            label: self.label.into(),
            grants: all.len(),
            secs: elapsed,
            errors,
            p50: percentile(&all, 0.50),
            p90: percentile(&all, 0.90),
            p99: percentile(&all, 0.99),
            keys: "-".into(),
        }
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

/// "N keys, M without TTL".
async fn redis_keys(url: &str) -> String {
    let Ok(client) = redis::Client::open(url) else {
        return "?".into();
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return "?".into();
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    let mut without_ttl = 0;
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap_or(-1);
        if ttl < 0 {
            without_ttl += 1;
        }
    }
    format!("{} keys, {without_ttl} without TTL", keys.len())
}

/// Empty the Redis database between algorithms (each counts its own keys).
async fn flush(url: &str) {
    if let Ok(client) = redis::Client::open(url)
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let _: Result<(), _> = redis::cmd("FLUSHDB").query_async(&mut conn).await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(bench_secs(3.0)));
}

async fn run(secs: f64) {
    println!(
        "refresh grants, end to end (proxy + upstream refresh at the mock IdP, {} access tokens, ID token on refresh: {}), {CLIENTS} concurrent clients, {ROUNDS} phases of {secs} s per backend, taking turns, {} cores",
        access_token_format(),
        id_token_on_refresh(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!("authproof-bench-refresh-{}", std::process::id()));
    let redis = if runs("redis") {
        let server = redis_support::RedisServer::start("bench refresh");
        if server.is_none() {
            println!("redis: skipped (redis-server not installed)");
        }
        server
    } else {
        None
    };
    let mut rows = Vec::new();
    for alg in algorithms() {
        eprintln!("IdP signing with {alg}…");
        let mut benches = Vec::new();
        if runs("memory") {
            benches.push(Bench::start(&alg, "memory", StorageSpec::Memory).await);
        }
        if runs("file") {
            std::fs::create_dir_all(&dir).expect("temp dir");
            let spec = StorageSpec::File(dir.join(format!("refresh-{alg}.redb")));
            benches.push(Bench::start(&alg, "file", spec).await);
        }
        if let Some(server) = &redis {
            let spec = StorageSpec::Redis(server.url(0));
            benches.push(Bench::start(&alg, "redis", spec).await);
        }
        // The backends take turns, ROUNDS times: other load on a shared machine then falls on
        // all of them alike instead of on whichever ran at that moment.
        let mut phases: Vec<Vec<Row>> = benches.iter().map(|_| Vec::new()).collect();
        for _ in 0..ROUNDS {
            for (b, out) in benches.iter().zip(&mut phases) {
                out.push(b.phase(secs).await);
            }
        }
        for (b, mut out) in benches.into_iter().zip(phases) {
            out.sort_by(|x, y| (x.grants as f64 / x.secs).total_cmp(&(y.grants as f64 / y.secs)));
            let mut row = out.swap_remove(out.len() / 2);
            row.errors += out.iter().map(|r| r.errors).sum::<usize>();
            if b.label == "redis"
                && let Some(server) = &redis
            {
                row.keys = redis_keys(&server.url(0)).await;
            }
            b.stop().await;
            rows.push(row);
        }
        if let Some(server) = &redis {
            flush(&server.url(0)).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
    println!(
        "| IdP signs with | storage | refresh grants/s | target | p50 ms | p90 ms | p99 ms (bound {TARGET_P99_MS:.0}) | errors | redis keys after |"
    );
    println!("|---|---|---:|---|---:|---:|---|---:|---|");
    for r in &rows {
        let base = rows
            .iter()
            .find(|m| m.label == "memory" && m.alg == r.alg)
            .map_or(0.0, |m| m.grants as f64 / m.secs);
        let rate = r.grants as f64 / r.secs;
        let target = match r.label.as_str() {
            "memory" => format!("{TARGET_MEMORY:.0}/s: {}", ratio(rate, TARGET_MEMORY, 1.0)),
            "redis" => format!("vs memory {}", ratio(rate, base, TARGET_REDIS_SHARE)),
            _ => format!("vs memory {}", ratio(rate, base, TARGET_FILE_SHARE)),
        };
        println!(
            "| {} | {} | {:.0} | {target} | {:.1} | {:.1} | {:.1}, {} | {} | {} |",
            r.alg,
            r.label,
            rate,
            r.p50,
            r.p90,
            r.p99,
            within(r.p99, TARGET_P99_MS),
            r.errors,
            r.keys
        );
    }
}
