//! The one FFI surface of the UDP shell: `recvmmsg`/`sendmmsg` with kernel receive timestamps
//! (`SO_TIMESTAMPNS`). Everything `unsafe` for sockets lives here; callers see safe batches.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams moved per system call.
pub const BATCH: usize = 32;
/// Largest datagram read; longer ones are flagged truncated and dropped. NTS requests with a
/// few cookies are well below this.
pub const DATAGRAM_MAX: usize = 2048;
/// Room for one `SCM_TIMESTAMPNS` control message (CMSG_SPACE(16) = 32 on 64-bit Linux).
const CONTROL_WORDS: usize = 8;

/// One datagram from a [`RecvBatch`].
pub struct Received<'a> {
    pub data: &'a [u8],
    pub peer: Option<SocketAddr>,
    /// Kernel receive time as Unix (seconds, nanoseconds), when the kernel gave one.
    pub kernel_time: Option<(i64, u32)>,
    pub truncated: bool,
}

/// Buffers for receiving up to [`BATCH`] datagrams in one `recvmmsg`.
pub struct RecvBatch {
    buffers: Box<[[u8; DATAGRAM_MAX]]>,
    addresses: Box<[libc::sockaddr_storage]>,
    controls: Box<[[u64; CONTROL_WORDS]]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    filled: usize,
}

impl RecvBatch {
    pub fn new() -> Self {
        RecvBatch {
            buffers: vec![[0u8; DATAGRAM_MAX]; BATCH].into_boxed_slice(),
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all-zero
            // bytes are a valid value (null pointers, zero lengths).
            addresses: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            controls: vec![[0u64; CONTROL_WORDS]; BATCH].into_boxed_slice(),
            iovecs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            headers: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            filled: 0,
        }
    }

    /// Blocks until at least one datagram arrives (or the socket's receive timeout passes) and
    /// takes as many as are queued, up to [`BATCH`]. Returns how many were received.
    pub fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        self.filled = 0;
        for i in 0..BATCH {
            self.iovecs[i] =
                libc::iovec { iov_base: self.buffers[i].as_mut_ptr().cast(), iov_len: DATAGRAM_MAX };
            let h = &mut self.headers[i].msg_hdr;
            h.msg_name = (&mut self.addresses[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = self.controls[i].as_mut_ptr().cast();
            h.msg_controllen = std::mem::size_of::<[u64; CONTROL_WORDS]>() as _;
            h.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by `self` that outlive the call, with
        // the lengths given; the kernel writes at most those lengths.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.filled = n as usize;
        Ok(self.filled)
    }

    pub fn get(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.filled {
            return None;
        }
        let header = &self.headers[i];
        let len = (header.msg_len as usize).min(DATAGRAM_MAX);
        Some(Received {
            data: &self.buffers[i][..len],
            peer: socket_addr(&self.addresses[i], header.msg_hdr.msg_namelen),
            kernel_time: kernel_timestamp(&header.msg_hdr),
            truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        })
    }

    /// The sender of datagram `i` alone, without the rest of [`Self::get`].
    pub fn peer(&self, i: usize) -> Option<SocketAddr> {
        let header = self.headers.get(i).filter(|_| i < self.filled)?;
        socket_addr(&self.addresses[i], header.msg_hdr.msg_namelen)
    }

    fn address(&self, i: usize) -> (libc::sockaddr_storage, libc::socklen_t) {
        (self.addresses[i], self.headers[i].msg_hdr.msg_namelen)
    }
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

/// Responses gathered during a batch and sent with one `sendmmsg`.
pub struct SendBatch {
    buffers: Box<[[u8; DATAGRAM_MAX]]>,
    lengths: [usize; BATCH],
    addresses: Box<[(libc::sockaddr_storage, libc::socklen_t)]>,
    iovecs: Box<[libc::iovec]>,
    headers: Box<[libc::mmsghdr]>,
    queued: usize,
    /// The socket is IPv4 with [`send_atomic_ipv4`] on: an answer too long for the link is
    /// sent again with fragmentation allowed.
    fragments_on_demand: bool,
}

impl SendBatch {
    /// A batch for a socket on which [`send_atomic_ipv4`] succeeded (`atomic_ipv4`), or not.
    pub fn for_socket(atomic_ipv4: bool) -> Self {
        SendBatch {
            buffers: vec![[0u8; DATAGRAM_MAX]; BATCH].into_boxed_slice(),
            lengths: [0; BATCH],
            // SAFETY: as in RecvBatch::new, all-zero bytes are valid for these C structs.
            addresses: (0..BATCH).map(|_| (unsafe { std::mem::zeroed() }, 0)).collect(),
            iovecs: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            headers: (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect(),
            queued: 0,
            fragments_on_demand: atomic_ipv4,
        }
    }

    /// The buffer the next response is written into, or `None` when the batch is full.
    pub fn next_buffer(&mut self) -> Option<&mut [u8]> {
        self.buffers.get_mut(self.queued).map(|b| &mut b[..])
    }

    /// Queues the `len` bytes just written to [`SendBatch::next_buffer`], addressed to the
    /// sender of datagram `index` of `received`.
    pub fn queue_reply(&mut self, len: usize, received: &RecvBatch, index: usize) {
        if self.queued < BATCH && index < received.filled {
            self.lengths[self.queued] = len.min(DATAGRAM_MAX);
            self.addresses[self.queued] = received.address(index);
            self.queued += 1;
        }
    }

    /// Sends everything queued; returns how many datagrams the kernel refused.
    pub fn send(&mut self, fd: RawFd) -> usize {
        for i in 0..self.queued {
            self.iovecs[i] =
                libc::iovec { iov_base: self.buffers[i].as_mut_ptr().cast(), iov_len: self.lengths[i] };
            let h = &mut self.headers[i].msg_hdr;
            h.msg_name = (&mut self.addresses[i].0 as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = self.addresses[i].1;
            h.msg_iov = &mut self.iovecs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        let mut sent = 0;
        let mut refused = 0;
        while sent + refused < self.queued {
            let start = sent + refused;
            // SAFETY: headers[start..queued] point into buffers owned by `self`, initialised
            // above with their lengths; the kernel only reads them.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers[start..].as_mut_ptr(),
                    (self.queued - start) as libc::c_uint,
                    0,
                )
            };
            let error = (n < 0).then(io::Error::last_os_error);
            if n > 0 {
                sent += n as usize;
            } else if error.as_ref().is_some_and(|e| e.kind() == io::ErrorKind::Interrupted) {
                continue;
            } else if self.fragments_on_demand
                && error.as_ref().and_then(io::Error::raw_os_error) == Some(libc::EMSGSIZE)
                && self.send_fragmented(fd, start)
            {
                sent += 1;
            } else {
                // The first datagram of the rest failed (unreachable peer, no buffer): skip it.
                refused += 1;
            }
        }
        self.queued = 0;
        refused
    }

    /// Sends datagram `index` with fragmentation allowed for this one call: an answer to a
    /// request that itself came in fragments (longer than the link's MTU) is as long as that
    /// request, and such rare answers should still leave.
    fn send_fragmented(&mut self, fd: RawFd, index: usize) -> bool {
        if set_pmtu_discovery(fd, libc::IP_PMTUDISC_WANT).is_err() {
            return false;
        }
        // SAFETY: as in `send`, headers[index] points into buffers owned by `self`.
        let n = unsafe { libc::sendmmsg(fd, self.headers[index..].as_mut_ptr(), 1, 0) };
        if let Err(e) = set_pmtu_discovery(fd, libc::IP_PMTUDISC_PROBE) {
            // Still correct, only dearer: the kernel picks an IP ID for every answer again.
            self.fragments_on_demand = false;
            tracing::warn!("could not turn IPv4 fragmentation off again: {e}");
        }
        n == 1
    }
}

/// Sends this IPv4 socket's datagrams unfragmented, with DF set and no IP ID to choose
/// (`IP_PMTUDISC_PROBE`; RFC 6864 lets an atomic datagram carry any ID). The default lets the
/// kernel fragment, so for every answer it draws an ID from a hash table shared by all CPUs,
/// 3 % of the server's time under load (docs/benchmarks.md). Answers are never longer than
/// their request; one that does not fit the link goes out again fragmented
/// ([`SendBatch::for_socket`]). Path MTU updates are not followed, as before in effect: the
/// kernel fragmented instead.
pub fn send_atomic_ipv4(fd: RawFd) -> io::Result<()> {
    set_pmtu_discovery(fd, libc::IP_PMTUDISC_PROBE)
}

fn set_pmtu_discovery(fd: RawFd, mode: libc::c_int) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode)
}

/// Turns on kernel receive timestamps (nanoseconds, CLOCK_REALTIME) for a socket.
pub fn enable_receive_timestamps(fd: RawFd) -> io::Result<()> {
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)
}

fn set_int_option(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid option value of the size given, for a socket the caller owns.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[allow(clippy::unnecessary_cast)] // time_t is i64 here, i32 on armhf
fn kernel_timestamp(header: &libc::msghdr) -> Option<(i64, u32)> {
    // SAFETY: `header` was filled by recvmmsg; its control pointer and length describe a buffer
    // we own, and the CMSG_* helpers stay within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                // time_t is 32 bits on armhf.
                return Some((ts.tv_sec as i64, ts.tv_nsec as u32));
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says this storage holds a sockaddr_in, and it is long enough.
            let a: &libc::sockaddr_in = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says this storage holds a sockaddr_in6, and it is long enough.
            let a: &libc::sockaddr_in6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::process::Command;
    use std::time::Duration;

    const INSIDE: &str = "STRATUM1_UDP_SYS_IN_NETNS";

    /// A link narrower than the answers needs a network namespace of its own, so the test runs
    /// itself again inside one (`unshare`, as for the real NTS clients) and reads the verdict.
    #[test]
    fn unfragmentable_answers_and_the_one_too_long_for_the_link_in_fragments() {
        let name =
            "ntp::udp_sys::tests::unfragmentable_answers_and_the_one_too_long_for_the_link_in_fragments";
        if std::env::var_os(INSIDE).is_none() {
            let output = Command::new("unshare")
                .args(["--user", "--map-root-user", "--net", "--"])
                .arg(std::env::current_exe().unwrap())
                .args(["--exact", name, "--nocapture", "--test-threads", "1"])
                .env(INSIDE, "1")
                .output()
                .expect("unshare (util-linux) runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && stdout.contains("1 passed"),
                "inside the namespace: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        let ip = Command::new("ip").args(["link", "set", "lo", "up", "mtu", "1280"]).status().unwrap();
        assert!(ip.success(), "ip link set lo mtu 1280");

        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        send_atomic_ipv4(server.as_raw_fd()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

        for fallback in [true, false] {
            // A request longer than the link arrives in fragments; the answers are as long
            // and as short as answers get.
            client.send_to(&[7u8; 1400], server.local_addr().unwrap()).unwrap();
            let mut received = RecvBatch::new();
            assert_eq!(received.receive(server.as_raw_fd()).unwrap(), 1);
            assert_eq!(received.get(0).unwrap().data.len(), 1400);
            let mut replies = SendBatch::for_socket(fallback);
            for len in [1400, 48] {
                replies.next_buffer().unwrap()[..len].fill(9);
                replies.queue_reply(len, &received, 0);
            }
            let refused = replies.send(server.as_raw_fd());
            let mut lengths = Vec::new();
            let mut buffer = [0u8; 2048];
            client.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            while let Ok(n) = client.recv(&mut buffer) {
                lengths.push(n);
            }
            if fallback {
                assert_eq!((refused, lengths), (0, vec![1400, 48]));
            } else {
                // Without the fallback the socket's own setting refuses the long one: the
                // setting is on, and the fallback is what sends it.
                assert_eq!((refused, lengths), (1, vec![48]));
            }
        }
    }
}
