//! The server's NTS decision end to end without sockets: a client request built from a cookie
//! and C2S, the server's answer checked with S2C as a client would.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};

use stratum1_core::ntp::AccessList;
use stratum1_core::ntp::{DropReason, Outcome, RequestContext, Server};
use stratum1_core::nts::cookie::{self, CookieContents};
use stratum1_core::nts::ntp_auth::{client_read_response, client_request};
use stratum1_core::nts::CookieKeySet;
use stratum1_core::nts::NtsPolicy;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};
use stratum1_core::packet::{write_extension_field, Header, LeapIndicator, Mode, ReferenceId};
use stratum1_core::served::ServedClock;
use stratum1_core::time::{NtpShort, NtpTimestamp};

const T0: u64 = 1_800_000_000;
const CLIENT_TX: u64 = 0x1111_2222_3333_4444;

/// Deterministic but never-repeating bytes (a counter), so every nonce differs.
fn counting_random(buffer: &mut [u8]) -> bool {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    for chunk in buffer.chunks_mut(8) {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_be_bytes();
        chunk.copy_from_slice(&n[..chunk.len()]);
    }
    true
}

struct Fixture {
    server: Server,
    keys: Arc<RwLock<CookieKeySet>>,
}

fn fixture(require: bool) -> Fixture {
    let keys = Arc::new(RwLock::new(CookieKeySet::new(86_400, 1, [4; 32], T0)));
    let server = Server {
        access: AccessList::open(),
        rate: None,
        nts: Some(NtsPolicy { keys: keys.clone(), require, random: counting_random }),
    };
    Fixture { server, keys }
}

fn session(algorithm: AeadAlgorithm) -> CookieContents {
    let k = algorithm.key_len();
    CookieContents {
        c2s: AeadKey::new(algorithm, &vec![0xc2; k]).unwrap(),
        s2c: AeadKey::new(algorithm, &vec![0x52; k]).unwrap(),
    }
}

fn header() -> [u8; 48] {
    let mut out = [0u8; 48];
    Header {
        leap: LeapIndicator::Unsynchronised,
        version: 4,
        mode: Mode::Client,
        stratum: 0,
        poll: 4,
        precision: -20,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: ReferenceId::default(),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: NtpTimestamp::from_bits(CLIENT_TX),
    }
    .write(&mut out);
    out
}

fn clock() -> ServedClock {
    ServedClock {
        leap: LeapIndicator::NoWarning,
        stratum: 1,
        reference_id: ReferenceId(*b"PPS\0"),
        precision: -20,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::from_bits(10),
        reference_time: NtpTimestamp::from_bits(5 << 32),
    }
}

fn decide(server: &Server, request: &[u8]) -> (Outcome, Vec<u8>) {
    let ctx = RequestContext {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        received_at: NtpTimestamp::from_bits(7 << 32),
        monotonic_ms: 0,
    };
    let mut out = [0u8; 2048];
    let verdict = server.decide(request, ctx, &clock(), || NtpTimestamp::from_bits(8 << 32), &mut out);
    let len = verdict.response_len().unwrap_or(0);
    (verdict.outcome, out[..len].to_vec())
}

fn cookie_for(f: &Fixture, contents: &CookieContents) -> Vec<u8> {
    let mut out = Vec::new();
    cookie::seal(&f.keys.read().unwrap(), contents, [9; 16], &mut out);
    out
}

#[test]
fn authenticated_answers_for_every_algorithm_and_placeholder_count() {
    let f = fixture(false);
    for algorithm in AeadAlgorithm::ALL {
        let contents = session(algorithm);
        let cookie = cookie_for(&f, &contents);
        for placeholders in [0, 1, 3, 7, 9] {
            let nonce = vec![0xaa; algorithm.nonce_len()];
            let request =
                client_request(&header(), &[0x55; 32], &cookie, placeholders, &contents.c2s, &nonce);
            let (outcome, response) = decide(&f.server, &request);
            assert!(
                matches!(outcome, Outcome::AuthenticatedAnswer { .. }),
                "{algorithm:?} {placeholders}: {outcome:?}"
            );
            assert!(response.len() <= request.len(), "never larger than the request");
            let view = client_read_response(&response, &contents.s2c).expect("verifies under S2C");
            assert_eq!(view.unique_id, vec![0x55; 32]);
            assert_eq!(view.cookies.len(), (1 + placeholders).min(8));
            for fresh in &view.cookies {
                let opened = cookie::open(&f.keys.read().unwrap(), fresh).unwrap();
                assert_eq!(opened, contents, "fresh cookies carry the same session keys");
                assert_ne!(fresh, &cookie, "and are not the old cookie");
            }
            let distinct: std::collections::HashSet<_> = view.cookies.iter().collect();
            assert_eq!(distinct.len(), view.cookies.len(), "each fresh cookie is different");
            let head = Header::parse(&response).unwrap();
            assert_eq!((head.mode, head.stratum, head.version), (Mode::Server, 1, 4));
            assert_eq!(head.origin_time.to_bits(), CLIENT_TX);
            assert_eq!(head.transmit_time.to_bits(), 8 << 32);
            // A client with the wrong S2C key must not accept the answer.
            let wrong = AeadKey::new(algorithm, &vec![0x53; algorithm.key_len()]).unwrap();
            assert!(client_read_response(&response, &wrong).is_none());
        }
    }
}

#[test]
fn unknown_cookie_and_bad_authenticator_get_ntsn_with_the_unique_id() {
    let f = fixture(false);
    let contents = session(AeadAlgorithm::AesSivCmac256);
    let cookie = cookie_for(&f, &contents);
    let mut forged = cookie.clone();
    forged[30] ^= 1;
    let wrong_c2s = AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap();
    let cases = [
        client_request(&header(), &[0x66; 32], &forged, 0, &contents.c2s, &[1; 16]),
        client_request(&header(), &[0x66; 32], &cookie, 0, &wrong_c2s, &[1; 16]),
    ];
    for request in cases {
        let (outcome, response) = decide(&f.server, &request);
        assert!(matches!(outcome, Outcome::KissOfDeath { code: ReferenceId::NTSN, .. }), "{outcome:?}");
        let head = Header::parse(&response).unwrap();
        assert_eq!((head.stratum, head.reference_id), (0, ReferenceId::NTSN));
        assert_eq!(head.origin_time.to_bits(), CLIENT_TX);
        assert_eq!(&response[48..52], &[0x01, 0x04, 0, 36], "unique identifier echoed");
        assert_eq!(&response[52..84], &[0x66; 32]);
        assert_eq!(response.len(), 84, "no authenticator");
    }
}

#[test]
fn cookies_past_the_kept_window_get_ntsn() {
    let f = fixture(false);
    let contents = session(AeadAlgorithm::Aes128GcmSiv);
    let cookie = cookie_for(&f, &contents);
    let request = client_request(&header(), &[1; 32], &cookie, 0, &contents.c2s, &[2; 12]);
    f.keys.write().unwrap().advance(T0 + 86_400, || unreachable!());
    assert!(matches!(decide(&f.server, &request).0, Outcome::AuthenticatedAnswer { .. }), "one old key kept");
    f.keys.write().unwrap().advance(T0 + 2 * 86_400, || unreachable!());
    assert!(matches!(decide(&f.server, &request).0, Outcome::KissOfDeath { code: ReferenceId::NTSN, .. }));
}

#[test]
fn short_nonces_and_malformed_nts_fields_are_refused() {
    let f = fixture(false);
    let contents = session(AeadAlgorithm::AesSivCmac256);
    let cookie = cookie_for(&f, &contents);
    // RFC 8915 §5.6: with SIV the nonce (and padding) must be at least 16 bytes.
    let short = client_request(&header(), &[1; 32], &cookie, 0, &contents.c2s, &[2; 8]);
    assert!(matches!(decide(&f.server, &short).0, Outcome::KissOfDeath { code: ReferenceId::NTSN, .. }));
    // NTS fields without an authenticator, and a unique identifier of only 16 bytes.
    let field = |t: u16, value: &[u8]| {
        let mut out = vec![0u8; 4 + value.len() + 16];
        let n = write_extension_field(t, value, &mut out).unwrap();
        out.truncate(n);
        out
    };
    let no_auth = [&header()[..], &field(0x0104, &[1; 32]), &field(0x0204, &cookie)].concat();
    assert_eq!(decide(&f.server, &no_auth).0, Outcome::Drop(DropReason::NtsMalformed));
    let short_uid = [&header()[..], &field(0x0104, &[1; 16]), &field(0x0204, &cookie)].concat();
    assert_eq!(decide(&f.server, &short_uid).0, Outcome::Drop(DropReason::NtsMalformed));
}

#[test]
fn plain_ntp_is_served_unless_nts_is_required() {
    let request = header();
    assert_eq!(decide(&fixture(false).server, &request).0, Outcome::Answer { len: 48 });
    assert_eq!(decide(&fixture(true).server, &request).0, Outcome::Drop(DropReason::NtsRequired));
}
