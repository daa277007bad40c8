//! Guarded MCP requests against their physical limit, and where the difference goes (a plain
//! program, not a timed test).
//!
//! **The limit** is a bare axum `Router` with one `POST /mcp` handler that parses the JSON-RPC
//! body and answers what the built-in echo endpoint answers (`echo::respond`), served through
//! the same server function as the proxy (`foundations::http::serve` with the proxy's
//! `ConnLimits`). **The stages** between it and the proxy are served the same way and hit by
//! the same load generator (`support/load.rs`: `tools/list` with a Bearer token on 64
//! keep-alive connections, one request in flight each) in the same run:
//!
//! 1. `bare`: the limit;
//! 2. `+ front`: the bare router behind the proxy's `front` layer (Host check, client address);
//! 3. `router, any token`: the proxy's whole router with a verifier that accepts any token
//!    and returns the principal the real check would (routing, the MCP endpoint's Origin
//!    check and CORS layer, the guard's header parsing, the echo endpoint's own checks);
//! 4. `+ step 1`: the proxy's own verifier's first step, the token's HS256 signature and
//!    claims (checked once per token, then remembered by its SHA-256 until its `exp`);
//! 5. `+ step 2`: and the look-ups of the token's mapping (by jti) and its grant, on every
//!    request;
//! 6. `the proxy`: the proxy as it runs (`ProxyVerifier::check`): and step 3, the upstream
//!    token's expiry and its check by the upstream verifier. The proxy is an OIDC proxy here,
//!    so that check is the JWT verifier on the IdP's RS256 access token (with its
//!    verified-token cache).
//!
//! The proxy runs over the store `authproof serve` builds for `storage: memory` (sealed at
//! rest), with a mock IdP in the same process. The stages run one after the other,
//! `BENCH_ROUNDS` times (default 5): the bare handler and the proxy back to back, then the
//! stages between, every other round in reverse order. Each figure in the table is the
//! stage's median round, which evens out other load on a shared machine. The headline ratio
//! is paired: the proxy's rate over the bare handler's measured next to it in the same round,
//! and the median of those over the rounds.
//! CPU time per request is this process's user + system time
//! over the requests of the phase (server and load generator together, so the difference
//! between two stages is what the added step costs).
//!
//! Then, in this task without sockets: each stage's router called in a loop (nanoseconds and
//! allocations per request: what the stage adds, without the load generator's noise), and
//! each step of the check (nanoseconds and allocations per call). Allocations are counted by
//! a wrapper around the allocator the binary ships with (mimalloc) that counts only during
//! those loops.
//!
//! Run: `cargo bench --bench guard` (release). `BENCH_SECS=N` sets each phase's length
//! (default 3), `BENCH_ROUNDS=N` the rounds (default 5); `BENCH_STAGE=N` runs only stage N's
//! load (for a profiler).

#[allow(dead_code)] // the proxy bench uses the rest
#[path = "support/cpu.rs"]
mod cpu;
#[allow(dead_code)] // the other benches use the rest
#[path = "support/flows.rs"]
mod flows;
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)] // the flood bench uses the rest
#[path = "support/rss.rs"]
mod rss;
#[path = "support/stack.rs"]
mod stack;

use flows::{one_flow, proxy_yaml};
use load::{RequestFigures, guarded_requests};
use rss::Rss;
use stack::{
    Stack, bench_secs, first_answer, free_port, oidc_proxy_config, one_address_load_yaml, ratio,
    serve_store, spawn_serve, within,
};

use authproof::proxy::bearer::{BearerVerifier, Principal, Verdict};
use authproof::proxy::bounds::BoundsLayer;
use authproof::proxy::config::{ProxyConfig, StorageSpec};
use authproof::proxy::guard::{self, ProxyVerifier};
use authproof::proxy::jwt::TokenUse;
use authproof::proxy::resource::echo;
use authproof::proxy::server::{conn_limits, router_with_verifier};
use authproof::proxy::state::ProxyState;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::http::{Method, Request, header};
use axum::routing::post;
use foundations::http::{ConnLimits, OnShutdown, router_handler};
use mimalloc::MiMalloc;
use mock_idp::Clock;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::watch;
use tower::ServiceExt;

/// The allocator the `authproof` binary ships with (mimalloc, `support/allocator.rs`),
/// counting this thread's allocations while [`COUNTING`] is on (the
/// in-process part only; the load phases run with counting off, which costs one relaxed load
/// per allocation).
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to mimalloc unchanged; counting touches only a
// thread-local integer with no destructor.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Allocations (and reallocations) per evaluation of an async expression, on this thread.
macro_rules! allocations_per_op {
    ($n:expr, $e:expr) => {{
        COUNTING.store(true, Ordering::Relaxed);
        let before = ALLOCATIONS.with(Cell::get);
        for _ in 0..$n {
            let _ = std::hint::black_box($e);
        }
        let after = ALLOCATIONS.with(Cell::get);
        COUNTING.store(false, Ordering::Relaxed);
        (after - before) as f64 / $n as f64
    }};
}

const CONNECTIONS: usize = 64;
/// The issue's bound on `authproof serve`'s resident memory after the load (MiB).
const TARGET_RSS_MIB: f64 = 20.0;
/// The issue's target: guarded throughput at least this share of the bare handler's.
const TARGET_RATIO: f64 = 0.8;
/// The `tools/list` request body the load generator sends.
const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

fn rounds() -> usize {
    std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(5)
}

/// A router served through the proxy's own server function and connection bounds.
struct Served {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn start(app: Router, limits: ConnLimits) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(foundations::http::serve(
            listener,
            limits,
            OnShutdown::Finish,
            router_handler(app),
            rx,
        ));
        Served { addr, stop, task }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The limit: parse the body, answer as the echo endpoint does.
fn bare_router(principal: Arc<Principal>) -> Router {
    Router::new().route(
        "/mcp",
        post(move |body: Bytes| {
            let principal = principal.clone();
            async move { echo::respond(&principal, &body) }
        }),
    )
}

/// Stage 3: every token is accepted as `principal`.
struct AnyToken(Arc<Principal>);

impl BearerVerifier for AnyToken {
    fn verify<'a>(&'a self, _token: &'a str) -> Verdict<'a> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// Stages 4 and 5: the first steps of the proxy's own verifier.
struct FirstSteps {
    verifier: ProxyVerifier,
    /// With step 2 (the store look-ups).
    records: bool,
}

impl BearerVerifier for FirstSteps {
    fn verify<'a>(&'a self, token: &'a str) -> Verdict<'a> {
        Box::pin(async move {
            let checked = self.verifier.token(token)?;
            if self.records {
                self.verifier.records(&checked).await?;
            }
            Ok(checked.principal.clone())
        })
    }
}

struct Phase {
    label: &'static str,
    addr: SocketAddr,
    path: String,
}

struct Measured {
    requests: RequestFigures,
    cpu_us: f64,
}

async fn measure(phase: &Phase, token: &str, secs: f64) -> Measured {
    let cpu = cpu::this_process();
    let requests = guarded_requests(phase.addr, &phase.path, token, secs, CONNECTIONS).await;
    let cpu = cpu::this_process() - cpu;
    assert_eq!(
        requests.bad, 0,
        "{}: {} failed requests, first: {:?}",
        phase.label, requests.bad, requests.first_bad
    );
    // CPU over the whole phase (warm-up included) per measured request: the warm-up adds the
    // same share to every stage.
    let all = requests.done as f64 * (secs + 0.5) / secs;
    Measured {
        cpu_us: cpu / all * 1e6,
        requests,
    }
}

/// Nanoseconds per evaluation of an expression (which may `.await`), median of 5 runs.
macro_rules! ns_per_op {
    ($n:expr, $e:expr) => {{
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..$n {
                let _ = std::hint::black_box($e);
            }
            runs.push(t.elapsed().as_nanos() as f64 / $n as f64);
        }
        runs.sort_by(f64::total_cmp);
        runs[2]
    }};
}

/// The request the load generator sends, for an in-process call of a router.
fn request(path: &str, host: SocketAddr, token: &str) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, host.to_string())
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header(header::CONTENT_LENGTH, BODY.len())
        .body(Body::from(BODY))
        .expect("request");
    // What the server function adds.
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    req
}

/// Nanoseconds and allocations per request through `app` in this task (no sockets, no HTTP
/// parsing): what each stage's router costs on its own. The answer's body is read.
async fn in_process(app: &Router, path: &str, host: SocketAddr, token: &str) -> (f64, f64) {
    let call = async || {
        let resp = app
            .clone()
            .oneshot(request(path, host, token))
            .await
            .expect("infallible");
        assert_eq!(resp.status(), 200);
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body")
    };
    // The request itself is built in the loop: count it, to take it off.
    let build = allocations_per_op!(1000, request(path, host, token));
    let allocations = allocations_per_op!(1000, call().await) - build;
    (ns_per_op!(20_000, call().await), allocations)
}

/// Nanoseconds and allocations per call of each step of the check.
async fn micro(st: &Arc<ProxyState>, token: &str) -> Vec<(&'static str, f64, f64)> {
    let claims = st.tokens.verify(token, TokenUse::Access).expect("token");
    let verifier = ProxyVerifier::new(st.clone());
    let checked = verifier.token(token).expect("token");
    let (mapping, grant) = verifier.records(&checked).await.expect("records");
    let n = 20_000;
    macro_rules! step {
        ($label:expr, $e:expr) => {
            ($label, ns_per_op!(n, $e), allocations_per_op!(1000, $e))
        };
    }
    vec![
        step!(
            "step 1, the token: signature and claims remembered by the token's SHA-256 (`ProxyVerifier::token`)",
            verifier.token(token)
        ),
        step!(
            "(what step 1 saves: HS256 signature and claims checked, `TokenIssuer::verify`)",
            st.tokens.verify(token, TokenUse::Access)
        ),
        step!(
            "(and: the principal built from the claims, `guard::principal`)",
            guard::principal(&claims)
        ),
        step!(
            "step 2, the store: the token's mapping and its grant (`ProxyVerifier::records`)",
            verifier.records(&checked).await
        ),
        step!(
            "step 3, upstream: expiry, and the JWT verifier's remembered verdict (`ProxyVerifier::upstream`)",
            verifier.upstream(&checked, &mapping, grant.clone()).await
        ),
        step!(
            "all three (`ProxyVerifier::check`)",
            verifier.check(token).await
        ),
        step!(
            "the echo endpoint's answer to `tools/list` (`echo::respond`, in every stage)",
            echo::respond(&checked.principal, BODY)
        ),
    ]
}

/// What `authproof serve`, run as its own process, holds after the guarded load.
struct ServeMemory {
    idle: Rss,
    after: Rss,
    requests: RequestFigures,
}

/// `authproof serve` as its own process (OIDC, `storage: memory`, in front of `idp`): VmRSS
/// idle, then after one flow and the guarded load of the stages for `secs`.
async fn serve_memory(idp: &mock_idp::MockIdpHandle, secs: f64) -> Result<ServeMemory, String> {
    let dir = std::env::temp_dir().join(format!("authproof-guard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config_path = dir.join("proxy.yaml");
    let yaml = format!(
        "{}{}provider: oidc\n",
        proxy_yaml(idp, "memory"),
        one_address_load_yaml()
    );
    std::fs::write(&config_path, yaml).map_err(|e| e.to_string())?;
    let port = free_port();
    let mut child = spawn_serve(&config_path, port).map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    let status = format!("/proc/{}/status", child.id());
    let measured = async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        first_answer(
            &client,
            &format!("{base}/.well-known/oauth-authorization-server"),
        )
        .await;
        let idle = Rss::of(&status);
        let http = authproof::client::FlowClient::http_client(std::time::Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        let token = one_flow(&http, &base, &format!("{base}/mcp")).await?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let requests = guarded_requests(addr, "/mcp", &token, secs, CONNECTIONS).await;
        if requests.bad > 0 {
            return Err(format!("failed requests: {:?}", requests.first_bad));
        }
        Ok(ServeMemory {
            idle,
            after: Rss::of(&status),
            requests,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    measured
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(bench_secs(3.0), rounds()));
}

/// `BENCH_STAGE=N` runs stage N alone (1 to 6), for a profiler.
fn only_stage() -> Option<usize> {
    std::env::var("BENCH_STAGE")
        .ok()
        .and_then(|s| s.parse().ok())
}

async fn run(secs: f64, rounds: usize) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "guard bench: {secs} s per phase, {rounds} rounds, {CONNECTIONS} connections, {cores} cores, loopback"
    );
    let stack = Stack::start(
        "jwt",
        oidc_proxy_config,
        async |config: &ProxyConfig, clock| serve_store(&StorageSpec::Memory, config, clock).await,
        Clock::system(),
    )
    .await;
    let token = stack.token().await;
    let st = stack.proxy.state().clone();
    let limits = conn_limits(&st.config);
    let principal = ProxyVerifier::new(st.clone())
        .token(&token)
        .expect("token")
        .principal
        .clone();
    let path = stack.mcp_path();
    let first_steps = |records| {
        Arc::new(FirstSteps {
            verifier: ProxyVerifier::new(st.clone()),
            records,
        })
    };
    let front = bare_router(principal.clone()).layer(BoundsLayer::front(st.bounds.clone()));
    let stages: Vec<(&str, Router)> = vec![
        (
            "bare axum handler (the limit)",
            bare_router(principal.clone()),
        ),
        ("+ front layer (Host check, client address)", front),
        (
            "proxy router, any token accepted",
            router_with_verifier(st.clone(), Arc::new(AnyToken(principal.clone()))),
        ),
        (
            "+ step 1: the token's signature and claims",
            router_with_verifier(st.clone(), first_steps(false)),
        ),
        (
            "+ step 2: store look-ups (mapping, grant)",
            router_with_verifier(st.clone(), first_steps(true)),
        ),
        (
            "the proxy: + step 3, the upstream token",
            authproof::proxy::router(st.clone()),
        ),
    ];
    let mut servers = Vec::new();
    let mut phases = Vec::new();
    for (i, (label, app)) in stages.iter().enumerate() {
        if only_stage().is_some_and(|n| n != i + 1) {
            continue;
        }
        let s = Served::start(app.clone(), limits).await;
        phases.push(Phase {
            label,
            addr: s.addr,
            path: path.clone(),
        });
        servers.push(s);
    }

    let mut results: Vec<Vec<Measured>> = phases.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // The bare handler and the proxy back to back, then the stages between them; every
        // other round backwards. Other load on the machine drifts over a round: the two
        // stages of the headline ratio meet the same load, in either order.
        let last = phases.len() - 1;
        let mut order: Vec<usize> = [0, last].into_iter().chain(1..last).collect();
        order.dedup();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let phase = &phases[i];
            eprintln!("round {}/{rounds}: {}…", round + 1, phase.label);
            results[i].push(measure(phase, &token, secs).await);
        }
    }
    // The headline: in each round, the proxy's rate over the bare handler's, both measured
    // in that round; then the median of those paired ratios.
    let mut paired: Vec<f64> = results[results.len() - 1]
        .iter()
        .zip(&results[0])
        .map(|(guarded, bare)| guarded.requests.rate / bare.requests.rate)
        .collect();
    let rounds_text = paired
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(", ");
    paired.sort_by(f64::total_cmp);
    let paired_median = paired[paired.len() / 2];
    let medians: Vec<Measured> = results
        .into_iter()
        .map(|mut runs| {
            runs.sort_by(|a, b| a.requests.rate.total_cmp(&b.requests.rate));
            runs.swap_remove(runs.len() / 2)
        })
        .collect();
    for s in servers {
        s.shutdown().await;
    }
    if only_stage().is_some() {
        stack.stop().await;
        return;
    }

    eprintln!("in-process timings…");
    let host = stack.proxy.local_addr();
    let mut routed = Vec::new();
    for (_, app) in &stages {
        routed.push(in_process(app, &path, host, &token).await);
    }
    let micro = micro(&st, &token).await;
    eprintln!("authproof serve as its own process…");
    let serve = serve_memory(&stack.idp, secs * rounds as f64).await;
    stack.stop().await;

    let bare = medians[0].requests.rate;
    let guarded = medians[medians.len() - 1].requests.rate;
    println!();
    println!(
        "guarded `tools/list`: ratio {} (the median of the rounds' paired ratios: {rounds_text}); stage medians: {guarded:.0} req/s against the bare handler's {bare:.0} req/s ({:.2})",
        ratio(paired_median, 1.0, TARGET_RATIO),
        guarded / bare
    );
    println!();
    println!(
        "| stage | req/s | vs bare | p50 / p99 ms | CPU µs per request (server + load generator) | in-process ns per request (added) | allocations per request (added) |"
    );
    println!("|---|---:|---:|---|---:|---:|---:|");
    let mut previous: Option<(f64, f64)> = None;
    for ((phase, m), (ns, allocs)) in phases.iter().zip(&medians).zip(&routed) {
        let r = &m.requests;
        let (dns, dallocs) = previous.map_or_else(
            || (String::new(), String::new()),
            |(pn, pa)| {
                (
                    format!(" ({:+.0})", ns - pn),
                    format!(" ({:+.0})", allocs - pa),
                )
            },
        );
        println!(
            "| {} | {:.0} | {:.2} | {:.2} / {:.2} | {:.1} | {ns:.0}{dns} | {allocs:.0}{dallocs} |",
            phase.label,
            r.rate,
            r.rate / bare,
            r.p50_ms,
            r.p99_ms,
            m.cpu_us
        );
        previous = Some((*ns, *allocs));
    }
    println!();
    match serve {
        Ok(m) => println!(
            "`authproof serve` (own process, OIDC, memory store) VmRSS idle {} → after {} guarded requests ({:.0} req/s) {}; bound {TARGET_RSS_MIB:.0} MiB: {}",
            m.idle,
            m.requests.done,
            m.requests.rate,
            m.after,
            within(m.after.total as f64 / 1024.0, TARGET_RSS_MIB)
        ),
        Err(e) => println!("`authproof serve` as its own process: not measured ({e})"),
    }
    println!();
    println!("| step (in-process loop, one task) | ns per call | allocations per call |");
    println!("|---|---:|---:|");
    for (label, ns, allocs) in micro {
        println!("| {label} | {ns:.0} | {allocs:.1} |");
    }
}
