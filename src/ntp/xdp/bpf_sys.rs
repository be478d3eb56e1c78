//! The few `bpf(2)` commands the fast path needs: an XSKMAP, loading the program, attaching it
//! to an interface as a BPF link, and putting a socket into the map. The link detaches the
//! program when its descriptor closes, so a crashed daemon leaves no program behind.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;

/// `union bpf_attr` is larger than any one command's fields; the kernel wants the rest zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn put_u32(&mut self, at: usize, value: u32) -> &mut Attr {
        self.0[at..at + 4].copy_from_slice(&value.to_ne_bytes());
        self
    }
    fn put_u64(&mut self, at: usize, value: u64) -> &mut Attr {
        self.0[at..at + 8].copy_from_slice(&value.to_ne_bytes());
        self
    }
    fn put_name(&mut self, at: usize, name: &str) -> &mut Attr {
        let bytes = &name.as_bytes()[..name.len().min(15)];
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }
}

fn bpf(command: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, zero-padded buffer of the size passed; every pointer stored in
    // it refers to memory the caller keeps alive for the duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, command, attr.0.as_mut_ptr(), attr.0.len() as u32) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd_result(r: libc::c_long) -> OwnedFd {
    // SAFETY: the commands used with this return a new file descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as RawFd) }
}

/// An XSKMAP: receive queue index → AF_XDP socket.
pub fn create_xsk_map(entries: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, BPF_MAP_TYPE_XSKMAP).put_u32(4, 4).put_u32(8, 4).put_u32(12, entries);
    attr.put_name(28, "stratum1_xsks");
    bpf(BPF_MAP_CREATE, &mut attr).map(fd_result)
}

/// Loads an XDP program. A refusal carries the verifier's log in the error.
pub fn load_xdp_program(code: &[u64]) -> io::Result<OwnedFd> {
    let license = c"MIT OR Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = Attr::new();
    attr.put_u32(0, BPF_PROG_TYPE_XDP)
        .put_u32(4, code.len() as u32)
        .put_u64(8, code.as_ptr() as u64)
        .put_u64(16, license.as_ptr() as u64)
        .put_u32(24, 1)
        .put_u32(28, log.len() as u32)
        .put_u64(32, log.as_mut_ptr() as u64)
        .put_name(48, "stratum1_ntp")
        .put_u32(68, BPF_XDP);
    bpf(BPF_PROG_LOAD, &mut attr).map(fd_result).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        let verifier = String::from_utf8_lossy(&log[..end]);
        io::Error::new(
            e.kind(),
            format!("the kernel refused the XDP program: {e}; verifier: {}", verifier.trim()),
        )
    })
}

/// Attaches `program` to interface `ifindex`; detached again when the returned link closes.
pub fn attach_xdp(program: RawFd, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, program as u32).put_u32(4, ifindex).put_u32(8, BPF_XDP).put_u32(12, flags);
    bpf(BPF_LINK_CREATE, &mut attr).map(fd_result)
}

/// Sets `map[key] = value` (for an XSKMAP: queue index → socket descriptor).
pub fn update_map(map: RawFd, key: u32, value: u32) -> io::Result<()> {
    let mut attr = Attr::new();
    attr.put_u32(0, map as u32)
        .put_u64(8, &key as *const u32 as u64)
        .put_u64(16, &value as *const u32 as u64)
        .put_u64(24, 0);
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}
