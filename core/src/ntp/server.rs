//! The server's decision (pure): one request datagram, its client, its receive time and the
//! served clock state in; response bytes or a drop reason out. No sockets, no clock reads: the
//! transmit timestamp comes from a closure called as the last step, so it is taken as late as
//! the caller can make it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use super::access::AccessList;
use super::rate_limit::RateLimiter;
use crate::nts::ntp_auth::{self, NtsFields, NtsRequest, RANDOM_BYTES_PER_RESPONSE};
use crate::nts::NtsPolicy;
use crate::packet::{Header, LeapIndicator, Mode, Packet, ReferenceId, HEADER_LEN};
use crate::served::ServedClock;
use crate::time::{NtpShort, NtpTimestamp};

/// Why a datagram got no answer. Counted separately so an operator can see what arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not a well-formed NTP packet (too short, broken extension fields).
    Malformed,
    /// Version 0 or 5–7.
    UnsupportedVersion,
    /// Mode 6 (ntpq control): never answered from the network.
    ControlMode,
    /// Mode 7 (ntpdc private, monlist): never answered.
    PrivateMode,
    /// Any other mode than a client request (symmetric, server, broadcast, reserved).
    NotARequest,
    /// A legacy symmetric-key MAC: this server holds no such keys.
    SymmetricKey,
    /// Excluded by the allow/deny lists.
    Denied,
    /// Over its rate, and not picked for a `RATE` kiss-o'-death.
    RateLimited,
    /// Plain NTP while the server requires NTS.
    NtsRequired,
    /// NTS fields that do not form an NTS request, or no room to answer one.
    NtsMalformed,
    /// Longer than any request this server reads (`udp_sys::DATAGRAM_MAX`): cut by the kernel.
    Oversized,
}

impl DropReason {
    pub const COUNT: usize = 11;
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Malformed,
        DropReason::UnsupportedVersion,
        DropReason::ControlMode,
        DropReason::PrivateMode,
        DropReason::NotARequest,
        DropReason::SymmetricKey,
        DropReason::Denied,
        DropReason::RateLimited,
        DropReason::NtsRequired,
        DropReason::NtsMalformed,
        DropReason::Oversized,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnsupportedVersion => "unsupported_version",
            DropReason::ControlMode => "control_mode",
            DropReason::PrivateMode => "private_mode",
            DropReason::NotARequest => "not_a_request",
            DropReason::SymmetricKey => "symmetric_key",
            DropReason::Denied => "denied",
            DropReason::RateLimited => "rate_limited",
            DropReason::NtsRequired => "nts_required",
            DropReason::NtsMalformed => "nts_malformed",
            DropReason::Oversized => "oversized",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A mode-4 response of `len` bytes was written to the output buffer.
    Answer {
        len: usize,
    },
    /// An NTS-authenticated mode-4 response of `len` bytes.
    AuthenticatedAnswer {
        len: usize,
    },
    /// A kiss-o'-death of `len` bytes was written to the output buffer.
    KissOfDeath {
        len: usize,
        code: ReferenceId,
    },
    Drop(DropReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// The request's version, when the header could be read.
    pub version: Option<u8>,
}

impl Verdict {
    pub fn dropped(reason: DropReason, version: Option<u8>) -> Self {
        Verdict { outcome: Outcome::Drop(reason), version }
    }

    /// The response length, if there is a response to send.
    pub fn response_len(&self) -> Option<usize> {
        match self.outcome {
            Outcome::Answer { len }
            | Outcome::AuthenticatedAnswer { len }
            | Outcome::KissOfDeath { len, .. } => Some(len),
            Outcome::Drop(_) => None,
        }
    }
}

/// Rate limiting with its kiss-o'-death policy.
pub struct RatePolicy {
    pub limiter: RateLimiter,
    /// One over-rate request in this many gets a `RATE` kiss-o'-death; the rest are dropped.
    pub kiss_of_death_one_in: u32,
    over_rate_seen: AtomicU32,
}

impl RatePolicy {
    pub fn new(limiter: RateLimiter, kiss_of_death_one_in: u32) -> Self {
        RatePolicy {
            limiter,
            kiss_of_death_one_in: kiss_of_death_one_in.max(1),
            over_rate_seen: AtomicU32::new(0),
        }
    }

    fn pick_for_kiss_of_death(&self) -> bool {
        let n = self.over_rate_seen.fetch_add(1, Ordering::Relaxed);
        n.is_multiple_of(self.kiss_of_death_one_in)
    }
}

/// The serving policy: who is served, how often, and whether NTS is spoken.
pub struct Server {
    pub access: AccessList,
    pub rate: Option<RatePolicy>,
    pub nts: Option<NtsPolicy>,
}

/// Inputs of one decision besides the request bytes.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext {
    pub client: IpAddr,
    /// When the request arrived (kernel receive timestamp when available).
    pub received_at: NtpTimestamp,
    /// A monotonic millisecond clock for the rate limiter.
    pub monotonic_ms: u32,
}

impl Server {
    /// Gets ready for requests from `clients` that [`Self::decide`] will take soon: a shell
    /// that holds a batch of requests passes their senders first (see [`RateLimiter::warm`]).
    pub fn warm(&self, clients: &[IpAddr]) {
        if let Some(rate) = &self.rate {
            rate.limiter.warm(clients);
        }
    }

    /// Decides what to do with `request`. A response is written to the start of `out` (which
    /// must hold at least 48 bytes) and is never larger than the request.
    pub fn decide(
        &self,
        request: &[u8],
        ctx: RequestContext,
        clock: &ServedClock,
        transmit_time: impl FnOnce() -> NtpTimestamp,
        out: &mut [u8],
    ) -> Verdict {
        // ntpq's mode-6 and ntpdc's mode-7 probes (12, 8 or 192 bytes: shorter than an NTP
        // header) are counted as what they are, whatever their length.
        if let Some(&first) = request.first() {
            let version = Some((first >> 3) & 7);
            match first & 7 {
                6 => return Verdict::dropped(DropReason::ControlMode, version),
                7 => return Verdict::dropped(DropReason::PrivateMode, version),
                _ => {}
            }
        }
        let packet = match Packet::parse(request) {
            Ok(p) => p,
            Err(_) => {
                let version = request.first().map(|b| (b >> 3) & 7);
                return Verdict::dropped(DropReason::Malformed, version);
            }
        };
        let req = packet.header;
        let version = Some(req.version);
        match req.mode {
            Mode::Client => {}
            Mode::Control => return Verdict::dropped(DropReason::ControlMode, version),
            Mode::Private => return Verdict::dropped(DropReason::PrivateMode, version),
            _ => return Verdict::dropped(DropReason::NotARequest, version),
        }
        if !(1..=4).contains(&req.version) {
            return Verdict::dropped(DropReason::UnsupportedVersion, version);
        }
        if packet.mac.is_some() {
            return Verdict::dropped(DropReason::SymmetricKey, version);
        }
        if !self.access.permits(ctx.client) {
            return Verdict::dropped(DropReason::Denied, version);
        }
        if out.len() < HEADER_LEN {
            return Verdict::dropped(DropReason::Malformed, version);
        }
        if let Some(rate) = &self.rate {
            if !rate.limiter.admit(ctx.client, ctx.monotonic_ms) {
                if !rate.pick_for_kiss_of_death() {
                    return Verdict::dropped(DropReason::RateLimited, version);
                }
                kiss_of_death(&req, ReferenceId::RATE, ctx.received_at, clock.precision, transmit_time())
                    .write(header_slot(out));
                return Verdict {
                    outcome: Outcome::KissOfDeath { len: HEADER_LEN, code: ReferenceId::RATE },
                    version,
                };
            }
        }
        if packet.has_extensions() || self.nts.as_ref().is_some_and(|n| n.require) {
            if let Some(nts) = &self.nts {
                match ntp_auth::read_fields(&packet) {
                    NtsFields::Present(fields) => {
                        return answer_nts(nts, &fields, request, &req, ctx, clock, transmit_time, out);
                    }
                    NtsFields::Malformed(_) => return Verdict::dropped(DropReason::NtsMalformed, version),
                    NtsFields::Absent if nts.require => {
                        return Verdict::dropped(DropReason::NtsRequired, version)
                    }
                    NtsFields::Absent => {}
                }
            }
        }
        let out = header_slot(out);
        let mut response = response_header(&req, ctx, clock);
        response.transmit_time = transmit_time();
        response.write(out);
        Verdict { outcome: Outcome::Answer { len: HEADER_LEN }, version }
    }
}

/// A mode-4 header for `req`; the caller sets the transmit time last.
fn response_header(req: &Header, ctx: RequestContext, clock: &ServedClock) -> Header {
    Header {
        leap: clock.leap,
        version: req.version,
        mode: Mode::Server,
        stratum: clock.stratum,
        poll: req.poll,
        precision: clock.precision,
        root_delay: clock.root_delay,
        root_dispersion: clock.root_dispersion,
        reference_id: clock.reference_id,
        reference_time: clock.reference_time,
        origin_time: req.transmit_time,
        receive_time: ctx.received_at,
        transmit_time: NtpTimestamp::ZERO,
    }
}

/// The first 48 bytes of an output buffer already checked to be at least that long.
fn header_slot(out: &mut [u8]) -> &mut [u8; HEADER_LEN] {
    let slot: Option<&mut [u8; HEADER_LEN]> = out.get_mut(..HEADER_LEN).and_then(|o| o.try_into().ok());
    slot.unwrap_or_else(|| unreachable!("decide checks the output length first"))
}

/// Answers a request that carries NTS fields: an authenticated response, or `NTSN` when its
/// cookie or authenticator does not verify.
#[allow(clippy::too_many_arguments)]
fn answer_nts(
    nts: &NtsPolicy,
    fields: &NtsRequest<'_>,
    request: &[u8],
    req: &Header,
    ctx: RequestContext,
    clock: &ServedClock,
    transmit_time: impl FnOnce() -> NtpTimestamp,
    out: &mut [u8],
) -> Verdict {
    let version = Some(req.version);
    let keys = nts.keys();
    let verified = match ntp_auth::verify(fields, request, &keys) {
        Ok(verified) => verified,
        Err(_) => {
            let code = ReferenceId::NTSN;
            kiss_of_death(req, code, ctx.received_at, clock.precision, transmit_time())
                .write(header_slot(out));
            return match ntp_auth::write_nak_fields(fields.unique_id_field, out) {
                Some(len) if len <= request.len() => {
                    Verdict { outcome: Outcome::KissOfDeath { len, code }, version }
                }
                _ => Verdict::dropped(DropReason::NtsMalformed, version),
            };
        }
    };
    let mut random = [0u8; RANDOM_BYTES_PER_RESPONSE];
    if !(nts.random)(&mut random[..verified.random_len()]) {
        tracing::warn!("no randomness for an NTS response; not answering");
        return Verdict::dropped(DropReason::NtsMalformed, version);
    }
    let mut response = response_header(req, ctx, clock);
    response.transmit_time = transmit_time();
    response.write(header_slot(out));
    match ntp_auth::write_response(&verified, fields.unique_id_field, &keys, request.len(), &random, out) {
        Some(len) => Verdict { outcome: Outcome::AuthenticatedAnswer { len }, version },
        None => Verdict::dropped(DropReason::NtsMalformed, version),
    }
}

/// A kiss-o'-death (RFC 5905 §7.4): stratum 0, the kiss code as reference id, and the client's
/// transmit time as origin so the client can tell it is a reply to its own request.
pub fn kiss_of_death(
    request: &Header,
    code: ReferenceId,
    received_at: NtpTimestamp,
    precision: i8,
    transmit_time: NtpTimestamp,
) -> Header {
    Header {
        leap: LeapIndicator::Unsynchronised,
        version: request.version,
        mode: Mode::Server,
        stratum: 0,
        poll: request.poll,
        precision,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: code,
        reference_time: NtpTimestamp::ZERO,
        origin_time: request.transmit_time,
        receive_time: received_at,
        transmit_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp::rate_limit::RateLimitSettings;
    use crate::packet::{request_bytes, write_extension_field};

    const CLIENT_TX: u64 = 0xe0e0_e0e0_1234_5678;

    fn request(version: u8, mode: Mode) -> Vec<u8> {
        request_bytes(version, mode, 0, CLIENT_TX).to_vec()
    }

    fn clock() -> ServedClock {
        ServedClock {
            leap: LeapIndicator::NoWarning,
            stratum: 1,
            reference_id: ReferenceId(*b"GPS\0"),
            precision: -22,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::from_bits(3),
            reference_time: NtpTimestamp::from_bits(0xaaaa_0000_0000_0000),
        }
    }

    fn open_server() -> Server {
        Server { access: AccessList::open(), rate: None, nts: None }
    }

    fn ctx(client: &str) -> RequestContext {
        RequestContext {
            client: client.parse().unwrap(),
            received_at: NtpTimestamp::from_bits(0xbbbb_0000_0000_0001),
            monotonic_ms: 1000,
        }
    }

    const TX: NtpTimestamp = NtpTimestamp::from_bits(0xbbbb_0000_0000_0002);

    fn decide(server: &Server, req: &[u8], client: &str) -> (Verdict, [u8; 256]) {
        let mut out = [0u8; 256];
        let v = server.decide(req, ctx(client), &clock(), || TX, &mut out);
        (v, out)
    }

    #[test]
    fn answers_versions_1_to_4_in_their_own_version() {
        for version in 1..=4 {
            let req = request(version, Mode::Client);
            let (verdict, out) = decide(&open_server(), &req, "192.0.2.1");
            assert_eq!(verdict.outcome, Outcome::Answer { len: 48 });
            assert_eq!(verdict.version, Some(version));
            let resp = Header::parse(&out).unwrap();
            assert_eq!(resp.version, version);
            assert_eq!(resp.mode, Mode::Server);
            assert_eq!(resp.stratum, 1);
            assert_eq!(resp.reference_id, ReferenceId(*b"GPS\0"));
            assert_eq!(resp.precision, -22);
            assert_eq!(resp.root_dispersion.to_bits(), 3);
            assert_eq!(resp.poll, 6, "the client's poll is echoed");
            assert_eq!(resp.origin_time.to_bits(), CLIENT_TX);
            assert_eq!(resp.receive_time, ctx("192.0.2.1").received_at);
            assert_eq!(resp.transmit_time, TX);
            assert_eq!(resp.reference_time, clock().reference_time);
        }
    }

    #[test]
    fn drops_other_versions() {
        for version in [0, 5, 6, 7] {
            let (verdict, _) = decide(&open_server(), &request(version, Mode::Client), "192.0.2.1");
            assert_eq!(verdict.outcome, Outcome::Drop(DropReason::UnsupportedVersion));
        }
    }

    #[test]
    fn drops_every_mode_but_client() {
        let expected = [
            (Mode::Reserved, DropReason::NotARequest),
            (Mode::SymmetricActive, DropReason::NotARequest),
            (Mode::SymmetricPassive, DropReason::NotARequest),
            (Mode::Server, DropReason::NotARequest),
            (Mode::Broadcast, DropReason::NotARequest),
            (Mode::Control, DropReason::ControlMode),
            (Mode::Private, DropReason::PrivateMode),
        ];
        for (mode, reason) in expected {
            let (verdict, _) = decide(&open_server(), &request(2, mode), "192.0.2.1");
            assert_eq!(verdict.outcome, Outcome::Drop(reason), "{mode:?}");
        }
    }

    #[test]
    fn short_control_and_private_probes_are_counted_as_such() {
        // ntpq's 12-byte READVAR (mode 6, v2) and ntpdc's 8-byte monlist probe (mode 7, v2).
        for (probe, reason) in [
            (&[0x16u8, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0][..], DropReason::ControlMode),
            (&[0x17u8, 0x00, 0x03, 0x2a, 0, 0, 0, 0][..], DropReason::PrivateMode),
        ] {
            let (verdict, _) = decide(&open_server(), probe, "192.0.2.1");
            assert_eq!(verdict.outcome, Outcome::Drop(reason), "{probe:?}");
        }
    }

    #[test]
    fn drops_truncated_and_garbage() {
        let req = request(4, Mode::Client);
        for len in 0..48 {
            let (verdict, _) = decide(&open_server(), &req[..len], "192.0.2.1");
            assert_eq!(verdict.outcome, Outcome::Drop(DropReason::Malformed));
        }
        let mut garbage = req.clone();
        garbage.extend_from_slice(&[0xff; 17]);
        assert_eq!(
            decide(&open_server(), &garbage, "192.0.2.1").0.outcome,
            Outcome::Drop(DropReason::Malformed)
        );
    }

    #[test]
    fn unknown_extension_fields_are_ignored_and_the_answer_is_no_larger() {
        let mut req = request(4, Mode::Client);
        let mut field = [0u8; 64];
        let n = write_extension_field(0x7777, &[1u8; 40], &mut field).unwrap();
        req.extend_from_slice(&field[..n]);
        let (verdict, _) = decide(&open_server(), &req, "192.0.2.1");
        assert_eq!(verdict.outcome, Outcome::Answer { len: 48 });
    }

    #[test]
    fn symmetric_key_requests_are_dropped() {
        let mut req = request(3, Mode::Client);
        req.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            decide(&open_server(), &req, "192.0.2.1").0.outcome,
            Outcome::Drop(DropReason::SymmetricKey)
        );
    }

    #[test]
    fn response_is_never_larger_than_request() {
        // Every 48..=200 byte request that is answered is answered with at most its own size.
        let server = open_server();
        for extra in (0..=152).step_by(4) {
            let mut req = request(4, Mode::Client);
            req.extend(std::iter::repeat_n(0u8, extra));
            if extra >= 16 {
                req[49..50].copy_from_slice(&[1]);
                req[50..52].copy_from_slice(&(extra as u16).to_be_bytes());
            }
            let (verdict, _) = decide(&server, &req, "192.0.2.1");
            if let Some(len) = verdict.response_len() {
                assert!(len <= req.len());
            }
        }
    }

    #[test]
    fn denied_clients_are_dropped() {
        let server = Server {
            access: AccessList::new(
                vec!["10.0.0.0/8".parse().unwrap()],
                vec!["10.9.0.0/16".parse().unwrap()],
            ),
            rate: None,
            nts: None,
        };
        let req = request(4, Mode::Client);
        assert_eq!(decide(&server, &req, "10.1.2.3").0.outcome, Outcome::Answer { len: 48 });
        assert_eq!(decide(&server, &req, "10.9.2.3").0.outcome, Outcome::Drop(DropReason::Denied));
        assert_eq!(decide(&server, &req, "192.0.2.1").0.outcome, Outcome::Drop(DropReason::Denied));
    }

    #[test]
    fn over_rate_gets_rate_kod_one_in_n_and_others_still_answered() {
        let limiter = RateLimiter::new(RateLimitSettings {
            max_rate: 1.0,
            burst: 2,
            ipv6_prefix: 64,
            table_entries: 64,
        });
        let server =
            Server { access: AccessList::open(), rate: Some(RatePolicy::new(limiter, 4)), nts: None };
        let req = request(4, Mode::Client);
        let mut outcomes = Vec::new();
        for _ in 0..10 {
            let (verdict, out) = decide(&server, &req, "192.0.2.1");
            if let Outcome::KissOfDeath { .. } = verdict.outcome {
                let kod = Header::parse(&out).unwrap();
                assert_eq!((kod.stratum, kod.reference_id), (0, ReferenceId::RATE));
                assert_eq!(kod.origin_time.to_bits(), CLIENT_TX);
                assert_eq!(kod.leap, LeapIndicator::Unsynchronised);
            }
            outcomes.push(verdict.outcome);
        }
        let answered = outcomes.iter().filter(|o| matches!(o, Outcome::Answer { .. })).count();
        let kods = outcomes.iter().filter(|o| matches!(o, Outcome::KissOfDeath { .. })).count();
        let dropped = outcomes.iter().filter(|o| **o == Outcome::Drop(DropReason::RateLimited)).count();
        assert_eq!((answered, kods, dropped), (2, 2, 6));
        assert_eq!(decide(&server, &req, "192.0.2.2").0.outcome, Outcome::Answer { len: 48 });
    }

    #[test]
    fn output_buffer_too_small_is_not_a_panic() {
        let mut out = [0u8; 10];
        let v = open_server().decide(&request(4, Mode::Client), ctx("192.0.2.1"), &clock(), || TX, &mut out);
        assert_eq!(v.outcome, Outcome::Drop(DropReason::Malformed));
    }
}
