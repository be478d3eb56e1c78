//! What the receiver says about our clock (pure): the median of its last few samples, used or
//! refused by the pairing alike, with a bound from their kind and the measured jitter.
//!
//! Refused samples count here on purpose: a receiver that suddenly names another second is
//! refused by the pairing (the clock goes to holdover and still agrees with the network), but
//! it is the receiver that disagrees, and the operator must hear of it.

use std::collections::VecDeque;

use refclock_core::Quality;

use super::guard::GnssClaim;
use crate::filter::Nanos;

/// Samples older than this (on our clock) say nothing about now.
const MAX_AGE_NS: Nanos = 10_000_000_000;
const KEPT: usize = 5;
/// The fastest the discipline slews while acquiring (500 ppm): how far the clock may have
/// moved since an old sample was taken.
const ACQUIRING_SLEW: f64 = 500e-6;
/// Timestamping and interrupt latency the jitter does not show.
const PPS_FLOOR_NS: f64 = 2_000.0;

#[derive(Clone, Debug, Default)]
pub struct RecentSamples {
    samples: VecDeque<Recent>,
}

#[derive(Clone, Copy, Debug)]
struct Recent {
    at: Nanos,
    offset_ns: f64,
    quality: Quality,
}

/// How far one sample may be from the truth, from the discipline's view.
#[derive(Clone, Copy, Debug)]
pub struct SampleBounds {
    /// The PPS jitter the discipline has learnt, ns.
    pub jitter_ns: f64,
    /// How far labels timed alone may be off (the NMEA window).
    pub nmea_bias_bound_ns: f64,
    /// The clock is still being slewed hard (acquiring).
    pub acquiring: bool,
}

impl RecentSamples {
    /// A sample (our clock minus GNSS at its edge) that reached the clock task at `at`.
    pub fn push(&mut self, at: Nanos, offset_ns: f64, quality: Quality) {
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(Recent { at, offset_ns, quality });
    }

    /// We slewed our clock by `delta_ns`: earlier samples move with it.
    pub fn on_clock_slewed(&mut self, delta_ns: f64) {
        for s in &mut self.samples {
            s.offset_ns += delta_ns;
        }
    }

    /// The clock was stepped: earlier samples are on the old time scale.
    pub fn on_clock_step(&mut self) {
        self.samples.clear();
    }

    /// The receiver's claim at `now`, if it said anything in the last ten seconds.
    pub fn claim(&self, now: Nanos, bounds: SampleBounds) -> Option<GnssClaim> {
        let fresh: Vec<&Recent> = self.samples.iter().filter(|s| now - s.at <= MAX_AGE_NS).collect();
        let oldest = fresh.iter().map(|s| s.at).min()?;
        let mut offsets: Vec<f64> = fresh.iter().map(|s| s.offset_ns).collect();
        offsets.sort_by(f64::total_cmp);
        let mid = offsets.len() / 2;
        let offset_ns =
            if offsets.len() % 2 == 1 { offsets[mid] } else { (offsets[mid - 1] + offsets[mid]) / 2.0 };
        let jitter = 4.0 * bounds.jitter_ns.max(0.0);
        let mut bound_ns = if fresh.iter().any(|s| s.quality == Quality::NmeaOnly) {
            bounds.nmea_bias_bound_ns + jitter
        } else {
            jitter + PPS_FLOOR_NS
        };
        if bounds.acquiring {
            bound_ns += ACQUIRING_SLEW * (now - oldest).max(0) as f64;
        }
        Some(GnssClaim { offset_ns, bound_ns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Nanos = 1_000_000_000;
    const QUIET: SampleBounds =
        SampleBounds { jitter_ns: 1_000.0, nmea_bias_bound_ns: 400e6, acquiring: false };

    #[test]
    fn the_median_ignores_a_late_interrupt() {
        let mut r = RecentSamples::default();
        for (i, offset) in [100.0, -200.0, 90_000.0, 50.0, 0.0].into_iter().enumerate() {
            r.push(i as i64 * S, offset, Quality::Pps);
        }
        let c = r.claim(5 * S, QUIET).unwrap();
        assert_eq!(c.offset_ns, 50.0);
        assert_eq!(c.bound_ns, 4_000.0 + PPS_FLOOR_NS);
    }

    #[test]
    fn old_samples_say_nothing_and_a_step_forgets() {
        let mut r = RecentSamples::default();
        r.push(0, 1.0, Quality::Pps);
        assert!(r.claim(11 * S, QUIET).is_none());
        assert!(r.claim(S, QUIET).is_some());
        r.on_clock_step();
        assert!(r.claim(S, QUIET).is_none());
    }

    #[test]
    fn labels_alone_and_acquiring_widen_the_bound() {
        let mut r = RecentSamples::default();
        r.push(0, 1e6, Quality::NmeaOnly);
        assert!(r.claim(S, QUIET).unwrap().bound_ns >= 400e6);
        let mut r = RecentSamples::default();
        r.push(0, 1e6, Quality::Pps);
        let acquiring = SampleBounds { acquiring: true, ..QUIET };
        assert!(r.claim(2 * S, acquiring).unwrap().bound_ns >= 1e6, "2 s at 500 ppm");
    }
}
