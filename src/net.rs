//! Listening sockets for the TCP services (NTS-KE, the status page).

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Binds a non-blocking TCP listener. IPv6 sockets are v6-only, so `0.0.0.0:P` and `[::]:P`
/// can both be listed (a dual-stack `[::]` would collide with the IPv4 one). The error names
/// the address and what it was for.
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
    socket.listen(1024).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    Ok(socket.into())
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
}
