//! Reading the host clock (CLOCK_REALTIME through the vDSO), where the daemon's tasks do: as
//! an NTP timestamp, Unix nanoseconds or seconds. Read-only: nothing here adjusts it (that is
//! clock/kernel.rs). Low in the module order so that every task may use it.

use std::time::{SystemTime, UNIX_EPOCH};

use stratum1_core::time::NtpTimestamp;

pub fn now() -> NtpTimestamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => NtpTimestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = if d.subsec_nanos() == 0 {
                (-(d.as_secs() as i64), 0)
            } else {
                (-(d.as_secs() as i64) - 1, 1_000_000_000 - d.subsec_nanos())
            };
            NtpTimestamp::from_unix(secs, nanos)
        }
    }
}

/// Unix nanoseconds (0 before 1970, saturating far after).
pub fn unix_nanos() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// Unix seconds (0 before 1970).
pub fn unix_seconds() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Measures the smallest step between two distinct clock readings, in nanoseconds.
pub fn measure_reading_step() -> u64 {
    let mut smallest = u64::MAX;
    for _ in 0..200 {
        let a = SystemTime::now();
        let mut b = SystemTime::now();
        while b == a {
            b = SystemTime::now();
        }
        if let Ok(d) = b.duration_since(a) {
            smallest = smallest.min(d.as_nanos() as u64);
        }
    }
    smallest
}
