//! The demo's simulated receiver reaches the daemon through a pty and the real serial path,
//! gets a 3D fix and PPS lock, and the log says so.

mod common;

use std::time::{Duration, Instant};

use common::RunningDaemon;

#[test]
fn the_demo_shows_a_gnss_fix_and_pps_lock() {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml"))
        .unwrap()
        .replace(":12300", ":0");
    let daemon = RunningDaemon::start(&demo);
    let deadline = Instant::now() + Duration::from_secs(20);
    let locked_line = loop {
        let log = daemon.log();
        if let Some(line) = log.lines().find(|l| l.contains("gnss:") && l.contains("locked, offset")) {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "no PPS lock within 20 s:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(locked_line.contains("3D fix") && locked_line.contains("8 used / 9 in view"), "{locked_line}");
    assert!(locked_line.contains("serial up, pps up"), "{locked_line}");
    // The first lock is on the simulated clock before its initial step (5 ms): the offset is
    // only checked to be reported; the discipline's accuracy is tested in discipline_sim.rs.
    let offset_us: f64 = locked_line
        .split("offset ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {locked_line}"));
    assert!(offset_us.abs() <= 10_000.0, "{locked_line}");
    let log = daemon.stop();
    assert!(!log.contains("panicked"), "{log}");
}
