//! The load generator shared by the bench programs: guarded MCP `tools/list` requests on raw
//! keep-alive HTTP/1.1 connections (a client library would cost more than the server under
//! test), with a warm-up, a fixed measuring window and latency percentiles.

use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// The value at quantile `p` of sorted values (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

pub async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
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

/// Read more bytes into `buf`; an error at end of stream.
pub async fn read_more(stream: &TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
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

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one HTTP/1.1 response (Content-Length or chunked); returns its status and body.
pub async fn read_response(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, Vec<u8>)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    buf.drain(..head_end);
    let mut body = Vec::new();
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                read_more(stream, buf).await?;
            };
            let size_text = std::str::from_utf8(&buf[..line_end]).map_err(|_| bad("chunk"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("chunk size"))?;
            while buf.len() < line_end + 2 + size + 2 {
                read_more(stream, buf).await?;
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        let n = content_length.ok_or_else(|| bad("no content-length"))?;
        while buf.len() < n {
            read_more(stream, buf).await?;
        }
        body.extend(buf.drain(..n));
    }
    Ok((status, body))
}

/// What one load phase measured.
#[allow(dead_code)] // each bench program prints its own columns
pub struct RequestFigures {
    pub rate: f64,
    pub done: u64,
    pub bad: u64,
    pub first_bad: Option<String>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `connections` keep-alive connections send `tools/list` with `token` to `path` for `secs`
/// seconds after a 0.5 s warm-up; the first 200 answer on each connection must list tools.
#[allow(dead_code)] // the mock IdP's bench loads its token endpoint instead
pub async fn guarded_requests(
    addr: SocketAddr,
    path: &str,
    token: &str,
    secs: f64,
    connections: usize,
) -> RequestFigures {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         MCP-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    repeated_requests(addr, request.into_bytes(), secs, connections, |body| {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if v["result"]["tools"].is_array() {
            Ok(())
        } else {
            Err(format!(
                "tools/list answered {}",
                String::from_utf8_lossy(body)
            ))
        }
    })
    .await
}

/// A form POST of `form` to `path` on `addr`, as raw HTTP/1.1 bytes (keep-alive).
#[allow(dead_code)] // not every bench program posts forms
pub fn form_post(addr: SocketAddr, path: &str, form: &[(&str, &str)]) -> Vec<u8> {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// `connections` keep-alive connections send the same raw `request` for `secs` seconds after
/// a 0.5 s warm-up; the first 200 answer on each connection must pass `check` (the bench
/// stops with its message otherwise). Other statuses are counted as bad.
pub async fn repeated_requests(
    addr: SocketAddr,
    request: Vec<u8>,
    secs: f64,
    connections: usize,
    check: fn(&[u8]) -> Result<(), String>,
) -> RequestFigures {
    let request = Arc::new(request);
    let warmup = Duration::from_millis(500);
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + Duration::from_secs_f64(secs);
    let bad = Arc::new(AtomicU64::new(0));
    let first_bad = Arc::new(parking_lot::Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (request, bad, first_bad) = (request.clone(), bad.clone(), first_bad.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat_us: Vec<u32> = Vec::with_capacity(1 << 14);
            let stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut checked = false;
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
                match read_response(&stream, &mut buf).await {
                    Ok((200, body)) => {
                        if !checked {
                            if let Err(e) = check(&body) {
                                panic!("{e}");
                            }
                            checked = true;
                        }
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
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.expect("request task"));
    }
    let measured = Instant::now().saturating_duration_since(measure_from);
    let mut lat: Vec<f64> = lat.into_iter().map(|us| us as f64 / 1e3).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    RequestFigures {
        rate: lat.len() as f64 / measured.as_secs_f64(),
        done: lat.len() as u64,
        bad: bad.load(Ordering::Relaxed),
        first_bad: first_bad.lock().take(),
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().copied().unwrap_or(f64::NAN),
    }
}
