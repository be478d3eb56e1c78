//! The HTTP shell: read-only routes on a single-threaded tokio runtime of its own (so a slow or
//! hostile HTTP client can never take time from NTP serving), a cap on connections, and
//! security headers on every response.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::limits::{source_of, SourceLimits};
use crate::snapshot::StatusSnapshot;
use crate::{metrics, page};

/// Produces the current status; called once per request.
pub type SnapshotSource = Arc<dyn Fn() -> StatusSnapshot + Send + Sync>;

const STYLE: &str = include_str!("../templates/style.css");
const SCRIPT: &str = include_str!("../templates/app.js");
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct WebServer {
    pub local_addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
}

impl WebServer {
    /// Binds every address (errors name it) and serves on a thread of its own.
    /// A connection with no bytes moving for `idle` is closed (slow or idle clients would
    /// otherwise keep their slot for ever).
    /// Serves on listeners the caller bound (non-blocking). A connection with no bytes moving
    /// for `idle` is closed (slow or idle clients would otherwise keep their slot for ever).
    pub fn start(
        listeners: Vec<std::net::TcpListener>,
        max_connections: usize,
        idle: Duration,
        source: SnapshotSource,
        ca_certificate_pem: Option<String>,
    ) -> io::Result<WebServer> {
        let local_addrs =
            listeners.iter().map(std::net::TcpListener::local_addr).collect::<io::Result<Vec<_>>>()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new().name("web".into()).spawn(move || {
            runtime.block_on(serve(listeners, max_connections, idle, source, ca_certificate_pem, stopped));
        })?;
        Ok(WebServer { local_addrs, stop, thread })
    }

    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            eprintln!("the web server thread panicked");
        }
    }
}

/// The routes, for the server and for tests that call them without a socket. `/ca.pem` serves
/// the local CA's certificate (public; what NTS clients trust), when there is one.
pub fn router(source: SnapshotSource, ca_certificate_pem: Option<String>) -> Router {
    let ca = move || {
        let pem = ca_certificate_pem.clone();
        async move {
            match pem {
                Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
                None => (StatusCode::NOT_FOUND, "no local CA: this server uses a certificate of its own\n")
                    .into_response(),
            }
        }
    };
    Router::new()
        .route("/ca.pem", get(ca))
        .route("/", get(status_page))
        .route("/api/status", get(api_status))
        .route("/metrics", get(metrics_text))
        .route("/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }))
        .route(
            "/app.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT) }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(source)
}

async fn serve(
    listeners: Vec<std::net::TcpListener>,
    max_connections: usize,
    idle: Duration,
    source: SnapshotSource,
    ca_certificate_pem: Option<String>,
    stopped: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let sources = Arc::new(std::sync::Mutex::new(SourceLimits::for_slots(max_connections.max(1))));
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let Ok(listener) = TcpListener::from_std(listener) else { continue };
        let limited =
            LimitedListener { inner: listener, slots: slots.clone(), sources: sources.clone(), idle };
        let app = router(source.clone(), ca_certificate_pem.clone());
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(limited, app).with_graceful_shutdown(shutdown).await {
                eprintln!("web server: {e}");
            }
        });
    }
    let mut stopped = stopped;
    let _ = stopped.wait_for(|stop| *stop).await;
    // Connections still open get a moment to finish, then everything stops.
    let _ =
        tokio::time::timeout(Duration::from_secs(1), async { while tasks.join_next().await.is_some() {} })
            .await;
    tasks.abort_all();
}

async fn status_page(State(source): State<SnapshotSource>) -> Response {
    let html = page::render(&source());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn api_status(State(source): State<SnapshotSource>) -> Response {
    match serde_json::to_string_pretty(&source()) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn metrics_text(State(source): State<SnapshotSource>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], metrics::render(&source())).into_response()
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// Accepts a connection only while fewer than the cap are open (the rest wait in the kernel's
/// backlog) and while its source holds fewer than its share; over its share it is closed at
/// once.
struct LimitedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    sources: Arc<std::sync::Mutex<SourceLimits>>,
    idle: Duration,
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let source = source_of(addr.ip());
                    if !self.sources.lock().unwrap_or_else(|p| p.into_inner()).try_open(source) {
                        drop(stream); // over its share: closed, the slot stays free
                        continue;
                    }
                    let deadline = Box::pin(tokio::time::sleep(self.idle));
                    let head_deadline = Box::pin(tokio::time::sleep(self.idle));
                    let stream = LimitedStream {
                        stream,
                        _permit: permit,
                        _source: SourceGuard { sources: self.sources.clone(), source },
                        idle: self.idle,
                        deadline,
                        head_deadline,
                    };
                    return (stream, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding one of the capped slots until it closes, until nothing has moved on
/// it for `idle`, or until it has sent for `idle` without getting an answer: a client that
/// trickles its request head a byte at a time keeps the idle clock running but never gets
/// an answer, so the head deadline (restarted by each answer written) closes it.
struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _source: SourceGuard,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    head_deadline: Pin<Box<tokio::time::Sleep>>,
}

/// Gives the source's count back when the connection goes.
struct SourceGuard {
    sources: Arc<std::sync::Mutex<SourceLimits>>,
    source: std::net::IpAddr,
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        self.sources.lock().unwrap_or_else(|p| p.into_inner()).close(self.source);
    }
}

impl LimitedStream {
    /// Passes a ready result through (and restarts the idle clock); turns a pending one into
    /// an error once the idle clock runs out.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                let next = tokio::time::Instant::now() + self.idle;
                self.deadline.as_mut().reset(next);
                Poll::Ready(result)
            }
            Poll::Pending => {
                if self.head_deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "HTTP request head not complete in time",
                    )));
                }
                match self.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle HTTP connection")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            if *n > 0 {
                // An answer is going out: the next request head gets a fresh deadline.
                let next = tokio::time::Instant::now() + self.idle;
                self.head_deadline.as_mut().reset(next);
            }
        }
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
