//! Guarded requests per second with each bearer verifier (a plain program, not a timed test).
//!
//! `POST /mcp` `tools/list` at 64 keep-alive connections (one request in flight per
//! connection, a minimal HTTP/1.1 client on raw tokio sockets), answered by the built-in echo
//! endpoint, on loopback, with the mock IdP in the same process:
//!
//! 1. `proxy HS256`: the proxy's own tokens, no upstream verifier (generic OAuth proxy);
//! 2. `proxy HS256 + upstream JWT`: provider oidc, the upstream RS256 access token behind each
//!    proxy token is verified too (JWKS cached);
//! 3. `proxy HS256 + userinfo (cached)`: provider workos, the upstream token is checked at
//!    userinfo once and then served from the cache;
//! 4. `AuthKit RS256 via JWKS`: provider authkit, the bearer token is AuthKit's own RS256 JWT,
//!    checked against the warm JWKS and then remembered by hash (`cache_ttl`, default 5m);
//! 5. the same with `cache_ttl: 0s`: an RS256 signature verification on every request.
//!
//! Run: `cargo bench --bench verifiers` (release). `BENCH_SECS=N` sets each phase's length
//! (default 4).

use authproof::client::{AuthorizeRequest, FlowClient, TokenCodeRequest};
use authproof::proxy::config::{ConsentMode, HumanDuration, ProviderKind, ProxyConfig, Secret};
use authproof::proxy::{Proxy, ProxyHandle, SpawnOptions};
use mock_idp::{Clock, IdpConfig, MockIdp, MockIdpHandle};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 64;
const REDIRECT: &str = "http://127.0.0.1:7777/cb";

fn bench_secs() -> f64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(4.0)
}

fn idp(flavor: &str, user: &str) -> IdpConfig {
    let text = format!(
        "flavor: {flavor}\n\
         clients: [{{ id: upstream-app, secret: s3cret, token_endpoint_auth_method: client_secret_post }}]\n\
         users: [{{ sub: {user}, claims: {{ email: alice@example.com }} }}]\n\
         default_user: {user}\n\
         journal: {{ max_entries: 1000 }}\n"
    );
    mock_idp::yaml::from_str(&text, "<bench idp>").expect("bench idp config")
}

fn proxy_config(provider: ProviderKind, idp: &MockIdpHandle) -> ProxyConfig {
    let mut c = ProxyConfig {
        provider,
        ..ProxyConfig::default()
    };
    match provider {
        ProviderKind::Workos | ProviderKind::Authkit => c.upstream.domain = Some(idp.url()),
        _ => c.upstream.config_url = Some(idp.discovery_url()),
    }
    c.upstream.timeout = HumanDuration::secs(10);
    c.allowed_client_redirect_uris = Some(vec!["http://127.0.0.1:*".into()]);
    if provider == ProviderKind::Authkit {
        return c;
    }
    c.upstream.client_id = "upstream-app".into();
    c.upstream.client_secret = Some(Secret::new("s3cret"));
    c.upstream.token_endpoint_auth_method = Some("client_secret_post".parse().expect("method"));
    c.upstream.scopes = vec!["openid".into(), "email".into()];
    c.valid_scopes = vec!["openid".into(), "email".into()];
    c.consent = ConsentMode::Off;
    c.jwt_signing_key = Some(Secret::new("bench-signing-key-0123456789abcdef"));
    c
}

struct Stack {
    idp: MockIdpHandle,
    proxy: ProxyHandle,
}

impl Stack {
    async fn start(provider: ProviderKind, flavor: &str, user: &str) -> Stack {
        Self::start_with(provider, flavor, user, |_| {}).await
    }

    async fn start_with(
        provider: ProviderKind,
        flavor: &str,
        user: &str,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> Stack {
        let clock = Clock::system();
        let idp = MockIdp::builder()
            .config(idp(flavor, user))
            .clock(clock.clone())
            .spawn()
            .await
            .expect("mock idp");
        let mut cfg = proxy_config(provider, &idp);
        tweak(&mut cfg);
        let proxy = Proxy::spawn(
            cfg,
            SpawnOptions {
                clock,
                ..SpawnOptions::default()
            },
        )
        .await
        .expect("proxy");
        Stack { idp, proxy }
    }

    /// A proxy access token through a real flow.
    async fn proxy_token(&self) -> String {
        let fc = FlowClient::new(&self.proxy.url()).expect("flow client");
        fc.discover().await.expect("discover");
        let reg = fc
            .register(&json!({"redirect_uris": [REDIRECT]}))
            .await
            .expect("register");
        assert_eq!(reg.status, 201, "{}", reg.body);
        let out = fc
            .authorize(AuthorizeRequest::default())
            .await
            .expect("authorize");
        assert!(out.code.is_some(), "{out}");
        let t = fc
            .token_code(TokenCodeRequest::default())
            .await
            .expect("token");
        assert_eq!(t.status, 200, "{}", t.body);
        t.json.expect("json")["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// An AuthKit access token for the proxy's resource: DCR and a code flow at the mock.
    async fn authkit_token(&self) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http");
        let eps = self.idp.endpoints();
        let reg: Value = http
            .post(&eps["register"])
            .json(&json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("register json");
        let client_id = reg["client_id"].as_str().expect("client_id").to_string();
        let verifier = authproof::oauth::pkce::new_verifier();
        let challenge = authproof::oauth::pkce::challenge_s256(&verifier);
        let resource = self.proxy.resource();
        let r = http
            .get(&eps["authorize"])
            .query(&[
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("scope", "openid email"),
                ("resource", resource.as_str()),
            ])
            .send()
            .await
            .expect("authorize");
        let loc = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string();
        let code = url::Url::parse(&loc)
            .expect("location url")
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code");
        let t: Value = http
            .post(&eps["token"])
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
                ("client_id", client_id.as_str()),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        t["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    async fn stop(self) {
        self.proxy.shutdown().await;
        self.idp.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal keep-alive HTTP/1.1 load generator

async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        stream.writable().await?;
        match stream.try_write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One response (Content-Length or chunked): its status and body.
async fn response(stream: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let head_end = loop {
        if let Some(i) = position(buf, b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status"))?;
    let mut length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    buf.drain(..head_end);
    let mut body = Vec::new();
    if chunked {
        loop {
            let eol = loop {
                if let Some(i) = position(buf, b"\r\n") {
                    break i;
                }
                read_more(stream, buf).await?;
            };
            let text = std::str::from_utf8(&buf[..eol]).map_err(|_| bad("chunk"))?;
            let size = usize::from_str_radix(text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("chunk size"))?;
            while buf.len() < eol + 2 + size + 2 {
                read_more(stream, buf).await?;
            }
            body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
            buf.drain(..eol + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        let n = length.ok_or_else(|| bad("no content-length"))?;
        while buf.len() < n {
            read_more(stream, buf).await?;
        }
        body.extend(buf.drain(..n));
    }
    Ok((status, body))
}

struct Figures {
    rate: f64,
    done: u64,
    bad: u64,
    first_bad: Option<String>,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(addr: SocketAddr, path: &str, token: &str, secs: f64) -> Figures {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let request = Arc::new(
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    );
    let start = Instant::now();
    let measure_from = start + Duration::from_millis(500);
    let deadline = measure_from + Duration::from_secs_f64(secs);
    let bad = Arc::new(AtomicU64::new(0));
    let first_bad = Arc::new(parking_lot::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (request, bad, first_bad) = (request.clone(), bad.clone(), first_bad.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat_us: Vec<u32> = Vec::with_capacity(1 << 14);
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::with_capacity(16 * 1024);
            loop {
                let s = Instant::now();
                if s >= deadline {
                    break;
                }
                if let Err(e) = write_all(&stream, &request).await {
                    first_bad.lock().get_or_insert(format!("write: {e}"));
                    bad.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                match response(&stream, &mut buf).await {
                    Ok((200, _)) => {
                        if s >= measure_from {
                            lat_us.push(s.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        }
                    }
                    Ok((status, body)) => {
                        bad.fetch_add(1, Ordering::Relaxed);
                        first_bad.lock().get_or_insert(format!(
                            "HTTP {status}: {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    Err(e) => {
                        bad.fetch_add(1, Ordering::Relaxed);
                        first_bad.lock().get_or_insert(format!("read: {e}"));
                        break;
                    }
                }
            }
            lat_us
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let measured = Instant::now().saturating_duration_since(measure_from);
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[i]) / 1000.0
    };
    Figures {
        rate: all.len() as f64 / measured.as_secs_f64().max(1e-9),
        done: all.len() as u64,
        bad: bad.load(Ordering::Relaxed),
        first_bad: first_bad.lock().clone(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

async fn phase(name: &str, stack: &Stack, token: &str, secs: f64) -> (String, Figures) {
    eprintln!("{name}…");
    let path = url::Url::parse(&stack.proxy.resource())
        .expect("resource")
        .path()
        .to_owned();
    let f = load(stack.proxy.local_addr(), &path, token, secs).await;
    if let Some(e) = &f.first_bad {
        eprintln!("  first failed request: {e}");
    }
    (name.to_string(), f)
}

async fn run(secs: f64) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("verifier bench: {secs} s per phase, {CONNECTIONS} connections, {cores} cores");
    let mut rows = Vec::new();

    let plain = Stack::start(ProviderKind::Oauth, "oidc", "alice").await;
    let token = plain.proxy_token().await;
    rows.push(phase("proxy HS256 (no upstream verifier)", &plain, &token, secs).await);
    plain.stop().await;

    let oidc = Stack::start(ProviderKind::Oidc, "oidc", "alice").await;
    let token = oidc.proxy_token().await;
    rows.push(
        phase(
            "proxy HS256 + upstream RS256 JWT (oidc)",
            &oidc,
            &token,
            secs,
        )
        .await,
    );
    oidc.stop().await;

    let workos = Stack::start(ProviderKind::Workos, "workos", "user_01ALICE").await;
    let token = workos.proxy_token().await;
    rows.push(
        phase(
            "proxy HS256 + userinfo, cached (workos)",
            &workos,
            &token,
            secs,
        )
        .await,
    );
    let userinfo_calls = workos
        .idp
        .journal()
        .iter()
        .filter(|e| e.path == "/oauth2/userinfo")
        .count();
    workos.stop().await;

    let authkit = Stack::start(ProviderKind::Authkit, "workos", "user_01ALICE").await;
    let token = authkit.authkit_token().await;
    rows.push(phase("AuthKit RS256 via JWKS (authkit)", &authkit, &token, secs).await);
    authkit.stop().await;

    let uncached = Stack::start_with(ProviderKind::Authkit, "workos", "user_01ALICE", |c| {
        c.upstream.verifier.cache_ttl = HumanDuration::secs(0);
    })
    .await;
    let token = uncached.authkit_token().await;
    rows.push(
        phase(
            "AuthKit RS256 via JWKS, cache_ttl 0s (signature every request)",
            &uncached,
            &token,
            secs,
        )
        .await,
    );
    uncached.stop().await;

    let base = rows[0].1.rate;
    println!();
    println!(
        "| guarded `tools/list`, {CONNECTIONS} connections | req/s | vs HS256 | p50 ms | p99 ms | failed |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.0} | {:+.0}% | {:.2} | {:.2} | {} of {} |",
            f.rate,
            (f.rate / base - 1.0) * 100.0,
            f.p50_ms,
            f.p99_ms,
            f.bad,
            f.done + f.bad
        );
    }
    println!();
    println!("userinfo requests during the workos phase (sign-in included): {userinfo_calls}");
}

fn main() {
    let secs = bench_secs();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(secs));
}
