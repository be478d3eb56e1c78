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

    /// Forgets the phase (after a jump we will not follow) but keeps the frequency, doubted by
    /// at least `frequency_sd_ppb`.
    pub fn restart_phase(&mut self, at: Nanos, phase_ns: f64, phase_variance: f64, frequency_sd_ppb: f64) {
        let (_, frequency, cov) = self.predict(at);
        *self = PhaseFrequencyFilter {
            at,
            phase_ns,
            frequency_ppb: frequency,
            cov: [[phase_variance, 0.0], [0.0, cov[1][1].max(frequency_sd_ppb.powi(2))]],
            wander_ppb: self.wander_ppb,
        };
    }

    pub fn at(&self) -> Nanos {
        self.at
    }
}

/// Several filters that assume different wander, run as an interacting multiple model (IMM):
/// each sample updates every filter from a mix of all of them, and how well each one predicted
/// it (its likelihood) moves the probability that its model is the one the oscillator follows
/// now. The slow model dominates while the oscillator is quiet (most averaging); a faster one
/// takes over within a few samples once it moves (a temperature change), without a hand-tuned
/// switch, and the estimate is the probability-weighted blend, so there is no jump either.
#[derive(Clone, Debug)]
pub struct FilterBank {
    filters: Vec<PhaseFrequencyFilter>,
    /// Probability of each model given the samples so far; sums to one.
    weights: Vec<f64>,
}

/// Prior probability, per sample, that the oscillator changes from one model to another.
const SWITCH_PER_SAMPLE: f64 = 1e-3;
/// Models less probable than this no longer need covering by the error bound.
const PLAUSIBLE: f64 = 1e-3;
/// No model's probability falls below this, so that any can come back within a few samples.
const WEIGHT_FLOOR: f64 = 1e-9;

impl FilterBank {
    /// One filter per entry of `wanders_ppb` (slowest first), all starting from the same state;
    /// the slowest is believed first.
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
        let n = filters.len().max(1) as f64;
        let others = (1.0 - 0.9) / (n - 1.0).max(1.0);
        let weights = (0..filters.len()).map(|i| if i == 0 { 0.9 } else { others }).collect();
        FilterBank { filters, weights }
    }

    /// Probability that the oscillator was in model `from` and is now in model `to`.
    fn transition(&self, from: usize, to: usize) -> f64 {
        let n = self.filters.len();
        if n < 2 {
            1.0
        } else if from == to {
            1.0 - SWITCH_PER_SAMPLE
        } else {
            SWITCH_PER_SAMPLE / (n - 1) as f64
        }
    }

    /// The blend of every filter's prediction at `to`: phase, frequency and a covariance that
    /// includes how far the models disagree.
    pub fn predict(&self, to: Nanos) -> (f64, f64, [[f64; 2]; 2]) {
        let predictions: Vec<_> = self.filters.iter().map(|f| f.predict(to)).collect();
        let states = predictions.iter().map(|&(p, f, c)| ([p, f], c));
        let ([phase, frequency], cov) = blend(states, &self.weights);
        (phase, frequency, cov)
    }

    /// The phase and its standard deviation at `to` of the blend and of every model still
    /// plausible: a bound must cover all of them, not only the most probable.
    pub fn plausible_phases(&self, to: Nanos) -> impl Iterator<Item = (f64, f64)> + '_ {
        let (phase, _, cov) = self.predict(to);
        let models =
            self.filters.iter().zip(&self.weights).filter(|(_, &w)| w >= PLAUSIBLE).map(move |(f, _)| {
                let (phase, _, cov) = f.predict(to);
                (phase, cov[0][0].sqrt())
            });
        std::iter::once((phase, cov[0][0].sqrt())).chain(models)
    }

    pub fn innovation(&self, at: Nanos, measured_ns: f64, measurement_variance: f64) -> Innovation {
        let (phase, _, cov) = self.predict(at);
        Innovation { residual_ns: measured_ns - phase, variance: cov[0][0] + measurement_variance }
    }

    pub fn update(&mut self, at: Nanos, measured_ns: f64, measurement_variance: f64) {
        let n = self.filters.len();
        // Mixing: each model starts from the blend of all, weighted by how likely each was to
        // turn into it.
        let prior: Vec<f64> = (0..n)
            .map(|to| (0..n).map(|from| self.transition(from, to) * self.weights[from]).sum())
            .collect();
        let states: Vec<([f64; 2], [[f64; 2]; 2])> =
            self.filters.iter().map(|f| ([f.phase_ns, f.frequency_ppb], f.cov)).collect();
        let mixed: Vec<([f64; 2], [[f64; 2]; 2])> = (0..n)
            .map(|to| {
                let mix: Vec<f64> = (0..n)
                    .map(|from| {
                        self.transition(from, to) * self.weights[from] / prior[to].max(f64::MIN_POSITIVE)
                    })
                    .collect();
                blend(states.iter().copied(), &mix)
            })
            .collect();
        let mut likelihoods = Vec::with_capacity(n);
        for (filter, ([phase, frequency], cov)) in self.filters.iter_mut().zip(mixed) {
            filter.phase_ns = phase;
            filter.frequency_ppb = frequency;
            filter.cov = cov;
            let innovation = filter.innovation(at, measured_ns, measurement_variance);
            let variance = innovation.variance.max(f64::MIN_POSITIVE);
            likelihoods.push((-innovation.residual_ns.powi(2) / (2.0 * variance)).exp() / variance.sqrt());
            filter.update(at, measured_ns, measurement_variance);
        }
        let posterior: Vec<f64> = likelihoods.iter().zip(&prior).map(|(l, p)| l * p).collect();
        let total: f64 = posterior.iter().sum();
        // A sample every model finds impossible says nothing about which model is right.
        let weights = if total.is_finite() && total > 0.0 { posterior } else { prior };
        let total: f64 = weights.iter().sum();
        self.weights = weights.iter().map(|w| (w / total).max(WEIGHT_FLOOR)).collect();
    }

    pub fn restart_phase(&mut self, at: Nanos, phase_ns: f64, phase_variance: f64, frequency_sd_ppb: f64) {
        for filter in &mut self.filters {
            filter.restart_phase(at, phase_ns, phase_variance, frequency_sd_ppb);
        }
    }

    /// The most probable model (0: the slowest).
    pub fn most_probable(&self) -> usize {
        (0..self.weights.len()).max_by(|&a, &b| self.weights[a].total_cmp(&self.weights[b])).unwrap_or(0)
    }
}

/// The weighted mean of several Gaussian states and the covariance of the mixture (each
/// covariance plus the spread of the means).
fn blend(
    states: impl Iterator<Item = ([f64; 2], [[f64; 2]; 2])> + Clone,
    weights: &[f64],
) -> ([f64; 2], [[f64; 2]; 2]) {
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut mean = [0.0; 2];
    for ((x, _), w) in states.clone().zip(weights) {
        mean[0] += w / total * x[0];
        mean[1] += w / total * x[1];
    }
    let mut cov = [[0.0; 2]; 2];
    for ((x, c), w) in states.zip(weights) {
        let d = [x[0] - mean[0], x[1] - mean[1]];
        for i in 0..2 {
            for j in 0..2 {
                cov[i][j] += w / total * (c[i][j] + d[i] * d[j]);
            }
        }
    }
    (mean, cov)
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
        filter.restart_phase(10 * S, 1e9, 100.0, 0.0);
        let (phase, frequency, _) = filter.predict(11 * S);
        assert_eq!((phase, frequency), (1e9 + 250.0, 250.0));
    }

    /// A quiet clock for ten minutes, then its frequency ramps at 8 ppb/s (a crystal warming
    /// up) for a minute. Returns the largest phase error of the bank and of its slow model alone
    /// during the ramp, and which model the bank believed at the end of each part.
    fn ramp_after_quiet(seed: u64) -> (f64, f64, usize, usize) {
        let mut rng = SimRng::new(seed);
        let mut bank = FilterBank::new(0, 0.0, 1e6, 0.0, 100_000.0, &[1.0, 30.0]);
        let mut slow = PhaseFrequencyFilter::new(0, 0.0, 1e6, 0.0, 100_000.0, 1.0);
        let (mut phase, mut frequency) = (0.0, 20_000.0);
        let (mut bank_max, mut slow_max, mut quiet_choice) = (0.0f64, 0.0f64, usize::MAX);
        for second in 1..=660 {
            if second > 600 {
                frequency += 8.0;
            }
            phase += frequency;
            let measured = phase + 1_000.0 * rng.normal();
            bank.update(second * S, measured, 1e6);
            slow.update(second * S, measured, 1e6);
            if second == 600 {
                quiet_choice = bank.most_probable();
            }
            if second > 600 {
                bank_max = bank_max.max((bank.predict(second * S).0 - phase).abs());
                slow_max = slow_max.max((slow.predict(second * S).0 - phase).abs());
            }
        }
        (bank_max, slow_max, quiet_choice, bank.most_probable())
    }

    #[test]
    fn the_bank_believes_the_slow_model_while_quiet_and_the_fast_one_in_a_ramp() {
        for seed in 1..=5 {
            let (bank_max, slow_max, quiet_choice, ramp_choice) = ramp_after_quiet(seed);
            assert_eq!((quiet_choice, ramp_choice), (0, 1), "seed {seed}");
            assert!(bank_max < 0.4 * slow_max, "seed {seed}: bank {bank_max} ns, slow alone {slow_max} ns");
        }
    }

    #[test]
    fn while_quiet_the_bank_averages_like_its_slow_model() {
        let mut rng = SimRng::new(5);
        let mut bank = FilterBank::new(0, 0.0, 1e6, 0.0, 100_000.0, &[1.0, 30.0]);
        let mut slow = PhaseFrequencyFilter::new(0, 0.0, 1e6, 0.0, 100_000.0, 1.0);
        let (mut bank_sq, mut slow_sq) = (0.0, 0.0);
        for second in 1..=2_000 {
            let truth = -30_000.0 * second as f64;
            let measured = truth + 1_000.0 * rng.normal();
            bank.update(second * S, measured, 1e6);
            slow.update(second * S, measured, 1e6);
            if second > 200 {
                bank_sq += (bank.predict(second * S).0 - truth).powi(2);
                slow_sq += (slow.predict(second * S).0 - truth).powi(2);
            }
        }
        // RMS within 15 % of the slow model alone (and both far below the 1 us sample noise).
        let (bank_rms, slow_rms) = ((bank_sq / 1_800.0).sqrt(), (slow_sq / 1_800.0).sqrt());
        assert!(bank_rms < 1.15 * slow_rms && bank_rms < 400.0, "bank {bank_rms} ns, slow {slow_rms} ns");
        let (_, _, cov) = bank.predict(2_000 * S);
        assert!(cov[0][0].sqrt() < 400.0, "the blend is as sure as its models: {}", cov[0][0].sqrt());
    }
}
