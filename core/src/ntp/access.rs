//! Allow/deny lists of CIDR prefixes. A client is served when it matches an allow entry and no
//! deny entry (deny wins, whatever the order), the rule operators know from firewalls.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address prefix such as `192.168.1.0/24` or `fd00::/8`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    pub fn new(address: IpAddr, prefix_len: u8) -> Result<Self, CidrError> {
        let max = max_prefix(address);
        if prefix_len > max {
            return Err(CidrError::PrefixTooLong { prefix_len, max });
        }
        Ok(Cidr { network: mask(address, prefix_len), prefix_len })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, normalise(address)) {
            (IpAddr::V4(_), a @ IpAddr::V4(_)) | (IpAddr::V6(_), a @ IpAddr::V6(_)) => {
                mask(a, self.prefix_len) == self.network
            }
            _ => false,
        }
    }

    fn matches_everything(&self) -> bool {
        self.prefix_len == 0
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr =
            address.trim().parse().map_err(|_| CidrError::BadAddress(address.trim().to_owned()))?;
        let prefix_len = match prefix {
            Some(p) => p.trim().parse().map_err(|_| CidrError::BadPrefix(p.trim().to_owned()))?,
            None => max_prefix(address),
        };
        Cidr::new(address, prefix_len)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not an IP address")]
    BadAddress(String),
    #[error("`{0}` is not a prefix length")]
    BadPrefix(String),
    #[error("prefix length /{prefix_len} is longer than the address (/{max} at most)")]
    PrefixTooLong { prefix_len: u8, max: u8 },
}

/// The allow and deny lists, ready for per-packet checks.
#[derive(Clone, Debug)]
pub struct AccessList {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    allows_everyone: bool,
}

impl AccessList {
    pub fn new(allow: Vec<Cidr>, deny: Vec<Cidr>) -> Self {
        let v4_all = allow.iter().any(|c| c.matches_everything() && c.network.is_ipv4());
        let v6_all = allow.iter().any(|c| c.matches_everything() && c.network.is_ipv6());
        let allows_everyone = v4_all && v6_all && deny.is_empty();
        AccessList { allow, deny, allows_everyone }
    }

    /// Serves everyone: what a LAN time server does unless told otherwise.
    pub fn open() -> Self {
        let v4 = Cidr { network: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), prefix_len: 0 };
        let v6 = Cidr { network: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), prefix_len: 0 };
        AccessList::new(vec![v4, v6], Vec::new())
    }

    pub fn permits(&self, client: IpAddr) -> bool {
        if self.allows_everyone {
            return true;
        }
        self.allow.iter().any(|c| c.contains(client)) && !self.deny.iter().any(|c| c.contains(client))
    }
}

/// IPv4-mapped IPv6 addresses (from a dual-stack socket) are treated as the IPv4 address.
pub fn normalise(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn max_prefix(address: IpAddr) -> u8 {
    if address.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(address: IpAddr, prefix_len: u8) -> IpAddr {
    match address {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_masks() {
        let c: Cidr = "192.168.1.77/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.1.0/24");
        assert!(c.contains(ip("192.168.1.200")));
        assert!(!c.contains(ip("192.168.2.1")));
        assert!(!c.contains(ip("::1")));
        let host: Cidr = "10.0.0.1".parse().unwrap();
        assert!(host.contains(ip("10.0.0.1")) && !host.contains(ip("10.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
    }

    #[test]
    fn rejects_bad_prefixes() {
        assert_eq!("10.0.0.0/33".parse::<Cidr>(), Err(CidrError::PrefixTooLong { prefix_len: 33, max: 32 }));
        assert!(matches!("10.0.0/8".parse::<Cidr>(), Err(CidrError::BadAddress(_))));
        assert!(matches!("10.0.0.0/x".parse::<Cidr>(), Err(CidrError::BadPrefix(_))));
    }

    #[test]
    fn deny_wins_over_allow() {
        let list =
            AccessList::new(vec!["192.168.0.0/16".parse().unwrap()], vec!["192.168.5.0/24".parse().unwrap()]);
        assert!(list.permits(ip("192.168.1.1")));
        assert!(!list.permits(ip("192.168.5.1")));
        assert!(!list.permits(ip("10.0.0.1")));
    }

    #[test]
    fn mapped_ipv4_is_matched_as_ipv4() {
        let list = AccessList::new(vec!["127.0.0.0/8".parse().unwrap()], vec![]);
        assert!(list.permits(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn open_list_permits_all() {
        let list = AccessList::open();
        assert!(list.permits(ip("203.0.113.9")) && list.permits(ip("2001:db8::1")));
    }
}
