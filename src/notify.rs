//! systemd's service notifications (sd_notify(3)): `READY=1` once everything serves, so that
//! `systemctl start` returns when clients can be answered, and `WATCHDOG=1` while the clock
//! task still ticks, so that systemd restarts a daemon that hangs. The protocol is one
//! datagram to the socket named by `NOTIFY_SOCKET`; without it (not under systemd) nothing
//! is sent.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// How often to tell the watchdog we are alive: half its period (sd_watchdog_enabled(3)),
/// when `WATCHDOG_USEC` is set and `WATCHDOG_PID`, if set, is ours.
pub fn watchdog_ping_every(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if pid.is_some_and(|p| p.parse() != Ok(my_pid)) {
        return None;
    }
    let usec: u64 = usec?.parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// A connection to systemd's notification socket.
pub struct Notifier {
    socket: UnixDatagram,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace. `None` when unset.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let Some(target) = std::env::var_os("NOTIFY_SOCKET") else { return Ok(None) };
        let target = target.to_string_lossy().into_owned();
        let socket = UnixDatagram::unbound()?;
        match target.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
                socket.connect_addr(&addr)?;
            }
            None => socket.connect(&target)?,
        }
        Ok(Some(Notifier { socket }))
    }

    pub fn send(&self, message: &str) -> io::Result<()> {
        self.socket.send(message.as_bytes()).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_at_half_its_period_and_only_for_its_own_process() {
        assert_eq!(watchdog_ping_every(Some("30000000"), None, 7), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_ping_every(Some("30000000"), Some("7"), 7), Some(Duration::from_secs(15)));
        assert_eq!(watchdog_ping_every(Some("30000000"), Some("8"), 7), None, "meant for another process");
        assert_eq!(watchdog_ping_every(None, None, 7), None);
        assert_eq!(watchdog_ping_every(Some("0"), None, 7), None);
        assert_eq!(watchdog_ping_every(Some("soon"), None, 7), None);
    }
}
