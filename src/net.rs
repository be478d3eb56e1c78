//! Listening sockets for the TCP services (NTS-KE, the status page).

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a non-blocking TCP listener. IPv6 sockets are v6-only, so `0.0.0.0:P` and `[::]:P`
/// can both be listed (a dual-stack `[::]` would collide with the IPv4 one). The error names
/// the address and what it was for.
///
/// Both TCP services (NTS-KE's TLS and the page's HTTP) have the client speak first, so the
/// listener defers accepting a connection until its first bytes arrive: a connection that
/// never speaks waits in the kernel's queue (a few hundred bytes, no descriptor, no slot) for
/// [`DEFER_ACCEPT_S`] before the server sees it.
pub fn bind_tcp(addr: SocketAddr, purpose: &str) -> io::Result<TcpListener> {
    let fail = |e: io::Error| io::Error::new(e.kind(), format!("cannot bind tcp {addr} for {purpose}: {e}"));
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(fail)?;
    }
    socket.set_reuse_address(true).map_err(fail)?;
    socket.bind(&addr.into()).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(
                e.kind(),
                format!(
                    "tcp {addr} for {purpose} is already in use by another process (another stratum1d?): \
                     `ss -ltnp 'sport = :{}'` names it",
                    addr.port()
                ),
            )
        } else {
            fail(e)
        }
    })?;
    defer_accept(&socket, DEFER_ACCEPT_S).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
}

/// Seconds a silent connection waits in the kernel before it is handed to the listener anyway
/// (the kernel rounds up to its SYN-ACK retransmissions: 1 s is one).
pub const DEFER_ACCEPT_S: u32 = 1;
/// Connections the kernel holds for the listener; it caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// `TCP_DEFER_ACCEPT` (socket2 does not offer it).
fn defer_accept(socket: &Socket, seconds: u32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(seconds).unwrap_or(libc::c_int::MAX);
    // SAFETY: a valid descriptor, and a c_int option value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_listeners_are_v6_only_and_errors_name_the_address() {
        let v6 = bind_tcp("[::1]:0".parse().unwrap(), "a test").unwrap();
        assert!(Socket::from(v6).only_v6().unwrap());
        let taken = bind_tcp("127.0.0.1:0".parse().unwrap(), "a test").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind_tcp(addr, "the status page").unwrap_err();
        assert!(e.to_string().contains(&addr.to_string()) && e.to_string().contains("status page"), "{e}");
    }

    #[test]
    fn a_silent_connection_is_not_accepted_until_it_speaks() {
        use std::io::Write;
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap(), "a test").unwrap();
        let addr = listener.local_addr().unwrap();
        let _silent = std::net::TcpStream::connect(addr).unwrap();
        let mut speaking = std::net::TcpStream::connect(addr).unwrap();
        // The silent one connected first; the listener must see only the one that spoke.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(listener.accept().map(|_| ()).map_err(|e| e.kind()), Err(io::ErrorKind::WouldBlock));
        speaking.write_all(b"hello").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        let accepted = loop {
            match listener.accept() {
                Ok((_, peer)) => break peer,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => panic!("the speaking connection was not accepted: {e}"),
            }
        };
        assert_eq!(accepted, speaking.local_addr().unwrap());
    }
}
