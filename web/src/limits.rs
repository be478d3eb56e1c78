//! How many page connections one source may hold (pure). A source is an IPv4 address or an
//! IPv6 /64 (what one host can easily spread over): slowloris from one host then holds at
//! most its share of the slots, and the page stays answerable for everyone else.

use std::collections::HashMap;
use std::net::IpAddr;

#[derive(Debug)]
pub struct SourceLimits {
    per_source: usize,
    open: HashMap<IpAddr, usize>,
}

/// The source a client address belongs to.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl SourceLimits {
    /// A quarter of all slots per source, and at least 2.
    pub fn for_slots(slots: usize) -> SourceLimits {
        SourceLimits { per_source: (slots / 4).max(2), open: HashMap::new() }
    }

    pub fn per_source(&self) -> usize {
        self.per_source
    }

    /// Counts a new connection from `source`; `false` (and nothing counted) when it is at its
    /// limit.
    pub fn try_open(&mut self, source: IpAddr) -> bool {
        let open = self.open.entry(source).or_default();
        if *open >= self.per_source {
            return false;
        }
        *open += 1;
        true
    }

    pub fn close(&mut self, source: IpAddr) {
        if let Some(open) = self.open.get_mut(&source) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                self.open.remove(&source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_a_quarter_of_the_slots_and_its_closes_free_them() {
        let mut limits = SourceLimits::for_slots(32);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..8).all(|_| limits.try_open(a)));
        assert!(!limits.try_open(a), "a ninth from the same address");
        assert!(limits.try_open(b), "another address is not affected");
        limits.close(a);
        assert!(limits.try_open(a));
        assert_eq!(SourceLimits::for_slots(4).per_source(), 2);
    }

    #[test]
    fn ipv6_sources_are_64s_and_mapped_ipv4_is_ipv4() {
        let one = source_of("2001:db8:1:2::1".parse().unwrap());
        let other = source_of("2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(one, other);
        assert_ne!(one, source_of("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(source_of("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }
}
