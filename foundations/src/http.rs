//! Serving HTTP/1.1 connections with bounds, for the proxy and the mock IdP alike.
//!
//! - **Header timeout**: once the first byte of a request has arrived, its headers must be
//!   complete within [`ConnLimits::header`].
//! - **Idle timeout**: a keep-alive connection with no request in progress is closed after
//!   [`ConnLimits::idle`] without a byte.
//! - **Body timeout**: a request body must arrive whole within [`ConnLimits::body`] of the
//!   request's start (a total, not a per-read timeout, so a client trickling one byte at a
//!   time cannot hold a connection).
//! - **Answers a writing client can read**: when a handler answers without reading the whole
//!   request body (a 413 for an oversized body, a 401 before the body), up to
//!   [`ConnLimits::drain`] bytes of the rest are read and discarded before the answer is sent,
//!   and the connection is closed after it. Without this, closing a socket with unread data
//!   makes the kernel reset the connection, and a client that writes its whole body before
//!   reading never sees the answer.
//!
//! Responses that stream (SSE) count as "in progress" until their body ends, so they are
//! never cut by the idle timeout.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, header};
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};

/// Connection bounds (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time to receive a request's headers, from its first byte.
    pub header: Duration,
    /// Time to receive a whole request body, from the request's start.
    pub body: Duration,
    /// Time a connection may sit with no request in progress and no byte received.
    pub idle: Duration,
    /// How much of an unread request body is read and discarded so the client can read the
    /// answer (bytes).
    pub drain: usize,
}

/// The default drain bound: 8 MiB.
pub const DEFAULT_DRAIN_BYTES: usize = 8 * 1024 * 1024;

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            drain: DEFAULT_DRAIN_BYTES,
        }
    }
}

/// What one connection knows about itself, shared by its IO, its requests and its watchdog.
struct ConnState {
    start: Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last_io_ms: AtomicU64,
    /// Milliseconds since `start` (plus one) when bytes of a request arrived while no
    /// request was in progress; 0 when none is waiting.
    head_since_ms: AtomicU64,
    /// Requests (and streamed responses) in progress.
    active: AtomicUsize,
    kill: Notify,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self, read: bool) {
        let now = self.now_ms();
        self.last_io_ms.store(now, Ordering::Relaxed);
        if read && self.active.load(Ordering::Acquire) == 0 {
            let _ = self.head_since_ms.compare_exchange(
                0,
                now + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    /// Why the connection should close now, if it should.
    fn expired(&self, limits: &ConnLimits) -> Option<&'static str> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now_ms();
        let head = self.head_since_ms.load(Ordering::Acquire);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if head > 0 && now.saturating_sub(head - 1) >= ms(limits.header) {
            return Some("request headers not received in time");
        }
        if head == 0
            && now.saturating_sub(self.last_io_ms.load(Ordering::Relaxed)) >= ms(limits.idle)
        {
            return Some("idle");
        }
        None
    }
}

/// Decrements the in-progress count when dropped.
struct ActiveGuard(Arc<ConnState>);

impl ActiveGuard {
    fn new(state: Arc<ConnState>) -> Self {
        state.active.fetch_add(1, Ordering::AcqRel);
        state.head_since_ms.store(0, Ordering::Release);
        ActiveGuard(state)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.touch(false);
    }
}

/// The socket, noting every byte that passes.
struct Watched {
    io: TcpStream,
    state: Arc<ConnState>,
}

impl Watched {
    /// Note a write that moved bytes, and pass its result on.
    fn wrote(&self, r: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch(false);
        }
        r
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.touch(true);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.wrote(r)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(r)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Where a request body that a handler dropped unread goes, so it can be drained.
type Leftover = Arc<Mutex<Option<Incoming>>>;

/// The request body a handler sees: the incoming body with a total deadline. Dropped before
/// its end, it leaves the rest in `leftover`.
struct RequestBody {
    inner: Option<Incoming>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    leftover: Leftover,
    done: bool,
}

/// The request body took longer than the body timeout.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body was not received in time")
    }
}

impl std::error::Error for BodyTimeout {}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(Box::new(BodyTimeout))));
        }
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            other => other.map(|o| o.map(|r| r.map_err(|e| Box::new(e) as Self::Error))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && !self.done
            && !inner.is_end_stream()
        {
            *self.leftover.lock() = Some(inner);
        }
    }
}

/// A response body that keeps its request "in progress" until it ends.
struct ResponseBody {
    inner: Body,
    _active: ActiveGuard,
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Read and discard up to `bound` bytes of `body` before `deadline`; `true` when it ended.
async fn drain(mut body: Incoming, bound: usize, deadline: tokio::time::Instant) -> bool {
    use http_body_util::BodyExt;
    let mut seen = 0usize;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    seen = seen.saturating_add(data.len());
                    if seen > bound {
                        return false;
                    }
                }
            }
            Ok(None) => return true,
            Ok(Some(Err(_))) | Err(_) => return false,
        }
    }
}

/// Serve one accepted connection until it ends, `kill` is notified by a handler (through the
/// [`ConnKill`] request extension), the watchdog closes it, or `shutdown` turns true (then
/// in-flight requests finish first).
pub async fn serve_connection<H, F>(
    stream: TcpStream,
    peer: SocketAddr,
    limits: ConnLimits,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ConnState {
        start: Instant::now(),
        last_io_ms: AtomicU64::new(0),
        head_since_ms: AtomicU64::new(0),
        active: AtomicUsize::new(0),
        kill: Notify::new(),
    });
    let io = Watched {
        io: stream,
        state: state.clone(),
    };
    let st = state.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (handler, st) = (handler.clone(), st.clone());
        async move { Ok::<_, Infallible>(one_request(req, peer, limits, handler, st).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.max_buf_size(64 * 1024).header_read_timeout(None);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let check_every = limits.header.min(limits.idle).min(Duration::from_secs(1)) / 2;
    let mut tick = tokio::time::interval(check_every.max(Duration::from_millis(50)));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = state.kill.notified() => return,
            _ = tick.tick() => {
                if let Some(why) = state.expired(&limits) {
                    tracing::debug!(%peer, why, "closing connection");
                    return;
                }
            }
            changed = shutdown.changed(), if !shutting_down => {
                if changed.is_err() || *shutdown.borrow() {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A request extension a handler can use to drop its connection without answering (the
/// mock IdP's fault injection).
#[derive(Clone)]
pub struct ConnKill(Arc<ConnState>);

impl ConnKill {
    /// Drop the connection now.
    pub fn kill(&self) {
        self.0.kill.notify_one();
    }
}

impl std::fmt::Debug for ConnKill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnKill")
    }
}

async fn one_request<H, F>(
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: ConnLimits,
    handler: H,
    state: Arc<ConnState>,
) -> Response<Body>
where
    H: Fn(Request<Body>) -> F,
    F: Future<Output = Response<Body>>,
{
    let active = ActiveGuard::new(state.clone());
    let deadline = tokio::time::Instant::now() + limits.body;
    let leftover: Leftover = Arc::new(Mutex::new(None));
    let (mut parts, incoming) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    parts.extensions.insert(ConnKill(state));
    let body = RequestBody {
        inner: Some(incoming),
        deadline: Box::pin(tokio::time::sleep_until(deadline)),
        leftover: leftover.clone(),
        done: false,
    };
    let response = handler(Request::from_parts(parts, Body::new(body))).await;
    let unread = leftover.lock().take();
    let (mut parts, body) = response.into_parts();
    if let Some(rest) = unread {
        // Let a client that writes its whole body first finish, so it can read the answer.
        // A body drained to its end leaves the connection reusable; one beyond the bound
        // (or too slow) closes it after the answer.
        if !drain(rest, limits.drain, deadline).await {
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    Response::from_parts(
        parts,
        Body::new(ResponseBody {
            inner: body,
            _active: active,
        }),
    )
}

/// What open connections do when the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnShutdown {
    /// Finish the requests in progress, then close (the proxy).
    Finish,
    /// Drop every connection at once, even mid-request (the mock IdP: a scripted delay or a
    /// hung fault must not hold its shutdown).
    Drop,
}

/// Accept connections on `listener` and serve each with `handler` until `shutdown` turns
/// true; then stop accepting and close the open connections as `on_shutdown` says.
pub async fn serve<H, F>(
    listener: tokio::net::TcpListener,
    limits: ConnLimits,
    on_shutdown: OnShutdown,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<Body>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(serve_connection(stream, peer, limits, handler.clone(), shutdown.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    if on_shutdown == OnShutdown::Drop {
        conns.abort_all();
    }
    while conns.join_next().await.is_some() {}
}

/// An axum router as a [`serve`] handler.
pub fn router_handler(
    router: axum::Router,
) -> impl Fn(Request<Body>) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |req| {
        let router = router.clone();
        Box::pin(async move {
            use tower::ServiceExt;
            match router.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            }
        })
    }
}
