//! The load generator: many UDP sockets on distinct loopback source addresses, requests sent
//! with `sendmmsg` at a fixed rate, answers drained with `recvmmsg` through epoll. Bounded by
//! count and time; it only ever sends to the loopback server it is given.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use stratum1::nts::client::KeSession;
use stratum1_core::nts::ntp_auth::{client_read_response, client_request};

const BATCH: usize = 32;
const HEADER_LEN: usize = 48;
const ANSWER_MAX: usize = 1024;

pub struct LoadSpec {
    pub rate: u64,
    pub warmup: Duration,
    pub measure: Duration,
    pub sources: usize,
    /// Send NTS-authenticated requests in this session (one cookie, reused: servers keep no
    /// per-cookie state) and count only answers that authenticate under S2C.
    pub nts: Option<KeSession>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct LoadResult {
    pub sent: u64,
    pub answered: u64,
    pub kiss_of_death: u64,
    pub invalid: u64,
    /// Requests sent and answers received inside the measurement window.
    pub window_sent: u64,
    pub window_answered: u64,
    /// Server CPU nanoseconds spent inside the window.
    pub window_server_cpu_ns: u64,
    pub window_seconds: f64,
}

/// Runs the load against `server` (which must be a loopback address) and samples the server's
/// CPU with `server_cpu` at the window's edges.
pub fn run(server: SocketAddr, spec: &LoadSpec, server_cpu: impl Fn() -> u64) -> io::Result<LoadResult> {
    if !server.ip().is_loopback() {
        return Err(io::Error::other("the load generator only targets loopback"));
    }
    let sockets = open_sources(server, spec.sources)?;
    let epoll = Epoll::new(&sockets)?;
    let total = spec.rate * (spec.warmup + spec.measure).as_secs_f64() as u64;
    let start = Instant::now();
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.measure;
    let hard_stop = window_end + Duration::from_millis(300);

    let mut r = LoadResult::default();
    let mut cpu_at_start = None;
    let mut sent_at_start = 0;
    let mut answered_at_start = 0;
    let mut next_socket = 0;
    let mut requests: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut answers = vec![[0u8; ANSWER_MAX]; BATCH];
    loop {
        let now = Instant::now();
        if cpu_at_start.is_none() && now >= window_start {
            cpu_at_start = Some((server_cpu(), now));
            sent_at_start = r.sent;
            answered_at_start = r.answered;
        }
        if now >= window_end && r.window_seconds == 0.0 {
            if let Some((cpu0, t0)) = cpu_at_start {
                r.window_server_cpu_ns = server_cpu().saturating_sub(cpu0);
                r.window_seconds = now.duration_since(t0).as_secs_f64();
                r.window_sent = r.sent - sent_at_start;
                r.window_answered = r.answered - answered_at_start;
            }
        }
        if now >= hard_stop {
            break;
        }
        let due = ((now.duration_since(start).as_secs_f64() * spec.rate as f64) as u64).min(total);
        while r.sent < due {
            let n = ((due - r.sent) as usize).min(BATCH);
            for (k, req) in requests.iter_mut().take(n).enumerate() {
                *req = request(r.sent + k as u64 + 1, spec.nts.as_ref());
            }
            let socket = &sockets[next_socket];
            next_socket = (next_socket + 1) % sockets.len();
            let accepted = send_batch(socket, &requests[..n]);
            r.sent += accepted as u64;
            if accepted < n {
                break; // socket buffer full: try again on the next turn
            }
        }
        for index in epoll.ready()? {
            loop {
                let got = recv_batch(&sockets[index], &mut answers);
                for answer in answers.iter().take(got.len()).zip(&got) {
                    classify(&answer.0[..*answer.1], r.sent, spec.nts.as_ref(), &mut r);
                }
                if got.len() < BATCH {
                    break;
                }
            }
        }
    }
    Ok(r)
}

fn classify(answer: &[u8], sent: u64, nts: Option<&KeSession>, r: &mut LoadResult) {
    let Some(header) = answer.get(..HEADER_LEN) else {
        r.invalid += 1;
        return;
    };
    let origin = u64::from_be_bytes(header[24..32].try_into().unwrap_or_default());
    let seq = origin & !SEQUENCE_TAG;
    if header[0] & 7 != 4 || origin & SEQUENCE_TAG == 0 || seq == 0 || seq > sent {
        r.invalid += 1;
    } else if header[1] == 0 {
        r.kiss_of_death += 1;
    } else if nts.is_some_and(|session| client_read_response(answer, &session.s2c).is_none()) {
        r.invalid += 1;
    } else {
        r.answered += 1;
    }
}

/// Marks transmit timestamps as ours (and never zero).
const SEQUENCE_TAG: u64 = 0xe000_0000_0000_0000;

fn request(seq: u64, nts: Option<&KeSession>) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    header[0] = (4 << 3) | 3;
    header[40..48].copy_from_slice(&(SEQUENCE_TAG | seq).to_be_bytes());
    let Some(session) = nts else { return header.to_vec() };
    // Unique identifier and nonce from the sequence number: distinct for every request.
    let mut unique_id = [0x5au8; 32];
    unique_id[..8].copy_from_slice(&seq.to_be_bytes());
    let mut nonce = vec![0xa5u8; session.algorithm.nonce_len()];
    nonce[..8].copy_from_slice(&seq.to_be_bytes());
    client_request(&header, &unique_id, &session.cookies[0], 0, &session.c2s, &nonce)
}

/// Sockets bound to 127.77.x.y, one source address each, connected to the server.
fn open_sources(server: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    (0..count)
        .map(|i| {
            let ip = Ipv4Addr::new(127, 77, (i / 250) as u8, (i % 250) as u8 + 1);
            let s = UdpSocket::bind((ip, 0))?;
            s.connect(server)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect()
}

/// One message header per iovec, each pointing at its iovec (and no address: the sockets are
/// connected).
fn headers_for(iovecs: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: all-zero is a valid mmsghdr; we then point it at one iovec.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect()
}

fn send_batch(socket: &UdpSocket, requests: &[Vec<u8>]) -> usize {
    let mut iovecs: Vec<libc::iovec> = requests
        .iter()
        .map(|r| libc::iovec { iov_base: r.as_ptr() as *mut libc::c_void, iov_len: r.len() })
        .collect();
    let mut headers = headers_for(&mut iovecs);
    // SAFETY: the headers point at iovecs and request buffers that live across the call.
    let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), headers.len() as u32, 0) };
    n.max(0) as usize
}

fn recv_batch(socket: &UdpSocket, answers: &mut [[u8; ANSWER_MAX]]) -> Vec<usize> {
    let mut iovecs: Vec<libc::iovec> = answers
        .iter_mut()
        .map(|a| libc::iovec { iov_base: a.as_mut_ptr().cast(), iov_len: a.len() })
        .collect();
    let mut headers = headers_for(&mut iovecs);
    // SAFETY: the headers point at iovecs and answer buffers that live across the call.
    let n = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as u32,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    headers.iter().take(n.max(0) as usize).map(|h| h.msg_len as usize).collect()
}

struct Epoll {
    fd: libc::c_int,
}

impl Epoll {
    fn new(sockets: &[UdpSocket]) -> io::Result<Epoll> {
        // SAFETY: plain system calls on descriptors we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let epoll = Epoll { fd };
        for (i, s) in sockets.iter().enumerate() {
            let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
            // SAFETY: a valid epoll fd, socket fd and event.
            if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut event) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(epoll)
    }

    /// Indexes of sockets with answers waiting; waits at most 1 ms.
    fn ready(&self) -> io::Result<Vec<usize>> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: the buffer holds 64 events.
        let n = unsafe { libc::epoll_wait(self.fd, events.as_mut_ptr(), 64, 1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(Vec::new()) } else { Err(e) };
        }
        Ok(events[..n as usize].iter().map(|e| e.u64 as usize).collect())
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing the epoll fd we created.
        unsafe { libc::close(self.fd) };
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET stays within it for cpu < 1024.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
