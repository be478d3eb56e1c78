//! The pollers (shell): one thread per upstream source, sending a request at each poll and
//! reporting what came back as [`SourceEvent`]s. NTS sources run key establishment first
//! (again when the cookies run out or the server answers NTSN). Everything is judged by the
//! pure code: [`read_answer`] for the header, the NTS module for the authenticator.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::cert_time::BootstrapVerifier;
use super::cookie_jar;
use crate::config::{SourceConfig, SourceDefaults};
use crate::nts::client::{load_roots, tls_config_with_verifier, KeConnection, KeSession};
use stratum1_core::filter::Nanos;
use stratum1_core::nts::ntp_auth::{client_read_response, client_request};
use stratum1_core::nts::AeadAlgorithm;
use stratum1_core::packet::ReferenceId;
use stratum1_core::sources::{host_of, SourceEvent, SourceMode};
use stratum1_core::sources::{read_answer, BadAnswer, SentRequest};
use stratum1_core::time::NtpTimestamp;

/// Reads the clock the daemon serves (the steered one), ns since the Unix epoch.
pub type ClockReader = Arc<dyn Fn() -> Nanos + Send + Sync>;
/// Where a poller's events go: the source's index and the event.
pub type EventSink = Arc<dyn Fn(usize, SourceEvent) + Send + Sync>;

const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
const KE_TIMEOUT: Duration = Duration::from_secs(5);
/// An answer taking longer than this is not time.
const MAX_DELAY_NS: f64 = 1e9;
/// Cookies a client keeps (RFC 8915 §5.7: as many as the server gave at first, 8).
const COOKIES_WANTED: usize = 8;
/// Initial-burst requests (chrony's `iburst`: four, two seconds apart at most).
const BURST: u32 = 4;
/// Good answers in a row before the interval doubles.
const STABLE_ANSWERS: u32 = 8;

#[derive(Clone, Debug)]
pub struct PollerConfig {
    pub index: usize,
    pub mode: SourceMode,
    /// `host[:port]`: the NTS-KE server for NTS (port 4460), the NTP server otherwise (123).
    pub address: String,
    pub certificate_authority: Option<PathBuf>,
    /// log2 seconds.
    pub poll_min: i8,
    pub poll_max: i8,
    pub iburst: bool,
    /// Where the NTS session is kept across restarts (NTS sources with a `cookie-dir`).
    pub cookie_file: Option<PathBuf>,
}

impl PollerConfig {
    /// The poller of the `index`th `[[source]]`.
    pub fn new(index: usize, source: &SourceConfig, defaults: &SourceDefaults) -> PollerConfig {
        PollerConfig {
            index,
            mode: source.mode,
            address: source.address.clone(),
            certificate_authority: source.certificate_authority.clone(),
            poll_min: source.poll_min,
            poll_max: source.poll_max.max(source.poll_min),
            iburst: source.iburst,
            cookie_file: match (source.mode, &defaults.cookie_dir) {
                (SourceMode::Nts, Some(dir)) => Some(cookie_jar::path_for(dir, &source.address)),
                _ => None,
            },
        }
    }
}

/// What the certificate checks may rely on while the clock is not yet set (see [`cert_time`]).
#[derive(Clone, Debug, Default)]
pub struct CertificateTime {
    /// The clock state file's last save: the clock is known to be past it.
    pub floor_unix_s: Option<i64>,
    pub skip_until_synchronised: bool,
    pub synchronised: Arc<AtomicBool>,
}

pub struct Pollers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pollers {
    pub fn start(
        configs: Vec<PollerConfig>,
        clock: ClockReader,
        sink: EventSink,
        time: CertificateTime,
    ) -> io::Result<Pollers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for config in configs {
            let roots = match (config.mode, &config.certificate_authority) {
                (SourceMode::Nts, Some(ca)) => Some(load_roots(ca)),
                (SourceMode::Nts, None) => Some(system_roots()),
                (SourceMode::Server, _) => None,
            };
            let tls = roots.map(|roots| roots.and_then(|roots| bootstrap_tls_config(roots, &time)));
            // A source without usable CAs is shown with the reason; the daemon still serves.
            let tls = match tls {
                Some(Err(e)) => {
                    tracing::error!("source {}: {e}; it is not polled", config.address);
                    sink(config.index, SourceEvent::KeyExchange(Err(e.to_string())));
                    continue;
                }
                Some(Ok(tls)) => Some(tls),
                None => None,
            };
            let poller = Poller {
                config,
                tls,
                clock: clock.clone(),
                sink: sink.clone(),
                stop: stop.clone(),
                session: None,
                last_target: None,
            };
            let name = format!("source-{}", poller.config.index);
            threads.push(std::thread::Builder::new().name(name).spawn(move || poller.run())?);
        }
        Ok(Pollers { stop, threads })
    }

    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            if t.join().is_err() {
                tracing::error!("a source poller panicked");
            }
        }
    }
}

/// A KE client configuration trusting `roots`, with the bootstrap rules for certificate times.
fn bootstrap_tls_config(
    roots: rustls::RootCertStore,
    time: &CertificateTime,
) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let verifier = BootstrapVerifier::new(
        inner,
        time.floor_unix_s,
        time.skip_until_synchronised,
        time.synchronised.clone(),
    );
    tls_config_with_verifier(Arc::new(verifier))
}

/// The system's trusted roots (Debian's `ca-certificates`), for NTS sources without a
/// `certificate-authority`.
fn system_roots() -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no system CA certificates for NTS sources (install ca-certificates, or set certificate-authority)",
        ));
    }
    Ok(roots)
}

struct NtsSession {
    ke: KeSession,
    target: SocketAddr,
}

struct Poller {
    config: PollerConfig,
    tls: Option<Arc<ClientConfig>>,
    clock: ClockReader,
    sink: EventSink,
    stop: Arc<AtomicBool>,
    session: Option<NtsSession>,
    last_target: Option<std::net::IpAddr>,
}

/// How one poll ended, for the interval.
enum Outcome {
    Good,
    Bad,
    /// Told to slow down (RATE) or go away (DENY, RSTR).
    SlowDown,
    GoAway,
}

impl Poller {
    fn emit(&self, event: SourceEvent) {
        (self.sink)(self.config.index, event);
    }

    fn run(mut self) {
        self.restore_session();
        let mut log2 = self.config.poll_min;
        let mut burst = if self.config.iburst { BURST } else { 0 };
        let mut good_in_a_row = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let outcome = self.poll(log2);
            match outcome {
                Outcome::Good => good_in_a_row += 1,
                Outcome::Bad => good_in_a_row = 0,
                Outcome::SlowDown => log2 = (log2 + 1).min(self.config.poll_max),
                Outcome::GoAway => {
                    tracing::warn!(
                        "source {}: the server refused us (kiss-o'-death); polling stops",
                        self.config.address
                    );
                    return;
                }
            }
            if good_in_a_row >= STABLE_ANSWERS && log2 < self.config.poll_max {
                log2 += 1;
                good_in_a_row = 0;
            }
            let interval = if burst > 0 {
                burst -= 1;
                poll_interval(self.config.poll_min).min(Duration::from_secs(2))
            } else {
                poll_interval(log2)
            };
            self.sleep(interval);
        }
        self.keep_session();
    }

    /// The session a previous run kept, if any and still usable.
    fn restore_session(&mut self) {
        let Some(path) = self.config.cookie_file.clone() else { return };
        match cookie_jar::load(&path) {
            Ok(Some(ke)) if !ke.cookies.is_empty() => match self.session_from(ke) {
                Ok(session) => {
                    self.emit(SourceEvent::SessionRestored(session.ke.cookies.len()));
                    self.session = Some(session);
                }
                Err(e) => tracing::warn!(
                    "source {}: kept session unusable ({e}); new key exchange",
                    self.config.address
                ),
            },
            Ok(_) => {}
            Err(e) => {
                tracing::warn!("source {}: {}: {e}; new key exchange", self.config.address, path.display())
            }
        }
    }

    fn keep_session(&self) {
        let (Some(path), Some(session)) = (&self.config.cookie_file, &self.session) else { return };
        if let Err(e) = cookie_jar::save(path, &session.ke) {
            tracing::warn!(
                "source {}: cannot keep the NTS session in {}: {e}",
                self.config.address,
                path.display()
            );
        }
    }

    fn sleep(&self, total: Duration) {
        let until = Instant::now() + total;
        while !self.stop.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }

    fn poll(&mut self, log2: i8) -> Outcome {
        match self.config.mode {
            SourceMode::Server => match resolve(&self.config.address, 123) {
                Ok(target) => self.exchange(target, log2, false),
                Err(e) => {
                    self.emit(SourceEvent::Polled);
                    self.emit(SourceEvent::Failed(format!("cannot resolve: {e}")));
                    Outcome::Bad
                }
            },
            SourceMode::Nts => {
                if self.session.as_ref().is_none_or(|s| s.ke.cookies.is_empty()) {
                    self.session = None;
                    match self.key_exchange() {
                        Ok(session) => {
                            self.emit(SourceEvent::KeyExchange(Ok(session.ke.cookies.len())));
                            self.session = Some(session);
                            self.keep_session();
                        }
                        Err(e) => {
                            self.emit(SourceEvent::Polled);
                            self.emit(SourceEvent::KeyExchange(Err(e.to_string())));
                            return Outcome::Bad;
                        }
                    }
                }
                let target = self.session.as_ref().map(|s| s.target);
                match target {
                    Some(target) => self.exchange(target, log2, true),
                    None => Outcome::Bad,
                }
            }
        }
    }

    fn key_exchange(&self) -> io::Result<NtsSession> {
        let tls = self.tls.clone().ok_or_else(|| io::Error::other("no TLS configuration"))?;
        let ke_addr = resolve(&self.config.address, 4460)?;
        let host = host_of(&self.config.address);
        let ke = KeConnection::connect(tls, ke_addr, host, KE_TIMEOUT)?
            .establish(&[AeadAlgorithm::AesSivCmac256, AeadAlgorithm::Aes128GcmSiv])?;
        if ke.cookies.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the server gave no cookies"));
        }
        self.session_from(ke)
    }

    /// Where the session's NTP requests go: the server and port records, or the KE host and 123.
    fn session_from(&self, ke: KeSession) -> io::Result<NtsSession> {
        let host = host_of(&self.config.address);
        let ntp_host = ke.ntp_server.clone().unwrap_or_else(|| host.to_owned());
        let target = resolve(&ntp_host, ke.ntp_port.unwrap_or(123))?;
        Ok(NtsSession { ke, target })
    }

    /// One request and its answer; `nts` when the request is to carry NTS fields.
    fn exchange(&mut self, target: SocketAddr, log2: i8, nts: bool) -> Outcome {
        if self.last_target != Some(target.ip()) {
            self.last_target = Some(target.ip());
            self.emit(SourceEvent::Target(target.ip()));
        }
        self.emit(SourceEvent::Polled);
        let socket = match connected_socket(target) {
            Ok(s) => s,
            Err(e) => {
                self.emit(SourceEvent::Failed(format!("socket: {e}")));
                return Outcome::Bad;
            }
        };
        let mut random = [0u8; 8 + 32 + 16];
        if getrandom::getrandom(&mut random).is_err() {
            return Outcome::Bad;
        }
        let transmit = NtpTimestamp::from_be_bytes(random[..8].try_into().unwrap_or_default());
        let mut sent = SentRequest { transmit, sent_at: 0 };
        let header = sent.header(log2);
        let mut unique_id = [0u8; 32];
        unique_id.copy_from_slice(&random[8..40]);
        let datagram = match (nts, self.session.as_mut()) {
            (true, Some(session)) => {
                let Some(cookie) = session.ke.cookies.pop() else { return Outcome::Bad };
                let placeholders = COOKIES_WANTED.saturating_sub(session.ke.cookies.len() + 1);
                let nonce = &random[40..40 + session.ke.algorithm.nonce_len().min(16)];
                client_request(&header, &unique_id, &cookie, placeholders, &session.ke.c2s, nonce)
            }
            _ => header.to_vec(),
        };
        sent.sent_at = (self.clock)();
        if let Err(e) = socket.send(&datagram) {
            self.emit(SourceEvent::Failed(format!("send: {e}")));
            return Outcome::Bad;
        }
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let mut buffer = [0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
                self.emit(SourceEvent::NoAnswer);
                return Outcome::Bad;
            }
            let n = match socket.recv(&mut buffer) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                // ICMP port unreachable and the like: nobody is there.
                Err(_) => {
                    self.emit(SourceEvent::NoAnswer);
                    return Outcome::Bad;
                }
            };
            let received_at = (self.clock)();
            let answer = &buffer[..n];
            match self.judge(answer, &sent, received_at, &unique_id, nts) {
                Ok(event) => {
                    self.emit(event);
                    return Outcome::Good;
                }
                Err(BadAnswer::KissOfDeath(code)) => {
                    self.emit(SourceEvent::Bad(BadAnswer::KissOfDeath(code)));
                    let code = ReferenceId(code);
                    return if code == ReferenceId::NTSN {
                        // The server no longer knows our cookies: key establishment again.
                        self.session = None;
                        Outcome::Bad
                    } else if code == ReferenceId::RATE {
                        Outcome::SlowDown
                    } else if code == ReferenceId::DENY || code.0 == *b"RSTR" {
                        Outcome::GoAway
                    } else {
                        Outcome::Bad
                    };
                }
                // A forged or stray datagram: counted, and the real answer still awaited.
                Err(reason) => self.emit(SourceEvent::Bad(reason)),
            }
        }
    }

    fn judge(
        &mut self,
        answer: &[u8],
        sent: &SentRequest,
        received_at: Nanos,
        unique_id: &[u8; 32],
        nts: bool,
    ) -> Result<SourceEvent, BadAnswer> {
        let measurement = read_answer(answer, sent, received_at, MAX_DELAY_NS);
        if !nts {
            return measurement.map(SourceEvent::Answer);
        }
        // A kiss-o'-death is unauthenticated by design (RFC 8915 §5.7); only its code is used.
        if let Err(BadAnswer::KissOfDeath(code)) = measurement {
            return Err(BadAnswer::KissOfDeath(code));
        }
        let session = self.session.as_mut().ok_or(BadAnswer::BadAuthentication)?;
        let view = client_read_response(answer, &session.ke.s2c).ok_or(BadAnswer::BadAuthentication)?;
        if view.unique_id != unique_id {
            return Err(BadAnswer::BadAuthentication);
        }
        let measurement = measurement?;
        for cookie in view.cookies {
            if session.ke.cookies.len() < COOKIES_WANTED {
                session.ke.cookies.push(cookie);
            }
        }
        Ok(SourceEvent::Answer(measurement))
    }
}

fn poll_interval(log2: i8) -> Duration {
    Duration::from_secs_f64(2f64.powi(i32::from(log2)))
}

fn connected_socket(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv6() { "[::]:0".parse() } else { "0.0.0.0:0".parse() }
        .map_err(|_| io::Error::other("bad local address"))?;
    let socket = UdpSocket::bind(local)?;
    socket.connect(target)?;
    Ok(socket)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` with `default_port`, resolved to its first address.
pub fn resolve(address: &str, default_port: u16) -> io::Result<SocketAddr> {
    let with_port = if address.parse::<SocketAddr>().is_ok() {
        address.to_owned()
    } else if address.starts_with('[') || address.matches(':').count() > 1 {
        let bare = address.trim_start_matches('[').trim_end_matches(']');
        format!("[{bare}]:{default_port}")
    } else if address.contains(':') {
        address.to_owned()
    } else {
        format!("{address}:{default_port}")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{address}: no address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_and_without_ports() {
        assert_eq!(resolve("127.0.0.1", 123).unwrap(), "127.0.0.1:123".parse().unwrap());
        assert_eq!(resolve("127.0.0.1:4461", 123).unwrap(), "127.0.0.1:4461".parse().unwrap());
        assert_eq!(resolve("[::1]", 4460).unwrap(), "[::1]:4460".parse().unwrap());
        assert_eq!(resolve("::1", 4460).unwrap(), "[::1]:4460".parse().unwrap());
        assert_eq!(resolve("[::1]:99", 4460).unwrap(), "[::1]:99".parse().unwrap());
    }

    #[test]
    fn intervals_are_powers_of_two() {
        assert_eq!(poll_interval(0), Duration::from_secs(1));
        assert_eq!(poll_interval(4), Duration::from_secs(16));
        assert_eq!(poll_interval(-1), Duration::from_millis(500));
    }
}
