//! The discipline in simulation (no threads, no sleeps, deterministic): lock, holdover,
//! recovery, a GNSS label jump, leap seconds and a restart from the drift. Bounds are looser
//! than the benchmark's targets so that they hold for every seed tried, not just one.

use refclock_core::Quality;
use stratum1_core::clock::accuracy::{self, Timeline};
use stratum1_core::clock::simulation::Simulation;
use stratum1_core::clock::SimulatedClock;
use stratum1_core::clock::{Discipline, DisciplineConfig, LockState, Steering};
use stratum1_core::clock::{Oscillator, OscillatorConfig};

const S: i64 = 1_000_000_000;

fn short_timeline() -> Timeline {
    Timeline { holdover_from: 900, holdover_to: 1_500, end: 1_700, temperature_step_at: 450 }
}

#[test]
fn locks_holds_over_and_recovers() {
    for seed in [1, 2, 7] {
        let timeline = short_timeline();
        let report = accuracy::run(accuracy::scenario(seed, timeline), timeline);
        let lock = report.lock_after_s.expect("locks");
        assert!(lock <= 60, "seed {seed}: lock after {lock} s");
        assert!(report.rms_ns < 600.0, "seed {seed}: rms {} ns", report.rms_ns);
        assert!(report.max_ns < 6_000.0, "seed {seed}: max {} ns", report.max_ns);
        // 10 minutes of holdover with 1 ppb/√s wander: ~10 us expected, 100 us is a failure.
        assert!(
            report.holdover_error_ns < 100_000.0,
            "seed {seed}: holdover {} ns",
            report.holdover_error_ns
        );
        let relock = report.relock_after_s.expect("relocks after PPS returns");
        assert!(relock <= 30, "seed {seed}: relock after {relock} s");
        assert!(
            report.min_margin_ns > 0.0,
            "seed {seed}: bound below the true error by {} ns",
            -report.min_margin_ns
        );
    }
}

#[test]
fn holdover_ends_in_unsynchronised_after_the_limit() {
    let timeline = short_timeline();
    let mut config = accuracy::scenario(4, timeline);
    config.discipline.holdover_limit_s = 120.0;
    config.pps_outages = vec![(300, 100_000)];
    let mut sim = Simulation::new(config);
    let states: Vec<LockState> = (0..600).map(|_| sim.step().estimate.state).collect();
    assert_eq!(states[290], LockState::Locked);
    assert_eq!(states[320], LockState::Holdover);
    assert!(states[300 + 100] == LockState::Holdover, "still within the limit");
    assert_eq!(states[300 + 140], LockState::Unsynchronised);
    assert_eq!(states[599], LockState::Unsynchronised);
}

#[test]
fn a_label_jump_is_refused_and_never_stepped() {
    let timeline = short_timeline();
    let mut config = accuracy::scenario(5, timeline);
    // From second 200 on, every label says one second later than the truth.
    config.receiver.label_jump = (200, 1);
    config.pps_outages.clear();
    let mut sim = Simulation::new(config);
    let mut worst_after_jump: f64 = 0.0;
    for _ in 0..400 {
        let record = sim.step();
        if record.elapsed > 200 {
            worst_after_jump = worst_after_jump.max(record.true_error_ns.abs());
        }
    }
    let counts = sim.discipline().counts();
    assert_eq!(counts.steps, 1, "only the initial step: {counts:?}");
    assert!(worst_after_jump < 200_000.0, "clock followed the jump: {worst_after_jump} ns");
}

/// Leap seconds with the kernel told in time: at midnight the clock repeats (insert) or skips
/// (delete) a second exactly as UTC does, so the samples never jump and nothing is stepped.
#[test]
fn leap_second_insert_and_delete_pass_without_a_step() {
    for direction in [1i8, -1] {
        let config =
            OscillatorConfig { frequency_ppb: 20_000.0, wander_ppb: 1.0, temperature_step: None, seed: 3 };
        let start = 1_798_761_600 - 600; // 2027-01-01 00:00:00 UTC minus ten minutes
        let mut clock = SimulatedClock::new(Oscillator::new(config), start * S, 0.0);
        let mut discipline =
            Discipline::new(DisciplineConfig { steers: true, ..DisciplineConfig::default() });
        let mut rng = refclock_core::sim::SimRng::new(9);
        let mut leaps_done = 0i64;
        for elapsed in 1..1_200i64 {
            // `real` runs on without leaps; UTC labels (Unix seconds) repeat or skip one.
            let real = (start + elapsed) * S;
            if elapsed == 600 {
                clock.leap(real, direction);
                leaps_done = i64::from(direction);
            }
            let utc_label = start + elapsed - leaps_done;
            let edge_reading = clock.read(real + (rng.normal() * 1_000.0) as i64);
            let offset = (edge_reading - utc_label * S) as f64;
            let now = clock.read(real + 300_000_000);
            if let Some(steering) = discipline.on_sample(utc_label * S, offset, Quality::Pps, now) {
                clock.steer(real + 300_000_000, steering);
            }
            if let Some(steering) = discipline.on_tick(clock.read(real + 300_000_000)) {
                clock.steer(real + 300_000_000, steering);
            }
        }
        let counts = discipline.counts();
        assert_eq!((counts.steps, counts.reacquisitions), (0, 0), "direction {direction}: {counts:?}");
        let error = clock.error_at((start + 1_200) * S) + f64::from(direction) * 1e9;
        assert!(error.abs() < 5_000.0, "direction {direction}: {error} ns after the leap");
        assert_eq!(discipline.estimate(clock.read((start + 1_200) * S)).state, LockState::Locked);
    }
}

#[test]
fn a_remembered_frequency_skips_relearning() {
    let timeline = Timeline { holdover_from: 200, holdover_to: 200, end: 200, temperature_step_at: 10_000 };
    let config = accuracy::scenario(6, timeline);
    let cold = accuracy::run(config.clone(), timeline);
    // What a drift file would hold after a previous run: the oscillator's 50 ppm.
    let warm_discipline = Discipline::new(config.discipline.clone()).with_prior_frequency(50_000.0, 10.0);
    let mut warm = Simulation::with_discipline(warm_discipline, config);
    let mut warm_lock = None;
    for _ in 0..200 {
        let record = warm.step();
        if record.estimate.state == LockState::Locked && warm_lock.is_none() {
            warm_lock = Some(record.elapsed);
        }
    }
    let (cold_lock, warm_lock) = (cold.lock_after_s.expect("cold locks"), warm_lock.expect("warm locks"));
    assert!(warm_lock <= cold_lock, "warm start locked after {warm_lock} s, cold after {cold_lock} s");
    let f = warm.discipline().estimate(warm.now()).frequency_ppb;
    assert!((f - 50_000.0).abs() < 100.0, "frequency {f}");
}

#[test]
fn observe_only_never_steers() {
    let mut discipline = Discipline::new(DisciplineConfig::default());
    for second in 1..100 {
        let steering: Option<Steering> =
            discipline.on_sample(second * S, 5e6, Quality::Pps, second * S + S / 3);
        assert_eq!(steering, None);
        assert_eq!(discipline.on_tick(second * S + S / 2), None);
    }
    let estimate = discipline.estimate(100 * S);
    assert_eq!(estimate.state, LockState::Locked);
    assert!((estimate.offset_ns - 5e6).abs() < 1_000.0);
    assert!(estimate.error_bound_ns >= 5e6, "the host clock's offset is in the bound");
}

/// PPS configured but silent from the start (wrong pin, overlay missing): after the fallback
/// delay the labels alone lock the clock at NMEA accuracy, announced as such; the first edge
/// hands over to PPS. The announced bound covers the true error throughout.
#[test]
fn without_pps_from_the_start_nmea_serves_until_the_first_edge() {
    let timeline = short_timeline();
    let mut config = accuracy::scenario(8, timeline);
    config.pps_outages = vec![(0, 300)];
    let mut sim = Simulation::new(config);
    let mut nmea_locked = false;
    for _ in 0..900 {
        let record = sim.step();
        let estimate = record.estimate;
        if matches!(estimate.state, LockState::Locked | LockState::Holdover) {
            assert!(
                estimate.error_bound_ns >= record.true_error_ns.abs(),
                "second {}: bound {} ns < true error {} ns",
                record.elapsed,
                estimate.error_bound_ns,
                record.true_error_ns
            );
        }
        if record.elapsed < 300 && estimate.state == LockState::Locked {
            assert_eq!(estimate.source, Some(Quality::NmeaOnly), "second {}", record.elapsed);
            nmea_locked = true;
        }
        if record.elapsed >= 800 {
            assert_eq!(estimate.state, LockState::Locked, "second {}", record.elapsed);
            assert_eq!(estimate.source, Some(Quality::Pps));
            assert!(
                record.true_error_ns.abs() < 10_000.0,
                "second {}: {} ns",
                record.elapsed,
                record.true_error_ns
            );
        }
    }
    assert!(nmea_locked, "never locked on NMEA alone");
    assert_eq!(sim.discipline().counts().handovers, 1);
}

/// The first two samples learn the frequency; if one of them was a late interrupt the learnt
/// frequency is wrong and every later sample looks like an outlier. The run of outliers must
/// then unlearn that frequency as well as the phase, or the same run starts again.
#[test]
fn a_late_first_interrupt_does_not_keep_the_clock_from_locking() {
    let mut discipline = Discipline::new(DisciplineConfig::default());
    let frequency_ppb = 50_000.0;
    let mut lock = None;
    let mut noise = refclock_core::sim::SimRng::new(3);
    for second in 1..=120i64 {
        let late_ns = if second == 1 { 60_000.0 } else { 0.0 };
        let offset = frequency_ppb * second as f64 + late_ns + 1_000.0 * noise.normal();
        let at = second * S;
        discipline.on_sample(at, offset, Quality::Pps, at + S / 2);
        let estimate = discipline.estimate(at + S / 2);
        if estimate.state == LockState::Locked && lock.is_none() {
            lock = Some(second);
            let error = (estimate.frequency_ppb - frequency_ppb).abs();
            assert!(error < 1_000.0, "locked with the frequency {error} ppb off");
        }
    }
    let lock = lock.expect("locks");
    assert!(lock <= 45, "locked after {lock} s");
    assert!(discipline.counts().reacquisitions >= 1, "{:?}", discipline.counts());
}

/// The learnt PPS jitter over a run of the scenario without its temperature step: (lowest,
/// highest) from second `from` on.
fn learnt_jitter_range(seed: u64, jitter_ns: u32, from: usize) -> (f64, f64) {
    let timeline =
        Timeline { holdover_from: 3_000, holdover_to: 3_000, end: 3_000, temperature_step_at: u32::MAX };
    let mut config = accuracy::scenario(seed, timeline);
    config.oscillator.temperature_step = None;
    config.receiver.pps_jitter_ns = jitter_ns;
    let mut sim = Simulation::new(config);
    let jitters: Vec<f64> = (0..timeline.end).map(|_| sim.step().estimate.jitter_ns).collect();
    jitters[from..].iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &j| (lo.min(j), hi.max(j)))
}

#[test]
fn the_learnt_jitter_holds_steady_through_late_interrupts() {
    // The filter's gain and its outlier gate follow this figure. Averaged over 32 samples it
    // wandered from 0.70 to 1.35 us in this scenario (1 % late interrupts); it must not.
    for seed in 1..=10 {
        let (lo, hi) = learnt_jitter_range(seed, 1_000, 600);
        assert!(lo > 800.0 && hi < 1_250.0, "seed {seed}: learnt jitter between {lo:.0} and {hi:.0} ns");
    }
}

#[test]
fn a_jitter_far_from_the_first_guess_is_learnt() {
    // Roughly within two minutes (the average's memory starts short), closely after ten.
    for (seed, jitter) in (1..=6).flat_map(|s| [(s, 5_000), (s, 200)]) {
        for (from, within) in [(120, 0.4), (600, 0.25)] {
            let (lo, hi) = learnt_jitter_range(seed, jitter, from);
            let (lo, hi) = (lo / f64::from(jitter), hi / f64::from(jitter));
            assert!(
                lo > 1.0 - within && hi < 1.0 + within,
                "seed {seed}: {jitter} ns learnt as {lo:.2}..{hi:.2} of it from {from} s on"
            );
        }
    }
}

#[test]
fn a_noisier_pps_than_first_assumed_is_not_trusted_beyond_its_noise() {
    // 5 us of jitter where the discipline starts out assuming 1 us: what it learns from the
    // first samples it learns too confidently unless its uncertainty grows with the jitter it
    // then measures. Without that, the bound fell below the true error in 3 of these 10 seeds
    // (by up to 4.2 us, just after lock), and the error reached 29 us.
    let timeline = Timeline { holdover_from: 600, holdover_to: 600, end: 600, temperature_step_at: u32::MAX };
    for seed in 1..=10 {
        let mut config = accuracy::scenario(seed, timeline);
        config.oscillator.temperature_step = None;
        config.receiver.pps_jitter_ns = 5_000;
        let report = accuracy::run(config, timeline);
        assert!(report.lock_after_s.is_some_and(|s| s <= 90), "seed {seed}: lock {:?}", report.lock_after_s);
        assert!(
            report.min_margin_ns > 0.0,
            "seed {seed}: bound below the true error by {} ns",
            -report.min_margin_ns
        );
        assert!(report.max_ns < 15_000.0, "seed {seed}: max {} ns", report.max_ns);
    }
}

#[test]
fn a_pps_fifty_times_noisier_than_first_assumed_keeps_the_bound() {
    // 50 us of jitter (PPS through a USB adapter, say) against a first guess of 1 us: nearly
    // every sample is an outlier at first. Doubling the guess at each run of outliers took
    // minutes; the clock locked on 4 us and its bound fell 20 us short (seeds 2 and 3). The
    // run's own scatter now sets the new guess.
    let timeline = Timeline { holdover_from: 600, holdover_to: 600, end: 600, temperature_step_at: u32::MAX };
    for seed in 1..=6 {
        let mut config = accuracy::scenario(seed, timeline);
        config.oscillator.temperature_step = None;
        config.receiver.pps_jitter_ns = 50_000;
        let report = accuracy::run(config, timeline);
        assert!(report.lock_after_s.is_some_and(|s| s <= 180), "seed {seed}: lock {:?}", report.lock_after_s);
        assert!(
            report.min_margin_ns > 0.0,
            "seed {seed}: bound below the true error by {} ns",
            -report.min_margin_ns
        );
    }
}

#[test]
fn after_the_holdover_limit_the_frequency_is_learnt_afresh() {
    // An oscillator wandering 20 times faster than the filter assumes is 1 ppm from the
    // frequency the filter kept after the hour's holdover. Still sure of it, the filter locked
    // on it within 15 s of PPS returning, and its bound fell up to 3.4 us short (these seeds).
    let timeline = Timeline::STANDARD;
    for seed in [2, 8, 9] {
        let mut config = accuracy::scenario(seed, timeline);
        config.oscillator.wander_ppb = 20.0;
        let report = accuracy::run(config, timeline);
        assert!(report.relock_after_s.is_some(), "seed {seed}: never relocked");
        assert!(
            report.min_margin_ns > 0.0,
            "seed {seed}: bound below the true error by {} ns",
            -report.min_margin_ns
        );
    }
}

#[test]
fn labels_later_than_configured_never_set_the_clock_a_second_off() {
    // The default pairing expects labels -100..700 ms after their edge. A receiver sending
    // them 920-980 ms after (all of them) or 700-990 ms after (some between windows) had them
    // taken for the next edge's: the clock locked a second off, its bound a microsecond wide.
    // Now such labels are not used at all, and the clock never claims to be synchronised.
    let timeline = Timeline { holdover_from: 300, holdover_to: 300, end: 300, temperature_step_at: u32::MAX };
    for (seed, latency_ms) in [(1, (920, 980)), (2, (920, 980)), (3, (700, 990)), (4, (700, 990))] {
        let mut config = accuracy::scenario(seed, timeline);
        config.receiver.nmea_latency_ms = latency_ms;
        let report = accuracy::run(config, timeline);
        assert_eq!(report.synchronised_s, 0, "seed {seed}, {latency_ms:?} ms: {report:?}");
    }
}

/// While the temperature step bends the phase, the samples that show it must not be thrown
/// away as late interrupts: in the 200 s after it begins, the discipline rejects no more
/// samples than were really late. (Gating samples that read the clock ahead at 3σ instead of
/// 4σ did: it dropped a step's most telling samples, in 4 of these 20 seeds.)
#[test]
fn a_temperature_step_is_not_taken_for_late_interrupts() {
    let timeline = Timeline { holdover_from: 600, holdover_to: 600, end: 600, temperature_step_at: 400 };
    let mut extra = Vec::new();
    for seed in 1..=20 {
        let config = accuracy::scenario(seed, timeline);
        // The same receiver draws as the simulation's, to know which edges were late.
        let mut plans = refclock_core::sim::Scenario::new(config.receiver.clone());
        let mut sim = Simulation::new(config.clone());
        let (mut late, mut rejected_before) = (0, 0);
        for _ in 0..timeline.end {
            let plan = plans.second(0);
            let record = sim.step();
            if record.elapsed == timeline.temperature_step_at {
                rejected_before = sim.discipline().counts().outliers;
            }
            if record.elapsed > timeline.temperature_step_at && plan.late_ns > 0 {
                late += 1;
            }
        }
        let rejected = sim.discipline().counts().outliers - rejected_before;
        if rejected > late {
            extra.push((seed, rejected, late));
        }
    }
    assert!(extra.is_empty(), "(seed, rejected, late) where more were rejected than late: {extra:?}");
}

#[test]
fn a_configured_pps_latency_is_counted_in_the_bound_and_nowhere_else() {
    // The same seeded run twice, once with half a Pi 5's published 11.7 us latency as the bias
    // the bound must allow for (refclock.pps-offset-ns = 11700).
    let timeline = short_timeline();
    let plain = accuracy::scenario(3, timeline);
    let mut biased = plain.clone();
    biased.discipline.pps_bias_bound_ns = 5_850.0;
    let (mut a, mut b) = (Simulation::new(plain), Simulation::new(biased));
    let mut locked = 0;
    for _ in 0..400 {
        let (x, y) = (a.step(), b.step());
        assert_eq!(x.true_error_ns, y.true_error_ns, "the steering is the same");
        if x.estimate.state == LockState::Locked {
            locked += 1;
            let extra = y.estimate.error_bound_ns - x.estimate.error_bound_ns;
            assert!((extra - 5_850.0).abs() < 1e-6, "bound wider by {extra} ns");
        }
    }
    assert!(locked > 300, "locked for {locked} s of 400");
}
