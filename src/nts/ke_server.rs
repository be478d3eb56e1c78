//! The NTS key-establishment server (RFC 8915 §4): TLS 1.3 only, ALPN `ntske/1`, over TCP. A
//! thin shell on a single-threaded tokio runtime of its own, so nothing here can stall an NTP
//! worker: the ClientHello is awaited in a cheap stage of its own, the handshake and the
//! request are bounded in size and time, [`Admission`] says who gives way under a flood, the
//! pure [`KeOffer`] decides, the keys come from the TLS exporter, and eight cookies go back.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::server::ServerConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_rustls::LazyConfigAcceptor;

use super::certificates::ReloadingIdentity;
use stratum1_core::nts::cookie::{self, CookieContents, COOKIE_NONCE_LEN};
use stratum1_core::nts::ke_records::{
    error_response, exporter_context, read_request, KeDecision, KeErrorCode, KeOffer, RequestProgress,
    ALPN_NTSKE, EXPORTER_LABEL,
};
use stratum1_core::nts::SharedKeys;
use stratum1_core::nts::{Admission, Admit, Arrival};
use stratum1_core::nts::{AeadAlgorithm, AeadKey};

/// Cookies handed out per key establishment (RFC 8915 §4.1.6 suggests 8).
pub const COOKIES_PER_KE: usize = 8;

/// How the key-establishment server behaves; from `[nts]`.
#[derive(Clone, Debug)]
pub struct KeSettings {
    pub listen: Vec<SocketAddr>,
    pub offer: KeOffer,
    pub max_connections: usize,
    pub exchange_timeout: Duration,
    pub max_request_bytes: usize,
    pub certificate_check: Duration,
}

/// What happened to key-establishment connections, for the status page and `stratum1ctl`.
#[derive(Debug, Default)]
pub struct KeCounters {
    /// Exchanges that handed out cookies.
    pub accepted: AtomicU64,
    /// Answered with an Error record (bad or unknown-critical request).
    pub refused: AtomicU64,
    /// Answered without cookies: no protocol or AEAD in common.
    pub no_common_algorithm: AtomicU64,
    /// TLS handshake failed, or the client did not negotiate `ntske/1`.
    pub handshake_failed: AtomicU64,
    /// Closed at the deadline (idle or trickling).
    pub timed_out: AtomicU64,
    /// Closed after its ClientHello: every TLS slot held an exchange younger than a second.
    pub over_capacity: AtomicU64,
    /// Closed to make room: waiting too long for its ClientHello, in a handshake past its
    /// grace, or sitting after its handshake (see `ke_admission`).
    pub evicted: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeCountsSnapshot {
    pub accepted: u64,
    pub refused: u64,
    pub no_common_algorithm: u64,
    pub handshake_failed: u64,
    pub timed_out: u64,
    pub over_capacity: u64,
    pub evicted: u64,
}

impl KeCounters {
    pub fn snapshot(&self) -> KeCountsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        KeCountsSnapshot {
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            no_common_algorithm: get(&self.no_common_algorithm),
            handshake_failed: get(&self.handshake_failed),
            timed_out: get(&self.timed_out),
            over_capacity: get(&self.over_capacity),
            evicted: get(&self.evicted),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub struct KeServer {
    pub local_addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    thread: JoinHandle<()>,
}

impl KeServer {
    /// Binds every address (errors name the address) and starts serving on a thread of its own.
    pub fn start(
        settings: KeSettings,
        identity: Arc<ReloadingIdentity>,
        provider: Arc<rustls::crypto::CryptoProvider>,
        keys: SharedKeys,
        counters: Arc<KeCounters>,
    ) -> io::Result<KeServer> {
        let mut listeners = Vec::new();
        let mut local_addrs = Vec::new();
        for addr in &settings.listen {
            let listener = crate::net::bind_tcp(*addr, "NTS-KE")?;
            local_addrs.push(listener.local_addr()?);
            listeners.push(listener);
        }
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(sha256_suite_first(&provider)))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| io::Error::other(format!("TLS configuration: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(identity.clone());
        tls.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
        tls.ignore_client_order = true;
        // NTS-KE is one exchange per connection; resumption tickets would only cost work.
        tls.send_tls13_tickets = 0;
        let tls = Arc::new(tls);

        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new().name("nts-ke".into()).spawn(move || {
            crate::thread_priority::lower_this_thread(crate::thread_priority::KE_NICE, "nts-ke");
            runtime.block_on(serve(listeners, tls, settings, identity, keys, counters, stopped));
        })?;
        Ok(KeServer { local_addrs, stop, thread })
    }

    pub fn shutdown(self) {
        let _ = self.stop.send(true);
        if self.thread.join().is_err() {
            tracing::error!("the NTS-KE thread panicked");
        }
    }
}

async fn serve(
    listeners: Vec<std::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
    settings: KeSettings,
    identity: Arc<ReloadingIdentity>,
    keys: SharedKeys,
    counters: Arc<KeCounters>,
    mut stopped: watch::Receiver<bool>,
) {
    let settings = Arc::new(settings);
    let admission = Arc::new(Mutex::new(Admission::new(settings.max_connections)));
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("nts-ke: {e}");
                continue;
            }
        };
        let context = Connection {
            started,
            tls: tls.clone(),
            settings: settings.clone(),
            keys: keys.clone(),
            counters: counters.clone(),
        };
        tasks.spawn(accept_loop(listener, context, admission.clone()));
    }
    let check_every = settings.certificate_check;
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(check_every);
        loop {
            tick.tick().await;
            match identity.reload_if_changed() {
                Ok(true) => tracing::info!("nts-ke: certificate renewed; new handshakes use it"),
                Ok(false) => {}
                Err(e) => tracing::warn!("nts-ke: renewed certificate not loaded, keeping the old one: {e}"),
            }
        }
    });
    let _ = stopped.wait_for(|stop| *stop).await;
    tasks.abort_all();
}

#[derive(Clone)]
struct Connection {
    /// The admission clock's zero, the same for every listener.
    started: std::time::Instant,
    tls: Arc<rustls::ServerConfig>,
    settings: Arc<KeSettings>,
    keys: SharedKeys,
    counters: Arc<KeCounters>,
}

async fn accept_loop(
    listener: TcpListener,
    context: Connection,
    admission: Arc<Mutex<Admission<AbortHandle>>>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!("nts-ke: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let source = stratum1_web::limits::source_of(peer.ip());
        let Arrival { id, evicted } = lock(&admission).arrive(source, context.now_ms());
        for handle in evicted {
            handle.abort();
            bump(&context.counters.evicted);
        }
        let context = context.clone();
        let registry = admission.clone();
        let task = tokio::spawn(async move {
            // Gives the place back however the task ends: done, failed, or aborted (evicted).
            let _open = OpenGuard { admission: registry.clone(), id };
            let deadline = context.settings.exchange_timeout;
            match tokio::time::timeout(deadline, exchange(stream, &context, &registry, id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!("nts-ke {peer}: {e}"),
                Err(_) => {
                    bump(&context.counters.timed_out);
                    tracing::debug!("nts-ke {peer}: deadline passed, closed");
                }
            }
        });
        lock(&admission).set_handle(id, task.abort_handle());
    }
}

impl Connection {
    /// The admission clock: milliseconds since the server started.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// A panic elsewhere left complete bookkeeping (every change is one call), so a poisoned lock
/// is fine.
fn lock(a: &Mutex<Admission<AbortHandle>>) -> std::sync::MutexGuard<'_, Admission<AbortHandle>> {
    a.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes a connection out of the admission bookkeeping when its task ends.
struct OpenGuard {
    admission: Arc<Mutex<Admission<AbortHandle>>>,
    id: u64,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        lock(&self.admission).close(self.id);
    }
}

/// A LAN client finishes its TLS handshake in milliseconds and a distant one in well under a
/// second: a handshake that takes longer than this is closed, whatever the exchange's deadline.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(2);

async fn exchange(
    stream: TcpStream,
    context: &Connection,
    admission: &Mutex<Admission<AbortHandle>>,
    id: u64,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let handshake_deadline =
        tokio::time::Instant::now() + HANDSHAKE_DEADLINE.min(context.settings.exchange_timeout);
    let in_time = |what: &str| {
        bump(&context.counters.timed_out);
        io::Error::new(io::ErrorKind::TimedOut, format!("{what} not finished in time"))
    };
    let failed = |e: io::Error| {
        bump(&context.counters.handshake_failed);
        e
    };
    // The ClientHello first, holding no TLS slot: idle and trickling connections stop here.
    let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = match tokio::time::timeout_at(handshake_deadline, hello).await {
        // Gone before saying anything (a port scan, a client that gave up): not a failure.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(e),
        Ok(started) => started.map_err(failed)?,
        Err(_) => return Err(in_time("ClientHello")),
    };
    let verdict = lock(admission).hello_received(id, context.now_ms());
    match verdict {
        Admit::Yes { evicted } => {
            for handle in evicted {
                handle.abort();
                bump(&context.counters.evicted);
            }
        }
        Admit::No => {
            bump(&context.counters.over_capacity);
            return Err(io::Error::other("every TLS slot holds a young exchange"));
        }
    }
    let mut tls =
        match tokio::time::timeout_at(handshake_deadline, start.into_stream(context.tls.clone())).await {
            Ok(done) => done.map_err(failed)?,
            Err(_) => return Err(in_time("TLS handshake")),
        };
    lock(admission).handshake_done(id, context.now_ms());
    if tls.get_ref().1.alpn_protocol() != Some(ALPN_NTSKE) {
        bump(&context.counters.handshake_failed);
        return Err(io::Error::other("client did not negotiate ALPN ntske/1"));
    }
    let limit = context.settings.max_request_bytes;
    let mut request = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let progress = loop {
        match read_request(&request) {
            RequestProgress::Incomplete if request.len() >= limit => {
                break RequestProgress::Refuse(KeErrorCode::BadRequest);
            }
            RequestProgress::Incomplete => {}
            done => break done,
        }
        let room = (limit + 1 - request.len()).min(chunk.len());
        let n = tls.read(&mut chunk[..room]).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before End of Message"));
        }
        request.extend_from_slice(&chunk[..n]);
    };
    let response = match progress {
        RequestProgress::Complete(request) => {
            let decision = context.settings.offer.decide(&request);
            match decision {
                KeDecision::Accept { algorithm, .. } => {
                    let cookies = issue_cookies(tls.get_ref().1, algorithm, &context.keys)?;
                    bump(&context.counters.accepted);
                    context.settings.offer.response(decision, &cookies)
                }
                _ => {
                    bump(&context.counters.no_common_algorithm);
                    context.settings.offer.response(decision, &[])
                }
            }
        }
        RequestProgress::Refuse(code) => {
            bump(&context.counters.refused);
            error_response(code)
        }
        RequestProgress::Incomplete => error_response(KeErrorCode::InternalServerError),
    };
    // The answer and the close_notify leave in one write, one segment for the client to take,
    // and closing the socket sends the FIN: no write and no shutdown call of their own.
    let connection = &mut tls.get_mut().1;
    std::io::Write::write_all(&mut connection.writer(), &response)?;
    connection.send_close_notify();
    tls.flush().await
}

/// The provider's TLS 1.3 suites with TLS_AES_128_GCM_SHA256 first, chosen whatever the
/// client prefers (most clients put AES-256-GCM-SHA384 first): the handshake's transcript and
/// key schedule are then hashed with SHA-256, which x86 and the Pi 5 run on SHA instructions,
/// where SHA-384 ran in software and took 6 % of a handshake's CPU (`perf`, 2026-12-03). Every
/// TLS 1.3 client has the suite: it is the one RFC 8446 (§9.1) makes mandatory.
fn sha256_suite_first(provider: &rustls::crypto::CryptoProvider) -> rustls::crypto::CryptoProvider {
    let mut provider = provider.clone();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
}

/// The session keys from the TLS exporter (RFC 8915 §5.1), sealed into fresh cookies.
fn issue_cookies(
    connection: &ServerConnection,
    algorithm: AeadAlgorithm,
    keys: &SharedKeys,
) -> io::Result<Vec<Vec<u8>>> {
    let contents = CookieContents {
        c2s: export_key(connection, algorithm, 0)?,
        s2c: export_key(connection, algorithm, 1)?,
    };
    let mut nonces = [0u8; COOKIES_PER_KE * COOKIE_NONCE_LEN];
    getrandom::getrandom(&mut nonces).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    let keys = keys.read().unwrap_or_else(|p| p.into_inner());
    Ok(nonces
        .chunks_exact(COOKIE_NONCE_LEN)
        .map(|nonce| {
            let mut out = Vec::with_capacity(cookie::cookie_len(algorithm));
            let mut n = [0u8; COOKIE_NONCE_LEN];
            n.copy_from_slice(nonce);
            cookie::seal(&keys, &contents, n, &mut out);
            out
        })
        .collect())
}

fn export_key(connection: &ServerConnection, algorithm: AeadAlgorithm, direction: u8) -> io::Result<AeadKey> {
    let mut key = vec![0u8; algorithm.key_len()];
    connection
        .export_keying_material(&mut key, EXPORTER_LABEL, Some(&exporter_context(algorithm, direction)))
        .map_err(|e| io::Error::other(format!("TLS exporter: {e}")))?;
    AeadKey::new(algorithm, &key).map_err(|e| io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mandatory_sha256_suite_comes_first_and_no_suite_is_lost() {
        let provider = rustls::crypto::ring::default_provider();
        let reordered = sha256_suite_first(&provider);
        let names = |p: &rustls::crypto::CryptoProvider| -> Vec<rustls::CipherSuite> {
            p.cipher_suites.iter().map(|s| s.suite()).collect()
        };
        assert_eq!(names(&reordered)[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let (mut before, mut after) = (names(&provider), names(&reordered));
        before.sort_by_key(|s| u16::from(*s));
        after.sort_by_key(|s| u16::from(*s));
        assert_eq!(before, after);
    }
}
