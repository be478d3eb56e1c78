//! NTS requests through the server's decision: the raw bytes, and the bytes appended to a
//! header, a unique identifier and a valid cookie (so the authenticator and placeholder paths
//! are reached). No panic, and no answer larger than its request.
#![no_main]

use std::sync::{Arc, RwLock};

use libfuzzer_sys::fuzz_target;
use stratum1_core::ntp::AccessList;
use stratum1_core::packet::write_extension_field;
use stratum1_core::ntp::{RequestContext, Server};
use stratum1_core::time::NtpTimestamp;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};
use stratum1_core::nts::cookie::{self, CookieContents};
use stratum1_core::nts::CookieKeySet;
use stratum1_core::nts::NtsPolicy;
use stratum1_core::served::ServedClock;

fn fixed_random(buffer: &mut [u8]) -> bool {
    buffer.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    true
}

fuzz_target!(|data: &[u8]| {
    let keys = CookieKeySet::new(86_400, 1, [7; 32], 1_800_000_000);
    let contents = CookieContents {
        c2s: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[1; 32]).unwrap(),
        s2c: AeadKey::new(AeadAlgorithm::AesSivCmac256, &[2; 32]).unwrap(),
    };
    let mut valid_cookie = Vec::new();
    cookie::seal(&keys, &contents, [3; 16], &mut valid_cookie);
    let server = Server {
        access: AccessList::open(),
        rate: None,
        nts: Some(NtsPolicy { keys: Arc::new(RwLock::new(keys)), require: false, random: fixed_random }),
    };
    let ctx = RequestContext {
        client: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        received_at: NtpTimestamp::from_bits(1),
        monotonic_ms: 0,
    };
    let clock = ServedClock::unsynchronised(-20);

    let mut prefixed = vec![0x23u8; 48];
    let mut field = [0u8; 256];
    let n = write_extension_field(0x0104, &[9; 32], &mut field).unwrap();
    prefixed.extend_from_slice(&field[..n]);
    let n = write_extension_field(0x0204, &valid_cookie, &mut field).unwrap();
    prefixed.extend_from_slice(&field[..n]);
    prefixed.extend_from_slice(data);

    let mut out = [0u8; 2048];
    for request in [data, &prefixed[..]] {
        let verdict = server.decide(request, ctx, &clock, || NtpTimestamp::from_bits(2), &mut out);
        if let Some(len) = verdict.response_len() {
            assert!(len <= request.len(), "response {len} > request {}", request.len());
        }
    }
});
