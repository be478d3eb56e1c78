//! The discipline core (pure): reference samples in, steering and estimates out.
//!
//! The clock error is split in two: `x(t) = p(t) + c(t)`. `p` is what the oscillator would have
//! done on its own and is what the filter tracks, so estimation never sees our own steering.
//! `c` is the sum of the corrections we applied, known exactly. Steering then drives the
//! estimated error to zero: rate `-f - x/tau` after an initial step when the error is large.

use std::collections::VecDeque;

use refclock_core::Quality;

use super::settling::{LateSamples, SettlingFilter};
use crate::filter::Nanos;

const NANOS_PER_SEC: f64 = crate::time::NANOS_PER_SECOND as f64;

#[derive(Clone, Debug, PartialEq)]
pub struct DisciplineConfig {
    /// False in observe-only mode: everything is estimated, nothing is steered.
    pub steers: bool,
    /// Step instead of slewing when the error is larger than this (chrony's `makestep`) ...
    pub step_threshold_ns: f64,
    /// ... during the first this many updates only; later, large errors are slewed.
    pub step_limit: u32,
    /// Slew rate limit, ppb (the kernel allows 500 ppm).
    pub max_frequency_ppb: f64,
    /// The estimated error is removed with this time constant.
    pub slew_time_constant_s: f64,
    /// Frequency random walk the filter assumes, ppb per √s.
    pub wander_ppb: f64,
    /// How fast the error may grow beyond the model in holdover (chrony's `maxclockerror`).
    pub max_clock_error_ppb: f64,
    /// Holdover starts when no sample was accepted for this long ...
    pub holdover_after_s: f64,
    /// ... and after this long without one the clock is unsynchronised.
    pub holdover_limit_s: f64,
    /// Samples accepted since (re)starting before lock can be declared.
    pub lock_samples: u32,
    /// A residual beyond this many standard deviations is an outlier (late interrupts).
    pub gate_sigmas: f64,
    /// This many outliers in a row mean the reference really moved: start over from it.
    pub reacquire_after: u32,
    /// How far labels timed alone may be off on average: the arrival window the operator
    /// declared (`nmea-window-ms`). Their jitter is measured; this bias cannot be.
    pub nmea_bias_bound_ns: f64,
    /// How far PPS edges may be off on average after the configured latency correction
    /// (`pps-offset-ns`): a bias the jitter cannot show either.
    pub pps_bias_bound_ns: f64,
}

impl Default for DisciplineConfig {
    fn default() -> Self {
        DisciplineConfig {
            steers: false,
            step_threshold_ns: 1e6,
            step_limit: 3,
            max_frequency_ppb: 500_000.0,
            slew_time_constant_s: 2.0,
            wander_ppb: 1.0,
            max_clock_error_ppb: 1_000.0,
            holdover_after_s: 4.0,
            holdover_limit_s: 3_600.0,
            lock_samples: 8,
            gate_sigmas: 4.0,
            reacquire_after: 16,
            nmea_bias_bound_ns: 400e6,
            pps_bias_bound_ns: 0.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockState {
    /// No reference yet, or starting over after the reference moved.
    Acquiring,
    Locked,
    /// The reference went away; the clock runs on its last frequency estimate.
    Holdover,
    /// Too long without a reference: the error can no longer be bounded usefully.
    Unsynchronised,
}

/// What the shell must do to the clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steering {
    /// Add this to the clock at once (0: no step).
    pub step_ns: f64,
    /// Run the clock this much faster than its oscillator from now on (the kernel's
    /// frequency), ppb.
    pub frequency_ppb: f64,
}

/// The discipline's view of the clock at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub state: LockState,
    /// Estimated clock minus reference, ns.
    pub offset_ns: f64,
    /// The oscillator's own frequency error, ppb (what a drift file stores).
    pub frequency_ppb: f64,
    /// Standard deviation of the frequency estimate, ppb.
    pub skew_ppb: f64,
    /// Standard deviation of one sample around the estimate (PPS jitter), ns.
    pub jitter_ns: f64,
    /// Standard deviation of the offset estimate, ns.
    pub offset_sd_ns: f64,
    /// A bound on |clock - reference| that is meant to hold with overwhelming probability.
    pub error_bound_ns: f64,
    /// When the last sample was accepted, and its source.
    pub last_sample_at: Option<Nanos>,
    pub source: Option<Quality>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DisciplineCounts {
    pub samples: u64,
    pub accepted: u64,
    pub outliers: u64,
    pub steps: u64,
    pub reacquisitions: u64,
    /// PPS taking over from labels alone.
    pub handovers: u64,
}

/// Corrections applied so far, as segments of constant rate: from `since` on,
/// `c(t) = phase_ns + rate_ppb * (t - since)`. Samples are processed up to a second after their
/// edge, after the rate may have changed, so recent segments are kept to evaluate `c` exactly.
#[derive(Clone, Debug)]
struct Corrections {
    segments: VecDeque<Segment>,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    since: Nanos,
    phase_ns: f64,
    rate_ppb: f64,
}

impl Segment {
    fn at(&self, t: Nanos) -> f64 {
        self.phase_ns + self.rate_ppb * (t - self.since) as f64 / NANOS_PER_SEC
    }
}

/// Enough segments for a few seconds of once-a-second steering.
const KEPT_SEGMENTS: usize = 8;

impl Corrections {
    fn new() -> Self {
        Corrections { segments: VecDeque::from([Segment { since: 0, phase_ns: 0.0, rate_ppb: 0.0 }]) }
    }

    fn latest(&self) -> Segment {
        self.segments.back().copied().unwrap_or(Segment { since: 0, phase_ns: 0.0, rate_ppb: 0.0 })
    }

    fn rate_ppb(&self) -> f64 {
        self.latest().rate_ppb
    }

    fn at(&self, t: Nanos) -> f64 {
        let segment = self.segments.iter().rev().find(|s| s.since <= t).or(self.segments.front());
        segment.map_or(0.0, |s| s.at(t))
    }

    /// From `t` on, the clock runs `rate_ppb` faster and has been moved by `step_ns` more.
    fn change(&mut self, t: Nanos, step_ns: f64, rate_ppb: f64) {
        let phase_ns = self.latest().at(t) + step_ns;
        self.segments.push_back(Segment { since: t, phase_ns, rate_ppb });
        if self.segments.len() > KEPT_SEGMENTS {
            self.segments.pop_front();
        }
    }
}

pub struct Discipline {
    config: DisciplineConfig,
    filter: Option<SettlingFilter>,
    corrections: Corrections,
    state: LockState,
    /// Frequency known before the first sample (drift file): value and standard deviation.
    prior_frequency: Option<(f64, f64)>,
    jitter_ns: [f64; 2],
    /// The previous accepted residual of each source, for the jitter estimate.
    last_residual_ns: [Option<f64>; 2],
    /// Samples each jitter figure was learnt from since (re)starting.
    jitter_samples: [u32; 2],
    accepted_since_start: u32,
    outliers_in_row: u32,
    /// The first outlier of the current run: when, and the phase it measured.
    /// The current run of outliers: when, and the phase each measured.
    outlier_run: Vec<(Nanos, f64)>,
    updates: u32,
    last_sample_at: Option<Nanos>,
    source: Option<Quality>,
    counts: DisciplineCounts,
}

/// The learnt jitter is an average over this many samples at first ...
const JITTER_FIRST_MEMORY: u32 = 8;
/// ... over one more for every this many learnt since ...
const JITTER_MEMORY_GROWTH: u32 = 4;
/// ... up to this many.
const JITTER_MEMORY: u32 = 512;

/// A first guess of one sample's noise, before the filter has measured it.
fn initial_jitter_ns(quality: Quality) -> f64 {
    match quality {
        Quality::Pps => 1_000.0,
        Quality::NmeaOnly => 50_000_000.0,
    }
}

/// Late PPS interrupts: about 1 % of them on a busy Pi, by up to 100 us (NMEA has no such
/// thing: its noise is all in its jitter).
fn late_samples(quality: Quality) -> Option<LateSamples> {
    match quality {
        Quality::Pps => Some(LateSamples { share: 0.01, span_ns: 100_000.0 }),
        Quality::NmeaOnly => None,
    }
}

/// Temperature changes are watched for once this many samples were accepted since (re)starting
/// and the clock is locked: before, the filter's own settling would pass for one.
const ONSETS_WATCHED_AFTER: u32 = 60;

/// The sample noise a run of measured phases shows once its drift (`rate_ns_per_s`) is taken
/// out: from the median of successive differences, so that a late interrupt or two in the run
/// does not inflate it. `None` for fewer than three differences.
fn run_scatter_ns(run: &[(Nanos, f64)], rate_ns_per_s: f64) -> Option<f64> {
    let mut differences: Vec<f64> = run
        .windows(2)
        .map(|w| {
            let span = (w[1].0 - w[0].0) as f64 / NANOS_PER_SEC;
            (w[1].1 - w[0].1 - rate_ns_per_s * span).abs()
        })
        .collect();
    if differences.len() < 3 {
        return None;
    }
    differences.sort_by(f64::total_cmp);
    let median = differences[differences.len() / 2];
    // The difference of two samples has sd σ√2; the median of its absolute value is 0.6745 of that.
    Some(median / (0.6745 * std::f64::consts::SQRT_2))
}

fn slot(quality: Quality) -> usize {
    match quality {
        Quality::Pps => 0,
        Quality::NmeaOnly => 1,
    }
}

impl Discipline {
    pub fn new(config: DisciplineConfig) -> Self {
        Discipline {
            config,
            filter: None,
            corrections: Corrections::new(),
            state: LockState::Acquiring,
            prior_frequency: None,
            jitter_ns: [initial_jitter_ns(Quality::Pps), initial_jitter_ns(Quality::NmeaOnly)],
            last_residual_ns: [None, None],
            jitter_samples: [0, 0],
            accepted_since_start: 0,
            outliers_in_row: 0,
            outlier_run: Vec::new(),
            updates: 0,
            last_sample_at: None,
            source: None,
            counts: DisciplineCounts::default(),
        }
    }

    /// Starts from a remembered oscillator frequency (the drift file) instead of zero.
    pub fn with_prior_frequency(mut self, frequency_ppb: f64, sd_ppb: f64) -> Self {
        self.prior_frequency = Some((frequency_ppb, sd_ppb.max(1.0)));
        self
    }

    /// One reference sample: at reference time `at` the clock read `offset_ns` too far ahead.
    /// `now` is when the steering will take effect. Returns what to do to the clock, if
    /// anything.
    pub fn on_sample(&mut self, at: Nanos, offset_ns: f64, quality: Quality, now: Nanos) -> Option<Steering> {
        self.counts.samples += 1;
        self.updates = self.updates.saturating_add(1);
        if quality == Quality::Pps && self.source == Some(Quality::NmeaOnly) {
            return self.hand_over_to_pps(at, offset_ns, now);
        }
        if self.config.steers
            && self.updates <= self.config.step_limit
            && offset_ns.abs() > self.config.step_threshold_ns
        {
            return Some(self.step(at, offset_ns, quality, now));
        }
        let measured_phase = offset_ns - self.corrections.at(at);
        let jitter = self.jitter_ns[slot(quality)];
        match self.filter.as_mut() {
            None => {
                self.filter = Some(self.new_filter(at, measured_phase, jitter * jitter));
                self.accept(at, quality);
            }
            Some(filter) => {
                let innovation = filter.innovation(at, measured_phase, jitter * jitter);
                // While acquiring, the noise level itself is still being learnt: gate loosely.
                // The gate is the same on both sides: a late interrupt reads the clock ahead,
                // but so does a warming crystal, and its first samples are the ones that show it.
                let loose = if self.state == LockState::Acquiring { 2.0 } else { 1.0 };
                let sigmas = loose * self.config.gate_sigmas;
                if innovation.residual_ns.abs() > sigmas * innovation.variance.sqrt() {
                    self.counts.outliers += 1;
                    self.outliers_in_row += 1;
                    if self.outlier_run.len() < self.config.reacquire_after as usize {
                        self.outlier_run.push((at, measured_phase));
                    }
                    if self.outliers_in_row >= self.config.reacquire_after {
                        self.reacquire(at, measured_phase, quality);
                    }
                    return self.steer(now);
                }
                let watch =
                    self.state == LockState::Locked && self.accepted_since_start >= ONSETS_WATCHED_AFTER;
                filter.update(at, measured_phase, jitter * jitter, late_samples(quality), watch);
                // Only once predictions beat single samples do residuals show the sample noise.
                if innovation.variance < 2.0 * jitter * jitter {
                    self.learn(quality, innovation.residual_ns);
                }
                self.accept(at, quality);
            }
        }
        self.steer(now)
    }

    /// Learns the sample noise.
    fn learn(&mut self, quality: Quality, residual_ns: f64) {
        // Successive residuals differ by the sample noise alone (times sqrt 2): a slowly
        // drifting prediction error cancels, so it cannot pass for jitter.
        let previous = self.last_residual_ns[slot(quality)].replace(residual_ns);
        if let Some(previous) = previous {
            let sample_sd = (residual_ns - previous).abs() * 1.2533 / std::f64::consts::SQRT_2;
            // A short memory at first, so that a wrong first guess (and the samples it misjudged)
            // is soon forgotten, growing to a long one: the filter's gain and gate follow this
            // figure, so it must not wander with every late interrupt let through.
            let learnt_from = &mut self.jitter_samples[slot(quality)];
            *learnt_from = learnt_from.saturating_add(1);
            let memory = (JITTER_FIRST_MEMORY + *learnt_from / JITTER_MEMORY_GROWTH).min(JITTER_MEMORY);
            let weight = 1.0 / f64::from(memory);
            let learnt = &mut self.jitter_ns[slot(quality)];
            let before = *learnt;
            *learnt = (*learnt + (sample_sd - *learnt) * weight).max(10.0);
            // What the filter learnt with the smaller figure, it learnt too confidently: a
            // frequency from a few samples it took for 1 us apart, when they were 5 us apart,
            // would be trusted (and the error bound with it) far beyond what it is.
            if *learnt > before && self.source == Some(quality) {
                let factor = (*learnt / before).powi(2);
                if let Some(filter) = self.filter.as_mut() {
                    filter.widen(factor);
                }
            }
        }
    }

    fn accept(&mut self, at: Nanos, quality: Quality) {
        self.counts.accepted += 1;
        self.outliers_in_row = 0;
        self.outlier_run.clear();
        self.accepted_since_start = self.accepted_since_start.saturating_add(1);
        self.last_sample_at = Some(at);
        self.source = Some(quality);
    }

    fn step(&mut self, at: Nanos, offset_ns: f64, quality: Quality, now: Nanos) -> Steering {
        self.counts.steps += 1;
        let measured_phase = offset_ns - self.corrections.at(at);
        // The error at `now` is the measured one carried forward at the current rate.
        let frequency =
            self.filter.as_ref().map_or(self.prior_frequency.map_or(0.0, |p| p.0), |f| f.predict(now).1);
        let step_ns =
            -(offset_ns + (frequency + self.corrections.rate_ppb()) * (now - at) as f64 / NANOS_PER_SEC);
        // `now` was read on the clock before the step; on the reference time line it is here.
        let now = now + step_ns.round() as Nanos;
        self.corrections.change(now, step_ns, self.corrections.rate_ppb());
        // The oscillator's own phase is untouched by the step; keep whatever frequency we knew.
        let variance = self.jitter_ns[slot(quality)].powi(2);
        match self.filter.as_mut() {
            Some(filter) => filter.restart_phase(at, measured_phase, variance, 0.0),
            None => self.filter = Some(self.new_filter(at, measured_phase, variance)),
        }
        self.state = LockState::Acquiring;
        self.accepted_since_start = 0;
        self.accept(at, quality);
        let mut steering = self.steer(now).unwrap_or(Steering { step_ns: 0.0, frequency_ppb: 0.0 });
        steering.step_ns = step_ns;
        steering
    }

    /// The first PPS sample after labels alone: everything known so far is milliseconds
    /// wide, so this is a start afresh. Far off, the clock is stepped as at start (slewing
    /// tens of ms would take a minute at the kernel's limit); near, the phase restarts here.
    fn hand_over_to_pps(&mut self, at: Nanos, offset_ns: f64, now: Nanos) -> Option<Steering> {
        self.counts.handovers += 1;
        if self.config.steers && offset_ns.abs() > self.config.step_threshold_ns {
            return Some(self.step(at, offset_ns, Quality::Pps, now));
        }
        let measured_phase = offset_ns - self.corrections.at(at);
        let variance = self.jitter_ns[slot(Quality::Pps)].powi(2);
        if let Some(filter) = self.filter.as_mut() {
            filter.restart_phase(at, measured_phase, variance, 0.0);
        }
        self.state = LockState::Acquiring;
        self.accepted_since_start = 0;
        self.accept(at, Quality::Pps);
        self.steer(now)
    }

    fn new_filter(&self, at: Nanos, phase_ns: f64, variance: f64) -> SettlingFilter {
        let (frequency, sd) = self.prior_frequency.unwrap_or((0.0, self.config.max_frequency_ppb));
        SettlingFilter::new(at, phase_ns, variance, frequency, sd, self.config.wander_ppb)
    }

    fn reacquire(&mut self, at: Nanos, measured_phase: f64, quality: Quality) {
        self.counts.reacquisitions += 1;
        // ... or that the frequency is wrong (learnt from a late interrupt, say): the run
        // drifted away at its own rate. Doubt the frequency by that much, or keeping it would
        // only start the same run again.
        let run_rate = self.outlier_run.first().and_then(|&(since, phase)| {
            let span = (at - since) as f64 / NANOS_PER_SEC;
            (span > 0.0).then(|| (measured_phase - phase) / span)
        });
        // A run of outliers may also mean the noise is larger than learnt: learn it afresh,
        // from at least twice the old figure and at least the scatter the run itself showed.
        // (Doubling alone took minutes to reach 50 us from 1 us, every sample in between an
        // outlier, and the clock locked on a jitter ten times too small.)
        let scatter = run_scatter_ns(&self.outlier_run, run_rate.unwrap_or(0.0));
        let jitter = &mut self.jitter_ns[slot(quality)];
        *jitter = (*jitter * 2.0).max(scatter.unwrap_or(0.0));
        self.jitter_samples[slot(quality)] = 0;
        let variance = *jitter * *jitter;
        if let Some(filter) = self.filter.as_mut() {
            let (_, frequency, _) = filter.predict(at);
            let doubt = run_rate.map_or(0.0, |rate| (rate - frequency).abs());
            filter.restart_phase(at, measured_phase, variance, doubt);
        }
        self.state = LockState::Acquiring;
        self.accepted_since_start = 0;
        self.accept(at, quality);
    }

    /// The rate that removes the estimated error, if steering.
    fn steer(&mut self, now: Nanos) -> Option<Steering> {
        // A time read before our last change (a step) is taken as the time of that change.
        let now = now.max(self.corrections.latest().since);
        self.advance(now);
        if !self.config.steers {
            return None;
        }
        let filter = self.filter.as_ref()?;
        let (phase, frequency, _) = filter.predict(now);
        let error = phase + self.corrections.at(now);
        let limit = self.config.max_frequency_ppb;
        let rate = (-frequency - error / self.config.slew_time_constant_s).clamp(-limit, limit);
        self.corrections.change(now, 0.0, rate);
        Some(Steering { step_ns: 0.0, frequency_ppb: rate })
    }

    /// The clock is steered by something else (network time, while no reference is usable):
    /// from `now` on it runs `rate_ppb` faster. Recorded, so that the oscillator's own phase is
    /// still known exactly when the reference returns.
    pub fn steered_elsewhere(&mut self, now: Nanos, rate_ppb: f64) {
        let now = now.max(self.corrections.latest().since);
        self.corrections.change(now, 0.0, rate_ppb);
    }

    /// Moves the lock state on to `now` without steering (while something else steers).
    pub fn advance_to(&mut self, now: Nanos) {
        let now = now.max(self.corrections.latest().since);
        self.advance(now);
    }

    /// Time passes: call about once a second, samples or not. In holdover this is what keeps
    /// the steering on the predicted error instead of the last measured one.
    pub fn on_tick(&mut self, now: Nanos) -> Option<Steering> {
        self.steer(now)
    }

    /// Moves the lock state on to `now`: lock, holdover and its end.
    fn advance(&mut self, now: Nanos) {
        let since_sample = self.last_sample_at.map_or(f64::INFINITY, |t| (now - t) as f64 / NANOS_PER_SEC);
        let (after, limit) = (self.config.holdover_after_s, self.config.holdover_limit_s);
        self.state = match self.state {
            LockState::Acquiring if self.lock_reached(now) => LockState::Locked,
            LockState::Acquiring => LockState::Acquiring,
            LockState::Locked | LockState::Holdover if since_sample > limit => {
                // Coming back will need a fresh lock, and a frequency learnt afresh: the bound
                // allowed it to drift by up to `max_clock_error_ppb` beyond the model's wander,
                // and a filter still sure of the old one would lock on it (with 20x the wander
                // assumed, 1 ppm off after an hour, and the bound 3.4 us short).
                self.accepted_since_start = 0;
                if let Some(filter) = self.filter.as_mut() {
                    filter.doubt_frequency(self.config.max_clock_error_ppb);
                }
                LockState::Unsynchronised
            }
            LockState::Locked if since_sample > after => {
                if let Some(filter) = self.filter.as_mut() {
                    filter.enter_holdover();
                }
                LockState::Holdover
            }
            LockState::Holdover if since_sample > after => LockState::Holdover,
            LockState::Locked | LockState::Holdover => LockState::Locked,
            LockState::Unsynchronised if since_sample <= after => LockState::Acquiring,
            LockState::Unsynchronised => LockState::Unsynchronised,
        };
    }

    /// Lock: enough samples since (re)starting, and the believed estimate within two sample
    /// jitters (2 us with PPS), three deviations included. A steered clock must also have
    /// removed its error; an observed one only be measured (its offset is in the bound).
    fn lock_reached(&self, now: Nanos) -> bool {
        let estimate = self.estimate(now);
        let offset = if self.config.steers { estimate.offset_ns.abs() } else { 0.0 };
        self.accepted_since_start >= self.config.lock_samples
            && offset + 3.0 * estimate.offset_sd_ns <= 2.0 * estimate.jitter_ns.max(1_000.0)
    }

    pub fn estimate(&self, now: Nanos) -> Estimate {
        let jitter_ns = self.source.map_or(self.jitter_ns[0], |q| self.jitter_ns[slot(q)]);
        let Some(filter) = self.filter.as_ref() else {
            return Estimate {
                state: self.state,
                offset_ns: 0.0,
                frequency_ppb: self.prior_frequency.map_or(0.0, |p| p.0),
                skew_ppb: self.prior_frequency.map_or(self.config.max_frequency_ppb, |p| p.1),
                jitter_ns,
                offset_sd_ns: f64::INFINITY,
                error_bound_ns: f64::INFINITY,
                last_sample_at: None,
                source: None,
            };
        };
        let (phase, frequency, cov) = filter.predict(now);
        let offset_ns = phase + self.corrections.at(now);
        let offset_sd_ns = cov[0][0].sqrt();
        let since_sample = self.last_sample_at.map_or(0.0, |t| (now - t).max(0) as f64 / NANOS_PER_SEC);
        // The filter's own uncertainty, widened for what its model cannot know: late
        // interrupts it let through, and in holdover, oscillator changes beyond the random walk.
        let correction = self.corrections.at(now);
        let worst_hypothesis = filter
            .plausible_phases(now)
            .map(|(phase, sd)| (phase + correction).abs() + 6.0 * sd)
            .fold(0.0, f64::max);
        let bias = match self.source {
            Some(Quality::NmeaOnly) => self.config.nmea_bias_bound_ns,
            Some(_) => self.config.pps_bias_bound_ns,
            None => 0.0,
        };
        let error_bound_ns = worst_hypothesis
            + jitter_ns
            + bias
            + self.config.max_clock_error_ppb * (since_sample - self.config.holdover_after_s).max(0.0);
        Estimate {
            state: self.state,
            offset_ns,
            frequency_ppb: frequency,
            skew_ppb: cov[1][1].sqrt(),
            jitter_ns,
            offset_sd_ns,
            error_bound_ns,
            last_sample_at: self.last_sample_at,
            source: self.source,
        }
    }

    pub fn counts(&self) -> DisciplineCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refclock_core::sim::SimRng;

    #[test]
    fn a_run_shows_its_scatter_drift_and_a_late_interrupt_left_out() {
        let mut rng = SimRng::new(5);
        let mut run: Vec<(Nanos, f64)> =
            (0..16i64).map(|i| (i * 1_000_000_000, 3_000.0 * i as f64 + 50_000.0 * rng.normal())).collect();
        run[7].1 += 400_000.0; // a late interrupt
        let scatter = run_scatter_ns(&run, 3_000.0).unwrap_or_default();
        assert!((30_000.0..75_000.0).contains(&scatter), "{scatter} ns for a 50 us scatter");
        assert_eq!(run_scatter_ns(&run[..3], 3_000.0), None, "two differences say too little");
    }
}
