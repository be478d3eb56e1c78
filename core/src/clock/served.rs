//! From the discipline's estimate to what the NTP server announces (pure).
//!
//! Stratum 1 only while locked or in holdover; the root dispersion is the discipline's error
//! bound plus the clock's reading precision, so the announced root distance is never smaller
//! than the error it is meant to bound.

use refclock_core::Quality;

use super::discipline::{Estimate, LockState};
use super::leap::{Leap, LeapStatus};
use crate::packet::{LeapIndicator, ReferenceId};
use crate::served::ServedClock;
use crate::served::{observe_only_state, precision_nanos};
use crate::sources::NetworkEstimate;
use crate::time::{NtpShort, NtpTimestamp};

pub const PPS_REFERENCE_ID: ReferenceId = ReferenceId(*b"PPS\0");
pub const NMEA_REFERENCE_ID: ReferenceId = ReferenceId(*b"NMEA");

/// What to announce, given the estimate at `now`. Without a usable reference the answer is the
/// same as observe-only mode's: unsynchronised, or the operator's declared local stratum.
pub fn served_state(
    estimate: &Estimate,
    leap: LeapStatus,
    precision: i8,
    local_stratum: Option<u8>,
    now: NtpTimestamp,
) -> ServedClock {
    let synchronised = matches!(estimate.state, LockState::Locked | LockState::Holdover);
    let (Some(source), Some(last_sample_at), true) = (estimate.source, estimate.last_sample_at, synchronised)
    else {
        return observe_only_state(local_stratum, precision, now);
    };
    let leap = leap_indicator(leap);
    let bound = estimate.error_bound_ns + precision_nanos(precision) as f64;
    ServedClock {
        leap,
        stratum: 1,
        reference_id: match source {
            Quality::Pps => PPS_REFERENCE_ID,
            Quality::NmeaOnly => NMEA_REFERENCE_ID,
        },
        precision,
        root_delay: NtpShort::ZERO,
        root_dispersion: if bound.is_finite() {
            NtpShort::from_nanos_ceil(bound.ceil() as u64)
        } else {
            NtpShort::MAX
        },
        reference_time: NtpTimestamp::from_unix(
            last_sample_at.div_euclid(1_000_000_000),
            last_sample_at.rem_euclid(1_000_000_000) as u32,
        ),
    }
}

/// The leap indicator for what the list (or the network) says of tonight.
pub fn leap_indicator(leap: LeapStatus) -> LeapIndicator {
    match leap.pending() {
        Some(Leap::Insert) => LeapIndicator::InsertSecond,
        Some(Leap::Delete) => LeapIndicator::DeleteSecond,
        None => LeapIndicator::NoWarning,
    }
}

/// What to announce from the network alone (no usable receiver): one stratum below the best
/// source, its address as the reference id. The clock is not steered to the network, so the
/// dispersion carries our measured offset from it as well as the network's own bound.
pub fn network_fallback_state(
    network: &NetworkEstimate,
    reference_id: ReferenceId,
    leap: LeapStatus,
    precision: i8,
    now: NtpTimestamp,
) -> ServedClock {
    let dispersion = network.offset_ns.abs() + network.bound_ns + precision_nanos(precision) as f64;
    ServedClock {
        leap: leap_indicator(leap),
        stratum: network.best_stratum.saturating_add(1).min(15),
        reference_id,
        precision,
        root_delay: NtpShort::from_nanos_ceil(network.root_delay_ns.max(0.0) as u64),
        root_dispersion: NtpShort::from_nanos_ceil(dispersion.ceil() as u64),
        reference_time: now,
    }
}

/// The reference id of an upstream source (RFC 5905 §7.3): its IPv4 address, else the first
/// four bytes of a hash of its IPv6 address (or, not yet resolved, of its name). Clients use it
/// only to detect loops.
pub fn source_reference_id(ip: Option<std::net::IpAddr>, address: &str) -> ReferenceId {
    use sha2::Digest;
    let host = crate::sources::host_of(address);
    let hashed = |bytes: &[u8]| {
        let digest = sha2::Sha256::digest(bytes);
        ReferenceId([digest[0], digest[1], digest[2], digest[3]])
    };
    match ip.or_else(|| host.parse().ok()) {
        Some(std::net::IpAddr::V4(v4)) => ReferenceId(v4.octets()),
        Some(std::net::IpAddr::V6(v6)) => hashed(&v6.octets()),
        None => hashed(host.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_fallback_is_one_stratum_down_and_its_dispersion_covers_our_offset() {
        let network = NetworkEstimate {
            offset_ns: -3_000_000.0,
            bound_ns: 2_000_000.0,
            best: 0,
            best_stratum: 1,
            root_delay_ns: 20_000_000.0,
            root_dispersion_ns: 1_000_000.0,
            survivors: 2,
            at: 0,
        };
        let s =
            network_fallback_state(&network, source_reference_id(None, "192.0.2.7:123"), NO_LEAP, -20, NOW);
        assert_eq!(
            (s.stratum, s.leap, s.reference_id),
            (2, LeapIndicator::NoWarning, ReferenceId([192, 0, 2, 7]))
        );
        assert!(s.root_dispersion.to_nanos() >= 5_000_000);
        assert!(s.root_delay.to_nanos() >= 19_999_000);
        assert!(s.is_synchronised());
        assert_ne!(
            source_reference_id(None, "nts.example.net"),
            source_reference_id(None, "time.example.net")
        );
        let resolved = Some(std::net::IpAddr::from([198, 51, 100, 4]));
        assert_eq!(source_reference_id(resolved, "nts.example.net"), ReferenceId([198, 51, 100, 4]));
    }

    fn estimate(state: LockState, bound: f64) -> Estimate {
        Estimate {
            state,
            offset_ns: 100.0,
            frequency_ppb: 50_000.0,
            skew_ppb: 5.0,
            jitter_ns: 1_000.0,
            offset_sd_ns: 200.0,
            error_bound_ns: bound,
            last_sample_at: Some(1_795_000_000_500_000_000),
            source: Some(Quality::Pps),
        }
    }

    const NOW: NtpTimestamp = NtpTimestamp::ZERO;
    const NO_LEAP: LeapStatus = LeapStatus::Known { pending: None, tai_offset: 37 };

    #[test]
    fn locked_is_stratum_one_with_the_bound_as_dispersion() {
        let s = served_state(&estimate(LockState::Locked, 2_500.0), NO_LEAP, -20, None, NOW);
        assert_eq!((s.stratum, s.leap, s.reference_id), (1, LeapIndicator::NoWarning, PPS_REFERENCE_ID));
        // 2.5 us bound + 0.95 us precision, rounded up to 2^-16 s units (15.3 us).
        assert!(s.root_dispersion.to_nanos() >= 3_454);
        assert!(s.root_dispersion.to_nanos() < 3_454 + 15_259);
        assert_eq!(s.reference_time, NtpTimestamp::from_unix(1_795_000_000, 500_000_000));
    }

    #[test]
    fn holdover_is_still_stratum_one_and_the_rest_is_not() {
        let s = served_state(&estimate(LockState::Holdover, 80_000.0), NO_LEAP, -20, None, NOW);
        assert_eq!(s.stratum, 1);
        assert!(s.root_dispersion.to_nanos() >= 80_000);
        for state in [LockState::Acquiring, LockState::Unsynchronised] {
            let s = served_state(&estimate(state, 2_500.0), NO_LEAP, -20, None, NOW);
            assert_eq!((s.stratum, s.leap), (16, LeapIndicator::Unsynchronised), "{state:?}");
            let declared = served_state(&estimate(state, 2_500.0), NO_LEAP, -20, Some(10), NOW);
            assert_eq!(declared.stratum, 10, "the operator's local stratum is the fallback");
        }
    }

    #[test]
    fn leap_warnings_only_from_a_current_list() {
        let insert = LeapStatus::Known { pending: Some(Leap::Insert), tai_offset: 37 };
        let delete = LeapStatus::Known { pending: Some(Leap::Delete), tai_offset: 37 };
        let locked = estimate(LockState::Locked, 2_500.0);
        assert_eq!(served_state(&locked, insert, -20, None, NOW).leap, LeapIndicator::InsertSecond);
        assert_eq!(served_state(&locked, delete, -20, None, NOW).leap, LeapIndicator::DeleteSecond);
        for unknown in [LeapStatus::Expired { at: 0 }, LeapStatus::Unavailable] {
            assert_eq!(served_state(&locked, unknown, -20, None, NOW).leap, LeapIndicator::NoWarning);
        }
    }

    #[test]
    fn nmea_only_has_its_own_reference_id() {
        let mut e = estimate(LockState::Locked, 30e6);
        e.source = Some(Quality::NmeaOnly);
        let s = served_state(&e, NO_LEAP, -20, None, NOW);
        assert_eq!(s.reference_id, NMEA_REFERENCE_ID);
        assert!(s.root_dispersion.to_nanos() >= 30_000_000);
    }
}
