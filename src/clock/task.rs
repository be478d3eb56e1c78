//! The clock task: samples in, the discipline run once a second, its steering applied to the
//! configured clock, and the announced state published. The only place that knows which clock
//! is steered: observe-only (none), simulated, or the kernel's.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use stratum1_core::time::NANOS_PER_SECOND;

use refclock_core::Sample;

use super::kernel::{self, KernelStatus};
use super::persist::ClockMemory;
use crate::config::ClockMode;
use crate::config::{ClockConfig, RefclockConfig};
use crate::host_clock;
use crate::sources::poller::{ClockReader, EventSink};
use crate::state::SharedNetworkTime;
use crate::state::SharedServedClock;
use stratum1_core::clock::HistoryPoint;
use stratum1_core::clock::Oscillator;
use stratum1_core::clock::SimulatedClock;
use stratum1_core::clock::{network_fallback_state, served_state, source_reference_id};
use stratum1_core::clock::{network_steering, NetworkSteering};
use stratum1_core::clock::{with_network_leap, Leap, LeapSeconds, LeapStatus};
use stratum1_core::clock::{ClockHistory, SharedClockHistory};
use stratum1_core::clock::{Discipline, DisciplineCounts, Estimate, LockState, Steering};
use stratum1_core::filter::Nanos;
use stratum1_core::integrity::{IntegrityReport, IntegrityState, SampleBounds, Transition, Witness};
use stratum1_core::packet::LeapIndicator;
use stratum1_core::sources::SourceEvent;

const TICK: Duration = Duration::from_secs(1);
const HISTORY_EVERY_S: i64 = 60;
const SAVE_EVERY_S: i64 = 600;

/// The simulated clock of `mode = "simulated"`, shared with the GNSS task, which stamps the
/// simulated receiver's edges and serial reads with it.
pub type SharedSimulatedClock = Arc<Mutex<SimulatedClock>>;

/// What the status page and `stratum1ctl` show about the clock.
#[derive(Clone, Debug)]
pub struct ClockStatus {
    pub mode: ClockMode,
    pub estimate: Estimate,
    pub counts: DisciplineCounts,
    pub leap: LeapStatus,
    /// The simulated clock's real error (simulated mode only): what the estimate is judged by.
    pub simulated_true_error_ns: Option<f64>,
}

pub type SharedClockStatus = Arc<RwLock<Option<ClockStatus>>>;
/// The sources and the integrity guard, as last published by the clock task.
pub type SharedIntegrity = Arc<RwLock<Option<IntegrityReport>>>;

enum Input {
    Sample(Sample),
    /// A pair the pairing refused: what the receiver claims, for the integrity guard.
    Disputed(Sample),
    Source(usize, SourceEvent),
    Stop,
}

/// Where samples go: the GNSS task holds one.
#[derive(Clone)]
pub struct SampleSink(mpsc::Sender<Input>);

impl SampleSink {
    pub fn send(&self, sample: Sample) {
        let _ = self.0.send(Input::Sample(sample));
    }

    pub fn send_disputed(&self, sample: Sample) {
        let _ = self.0.send(Input::Disputed(sample));
    }
}

/// The clock that is steered.
enum Steered {
    Nothing,
    Simulated(SharedSimulatedClock),
    Kernel,
}

impl Steered {
    /// The steered clock's reading now, ns since the Unix epoch.
    fn now(&self) -> Nanos {
        let host = host_nanos();
        match self {
            Steered::Simulated(clock) => clock.lock().map_or(host, |mut c| c.read(host)),
            _ => host,
        }
    }

    fn apply(&self, steering: Steering) {
        match self {
            Steered::Nothing => {}
            Steered::Simulated(clock) => {
                if let Ok(mut clock) = clock.lock() {
                    clock.steer(host_nanos(), steering);
                }
            }
            Steered::Kernel => {
                if let Err(e) = kernel::apply(steering) {
                    tracing::error!("clock: cannot steer the kernel clock: {e}");
                }
            }
        }
    }
}

pub struct ClockTask {
    input: mpsc::Sender<Input>,
    thread: JoinHandle<()>,
    status: SharedClockStatus,
    history: SharedClockHistory,
    steps: Arc<AtomicU64>,
    ticks: Arc<AtomicU64>,
    simulated: Option<SharedSimulatedClock>,
    network_time: SharedNetworkTime,
    integrity: SharedIntegrity,
    synchronised: Arc<std::sync::atomic::AtomicBool>,
    saved_unix_s: Option<i64>,
}

impl ClockTask {
    pub fn start(
        config: &ClockConfig,
        refclock: &RefclockConfig,
        served: Arc<SharedServedClock>,
        precision: i8,
        witness: Witness,
    ) -> std::io::Result<ClockTask> {
        let memory = match config.state_file.as_deref().map(ClockMemory::load) {
            None => ClockMemory::default(),
            Some(Ok(memory)) => memory,
            Some(Err(e)) => {
                tracing::warn!("clock: state file unreadable ({e}); starting without the remembered drift");
                ClockMemory::default()
            }
        };
        let mut discipline = Discipline::new(config.discipline(refclock));
        if let (Some(frequency), Some(skew)) = (memory.frequency_ppb, memory.skew_ppb) {
            tracing::info!("clock: remembered frequency {:+.3} ppm (+/- {:.3})", frequency / 1e3, skew / 1e3);
            discipline = discipline.with_prior_frequency(frequency, skew);
        }
        let leap_list = load_leap_list(config.leap_seconds_file.as_ref());
        let simulated = (config.mode == ClockMode::Simulated).then(|| {
            let oscillator = Oscillator::new(config.simulator.oscillator(u64::from(std::process::id())));
            let clock =
                SimulatedClock::new(oscillator, host_nanos(), config.simulator.initial_offset_ms * 1e6);
            Arc::new(Mutex::new(clock))
        });
        let steered = match (&simulated, config.mode) {
            (Some(clock), _) => Steered::Simulated(clock.clone()),
            (None, ClockMode::Kernel) => Steered::Kernel,
            _ => Steered::Nothing,
        };
        let (input, rx) = mpsc::channel();
        let status: SharedClockStatus = Arc::new(RwLock::new(None));
        let history: SharedClockHistory =
            Arc::new(RwLock::new(ClockHistory::with_day(memory.history.clone())));
        let steps = Arc::new(AtomicU64::new(0));
        let ticks = Arc::new(AtomicU64::new(0));
        let network_time: SharedNetworkTime = Arc::new(RwLock::new(None));
        let synchronised = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let saved_unix_s = memory.saved_unix_s;
        let integrity: SharedIntegrity = Arc::new(RwLock::new(None));
        let run = Run {
            witness,
            nmea_bias_bound_ns: f64::from(refclock.nmea_window_ms) * 1e6,
            network_time: network_time.clone(),
            integrity: integrity.clone(),
            synchronised: synchronised.clone(),
            mode: config.mode,
            discipline,
            steered,
            served,
            precision,
            local_stratum: config.local_stratum,
            leap_list,
            memory,
            state_file: config.state_file.clone(),
            status: status.clone(),
            history: history.clone(),
            steps: steps.clone(),
            simulated: simulated.clone(),
            network_slew: None,
            ticks: ticks.clone(),
        };
        let thread = std::thread::Builder::new().name("clock".into()).spawn(move || run.run(rx))?;
        Ok(ClockTask {
            input,
            thread,
            status,
            history,
            steps,
            ticks,
            simulated,
            network_time,
            integrity,
            synchronised,
            saved_unix_s,
        })
    }

    /// Where the source pollers send their events.
    pub fn source_sink(&self) -> EventSink {
        let input = Mutex::new(self.input.clone());
        Arc::new(move |index, event| {
            if let Ok(input) = input.lock() {
                let _ = input.send(Input::Source(index, event));
            }
        })
    }

    /// Reads the clock that is served and steered (the simulated one in simulated mode).
    pub fn clock_reader(&self) -> ClockReader {
        let simulated = self.simulated.clone();
        Arc::new(move || {
            let host = host_nanos();
            simulated.as_ref().map_or(host, |c| c.lock().map_or(host, |mut c| c.read(host)))
        })
    }

    /// What the network says of the local clock, for the pairing.
    pub fn network_time(&self) -> SharedNetworkTime {
        self.network_time.clone()
    }

    pub fn integrity(&self) -> SharedIntegrity {
        self.integrity.clone()
    }

    /// Set once the served clock has been synchronised (it stays set).
    pub fn synchronised(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.synchronised.clone()
    }

    /// When the state file was last saved: the clock cannot be earlier than that.
    pub fn saved_unix_s(&self) -> Option<i64> {
        self.saved_unix_s
    }

    pub fn sample_sink(&self) -> SampleSink {
        SampleSink(self.input.clone())
    }

    pub fn status(&self) -> SharedClockStatus {
        self.status.clone()
    }

    /// The offset and frequency of the last hour (per second) and day (per minute).
    pub fn history(&self) -> SharedClockHistory {
        self.history.clone()
    }

    /// Counts the clock's steps, so that the receiver can drop edges stamped before one.
    /// Seconds the clock task has ticked: it stops growing if the task hangs.
    pub fn ticks(&self) -> Arc<AtomicU64> {
        self.ticks.clone()
    }

    pub fn steps(&self) -> Arc<AtomicU64> {
        self.steps.clone()
    }

    pub fn simulated_clock(&self) -> Option<SharedSimulatedClock> {
        self.simulated.clone()
    }

    pub fn shutdown(self) {
        let _ = self.input.send(Input::Stop);
        if self.thread.join().is_err() {
            tracing::error!("the clock task panicked");
        }
    }
}

/// A point worth plotting: only while locked or in holdover (an acquiring filter's offset says
/// nothing about the served time).
fn plotted(estimate: &Estimate, unix: i64) -> Option<HistoryPoint> {
    matches!(estimate.state, LockState::Locked | LockState::Holdover).then_some(HistoryPoint {
        unix_s: unix,
        offset_ns: estimate.offset_ns,
        frequency_ppb: estimate.frequency_ppb,
        error_bound_ns: estimate.error_bound_ns,
    })
}

fn load_leap_list(path: Option<&PathBuf>) -> Option<LeapSeconds> {
    let path = path?;
    let parsed = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| LeapSeconds::parse(&text).map_err(|e| e.to_string()));
    match parsed {
        Ok(list) => Some(list),
        Err(e) => {
            tracing::warn!(
                "clock: leap second list {}: {e}; no leap second will be announced",
                path.display()
            );
            None
        }
    }
}

fn host_nanos() -> Nanos {
    host_clock::unix_nanos()
}

struct Run {
    witness: Witness,
    synchronised: Arc<std::sync::atomic::AtomicBool>,
    nmea_bias_bound_ns: f64,
    network_time: SharedNetworkTime,
    integrity: SharedIntegrity,
    mode: ClockMode,
    discipline: Discipline,
    steered: Steered,
    served: Arc<SharedServedClock>,
    precision: i8,
    local_stratum: Option<u8>,
    leap_list: Option<LeapSeconds>,
    memory: ClockMemory,
    state_file: Option<PathBuf>,
    status: SharedClockStatus,
    history: SharedClockHistory,
    steps: Arc<AtomicU64>,
    simulated: Option<SharedSimulatedClock>,
    /// Since when, and at what rate (ppb), network time has been slewing our clock.
    network_slew: Option<(Nanos, f64)>,
    /// Ticks done: the daemon's sign of life for systemd's watchdog.
    ticks: Arc<AtomicU64>,
}

impl Run {
    fn run(mut self, rx: mpsc::Receiver<Input>) {
        let mut last_state = None;
        let mut last_leap = None;
        let mut next_tick = std::time::Instant::now() + TICK;
        let mut last_history = 0;
        let mut last_save = host_nanos() / NANOS_PER_SECOND;
        loop {
            let wait = next_tick.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Input::Sample(sample)) => self.on_sample(sample),
                Ok(Input::Disputed(sample)) => {
                    let now = self.steered.now();
                    self.account_network_slew(now);
                    self.witness.on_disputed(now, sample.offset_nanos() as f64, sample.quality);
                }
                Ok(Input::Source(index, event)) => {
                    let now = self.steered.now();
                    self.account_network_slew(now);
                    let bounds = self.sample_bounds(now);
                    let transition = self.witness.on_source(index, event, now, bounds);
                    self.after_network_update(transition);
                }
                Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    next_tick += TICK;
                    self.ticks.fetch_add(1, Ordering::Relaxed);
                    let now = self.steered.now();
                    self.tick_steering(now);
                    let bounds = self.sample_bounds(now);
                    let transition = self.witness.on_tick(now, bounds);
                    self.after_network_update(transition);
                    let status = self.publish(now);
                    if last_state != Some(status.estimate.state) {
                        tracing::info!("clock: {}", describe(&status));
                        last_state = Some(status.estimate.state);
                    }
                    if last_leap != Some(status.leap) {
                        match status.leap {
                            LeapStatus::Known { pending: None, .. }
                            | LeapStatus::FromNetwork { pending: None, .. } => {
                                tracing::info!("clock: {}", status.leap)
                            }
                            _ => tracing::warn!("clock: {}", status.leap),
                        }
                        last_leap = Some(status.leap);
                    }
                    let unix = now / NANOS_PER_SECOND;
                    if let Some(point) = plotted(&status.estimate, unix) {
                        self.history.write().unwrap_or_else(|p| p.into_inner()).push_recent(point);
                    }
                    if unix - last_history >= HISTORY_EVERY_S {
                        self.remember(&status.estimate, unix);
                        last_history = unix;
                    }
                    if unix - last_save >= SAVE_EVERY_S {
                        self.save();
                        last_save = unix;
                    }
                }
            }
        }
        self.save();
    }

    fn on_sample(&mut self, sample: Sample) {
        let at = sample.utc_second.saturating_mul(NANOS_PER_SECOND);
        let offset = sample.offset_nanos() as f64;
        let now = self.steered.now();
        self.account_network_slew(now);
        if !self.witness.on_sample(now, offset, sample.quality) {
            return;
        }
        if let Some(steering) = self.discipline.on_sample(at, offset, sample.quality, now) {
            self.steered.apply(steering);
            if steering.step_ns != 0.0 {
                self.steps.fetch_add(1, Ordering::Relaxed);
                self.witness.on_clock_step(self.steered.now());
                self.publish_network_time();
                tracing::info!("clock: stepped by {:+.6} s", steering.step_ns / 1e9);
            }
        }
    }

    /// Once a second: the discipline steers, or, with no usable reference, network time does
    /// (and the discipline is told, so it still knows the oscillator when the reference returns).
    fn tick_steering(&mut self, now: Nanos) {
        self.account_network_slew(now);
        let network = self.witness.network();
        let from_network = (self.mode != ClockMode::ObserveOnly)
            .then(|| network_steering(&self.discipline.estimate(now), network.as_ref(), now))
            .flatten();
        self.network_slew = None;
        match from_network {
            Some(NetworkSteering { steering, slew_ppb }) => {
                self.discipline.advance_to(now);
                self.discipline.steered_elsewhere(now, steering.frequency_ppb);
                self.steered.apply(steering);
                self.network_slew = Some((now, slew_ppb));
            }
            None => {
                if let Some(steering) = self.discipline.on_tick(now) {
                    self.steered.apply(steering);
                }
            }
        }
    }

    /// What the network slew has moved our clock by since it was last counted, against every
    /// clock we compare with: their stored offsets move with it. Counted before anything new
    /// is compared, so a measurement is never moved by a slew that came before it.
    fn account_network_slew(&mut self, now: Nanos) {
        if let Some((since, slew_ppb)) = self.network_slew {
            let delta_ns = slew_ppb * (now - since).max(0) as f64 / 1e9;
            self.witness.on_clock_slewed(delta_ns, now);
            self.network_slew = Some((now, slew_ppb));
        }
    }

    /// How far one receiver sample may be off, from what the discipline has learnt.
    fn sample_bounds(&self, now: Nanos) -> SampleBounds {
        let estimate = self.discipline.estimate(now);
        SampleBounds {
            jitter_ns: if estimate.jitter_ns.is_finite() { estimate.jitter_ns } else { 1_000.0 },
            nmea_bias_bound_ns: self.nmea_bias_bound_ns,
            acquiring: estimate.state == LockState::Acquiring,
        }
    }

    fn after_network_update(&mut self, transition: Option<Transition>) {
        self.publish_network_time();
        let Some(t) = transition else { return };
        let sources = self.witness.network().map_or(0, |n| n.survivors);
        let compared = t.comparison.map_or(String::new(), |c| {
            format!(
                "receiver {:+.6} s from network time (allowance {:.6} s, {sources} source(s))",
                -c.disagreement_ns / 1e9,
                c.allowance_ns / 1e9
            )
        });
        match t.to {
            // The events watcher says the same at warning or error level; this line adds the figures.
            IntegrityState::GnssDisagrees => tracing::info!(
                "integrity: gnss-disagrees: {compared}; the receiver is not followed (holdover, then network time)"
            ),
            IntegrityState::Consistent => tracing::info!("integrity: consistent: {compared}"),
            IntegrityState::Unchecked => tracing::info!(
                "integrity: unchecked: no reachable trusted source agrees on the time; the receiver is followed unchecked"
            ),
        }
    }

    fn publish_network_time(&self) {
        if let Ok(mut shared) = self.network_time.write() {
            *shared = self.witness.network_time();
        }
    }

    fn publish(&mut self, now: Nanos) -> ClockStatus {
        let estimate = self.discipline.estimate(now);
        let unix = now.div_euclid(NANOS_PER_SECOND);
        let list = self.leap_list.as_ref().map_or(LeapStatus::Unavailable, |list| list.status(unix));
        let (votes, reachable) = self.witness.upstreams().leap_votes();
        let announced: Vec<Leap> = votes
            .into_iter()
            .filter_map(|li| match li {
                LeapIndicator::InsertSecond => Some(Leap::Insert),
                LeapIndicator::DeleteSecond => Some(Leap::Delete),
                _ => None,
            })
            .collect();
        let leap = with_network_leap(list, &announced, reachable, unix);
        let mut served = served_state(&estimate, leap, self.precision, self.local_stratum, host_clock::now());
        if !matches!(estimate.state, LockState::Locked | LockState::Holdover) {
            if let Some(network) = self.witness.network() {
                let address = self.witness.upstreams().info(network.best).map(|i| i.address.clone());
                let ip = self.witness.upstreams().target(network.best);
                let reference_id = source_reference_id(ip, address.as_deref().unwrap_or_default());
                served =
                    network_fallback_state(&network, reference_id, leap, self.precision, host_clock::now());
            }
        }
        self.served.set(served);
        if served.is_synchronised() {
            self.synchronised.store(true, Ordering::Relaxed);
        }
        if let Ok(mut shared) = self.integrity.write() {
            *shared = Some(self.witness.report(now));
        }
        if self.mode == ClockMode::Kernel {
            let (pending, tai_offset) = match leap {
                LeapStatus::Known { pending, tai_offset } => (pending, Some(tai_offset)),
                other => (other.pending(), None),
            };
            let report = KernelStatus {
                synchronised: served.is_synchronised(),
                error_bound_ns: estimate.error_bound_ns,
                offset_sd_ns: estimate.offset_sd_ns,
                leap: pending,
                tai_offset,
            };
            if let Err(e) = kernel::report(&report) {
                tracing::error!("clock: cannot report to the kernel: {e}");
            }
        }
        let simulated_true_error_ns =
            self.simulated.as_ref().and_then(|c| c.lock().ok().map(|mut c| c.error_at(host_nanos())));
        let status = ClockStatus {
            mode: self.mode,
            estimate,
            counts: self.discipline.counts(),
            leap,
            simulated_true_error_ns,
        };
        if let Ok(mut shared) = self.status.write() {
            *shared = Some(status.clone());
        }
        status
    }

    fn remember(&mut self, estimate: &Estimate, unix: i64) {
        let Some(point) = plotted(estimate, unix) else { return };
        self.memory.frequency_ppb = Some(estimate.frequency_ppb);
        self.memory.skew_ppb = Some(estimate.skew_ppb);
        self.memory.saved_unix_s = Some(unix);
        self.memory.record(point);
        self.history.write().unwrap_or_else(|p| p.into_inner()).push_day(point);
    }

    fn save(&self) {
        if let Some(path) = &self.state_file {
            if let Err(e) = self.memory.save(path) {
                tracing::warn!("clock: cannot save {}: {e}", path.display());
            }
        }
    }
}

/// One line for the log: state, offset, frequency, jitter and the announced bound.
pub fn describe(status: &ClockStatus) -> String {
    let e = &status.estimate;
    let state = match e.state {
        LockState::Acquiring => "acquiring",
        LockState::Locked => "locked",
        LockState::Holdover => "holdover",
        LockState::Unsynchronised => "unsynchronised",
    };
    let mut line = format!(
        "{state}, offset {:+.3} us, frequency {:+.3} ppm, jitter {:.3} us, error bound {:.3} us",
        e.offset_ns / 1e3,
        e.frequency_ppb / 1e3,
        e.jitter_ns / 1e3,
        e.error_bound_ns / 1e3
    );
    if let Some(true_error) = status.simulated_true_error_ns {
        line.push_str(&format!(" (simulated clock's true error {:+.3} us)", true_error / 1e3));
    }
    line
}
