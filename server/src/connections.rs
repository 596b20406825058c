//! The server loop: accepts connections and serves HTTP/1.1 on each, with the limits that plain
//! `axum::serve` lacks, for a server exposed without a reverse proxy in front.
//!
//! - A request head must arrive within `--header-read-timeout`; the same timer closes a
//!   keep-alive connection that stays idle that long (hyper's `header_read_timeout`).
//! - A request body that stalls for `--body-idle-timeout`, that arrives slower than
//!   `--min-body-rate` once `--min-body-rate-grace` has passed, or that is still arriving after
//!   `--upload-deadline`, is cut: the handler gets an error it answers with 408
//!   ([`RequestBody`]). Only time spent waiting on the client counts, so a handler that reads
//!   slowly (a slow store) never gets its client cut. The deadline is what bounds a client that
//!   keeps exactly to the minimum rate: a 1 GiB body at 1 KiB/s would otherwise hold its
//!   connection and its storage reservation for twelve days.
//! - A response the client stops reading for `--body-idle-timeout` ends the connection.
//! - At most `--max-connections` connections are served at once; one more gets a 503 with
//!   `Retry-After` as soon as its request head is in, and is closed ([`refuse`]), instead of
//!   waiting unanswered in the backlog.
//! - A request refused before its body was read (413, 401, 429, …) reaches a client that is
//!   still sending: the server reads and discards what follows, briefly and bounded, before it
//!   closes ([`GuardedIo::poll_shutdown`]). Closing a socket with unread data makes the kernel
//!   answer with a reset, which throws the response away in the client's receive buffer, so the
//!   client would see a broken pipe instead of its status.
//!
//! HTTP/1.1 only: a reverse proxy terminates HTTP/2, and serving h2c directly would need timers
//! of its own for the preface and idle streams.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use bytes::Bytes;
use http_body::{Body as _, Frame};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use prometheus::{IntCounterVec, IntGauge};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::Config;

/// How long, and how much, a refused request's body is still read before the connection closes.
const LINGER_TIME: Duration = Duration::from_secs(5);
const LINGER_BYTES: u64 = 16 << 20;

/// Connections refused over the cap that may be answering at once; beyond, they are dropped
/// unanswered, so a flood cannot make the refusals themselves the cost.
const MAX_REFUSING: usize = 1024;
/// How long a refused connection may take to send its request head and receive its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(3);
/// Seconds a client refused over the cap is asked to wait.
const RETRY_AFTER_SECS: u32 = 5;

/// The limits of every listener, from the flags.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_idle_timeout: Duration,
    /// Bytes per second; 0 turns the rate check off.
    pub min_body_rate: u64,
    pub min_body_rate_grace: Duration,
    /// Longest a request body may keep the server waiting in all (`--upload-deadline`, which
    /// bounds a multi-request upload the same way).
    pub body_deadline: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(c: &Config) -> Limits {
        Limits {
            header_read_timeout: c.header_read_timeout,
            body_idle_timeout: c.body_idle_timeout,
            min_body_rate: c.min_body_rate,
            min_body_rate_grace: c.min_body_rate_grace,
            body_deadline: c.upload_deadline,
            max_connections: c.max_connections as usize,
        }
    }
}

/// Why the server gave up on a connection: the `reason` label of
/// `hakanai_connections_cut_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// A request head that did not arrive within `--header-read-timeout`.
    HeaderTimeout,
    /// A request body that sent nothing for `--body-idle-timeout`.
    BodyIdle,
    /// A request body slower than `--min-body-rate`.
    BodyRate,
    /// A request body still arriving after `--upload-deadline`.
    BodyDeadline,
    /// A response the client did not read for `--body-idle-timeout`.
    ResponseIdle,
    /// Refused with 503: `--max-connections` were open.
    OverCapacity,
}

impl Cut {
    pub const ALL: [Cut; 6] = [
        Cut::HeaderTimeout,
        Cut::BodyIdle,
        Cut::BodyRate,
        Cut::BodyDeadline,
        Cut::ResponseIdle,
        Cut::OverCapacity,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Cut::HeaderTimeout => "header_timeout",
            Cut::BodyIdle => "body_idle",
            Cut::BodyRate => "body_rate",
            Cut::BodyDeadline => "body_deadline",
            Cut::ResponseIdle => "response_idle",
            Cut::OverCapacity => "over_capacity",
        }
    }
}

/// The connection metrics every listener of one application shares.
#[derive(Clone)]
pub struct ConnectionMetrics {
    pub open: IntGauge,
    pub cut: IntCounterVec,
}

impl ConnectionMetrics {
    fn count(&self, cut: Cut) {
        self.cut.with_label_values(&[cut.label()]).inc();
    }
}

/// The error a request body gives its reader when the client stalled: handlers answer 408
/// ([`crate::routes::response::body_error`]).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body stalled ({})", .0.label())]
pub struct BodyStalled(pub Cut);

/// Serves `router` on `listener` until `signal` completes, then lets the requests in flight
/// finish (as `axum::serve(…).with_graceful_shutdown(signal)` did) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: ConnectionMetrics,
    signal: impl Future<Output = ()>,
) {
    let limits = Arc::new(limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSING));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.count(Cut::OverCapacity);
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tokio::spawn(refuse(stream, slot));
            }
            continue;
        };
        let shared = Arc::new(Shared {
            metrics: metrics.clone(),
            unread_body: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            idle_after_response: AtomicBool::new(false),
        });
        let io = GuardedIo {
            stream,
            shared: shared.clone(),
            write_idle: limits.body_idle_timeout,
            write_timer: None,
            linger: None,
        };
        let service = ConnectionService {
            router: router.clone(),
            peer,
            shared: shared.clone(),
            limits: limits.clone(),
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        let open = Open::start(metrics.open.clone(), permit);
        tokio::spawn(async move {
            let _open = open;
            if let Err(e) = connection.await {
                // hyper's header timer also closes keep-alive connections that stay idle: that
                // is no cut, only a head that never (fully) came is.
                if e.is_timeout() && !shared.idle_after_response.load(Ordering::Relaxed) {
                    shared.metrics.count(Cut::HeaderTimeout);
                }
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Warns when the process may open fewer files than `--max-connections` needs (read from
/// `/proc/self/limits`, so Linux only): past the file limit, accepting fails instead of
/// answering 503.
pub fn warn_if_file_limit_low(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft.filter(|&n| n < max_connections + 64) {
        tracing::warn!(
            open_files_limit = soft,
            max_connections,
            "the open-files limit is below --max-connections: raise it (ulimit -n, systemd \
             LimitNOFILE, docker --ulimit nofile) or lower --max-connections"
        );
    }
}

/// What `axum::serve` does on a failed accept: a connection that went away before it was
/// accepted is nobody's problem; anything else (out of file descriptors) is logged, and the loop
/// pauses instead of spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// The 503 for a connection over `--max-connections`, written before its request is read.
fn over_capacity_response() -> Vec<u8> {
    let body = r#"{"error":"service_unavailable","details":"the server has too many open connections; try again shortly"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: {RETRY_AFTER_SECS}\r\ncache-control: no-store\r\n\
         x-content-type-options: nosniff\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a connection over the cap with 503 and closes it, all within [`REFUSAL_TIME`]. The
/// 503 answers the request head (waited for briefly): an HTTP client that gets a response
/// before it has sent its request may take it for a protocol error. After it, what the client
/// still sends is read until it closes, so the close does not reset the 503 away.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(REFUSAL_TIME / 3, async {
            while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        stream.write_all(&over_capacity_response()).await?;
        stream.shutdown().await?;
        let mut read = 0usize;
        while read < 64 * 1024 {
            match stream.read(&mut buf).await? {
                0 => break,
                n => read += n,
            }
        }
        Ok::<(), io::Error>(())
    })
    .await;
}

/// One served connection in `hakanai_connections_open`, holding its place under the cap.
struct Open {
    gauge: IntGauge,
    _permit: OwnedSemaphorePermit,
}

impl Open {
    fn start(gauge: IntGauge, permit: OwnedSemaphorePermit) -> Open {
        gauge.inc();
        Open {
            gauge,
            _permit: permit,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// What the parts of one connection tell each other.
struct Shared {
    metrics: ConnectionMetrics,
    /// The last request's body was dropped before its end: linger before closing.
    unread_body: AtomicBool,
    /// The server gave up on the client: close without lingering.
    cut: AtomicBool,
    /// A response was written and no byte has arrived since.
    idle_after_response: AtomicBool,
}

/// Hands each request to the router with the peer's address and a guarded body.
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    shared: Arc<Shared>,
    limits: Arc<Limits>,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.shared.unread_body.store(false, Ordering::Relaxed);
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(ConnectInfo(self.peer));
        let body = RequestBody::new(body, self.shared.clone(), &self.limits);
        let mut router = self.router.clone();
        // A Router is always ready; `poll_ready` has nothing to wait for.
        tower::Service::call(&mut router, Request::from_parts(parts, Body::new(body)))
    }
}

/// A request body that is cut with [`BodyStalled`] when the client stalls or dribbles.
struct RequestBody {
    inner: Incoming,
    shared: Arc<Shared>,
    idle: Duration,
    min_rate: u64,
    grace: Duration,
    max_wait: Duration,
    received: u64,
    /// Time spent waiting on the client so far, not counting the wait in progress.
    waited: Duration,
    /// When the wait in progress began: the reader asked for more and none had arrived.
    waiting_since: Option<Instant>,
    timer: Option<(Pin<Box<Sleep>>, Instant)>,
    /// Nothing more will come: the end was reached, or the body failed or was cut.
    ended: bool,
}

impl RequestBody {
    fn new(inner: Incoming, shared: Arc<Shared>, limits: &Limits) -> RequestBody {
        RequestBody {
            ended: inner.is_end_stream(),
            inner,
            shared,
            idle: limits.body_idle_timeout,
            min_rate: limits.min_body_rate,
            grace: limits.min_body_rate_grace,
            max_wait: limits.body_deadline,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: None,
        }
    }

    /// When the wait that began at `since` becomes a cut, and why: after `idle`; once the time
    /// spent waiting passes both the grace period and the time the bytes received so far would
    /// take at the minimum rate; or once it passes the body deadline.
    fn deadline(&self, since: Instant) -> (Instant, Cut) {
        let mut first = (since + self.idle, Cut::BodyIdle);
        let mut sooner = |allowed: Duration, cut: Cut| {
            if let Some(at) = since.checked_add(allowed.saturating_sub(self.waited)) {
                if at < first.0 {
                    first = (at, cut);
                }
            }
        };
        sooner(self.max_wait, Cut::BodyDeadline);
        // A rate of 0 turns the check off.
        if let Some(earned_ms) = self
            .received
            .saturating_mul(1000)
            .checked_div(self.min_rate)
        {
            sooner(
                self.grace.max(Duration::from_millis(earned_ms)),
                Cut::BodyRate,
            );
        }
        first
    }

    fn cut(&mut self, reason: Cut) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.ended = true;
        self.shared.cut.store(true, Ordering::Relaxed);
        self.shared.metrics.count(reason);
        Poll::Ready(Some(Err(Box::new(BodyStalled(reason)))))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                match frame {
                    None => {
                        this.ended = true;
                        Poll::Ready(None)
                    }
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            this.received += data.len() as u64;
                        }
                        Poll::Ready(Some(Ok(frame)))
                    }
                    Some(Err(e)) => {
                        this.ended = true;
                        Poll::Ready(Some(Err(Box::new(e))))
                    }
                }
            }
            Poll::Pending => {
                let now = Instant::now();
                let since = *this.waiting_since.get_or_insert(now);
                let (deadline, reason) = this.deadline(since);
                if deadline <= now {
                    return this.cut(reason);
                }
                let timer = match &mut this.timer {
                    Some((timer, at)) => {
                        if *at != deadline {
                            timer.as_mut().reset(deadline);
                            *at = deadline;
                        }
                        timer
                    }
                    None => {
                        let timer = Box::pin(tokio::time::sleep_until(deadline));
                        &mut this.timer.insert((timer, deadline)).0
                    }
                };
                if timer.as_mut().poll(cx).is_ready() {
                    return this.cut(reason);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if !self.ended && !self.inner.is_end_stream() {
            self.shared.unread_body.store(true, Ordering::Relaxed);
        }
    }
}

/// The socket under hyper: times out a response the client stops reading, and lingers on
/// close after a request whose body was left unread.
struct GuardedIo {
    stream: TcpStream,
    shared: Arc<Shared>,
    write_idle: Duration,
    write_timer: Option<(Pin<Box<Sleep>>, bool)>,
    linger: Option<Linger>,
}

struct Linger {
    until: Pin<Box<Sleep>>,
    read: u64,
}

impl GuardedIo {
    /// A write that cannot proceed fails once the client has read nothing for `write_idle`.
    fn poll_write_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match write(Pin::new(&mut self.stream), cx) {
            Poll::Ready(r) => {
                if let Some((_, armed)) = &mut self.write_timer {
                    *armed = false;
                }
                self.shared
                    .idle_after_response
                    .store(true, Ordering::Relaxed);
                Poll::Ready(r)
            }
            Poll::Pending => {
                let deadline = Instant::now() + self.write_idle;
                let timer = match &mut self.write_timer {
                    Some((timer, armed)) => {
                        if !*armed {
                            timer.as_mut().reset(deadline);
                            *armed = true;
                        }
                        timer
                    }
                    None => {
                        let timer = Box::pin(tokio::time::sleep_until(deadline));
                        &mut self.write_timer.insert((timer, true)).0
                    }
                };
                if timer.as_mut().poll(cx).is_ready() {
                    self.shared.cut.store(true, Ordering::Relaxed);
                    self.shared.metrics.count(Cut::ResponseIdle);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = ready!(Pin::new(&mut self.stream).poll_read(cx, buf));
        if buf.filled().len() > before {
            self.shared
                .idle_after_response
                .store(false, Ordering::Relaxed);
        }
        Poll::Ready(r)
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    /// Sends FIN after the response; then, if a request body was left unread, reads and drops
    /// what the client still sends until it closes, for at most [`LINGER_TIME`] and
    /// [`LINGER_BYTES`].
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.stream).poll_shutdown(cx))?;
            let shared = &this.shared;
            if !shared.unread_body.load(Ordering::Relaxed) || shared.cut.load(Ordering::Relaxed) {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some(Linger {
                until: Box::pin(tokio::time::sleep(LINGER_TIME)),
                read: 0,
            });
        }
        let Some(linger) = &mut this.linger else {
            return Poll::Ready(Ok(()));
        };
        let mut scratch = [0u8; 8192];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    linger.read += buf.filled().len() as u64;
                    if linger.read >= LINGER_BYTES {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    return match linger.until.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Ok(())),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
    }
}
