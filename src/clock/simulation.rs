//! The whole chain in simulation, second by second and without threads or sleeps: a simulated
//! receiver (PPS jitter, late interrupts, NMEA bytes) stamped by a simulated clock, the real
//! receiver core and pairing, the discipline, and its steering fed back into the clock. The
//! accuracy benchmark and the discipline tests run this; the truth is known at every second.

use refclock::nmea::DateWindow;
use refclock::pairing::PairingConfig;
use refclock::receiver::Receiver;
use refclock::sim::{nmea_out, Scenario, SimConfig};

use super::discipline::{Discipline, DisciplineConfig, Estimate};
use super::filter::Nanos;
use super::oscillator::{Oscillator, OscillatorConfig};
use super::sim_clock::SimulatedClock;

const NANOS_PER_SEC: i64 = 1_000_000_000;

#[derive(Clone, Debug)]
pub struct SimulationConfig {
    pub receiver: SimConfig,
    pub oscillator: OscillatorConfig,
    /// Clock minus reference at the start, ns.
    pub initial_error_ns: f64,
    pub discipline: DisciplineConfig,
    /// Reference Unix second at the start (inside the receiver's date window).
    pub start_unix_s: i64,
    /// [from, to) seconds after the start in which no PPS edge arrives (antenna cut, say).
    pub pps_outages: Vec<(u32, u32)>,
}

/// The truth and the discipline's view at one whole second.
#[derive(Clone, Copy, Debug)]
pub struct SecondRecord {
    /// Seconds since the start.
    pub elapsed: u32,
    /// Clock minus reference, ns: what a client would really get.
    pub true_error_ns: f64,
    /// The oscillator's real frequency error, ppb.
    pub true_frequency_ppb: f64,
    pub estimate: Estimate,
}

pub struct Simulation {
    clock: SimulatedClock,
    discipline: Discipline,
    receiver: Receiver,
    scenario: Scenario,
    config: SimulationConfig,
    elapsed: u32,
}

impl Simulation {
    pub fn new(config: SimulationConfig) -> Self {
        Self::with_discipline(Discipline::new(config.discipline.clone()), config)
    }

    /// Runs with a discipline prepared elsewhere (a drift file read, say).
    pub fn with_discipline(discipline: Discipline, config: SimulationConfig) -> Self {
        let start = config.start_unix_s * NANOS_PER_SEC;
        let clock = SimulatedClock::new(Oscillator::new(config.oscillator), start, config.initial_error_ns);
        let receiver = Receiver::new(DateWindow::default(), PairingConfig::default(), true);
        let scenario = Scenario::new(config.receiver.clone());
        Simulation { clock, discipline, receiver, scenario, config, elapsed: 0 }
    }

    /// Simulates the next second: its edge, its NMEA, the steering that follows.
    pub fn step(&mut self) -> SecondRecord {
        let second = self.config.start_unix_s + i64::from(self.elapsed) + 1;
        let edge_at = second * NANOS_PER_SEC;
        let plan = self.scenario.second(second);
        let outage =
            self.config.pps_outages.iter().any(|&(from, to)| (from..to).contains(&(self.elapsed + 1)));
        let mut samples = Vec::new();
        if let (Some(jitter), false) = (plan.edge_jitter_ns, outage) {
            let stamped = self.clock.read(edge_at + jitter);
            self.receiver.on_edge(stamped, &mut samples);
        }
        let nmea_at = edge_at + plan.nmea_latency_ns;
        let mut arrived = self.clock.read(nmea_at);
        self.receiver.on_bytes(nmea_out::sentences(&plan.report).as_bytes(), arrived, &mut samples);
        self.receiver.on_tick(arrived, &mut samples);
        for sample in samples {
            let at = sample.utc_second * NANOS_PER_SEC;
            let offset = sample.offset_nanos() as f64;
            if let Some(steering) = self.discipline.on_sample(at, offset, sample.quality, arrived) {
                self.clock.steer(nmea_at, steering);
                if steering.step_ns != 0.0 {
                    self.receiver.on_clock_step();
                    // Read the clock again, as a real shell would after stepping it.
                    arrived = self.clock.read(nmea_at);
                }
            }
        }
        if let Some(steering) = self.discipline.on_tick(arrived) {
            self.clock.steer(nmea_at, steering);
        }
        self.elapsed += 1;
        let true_error_ns = self.clock.error_at(nmea_at);
        SecondRecord {
            elapsed: self.elapsed,
            true_error_ns,
            true_frequency_ppb: self.clock.oscillator_ppb(),
            estimate: self.discipline.estimate(arrived),
        }
    }

    pub fn discipline(&self) -> &Discipline {
        &self.discipline
    }

    /// The simulated reference time now.
    pub fn now(&self) -> Nanos {
        (self.config.start_unix_s + i64::from(self.elapsed)) * NANOS_PER_SEC
    }
}
