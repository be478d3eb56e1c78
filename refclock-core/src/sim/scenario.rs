//! What the simulated receiver does each second (pure, seeded): edge jitter, late interrupts,
//! NMEA latency, fix loss and recovery, and a label jump.

use super::nmea_out::EpochReport;
use super::rng::SimRng;

#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// NMEA arrives this long after its edge: uniformly within [min, max] milliseconds.
    pub nmea_latency_ms: (u32, u32),
    /// PPS timestamp jitter: Gaussian with this standard deviation in nanoseconds (a Pi's GPIO
    /// interrupt: about 1 us).
    pub pps_jitter_ns: u32,
    /// The fraction of edges whose interrupt is served late, and by up to how many nanoseconds
    /// (uniform): a busy Pi delays some interrupts by tens of microseconds.
    pub late_edges: (f64, u32),
    /// Whether PPS edges are produced at all.
    pub pps: bool,
    /// Lose the fix every `.0` seconds for `.1` seconds (0 = never).
    pub fix_loss: (u32, u32),
    /// From the `.0`-th second on, label every second `.1` seconds off (0 = never).
    pub label_jump: (u32, i64),
    /// From the `.0`-th second on (0 = never), every edge comes `.1` ns later per second
    /// elapsed since: a spoofer walking the time away slowly enough to stay paired.
    pub spoof_pull: (u32, f64),
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nmea_latency_ms: (50, 500),
            pps_jitter_ns: 1_000,
            late_edges: (0.01, 100_000),
            pps: true,
            fix_loss: (0, 0),
            label_jump: (0, 0),
            spoof_pull: (0, 0.0),
            seed: 1,
        }
    }
}

/// The plan for one true second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SecondPlan {
    /// Edge time minus the true second, or `None` when no PPS is produced.
    pub edge_jitter_ns: Option<i64>,
    /// How much of that jitter is a late interrupt (0: on time). Only a benchmark's oracle may
    /// know this; a discipline must find late edges for itself.
    pub late_ns: i64,
    pub nmea_latency_ns: i64,
    pub report: EpochReport,
}

pub struct Scenario {
    config: SimConfig,
    rng: SimRng,
    elapsed: u32,
}

impl Scenario {
    pub fn new(config: SimConfig) -> Scenario {
        let rng = SimRng::new(config.seed);
        Scenario { config, rng, elapsed: 0 }
    }

    /// Plans true second `second`, the `elapsed`-th since the receiver started.
    pub fn second(&mut self, second: i64) -> SecondPlan {
        let elapsed = self.elapsed;
        self.elapsed += 1;
        let on_time_jitter_ns = (self.rng.normal() * f64::from(self.config.pps_jitter_ns)).round() as i64;
        let (late_fraction, late_max_ns) = self.config.late_edges;
        let late_ns = if self.rng.chance(late_fraction) {
            self.rng.uniform(1, i64::from(late_max_ns.max(1)))
        } else {
            0
        };
        let (pull_at, pull_ns_per_s) = self.config.spoof_pull;
        let pulled_ns = if pull_at > 0 && elapsed >= pull_at {
            (f64::from(elapsed - pull_at) * pull_ns_per_s).round() as i64
        } else {
            0
        };
        let edge_jitter_ns = on_time_jitter_ns + late_ns + pulled_ns;
        let (low, high) = self.config.nmea_latency_ms;
        let nmea_latency_ns = self.rng.uniform(i64::from(low), i64::from(high.max(low))) * 1_000_000;
        let (every, lasting) = self.config.fix_loss;
        let fix = every == 0 || elapsed < every || (elapsed % every) >= lasting;
        let (jump_at, jump_by) = self.config.label_jump;
        let offset = if jump_at > 0 && elapsed >= jump_at { jump_by } else { 0 };
        SecondPlan {
            edge_jitter_ns: self.config.pps.then_some(edge_jitter_ns),
            late_ns,
            nmea_latency_ns,
            report: EpochReport { labelled_second: second + offset, fix, noise: elapsed },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_late_edges_and_latency_follow_the_config() {
        let config =
            SimConfig { nmea_latency_ms: (100, 900), late_edges: (0.05, 50_000), ..SimConfig::default() };
        let mut scenario = Scenario::new(config);
        let n = 20_000;
        let mut late = 0;
        let mut on_time = Vec::new();
        for s in 0..n {
            let plan = scenario.second(s);
            let jitter = plan.edge_jitter_ns.unwrap();
            assert!((0..=50_000).contains(&plan.late_ns), "late by {} ns", plan.late_ns);
            assert!((jitter - plan.late_ns).abs() < 8_000, "without its lateness, an edge is on time");
            // Beyond 8 sigma only a late interrupt can explain it, and it is never early.
            if jitter > 8_000 {
                assert!(jitter <= 50_000 + 8_000);
                late += 1;
            } else {
                assert!(jitter > -8_000);
                on_time.push(jitter as f64);
            }
            assert!((100_000_000..=900_000_000).contains(&plan.nmea_latency_ns));
            assert_eq!(plan.report.labelled_second, s);
            assert!(plan.report.fix);
        }
        let fraction = f64::from(late) / n as f64;
        assert!((0.04..0.06).contains(&fraction), "late fraction {fraction}");
        let rms = (on_time.iter().map(|j| j * j).sum::<f64>() / on_time.len() as f64).sqrt();
        assert!((900.0..1_100.0).contains(&rms), "jitter rms {rms} ns");
    }

    #[test]
    fn fix_is_lost_and_recovered_on_schedule() {
        let mut scenario = Scenario::new(SimConfig { fix_loss: (10, 3), ..SimConfig::default() });
        let fixes: Vec<bool> = (0..25).map(|s| scenario.second(s).report.fix).collect();
        let lost: Vec<usize> = fixes.iter().enumerate().filter(|(_, f)| !**f).map(|(i, _)| i).collect();
        assert_eq!(lost, vec![10, 11, 12, 20, 21, 22]);
    }

    #[test]
    fn a_spoofer_pulls_the_edges_steadily_from_the_configured_second() {
        let config = SimConfig {
            spoof_pull: (10, 1_000.0),
            pps_jitter_ns: 0,
            late_edges: (0.0, 0),
            ..SimConfig::default()
        };
        let mut scenario = Scenario::new(config);
        let edges: Vec<i64> = (0..30).map(|s| scenario.second(s).edge_jitter_ns.unwrap()).collect();
        assert_eq!(edges[9], 0);
        assert_eq!(edges[10], 0);
        assert_eq!(edges[20], 10_000);
        assert_eq!(edges[29], 19_000);
    }

    #[test]
    fn labels_jump_from_the_configured_second() {
        let mut scenario = Scenario::new(SimConfig { label_jump: (5, 1), ..SimConfig::default() });
        let offsets: Vec<i64> = (0..8).map(|s| scenario.second(s).report.labelled_second - s).collect();
        assert_eq!(offsets, vec![0, 0, 0, 0, 0, 1, 1, 1]);
    }
}
