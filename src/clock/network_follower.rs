//! Steering the clock to network time while no reference is usable (pure): the receiver gone
//! past the holdover limit, never locked, or distrusted by the integrity guard.
//!
//! The oscillator's known frequency error is cancelled, and the measured offset removed with
//! a time constant. Between measurements (one a poll, up to 17 minutes apart) the offset still
//! to remove is the measured one decayed by what the steering has removed since, so a long
//! poll never turns into an overshoot.

use super::discipline::{Estimate, LockState, Steering};
use super::filter::Nanos;
use crate::sources::NetworkEstimate;

/// Internet paths scatter by milliseconds: follow them slowly.
const TIME_CONSTANT_S: f64 = 128.0;
/// At most this much of the rate goes to removing the offset (50 ppm: 4 ms in 80 s).
const MAX_SLEW_PPB: f64 = 50_000.0;

/// A reference sample this recent means the discipline is at work (acquiring): leave it be.
const REFERENCE_RECENT_NS: Nanos = 10_000_000_000;

/// Whether network time steers the clock now, and how: when the discipline is neither locked
/// nor in holdover and has had no reference sample for a while, and the network knows the time.
pub fn network_steering(
    estimate: &Estimate,
    network: Option<&NetworkEstimate>,
    now: Nanos,
) -> Option<Steering> {
    let idle = match estimate.state {
        LockState::Unsynchronised => true,
        LockState::Acquiring => estimate.last_sample_at.is_none_or(|t| now - t > REFERENCE_RECENT_NS),
        LockState::Locked | LockState::Holdover => false,
    };
    idle.then(|| network.map(|n| follow_network(n, estimate.frequency_ppb, now))).flatten()
}

/// The steering at our clock's `now`, given the network estimate and the oscillator's
/// frequency error as the discipline knows it.
pub fn follow_network(network: &NetworkEstimate, oscillator_ppb: f64, now: Nanos) -> Steering {
    let since_s = (now - network.at).max(0) as f64 / 1e9;
    let remaining_ns = network.offset_ns * (-since_s / TIME_CONSTANT_S).exp();
    let slew = (-remaining_ns / TIME_CONSTANT_S).clamp(-MAX_SLEW_PPB, MAX_SLEW_PPB);
    Steering { step_ns: 0.0, frequency_ppb: -oscillator_ppb + slew }
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
        let s = follow_network(&network(0.0, 0), 30_000.0, 0);
        assert_eq!(s.frequency_ppb, -30_000.0);
        // 1 ms ahead: slewed back at 1 ms / 128 s.
        let s = follow_network(&network(1e6, 0), 0.0, 0);
        assert!((s.frequency_ppb + 1e6 / 128.0).abs() < 1.0);
        // Steering the whole time from the one measurement removes the offset exactly once.
        let (mut removed, mut t) = (0.0, 0);
        while t < 3_600_000_000_000 {
            removed -= follow_network(&network(1e6, 0), 0.0, t).frequency_ppb; // ns per s
            t += 1_000_000_000;
        }
        assert!((removed - 1e6).abs() < 1e4, "removed {removed} ns of 1 ms");
        let far = follow_network(&network(1.0e9, 0), 0.0, 0);
        assert_eq!(far.frequency_ppb, -MAX_SLEW_PPB);
    }
}
