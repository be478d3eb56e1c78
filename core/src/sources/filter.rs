//! One source's clock filter (pure), after RFC 5905 §10: the last eight measurements, the one
//! with the smallest delay taken (it suffered least from queueing, so its offset is the least
//! skewed), its dispersion grown with age, the jitter of the rest around it, and the
//! reachability register of the last eight polls.

use std::collections::VecDeque;

use super::measurement::Measurement;
use crate::filter::Nanos;

/// RFC 5905's PHI: how fast an unchecked clock's error may grow, 15 ppm.
const PHI: f64 = 15e-6;
const STAGES: usize = 8;

/// What a source says right now, for selection and display.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceEstimate {
    /// Our clock minus the source's, ns (from the minimum-delay measurement).
    pub offset_ns: f64,
    pub delay_ns: f64,
    /// RMS of the other measurements' offsets around the chosen one, ns.
    pub jitter_ns: f64,
    /// Half the total round trip to the source's reference plus every dispersion: the true
    /// offset is within `offset_ns ± root_distance_ns` (RFC 5905 §11.2, "root distance").
    pub root_distance_ns: f64,
    /// Root delay and dispersion as a client of ours would inherit them.
    pub root_delay_ns: f64,
    pub root_dispersion_ns: f64,
    pub stratum: u8,
    /// When the chosen measurement was made, on our clock.
    pub at: Nanos,
}

#[derive(Clone, Debug, Default)]
pub struct SourceFilter {
    measurements: VecDeque<Measurement>,
    /// Bit 0 is the latest poll: set when it was answered usefully.
    reach: u8,
    /// The chosen measurement's time, to tell when the filter gives something new.
    last_chosen: Option<Nanos>,
}

impl SourceFilter {
    /// A request went out: the register shifts, the new bit clear until answered.
    pub fn on_poll(&mut self) {
        self.reach <<= 1;
    }

    /// A usable answer to the latest poll. Returns true when it changes the estimate (a newer
    /// minimum-delay measurement was chosen).
    pub fn on_measurement(&mut self, m: Measurement) -> bool {
        self.reach |= 1;
        if self.measurements.len() == STAGES {
            self.measurements.pop_front();
        }
        self.measurements.push_back(m);
        let chosen = self.chosen().map(|c| c.at);
        let changed = chosen != self.last_chosen;
        self.last_chosen = chosen;
        changed
    }

    /// We slewed our own clock by `delta_ns` (ahead by that much more than it would have been):
    /// every stored offset moves with it, as chrony corrects its samples, so measurements made
    /// at different times stay comparable while we steer.
    pub fn on_clock_slewed(&mut self, delta_ns: f64) {
        for m in &mut self.measurements {
            m.offset_ns += delta_ns;
        }
    }

    /// Our clock was stepped: every stored offset is on the old time scale.
    pub fn on_clock_step(&mut self) {
        self.measurements.clear();
        self.last_chosen = None;
    }

    pub fn reach(&self) -> u8 {
        self.reach
    }

    /// Any of the last eight polls answered usefully.
    pub fn reachable(&self) -> bool {
        self.reach != 0
    }

    /// The least delayed; of equally delayed ones the newest (its dispersion has grown least).
    fn chosen(&self) -> Option<&Measurement> {
        self.measurements.iter().rev().min_by(|a, b| a.delay_ns.total_cmp(&b.delay_ns))
    }

    /// The estimate at our clock's `now`, or `None` before the first answer.
    pub fn estimate(&self, now: Nanos) -> Option<SourceEstimate> {
        let best = self.chosen()?;
        let n = self.measurements.len();
        let jitter_ns = if n > 1 {
            let sum: f64 = self.measurements.iter().map(|m| (m.offset_ns - best.offset_ns).powi(2)).sum();
            (sum / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let age_s = (now - best.at).max(0) as f64 / 1e9;
        let precision_ns = 2f64.powi(i32::from(best.precision)) * 1e9;
        let dispersion = best.root_dispersion_ns + precision_ns + PHI * (age_s * 1e9) + jitter_ns;
        Some(SourceEstimate {
            offset_ns: best.offset_ns,
            delay_ns: best.delay_ns,
            jitter_ns,
            root_distance_ns: (best.root_delay_ns + best.delay_ns) / 2.0 + dispersion,
            root_delay_ns: best.root_delay_ns + best.delay_ns,
            root_dispersion_ns: dispersion,
            stratum: best.stratum,
            at: best.at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measurement(at_s: i64, offset_ns: f64, delay_ns: f64) -> Measurement {
        Measurement::stratum_one(at_s * 1_000_000_000, offset_ns, delay_ns)
    }

    #[test]
    fn the_least_delayed_of_the_last_eight_is_chosen() {
        let mut f = SourceFilter::default();
        for (i, (offset, delay)) in
            [(900.0, 3_000.0), (100.0, 1_000.0), (700.0, 2_500.0)].into_iter().enumerate()
        {
            f.on_poll();
            f.on_measurement(measurement(i as i64, offset, delay));
        }
        let e = f.estimate(3_000_000_000).unwrap();
        assert_eq!((e.offset_ns, e.delay_ns), (100.0, 1_000.0));
        assert!(e.jitter_ns > 500.0, "the others scatter around it: {}", e.jitter_ns);
        // Half the delay, the server's dispersion, 2 s of 15 ppm and the jitter.
        assert!(e.root_distance_ns > 500.0 + 10_000.0 + 30_000.0 + e.jitter_ns - 1.0);
        // Eight later ones push it out.
        for i in 3..11 {
            f.on_poll();
            f.on_measurement(measurement(i, 50.0, 2_000.0));
        }
        assert_eq!(f.estimate(11_000_000_000).unwrap().offset_ns, 50.0);
    }

    #[test]
    fn of_equal_delays_the_newest_is_chosen() {
        let mut f = SourceFilter::default();
        for i in 0..3 {
            f.on_poll();
            f.on_measurement(measurement(i, i as f64, 1_000.0));
        }
        assert_eq!(f.estimate(3_000_000_000).unwrap().offset_ns, 2.0);
    }

    #[test]
    fn reach_records_the_last_eight_polls() {
        let mut f = SourceFilter::default();
        assert!(!f.reachable());
        f.on_poll();
        assert!(f.on_measurement(measurement(0, 0.0, 1.0)), "the first answer is news");
        assert_eq!(f.reach(), 1);
        for _ in 0..7 {
            f.on_poll();
        }
        assert!(f.reachable(), "answered within the last eight");
        f.on_poll();
        assert!(!f.reachable());
        assert_eq!(f.reach(), 0);
    }

    #[test]
    fn a_step_forgets_the_old_offsets() {
        let mut f = SourceFilter::default();
        f.on_poll();
        f.on_measurement(measurement(0, 5e6, 1_000.0));
        f.on_clock_step();
        assert!(f.estimate(0).is_none());
        assert!(f.reachable(), "the source is still reachable");
    }
}
