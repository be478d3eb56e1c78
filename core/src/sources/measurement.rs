//! One exchange with an upstream server (pure): the request we sent and the answer that came
//! back become an offset and a delay, or the reason the answer must not be used.
//!
//! The request carries a random transmit timestamp (as chrony and ntpd-rs send), so the answer's
//! origin proves it answers this request and our clock is not disclosed; the local send and
//! receive instants are kept here instead.

use crate::filter::Nanos;
use crate::packet::{Header, LeapIndicator, Mode, ReferenceId, HEADER_LEN};
use crate::time::NtpTimestamp;

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// RFC 5905's MAXDIST: a source whose root distance exceeds this is not a time source.
pub const MAX_ROOT_DISTANCE_NS: f64 = 1.5e9;

/// What we sent: the value in the transmit field, and our clock when it left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentRequest {
    pub transmit: NtpTimestamp,
    pub sent_at: Nanos,
}

impl SentRequest {
    /// The 48-byte client header (mode 3, version 4) for this request.
    pub fn header(&self, poll: i8) -> [u8; HEADER_LEN] {
        let header = Header {
            leap: LeapIndicator::Unsynchronised,
            version: 4,
            mode: Mode::Client,
            stratum: 0,
            poll,
            precision: 0,
            root_delay: Default::default(),
            root_dispersion: Default::default(),
            reference_id: ReferenceId::default(),
            reference_time: NtpTimestamp::ZERO,
            origin_time: NtpTimestamp::ZERO,
            receive_time: NtpTimestamp::ZERO,
            transmit_time: self.transmit,
        };
        let mut out = [0u8; HEADER_LEN];
        header.write(&mut out);
        out
    }
}

/// A usable answer. Offsets follow chronyc's sign: our clock minus the server's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// Our clock when the answer arrived.
    pub at: Nanos,
    /// Our clock minus the server's, ns.
    pub offset_ns: f64,
    /// Round trip less the server's processing, ns (never negative).
    pub delay_ns: f64,
    pub stratum: u8,
    pub leap: LeapIndicator,
    pub reference_id: ReferenceId,
    pub precision: i8,
    /// The server's own distance to its reference.
    pub root_delay_ns: f64,
    pub root_dispersion_ns: f64,
}

impl Measurement {
    /// A stratum-1 server's answer with 10 us of root dispersion: what the simulation's
    /// source and the tests answer.
    pub fn stratum_one(at: Nanos, offset_ns: f64, delay_ns: f64) -> Measurement {
        Measurement {
            at,
            offset_ns,
            delay_ns,
            stratum: 1,
            leap: LeapIndicator::NoWarning,
            reference_id: ReferenceId(*b"GPS\0"),
            precision: -20,
            root_delay_ns: 0.0,
            root_dispersion_ns: 10_000.0,
        }
    }
}

/// Why an answer was not used; each is counted per source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadAnswer {
    /// Not an NTP header, or a zero receive/transmit timestamp.
    Malformed,
    /// Not mode 4 (server).
    WrongMode,
    /// The origin timestamp is not our request's: late, duplicated or forged.
    WrongOrigin,
    /// Stratum 0: a kiss-o'-death with this code.
    KissOfDeath([u8; 4]),
    /// LI 3 or stratum 16: the server has no time to give.
    Unsynchronised,
    /// The NTS authenticator or unique identifier did not verify.
    BadAuthentication,
    /// A round trip or root distance no time source can have.
    AbsurdDelay,
}

impl BadAnswer {
    /// A short name for counters and metrics labels.
    pub fn name(&self) -> &'static str {
        match self {
            BadAnswer::Malformed => "malformed",
            BadAnswer::WrongMode => "wrong_mode",
            BadAnswer::WrongOrigin => "wrong_origin",
            BadAnswer::KissOfDeath(_) => "kiss_of_death",
            BadAnswer::Unsynchronised => "unsynchronised",
            BadAnswer::BadAuthentication => "bad_authentication",
            BadAnswer::AbsurdDelay => "absurd_delay",
        }
    }

    pub const NAMES: [&'static str; 7] = [
        "malformed",
        "wrong_mode",
        "wrong_origin",
        "kiss_of_death",
        "unsynchronised",
        "bad_authentication",
        "absurd_delay",
    ];
}

/// Reads the header of an answer to `sent` that arrived at our clock's `received_at`.
/// `max_delay_ns` bounds the round trip (a LAN or internet path never takes seconds).
pub fn read_answer(
    datagram: &[u8],
    sent: &SentRequest,
    received_at: Nanos,
    max_delay_ns: f64,
) -> Result<Measurement, BadAnswer> {
    let header = Header::parse(datagram).map_err(|_| BadAnswer::Malformed)?;
    if header.mode != Mode::Server {
        return Err(BadAnswer::WrongMode);
    }
    if header.origin_time != sent.transmit {
        return Err(BadAnswer::WrongOrigin);
    }
    if header.stratum == 0 {
        return Err(BadAnswer::KissOfDeath(header.reference_id.0));
    }
    if header.leap == LeapIndicator::Unsynchronised || header.stratum >= 16 {
        return Err(BadAnswer::Unsynchronised);
    }
    if header.receive_time == NtpTimestamp::ZERO || header.transmit_time == NtpTimestamp::ZERO {
        return Err(BadAnswer::Malformed);
    }
    let pivot = sent.sent_at.div_euclid(NANOS_PER_SEC);
    // Differences in integers: Unix nanoseconds are beyond an f64's exact range.
    let t1 = sent.sent_at;
    let t2 = unix_nanos(header.receive_time, pivot);
    let t3 = unix_nanos(header.transmit_time, pivot);
    let t4 = received_at;
    // RFC 5905 §8, with the sign turned to "ours minus theirs".
    let offset_ns = (t1.saturating_sub(t2) as f64 + t4.saturating_sub(t3) as f64) / 2.0;
    let delay_ns = (t4.saturating_sub(t1) as f64 - t3.saturating_sub(t2) as f64).max(0.0);
    let root_delay_ns = header.root_delay.to_nanos() as f64;
    let root_dispersion_ns = header.root_dispersion.to_nanos() as f64;
    let distance = delay_ns / 2.0 + root_delay_ns / 2.0 + root_dispersion_ns;
    if t4 < t1 || delay_ns > max_delay_ns || distance > MAX_ROOT_DISTANCE_NS {
        return Err(BadAnswer::AbsurdDelay);
    }
    Ok(Measurement {
        at: received_at,
        offset_ns,
        delay_ns,
        stratum: header.stratum,
        leap: header.leap,
        reference_id: header.reference_id,
        precision: header.precision,
        root_delay_ns,
        root_dispersion_ns,
    })
}

fn unix_nanos(t: NtpTimestamp, pivot_unix_s: i64) -> Nanos {
    let (s, ns) = t.to_unix_near(pivot_unix_s);
    s.saturating_mul(NANOS_PER_SEC).saturating_add(i64::from(ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::NtpShort;

    const T1: Nanos = 1_795_000_000 * NANOS_PER_SEC;

    fn sent() -> SentRequest {
        SentRequest { transmit: NtpTimestamp::from_bits(0x1234_5678_9abc_def0), sent_at: T1 }
    }

    /// A server answer whose clock is `ahead_ns` ahead of ours, `one_way_ns` away each way.
    fn answer(ahead_ns: i64, one_way_ns: i64) -> Vec<u8> {
        let at = |t: Nanos| {
            NtpTimestamp::from_unix(t.div_euclid(NANOS_PER_SEC), t.rem_euclid(NANOS_PER_SEC) as u32)
        };
        let header = Header {
            leap: LeapIndicator::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 1,
            poll: 4,
            precision: -20,
            root_delay: NtpShort::from_nanos_ceil(1_000),
            root_dispersion: NtpShort::from_nanos_ceil(20_000),
            reference_id: ReferenceId(*b"GPS\0"),
            reference_time: at(T1),
            origin_time: sent().transmit,
            receive_time: at(T1 + one_way_ns + ahead_ns),
            transmit_time: at(T1 + one_way_ns + 10_000 + ahead_ns),
        };
        let mut out = [0u8; HEADER_LEN];
        header.write(&mut out);
        out.to_vec()
    }

    fn received(one_way_ns: i64) -> Nanos {
        T1 + 2 * one_way_ns + 10_000
    }

    #[test]
    fn offset_is_ours_minus_theirs_and_delay_excludes_the_server() {
        let m = read_answer(&answer(3_000_000, 200_000), &sent(), received(200_000), 1e9).unwrap();
        assert!((m.offset_ns + 3_000_000.0).abs() < 2.0, "{}", m.offset_ns);
        assert!((m.delay_ns - 400_000.0).abs() < 2.0, "{}", m.delay_ns);
        assert_eq!((m.stratum, m.reference_id), (1, ReferenceId(*b"GPS\0")));
        assert!(m.root_dispersion_ns >= 20_000.0);
    }

    #[test]
    fn an_answer_to_another_request_is_refused() {
        let mut other = sent();
        other.transmit = NtpTimestamp::from_bits(1);
        assert_eq!(read_answer(&answer(0, 1_000), &other, received(1_000), 1e9), Err(BadAnswer::WrongOrigin));
    }

    #[test]
    fn kiss_of_death_unsynchronised_wrong_mode_and_short_packets_are_refused() {
        let mut kod = answer(0, 1_000);
        kod[1] = 0;
        kod[12..16].copy_from_slice(b"RATE");
        assert_eq!(read_answer(&kod, &sent(), received(1_000), 1e9), Err(BadAnswer::KissOfDeath(*b"RATE")));
        let mut unsync = answer(0, 1_000);
        unsync[0] |= 0b1100_0000;
        assert_eq!(read_answer(&unsync, &sent(), received(1_000), 1e9), Err(BadAnswer::Unsynchronised));
        let mut stratum16 = answer(0, 1_000);
        stratum16[1] = 16;
        assert_eq!(read_answer(&stratum16, &sent(), received(1_000), 1e9), Err(BadAnswer::Unsynchronised));
        let mut client = answer(0, 1_000);
        client[0] = (client[0] & !0b111) | 3;
        assert_eq!(read_answer(&client, &sent(), received(1_000), 1e9), Err(BadAnswer::WrongMode));
        assert_eq!(read_answer(&[0u8; 20], &sent(), received(1_000), 1e9), Err(BadAnswer::Malformed));
    }

    #[test]
    fn absurd_round_trips_are_refused() {
        assert_eq!(
            read_answer(&answer(0, 2_000_000_000), &sent(), received(2_000_000_000), 3e9),
            Err(BadAnswer::AbsurdDelay),
            "a 4 s round trip is over the 1.5 s distance"
        );
        assert_eq!(
            read_answer(&answer(0, 100_000_000), &sent(), received(100_000_000), 50e6),
            Err(BadAnswer::AbsurdDelay)
        );
        assert_eq!(read_answer(&answer(0, 1_000), &sent(), T1 - 1, 1e9), Err(BadAnswer::AbsurdDelay));
    }

    #[test]
    fn the_request_carries_only_the_random_transmit() {
        let h = Header::parse(&sent().header(4)).unwrap();
        assert_eq!((h.mode, h.version, h.poll), (Mode::Client, 4, 4));
        assert_eq!(h.transmit_time, sent().transmit);
        assert_eq!(
            (h.origin_time, h.receive_time, h.reference_time),
            (NtpTimestamp::ZERO, NtpTimestamp::ZERO, NtpTimestamp::ZERO)
        );
    }
}
