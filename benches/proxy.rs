//! Proxy benchmark (a plain program, not a timed test). Everything runs on loopback, and the
//! load generator shares the machine's cores with the proxy and the mock IdP.
//!
//! 1. cold start: `Proxy::spawn` to the first RFC 8414 metadata answer, in-process (the first
//!    spawn of the process and the median of the next ones), and the `authproof` binary as a
//!    fresh process;
//! 2. complete flows per second at 16 concurrent flows: register → authorize with consent
//!    (the consent form is parsed and approved) → headless login at an in-process
//!    `mock_idp::MockIdp` → proxy callback → token, through `authproof::client::FlowClient`
//!    (one shared connection pool, one cookie jar per flow). With the default mock IdP issuing
//!    an ID token and a JWT access token (2 RS256 signatures per flow at the IdP), with an
//!    opaque access token (1 signature), and issuing both tokens signed with ES256 and with
//!    EdDSA (signatures a fraction of an RSA one's cost);
//! 3. memory: VmRSS of this process (proxy + mock IdP + load generator) after the flows, the
//!    proxy's store sizes, the store after every TTL has passed, and VmRSS of the `authproof
//!    serve` binary, run as its own process, idle and after flows and guarded MCP requests
//!    (`tools/list` on the echo endpoint at 64 keep-alive connections, `support/load.rs`);
//! 4. CPU time per flow and per guarded request in those phases, split between `authproof
//!    serve` and this process (the mock IdP and the load generator), and the flow rate the
//!    proxy's own CPU time would allow on this machine's cores.
//!
//! Guarded requests against the bare-handler limit, with the breakdown of their cost, are
//! `benches/guard.rs`; the cost as the store grows is `benches/state_growth.rs`.
//!
//! Each figure with a target is printed with its ratio to it: flows per second against the
//! issue's 1,000/s (measured, and as the proxy's own CPU time would allow), resident memory
//! of `authproof serve` after the load against 20 MiB.
//!
//! Run: `cargo bench --bench proxy` (release profile). `BENCH_SECS=N` sets each load phase's
//! length (default 4).

#[path = "support/allocator.rs"]
mod allocator;
#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/flows.rs"]
mod flows;
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)] // the flood bench uses the rest
#[path = "support/rss.rs"]
mod rss;
#[path = "support/stack.rs"]
mod stack;

use flows::{idp_config, idp_config_with, one_flow, proxy_yaml};
use load::{RequestFigures, guarded_requests, percentile};
use rss::Rss;
use stack::{
    Stack, bench_secs, first_answer, free_port, one_address_load_yaml, proxy_config, ratio, sorted,
    spawn_serve, within,
};

use authproof::client::FlowClient;
use authproof::proxy::store::{Collection, MemoryStore, Store};
use authproof::proxy::{Proxy, SpawnOptions};
use mock_idp::{Clock, IdpConfig, MockIdp};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 64;
const FLOW_CONCURRENCY: usize = 16;
const COLD_RUNS: usize = 41;
/// The targets: complete flows per second, and `authproof serve`'s resident memory
/// after the load (MiB).
const TARGET_FLOWS: f64 = 1000.0;
const TARGET_RSS_MIB: f64 = 20.0;

/// A stack over a plain memory store whose handle is kept, to read its sizes.
async fn stack(idp: IdpConfig) -> (Stack, Arc<MemoryStore>) {
    let clock = Clock::system();
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let shared = store.clone();
    let stack = Stack::start_with(
        idp,
        proxy_config,
        async move |_: &authproof::proxy::ProxyConfig, _| shared as Arc<dyn Store>,
        clock,
    )
    .await;
    (stack, store)
}

// ---------------------------------------------------------------------------------------------
// Cold start

struct ColdStart {
    first_ms: f64,
    spawn_ms: Vec<f64>,
    answer_ms: Vec<f64>,
    setup_ms: Vec<f64>,
    idp_ms: Vec<f64>,
    reqwest_build_ms: Vec<f64>,
    reqwest_plain_build_ms: Vec<f64>,
}

async fn cold_start() -> ColdStart {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest");
    let idp = MockIdp::builder()
        .config(idp_config("jwt"))
        .spawn()
        .await
        .expect("mock idp");
    let metadata = "/.well-known/oauth-authorization-server";
    let mut first_ms = f64::NAN;
    let (mut spawn_ms, mut answer_ms) = (Vec::new(), Vec::new());
    for i in 0..COLD_RUNS {
        let t = Instant::now();
        let proxy = Proxy::spawn(proxy_config(&idp), SpawnOptions::default())
            .await
            .expect("proxy");
        let spawned = t.elapsed().as_secs_f64() * 1e3;
        first_answer(&client, &format!("{}{metadata}", proxy.url())).await;
        let answered = t.elapsed().as_secs_f64() * 1e3;
        if i == 0 {
            first_ms = answered;
        } else {
            spawn_ms.push(spawned);
            answer_ms.push(answered);
        }
        proxy.shutdown().await;
    }
    idp.shutdown().await;

    // A whole scenario setup: a fresh mock IdP and a fresh proxy, both answering.
    let (mut setup_ms, mut idp_ms) = (Vec::new(), Vec::new());
    for _ in 0..COLD_RUNS / 2 {
        let t = Instant::now();
        let idp = MockIdp::builder()
            .config(idp_config("jwt"))
            .spawn()
            .await
            .expect("mock idp");
        idp_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let proxy = Proxy::spawn(proxy_config(&idp), SpawnOptions::default())
            .await
            .expect("proxy");
        first_answer(&client, &format!("{}{metadata}", proxy.url())).await;
        setup_ms.push(t.elapsed().as_secs_f64() * 1e3);
        proxy.shutdown().await;
        idp.shutdown().await;
    }

    // For comparison: building one reqwest client with the default TLS setup (the platform
    // verifier loads the system's root certificates), and one without a trust store (what the
    // proxy builds for plain-http upstreams).
    let (mut reqwest_build_ms, mut reqwest_plain_build_ms) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        let t = Instant::now();
        let c = reqwest::Client::builder().build().expect("reqwest");
        reqwest_build_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(c);
        let t = Instant::now();
        let c = reqwest::Client::builder()
            .tls_certs_only(Vec::new())
            .build()
            .expect("reqwest");
        reqwest_plain_build_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(c);
    }
    ColdStart {
        first_ms,
        spawn_ms: sorted(spawn_ms),
        answer_ms: sorted(answer_ms),
        setup_ms: sorted(setup_ms),
        idp_ms: sorted(idp_ms),
        reqwest_build_ms: sorted(reqwest_build_ms),
        reqwest_plain_build_ms: sorted(reqwest_plain_build_ms),
    }
}

/// The `authproof serve` binary as a new process: spawn to first metadata answer.
async fn cold_start_binary(config_path: &std::path::Path) -> Option<f64> {
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/.well-known/oauth-authorization-server");
    let t = Instant::now();
    let mut child = spawn_serve(config_path, port).ok()?;
    let ok = tokio::time::timeout(Duration::from_secs(15), first_answer(&client, &url))
        .await
        .is_ok();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = child.kill();
    let _ = child.wait();
    ok.then_some(ms)
}

// ---------------------------------------------------------------------------------------------
// Complete flows

struct FlowFigures {
    rate: f64,
    done: u64,
    errors: u64,
    first_error: Option<String>,
    latency_ms: Vec<f64>,
}

// ---------------------------------------------------------------------------------------------
// The binary as its own process: memory after load

struct BinaryFigures {
    cold_ms: Vec<f64>,
    rss_idle: Rss,
    rss_after: Rss,
    flows: FlowFigures,
    flows_cpu: CpuSplit,
    requests: RequestFigures,
    requests_cpu: CpuSplit,
}

/// CPU time (seconds) over one load phase: the `authproof serve` process, and this process
/// (the mock IdP and the load generator).
#[derive(Clone, Copy)]
struct CpuSplit {
    proxy: f64,
    rest: f64,
}

impl CpuSplit {
    /// Runs `phase`, measuring the CPU time of `pid` and of this process over it.
    async fn measure<T>(pid: u32, phase: impl Future<Output = T>) -> (T, CpuSplit) {
        let (proxy, rest) = (cpu::of_pid(pid), cpu::this_process());
        let out = phase.await;
        let split = CpuSplit {
            proxy: cpu::of_pid(pid) - proxy,
            rest: cpu::this_process() - rest,
        };
        (out, split)
    }
}

async fn binary_phase(secs: f64) -> Option<BinaryFigures> {
    let idp = MockIdp::builder()
        .config(idp_config("jwt"))
        .spawn()
        .await
        .ok()?;
    let dir = std::env::temp_dir().join(format!("authproof-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let config_path = dir.join("proxy.yaml");
    let yaml = format!("{}{}", proxy_yaml(&idp, "memory"), one_address_load_yaml());
    std::fs::write(&config_path, yaml).ok()?;
    let mut cold_ms = Vec::new();
    for _ in 0..5 {
        cold_ms.push(cold_start_binary(&config_path).await?);
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_serve(&config_path, port).ok()?;
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let ready = tokio::time::timeout(
        Duration::from_secs(15),
        first_answer(
            &client,
            &format!("{base}/.well-known/oauth-authorization-server"),
        ),
    )
    .await
    .is_ok();
    let status = format!("/proc/{}/status", child.id());
    let result = if ready {
        let rss_idle = Rss::of(&status);
        let http = FlowClient::http_client(Duration::from_secs(30)).ok()?;
        let resource = format!("{base}/mcp");
        let token = one_flow(&http, &base, &resource).await.ok()?;
        let pid = child.id();
        let (flows, flows_cpu) = CpuSplit::measure(pid, flows(&base, &resource, secs / 2.0)).await;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let (requests, requests_cpu) = CpuSplit::measure(
            pid,
            guarded_requests(addr, "/mcp", &token, secs / 2.0, CONNECTIONS),
        )
        .await;
        let rss_after = Rss::of(&status);
        Some(BinaryFigures {
            cold_ms: sorted(cold_ms),
            rss_idle,
            rss_after,
            flows,
            flows_cpu,
            requests,
            requests_cpu,
        })
    } else {
        None
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    idp.shutdown().await;
    result
}

/// Complete flows for `secs` at [`FLOW_CONCURRENCY`], after one warm-up flow (pool, upstream
/// discovery).
async fn flows(base: &str, resource: &str, secs: f64) -> FlowFigures {
    let http = FlowClient::http_client(Duration::from_secs(30)).expect("http client");
    one_flow(&http, base, resource).await.expect("warm-up flow");
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(parking_lot::Mutex::new(None::<String>));
    let t = Instant::now();
    let deadline = t + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..FLOW_CONCURRENCY {
        let (http, url, resource) = (http.clone(), base.to_owned(), resource.to_owned());
        let (done, errors, first_error) = (done.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                match one_flow(&http, &url, &resource).await {
                    Ok(_) => {
                        lat.push(s.elapsed().as_secs_f64() * 1e3);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.lock().get_or_insert(e);
                    }
                }
            }
            lat
        }));
    }
    let mut latency_ms = Vec::new();
    for task in tasks {
        latency_ms.extend(task.await.expect("flow task"));
    }
    let done = done.load(Ordering::Relaxed);
    FlowFigures {
        rate: done as f64 / t.elapsed().as_secs_f64(),
        done,
        errors: errors.load(Ordering::Relaxed),
        first_error: first_error.lock().take(),
        latency_ms: sorted(latency_ms),
    }
}

// ---------------------------------------------------------------------------------------------

fn report_error(f: &FlowFigures) {
    if let Some(e) = &f.first_error {
        eprintln!("first flow error: {e}");
    }
}

fn store_sizes(store: &MemoryStore) -> String {
    Collection::ALL
        .iter()
        .map(|c| format!("{} {}", c.name(), store.len(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn flow_row(label: &str, f: &FlowFigures) -> String {
    format!(
        "| {label} | {:.0} flows/s, {} of the target {TARGET_FLOWS:.0}/s ({} flows, {} errors; latency p50 {:.1} ms, p99 {:.1} ms) |",
        f.rate,
        ratio(f.rate, TARGET_FLOWS, 1.0),
        f.done,
        f.errors,
        percentile(&f.latency_ms, 0.5),
        percentile(&f.latency_ms, 0.99)
    )
}

/// The proxy's own CPU time per complete flow, beside what the mock IdP and the load generator
/// spend on it, and the flow rate the proxy's share alone would allow on this machine's cores.
fn flow_cpu_row(f: &FlowFigures, cpu: CpuSplit) -> String {
    let flows = (f.done + 1) as f64; // the warm-up flow is inside the measured phase
    let (proxy_ms, rest_ms) = (cpu.proxy / flows * 1e3, cpu.rest / flows * 1e3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let capacity = cores * 1e3 / proxy_ms;
    format!(
        "| (binary) CPU per complete flow: `authproof serve` / this process (mock IdP + load generator) | {proxy_ms:.2} ms / {rest_ms:.2} ms: the proxy's share of a flow's CPU is {:.2}; its own CPU time alone would allow {capacity:.0} flows/s on {cores:.0} cores, {} of the target {TARGET_FLOWS:.0}/s |",
        proxy_ms / (proxy_ms + rest_ms),
        ratio(capacity, TARGET_FLOWS, 1.0),
    )
}

fn request_row(label: &str, r: &RequestFigures) -> String {
    format!(
        "| {label} | {:.0} req/s ({} requests, {} failed; p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms) |",
        r.rate, r.done, r.bad, r.p50_ms, r.p99_ms, r.max_ms
    )
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter): arguments are ignored.
    let secs = bench_secs(4.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(secs));
}

async fn run(secs: f64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("proxy bench: {secs} s per load phase, {cores} cores, loopback only");

    eprintln!("cold start…");
    let cold = cold_start().await;

    eprintln!("flows (ID token + JWT access token at the IdP)…");
    let (jwt, jwt_store) = stack(idp_config("jwt")).await;
    let flows_jwt = flows(&jwt.proxy.url(), &jwt.proxy.resource(), secs).await;
    report_error(&flows_jwt);
    let rss_after_load = Rss::this_process();
    let sizes_after_load = store_sizes(&jwt_store);

    eprintln!("flows (ID token only, opaque access token at the IdP)…");
    let (opaque, _) = stack(idp_config("opaque")).await;
    let flows_opaque = flows(&opaque.proxy.url(), &opaque.proxy.resource(), secs).await;
    report_error(&flows_opaque);
    let rss_after_all = Rss::this_process();
    opaque.stop().await;

    // The same flows at an IdP whose signatures cost a fraction of an RSA one.
    let mut flows_fast = Vec::new();
    for alg in ["ES256", "EdDSA"] {
        eprintln!("flows (ID token + JWT access token at the IdP, {alg})…");
        let (s, _) = stack(idp_config_with("jwt", alg, true)).await;
        let f = flows(&s.proxy.url(), &s.proxy.resource(), secs).await;
        report_error(&f);
        s.stop().await;
        flows_fast.push((alg, f));
    }

    // Every TTL passes: the store must be empty after a sweep.
    jwt.clock.advance(Duration::from_secs(91 * 86_400));
    jwt_store.sweep();
    let sizes_after_expiry = store_sizes(&jwt_store);
    jwt.stop().await;

    eprintln!("the authproof binary as its own process…");
    let binary = binary_phase(secs).await;

    let med = |v: &[f64]| percentile(v, 0.5);
    println!();
    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| cold start in-process, `Proxy::spawn` to first metadata answer | {:.2} ms median (p90 {:.2} ms; first of the process {:.2} ms) |",
        med(&cold.answer_ms),
        percentile(&cold.answer_ms, 0.9),
        cold.first_ms
    );
    println!(
        "| `Proxy::spawn` alone | {:.2} ms median |",
        med(&cold.spawn_ms)
    );
    println!(
        "| scenario setup: fresh mock IdP + fresh proxy, both answering | {:.2} ms median (mock IdP alone {:.2} ms) |",
        med(&cold.setup_ms),
        med(&cold.idp_ms)
    );
    println!(
        "| (reference) building one reqwest client: default TLS / no trust store | {:.2} ms / {:.3} ms median |",
        med(&cold.reqwest_build_ms),
        med(&cold.reqwest_plain_build_ms)
    );
    if let Some(b) = &binary {
        println!(
            "| cold start of `authproof serve` as a new process | {:.1} ms median |",
            med(&b.cold_ms)
        );
    }
    println!(
        "{}",
        flow_row(
            &format!(
                "complete flows, {FLOW_CONCURRENCY} concurrent, IdP signs ID token + JWT access token"
            ),
            &flows_jwt
        )
    );
    println!(
        "{}",
        flow_row(
            &format!("complete flows, {FLOW_CONCURRENCY} concurrent, IdP signs ID token only"),
            &flows_opaque
        )
    );
    for (alg, f) in &flows_fast {
        println!(
            "{}",
            flow_row(
                &format!(
                    "complete flows, {FLOW_CONCURRENCY} concurrent, IdP signs ID token + JWT access token with {alg}"
                ),
                f
            )
        );
    }
    println!(
        "| VmRSS of this process (proxy + mock IdP + load generator) after the first flow phase | {} (after both flow phases: {}) |",
        rss_after_load, rss_after_all
    );
    println!("| proxy store after load | {sizes_after_load} |");
    println!("| proxy store once every TTL has passed | {sizes_after_expiry} |");
    if let Some(b) = &binary {
        let after_mib = b.rss_after.total as f64 / 1024.0;
        println!(
            "| `authproof serve` VmRSS: idle / after {} flows + {} requests | {} / {}; bound {TARGET_RSS_MIB:.0} MiB: {} |",
            b.flows.done,
            b.requests.done,
            b.rss_idle,
            b.rss_after,
            within(after_mib, TARGET_RSS_MIB)
        );
        println!(
            "{}",
            flow_row("(binary) complete flows, 16 concurrent", &b.flows)
        );
        println!("{}", flow_cpu_row(&b.flows, b.flows_cpu));
        println!(
            "{}",
            request_row("(binary) guarded MCP requests, 64 connections", &b.requests)
        );
        println!(
            "| (binary) CPU per guarded request: `authproof serve` / this process (load generator) | {:.1} µs / {:.1} µs |",
            b.requests_cpu.proxy / b.requests.done.max(1) as f64 * 1e6,
            b.requests_cpu.rest / b.requests.done.max(1) as f64 * 1e6,
        );
    } else {
        println!("| `authproof serve` as a process | could not be started |");
    }
}
