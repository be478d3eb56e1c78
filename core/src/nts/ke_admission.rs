//! Which NTS-KE connection gives way when the server is full (pure bookkeeping).
//!
//! Refusing the newest connection when `max-connections` are open lets anyone who keeps that
//! many idle connections open deny key establishment to everyone. So a connection passes two
//! stages, each with room of its own:
//!
//! - **Waiting for its ClientHello**: cheap (a socket and a small buffer), so there is room for
//!   [`HELLO_ROOM_PER_SLOT`] times `max-connections`. When it is full the oldest waiting
//!   connection gives way. An honest client sends its whole ClientHello at once, so only an
//!   idle or trickling connection waits here long; it never takes a TLS slot.
//! - **In TLS** (handshake, then the exchange): `max-connections` slots. A new arrival takes the
//!   slot of, in order: a handshake older than [`HANDSHAKE_GRACE_MS`]; a connection past its
//!   handshake for [`STALE_MS`] (a client sends its request right behind its Finished, in the
//!   same flight, so that is a client that finished TLS only to sit); the oldest young
//!   handshake. Only when every slot holds a young exchange is the arrival refused.
//!
//! In each stage a source (an IPv4 address, an IPv6 /64) holds at most a quarter of the room,
//! and at its share its own connections give way by the same order.

use std::net::IpAddr;

/// Past its handshake this long without a whole request, a connection may be made to give
/// way. Long enough for a request that crossed a slow link a little behind the Finished; short,
/// because a flood that keeps every slot holding younger sitters must finish this many TLS
/// handshakes per slot and second.
pub const STALE_MS: u64 = 200;
/// A handshake this young is cut only when nothing else can give way: it lets an honest
/// client finish while a flood of finished-and-sitting connections is churned through.
pub const HANDSHAKE_GRACE_MS: u64 = 500;
/// Connections waiting for their ClientHello, per TLS slot.
pub const HELLO_ROOM_PER_SLOT: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Hello,
    Handshake,
    Exchange,
}

#[derive(Debug)]
struct Entry<H> {
    id: u64,
    source: IpAddr,
    stage: Stage,
    /// When it entered its stage.
    since_ms: u64,
    handle: Option<H>,
}

/// Room in one stage.
#[derive(Clone, Copy, Debug)]
struct Room {
    total: usize,
    per_source: usize,
}

impl Room {
    fn new(total: usize) -> Room {
        let total = total.max(1);
        Room { total, per_source: (total / 4).max(2).min(total) }
    }
}

/// Open connections, oldest first; `H` cancels one (a task's abort handle).
#[derive(Debug)]
pub struct Admission<H> {
    hello: Room,
    tls: Room,
    next_id: u64,
    open: Vec<Entry<H>>,
}

/// What to do with a connection that asks for a TLS slot.
#[derive(Debug, PartialEq)]
pub enum Admit<H> {
    /// Go on, after cancelling these (evicted to make room).
    Yes { evicted: Vec<H> },
    /// Every slot it could take holds a young exchange: close it.
    No,
}

/// A new connection: its id, and the connections cancelled to make room for it.
#[derive(Debug, PartialEq)]
pub struct Arrival<H> {
    pub id: u64,
    pub evicted: Vec<H>,
}

impl<H> Admission<H> {
    /// `tls_slots`: `max-connections`.
    pub fn new(tls_slots: usize) -> Admission<H> {
        let tls = Room::new(tls_slots);
        let hello = Room::new(tls.total.saturating_mul(HELLO_ROOM_PER_SLOT));
        Admission { hello, tls, next_id: 0, open: Vec::new() }
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// A new connection waits for its ClientHello; when there is no room, the oldest waiting
    /// connection (from the same source, if that source is at its share) gives way.
    /// `now_ms`: any millisecond clock, the same for every call.
    pub fn arrive(&mut self, source: IpAddr, now_ms: u64) -> Arrival<H> {
        let mut evicted = Vec::new();
        let waiting = |e: &Entry<H>| e.stage == Stage::Hello;
        if self.count(|e| waiting(e) && e.source == source) >= self.hello.per_source {
            evicted.extend(self.remove_first(|e| waiting(e) && e.source == source).flatten());
        }
        if self.count(waiting) >= self.hello.total {
            evicted.extend(self.remove_first(waiting).flatten());
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(Entry { id, source, stage: Stage::Hello, since_ms: now_ms, handle: None });
        Arrival { id, evicted }
    }

    /// Connection `id` has sent its whole ClientHello and asks for a TLS slot. On `No` it is
    /// no longer counted (close it).
    pub fn hello_received(&mut self, id: u64, now_ms: u64) -> Admit<H> {
        let Some(source) = self.open.iter().find(|e| e.id == id).map(|e| e.source) else {
            return Admit::No; // evicted meanwhile
        };
        // `id` itself is still waiting for its hello, so it is never among these.
        let in_tls = |e: &Entry<H>| e.stage != Stage::Hello;
        let (per_source, total) = (self.tls.per_source, self.tls.total);
        let mut evicted = Vec::new();
        let room = self.make_tls_room(|e| in_tls(e) && e.source == source, per_source, now_ms, &mut evicted)
            && self.make_tls_room(in_tls, total, now_ms, &mut evicted);
        if !room {
            self.close(id);
            return Admit::No;
        }
        if let Some(e) = self.open.iter_mut().find(|e| e.id == id) {
            e.stage = Stage::Handshake;
            e.since_ms = now_ms;
        }
        Admit::Yes { evicted }
    }

    /// The handle that cancels connection `id` (once its task exists); dropped at once when
    /// the connection is already gone.
    pub fn set_handle(&mut self, id: u64, handle: H) {
        if let Some(e) = self.open.iter_mut().find(|e| e.id == id) {
            e.handle = Some(handle);
        }
    }

    pub fn handshake_done(&mut self, id: u64, now_ms: u64) {
        if let Some(e) = self.open.iter_mut().find(|e| e.id == id) {
            e.stage = Stage::Exchange;
            e.since_ms = now_ms;
        }
    }

    pub fn close(&mut self, id: u64) {
        self.open.retain(|e| e.id != id);
    }

    fn count(&self, which: impl Fn(&Entry<H>) -> bool) -> usize {
        self.open.iter().filter(|e| which(e)).count()
    }

    /// Removes the first (oldest) connection `which` picks; `Some(handle)` to cancel it
    /// (`Some(None)` when its task has no handle yet and will find itself gone).
    fn remove_first(&mut self, which: impl Fn(&Entry<H>) -> bool) -> Option<Option<H>> {
        let at = self.open.iter().position(which)?;
        Some(self.open.remove(at).handle)
    }

    /// When the TLS slots `of` picks number `room` or more, makes one of them give way (its
    /// handle into `evicted`); false when none of them can.
    fn make_tls_room(
        &mut self,
        of: impl Fn(&Entry<H>) -> bool,
        room: usize,
        now_ms: u64,
        evicted: &mut Vec<H>,
    ) -> bool {
        if self.count(&of) < room {
            return true;
        }
        match self.evict_from_tls(of, now_ms) {
            Some(handle) => {
                evicted.extend(handle);
                true
            }
            None => false,
        }
    }

    /// The TLS slot that gives way, among those `of` picks, in the order the module names.
    fn evict_from_tls(&mut self, of: impl Fn(&Entry<H>) -> bool, now_ms: u64) -> Option<Option<H>> {
        let age = |e: &Entry<H>| now_ms.saturating_sub(e.since_ms);
        let handshake = |e: &Entry<H>| of(e) && e.stage == Stage::Handshake;
        self.remove_first(|e| handshake(e) && age(e) >= HANDSHAKE_GRACE_MS)
            .or_else(|| self.remove_first(|e| of(e) && e.stage == Stage::Exchange && age(e) >= STALE_MS))
            .or_else(|| self.remove_first(handshake))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A connection that arrived and sent its ClientHello at `now`, with handle `h`.
    fn in_tls(a: &mut Admission<&'static str>, source: &str, h: &'static str, now: u64) -> u64 {
        let Arrival { id, .. } = a.arrive(ip(source), now);
        a.set_handle(id, h);
        assert!(matches!(a.hello_received(id, now), Admit::Yes { .. }));
        id
    }

    #[test]
    fn connections_without_a_hello_never_take_a_tls_slot() {
        let mut a = Admission::<&str>::new(2);
        // 2 slots: 8 places to wait for a hello, 2 of them per source.
        for i in 0..8 {
            let arrival = a.arrive(ip(&format!("192.0.2.{i}")), 0);
            a.set_handle(arrival.id, "idle");
            assert!(arrival.evicted.is_empty());
        }
        let arrival = a.arrive(ip("198.51.100.7"), 10);
        assert_eq!(arrival.evicted, ["idle"], "the oldest waiting one gives way");
        // Its hello arrives: both TLS slots are free, whatever waits.
        assert_eq!(a.hello_received(arrival.id, 10), Admit::Yes { evicted: vec![] });
        in_tls(&mut a, "198.51.100.8", "b", 10);
        assert_eq!(a.open_count(), 9);
    }

    #[test]
    fn a_young_handshake_outlasts_connections_sitting_after_theirs() {
        let mut a = Admission::<&str>::new(4);
        for (i, h) in ["s0", "s1", "s2", "s3"].into_iter().enumerate() {
            let id = in_tls(&mut a, &format!("192.0.2.{i}"), h, 0);
            a.handshake_done(id, 0);
        }
        // All four sit past their handshakes; none is stale yet: the newcomer is refused.
        let late = a.arrive(ip("198.51.100.7"), STALE_MS / 2).id;
        assert_eq!(a.hello_received(late, STALE_MS / 2), Admit::No);
        // Once they are stale, the oldest sitter gives way to the honest client.
        let honest = a.arrive(ip("198.51.100.7"), STALE_MS).id;
        a.set_handle(honest, "honest");
        assert_eq!(a.hello_received(honest, STALE_MS), Admit::Yes { evicted: vec!["s0"] });
        // The evicted sitter reconnects at once: another stale sitter gives way, not the
        // honest client in its handshake.
        let back = a.arrive(ip("192.0.2.0"), STALE_MS + 1).id;
        assert_eq!(a.hello_received(back, STALE_MS + 1), Admit::Yes { evicted: vec!["s1"] });
        // Past its grace, an unfinished handshake is the first to go.
        let next = a.arrive(ip("192.0.2.1"), STALE_MS + HANDSHAKE_GRACE_MS).id;
        assert_eq!(
            a.hello_received(next, STALE_MS + HANDSHAKE_GRACE_MS),
            Admit::Yes { evicted: vec!["honest"] }
        );
    }

    #[test]
    fn when_every_slot_is_a_young_handshake_the_oldest_gives_way() {
        let mut a = Admission::<&str>::new(2);
        in_tls(&mut a, "192.0.2.1", "h0", 0);
        in_tls(&mut a, "192.0.2.2", "h1", 1);
        let new = a.arrive(ip("192.0.2.3"), 2).id;
        assert_eq!(a.hello_received(new, 2), Admit::Yes { evicted: vec!["h0"] });
        assert_eq!(a.open_count(), 2);
    }

    #[test]
    fn one_source_holds_a_quarter_of_each_stage_and_evicts_only_its_own() {
        let mut a = Admission::new(16);
        let honest = in_tls(&mut a, "198.51.100.7", "honest", 0);
        for _ in 0..4 {
            in_tls(&mut a, "192.0.2.66", "flood", 0);
        }
        // The flooding address is at its share of 4 TLS slots: its fifth evicts its own oldest.
        let fifth = a.arrive(ip("192.0.2.66"), 0).id;
        assert_eq!(a.hello_received(fifth, 0), Admit::Yes { evicted: vec!["flood"] });
        assert_eq!(a.open_count(), 5);
        // Waiting for hellos, it holds a quarter of 64 places.
        let mut evicted = 0;
        for _ in 0..100 {
            evicted += a.arrive(ip("192.0.2.66"), 0).evicted.len();
        }
        assert_eq!(a.count(|e| e.stage == Stage::Hello), 16);
        assert_eq!(evicted, 0, "those evicted had no handle yet");
        assert!(a.open.iter().any(|e| e.id == honest));
    }

    #[test]
    fn a_connection_evicted_while_waiting_gets_no_slot() {
        let mut a = Admission::<&str>::new(1);
        let first = a.arrive(ip("192.0.2.1"), 0).id;
        a.set_handle(first, "first");
        // One slot, 4 places, 2 per source: the third from the same source evicts the first.
        let evicted: Vec<_> = (0..2).flat_map(|_| a.arrive(ip("192.0.2.1"), 0).evicted).collect();
        assert_eq!(evicted, ["first"]);
        assert_eq!(a.hello_received(first, 0), Admit::No);
        assert_eq!(a.open_count(), 2);
    }
}
