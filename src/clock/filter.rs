//! A two-state Kalman filter for a free-running oscillator: its phase (clock minus reference,
//! ns) and its frequency (ppb, i.e. ns/s). The model is the usual one for a crystal: white
//! measurement noise on the phase and a random walk of the frequency.

/// Nanoseconds on the reference time line (Unix time in ns).
pub type Nanos = i64;

#[derive(Clone, Debug)]
pub struct PhaseFrequencyFilter {
    at: Nanos,
    phase_ns: f64,
    frequency_ppb: f64,
    /// Covariance of (phase, frequency): ns², ns·ppb, ppb².
    cov: [[f64; 2]; 2],
    /// Frequency random walk assumed between updates, ppb per √s.
    wander_ppb: f64,
}

/// What the filter says a measurement should have been, and how sure it is.
#[derive(Clone, Copy, Debug)]
pub struct Innovation {
    /// Measured minus predicted phase, ns.
    pub residual_ns: f64,
    /// Variance of the residual (prediction plus measurement), ns².
    pub variance: f64,
}

impl PhaseFrequencyFilter {
    /// Starts from a measured phase and a frequency already known to within `frequency_sd_ppb`.
    pub fn new(
        at: Nanos,
        phase_ns: f64,
        phase_variance: f64,
        frequency_ppb: f64,
        frequency_sd_ppb: f64,
        wander_ppb: f64,
    ) -> Self {
        PhaseFrequencyFilter {
            at,
            phase_ns,
            frequency_ppb,
            cov: [[phase_variance, 0.0], [0.0, frequency_sd_ppb.powi(2)]],
            wander_ppb,
        }
    }

    /// The state carried forward to `to` (never backwards): phase, frequency, covariance.
    pub fn predict(&self, to: Nanos) -> (f64, f64, [[f64; 2]; 2]) {
        let dt = (to - self.at).max(0) as f64 / 1e9;
        let q = self.wander_ppb.powi(2);
        let [[p00, p01], [_, p11]] = self.cov;
        let phase = self.phase_ns + self.frequency_ppb * dt;
        let c00 = p00 + 2.0 * dt * p01 + dt * dt * p11 + q * dt.powi(3) / 3.0;
        let c01 = p01 + dt * p11 + q * dt * dt / 2.0;
        let c11 = p11 + q * dt;
        (phase, self.frequency_ppb, [[c00, c01], [c01, c11]])
    }

    pub fn innovation(&self, at: Nanos, measured_ns: f64, measurement_variance: f64) -> Innovation {
        let (phase, _, cov) = self.predict(at);
        Innovation { residual_ns: measured_ns - phase, variance: cov[0][0] + measurement_variance }
    }

    /// Folds in a phase measurement taken at `at`.
    pub fn update(&mut self, at: Nanos, measured_ns: f64, measurement_variance: f64) {
        let (phase, frequency, [[p00, p01], [_, p11]]) = self.predict(at);
        let s = p00 + measurement_variance;
        let (k0, k1) = (p00 / s, p01 / s);
        let residual = measured_ns - phase;
        self.at = at.max(self.at);
        self.phase_ns = phase + k0 * residual;
        self.frequency_ppb = frequency + k1 * residual;
        self.cov = [[(1.0 - k0) * p00, (1.0 - k0) * p01], [(1.0 - k0) * p01, p11 - k1 * p01]];
    }

    /// Forgets the phase (after a jump we will not follow) but keeps the frequency.
    pub fn restart_phase(&mut self, at: Nanos, phase_ns: f64, phase_variance: f64) {
        let (_, frequency, cov) = self.predict(at);
        *self = PhaseFrequencyFilter {
            at,
            phase_ns,
            frequency_ppb: frequency,
            cov: [[phase_variance, 0.0], [0.0, cov[1][1]]],
            wander_ppb: self.wander_ppb,
        };
    }

    pub fn at(&self) -> Nanos {
        self.at
    }
}

/// Several filters that assume different wander, fed the same samples. The one whose recent
/// predictions were best is believed: the slow one while the oscillator is quiet (most
/// averaging), a faster one while it moves (a temperature change), without a hand-tuned switch.
#[derive(Clone, Debug)]
pub struct FilterBank {
    filters: Vec<PhaseFrequencyFilter>,
    /// Recent mean squared prediction error of each filter, ns².
    scores: Vec<f64>,
    chosen: usize,
}

/// The bank's memory for prediction errors, in samples.
const SCORE_MEMORY: f64 = 16.0;
/// How much better a faster filter's score must be for it to be believed.
const SWITCH_MARGIN: f64 = 1.3;
/// Filters whose score is within this factor of the best are still plausible explanations.
const PLAUSIBLE: f64 = 2.0;

impl FilterBank {
    /// One filter per entry of `wanders_ppb` (slowest first), all starting from the same state.
    pub fn new(
        at: Nanos,
        phase_ns: f64,
        phase_variance: f64,
        frequency_ppb: f64,
        frequency_sd_ppb: f64,
        wanders_ppb: &[f64],
    ) -> Self {
        let filters: Vec<PhaseFrequencyFilter> = wanders_ppb
            .iter()
            .map(|&w| {
                PhaseFrequencyFilter::new(at, phase_ns, phase_variance, frequency_ppb, frequency_sd_ppb, w)
            })
            .collect();
        let scores = vec![phase_variance; filters.len()];
        FilterBank { filters, scores, chosen: 0 }
    }

    fn best(&self) -> &PhaseFrequencyFilter {
        &self.filters[self.chosen]
    }

    pub fn predict(&self, to: Nanos) -> (f64, f64, [[f64; 2]; 2]) {
        self.best().predict(to)
    }

    /// The phase and its standard deviation at `to` of every filter whose recent predictions
    /// were plausible (within [`PLAUSIBLE`] of the best): a bound must cover all of them, not
    /// only the one believed.
    pub fn plausible_phases(&self, to: Nanos) -> impl Iterator<Item = (f64, f64)> + '_ {
        let best = self.scores.iter().copied().fold(f64::INFINITY, f64::min);
        self.filters.iter().zip(&self.scores).filter(move |(_, &s)| s <= best * PLAUSIBLE).map(
            move |(f, _)| {
                let (phase, _, cov) = f.predict(to);
                (phase, cov[0][0].sqrt())
            },
        )
    }

    pub fn innovation(&self, at: Nanos, measured_ns: f64, measurement_variance: f64) -> Innovation {
        self.best().innovation(at, measured_ns, measurement_variance)
    }

    pub fn update(&mut self, at: Nanos, measured_ns: f64, measurement_variance: f64) {
        for (filter, score) in self.filters.iter_mut().zip(self.scores.iter_mut()) {
            let residual = filter.innovation(at, measured_ns, measurement_variance).residual_ns;
            *score += (residual * residual - *score) / SCORE_MEMORY;
            filter.update(at, measured_ns, measurement_variance);
        }
        // The slowest filter that predicts nearly as well as the best: it averages the most,
        // and a faster one must clearly win before its extra noise is worth taking.
        let best = self.scores.iter().copied().fold(f64::INFINITY, f64::min);
        self.chosen = self.scores.iter().position(|&s| s <= best * SWITCH_MARGIN).unwrap_or(0);
    }

    pub fn restart_phase(&mut self, at: Nanos, phase_ns: f64, phase_variance: f64) {
        for filter in &mut self.filters {
            filter.restart_phase(at, phase_ns, phase_variance);
        }
        self.scores.iter_mut().for_each(|s| *s = phase_variance);
    }

    /// Which filter is believed (0: the slowest).
    pub fn chosen(&self) -> usize {
        self.chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refclock::sim::rng::SimRng;

    const S: Nanos = 1_000_000_000;

    #[test]
    fn learns_phase_and_frequency_of_a_noisy_linear_clock() {
        let mut rng = SimRng::new(11);
        let mut filter = PhaseFrequencyFilter::new(0, 0.0, 1e6, 0.0, 100_000.0, 0.01);
        // 12.345 ppm fast, 40 us off, 1 us of white noise.
        let truth = |t: f64| 40_000.0 + 12_345.0 * t;
        for second in 1..=600 {
            let measured = truth(second as f64) + 1_000.0 * rng.normal();
            filter.update(second * S, measured, 1e6);
        }
        let (phase, frequency, cov) = filter.predict(600 * S);
        assert!((frequency - 12_345.0).abs() < 1.0, "frequency {frequency}");
        assert!((phase - truth(600.0)).abs() < 300.0, "phase error {}", phase - truth(600.0));
        // The filter's own uncertainty is the right size: about 1 us / sqrt(150) here.
        assert!((30.0..200.0).contains(&cov[0][0].sqrt()), "phase sd {}", cov[0][0].sqrt());
    }

    #[test]
    fn prediction_uncertainty_grows_with_time() {
        let filter = PhaseFrequencyFilter::new(0, 0.0, 100.0, 0.0, 1.0, 1.0);
        let sd = |t: Nanos| filter.predict(t).2[0][0].sqrt();
        assert!(sd(10 * S) < sd(100 * S) && sd(100 * S) < sd(3600 * S));
        // Random-walk frequency: sd ~ wander * t^1.5 / sqrt(3) once it dominates (1 h: ~125 us).
        assert!((100_000.0..150_000.0).contains(&sd(3600 * S)), "{}", sd(3600 * S));
        assert_eq!(filter.predict(-5 * S).0, 0.0, "never predicts backwards");
    }

    #[test]
    fn restart_keeps_the_frequency() {
        let mut filter = PhaseFrequencyFilter::new(0, 0.0, 100.0, 250.0, 1.0, 0.0);
        filter.restart_phase(10 * S, 1e9, 100.0);
        let (phase, frequency, _) = filter.predict(11 * S);
        assert_eq!((phase, frequency), (1e9 + 250.0, 250.0));
    }
}
