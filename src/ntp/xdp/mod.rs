//! The AF_XDP fast path (optional, `[ntp] xdp-interface`): an XDP program on the interface
//! hands NTP datagrams to user space before the kernel's IP and UDP layers see them, and the
//! answers go back through the same socket. The kernel's UDP sockets stay open beside it:
//! whatever the program passes on (other ports, VLAN tags, IPv4 options, fragments, queues
//! without a socket) is still answered by the ordinary workers.
//!
//! The decision is the same [`Server::decide`](stratum1_core::ntp::Server::decide) as on the UDP
//! path; only the frame handling differs. The receive timestamp is taken by the XDP program
//! (CLOCK_MONOTONIC, converted to the real-time clock per batch), since generic XDP gives no
//! kernel timestamp.

mod bpf_sys;
pub mod frame;
mod program;
mod xsk;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use super::udp::{should_coalesce, Shared};
use super::udp_sys::{BATCH, DATAGRAM_MAX};
use crate::host_clock;
use stratum1_core::ntp::LocalCounts;
use stratum1_core::ntp::{DropReason, RequestContext, Verdict};
use stratum1_core::time::NtpTimestamp;
use xsk::{Frame, XdpSocket};

const IDLE_WAKE_MS: i32 = 200;

pub struct XdpService {
    pub interface: String,
    pub queues: u32,
    workers: Vec<JoinHandle<()>>,
    // Dropping the link detaches the program; it must outlive the workers.
    _link: OwnedFd,
    _map: OwnedFd,
}

impl XdpService {
    /// Attaches the program to `interface` for UDP port `port` and starts one worker per
    /// receive queue.
    pub fn start(interface: &str, port: u16, shared: Shared) -> io::Result<XdpService> {
        let context = |what: &str, e: io::Error| {
            io::Error::new(e.kind(), format!("af_xdp on {interface}: {what}: {e}"))
        };
        let name = CString::new(interface).map_err(|_| io::Error::other("interface name contains NUL"))?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(context("no such interface", io::Error::last_os_error()));
        }
        let queues = receive_queues(interface);
        let map = bpf_sys::create_xsk_map(queues).map_err(|e| context("creating the socket map", e))?;
        let code = program::ntp_redirect(port, map.as_raw_fd());
        let prog = bpf_sys::load_xdp_program(&code).map_err(|e| context("loading the program", e))?;
        let mut sockets = Vec::new();
        for queue in 0..queues {
            let socket = XdpSocket::bind(ifindex, queue)
                .map_err(|e| context(&format!("socket on queue {queue}"), e))?;
            bpf_sys::update_map(map.as_raw_fd(), queue, socket.raw_fd() as u32)
                .map_err(|e| context("registering the socket", e))?;
            sockets.push(socket);
        }
        // Attached last, so no datagram is redirected to a queue that has no socket yet. The
        // kernel runs it natively where the driver supports XDP, generically elsewhere.
        let link = bpf_sys::attach_xdp(prog.as_raw_fd(), ifindex, 0)
            .map_err(|e| context("attaching the program", e))?;
        let epoch = Instant::now();
        let mut workers = Vec::new();
        for (queue, socket) in sockets.into_iter().enumerate() {
            let shared = shared.clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("xdp-{interface}-{queue}"))
                    .spawn(move || serve(socket, shared, epoch))?,
            );
        }
        Ok(XdpService { interface: interface.to_owned(), queues, workers, _link: link, _map: map })
    }

    /// Waits for the workers after the stop flag was set; then the program is detached.
    pub fn join(self) {
        for w in self.workers {
            if w.join().is_err() {
                tracing::error!("an AF_XDP worker thread panicked");
            }
        }
    }
}

/// The interface's receive queues, from sysfs; 1 when it cannot be read.
fn receive_queues(interface: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{interface}/queues"))
        .map(|dir| {
            dir.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count()
        })
        .map_or(1, |n| n.max(1) as u32)
}

/// Converts the XDP program's CLOCK_MONOTONIC stamps to the real-time clock. The two clocks
/// run at the same (disciplined) rate and differ only by steps, so one pair of readings per
/// batch converts every stamp in it.
struct StampClock {
    realtime_minus_monotonic_ns: i64,
}

#[allow(clippy::unnecessary_cast)] // i64 here, i32 on armhf
fn clock_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: one live timespec; reading a clock changes nothing.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    // The fields are 32 bits on armhf.
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

impl StampClock {
    fn now() -> StampClock {
        let monotonic = clock_ns(libc::CLOCK_MONOTONIC);
        let realtime = clock_ns(libc::CLOCK_REALTIME);
        StampClock { realtime_minus_monotonic_ns: realtime - monotonic }
    }

    fn to_ntp(&self, monotonic_ns: u64) -> NtpTimestamp {
        let unix_ns = monotonic_ns as i64 + self.realtime_minus_monotonic_ns;
        NtpTimestamp::from_unix(unix_ns.div_euclid(1_000_000_000), unix_ns.rem_euclid(1_000_000_000) as u32)
    }
}

fn serve(mut socket: XdpSocket, shared: Shared, epoch: Instant) {
    let mut frames = Vec::with_capacity(BATCH);
    let mut answers = Vec::with_capacity(BATCH);
    let mut unanswered = Vec::with_capacity(BATCH);
    let mut response = vec![0u8; DATAGRAM_MAX];
    let mut counts = LocalCounts::default();
    let mut warned_unstamped = false;
    while !shared.stop.load(Ordering::Relaxed) {
        socket.receive(BATCH, &mut frames);
        if frames.is_empty() {
            socket.reap();
            socket.wait(IDLE_WAKE_MS);
            continue;
        }
        let clock = shared.clock.get();
        let stamps = StampClock::now();
        let monotonic_ms = epoch.elapsed().as_millis() as u32;
        counts.received_af_xdp += frames.len() as u64;
        for &received in &frames {
            let Some(buffer) = socket.frame_mut(received, program::METADATA_LEN) else {
                counts.record(&Verdict::dropped(DropReason::Malformed, None));
                unanswered.push(received.addr);
                continue;
            };
            let (stamp, frame) = buffer.split_at_mut(program::METADATA_LEN);
            let mut raw = [0u8; program::METADATA_LEN];
            raw.copy_from_slice(stamp);
            let monotonic_ns = u64::from_ne_bytes(raw);
            // Zeroed so a frame reused without a stamp is seen as unstamped, not as stale.
            stamp.fill(0);
            let received_at = if monotonic_ns != 0 {
                stamps.to_ntp(monotonic_ns)
            } else {
                if !warned_unstamped {
                    tracing::warn!("af_xdp: a frame came without the program's receive stamp; using the time it was read");
                    warned_unstamped = true;
                }
                host_clock::now()
            };
            match answer(frame, received_at, monotonic_ms, &shared, &clock, &mut response) {
                (verdict, Some(len)) => {
                    counts.record(&verdict);
                    answers.push(Frame { addr: received.addr, len: len as u32 });
                }
                (verdict, None) => {
                    counts.record(&verdict);
                    unanswered.push(received.addr);
                }
            }
        }
        socket.recycle(unanswered.drain(..));
        // As on the UDP path: counted before the answers leave.
        shared.counters.flush(&mut counts);
        counts.send_errors += socket.send(&answers) as u64;
        answers.clear();
        if should_coalesce(frames.len(), shared.coalesce) {
            std::thread::sleep(shared.coalesce);
        }
    }
    shared.counters.flush(&mut counts);
    let (ring_full, no_frames) = socket.drops();
    if ring_full + no_frames > 0 {
        tracing::info!(
            "af_xdp socket dropped {ring_full} datagrams for a full ring and {no_frames} for want of frames"
        );
    }
}

/// Decides on one frame and, for an answer, rewrites the frame into it. Returns the verdict
/// and the answer's frame length.
fn answer(
    frame: &mut [u8],
    received_at: NtpTimestamp,
    monotonic_ms: u32,
    shared: &Shared,
    clock: &stratum1_core::served::ServedClock,
    response: &mut [u8],
) -> (Verdict, Option<usize>) {
    let Ok(datagram) = frame::parse(frame) else {
        return (Verdict::dropped(DropReason::Malformed, None), None);
    };
    let ctx = RequestContext { client: datagram.client.ip(), received_at, monotonic_ms };
    let verdict =
        shared.server.decide(&frame[datagram.payload.clone()], ctx, clock, host_clock::now, response);
    let Some(len) = verdict.response_len().filter(|&len| len <= datagram.payload.len()) else {
        return (verdict, None);
    };
    let start = datagram.payload.start;
    frame[start..start + len].copy_from_slice(&response[..len]);
    match frame::turn_around(frame, &datagram, len) {
        Ok(frame_len) => (verdict, Some(frame_len)),
        Err(_) => (Verdict::dropped(DropReason::Malformed, None), None),
    }
}
