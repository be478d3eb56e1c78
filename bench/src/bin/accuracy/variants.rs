//! The scenario changed one thing at a time (noisier or quieter PPS, more and later late
//! interrupts, a faster wander, other temperature changes, a worse crystal): is the error
//! bound still kept in every second, and how far do the figures move? The discipline is tuned
//! on the standard scenario; these are the conditions a real Pi may put it in instead.

use stratum1_core::clock::accuracy::{self, AccuracyReport, Timeline};
use stratum1_core::clock::simulation::SimulationConfig;

type Change = fn(&mut SimulationConfig);

fn temperature_step(c: &mut SimulationConfig, by_ppb: f64, time_constant_s: f64) {
    if let Some(step) = c.oscillator.temperature_step.as_mut() {
        step.by_ppb = by_ppb;
        step.time_constant_s = time_constant_s;
    }
}

const VARIANTS: [(&str, Change); 12] = [
    ("standard", |_| {}),
    ("PPS jitter 0.2 us", |c| c.receiver.pps_jitter_ns = 200),
    ("PPS jitter 3 us", |c| c.receiver.pps_jitter_ns = 3_000),
    ("PPS jitter 5 us", |c| c.receiver.pps_jitter_ns = 5_000),
    ("PPS jitter 10 us", |c| c.receiver.pps_jitter_ns = 10_000),
    ("PPS jitter 50 us", |c| c.receiver.pps_jitter_ns = 50_000),
    ("10 % late, to 100 us", |c| c.receiver.late_edges = (0.10, 100_000)),
    ("2 % late, to 1 ms", |c| c.receiver.late_edges = (0.02, 1_000_000)),
    ("wander 5 ppb/rt(s)", |c| c.oscillator.wander_ppb = 5.0),
    ("step -3 ppm, 30 s", |c| temperature_step(c, -3_000.0, 30.0)),
    ("step +5 ppm, 600 s", |c| temperature_step(c, 5_000.0, 600.0)),
    ("crystal 100 ppm off", |c| c.oscillator.frequency_ppb *= 2.0),
];

/// Runs every variant over seeds 1..=`seeds` and prints one line each.
pub fn run(seeds: u64) {
    let timeline = Timeline::STANDARD;
    println!(
        "{:<22} {:>10} {:>15} {:>17} {:>14} {:>17}",
        "variant",
        "lock worst",
        "RMS median/worst",
        "max median/worst",
        "holdover med.",
        "bound, worst margin"
    );
    for (name, change) in VARIANTS {
        let reports: Vec<AccuracyReport> = (1..=seeds)
            .map(|seed| {
                let mut config = accuracy::scenario(seed, timeline);
                change(&mut config);
                accuracy::run(config, timeline)
            })
            .collect();
        let sorted = |f: &dyn Fn(&AccuracyReport) -> f64| {
            let mut v: Vec<f64> = reports.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let rms = sorted(&|r| r.rms_ns);
        let max = sorted(&|r| r.max_ns);
        let holdover = sorted(&|r| r.holdover_error_ns / 1e3);
        let lock = sorted(&|r| r.lock_after_s.map_or(f64::INFINITY, f64::from));
        let margin = sorted(&|r| r.min_margin_ns);
        let broken = margin.iter().filter(|m| **m < 0.0).count();
        let (mid, last) = (rms.len() / 2, rms.len() - 1);
        let bound = if broken == 0 { "kept".to_string() } else { format!("BROKEN in {broken}") };
        println!(
            "{name:<22} {:>8.0} s {:>7.0}/{:<7.0} {:>8.0}/{:<8.0} {:>11.1} us {:>9}, {:>5.2} us",
            lock[last],
            rms[mid],
            rms[last],
            max[mid],
            max[last],
            holdover[mid],
            bound,
            margin[0] / 1e3
        );
    }
}
