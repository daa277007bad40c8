//! Refresh-grant benchmark (a plain program, not a timed test): throughput and latency of
//! `grant_type=refresh_token` at the proxy's token endpoint, end to end — each proxy refresh
//! rotates the proxy's refresh token and refreshes upstream at an in-process mock IdP (which
//! signs new RS256 tokens) — for each storage backend: memory, the embedded file store and a
//! private redis-server (skipped when redis-server is not installed). Everything runs on
//! loopback in this process's tokio runtime (proxy, mock IdP and load generator share the
//! machine's cores).
//!
//! For each backend: 32 clients each complete a real flow through
//! `authproof::client::FlowClient` (register → authorize → token), refresh once to warm up,
//! then refresh in a loop — 32 concurrent clients, one request in flight each — for
//! `BENCH_SECS` seconds (default 5). Reported: refresh grants per second, p50/p90/p99
//! latency, errors, and for Redis the number of keys left and how many have no TTL (must be
//! 0: every key is bounded by its TTL).
//!
//! Run: `cargo bench --bench refresh` (release profile). `BENCH_IDP_ACCESS_TOKENS=opaque`
//! takes one of the IdP's two RS256 signatures out of each refresh;
//! `BENCH_IDP_ID_TOKEN_ON_REFRESH=false` as well takes the other (the IdP then answers a
//! refresh without an ID token, as OIDC allows), which leaves the proxy's and the store's
//! own cost. `BENCH_STORAGE=memory,redis` runs only the backends named.

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

use flows::REDIRECT;
use load::percentile;
use stack::{bench_secs, one_address_load, ratio, within};

use authproof::client::{AuthorizeRequest, FlowClient, RefreshRequest, TokenCodeRequest};
use authproof::proxy::config::{ConsentMode, HumanDuration, ProxyConfig, Secret, StorageSpec};
use authproof::proxy::{Proxy, SpawnOptions};
use mock_idp::{IdpConfig, MockIdp, MockIdpHandle};
use serde_json::json;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
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

fn idp_config() -> IdpConfig {
    let text = format!(
        "flavor: oidc\n\
         clients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }}]\n\
         users: [{{ sub: alice, claims: {{ email: alice@example.com }} }}]\n\
         default_user: alice\n\
         tokens: {{ access_token_format: {}, id_token_on_refresh: {} }}\n\
         journal: {{ max_entries: 1000 }}\n",
        access_token_format(),
        id_token_on_refresh()
    );
    foundations::yaml::from_str(&text, "<bench idp>").expect("bench idp config")
}

fn proxy_config(idp: &MockIdpHandle, storage: StorageSpec) -> ProxyConfig {
    let mut c = ProxyConfig::default();
    c.upstream.config_url = Some(idp.discovery_url());
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().expect("method"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.upstream.timeout = HumanDuration::secs(10);
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    c.consent = ConsentMode::Off;
    c.jwt_signing_key = Some(Secret::new("bench-signing-key-0123456789abcdef"));
    c.storage_key = Some(Secret::new("bench-storage-key-0123456789abcdef0123"));
    c.storage = storage;
    one_address_load(&mut c);
    c
}

struct Row {
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

async fn bench(label: &str, storage: StorageSpec, secs: f64, redis_url: Option<&str>) -> Row {
    let idp = MockIdp::builder()
        .config(idp_config())
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
        clients.push(s.await.expect("setup task").expect("client setup"));
    }
    for fc in &clients {
        assert!(refresh_once(fc).await, "warm-up refresh");
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for fc in clients {
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
    let keys = match redis_url {
        Some(url) => redis_keys(url).await,
        None => "-".into(),
    };
    proxy.shutdown().await;
    idp.shutdown().await;
    Row {
        label: label.into(),
        grants: all.len(),
        secs: elapsed,
        errors,
        p50: percentile(&all, 0.50),
        p90: percentile(&all, 0.90),
        p99: percentile(&all, 0.99),
        keys,
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

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(bench_secs(5.0)));
}

async fn run(secs: f64) {
    println!(
        "refresh grants, end to end (proxy + upstream refresh at the mock IdP, {} access tokens, ID token on refresh: {}), {CLIENTS} concurrent clients, {secs} s per backend, {} cores",
        access_token_format(),
        id_token_on_refresh(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    if runs("memory") {
        rows.push(bench("memory", StorageSpec::Memory, secs, None).await);
    }
    if runs("file") {
        let dir =
            std::env::temp_dir().join(format!("authproof-bench-refresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let spec = StorageSpec::File(dir.join("refresh.redb"));
        rows.push(bench("file", spec, secs, None).await);
        let _ = std::fs::remove_dir_all(&dir);
    }
    if runs("redis") {
        match redis_support::RedisServer::start("bench refresh") {
            Some(server) => {
                let url = server.url(0);
                rows.push(bench("redis", StorageSpec::Redis(url.clone()), secs, Some(&url)).await);
            }
            None => println!("redis: skipped (redis-server not installed)"),
        }
    }
    let base = rows
        .iter()
        .find(|r| r.label == "memory")
        .map_or(0.0, |r| r.grants as f64 / r.secs);
    println!();
    println!(
        "| storage | refresh grants/s | target | p50 ms | p90 ms | p99 ms (bound {TARGET_P99_MS:.0}) | errors | redis keys after |"
    );
    println!("|---|---:|---|---:|---:|---|---:|---|");
    for r in &rows {
        let rate = r.grants as f64 / r.secs;
        let target = match r.label.as_str() {
            "memory" => format!("{TARGET_MEMORY:.0}/s: {}", ratio(rate, TARGET_MEMORY, 1.0)),
            "redis" => format!("vs memory {}", ratio(rate, base, TARGET_REDIS_SHARE)),
            _ => format!("vs memory {}", ratio(rate, base, TARGET_FILE_SHARE)),
        };
        println!(
            "| {} | {:.0} | {target} | {:.1} | {:.1} | {:.1}, {} | {} | {} |",
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
