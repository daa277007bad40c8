//! Flood benchmark (a plain program, not a timed test): `FLOOD_REQUESTS` unauthenticated
//! requests (default 1,000,000) as fast as the machine allows, while 8 legitimate clients
//! complete full flows, for each storage backend: memory, the embedded file store and a
//! private redis-server (skipped with a message when redis-server is not installed).
//!
//! - **The proxy** is the `authproof serve` binary as its own process, so its VmRSS is its
//!   own: the default bounds (rate limits on, default caps), consent on, in front of an
//!   in-process mock IdP. It runs with `RUST_LOG=info,authproof::store::held=debug`, so it
//!   logs the entries its store holds every second (`authproof::proxy::store::held`); the
//!   bench reads them from its log.
//! - **Attackers**: `FLOOD_CONCURRENCY` connections (default 64) from `FLOOD_ADDRESSES`
//!   distinct source addresses (default 4096, from 127.1.0.0 up: Linux routes all of 127/8 to
//!   the loopback interface), each connection from the next address, 32 requests on it, one
//!   in flight. The requests cycle through `POST /register` (valid metadata), `GET /authorize`
//!   for a client the attackers registered, with a fresh `state` (a pending authorization
//!   each time it is admitted), and `POST /token` with a made-up code for such a client. Raw
//!   HTTP/1.1 on tokio sockets (`benches/support/load.rs`), so the attackers take as little of
//!   the shared CPU as possible.
//! - **Legitimate clients**: 8, each from its own address (127.0.0.11…18), each running
//!   complete flows in a loop through `authproof::client::FlowClient` (register → authorize →
//!   consent → IdP login → callback → token), one flow every `FLOOD_LEGIT_EVERY_MS`
//!   (default 4000: a client's own pace stays inside its address's allowances, 30
//!   registrations a minute and 50 provisional ones at once, for the flood's 2 to 3
//!   minutes), until the flood ends; then one more flow each, after the flood.
//! - **Sampled**: the proxy's VmRSS every 200 ms, the store's entries every second (and, for
//!   Redis, redis-server's VmRSS; for the file store, the file's size).
//!
//! Printed per store: requests sent, answers by status, requests per second, peak and final
//! VmRSS, peak and final entries held against the caps, legitimate flows ok / failed with
//! their p50 / p99 and why they failed.
//!
//! Run: `cargo bench --bench flood` (release profile). `FLOOD_STORES=memory,file,redis`
//! chooses the backends. `FLOOD_CAPS=N` sets the two total caps
//! (`caps.provisional_registrations`, `caps.pending_authorizations`) to N instead of their
//! defaults, to see what they bound and how long an entry lasts once they are full (each new
//! entry evicts the oldest of its kind).

#[path = "support/allocator.rs"]
mod allocator;
#[path = "support/flows.rs"]
mod flows;
#[allow(dead_code)] // the load generator's own request loop is not used here
#[path = "support/load.rs"]
mod load;
#[allow(dead_code)] // the proxy bench reads its own process too
#[path = "support/rss.rs"]
mod rss;
#[path = "../tests/support/mod.rs"]
mod support;

use authproof::client::FlowClient;
use authproof::proxy::config::CapsConfig;
use authproof::proxy::store::{Collection, Held};
use flows::{REDIRECT, idp_config, one_flow, one_flow_timed, proxy_yaml};
use load::{percentile, read_response, write_all};
use mock_idp::MockIdp;
use parking_lot::Mutex;
use rss::{Rss, mib};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::TempDir;
use support::redis::RedisServer;
use support::serve::Serve;
use tokio::net::{TcpSocket, TcpStream};

const LEGIT_CLIENTS: u8 = 8;
/// Requests an attacker sends on one connection (from one address) before the next.
const PER_CONNECTION: u64 = 32;
/// Attacker clients registered before the flood, so `/authorize` and `/token` have some.
const SEED_CLIENTS: usize = 16;
/// The most attacker client ids kept to pick from.
const POOL: usize = 4096;

/// The bench's settings, from the environment.
struct Knobs {
    requests: u64,
    concurrency: usize,
    addresses: u32,
    legit_every: Duration,
    stores: Vec<String>,
    caps: CapsConfig,
}

fn knob<T: std::str::FromStr>(name: &str, default: T, ok: impl Fn(&T) -> bool) -> T {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => match v.trim().replace('_', "").parse::<T>() {
            Ok(n) if ok(&n) => n,
            _ => {
                eprintln!("{name}={v} is not a valid value; exiting");
                std::process::exit(2);
            }
        },
    }
}

impl Knobs {
    fn from_env() -> Knobs {
        let stores = std::env::var("FLOOD_STORES").unwrap_or_else(|_| "memory,file,redis".into());
        let stores: Vec<String> = stores
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(bad) = stores
            .iter()
            .find(|s| !matches!(s.as_str(), "memory" | "file" | "redis"))
        {
            eprintln!("FLOOD_STORES: unknown store {bad} (memory, file, redis); exiting");
            std::process::exit(2);
        }
        Knobs {
            requests: knob("FLOOD_REQUESTS", 1_000_000u64, |n| *n > 0),
            concurrency: knob("FLOOD_CONCURRENCY", 64usize, |n| (1..=4096).contains(n)),
            addresses: knob("FLOOD_ADDRESSES", 4096u32, |n| (1..=254 << 16).contains(n)),
            legit_every: Duration::from_millis(knob("FLOOD_LEGIT_EVERY_MS", 4000u64, |_| true)),
            stores,
            caps: {
                let d = CapsConfig::default();
                let n = knob("FLOOD_CAPS", d.provisional_registrations, |n| *n > 0);
                CapsConfig {
                    provisional_registrations: n,
                    pending_authorizations: n,
                    ..d
                }
            },
        }
    }
}

/// The `i`th attacker address: 127.1.0.0, 127.1.0.1, … (127.0.0.x is for the legitimate
/// clients and the servers).
fn attacker_ip(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        1 + (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ))
}

fn legit_ip(k: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11 + k))
}

// ---------------------------------------------------------------------------------------------
// The store's entries, read from the proxy's log

/// What the proxy's `store entries held` lines said.
#[derive(Default)]
struct HeldLog {
    latest: Option<Held>,
    peak: Held,
    peak_total: u64,
    lines: u64,
    bytes: u64,
}

impl HeldLog {
    fn line(&mut self, line: &str) {
        self.lines += 1;
        self.bytes += line.len() as u64 + 1;
        let Some(rest) = line.split("store entries held ").nth(1) else {
            return;
        };
        let mut held = Held::default();
        for (name, value) in rest.split_whitespace().filter_map(|t| t.split_once('=')) {
            if let (Some(c), Ok(n)) = (
                Collection::ALL.into_iter().find(|c| c.name() == name),
                value.parse::<u64>(),
            ) {
                held.set(c, n);
            }
        }
        for c in Collection::ALL {
            self.peak.set(c, self.peak.get(c).max(held.get(c)));
        }
        self.peak_total = self.peak_total.max(held.total());
        self.latest = Some(held);
    }
}

// ---------------------------------------------------------------------------------------------
// Attackers

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Register,
    Authorize,
    Token,
}

impl Kind {
    fn of(i: u64) -> Kind {
        match i % 3 {
            0 => Kind::Register,
            1 => Kind::Authorize,
            _ => Kind::Token,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Register => "register",
            Kind::Authorize => "authorize",
            Kind::Token => "token",
        }
    }
}

/// Answers by endpoint and status; connection errors.
#[derive(Default)]
struct Answers {
    by: BTreeMap<(Kind, u16), u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Answers {
    fn merge(&mut self, other: Answers) {
        for (k, n) in other.by {
            *self.by.entry(k).or_default() += n;
        }
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn count(&self, pred: impl Fn(u16) -> bool) -> u64 {
        self.by
            .iter()
            .filter(|((_, s), _)| pred(*s))
            .map(|(_, n)| n)
            .sum()
    }

    fn sent(&self) -> u64 {
        self.count(|_| true) + self.errors
    }

    /// `register 201×N 429×M …; authorize …` .
    fn by_endpoint(&self) -> String {
        [Kind::Register, Kind::Authorize, Kind::Token]
            .iter()
            .map(|k| {
                let parts: Vec<String> = self
                    .by
                    .iter()
                    .filter(|((kind, _), _)| kind == k)
                    .map(|((_, s), n)| format!("{s}×{n}"))
                    .collect();
                format!("{} {}", k.name(), parts.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// What the attackers share: the proxy, where they are in the flood, the clients they
/// registered.
struct Attack {
    proxy: SocketAddr,
    host: String,
    resource: String,
    challenge: String,
    verifier: String,
    total: u64,
    next: AtomicU64,
    next_address: AtomicU64,
    addresses: u32,
    pool: Mutex<Vec<String>>,
}

impl Attack {
    fn pick(&self, i: u64) -> Option<String> {
        let pool = self.pool.lock();
        (!pool.is_empty()).then(|| pool[(i as usize).wrapping_mul(7919) % pool.len()].clone())
    }

    fn remember(&self, i: u64, client_id: String) {
        let mut pool = self.pool.lock();
        if pool.len() < POOL {
            pool.push(client_id);
        } else {
            pool[i as usize % POOL] = client_id;
        }
    }

    fn request(&self, i: u64) -> Vec<u8> {
        let host = &self.host;
        let client_id = self.pick(i).unwrap_or_else(|| "unknown".into());
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match Kind::of(i) {
            Kind::Register => {
                let body = serde_json::json!({"redirect_uris": [REDIRECT], "client_name": "flood"})
                    .to_string();
                format!(
                    "POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            Kind::Authorize => format!(
                "GET /authorize?response_type=code&client_id={}&redirect_uri={}&code_challenge={}\
                 &code_challenge_method=S256&state={}&resource={} HTTP/1.1\r\nHost: {host}\r\n\r\n",
                enc(&client_id),
                enc(REDIRECT),
                self.challenge,
                authproof::oauth::random_token(12),
                enc(&self.resource),
            ),
            Kind::Token => {
                let body = format!(
                    "grant_type=authorization_code&code={}&code_verifier={}&client_id={}&redirect_uri={}",
                    authproof::oauth::random_token(24),
                    self.verifier,
                    enc(&client_id),
                    enc(REDIRECT),
                );
                format!(
                    "POST /token HTTP/1.1\r\nHost: {host}\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
        }
        .into_bytes()
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let n = self.next_address.fetch_add(1, Ordering::Relaxed);
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(
            attacker_ip((n % u64::from(self.addresses)) as u32),
            0,
        ))?;
        let stream = socket.connect(self.proxy).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// One request on `conn` (connecting first when there is none); its status.
    async fn send(
        &self,
        conn: &mut Option<TcpStream>,
        buf: &mut Vec<u8>,
        request: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        if conn.is_none() {
            *conn = Some(self.connect().await?);
            buf.clear();
        }
        let stream = conn.as_ref().expect("connected");
        write_all(stream, request).await?;
        read_response(stream, buf).await
    }

    /// One attacker: batches of requests, each batch on a new connection from the next
    /// address.
    async fn run(self: Arc<Self>) -> Answers {
        let mut answers = Answers::default();
        let mut conn: Option<TcpStream> = None;
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            let start = self.next.fetch_add(PER_CONNECTION, Ordering::Relaxed);
            if start >= self.total {
                return answers;
            }
            for i in start..(start + PER_CONNECTION).min(self.total) {
                let request = self.request(i);
                match self.send(&mut conn, &mut buf, &request).await {
                    Ok((status, body)) => {
                        *answers.by.entry((Kind::of(i), status)).or_default() += 1;
                        if status == 201
                            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                            && let Some(id) = v["client_id"].as_str()
                        {
                            self.remember(i, id.to_owned());
                        }
                    }
                    Err(e) => {
                        answers.errors += 1;
                        answers
                            .first_error
                            .get_or_insert_with(|| format!("{}: {e}", Kind::of(i).name()));
                        conn = None;
                    }
                }
            }
            conn = None;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Legitimate clients

#[derive(Default)]
struct Legit {
    latency_ms: Vec<f64>,
    /// Each request of the flows that succeeded during the flood, in the flow's order: how
    /// long each took (ms).
    steps: Vec<(String, Vec<f64>)>,
    failed: u64,
    /// Why flows failed (first line, shortened), and how often.
    reasons: BTreeMap<String, u64>,
    after_ok: u64,
    after_failed: u64,
    /// When the first flow failed, in seconds from the start of the flood.
    first_failure_s: Option<f64>,
}

impl Legit {
    fn merge(&mut self, other: Legit) {
        self.latency_ms.extend(other.latency_ms);
        for (name, ms) in other.steps {
            self.step(&name).extend(ms);
        }
        self.failed += other.failed;
        for (r, n) in other.reasons {
            *self.reasons.entry(r).or_default() += n;
        }
        self.after_ok += other.after_ok;
        self.after_failed += other.after_failed;
        self.first_failure_s = match (self.first_failure_s, other.first_failure_s) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn step(&mut self, name: &str) -> &mut Vec<f64> {
        let i = match self.steps.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.steps.push((name.to_string(), Vec::new()));
                self.steps.len() - 1
            }
        };
        &mut self.steps[i].1
    }

    fn fail(&mut self, e: &str) {
        self.failed += 1;
        let first: String = e.lines().next().unwrap_or("").chars().take(90).collect();
        *self.reasons.entry(first).or_default() += 1;
    }
}

/// One legitimate client from its own address: flows every `every` until `done`, then one
/// more after the flood.
async fn legit_client(
    k: u8,
    base: String,
    resource: String,
    every: Duration,
    started: Instant,
    done: Arc<AtomicBool>,
    mut after: tokio::sync::watch::Receiver<bool>,
) -> Legit {
    let http = FlowClient::http_client_builder(Duration::from_secs(30))
        .local_address(legit_ip(k))
        .build()
        .expect("http client");
    let mut legit = Legit::default();
    while !done.load(Ordering::Relaxed) {
        let t = Instant::now();
        match one_flow_timed(&http, &base, &resource).await {
            Ok((_, steps)) => {
                legit.latency_ms.push(t.elapsed().as_secs_f64() * 1e3);
                for (name, took) in steps {
                    legit.step(&name).push(took.as_secs_f64() * 1e3);
                }
            }
            Err(e) => {
                legit.fail(&e);
                legit
                    .first_failure_s
                    .get_or_insert(started.elapsed().as_secs_f64());
            }
        }
        let next = t + every;
        while Instant::now() < next && !done.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50).min(next - Instant::now())).await;
        }
    }
    let _ = after.wait_for(|go| *go).await;
    match one_flow(&http, &base, &resource).await {
        Ok(_) => legit.after_ok += 1,
        Err(e) => {
            legit.after_failed += 1;
            let first: String = e.lines().next().unwrap_or("").chars().take(90).collect();
            *legit.reasons.entry(format!("(after) {first}")).or_default() += 1;
        }
    }
    legit
}

// ---------------------------------------------------------------------------------------------
// One store

/// Where the state lives, and what keeps it alive.
enum Backend {
    Memory,
    File(TempDir),
    Redis(RedisServer),
}

impl Backend {
    fn storage(&self) -> String {
        match self {
            Backend::Memory => "memory".into(),
            Backend::File(dir) => format!("file:{}", dir.path().join("state.redb").display()),
            Backend::Redis(r) => r.url(0),
        }
    }

    /// What besides the proxy holds the state: redis-server's VmRSS, or the file's size.
    fn outside(&self) -> Option<u64> {
        match self {
            Backend::Memory => None,
            Backend::File(dir) => std::fs::metadata(dir.path().join("state.redb"))
                .ok()
                .map(|m| m.len() / 1024),
            Backend::Redis(r) => Some(Rss::of_pid(r.pid()).total),
        }
    }

    fn outside_name(&self) -> &'static str {
        match self {
            Backend::Memory => "",
            Backend::File(_) => "redb file size",
            Backend::Redis(_) => "redis-server VmRSS",
        }
    }
}

struct Run {
    store: String,
    answers: Answers,
    secs: f64,
    rss_peak: Rss,
    rss_final: Rss,
    outside: Option<(&'static str, u64, u64)>,
    held_peak: Held,
    held_peak_total: u64,
    held_final: Held,
    /// Whether the proxy logged what its store holds at all.
    held_logged: bool,
    legit: Legit,
    log_lines: u64,
    log_mib: f64,
}

async fn run_store(name: &str, knobs: &Knobs) -> Option<Run> {
    let backend = match name {
        "memory" => Backend::Memory,
        "file" => Backend::File(TempDir::new("flood-file")),
        _ => Backend::Redis(RedisServer::start("flood bench, redis store")?),
    };
    let idp = MockIdp::builder()
        .config(idp_config("jwt"))
        .spawn()
        .await
        .expect("mock idp");
    let dir = TempDir::new("flood");
    let config = dir.path().join("proxy.yaml");
    let caps = &knobs.caps;
    let yaml = format!(
        "{}caps: {{ provisional_registrations: {}, pending_authorizations: {} }}\n",
        proxy_yaml(&idp, &backend.storage()),
        caps.provisional_registrations,
        caps.pending_authorizations
    );
    std::fs::write(&config, yaml).expect("config");
    let log = Arc::new(Mutex::new(HeldLog::default()));
    let sink = log.clone();
    // Waits (blocking) until the process logs that it listens.
    let serve = match tokio::task::block_in_place(|| {
        Serve::start_watching(
            env!("CARGO_BIN_EXE_authproof"),
            &config,
            dir.path(),
            &[("RUST_LOG", "info,authproof::store::held=debug")],
            move |line| sink.lock().line(line),
        )
    }) {
        Ok(s) => s,
        Err(f) => panic!(
            "authproof serve did not start: {:?}\n{}",
            f.status, f.stderr
        ),
    };
    let pid = serve.pid();
    let base = format!("http://{}", serve.addr());
    let resource = format!("{base}/mcp");
    let verifier = authproof::oauth::pkce::new_verifier();
    let attack = Arc::new(Attack {
        proxy: serve.addr(),
        host: serve.addr().to_string(),
        challenge: authproof::oauth::pkce::challenge_s256(&verifier),
        verifier,
        resource: resource.clone(),
        total: knobs.requests,
        next: AtomicU64::new(0),
        next_address: AtomicU64::new(0),
        addresses: knobs.addresses,
        pool: Mutex::new(Vec::new()),
    });
    // A few attacker clients before the flood (registration requests are every third one).
    for i in 0..SEED_CLIENTS as u64 {
        let (mut conn, mut buf) = (None, Vec::new());
        if let Ok((201, body)) = attack
            .send(&mut conn, &mut buf, &attack.request(i * 3))
            .await
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
            && let Some(id) = v["client_id"].as_str()
        {
            attack.remember(i, id.to_owned());
        }
    }
    assert!(
        !attack.pool.lock().is_empty(),
        "no attacker client could register before the flood"
    );

    // Sample the proxy's memory (and what holds the state outside it) while it runs.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        let outside = Arc::new(backend);
        let o = outside.clone();
        let task = tokio::spawn(async move {
            let (mut peak, mut outside_peak) = (Rss::default(), 0);
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(Rss::of_pid(pid));
                outside_peak = outside_peak.max(o.outside().unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (peak, outside_peak)
        });
        (task, outside)
    };

    let done = Arc::new(AtomicBool::new(false));
    let (after, after_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let legit: Vec<_> = (0..LEGIT_CLIENTS)
        .map(|k| {
            tokio::spawn(legit_client(
                k,
                base.clone(),
                resource.clone(),
                knobs.legit_every,
                t,
                done.clone(),
                after_rx.clone(),
            ))
        })
        .collect();
    let attackers: Vec<_> = (0..knobs.concurrency)
        .map(|_| tokio::spawn(attack.clone().run()))
        .collect();
    let mut answers = Answers::default();
    for a in attackers {
        answers.merge(a.await.expect("attacker"));
    }
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    // After the flood: one more flow per legitimate client, a second later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = after.send(true);
    let mut legit_all = Legit::default();
    for l in legit {
        legit_all.merge(l.await.expect("legitimate client"));
    }
    // Let the proxy log what its store holds once more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sampling.store(false, Ordering::Relaxed);
    let (sampler, backend) = sampler;
    let (rss_peak, outside_peak) = sampler.await.expect("sampler");
    let rss_final = Rss::of_pid(pid);
    let outside = backend
        .outside()
        .map(|now| (backend.outside_name(), outside_peak.max(now), now));
    let run = {
        let log = log.lock();
        Run {
            store: name.to_owned(),
            answers,
            secs,
            rss_peak: rss_peak.max(rss_final),
            rss_final,
            outside,
            held_peak: log.peak,
            held_peak_total: log.peak_total,
            held_final: log.latest.unwrap_or_default(),
            held_logged: log.latest.is_some(),
            legit: legit_all,
            log_lines: log.lines,
            log_mib: log.bytes as f64 / (1024.0 * 1024.0),
        }
    };
    serve.kill();
    idp.shutdown().await;
    drop(backend);
    Some(run)
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter): arguments are ignored.
    let knobs = Knobs::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(knobs));
}

async fn run(knobs: Knobs) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!(
        "flood bench: {} requests per store, {} attacker connections from {} addresses, {} legitimate clients (a flow every {:?}), caps {} / {}, {cores} cores, loopback only",
        knobs.requests,
        knobs.concurrency,
        knobs.addresses,
        LEGIT_CLIENTS,
        knobs.legit_every,
        knobs.caps.provisional_registrations,
        knobs.caps.pending_authorizations
    );
    let mut runs = Vec::new();
    for store in &knobs.stores {
        eprintln!("{store} store…");
        if let Some(r) = run_store(store, &knobs).await {
            runs.push(r);
        }
    }
    let caps = &knobs.caps;
    println!();
    println!(
        "| store | requests | 2xx / 3xx / other 4xx / 429 / 503 / other | req/s | proxy VmRSS peak / final | entries held peak / final (all collections) | clients peak / final | transactions peak / final | legitimate flows ok / failed (after the flood) | flow p50 / p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let a = &r.answers;
        let lat = {
            let mut l = r.legit.latency_ms.clone();
            l.sort_by(|a, b| a.total_cmp(b));
            l
        };
        println!(
            "| {} | {} | {} / {} / {} / {} / {} / {} | {:.0} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} ({} / {}) | {:.0} / {:.0} ms |",
            r.store,
            a.sent(),
            a.count(|s| (200..300).contains(&s)),
            a.count(|s| (300..400).contains(&s)),
            a.count(|s| (400..500).contains(&s) && s != 429),
            a.count(|s| s == 429),
            a.count(|s| s == 503),
            a.count(|s| s >= 500 && s != 503) + a.errors,
            a.sent() as f64 / r.secs,
            mib(r.rss_peak.total),
            mib(r.rss_final.total),
            r.held_peak_total,
            r.held_final.total(),
            r.held_peak.get(Collection::Clients),
            r.held_final.get(Collection::Clients),
            r.held_peak.get(Collection::Transactions),
            r.held_final.get(Collection::Transactions),
            r.legit.latency_ms.len(),
            r.legit.failed,
            r.legit.after_ok,
            r.legit.after_failed,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
        );
    }
    println!();
    println!(
        "Caps (kept by the store; the oldest is evicted when full): {} provisional registrations, {} pending authorizations; durable clients (completed flows) come on top.",
        caps.provisional_registrations, caps.pending_authorizations
    );
    for r in &runs {
        println!();
        println!("{} store, {:.1} s:", r.store, r.secs);
        println!("- answers: {}", r.answers.by_endpoint());
        if let Some(e) = &r.answers.first_error {
            println!("- connection errors: {} (first: {e})", r.answers.errors);
        }
        println!("- proxy VmRSS peak {}; final {}", r.rss_peak, r.rss_final);
        if let Some((what, peak, now)) = r.outside {
            println!("- {what}: peak {}, final {}", mib(peak), mib(now));
        }
        if !r.held_logged {
            println!("- the proxy logged no `store entries held` line: the entries are unknown");
        }
        println!(
            "- entries held at the peak, per collection: {}",
            r.held_peak
        );
        println!("- entries held at the end: {}", r.held_final);
        println!(
            "- the proxy logged {} lines ({:.1} MiB)",
            r.log_lines, r.log_mib
        );
        if let Some(s) = r.legit.first_failure_s {
            println!("- the first legitimate flow failed {s:.1} s into the flood");
        }
        let steps: Vec<String> = r
            .legit
            .steps
            .iter()
            .map(|(name, ms)| {
                let mut ms = ms.clone();
                ms.sort_by(f64::total_cmp);
                let ms = &ms;
                format!(
                    "{name} {:.0} / {:.0}",
                    percentile(ms, 0.5),
                    percentile(ms, 0.99)
                )
            })
            .collect();
        if !steps.is_empty() {
            println!(
                "- the legitimate flows' requests, p50 / p99 ms: {}",
                steps.join(", ")
            );
        }
        for (reason, n) in &r.legit.reasons {
            println!("- legitimate flow failed {n}×: {reason}");
        }
    }
}
