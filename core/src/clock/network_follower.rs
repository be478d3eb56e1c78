//! Steering the clock to network time while no reference is usable (pure): the receiver gone
//! past the holdover limit, never locked, or distrusted by the integrity guard.
//!
//! The oscillator's known frequency error is cancelled, and the measured offset removed with
//! a time constant. The slew is reported apart so that the caller can move every stored
//! offset with it (the sources' filters and the receiver's recent samples): between
//! measurements (one a poll, up to 17 minutes apart) the network estimate then says what is
//! still to remove, so a long poll never turns into an overshoot, and sources measured at
//! different times stay comparable.

use super::discipline::{Estimate, LockState, Steering};
use crate::filter::Nanos;
use crate::sources::NetworkEstimate;

/// Internet paths scatter by milliseconds: follow them slowly.
const TIME_CONSTANT_S: f64 = 128.0;
/// At most this much of the rate goes to removing the offset (50 ppm: 4 ms in 80 s).
const MAX_SLEW_PPB: f64 = 50_000.0;

/// A reference sample this recent means the discipline is at work (acquiring): leave it be.
const REFERENCE_RECENT_NS: Nanos = 10_000_000_000;

/// How network time steers the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkSteering {
    pub steering: Steering,
    /// The part of the frequency that removes the offset, ppb: our clock moves against the
    /// network by this much, and stored offsets must move with it.
    pub slew_ppb: f64,
}

/// Whether network time steers the clock now, and how: when the discipline is neither locked
/// nor in holdover and has had no reference sample for a while, and the network knows the time.
pub fn network_steering(
    estimate: &Estimate,
    network: Option<&NetworkEstimate>,
    now: Nanos,
) -> Option<NetworkSteering> {
    let idle = match estimate.state {
        LockState::Unsynchronised => true,
        LockState::Acquiring => estimate.last_sample_at.is_none_or(|t| now - t > REFERENCE_RECENT_NS),
        LockState::Locked | LockState::Holdover => false,
    };
    idle.then(|| network.map(|n| follow_network(n, estimate.frequency_ppb))).flatten()
}

/// The steering, given the network estimate (its offsets kept current with our slews) and
/// the oscillator's frequency error as the discipline knows it.
pub fn follow_network(network: &NetworkEstimate, oscillator_ppb: f64) -> NetworkSteering {
    let slew_ppb = (-network.offset_ns / TIME_CONSTANT_S).clamp(-MAX_SLEW_PPB, MAX_SLEW_PPB);
    NetworkSteering {
        steering: Steering { step_ns: 0.0, frequency_ppb: -oscillator_ppb + slew_ppb },
        slew_ppb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(offset_ns: f64, at: Nanos) -> NetworkEstimate {
        NetworkEstimate {
            offset_ns,
            bound_ns: 1e6,
            best: 0,
            best_stratum: 1,
            root_delay_ns: 0.0,
            root_dispersion_ns: 0.0,
            survivors: 1,
            at,
        }
    }

    #[test]
    fn the_frequency_is_cancelled_and_the_offset_removed_without_overshoot() {
        let s = follow_network(&network(0.0, 0), 30_000.0);
        assert_eq!(s.steering.frequency_ppb, -30_000.0);
        assert_eq!(s.slew_ppb, 0.0);
        // 1 ms ahead: slewed back at 1 ms / 128 s.
        let s = follow_network(&network(1e6, 0), 0.0);
        assert!((s.slew_ppb + 1e6 / 128.0).abs() < 1.0);
        assert_eq!(s.steering.frequency_ppb, s.slew_ppb);
        // One measurement, never renewed (a long poll), its offset moved by each second's slew
        // as the clock task does: the offset goes, once, and is not overshot.
        let mut offset = 1e6;
        for _ in 0..3_600 {
            offset += follow_network(&network(offset, 0), 0.0).slew_ppb; // ns in a second
            assert!(offset > 0.0, "overshot: {offset}");
        }
        assert!(offset < 1e4, "{offset} ns of 1 ms left after an hour");
        let far = follow_network(&network(1.0e9, 0), 0.0);
        assert_eq!(far.slew_ppb, -MAX_SLEW_PPB);
    }
}
