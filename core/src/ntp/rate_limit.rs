//! Per-client rate limiting in a table of fixed size, so memory does not grow with the number
//! of clients (or of spoofed source addresses).
//!
//! Each slot is one `AtomicU64`: a 32-bit tag of the client's address and the client's
//! "theoretical arrival time" (GCRA, the leaky bucket as a single number) in milliseconds.
//! Slots are shared by all UDP workers; a lost update between two racing workers lets one extra
//! packet through, which is harmless, so plain loads and stores suffice. A client whose slot is
//! taken over by another address starts afresh with a full burst: collisions fail open for
//! well-behaved clients, and a keyed hash stops an attacker from aiming at a victim's slot.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use super::access::normalise;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitSettings {
    /// Sustained requests per second one client may send.
    pub max_rate: f64,
    /// Requests a client may send back to back (an `iburst` is 4–8).
    pub burst: u32,
    /// IPv6 clients are grouped by this prefix length (a host usually owns a whole /64).
    pub ipv6_prefix: u8,
    /// Slots in the table; rounded up to a power of two.
    pub table_entries: usize,
}

pub struct RateLimiter {
    slots: Box<[AtomicU64]>,
    index_mask: u64,
    interval_ms: u32,
    tolerance_ms: u32,
    ipv6_mask: u128,
    hasher: RandomState,
}

impl RateLimiter {
    pub fn new(settings: RateLimitSettings) -> Self {
        let entries = settings.table_entries.clamp(16, 1 << 24).next_power_of_two();
        let interval_ms = (1000.0 / settings.max_rate).round().clamp(1.0, 1e9) as u32;
        let tolerance_ms = interval_ms.saturating_mul(settings.burst.saturating_sub(1));
        let prefix = u32::from(settings.ipv6_prefix.min(128));
        RateLimiter {
            slots: (0..entries).map(|_| AtomicU64::new(0)).collect(),
            index_mask: entries as u64 - 1,
            interval_ms,
            tolerance_ms,
            ipv6_mask: u128::MAX.checked_shl(128 - prefix).unwrap_or(0),
            hasher: RandomState::new(),
        }
    }

    /// Reads the slots of `clients` and nothing more, so that they are in the cache when
    /// [`Self::admit`] comes for each. With many clients the slots are spread over the whole
    /// table, and a slot read from memory cost about 2.5 % of the server's time under load
    /// (docs/benchmarks.md). All the hashes first, then all the reads: the reads do not
    /// depend on each other, so the processor has them in flight together.
    pub fn warm(&self, clients: &[IpAddr]) {
        const AT_ONCE: usize = 32;
        let mut indices = [0usize; AT_ONCE];
        for chunk in clients.chunks(AT_ONCE) {
            for (index, &client) in indices.iter_mut().zip(chunk) {
                *index = self.index_and_tag(client).0;
            }
            let seen = indices[..chunk.len()]
                .iter()
                .fold(0, |seen, &i| seen ^ self.slots[i].load(Ordering::Relaxed));
            std::hint::black_box(seen);
        }
    }

    /// Records a request from `client` at `now_ms` (any monotonic millisecond clock, wrapping)
    /// and says whether it is within the client's rate.
    pub fn admit(&self, client: IpAddr, now_ms: u32) -> bool {
        let (index, tag) = self.index_and_tag(client);
        let slot = &self.slots[index];

        let entry = slot.load(Ordering::Relaxed);
        let tat = if (entry >> 32) as u32 == tag { entry as u32 } else { now_ms };
        // How far the client's schedule runs ahead of now; negative means it has been quiet.
        let ahead = tat.wrapping_sub(now_ms) as i32;
        let ahead = if ahead < 0 || ahead as u32 > self.tolerance_ms + self.interval_ms {
            0 // quiet, or a stale slot from a wrap of the clock: start afresh
        } else {
            ahead as u32
        };
        if ahead > self.tolerance_ms {
            return false;
        }
        let new_tat = now_ms.wrapping_add(ahead + self.interval_ms);
        slot.store((u64::from(tag) << 32) | u64::from(new_tat), Ordering::Relaxed);
        true
    }

    /// The slot `client` hashes to, and the tag that says the slot is the client's.
    fn index_and_tag(&self, client: IpAddr) -> (usize, u32) {
        let key = match normalise(client) {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => (u128::from(a) & self.ipv6_mask) | (1 << 127),
        };
        let hash = self.hasher.hash_one(key);
        ((hash & self.index_mask) as usize, (hash >> 32) as u32)
    }

    /// Bytes held by the table: fixed at construction.
    pub fn table_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_rate: f64, burst: u32) -> RateLimiter {
        RateLimiter::new(RateLimitSettings { max_rate, burst, ipv6_prefix: 64, table_entries: 1024 })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn burst_then_sustained_rate() {
        let l = limiter(1.0, 4);
        let c = ip("192.0.2.1");
        let admitted = (0..10).filter(|_| l.admit(c, 1000)).count();
        assert_eq!(admitted, 4, "a burst of 4 at one instant");
        assert!(!l.admit(c, 1500));
        assert!(l.admit(c, 2000), "one more per second after the burst");
        assert!(!l.admit(c, 2001));
        // After a long quiet spell the full burst is back.
        let admitted = (0..10).filter(|_| l.admit(c, 60_000)).count();
        assert_eq!(admitted, 4);
    }

    #[test]
    fn one_flooder_does_not_limit_another_client() {
        let l = limiter(8.0, 8);
        let flooder = ip("192.0.2.1");
        let polite = ip("192.0.2.2");
        let mut polite_admitted = 0;
        let mut flood_admitted = 0;
        for ms in 0..10_000u32 {
            if l.admit(flooder, ms) {
                flood_admitted += 1;
            }
            if ms % 1000 == 0 && l.admit(polite, ms) {
                polite_admitted += 1;
            }
        }
        assert_eq!(polite_admitted, 10);
        assert!(flood_admitted <= 8 + 10 * 8 + 1, "flooder held to its rate: {flood_admitted}");
    }

    #[test]
    fn warming_changes_no_decision() {
        let warmed = limiter(2.0, 3);
        let cold = RateLimiter { hasher: warmed.hasher.clone(), ..limiter(2.0, 3) };
        let clients: Vec<IpAddr> = (0..40u8).map(|i| IpAddr::from([192, 0, 2, i % 7])).collect();
        for (ms, batch) in (0u32..).step_by(137).zip(clients.chunks(5).cycle().take(400)) {
            warmed.warm(batch);
            for &client in batch {
                assert_eq!(warmed.admit(client, ms), cold.admit(client, ms), "{client} at {ms} ms");
            }
        }
        assert!(warmed
            .slots
            .iter()
            .zip(&*cold.slots)
            .all(|(a, b)| a.load(Ordering::Relaxed) == b.load(Ordering::Relaxed)));
    }

    #[test]
    fn ipv6_clients_are_grouped_by_prefix() {
        let l = limiter(1.0, 2);
        assert!(l.admit(ip("2001:db8::1"), 0));
        assert!(l.admit(ip("2001:db8::2"), 0));
        assert!(!l.admit(ip("2001:db8::3"), 0), "same /64 shares the bucket");
        assert!(l.admit(ip("2001:db8:0:1::1"), 0), "another /64 does not");
    }

    #[test]
    fn clock_wrap_does_not_lock_a_client_out() {
        let l = limiter(1.0, 2);
        let c = ip("192.0.2.9");
        assert!(l.admit(c, u32::MAX - 10));
        assert!(l.admit(c, 5));
        assert!(l.admit(c, u32::MAX / 2), "a stale slot half a wrap later starts afresh");
    }

    #[test]
    fn memory_is_fixed_however_many_clients() {
        let l = limiter(1.0, 2);
        let before = l.table_bytes();
        for i in 0..100_000u32 {
            l.admit(IpAddr::V4(i.into()), i);
        }
        assert_eq!(l.table_bytes(), before);
        assert_eq!(before, 1024 * 8);
    }
}
