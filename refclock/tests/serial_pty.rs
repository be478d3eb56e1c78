//! The serial shell reads the simulated receiver through a real pty, survives the pty going
//! away and coming back, and reports the outage; pairing with the simulated PPS never emits a
//! wrong second.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use refclock::serial::{SerialConfig, SerialEvent, SerialReader};
use refclock::sim::SimulatedReceiver;
use refclock_core::link::LinkStatus;
use refclock_core::nmea::DateWindow;
use refclock_core::pairing::PairingConfig;
use refclock_core::receiver::Receiver;
use refclock_core::sim::SimConfig;
use refclock_core::{Quality, Sample};

enum Input {
    Serial(SerialEvent),
    Edge(i64),
}

#[test]
fn reads_the_simulator_through_a_pty_and_survives_an_unplug() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("gnss0");
    let (tx, rx) = mpsc::channel();
    let edges = tx.clone();
    let sim_config = SimConfig { nmea_latency_ms: (50, 300), late_edges: (0.0, 0), ..SimConfig::default() };
    let sim =
        SimulatedReceiver::start(sim_config, &link, Box::new(move |t| drop(edges.send(Input::Edge(t)))))
            .unwrap();
    let serial_config =
        SerialConfig { path: link.clone(), baud: 9600, silent_after: Duration::from_millis(1500) };
    let _reader =
        SerialReader::start(serial_config, Box::new(move |e| drop(tx.send(Input::Serial(e))))).unwrap();

    let pairing = PairingConfig { nmea_delay_ns: 300_000_000, ..PairingConfig::default() };
    let mut receiver = Receiver::new(DateWindow::default(), pairing, true);
    let mut samples: Vec<Sample> = Vec::new();
    let mut statuses: Vec<LinkStatus> = Vec::new();
    let mut unplugged_at = None;
    let started = Instant::now();
    let mut samples_after_replug = 0;
    while started.elapsed() < Duration::from_secs(40) && samples_after_replug < 3 {
        let Ok(input) = rx.recv_timeout(Duration::from_millis(500)) else { continue };
        let mut out = Vec::new();
        match input {
            Input::Edge(t) => receiver.on_edge(t, &mut out),
            Input::Serial(SerialEvent::Bytes { data, arrived }) => {
                receiver.on_bytes(&data, arrived, &mut out)
            }
            Input::Serial(SerialEvent::Status(status)) => {
                receiver.on_serial_status(status.clone());
                statuses.push(status);
            }
        }
        let replugged =
            statuses.iter().skip_while(|s| !matches!(s, LinkStatus::Down { .. })).any(LinkStatus::is_up);
        if replugged {
            samples_after_replug += out.len();
        }
        samples.extend(out);
        if unplugged_at.is_none() && samples.len() >= 3 {
            sim.unplug(Duration::from_secs(3));
            unplugged_at = Some(samples.len());
        }
    }

    let before = unplugged_at.expect("no samples before the unplug");
    assert!(samples_after_replug >= 3, "no samples after the replug; statuses: {statuses:?}");
    let down = statuses.iter().position(|s| matches!(s, LinkStatus::Down { .. }));
    let up_again = statuses.iter().rposition(LinkStatus::is_up);
    assert!(down.is_some() && up_again > down, "outage not reported: {statuses:?}");
    assert!(samples.len() > before);
    for sample in &samples {
        // Truth is the host clock: the edge of second S is at S plus 1 us (sigma) of jitter.
        assert_eq!(sample.quality, Quality::Pps);
        assert!(sample.offset_nanos().abs() <= 6_000, "wrong second or offset: {sample:?}");
    }
    assert!(receiver.status().last_epoch.as_ref().is_some_and(|e| e.valid));
}

#[test]
fn a_silent_line_is_reported_and_recovers_when_data_flows() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("quiet0");
    let mut pty = refclock::sim::pty::Pty::open().unwrap();
    std::os::unix::fs::symlink(pty.slave_path(), &link).unwrap();
    let (tx, rx) = mpsc::channel();
    let config = SerialConfig { path: link, baud: 115_200, silent_after: Duration::from_millis(600) };
    let _reader = SerialReader::start(config, Box::new(move |e| drop(tx.send(e)))).unwrap();
    let next_status = || loop {
        match rx.recv_timeout(Duration::from_secs(5)).expect("a status within 5 s") {
            SerialEvent::Status(status) => return status,
            SerialEvent::Bytes { .. } => {}
        }
    };
    assert!(next_status().is_up());
    assert!(matches!(next_status(), LinkStatus::Silent { .. }));
    pty.write_lossy(b"$GPTXT,01,01,02,hello*00\r\n").unwrap();
    assert!(next_status().is_up(), "data after silence brings the line back up");
}
