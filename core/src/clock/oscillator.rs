//! A simulated crystal (pure, seeded): a fixed frequency error, a random walk of the frequency
//! and an optional temperature step that the frequency follows with a thermal time constant.

use refclock_core::sim::SimRng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TemperatureStep {
    /// Seconds after the start.
    pub at_s: f64,
    /// The frequency change it eventually causes, ppb.
    pub by_ppb: f64,
    /// How slowly the crystal follows the new temperature, s.
    pub time_constant_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OscillatorConfig {
    /// Frequency error at the start, ppb (positive: the clock gains).
    pub frequency_ppb: f64,
    /// Each second the frequency moves by a normal draw with this deviation, ppb.
    pub wander_ppb: f64,
    pub temperature_step: Option<TemperatureStep>,
    pub seed: u64,
}

pub struct Oscillator {
    config: OscillatorConfig,
    rng: SimRng,
    walk_ppb: f64,
    second: u64,
}

impl Oscillator {
    pub fn new(config: OscillatorConfig) -> Self {
        Oscillator { config, rng: SimRng::new(config.seed ^ 0x05C1_11A7), walk_ppb: 0.0, second: 0 }
    }

    /// The frequency error during the next second, ppb.
    pub fn next_second(&mut self) -> f64 {
        let t = self.second as f64;
        let thermal = self.config.temperature_step.map_or(0.0, |step| {
            if t < step.at_s {
                0.0
            } else {
                step.by_ppb * (1.0 - (-(t - step.at_s) / step.time_constant_s.max(1e-9)).exp())
            }
        });
        let frequency = self.config.frequency_ppb + self.walk_ppb + thermal;
        self.walk_ppb += self.config.wander_ppb * self.rng.normal();
        self.second += 1;
        frequency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_step_is_followed_with_its_time_constant() {
        let step = TemperatureStep { at_s: 10.0, by_ppb: 1_000.0, time_constant_s: 100.0 };
        let config = OscillatorConfig {
            frequency_ppb: 50_000.0,
            wander_ppb: 0.0,
            temperature_step: Some(step),
            seed: 1,
        };
        let mut osc = Oscillator::new(config);
        let f: Vec<f64> = (0..1_000).map(|_| osc.next_second()).collect();
        assert_eq!(f[9], 50_000.0);
        assert!((f[110] - 50_632.1).abs() < 0.1, "one time constant: 63 %, got {}", f[110]);
        assert!((f[999] - 51_000.0).abs() < 0.1);
    }

    #[test]
    fn wander_is_a_random_walk() {
        // After n seconds the walk's deviation is wander * sqrt(n): check over many oscillators.
        let n = 400;
        let finals: Vec<f64> = (0..300)
            .map(|seed| {
                let config =
                    OscillatorConfig { frequency_ppb: 0.0, wander_ppb: 1.0, temperature_step: None, seed };
                let mut osc = Oscillator::new(config);
                (0..=n).map(|_| osc.next_second()).last().unwrap_or_default()
            })
            .collect();
        let rms = (finals.iter().map(|f| f * f).sum::<f64>() / finals.len() as f64).sqrt();
        assert!((16.0..24.0).contains(&rms), "expected about 20 ppb, got {rms}");
    }
}
