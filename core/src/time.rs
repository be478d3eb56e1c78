//! NTP time formats (RFC 5905 §6): the 64-bit timestamp (32.32 seconds since 1900, era implied)
//! and the 32-bit short format (16.16 seconds) used for root delay and dispersion.

/// Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const UNIX_TO_NTP_SECONDS: i64 = 2_208_988_800;
const ERA_SECONDS: i64 = 1 << 32;
/// Nanoseconds in a second, for every conversion in the workspace that needs it.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_SECOND_U64: u64 = NANOS_PER_SECOND as u64;

/// A 64-bit NTP timestamp. The era is not carried on the wire; [`NtpTimestamp::to_unix_near`]
/// recovers it from a pivot, so times after the 2036 rollover are read correctly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NtpTimestamp(u64);

impl NtpTimestamp {
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    pub const fn from_bits(bits: u64) -> Self {
        NtpTimestamp(bits)
    }

    pub const fn to_bits(self) -> u64 {
        self.0
    }

    pub fn from_be_bytes(bytes: [u8; 8]) -> Self {
        NtpTimestamp(u64::from_be_bytes(bytes))
    }

    pub fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The timestamp for a Unix time; the era wraps silently, as on the wire.
    pub fn from_unix(seconds: i64, nanos: u32) -> Self {
        let ntp_seconds = (seconds + UNIX_TO_NTP_SECONDS).rem_euclid(ERA_SECONDS) as u64;
        let nanos = u64::from(nanos.min(999_999_999));
        // Rounded to the nearest fraction so that a round trip is exact to the nanosecond.
        let fraction = ((nanos << 32) + NANOS_PER_SECOND_U64 / 2) / NANOS_PER_SECOND_U64;
        NtpTimestamp((ntp_seconds << 32) | fraction)
    }

    /// The Unix time (seconds, nanoseconds) this timestamp names in the era that puts it
    /// closest to `pivot_unix_seconds` (for example the local clock).
    pub fn to_unix_near(self, pivot_unix_seconds: i64) -> (i64, u32) {
        let wire_seconds = (self.0 >> 32) as i64;
        let pivot_ntp = pivot_unix_seconds + UNIX_TO_NTP_SECONDS;
        let era = (pivot_ntp - wire_seconds + ERA_SECONDS / 2).div_euclid(ERA_SECONDS);
        let ntp_seconds = era * ERA_SECONDS + wire_seconds;
        let fraction = self.0 & 0xffff_ffff;
        let nanos = ((fraction * NANOS_PER_SECOND_U64 + (1 << 31)) >> 32).min(999_999_999) as u32;
        (ntp_seconds - UNIX_TO_NTP_SECONDS, nanos)
    }

    /// Signed difference `self - earlier` in seconds, assuming the two are within 68 years.
    pub fn seconds_since(self, earlier: NtpTimestamp) -> f64 {
        (self.0.wrapping_sub(earlier.0) as i64) as f64 / 4_294_967_296.0
    }
}

/// The 32-bit NTP short format: 16 bits of seconds, 16 bits of fraction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct NtpShort(u32);

impl NtpShort {
    pub const ZERO: NtpShort = NtpShort(0);
    pub const MAX: NtpShort = NtpShort(u32::MAX);

    pub const fn from_bits(bits: u32) -> Self {
        NtpShort(bits)
    }

    pub const fn to_bits(self) -> u32 {
        self.0
    }

    /// Rounds up, so an error bound written in this format is never smaller than the value;
    /// saturates at 65536 s.
    pub fn from_nanos_ceil(nanos: u64) -> Self {
        let units = (u128::from(nanos) << 16).div_ceil(u128::from(NANOS_PER_SECOND_U64));
        NtpShort(u32::try_from(units).unwrap_or(u32::MAX))
    }

    pub fn to_nanos(self) -> u64 {
        (u64::from(self.0) * NANOS_PER_SECOND_U64) >> 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_is_ntp_2208988800() {
        let ts = NtpTimestamp::from_unix(0, 0);
        assert_eq!(ts.to_bits() >> 32, 2_208_988_800);
        assert_eq!(ts.to_bits() & 0xffff_ffff, 0);
    }

    #[test]
    fn round_trip_is_exact_to_the_nanosecond() {
        for nanos in [0, 1, 499_999_999, 500_000_000, 999_999_999, 123_456_789] {
            let ts = NtpTimestamp::from_unix(1_700_000_000, nanos);
            assert_eq!(ts.to_unix_near(1_700_000_000), (1_700_000_000, nanos));
        }
    }

    #[test]
    fn half_second_is_half_the_fraction() {
        let ts = NtpTimestamp::from_unix(0, 500_000_000);
        assert_eq!(ts.to_bits() & 0xffff_ffff, 0x8000_0000);
    }

    #[test]
    fn era_rollover_in_2036_is_resolved_by_the_pivot() {
        // 2036-02-07T06:28:16Z is NTP second 2^32, i.e. era 1 second 0.
        let rollover_unix = (1i64 << 32) - UNIX_TO_NTP_SECONDS;
        let after = NtpTimestamp::from_unix(rollover_unix + 10, 0);
        assert_eq!(after.to_bits() >> 32, 10, "wire seconds wrap to era 1");
        assert_eq!(after.to_unix_near(rollover_unix - 100).0, rollover_unix + 10);
        let before = NtpTimestamp::from_unix(rollover_unix - 10, 0);
        assert_eq!(before.to_unix_near(rollover_unix + 100).0, rollover_unix - 10);
        // And a 1970s pivot still reads 1970s times.
        assert_eq!(NtpTimestamp::from_unix(5, 0).to_unix_near(0).0, 5);
    }

    #[test]
    fn seconds_since_handles_wrap() {
        let a = NtpTimestamp::from_bits(u64::MAX - (1 << 30) + 1);
        let b = NtpTimestamp::from_bits(1 << 30);
        assert!((b.seconds_since(a) - 0.5).abs() < 1e-9);
        assert!((a.seconds_since(b) + 0.5).abs() < 1e-9);
    }

    #[test]
    fn short_format_rounds_up_and_saturates() {
        assert_eq!(NtpShort::from_nanos_ceil(0), NtpShort::ZERO);
        assert_eq!(NtpShort::from_nanos_ceil(1).to_bits(), 1);
        assert_eq!(NtpShort::from_nanos_ceil(1_000_000_000).to_bits(), 1 << 16);
        assert_eq!(NtpShort::from_nanos_ceil(u64::MAX), NtpShort::MAX);
        assert!(NtpShort::from_nanos_ceil(15_000).to_nanos() >= 14_999);
    }
}
