//! The hostile-network benchmark: honest NTS key exchanges and NTP requests while attackers
//! hold or churn NTS-KE connections, against stratum1d and chrony as shipped, in the same run.
//!
//! Each row starts a fresh server pinned to one CPU, opens the flood from the other CPU (at a
//! lower priority than the honest clients, so the honest side measures the server and not the
//! attacker's scheduling), waits for it to build up and a second more, then for `seconds` runs honest key
//! exchanges four times a second and NTP requests 128 times a second from 32 addresses. Every
//! attacking connection is reopened as soon as the server closes it. Loopback only; every
//! thread and socket ends with the row.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use stratum1::nts::client::{tls_config, KeConnection};
use stratum1_core::nts::AeadAlgorithm;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::peers::{Kind, Nts, Peer};
use crate::procfs;

/// What the attacking connections do once connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flood {
    /// Send nothing.
    Idle,
    /// Send a real TLS ClientHello one byte at a time, every [`TRICKLE_EVERY`].
    Trickle,
    /// Finish the TLS handshake, then send nothing.
    Handshake,
}

/// Where the attacking connections come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// One address.
    One,
    /// The 254 addresses of one /24.
    Slash24,
    /// A different address for every connection.
    Many,
}

impl Flood {
    pub fn parse(s: &str) -> Result<Flood, String> {
        match s {
            "idle" => Ok(Flood::Idle),
            "trickle" => Ok(Flood::Trickle),
            "handshake" => Ok(Flood::Handshake),
            other => Err(format!("unknown flood {other} (idle, trickle, handshake)")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Flood::Idle => "idle",
            Flood::Trickle => "trickle",
            Flood::Handshake => "handshake",
        }
    }
}

impl Mix {
    pub fn parse(s: &str) -> Result<Mix, String> {
        match s {
            "one" => Ok(Mix::One),
            "24" | "/24" => Ok(Mix::Slash24),
            "many" => Ok(Mix::Many),
            other => Err(format!("unknown source mix {other} (one, 24, many)")),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Mix::One => "one address",
            Mix::Slash24 => "one /24",
            Mix::Many => "many addresses",
        }
    }
    /// The source address of attacking connection `i`; never in 127.0.0.0/24, where the
    /// honest clients are.
    fn source(self, i: usize) -> Ipv4Addr {
        match self {
            Mix::One => Ipv4Addr::new(127, 1, 0, 1),
            Mix::Slash24 => Ipv4Addr::new(127, 1, 1, (i % 254 + 1) as u8),
            Mix::Many => Ipv4Addr::new(127, 2, (i / 254 % 256) as u8, (i % 254 + 1) as u8),
        }
    }
}

pub struct Options {
    pub floods: Vec<Flood>,
    pub counts: Vec<usize>,
    pub mixes: Vec<Mix>,
    pub servers: Vec<Kind>,
    pub seconds: u64,
    pub stratum1d: PathBuf,
    pub server_cpu: usize,
}

const TRICKLE_EVERY: Duration = Duration::from_millis(500);
const HONEST_EVERY: Duration = Duration::from_millis(250);
/// An honest exchange counts only when it is done within this.
const HONEST_WITHIN: Duration = Duration::from_secs(1);
const NTP_SOURCES: usize = 32;
const NTP_EVERY: Duration = Duration::from_micros(7_812);
/// How long the flood may take to build up before the honest clients start.
const RAMP_LIMIT: Duration = Duration::from_secs(5);
/// Then how long it runs before they start.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Outcome {
    /// One per honest exchange: its time when it handed out cookies, else why not.
    honest: Vec<Result<Duration, String>>,
    ntp_sent: u64,
    ntp_answered: u64,
    peak_rss_kib: u64,
    attacker_connects: u64,
    attacker_open_at_start: u64,
}

impl Outcome {
    fn within(&self) -> usize {
        self.honest.iter().filter(|t| t.as_ref().is_ok_and(|t| *t <= HONEST_WITHIN)).count()
    }
    fn share_within(&self) -> f64 {
        self.within() as f64 / self.honest.len().max(1) as f64
    }
    fn median_ms(&self) -> Option<f64> {
        let mut done: Vec<f64> = self.honest.iter().flatten().map(|t| t.as_secs_f64() * 1e3).collect();
        done.sort_by(f64::total_cmp);
        (!done.is_empty()).then(|| done[done.len() / 2])
    }
    /// The most common reason an honest exchange failed, and how often.
    fn failures(&self) -> String {
        let mut reasons: Vec<(&str, usize)> = Vec::new();
        for e in self.honest.iter().filter_map(|r| r.as_ref().err()) {
            match reasons.iter_mut().find(|(r, _)| r == e) {
                Some((_, n)) => *n += 1,
                None => reasons.push((e, 1)),
            }
        }
        reasons.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        reasons.first().map_or(String::new(), |(r, n)| format!("; {n} failed: {r}"))
    }
    fn ntp_share(&self) -> f64 {
        self.ntp_answered as f64 / self.ntp_sent.max(1) as f64
    }
}

pub fn run(options: &Options) {
    raise_descriptor_limit();
    println!(
        "hostile networks: honest NTS-KE every {} ms and NTP at {}/s for {} s per row, under each flood; \
         servers as shipped, pinned to CPU {}; attackers at nice 10",
        HONEST_EVERY.as_millis(),
        1_000_000 / NTP_EVERY.as_micros(),
        options.seconds,
        options.server_cpu
    );
    let mut table = Vec::new();
    for &flood in &options.floods {
        for &count in &options.counts {
            for &mix in &options.mixes {
                let mut row = Vec::new();
                for &kind in &options.servers {
                    match run_row(kind, flood, count, mix, options) {
                        Ok(o) => {
                            println!(
                                "{:<9} {:>6} from {:<14} {:<13} honest {:>2}/{} within 1 s, median {}; NTP {}/{}; peak RSS {:.1} MiB; attacker {} connects, {} open at start{}",
                                flood.name(),
                                count,
                                mix.name(),
                                kind.name(),
                                o.within(),
                                o.honest.len(),
                                o.median_ms().map_or("-".to_owned(), |m| format!("{m:.1} ms")),
                                o.ntp_answered,
                                o.ntp_sent,
                                o.peak_rss_kib as f64 / 1024.0,
                                o.attacker_connects,
                                o.attacker_open_at_start,
                                o.failures()
                            );
                            row.push((kind, Some(o)));
                        }
                        Err(e) => {
                            println!("{} {count} {} {}: failed: {e}", flood.name(), mix.name(), kind.name());
                            row.push((kind, None));
                        }
                    }
                }
                table.push(((flood, count, mix), row));
            }
        }
    }
    report(&table, &options.servers);
}

fn run_row(kind: Kind, flood: Flood, count: usize, mix: Mix, options: &Options) -> Result<Outcome, String> {
    let peer = Peer::start(kind, &options.stratum1d, options.server_cpu, Nts::Defaults)?;
    let (ke, ca) = peer.nts.clone().ok_or("no NTS-KE address")?;
    crate::establish(ke, &ca)?;
    let tls = tls_config(&ca).map_err(|e| e.to_string())?;

    let attack = Attack::start(flood, count, mix, ke, tls.clone()).map_err(|e| e.to_string())?;
    let ramp = Instant::now();
    while attack.stats.open.load(Ordering::Relaxed) < (count as u64 * 9 / 10).max(1)
        && ramp.elapsed() < RAMP_LIMIT
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Measure the flood as it stands, not the moment it began (when every connection is
    // young, a server that lets young exchanges finish refuses newcomers).
    std::thread::sleep(SETTLE);
    let attacker_open_at_start = attack.stats.open.load(Ordering::Relaxed);

    let window = Duration::from_secs(options.seconds);
    let ntp_addr = peer.addr;
    let ntp = std::thread::spawn(move || probe_ntp(ntp_addr, window));
    let honest = honest_exchanges(ke, tls, window);
    let (ntp_sent, ntp_answered) =
        ntp.join().map_err(|_| "the NTP prober panicked")?.map_err(|e| e.to_string())?;
    let peak_rss_kib = procfs::peak_rss_tree_kib(peer.pid());
    let attacker_connects = attack.stop();
    drop(peer);
    Ok(Outcome { honest, ntp_sent, ntp_answered, peak_rss_kib, attacker_connects, attacker_open_at_start })
}

/// Honest key exchanges started every [`HONEST_EVERY`] for `window`, each on a thread of its
/// own so that one that hangs does not delay the next.
fn honest_exchanges(
    ke: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    window: Duration,
) -> Vec<Result<Duration, String>> {
    let start = Instant::now();
    let mut threads = Vec::new();
    let mut next = start;
    while next < start + window {
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let tls = tls.clone();
        threads.push(std::thread::spawn(move || {
            let began = Instant::now();
            KeConnection::connect(tls, ke, "localhost", Duration::from_secs(3))
                .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]))
                .map_err(|e| e.to_string())
                .and_then(|s| {
                    if s.cookies.is_empty() {
                        Err("no cookies".to_owned())
                    } else {
                        Ok(began.elapsed())
                    }
                })
        }));
        next += HONEST_EVERY;
    }
    threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("the client panicked".to_owned()))).collect()
}

/// Plain NTP requests from [`NTP_SOURCES`] addresses in turn for `window`; an answer counts when
/// it comes within a second. Returns (sent, answered).
fn probe_ntp(server: SocketAddr, window: Duration) -> io::Result<(u64, u64)> {
    let sockets: Vec<UdpSocket> = (0..NTP_SOURCES)
        .map(|i| {
            let s = UdpSocket::bind((Ipv4Addr::new(127, 3, 0, i as u8 + 1), 0))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<io::Result<_>>()?;
    let mut sent_at: Vec<Instant> = Vec::new();
    let mut answered = 0u64;
    let mut buf = [0u8; 512];
    let start = Instant::now();
    let mut next = start;
    let mut drain = |sent_at: &[Instant], answered: &mut u64| {
        for s in &sockets {
            while let Ok(n) = s.recv(&mut buf) {
                if n < 48 || buf[0] & 7 != 4 {
                    continue;
                }
                let seq = u64::from_be_bytes(buf[24..32].try_into().unwrap_or_default()) as usize;
                if sent_at.get(seq).is_some_and(|t| t.elapsed() <= Duration::from_secs(1)) {
                    *answered += 1;
                }
            }
        }
    };
    while start.elapsed() < window {
        let seq = sent_at.len();
        let mut request = [0u8; 48];
        request[0] = (4 << 3) | 3;
        request[40..48].copy_from_slice(&(seq as u64).to_be_bytes());
        sent_at.push(Instant::now());
        let _ = sockets[seq % NTP_SOURCES].send_to(&request, server);
        next += NTP_EVERY;
        while Instant::now() < next {
            drain(&sent_at, &mut answered);
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        drain(&sent_at, &mut answered);
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok((sent_at.len() as u64, answered))
}

#[derive(Default)]
struct AttackStats {
    connects: AtomicU64,
    /// Connected and not yet closed by the server, as the attacker sees it.
    open: AtomicU64,
}

struct Attack {
    stats: Arc<AttackStats>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Attack {
    fn start(
        flood: Flood,
        count: usize,
        mix: Mix,
        server: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
    ) -> io::Result<Attack> {
        if !server.ip().is_loopback() {
            return Err(io::Error::other("the attacker only targets loopback"));
        }
        let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
        let hello = Arc::new(client_hello(tls.clone(), name.clone())?);
        let stats = Arc::new(AttackStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (stats.clone(), stop.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let thread = std::thread::Builder::new().name("attacker".into()).spawn(move || {
            // At nice 10, so the honest clients on the same CPU are not starved by it.
            stratum1::thread_priority::lower_this_thread(10, "attacker");
            runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..count {
                    let task = Attacker {
                        source: IpAddr::V4(mix.source(i)),
                        server,
                        flood,
                        tls: tokio_rustls::TlsConnector::from(tls.clone()),
                        name: name.clone(),
                        hello: hello.clone(),
                        stats: s.clone(),
                        stop: st.clone(),
                    };
                    tasks.spawn(task.run());
                }
                while tasks.join_next().await.is_some() {}
            });
        })?;
        Ok(Attack { stats, stop, thread })
    }

    /// Ends every attacking connection; returns how many connections were made.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.stats.connects.load(Ordering::Relaxed)
    }
}

struct Attacker {
    source: IpAddr,
    server: SocketAddr,
    flood: Flood,
    tls: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    hello: Arc<Vec<u8>>,
    stats: Arc<AttackStats>,
    stop: Arc<AtomicBool>,
}

impl Attacker {
    async fn run(self) {
        while !self.stopped() {
            let stream =
                match tokio::time::timeout(Duration::from_secs(3), connect_from(self.source, self.server))
                    .await
                {
                    Ok(Ok(s)) => s,
                    _ => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
            self.stats.connects.fetch_add(1, Ordering::Relaxed);
            self.stats.open.fetch_add(1, Ordering::Relaxed);
            match self.flood {
                Flood::Idle => self.hold(stream).await,
                Flood::Trickle => self.trickle(stream).await,
                Flood::Handshake => {
                    let handshake = tokio::time::timeout(
                        Duration::from_secs(5),
                        self.tls.connect(self.name.clone(), stream),
                    );
                    if let Ok(Ok(tls)) = handshake.await {
                        self.hold(tls).await;
                    }
                }
            }
            self.stats.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Until the server closes the connection (or the row ends).
    async fn hold(&self, mut stream: impl AsyncReadExt + Unpin) {
        let mut buf = [0u8; 256];
        while !self.stopped() {
            match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                _ => {}
            }
        }
    }

    async fn trickle(&self, mut stream: TcpStream) {
        let mut buf = [0u8; 256];
        let mut sent = 0;
        while !self.stopped() {
            match tokio::time::timeout(TRICKLE_EVERY, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) => {
                    if let Some(byte) = self.hello.get(sent) {
                        if stream.write_all(&[*byte]).await.is_err() {
                            return;
                        }
                        sent += 1;
                    }
                }
            }
        }
    }
}

/// A TCP connection from `source` (any port: the kernel picks one per destination, so one
/// address can hold tens of thousands).
async fn connect_from(source: IpAddr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    set_bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

fn set_bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: a valid descriptor and a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The bytes of a real ClientHello for the trickling connections.
fn client_hello(tls: Arc<rustls::ClientConfig>, name: ServerName<'static>) -> io::Result<Vec<u8>> {
    let mut client = rustls::ClientConnection::new(tls, name).map_err(io::Error::other)?;
    let mut bytes = Vec::new();
    client.write_tls(&mut bytes)?;
    Ok(bytes)
}

/// Ten thousand connections need more descriptors than the usual soft limit of 1,024.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

type Row = ((Flood, usize, Mix), Vec<(Kind, Option<Outcome>)>);

fn report(table: &[Row], servers: &[Kind]) {
    println!();
    let names: Vec<&str> = servers.iter().map(|k| k.name()).collect();
    let head = |what: &str| names.iter().map(|n| format!(" {n} {what} |")).collect::<String>();
    println!(
        "| flood | connections | from |{}{}{}",
        head("honest ≤ 1 s (median)"),
        head("NTP answered"),
        head("peak RSS")
    );
    println!("|---|---|---|{}", "---|".repeat(names.len() * 3));
    for ((flood, count, mix), row) in table {
        let cell = |f: &dyn Fn(&Outcome) -> String| {
            row.iter()
                .map(|(_, o)| format!(" {} |", o.as_ref().map_or("failed".to_owned(), f)))
                .collect::<String>()
        };
        println!(
            "| {} | {} | {} |{}{}{}",
            flood.name(),
            count,
            mix.name(),
            cell(&|o| format!(
                "{:.0} % ({})",
                o.share_within() * 100.0,
                o.median_ms().map_or("-".to_owned(), |m| format!("{m:.1} ms"))
            )),
            cell(&|o| format!("{:.2} %", o.ntp_share() * 100.0)),
            cell(&|o| format!("{:.1} MiB", o.peak_rss_kib as f64 / 1024.0)),
        );
    }
}
