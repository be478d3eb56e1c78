//! The whole chain in simulation, second by second and without threads or sleeps: a simulated
//! receiver (PPS jitter, late interrupts, NMEA bytes) stamped by a simulated clock, the real
//! receiver core and pairing, the discipline, and its steering fed back into the clock. The
//! accuracy benchmark and the discipline tests run this; the truth is known at every second.

use crate::time::NANOS_PER_SECOND;
use refclock_core::nmea::DateWindow;
use refclock_core::pairing::PairingConfig;
use refclock_core::receiver::Receiver;
use refclock_core::sim::{nmea_out, Scenario, SimConfig};

use super::discipline::LockState;
use super::discipline::{Discipline, DisciplineConfig, Estimate};
use super::network_follower::{network_steering, NetworkSteering};
use super::oscillator::{Oscillator, OscillatorConfig};
use super::sim_clock::SimulatedClock;
use crate::filter::Nanos;
use crate::integrity::{GuardConfig, IntegrityState, SampleBounds, Witness};
use crate::sources::{Measurement, SourceEvent, SourceInfo, SourceMode};

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
    /// An authenticated upstream source witnessing the receiver, if any.
    pub network: Option<SimulatedNetwork>,
}

/// One NTS source on a network path: answered every `poll_s` seconds with the clock's true
/// error plus a path error within ±`path_error_ns` that its root distance covers.
#[derive(Clone, Debug)]
pub struct SimulatedNetwork {
    pub poll_s: u32,
    /// Half the round trip: what the root distance allows for asymmetry.
    pub half_delay_ns: f64,
    /// The constant asymmetry of the path (within ±half_delay_ns), ns.
    pub path_error_ns: f64,
    pub guard: GuardConfig,
    /// [from, to) seconds in which the source does not answer.
    pub outages: Vec<(u32, u32)>,
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
    pub integrity: IntegrityState,
}

pub struct Simulation {
    clock: SimulatedClock,
    discipline: Discipline,
    receiver: Receiver,
    scenario: Scenario,
    config: SimulationConfig,
    elapsed: u32,
    witness: Witness,
    /// Since when, and at what rate (ppb), network time has been slewing the clock.
    network_slew: Option<(Nanos, f64)>,
}

impl Simulation {
    pub fn new(config: SimulationConfig) -> Self {
        Self::with_discipline(Discipline::new(config.discipline.clone()), config)
    }

    /// Runs with a discipline prepared elsewhere (a drift file read, say).
    pub fn with_discipline(discipline: Discipline, config: SimulationConfig) -> Self {
        let start = config.start_unix_s * NANOS_PER_SECOND;
        let clock = SimulatedClock::new(Oscillator::new(config.oscillator), start, config.initial_error_ns);
        let receiver = Receiver::new(DateWindow::default(), PairingConfig::default(), true);
        let scenario = Scenario::new(config.receiver.clone());
        let sources = config
            .network
            .iter()
            .map(|_| SourceInfo { address: "192.0.2.1".into(), mode: SourceMode::Nts, trusted: true })
            .collect();
        let guard = config.network.as_ref().map_or(GuardConfig::default(), |n| n.guard);
        let witness = Witness::new(sources, guard);
        Simulation { clock, discipline, receiver, scenario, config, elapsed: 0, witness, network_slew: None }
    }

    /// Simulates the next second: its edge, its NMEA, the steering that follows.
    pub fn step(&mut self) -> SecondRecord {
        let second = self.config.start_unix_s + i64::from(self.elapsed) + 1;
        let edge_at = second * NANOS_PER_SECOND;
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
        // As the daemon's clock task does: what the network slew moved the clock by since the
        // last second moves every stored offset, before anything new is compared.
        if let Some((since, slew_ppb)) = self.network_slew.take() {
            self.witness.on_clock_slewed(slew_ppb * (arrived - since).max(0) as f64 / 1e9, arrived);
        }
        self.receiver.on_bytes(nmea_out::sentences(&plan.report).as_bytes(), arrived, &mut samples);
        self.receiver.on_tick(arrived, &mut samples);
        if let Some(disputed) = self.receiver.take_disputed() {
            self.witness.on_disputed(arrived, disputed.offset_nanos() as f64, disputed.quality);
        }
        for sample in samples {
            let at = sample.utc_second * NANOS_PER_SECOND;
            let offset = sample.offset_nanos() as f64;
            if !self.witness.on_sample(arrived, offset, sample.quality) {
                continue;
            }
            if let Some(steering) = self.discipline.on_sample(at, offset, sample.quality, arrived) {
                self.clock.steer(nmea_at, steering);
                if steering.step_ns != 0.0 {
                    self.receiver.on_clock_step();
                    // Read the clock again, as a real shell would after stepping it.
                    arrived = self.clock.read(nmea_at);
                    self.witness.on_clock_step(arrived);
                }
            }
        }
        self.poll_network(nmea_at, arrived);
        let network = self.witness.network();
        match network_steering(&self.discipline.estimate(arrived), network.as_ref(), arrived) {
            Some(NetworkSteering { steering, slew_ppb }) => {
                self.discipline.advance_to(arrived);
                self.discipline.steered_elsewhere(arrived, steering.frequency_ppb);
                self.clock.steer(nmea_at, steering);
                self.network_slew = Some((arrived, slew_ppb));
            }
            None => {
                if let Some(steering) = self.discipline.on_tick(arrived) {
                    self.clock.steer(nmea_at, steering);
                }
            }
        }
        self.elapsed += 1;
        let true_error_ns = self.clock.error_at(nmea_at);
        SecondRecord {
            elapsed: self.elapsed,
            true_error_ns,
            true_frequency_ppb: self.clock.oscillator_ppb(),
            estimate: self.discipline.estimate(arrived),
            integrity: self.witness.state(),
        }
    }

    /// The source's answer when one is due: the clock's true error plus the path's asymmetry.
    fn poll_network(&mut self, at: Nanos, arrived: Nanos) {
        let Some(network) = self.config.network.clone() else { return };
        let elapsed = self.elapsed + 1;
        let estimate = self.discipline.estimate(arrived);
        let bounds = SampleBounds {
            jitter_ns: if estimate.jitter_ns.is_finite() { estimate.jitter_ns } else { 1_000.0 },
            nmea_bias_bound_ns: self.config.discipline.nmea_bias_bound_ns,
            acquiring: estimate.state == LockState::Acquiring,
        };
        if elapsed.is_multiple_of(network.poll_s.max(1)) {
            self.witness.on_source(0, SourceEvent::Polled, arrived, bounds);
            let silent = network.outages.iter().any(|&(from, to)| (from..to).contains(&elapsed));
            if !silent {
                let answer = SourceEvent::Answer(Measurement::stratum_one(
                    arrived,
                    self.clock.error_at(at) + network.path_error_ns,
                    2.0 * network.half_delay_ns,
                ));
                self.witness.on_source(0, answer, arrived, bounds);
            }
        }
        self.witness.on_tick(arrived, bounds);
        self.receiver.set_network_time(self.witness.network_time());
    }

    pub fn witness(&self) -> &Witness {
        &self.witness
    }

    pub fn discipline(&self) -> &Discipline {
        &self.discipline
    }

    /// The simulated reference time now.
    pub fn now(&self) -> Nanos {
        (self.config.start_unix_s + i64::from(self.elapsed)) * NANOS_PER_SECOND
    }
}
