//! The server's NTP and NTS decision in a loop, without sockets: nanoseconds per request for
//! plain NTP and for NTS with each AEAD, and the NTS parts alone (cookie open, request
//! verification, fresh-cookie seal, answer seal). Where the authenticated work goes; the
//! serving benchmark (`stratum1-bench --mode nts`) says what it costs beside chrony. The
//! randomness is the daemon's own (a per-thread keystream), so the figures include it.
//!
//! Usage: nts_decision [--iterations N] [--placeholders P]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use stratum1_core::ntp::AccessList;
use stratum1_core::ntp::{Outcome, RequestContext, Server};
use stratum1_core::nts::cookie::{self, CookieContents};
use stratum1_core::nts::ntp_auth::{self, client_request, NtsFields, RANDOM_BYTES_PER_RESPONSE};
use stratum1_core::nts::CookieKeySet;
use stratum1_core::nts::NtsPolicy;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};
use stratum1_core::packet::{Header, LeapIndicator, Mode, Packet, ReferenceId};
use stratum1_core::served::ServedClock;
use stratum1_core::time::{NtpShort, NtpTimestamp};

const T0: u64 = 1_800_000_000;

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
        transmit_time: NtpTimestamp::from_bits(0x1111_2222_3333_4444),
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

/// Nanoseconds per call of `f`, the best of 5 runs of `n` calls (the least disturbed).
fn time(n: u64, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut iterations = 200_000u64;
    let mut placeholders = 0usize;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), number) {
            ("--iterations", Some(v)) => iterations = v.clamp(1_000, 100_000_000),
            ("--placeholders", Some(v)) => placeholders = v.min(7) as usize,
            // One algorithm only, so that an instruction counter (callgrind) sees its requests alone.
            ("--only", _) if value.as_deref().and_then(AeadAlgorithm::from_name).is_some() => {
                only = value.as_deref().and_then(AeadAlgorithm::from_name)
            }
            _ => {
                eprintln!(
                    "usage: nts_decision [--iterations N] [--placeholders P] [--only AES-SIV-CMAC-256|…]"
                );
                std::process::exit(2);
            }
        }
    }
    let keys = Arc::new(RwLock::new(CookieKeySet::new(86_400, 1, [4; 32], T0)));
    let server = Server {
        access: AccessList::open(),
        rate: None,
        nts: Some(NtsPolicy { keys: keys.clone(), require: false, random: stratum1::nts::os_random }),
    };
    let ctx = RequestContext {
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        received_at: NtpTimestamp::from_bits(7 << 32),
        monotonic_ms: 0,
    };
    let served = clock();
    let mut out = [0u8; 2048];
    let mut decide = |request: &[u8]| {
        let verdict =
            server.decide(black_box(request), ctx, &served, || NtpTimestamp::from_bits(8 << 32), &mut out);
        black_box(verdict.response_len());
        verdict.outcome
    };

    let plain = header();
    let plain_ns = time(iterations, || {
        decide(&plain);
    });
    println!("decision per request, best of 5 × {iterations}, {placeholders} placeholder(s):");
    println!("  plain NTP                  {plain_ns:>7.0} ns");
    for algorithm in AeadAlgorithm::ALL.into_iter().filter(|a| only.is_none_or(|o| o == *a)) {
        let k = algorithm.key_len();
        let contents = CookieContents {
            c2s: AeadKey::new(algorithm, &vec![0xc2; k]).unwrap_or_else(|e| panic!("{e}")),
            s2c: AeadKey::new(algorithm, &vec![0x52; k]).unwrap_or_else(|e| panic!("{e}")),
        };
        let mut cookie = Vec::new();
        cookie::seal(&keys.read().unwrap_or_else(|p| p.into_inner()), &contents, [9; 16], &mut cookie);
        let nonce = vec![0xaa; algorithm.nonce_len()];
        let request = client_request(&header(), &[0x55; 32], &cookie, placeholders, &contents.c2s, &nonce);
        if !matches!(decide(&request), Outcome::AuthenticatedAnswer { .. }) {
            eprintln!("{}: the request was not answered with authentication", algorithm.name());
            std::process::exit(1);
        }
        let nts_ns = time(iterations, || {
            decide(&request);
        });

        // The parts, each alone.
        let key_set = keys.read().unwrap_or_else(|p| p.into_inner());
        let Ok(packet) = Packet::parse(&request) else { unreachable!("the request was answered") };
        let NtsFields::Present(fields) = ntp_auth::read_fields(&packet) else { unreachable!() };
        let open_ns = time(iterations, || {
            black_box(cookie::open(&key_set, black_box(fields.cookie)).is_ok());
        });
        let verify_ns = time(iterations, || {
            black_box(ntp_auth::verify(&fields, &request, &key_set).is_ok());
        });
        let mut sealed = Vec::with_capacity(cookie::MAX_COOKIE_LEN);
        let seal_ns = time(iterations, || {
            sealed.clear();
            cookie::seal(&key_set, &contents, black_box([7; 16]), &mut sealed);
        });
        let Ok(verified) = ntp_auth::verify(&fields, &request, &key_set) else { unreachable!() };
        let random = [3u8; RANDOM_BYTES_PER_RESPONSE];
        let mut response = [0u8; 2048];
        let write_ns = time(iterations, || {
            black_box(ntp_auth::write_response(
                &verified,
                fields.unique_id_field,
                &key_set,
                request.len(),
                &random,
                &mut response,
            ));
        });
        println!(
            "  NTS {:<17} {nts_ns:>7.0} ns  (+{:.0} over plain)  cookie open {open_ns:.0}, verify (incl. open) {verify_ns:.0}, \
             cookie seal {seal_ns:.0}, answer (incl. cookie seals) {write_ns:.0}",
            algorithm.name(),
            nts_ns - plain_ns
        );
    }
}
