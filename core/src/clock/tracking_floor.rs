//! The best tracking any discipline could reach in the accuracy scenario, as a yardstick for
//! ours: a Bayes estimator that is told everything about the scenario except its random draws.
//!
//! It knows the PPS jitter, which interrupts were late (and drops them), the oscillator's
//! wander, and that a temperature step of the scenario's size and time constant may begin in
//! any second with a hazard of one per hour. Its posterior is exact: one Kalman filter over
//! (phase, frequency, step size) per possible onset second, weighted by how well each explains
//! the samples. Its prediction of each edge from the samples before it (what a clock steered by
//! it shows at that edge, the instant the benchmark reads ours) minimises the expected squared
//! error at every second, averaged over the draws and over when the step comes: a discipline
//! that does not know when it comes cannot expect a lower RMS. The scenario always puts the step
//! at the same second, so this is a yardstick, not a proof, and its per-seed max is not a bound
//! at all, only what tracking this well looks like. It runs on the same draws as the discipline
//! (same seed, same order), so the two can be compared seed by seed.

use std::ops::Range;

use refclock_core::sim::Scenario;

use super::oscillator::Oscillator;
use super::simulation::SimulationConfig;

/// What the estimator reached over the seconds it was measured in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrackingFloor {
    pub rms_ns: f64,
    pub max_ns: f64,
}

/// Probability per second that a temperature step begins.
const ONSET_HAZARD: f64 = 1.0 / 3_600.0;
/// Hypotheses this much less likely (natural log) than the best are dropped.
const PRUNE_BELOW: f64 = 40.0;
/// Before the first sample the frequency is known to within this, ppb (the kernel's range).
const FREQUENCY_PRIOR_SD_PPB: f64 = 500_000.0;

type Matrix = [[f64; 3]; 3];

/// The temperature step began at the start of second `onset` (`None`: it has not begun), and
/// the posterior of (phase ns, frequency ppb, step size ppb) given that.
#[derive(Clone, Debug)]
struct Hypothesis {
    onset: Option<u32>,
    mean: [f64; 3],
    cov: Matrix,
    log_weight: f64,
}

impl Hypothesis {
    /// Through second `second`: the phase gains the frequency plus the part of the step the
    /// crystal has followed by then; the frequency then takes its random-walk step.
    fn predict(&mut self, second: u32, time_constant_s: f64, wander_variance: f64) {
        let followed = match self.onset {
            Some(onset) if second >= onset => 1.0 - (-f64::from(second - onset) / time_constant_s).exp(),
            _ => 0.0,
        };
        let transition = [[1.0, 1.0, followed], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let m = self.mean;
        self.mean[0] = m[0] + m[1] + followed * m[2];
        self.cov = multiply(&multiply(&transition, &self.cov), &transpose(&transition));
        self.cov[1][1] += wander_variance;
    }

    /// Folds in a phase sample; returns its log likelihood.
    fn update(&mut self, measured_ns: f64, variance: f64) -> f64 {
        let p = self.cov;
        let s = p[0][0] + variance;
        let residual = measured_ns - self.mean[0];
        let gain = [p[0][0] / s, p[1][0] / s, p[2][0] / s];
        for (i, k) in gain.iter().enumerate() {
            self.mean[i] += k * residual;
            self.cov[i] = std::array::from_fn(|j| p[i][j] - k * p[0][j]);
        }
        -0.5 * (residual * residual / s + (std::f64::consts::TAU * s).ln())
    }
}

fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    let mut c = [[0.0; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

fn transpose(a: &Matrix) -> Matrix {
    let mut t = [[0.0; 3]; 3];
    for (i, row) in a.iter().enumerate() {
        for (j, value) in row.iter().enumerate() {
            t[j][i] = *value;
        }
    }
    t
}

/// Runs the estimator on `config`'s draws and measures the error of its prediction at the PPS
/// edges of the seconds in `measured` (seconds after the start, as the benchmark counts them).
pub fn tracking_floor(config: &SimulationConfig, measured: Range<u32>) -> TrackingFloor {
    let mut oscillator = Oscillator::new(config.oscillator);
    let mut scenario = Scenario::new(config.receiver.clone());
    let step = config.oscillator.temperature_step;
    let time_constant_s = step.map_or(1.0, |s| s.time_constant_s.max(1e-9));
    let (hazard, step_variance) = step.map_or((0.0, 0.0), |s| (ONSET_HAZARD, s.by_ppb * s.by_ppb));
    let wander_variance = config.oscillator.wander_ppb.powi(2);
    let jitter_variance = f64::from(config.receiver.pps_jitter_ns).powi(2).max(1.0);

    let mut phase_ns = config.initial_error_ns;
    let mut frequency_ppb = oscillator.next_second();
    let mut hypotheses: Vec<Hypothesis> = Vec::new();
    let (mut sum_sq, mut count, mut max_ns) = (0.0, 0u32, 0.0f64);
    for second in 0..measured.end {
        let elapsed = second + 1;
        // The step may begin in this second: split that off the "not yet" hypothesis.
        if let Some(not_yet) = hypotheses.iter_mut().find(|h| h.onset.is_none()) {
            if hazard > 0.0 {
                let mut begins = not_yet.clone();
                begins.onset = Some(second);
                begins.log_weight += hazard.ln();
                not_yet.log_weight += (1.0 - hazard).ln();
                hypotheses.push(begins);
            }
        }
        phase_ns += frequency_ppb;
        frequency_ppb = oscillator.next_second();
        for h in &mut hypotheses {
            h.predict(second, time_constant_s, wander_variance);
        }

        // Measured where the benchmark measures ours: at the edge, before its sample is used.
        // A clock steered by this estimator shows there what it predicted from the samples
        // before (the discipline's clock is read at the same instant).
        if measured.contains(&elapsed) && !hypotheses.is_empty() {
            let total: f64 = hypotheses.iter().map(|h| h.log_weight.exp()).sum();
            let estimate: f64 =
                hypotheses.iter().map(|h| h.log_weight.exp() * h.mean[0]).sum::<f64>() / total;
            let error = estimate - phase_ns;
            sum_sq += error * error;
            count += 1;
            max_ns = max_ns.max(error.abs());
        }

        let plan = scenario.second(i64::from(elapsed));
        let outage = config.pps_outages.iter().any(|&(from, to)| (from..to).contains(&elapsed));
        let sample = plan.edge_jitter_ns.filter(|_| plan.late_ns == 0 && !outage);
        if let Some(jitter) = sample {
            let measured_ns = phase_ns + jitter as f64;
            if hypotheses.is_empty() {
                let cov = [
                    [jitter_variance, 0.0, 0.0],
                    [0.0, FREQUENCY_PRIOR_SD_PPB.powi(2), 0.0],
                    [0.0, 0.0, step_variance],
                ];
                hypotheses.push(Hypothesis {
                    onset: None,
                    mean: [measured_ns, 0.0, 0.0],
                    cov,
                    log_weight: 0.0,
                });
            } else {
                for h in &mut hypotheses {
                    h.log_weight += h.update(measured_ns, jitter_variance);
                }
            }
            let best = hypotheses.iter().map(|h| h.log_weight).fold(f64::NEG_INFINITY, f64::max);
            hypotheses.retain(|h| h.log_weight >= best - PRUNE_BELOW);
            for h in &mut hypotheses {
                h.log_weight -= best;
            }
        }
    }
    TrackingFloor { rms_ns: (sum_sq / f64::from(count.max(1))).sqrt(), max_ns }
}

#[cfg(test)]
mod tests {
    use super::super::accuracy::{scenario, Timeline};
    use super::*;

    /// Without wander, a step or late edges, the estimator is a least-squares line through
    /// the samples: after n samples its phase error is about 2σ/√n.
    #[test]
    fn a_quiet_oscillator_is_tracked_like_a_least_squares_line() {
        let timeline =
            Timeline { holdover_from: 3_600, holdover_to: 3_600, end: 3_600, temperature_step_at: 0 };
        let mut config = scenario(3, timeline);
        config.oscillator.wander_ppb = 0.0;
        config.oscillator.temperature_step = None;
        config.receiver.late_edges = (0.0, 0);
        let floor = tracking_floor(&config, 400..3_600);
        // 2 us / sqrt(400) = 100 ns at the start of the window, 33 ns at its end.
        assert!((25.0..80.0).contains(&floor.rms_ns), "rms {} ns", floor.rms_ns);
        assert!(floor.max_ns < 400.0, "max {} ns", floor.max_ns);
    }

    /// The step is found: with it in the scenario, the estimator's error stays far below what
    /// the same estimator reaches when told there is no step.
    #[test]
    fn the_temperature_step_is_followed() {
        let timeline = Timeline { holdover_from: 700, holdover_to: 700, end: 700, temperature_step_at: 400 };
        let config = scenario(5, timeline);
        let floor = tracking_floor(&config, 100..700);
        let mut blind = config.clone();
        blind.oscillator.temperature_step = None;
        // The same draws with no step at all (in the oscillator or the estimator's model): the
        // noise floor. With the step, it must cost little on top.
        let quiet = tracking_floor(&blind, 100..700);
        assert!(floor.max_ns < 2_500.0, "max {} ns", floor.max_ns);
        assert!(floor.rms_ns < 2.0 * quiet.rms_ns + 100.0, "rms {} vs {} ns", floor.rms_ns, quiet.rms_ns);
    }
}
