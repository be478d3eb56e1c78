//! The GNSS task: starts the configured receiver's shells, runs the pure receiver core on
//! their events, sends its samples to the clock task and publishes its status.

use std::any::Any;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use refclock::gpio::{GpioConfig, GpioReader};
use refclock::gpsd_client::{GpsdClient, GpsdConfig};
use refclock::link::EdgeEvent;
use refclock::pps::{PpsConfig, PpsReader};
use refclock::serial::{SerialConfig, SerialEvent, SerialReader};
use refclock::sim::{now_nanos, SimulatedReceiver};
use refclock_core::link::LinkStatus;
use refclock_core::nmea::DateWindow;
use refclock_core::pairing::{LabelTimingMisfit, LocalNanos, PairingConfig};
use refclock_core::receiver::{Receiver, ReceiverStatus};
use refclock_core::sim::SimConfig;

use crate::clock::task::{SampleSink, SharedSimulatedClock};
use crate::config::{PpsKind, RefclockConfig, RefclockKind};
use crate::state::SharedNetworkTime;

/// The latest receiver status, for the status page and `stratum1ctl`.
pub type SharedReceiverStatus = Arc<RwLock<Option<ReceiverStatus>>>;

/// How often a summary line is logged while nothing changes.
const SUMMARY_EVERY: Duration = Duration::from_secs(60);

enum Input {
    Serial(SerialEvent),
    Edge(EdgeEvent),
    Stop,
}

/// What the GNSS task shares with the clock task.
pub struct ClockLink {
    pub samples: SampleSink,
    /// Bumped at each clock step: pending edges are then on the old time scale.
    pub steps: Arc<AtomicU64>,
    /// In simulated mode, the simulated clock stamps the simulated receiver's edges and reads.
    pub simulated: Option<SharedSimulatedClock>,
    /// What the upstream sources say of the local clock: the pairing decides the second by it.
    pub network: SharedNetworkTime,
}

/// A running shell, held only so that dropping it stops its thread.
type Shell = Box<dyn Any + Send>;

pub struct GnssTask {
    status: SharedReceiverStatus,
    stop: mpsc::Sender<Input>,
    worker: JoinHandle<()>,
    shells: Vec<Shell>,
    /// The simulator's pty link lives here; removed at shutdown.
    sim_dir: Option<PathBuf>,
}

impl GnssTask {
    /// `None` when no receiver is configured.
    pub fn start(config: &RefclockConfig, clock: ClockLink) -> io::Result<Option<GnssTask>> {
        if config.kind == RefclockKind::None {
            return Ok(None);
        }
        let (tx, rx) = mpsc::channel::<Input>();
        let serial_sink = {
            let tx = tx.clone();
            Box::new(move |event| drop(tx.send(Input::Serial(event))))
        };
        let mut sim_dir = None;
        let (shells, with_pps): (Vec<Shell>, bool) = match config.kind {
            RefclockKind::Simulated => {
                let dir = std::env::temp_dir().join(format!("stratum1-sim-{}", std::process::id()));
                std::fs::create_dir_all(&dir)?;
                let link = dir.join("gnss0");
                let tx = tx.clone();
                let sim = SimulatedReceiver::start(
                    simulator_config(config),
                    &link,
                    Box::new(move |edge| drop(tx.send(Input::Edge(EdgeEvent::Edge(edge))))),
                )?;
                let serial = SerialReader::start(serial_config(link, 9600), serial_sink)?;
                sim_dir = Some(dir);
                (vec![Box::new(serial), Box::new(sim)], config.simulator.pps)
            }
            RefclockKind::Gpsd => {
                let gpsd = GpsdConfig { address: config.gpsd.clone(), silent_after: Duration::from_secs(3) };
                // gpsd's PPS reports give the edges; without them the labels serve alone after
                // `nmea-fallback-s`, as with a kernel PPS that never pulses.
                (vec![Box::new(GpsdClient::start(gpsd, serial_sink)?) as Shell], true)
            }
            _ => {
                let serial =
                    SerialReader::start(serial_config(config.device.clone(), config.baud), serial_sink)?;
                let mut shells: Vec<Shell> = vec![Box::new(serial)];
                let pps = start_pps(config, tx.clone())?;
                let with_pps = pps.is_some();
                shells.extend(pps);
                (shells, with_pps)
            }
        };
        let pairing = PairingConfig {
            nmea_delay_ns: i64::from(config.nmea_delay_ms) * 1_000_000,
            window_ns: i64::from(config.nmea_window_ms) * 1_000_000,
            nmea_fallback_after_ns: (config.nmea_fallback_s > 0)
                .then(|| i64::from(config.nmea_fallback_s) * 1_000_000_000),
            ..PairingConfig::default()
        };
        let window = DateWindow::default().with_rollover(config.week_rollover);
        let receiver = match config.kind {
            RefclockKind::Gpsd => Receiver::through_gpsd(window, pairing),
            _ => Receiver::new(window, pairing, with_pps),
        };
        let status: SharedReceiverStatus = Arc::new(RwLock::new(None));
        let pps_offset_ns = config.pps_offset_ns;
        let worker = {
            let status = status.clone();
            std::thread::Builder::new()
                .name("gnss".into())
                .spawn(move || run(receiver, rx, status, clock, pps_offset_ns))?
        };
        tracing::info!(
            "gnss: {:?} receiver started (PPS: {})",
            config.kind,
            if with_pps { "yes" } else { "no" }
        );
        Ok(Some(GnssTask { status, stop: tx, worker, shells, sim_dir }))
    }

    pub fn status(&self) -> SharedReceiverStatus {
        self.status.clone()
    }

    pub fn shutdown(self) {
        let _ = self.stop.send(Input::Stop);
        if self.worker.join().is_err() {
            tracing::error!("the gnss task panicked");
        }
        drop(self.shells);
        if let Some(dir) = self.sim_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn serial_config(path: PathBuf, baud: u32) -> SerialConfig {
    SerialConfig { path, baud, silent_after: Duration::from_secs(3) }
}

fn simulator_config(config: &RefclockConfig) -> SimConfig {
    let sim = &config.simulator;
    SimConfig {
        nmea_latency_ms: (sim.nmea_latency_ms[0], sim.nmea_latency_ms[1]),
        pps_jitter_ns: sim.pps_jitter_ns,
        late_edges: (sim.late_pps_percent / 100.0, sim.late_pps_max_us * 1_000),
        pps: sim.pps,
        fix_loss: (sim.fix_loss_every_s, sim.fix_loss_for_s),
        label_jump: (sim.label_jump_at_s, sim.label_jump_by_s),
        spoof_pull: (sim.spoof_pull_at_s, sim.spoof_pull_ns_per_s),
        seed: u64::from(std::process::id()),
    }
}

fn start_pps(config: &RefclockConfig, tx: mpsc::Sender<Input>) -> io::Result<Option<Shell>> {
    let polarity = config.edge;
    let sink = Box::new(move |event| drop(tx.send(Input::Edge(event))));
    Ok(match config.pps {
        PpsKind::None => None,
        PpsKind::Kernel => {
            let pps = PpsConfig { path: config.pps_device.clone(), polarity };
            Some(Box::new(PpsReader::start(pps, sink)?))
        }
        PpsKind::Gpio => {
            let gpio = GpioConfig { chip: config.gpio_chip.clone(), line: config.gpio_line, polarity };
            Some(Box::new(GpioReader::start(gpio, sink)?))
        }
    })
}

/// `pps_offset_ns`: how late the edges' timestamps are (`refclock.pps-offset-ns`).
fn run(
    mut receiver: Receiver,
    rx: mpsc::Receiver<Input>,
    shared: SharedReceiverStatus,
    clock: ClockLink,
    pps_offset_ns: i64,
) {
    let mut reported = Summary::default();
    let mut last_summary = Instant::now();
    let mut samples = Vec::new();
    let mut steps_seen = clock.steps.load(Ordering::Relaxed);
    // The simulated receiver's times are host times; the simulated clock says what it read.
    let local = |host: LocalNanos| match &clock.simulated {
        Some(sim) => sim.lock().map_or(host, |mut c| c.read(host)),
        None => host,
    };
    loop {
        let input = rx.recv_timeout(Duration::from_secs(1));
        receiver.set_network_time(clock.network.read().ok().and_then(|n| *n));
        let steps = clock.steps.load(Ordering::Relaxed);
        if steps != steps_seen {
            receiver.on_clock_step();
            steps_seen = steps;
        }
        match input {
            Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Input::Serial(SerialEvent::Bytes { data, arrived })) => receiver.on_gpsd_or_nmea_bytes(
                &data,
                local(arrived),
                |edge| local(edge).saturating_sub(pps_offset_ns),
                &mut samples,
            ),
            Ok(Input::Serial(SerialEvent::Status(link))) => receiver.on_serial_status(link),
            Ok(Input::Edge(EdgeEvent::Edge(edge))) => {
                receiver.on_edge(local(edge).saturating_sub(pps_offset_ns), &mut samples)
            }
            Ok(Input::Edge(EdgeEvent::Status(link))) => receiver.on_pps_status(link),
            Err(RecvTimeoutError::Timeout) => receiver.on_tick(local(now_nanos()), &mut samples),
        }
        for sample in samples.drain(..) {
            clock.samples.send(sample);
        }
        if let Some(disputed) = receiver.take_disputed() {
            clock.samples.send_disputed(disputed);
        }
        let status = receiver.status();
        let summary = Summary::of(status);
        if summary != reported || last_summary.elapsed() >= SUMMARY_EVERY {
            tracing::info!("gnss: {}", describe(status, local(now_nanos())));
            reported = summary;
            last_summary = Instant::now();
        }
        if let Ok(mut shared) = shared.write() {
            *shared = Some(status.clone());
        }
    }
}

/// The parts of the status whose change is worth a log line.
#[derive(Clone, Debug, Default, PartialEq)]
struct Summary {
    serial: Option<String>,
    pps: Option<String>,
    mode: Option<u8>,
    locked: bool,
    /// Whether the labels misfit the window (not where they arrive, which moves every second).
    label_timing_misfit: bool,
}

impl Summary {
    fn of(status: &ReceiverStatus) -> Summary {
        let link_kind = |l: &LinkStatus| match l {
            LinkStatus::Down { error, .. } => format!("down: {error}"),
            other => format!("{other}").split(' ').next().unwrap_or_default().to_owned(),
        };
        Summary {
            serial: Some(link_kind(&status.serial)),
            pps: status.pps.as_ref().map(link_kind),
            mode: status.last_epoch.as_ref().map(|e| e.mode as u8),
            locked: status.locked,
            label_timing_misfit: status.label_timing.is_some(),
        }
    }
}

/// One line an operator can read: link states, fix, satellites, lock and the last offset.
/// The receiver's state in one log line. `now` (local nanoseconds) dates the last sample: a
/// lock whose last sample is old says so, instead of repeating a frozen offset.
pub fn describe(status: &ReceiverStatus, now: LocalNanos) -> String {
    let fix = match status.last_epoch.as_ref() {
        None => "no epoch yet".to_owned(),
        Some(epoch) => format!(
            "{} fix ({}), {} used / {} in view",
            match epoch.mode as u8 {
                3 => "3D",
                2 => "2D",
                _ => "no",
            },
            epoch.rfc3339().unwrap_or_else(|| "undated".into()),
            epoch.satellites_used.unwrap_or(0),
            epoch.satellites_in_view()
        ),
    };
    let pps = status.pps.as_ref().map_or("none".to_owned(), ToString::to_string);
    let lock = match (status.locked, status.last_sample) {
        (true, Some(sample)) => {
            let (secs, nanos) = sample.edge_local;
            let age_s = (now - (secs * 1_000_000_000 + i64::from(nanos))) as f64 / 1e9;
            let offset = sample.offset_nanos() as f64 / 1000.0;
            if age_s > 3.0 {
                format!("paired, but no sample for {age_s:.0} s (the last was offset {offset:+.1} us)")
            } else {
                format!("locked, offset {offset:+.1} us")
            }
        }
        _ => "not locked".to_owned(),
    };
    let misfit =
        status.label_timing.as_ref().map_or(String::new(), |m| format!("; {}", describe_label_timing(m)));
    format!("serial {}, pps {pps}, {fix}, {lock}{misfit}", status.serial)
}

/// What an operator should change when the labels do not arrive where configured. Timing
/// alone cannot tell a label sent late for the last pulse from one sent early for the next
/// (they differ by the second they name), so both settings are given: the wrong one would set
/// the clock a second off, and only the receiver's manual says which it is.
pub fn describe_label_timing(misfit: &LabelTimingMisfit) -> String {
    let (earliest, latest) = misfit.arrivals_ms;
    let (from, to) = misfit.window_ms;
    if let Some(delay) = misfit.network_delay_ms {
        return format!(
            "NMEA labels arrive {earliest}-{latest} ms after the PPS edge but are expected {from}-{to} ms after it; \
             by network time each arrives {delay} ms after the pulse it names (negative: before it): set refclock.nmea-delay-ms to about {delay}"
        );
    }
    let middle = (earliest + latest) / 2;
    format!(
        "NMEA labels arrive {earliest}-{latest} ms after the PPS edge but are expected {from}-{to} ms after it \
         (refclock.nmea-delay-ms +- nmea-window-ms), and those outside are not used: if the receiver sends \
         each second's time after its pulse, set nmea-delay-ms to about {middle}; if it sends it before the pulse \
         it names, to about {}",
        middle - 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_sample_is_not_reported_as_a_current_offset() {
        let mut status =
            Receiver::new(DateWindow::default(), PairingConfig::default(), true).status().clone();
        status.locked = true;
        status.last_sample = Some(refclock_core::Sample {
            edge_local: (1000, 1_100),
            utc_second: 1000,
            quality: refclock_core::Quality::Pps,
        });
        let now = 1000 * 1_000_000_000 + 500_000_000;
        assert!(describe(&status, now).ends_with("locked, offset +1.1 us"), "{}", describe(&status, now));
        let later = describe(&status, now + 618_000_000_000);
        assert!(later.ends_with("paired, but no sample for 618 s (the last was offset +1.1 us)"), "{later}");
    }

    #[test]
    fn a_label_timing_misfit_names_the_setting_and_a_value_for_it() {
        let misfit =
            LabelTimingMisfit { arrivals_ms: (700, 990), window_ms: (0, 700), network_delay_ms: None };
        let text = describe_label_timing(&misfit);
        let measured = LabelTimingMisfit { network_delay_ms: Some(-155), ..misfit };
        assert!(describe_label_timing(&measured).ends_with("nmea-delay-ms to about -155"));
        assert!(text.contains("700-990 ms after the PPS edge"), "{text}");
        assert!(text.contains("expected 0-700 ms"), "{text}");
        assert!(text.contains("after its pulse, set nmea-delay-ms to about 845;"), "{text}");
        assert!(text.ends_with("before the pulse it names, to about -155"), "{text}");
    }
}
