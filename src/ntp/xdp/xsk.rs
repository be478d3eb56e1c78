//! An AF_XDP socket in copy mode: a frame area (UMEM) shared with the kernel and the four
//! rings that pass frame addresses back and forth (fill → rx for receiving, tx → completion
//! for sending). Everything unsafe about the shared memory stays in this file.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// Bytes per frame; a frame holds one datagram.
pub const FRAME_SIZE: u32 = 2048;
/// Frames the kernel can fill before we read them: 25 ms of datagrams at 80,000/s, about what
/// the UDP path's 1 MiB socket buffer holds.
const RING_ENTRIES: u32 = 2048;
/// Frames in the UMEM. Every frame is either in the fill ring, received, or on its way out
/// through tx and completion, so the fill ring can always take all of them back.
const FRAMES: u32 = RING_ENTRIES;

/// A mapping released on drop.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; the rings built on it coordinate access through
// atomics, and each socket is used by one thread at a time.
unsafe impl Send for Mapping {}

impl Mapping {
    fn new(fd: Option<i32>, len: usize, offset: u64) -> io::Result<Mapping> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping at an address of the kernel's choosing; no existing memory
        // is touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { base, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped, once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// One ring: a producer and a consumer index and `size` entries of `T`.
struct Ring<T> {
    _map: Mapping,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    entries: *mut T,
    mask: u32,
    /// Our own index (producer for fill/tx, consumer for rx/completion), published on commit.
    local: u32,
    /// The other side's index as last read.
    seen: u32,
}

// SAFETY: see `Mapping`; a ring is only used by the thread that owns its socket.
unsafe impl<T> Send for Ring<T> {}

impl<T: Copy> Ring<T> {
    fn map(fd: i32, offsets: &libc::xdp_ring_offset, pgoff: u64, size: u32) -> io::Result<Ring<T>> {
        let len = offsets.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mapping::new(Some(fd), len, pgoff)?;
        let at = |off: u64| map.base.as_ptr().wrapping_add(off as usize);
        let ring = Ring {
            producer: at(offsets.producer).cast(),
            consumer: at(offsets.consumer).cast(),
            entries: at(offsets.desc).cast(),
            mask: size - 1,
            local: 0,
            seen: 0,
            _map: map,
        };
        Ok(ring)
    }

    fn load(index: *const AtomicU32) -> u32 {
        // SAFETY: the index lies inside the live mapping at the offset the kernel gave.
        unsafe { (*index).load(Ordering::Acquire) }
    }

    fn publish(index: *const AtomicU32, value: u32) {
        // SAFETY: as in `load`.
        unsafe { (*index).store(value, Ordering::Release) }
    }

    fn slot(&self, i: u32) -> *mut T {
        self.entries.wrapping_add((i & self.mask) as usize)
    }

    // Producer side (fill, tx).

    fn free(&mut self) -> u32 {
        let size = self.mask + 1;
        if size - self.local.wrapping_sub(self.seen) == 0 {
            self.seen = Self::load(self.consumer);
        }
        size - self.local.wrapping_sub(self.seen)
    }

    /// Writes one entry; the caller checked `free()`.
    fn push(&mut self, value: T) {
        // SAFETY: the slot is inside the ring and the kernel does not read it until the
        // producer index moves past it in `commit_produced`.
        unsafe { self.slot(self.local).write(value) };
        self.local = self.local.wrapping_add(1);
    }

    fn commit_produced(&self) {
        Self::publish(self.producer, self.local);
    }

    /// Whether the kernel has taken every entry we produced.
    fn all_consumed(&mut self) -> bool {
        self.seen = Self::load(self.consumer);
        self.seen == self.local
    }

    // Consumer side (rx, completion).

    fn available(&mut self) -> u32 {
        if self.seen == self.local {
            self.seen = Self::load(self.producer);
        }
        self.seen.wrapping_sub(self.local)
    }

    fn pop(&mut self) -> T {
        // SAFETY: the caller checked `available()`: the kernel wrote this slot before moving
        // its producer index past it, and will not reuse it until we publish our consumer.
        let value = unsafe { self.slot(self.local).read() };
        self.local = self.local.wrapping_add(1);
        value
    }

    fn commit_consumed(&self) {
        Self::publish(self.consumer, self.local);
    }
}

/// A received frame: where it is in the UMEM and how long.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub addr: u64,
    pub len: u32,
}

pub struct XdpSocket {
    umem: Mapping,
    fill: Ring<u64>,
    completion: Ring<u64>,
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    /// Frames handed to tx and not yet back through completion.
    in_flight: u32,
    fd: OwnedFd,
}

fn set_option<T>(fd: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and its size is passed with it.
    let r = unsafe {
        libc::setsockopt(fd, libc::SOL_XDP, name, (value as *const T).cast(), std::mem::size_of::<T>() as u32)
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl XdpSocket {
    /// Binds a copy-mode socket to queue `queue` of interface `ifindex`, with every frame
    /// given to the kernel to receive into.
    pub fn bind(ifindex: u32, queue: u32) -> io::Result<XdpSocket> {
        // SAFETY: creating a socket has no memory effects.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Mapping::new(None, (FRAMES * FRAME_SIZE) as usize, 0)?;
        let registration = libc::xdp_umem_reg {
            addr: umem.base.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        set_option(raw, libc::XDP_UMEM_REG, &registration)?;
        for ring in
            [libc::XDP_UMEM_FILL_RING, libc::XDP_UMEM_COMPLETION_RING, libc::XDP_RX_RING, libc::XDP_TX_RING]
        {
            set_option(raw, ring, &RING_ENTRIES)?;
        }
        // SAFETY: all-zero is a valid `xdp_mmap_offsets` (plain integers).
        let mut offsets: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
        // SAFETY: `offsets` is live and `len` is its size.
        let r = unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut offsets as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let fill = Ring::map(raw, &offsets.fr, libc::XDP_UMEM_PGOFF_FILL_RING, RING_ENTRIES)?;
        let completion = Ring::map(raw, &offsets.cr, libc::XDP_UMEM_PGOFF_COMPLETION_RING, RING_ENTRIES)?;
        let rx = Ring::map(raw, &offsets.rx, libc::XDP_PGOFF_RX_RING as u64, RING_ENTRIES)?;
        let tx = Ring::map(raw, &offsets.tx, libc::XDP_PGOFF_TX_RING as u32 as u64, RING_ENTRIES)?;
        let address = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `address` is a live sockaddr_xdp and its size is passed with it.
        let r = unsafe {
            libc::bind(
                raw,
                (&address as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut socket = XdpSocket { umem, fill, completion, rx, tx, in_flight: 0, fd };
        for i in 0..RING_ENTRIES {
            socket.fill.push(u64::from(i * FRAME_SIZE));
        }
        socket.fill.commit_produced();
        Ok(socket)
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Waits up to `timeout_ms` for a received frame.
    pub fn wait(&self, timeout_ms: i32) {
        let mut poll = libc::pollfd { fd: self.raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut poll, 1, timeout_ms) };
    }

    /// Takes up to `max` received frames.
    pub fn receive(&mut self, max: usize, into: &mut Vec<Frame>) {
        into.clear();
        let n = self.rx.available().min(max as u32);
        for _ in 0..n {
            let desc = self.rx.pop();
            into.push(Frame { addr: desc.addr, len: desc.len });
        }
        self.rx.commit_consumed();
    }

    /// The bytes of a frame, with `before` bytes in front of it (where metadata lands).
    /// `None` for a descriptor outside the UMEM, which the kernel never gives.
    pub fn frame_mut(&mut self, frame: Frame, before: usize) -> Option<&mut [u8]> {
        let start = usize::try_from(frame.addr).ok()?.checked_sub(before)?;
        let end = start.checked_add(before + frame.len as usize)?;
        let chunk = start / FRAME_SIZE as usize;
        if end > self.umem.len || (end - 1) / FRAME_SIZE as usize != chunk {
            return None;
        }
        // SAFETY: inside the UMEM and inside one frame, which the kernel handed to us through
        // the rx ring and does not touch until we give it back through fill or tx.
        Some(unsafe { std::slice::from_raw_parts_mut(self.umem.base.as_ptr().add(start), end - start) })
    }

    /// Gives frames back to the kernel to receive into.
    pub fn recycle(&mut self, addrs: impl IntoIterator<Item = u64>) {
        for addr in addrs {
            // Cannot happen (FRAMES = ring size); losing a frame beats overwriting one.
            if self.fill.free() == 0 {
                tracing::error!("xdp fill ring full; a frame is lost");
                continue;
            }
            self.fill.push(addr);
        }
        self.fill.commit_produced();
    }

    /// Queues frames to send and has the kernel transmit them. Returns how many could not be
    /// queued. Their frames come back through the completion ring when the kernel has freed
    /// them, which may be later and on another CPU: [`XdpSocket::reap`] collects them.
    pub fn send(&mut self, frames: &[Frame]) -> usize {
        self.reap();
        let mut unsent = 0;
        for f in frames {
            if self.tx.free() == 0 {
                self.kick();
                self.reap();
            }
            if self.tx.free() == 0 {
                unsent += 1;
                self.recycle([f.addr]);
                continue;
            }
            self.tx.push(libc::xdp_desc { addr: f.addr, len: f.len, options: 0 });
            self.in_flight += 1;
        }
        self.tx.commit_produced();
        // Copy mode transmits a bounded number of frames per wake-up: wake it until it has
        // taken every descriptor. Waiting here for the completions instead would spin until
        // whoever frees the skbs (the NIC's completion interrupt, another CPU) gets to it.
        for _ in 0..64 {
            if self.tx.all_consumed() {
                break;
            }
            self.kick();
        }
        self.reap();
        unsent
    }

    fn kick(&self) {
        // SAFETY: a zero-length send on our own socket: the kernel only processes the tx ring.
        unsafe { libc::sendto(self.raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0) };
    }

    /// Moves completed frames back to the fill ring.
    pub fn reap(&mut self) -> u32 {
        let n = self.completion.available();
        let mut done = [0u64; 64];
        let mut total = 0;
        let mut left = n;
        while left > 0 {
            let k = left.min(done.len() as u32);
            for slot in done.iter_mut().take(k as usize) {
                *slot = self.completion.pop();
            }
            self.completion.commit_consumed();
            self.recycle(done[..k as usize].iter().copied());
            left -= k;
            total += k;
        }
        self.in_flight -= total.min(self.in_flight);
        total
    }

    /// The kernel's drop counters for this socket: (ring full, no fill frames).
    pub fn drops(&self) -> (u64, u64) {
        // SAFETY: all-zero is a valid `xdp_statistics`.
        let mut stats: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: `stats` is live and `len` is its size.
        let r = unsafe {
            libc::getsockopt(
                self.raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut stats as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return (0, 0);
        }
        (stats.rx_ring_full + stats.rx_dropped, stats.rx_fill_ring_empty_descs)
    }
}
