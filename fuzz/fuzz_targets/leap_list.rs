//! Any bytes as a leap-seconds list: no panic; a list that parses answers for any instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::clock::LeapSeconds;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(list) = LeapSeconds::parse(text) {
            for now in [i64::MIN / 2, -1, 0, 1_800_000_000, i64::MAX / 2] {
                let _ = list.status(now);
            }
        }
    }
});
