//! Reading the daemon's `/api/status` over HTTP/1.1: a few lines of std, no client library.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use stratum1_web::StatusSnapshot;

const TIMEOUT: Duration = Duration::from_secs(3);
/// The status is a few hundred KiB at most (a day of history).
const MAX_RESPONSE: u64 = 16 << 20;

/// `http://host:port` → (host, port); IPv6 hosts in brackets.
fn host_port(url: &str) -> io::Result<(String, u16)> {
    let invalid = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {m}"));
    let rest = url.strip_prefix("http://").ok_or_else(|| invalid("only http:// URLs"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed ["))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.map_or(Ok(80), |p| p.parse().map_err(|_| invalid("bad port")))?;
    Ok((host.to_owned(), port))
}

/// Fetches and parses the daemon's status.
pub fn fetch_status(url: &str) -> io::Result<StatusSnapshot> {
    let (host, port) = host_port(url)?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    write!(stream, "GET /api/status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut response)?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no HTTP header"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(bad(&format!("HTTP status {status}")));
    }
    serde_json::from_slice(&response[split + 4..]).map_err(|e| bad(&format!("not a stratum1 status: {e}")))
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_or_refused() {
        assert_eq!(host_port("http://127.0.0.1:8123").unwrap(), ("127.0.0.1".into(), 8123));
        assert_eq!(host_port("http://[::1]:8123/").unwrap(), ("::1".into(), 8123));
        assert_eq!(host_port("http://timeserver").unwrap(), ("timeserver".into(), 80));
        assert!(host_port("https://x").is_err());
        assert!(host_port("http://x:port").is_err());
    }
}
