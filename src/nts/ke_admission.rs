//! Which NTS-KE connection gives way when the server is full (pure bookkeeping).
//!
//! Refusing the newest connection when `max-connections` are open lets anyone who keeps that
//! many idle connections open deny key establishment to everyone. Instead, a new connection
//! evicts the oldest one that has not finished its TLS handshake: an honest client finishes
//! its handshake in milliseconds, so only a connection that does nothing can be old and
//! unfinished. A source (an IPv4 address, an IPv6 /64) holds at most a quarter of the slots,
//! and at its share its own oldest unfinished connection gives way. When every connection is
//! past its handshake, the oldest one that has been open for [`STALE_MS`] gives way (an honest
//! exchange is over in one round trip after the handshake, so such a connection is a client
//! that finished TLS only to sit or trickle); only when none is that old is the newest
//! refused.

use std::net::IpAddr;

/// Open this long, a connection past its handshake may be made to give way.
pub const STALE_MS: u64 = 1_000;

#[derive(Debug)]
struct Entry<H> {
    id: u64,
    opened_ms: u64,
    source: IpAddr,
    handshake_done: bool,
    handle: Option<H>,
}

/// Open connections, oldest first; `H` cancels one (a task's abort handle).
#[derive(Debug)]
pub struct Admission<H> {
    capacity: usize,
    per_source: usize,
    next_id: u64,
    open: Vec<Entry<H>>,
}

/// What to do with a new connection.
#[derive(Debug, PartialEq)]
pub enum Admit<H> {
    /// Serve it as connection `id`, after cancelling these (evicted to make room).
    Yes { id: u64, evicted: Vec<H> },
    /// Every connection it could displace is past its handshake: close it.
    No,
}

impl<H> Admission<H> {
    pub fn new(capacity: usize) -> Admission<H> {
        let capacity = capacity.max(1);
        Admission { capacity, per_source: (capacity / 4).max(2).min(capacity), next_id: 0, open: Vec::new() }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// `now_ms`: any millisecond clock, the same for every call.
    pub fn admit(&mut self, source: IpAddr, now_ms: u64) -> Admit<H> {
        let mut evicted = Vec::new();
        if self.open.iter().filter(|e| e.source == source).count() >= self.per_source {
            match self.evict_oldest(Some(source), now_ms) {
                Some(h) => evicted.extend(h),
                None => return Admit::No,
            }
        }
        if self.open.len() >= self.capacity {
            match self.evict_oldest(None, now_ms) {
                Some(h) => evicted.extend(h),
                None => return Admit::No,
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(Entry { id, opened_ms: now_ms, source, handshake_done: false, handle: None });
        Admit::Yes { id, evicted }
    }

    /// The handle that cancels connection `id` (once its task exists); dropped at once when
    /// the connection is already gone.
    pub fn set_handle(&mut self, id: u64, handle: H) {
        if let Some(e) = self.open.iter_mut().find(|e| e.id == id) {
            e.handle = Some(handle);
        }
    }

    pub fn handshake_done(&mut self, id: u64) {
        if let Some(e) = self.open.iter_mut().find(|e| e.id == id) {
            e.handshake_done = true;
        }
    }

    pub fn close(&mut self, id: u64) {
        self.open.retain(|e| e.id != id);
    }

    /// Removes the oldest unfinished connection (from `source`, if given), else the oldest
    /// stale one; `Some(handle)` to cancel it (`Some(None)` when its task has no handle yet and
    /// will find itself gone).
    fn evict_oldest(&mut self, source: Option<IpAddr>, now_ms: u64) -> Option<Option<H>> {
        let from = |e: &Entry<H>| source.is_none_or(|s| e.source == s);
        let at = self.open.iter().position(|e| !e.handshake_done && from(e)).or_else(|| {
            self.open.iter().position(|e| from(e) && now_ms.saturating_sub(e.opened_ms) >= STALE_MS)
        })?;
        Some(self.open.remove(at).handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn id(a: Admit<&'static str>) -> u64 {
        match a {
            Admit::Yes { id, .. } => id,
            Admit::No => panic!("refused"),
        }
    }

    #[test]
    fn when_full_the_oldest_unfinished_handshake_gives_way() {
        let mut a = Admission::new(8);
        let idle: Vec<u64> = (1..=8).map(|i| id(a.admit(ip(&format!("192.0.2.{i}")), 0))).collect();
        for (i, &c) in idle.iter().enumerate() {
            a.set_handle(c, ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"][i]);
        }
        let Admit::Yes { evicted, .. } = a.admit(ip("198.51.100.7"), 0) else { panic!() };
        assert_eq!(evicted, ["h0"], "the oldest idle one");
        assert_eq!(a.open_count(), 8);
        // Past their handshakes, connections are not evicted; when all are, the newest is refused.
        let mut b = Admission::<&str>::new(2);
        let (x, y) = (id(b.admit(ip("192.0.2.1"), 0)), id(b.admit(ip("192.0.2.2"), 0)));
        b.handshake_done(x);
        b.handshake_done(y);
        assert_eq!(b.admit(ip("192.0.2.3"), 500), Admit::No, "young exchanges are not cut");
        // Past its handshake but open for a second: a client that sits after TLS gives way.
        let Admit::Yes { evicted, .. } = b.admit(ip("192.0.2.3"), STALE_MS) else { panic!() };
        assert!(evicted.is_empty(), "x had no handle");
        assert_eq!(b.open_count(), 2);
        b.close(y);
        assert!(matches!(b.admit(ip("192.0.2.4"), STALE_MS), Admit::Yes { .. }));
    }

    #[test]
    fn one_source_holds_a_quarter_and_evicts_only_its_own() {
        let mut a = Admission::new(16);
        let honest = id(a.admit(ip("198.51.100.7"), 0));
        a.set_handle(honest, "honest");
        for _ in 0..4 {
            id(a.admit(ip("192.0.2.66"), 0));
        }
        // The flooding address is at its share of 4: its fifth evicts its own oldest.
        let Admit::Yes { evicted, .. } = a.admit(ip("192.0.2.66"), 0) else { panic!() };
        assert!(evicted.is_empty(), "its own oldest, which had no handle yet: {evicted:?}");
        assert_eq!(a.open_count(), 5, "the honest one stays");
    }
}
