//! Any datagram through the NTP parser and the server's decision: no panic, and an answer is
//! never larger than the request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::ntp::AccessList;
use stratum1_core::packet::Packet;
use stratum1_core::ntp::{RateLimitSettings, RateLimiter};
use stratum1_core::ntp::{RatePolicy, RequestContext, Server};
use stratum1_core::time::NtpTimestamp;
use stratum1_core::served::ServedClock;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::parse(data) {
        for field in packet.extensions() {
            assert!(field.value.len() + 4 <= data.len());
        }
    }
    let limiter = RateLimiter::new(RateLimitSettings {
        max_rate: 1.0,
        burst: 2,
        ipv6_prefix: 64,
        table_entries: 16,
    });
    let server = Server { access: AccessList::open(), rate: Some(RatePolicy::new(limiter, 2)), nts: None };
    let ctx = RequestContext {
        client: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        received_at: NtpTimestamp::from_bits(1),
        monotonic_ms: 0,
    };
    let clock = ServedClock::unsynchronised(-20);
    let mut out = [0u8; 2048];
    for _ in 0..4 {
        let verdict = server.decide(data, ctx, &clock, || NtpTimestamp::from_bits(2), &mut out);
        if let Some(len) = verdict.response_len() {
            assert!(len <= data.len(), "response {len} > request {}", data.len());
        }
    }
});
