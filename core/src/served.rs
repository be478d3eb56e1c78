//! The clock state the server announces (RFC 5905 header fields), and what to announce when
//! nothing disciplines the clock: unsynchronised, or the operator's declared local stratum.

use crate::packet::{LeapIndicator, ReferenceId};
use crate::time::{NtpShort, NtpTimestamp};

/// What a response says about the server's clock (RFC 5905 header fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedClock {
    pub leap: LeapIndicator,
    pub stratum: u8,
    pub reference_id: ReferenceId,
    /// log2 seconds of the clock's reading precision.
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_time: NtpTimestamp,
}

impl ServedClock {
    /// The honest default: no reference, so clients must not use us.
    pub fn unsynchronised(precision: i8) -> Self {
        ServedClock {
            leap: LeapIndicator::Unsynchronised,
            stratum: 16,
            reference_id: ReferenceId::INIT,
            precision,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::MAX,
            reference_time: NtpTimestamp::ZERO,
        }
    }

    pub fn is_synchronised(&self) -> bool {
        self.leap != LeapIndicator::Unsynchronised && (1..16).contains(&self.stratum)
    }
}

/// The reference id of a declared local stratum, as chrony shows it for `local`.
pub const LOCAL_REFERENCE_ID: ReferenceId = ReferenceId(*b"LOCL");

/// What to announce at `now` in observe-only mode.
pub fn observe_only_state(local_stratum: Option<u8>, precision: i8, now: NtpTimestamp) -> ServedClock {
    match local_stratum {
        None => ServedClock::unsynchronised(precision),
        Some(stratum) => ServedClock {
            leap: LeapIndicator::NoWarning,
            stratum,
            reference_id: LOCAL_REFERENCE_ID,
            precision,
            root_delay: NtpShort::ZERO,
            // The operator vouches for the host clock; its reading precision is all we can add.
            root_dispersion: NtpShort::from_nanos_ceil(precision_nanos(precision)),
            reference_time: now,
        },
    }
}

/// The precision exponent for a clock whose successive readings differ by `step_nanos` at
/// least: the smallest power of two seconds not below it (RFC 5905 `precision`).
pub fn precision_from_step(step_nanos: u64) -> i8 {
    (step_nanos.max(1) as f64 / 1e9).log2().ceil().clamp(-30.0, 0.0) as i8
}

/// 2^exponent seconds in nanoseconds, rounded up.
pub(crate) fn precision_nanos(exponent: i8) -> u64 {
    (2f64.powi(i32::from(exponent)) * 1e9).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_local_stratum_the_server_is_unsynchronised() {
        let s = observe_only_state(None, -20, NtpTimestamp::from_bits(5));
        assert_eq!((s.stratum, s.leap), (16, LeapIndicator::Unsynchronised));
        assert!(!s.is_synchronised());
    }

    #[test]
    fn declared_local_stratum_is_announced() {
        let now = NtpTimestamp::from_bits(5 << 32);
        let s = observe_only_state(Some(10), -20, now);
        assert_eq!((s.stratum, s.leap, s.reference_id), (10, LeapIndicator::NoWarning, LOCAL_REFERENCE_ID));
        assert_eq!(s.reference_time, now);
        assert!(s.root_dispersion.to_nanos() >= 953, "2^-20 s is 954 ns");
        assert!(s.is_synchronised());
    }

    #[test]
    fn precision_exponent() {
        assert_eq!(precision_from_step(1), -29);
        assert_eq!(precision_from_step(30), -24, "2^-25 s is 29.8 ns");
        assert_eq!(precision_from_step(1_000), -19);
        assert_eq!(precision_from_step(1_000_000_000), 0);
        assert_eq!(precision_from_step(u64::MAX), 0);
    }
}
