//! The UDP shell: per listen address, `workers` threads, each with its own `SO_REUSEPORT`
//! socket, so the kernel spreads clients over them and no lock sits between receive and send.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::udp_sys::{self, RecvBatch, SendBatch};
use crate::host_clock;
use crate::state::SharedServedClock;
use stratum1_core::ntp::{DropReason, RequestContext, Server, Verdict};
use stratum1_core::ntp::{LocalCounts, ServerCounters};
use stratum1_core::time::NtpTimestamp;

/// How often an idle worker wakes to check for shutdown.
const IDLE_WAKE: Duration = Duration::from_millis(200);
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;

/// Everything a worker shares with the rest of the daemon.
#[derive(Clone)]
pub struct Shared {
    pub server: Arc<Server>,
    pub clock: Arc<SharedServedClock>,
    pub counters: Arc<ServerCounters>,
    pub stop: Arc<AtomicBool>,
    /// Pause after a partial batch under load, so the next one is fuller (see `should_coalesce`).
    pub coalesce: Duration,
}

pub struct UdpService {
    /// The addresses actually bound (ephemeral ports resolved).
    pub local_addrs: Vec<SocketAddr>,
    workers: Vec<JoinHandle<()>>,
}

impl UdpService {
    /// Binds every listen address with `workers` sockets each and starts one thread per socket.
    pub fn start(listen: &[SocketAddr], workers: usize, shared: Shared) -> io::Result<UdpService> {
        let epoch = Instant::now();
        let mut local_addrs = Vec::new();
        let mut threads = Vec::new();
        for addr in listen {
            refuse_if_taken(*addr)?;
            let first = bind(*addr)?;
            // Port 0 means "pick one": the other workers must share the port the first got.
            let bound = first
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
            let mut sockets = vec![first];
            for _ in 1..workers.max(1) {
                sockets.push(bind(bound)?);
            }
            for (i, socket) in sockets.into_iter().enumerate() {
                let shared = shared.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("ntp-{}-{i}", bound.port()))
                    .spawn(move || serve(socket, shared, epoch))?;
                threads.push(handle);
            }
            local_addrs.push(bound);
        }
        Ok(UdpService { local_addrs, workers: threads })
    }

    /// Waits for the workers after the stop flag was set (they notice within [`IDLE_WAKE`]).
    pub fn join(self) {
        for w in self.workers {
            if w.join().is_err() {
                tracing::error!("an NTP worker thread panicked");
            }
        }
    }
}

/// Workers share a port through `SO_REUSEPORT`, and so would a second daemon started on the
/// same address: the kernel would silently split the clients between them. So before our own
/// sockets join, a plain socket (no `SO_REUSEPORT`) tries the address: if anything holds it,
/// another NTP server does, and the daemon refuses to start, naming the address.
fn refuse_if_taken(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(()); // a fresh port: nobody can hold it
    }
    let probe = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        probe.set_only_v6(true)?;
    }
    match probe.bind(&addr.into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "udp {addr} is already served by another process (another stratum1d, chronyd, ntpd?): \
                 `ss -ulpn 'sport = :{}'` names it; stop it or choose another [ntp] listen address",
                addr.port()
            ),
        )),
        // Anything else (no such address, no permission) the real bind reports just after.
        _ => Ok(()),
    }
}

fn bind(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Separate IPv4 and IPv6 listen entries must not collide through a dual-stack socket.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_read_timeout(Some(IDLE_WAKE))?;
    if let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES) {
        tracing::debug!("could not enlarge the receive buffer: {e}");
    }
    udp_sys::enable_receive_timestamps(socket.as_raw_fd())?;
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind udp {addr}: {e}")))?;
    Ok(socket)
}

fn serve(socket: Socket, shared: Shared, epoch: Instant) {
    let fd = socket.as_raw_fd();
    let ipv4 = socket.local_addr().ok().and_then(|a| a.as_socket()).is_some_and(|a| a.is_ipv4());
    let atomic_ipv4 = ipv4
        && udp_sys::send_atomic_ipv4(fd)
            .inspect_err(|e| tracing::debug!("answers stay fragmentable (IP_MTU_DISCOVER: {e})"))
            .is_ok();
    let mut received = RecvBatch::new();
    let mut replies = SendBatch::for_socket(atomic_ipv4);
    let mut counts = LocalCounts::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match received.receive(fd) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
            Err(e) => {
                tracing::warn!("udp receive failed: {e}");
                std::thread::sleep(IDLE_WAKE);
                continue;
            }
        };
        let clock = shared.clock.get();
        let batch_time = host_clock::now();
        let monotonic_ms = epoch.elapsed().as_millis() as u32;
        let mut senders = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); udp_sys::BATCH];
        let known =
            (0..n).filter_map(|i| received.peer(i)).zip(&mut senders).map(|(p, s)| *s = p.ip()).count();
        shared.server.warm(&senders[..known]);
        for i in 0..n {
            let Some(datagram) = received.get(i) else { break };
            let peer = match datagram.peer {
                Some(_) if datagram.truncated => {
                    counts.record(&Verdict::dropped(DropReason::Oversized, None));
                    continue;
                }
                Some(peer) => peer,
                None => {
                    counts.record(&Verdict::dropped(DropReason::Malformed, None));
                    continue;
                }
            };
            let received_at =
                datagram.kernel_time.map_or(batch_time, |(s, ns)| NtpTimestamp::from_unix(s, ns));
            let ctx = RequestContext { client: peer.ip(), received_at, monotonic_ms };
            let Some(out) = replies.next_buffer() else { break };
            let verdict = shared.server.decide(datagram.data, ctx, &clock, host_clock::now, out);
            counts.record(&verdict);
            if let Some(len) = verdict.response_len() {
                replies.queue_reply(len, &received, i);
            }
        }
        // Counted before the answers leave, so a client that has its answer also finds it in
        // the counters; send errors join the next flush.
        shared.counters.flush(&mut counts);
        counts.send_errors += replies.send(fd) as u64;
        if should_coalesce(n, shared.coalesce) {
            std::thread::sleep(shared.coalesce);
        }
    }
    shared.counters.flush(&mut counts);
}

/// Whether to pause before the next receive. A wake-up costs about as much as serving several
/// requests, so under load it pays to let requests gather. It costs clients no accuracy: a
/// waiting request already has its kernel receive timestamp (T2), so the wait falls inside
/// T3 - T2, which the client subtracts. One datagram means no load: answer the next at once.
/// A full batch means more is queued: go straight back for it.
pub(super) fn should_coalesce(received: usize, pause: Duration) -> bool {
    !pause.is_zero() && (2..udp_sys::BATCH).contains(&received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesces_only_partial_batches_under_load() {
        let pause = Duration::from_micros(200);
        assert!(!should_coalesce(1, pause), "a lone request is no load");
        assert!(should_coalesce(2, pause));
        assert!(should_coalesce(udp_sys::BATCH - 1, pause));
        assert!(!should_coalesce(udp_sys::BATCH, pause), "a full batch: more is waiting");
        assert!(!should_coalesce(10, Duration::ZERO), "turned off");
    }
}
