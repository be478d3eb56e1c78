//! A simulated system clock driven by a simulated [`Oscillator`] and steered like the kernel's
//! clock: steps, a frequency adjustment, and leap seconds. Time here is the reference time line;
//! the clock's error against it is known exactly, which is what the accuracy benchmark measures.

use super::discipline::Steering;
use super::oscillator::Oscillator;
use crate::filter::Nanos;
use crate::time::NANOS_PER_SECOND;

pub struct SimulatedClock {
    oscillator: Oscillator,
    /// The reference instant the state below describes.
    at: Nanos,
    /// Clock minus reference, ns.
    error_ns: f64,
    adjustment_ppb: f64,
    oscillator_ppb: f64,
    /// When the oscillator next draws a new second's frequency.
    next_draw: Nanos,
}

impl SimulatedClock {
    /// A clock that at reference time `start` reads `start + error_ns`.
    pub fn new(mut oscillator: Oscillator, start: Nanos, error_ns: f64) -> Self {
        let oscillator_ppb = oscillator.next_second();
        SimulatedClock {
            oscillator,
            at: start,
            error_ns,
            adjustment_ppb: 0.0,
            oscillator_ppb,
            next_draw: start + NANOS_PER_SECOND,
        }
    }

    /// Runs the clock forward to reference time `t` (never backwards).
    fn advance(&mut self, t: Nanos) {
        while self.at < t {
            let until = t.min(self.next_draw);
            let rate = self.oscillator_ppb + self.adjustment_ppb;
            self.error_ns += rate * (until - self.at) as f64 / 1e9;
            self.at = until;
            if self.at == self.next_draw {
                self.oscillator_ppb = self.oscillator.next_second();
                self.next_draw += NANOS_PER_SECOND;
            }
        }
    }

    /// Clock minus reference at reference time `t`, ns.
    pub fn error_at(&mut self, t: Nanos) -> f64 {
        self.advance(t);
        // A time already passed is extrapolated back at the current rate.
        self.error_ns - (self.oscillator_ppb + self.adjustment_ppb) * (self.at - t) as f64 / 1e9
    }

    /// The oscillator's frequency error right now, ppb (the truth the discipline estimates).
    pub fn oscillator_ppb(&self) -> f64 {
        self.oscillator_ppb
    }

    /// What the clock reads at reference time `t`.
    pub fn read(&mut self, t: Nanos) -> Nanos {
        t + self.error_at(t).round() as Nanos
    }

    /// Applies the discipline's steering at reference time `t`.
    pub fn steer(&mut self, t: Nanos, steering: Steering) {
        self.advance(t);
        self.error_ns += steering.step_ns;
        self.adjustment_ppb = steering.frequency_ppb;
    }

    /// Inserts (+1) or deletes (-1) a leap second at reference time `t`, as the kernel does at
    /// midnight when told to: the clock goes back (or forward) one second.
    pub fn leap(&mut self, t: Nanos, direction: i8) {
        self.advance(t);
        self.error_ns -= f64::from(direction) * 1e9;
    }
}

#[cfg(test)]
mod tests {
    use super::super::oscillator::OscillatorConfig;
    use super::*;

    fn clock(frequency_ppb: f64, error_ns: f64) -> SimulatedClock {
        let config = OscillatorConfig { frequency_ppb, wander_ppb: 0.0, temperature_step: None, seed: 1 };
        SimulatedClock::new(Oscillator::new(config), 0, error_ns)
    }

    #[test]
    fn a_fast_oscillator_gains_and_steering_cancels_it() {
        let mut c = clock(50_000.0, 100e6);
        assert!((c.error_at(10 * NANOS_PER_SECOND) - (100e6 + 500_000.0)).abs() < 1e-3);
        c.steer(10 * NANOS_PER_SECOND, Steering { step_ns: -100.5e6, frequency_ppb: -50_000.0 });
        assert!(c.error_at(20 * NANOS_PER_SECOND).abs() < 1e-3);
        assert_eq!(c.read(20 * NANOS_PER_SECOND), 20 * NANOS_PER_SECOND);
    }

    #[test]
    fn leap_insert_sets_the_clock_back() {
        let mut c = clock(0.0, 0.0);
        c.leap(5 * NANOS_PER_SECOND, 1);
        assert_eq!(c.read(6 * NANOS_PER_SECOND), 5 * NANOS_PER_SECOND);
    }
}
