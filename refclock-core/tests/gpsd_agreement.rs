//! Every real capture in tests/data/gnss (gpsd's regression logs, copied unchanged from
//! the gpsd regression set with their licence, COPYING.gpsd), decoded by us and by gpsd (its `.chk`),
//! must agree on the time and fix mode of every epoch gpsd reports.
//!
//! gpsd reports several TPVs per epoch as sentences arrive (the first often before it knows
//! the time); the one that counts is the last TPV carrying that time, i.e. gpsd's final view of
//! the epoch, which is what our assembler emits when the epoch closes.

use std::path::{Path, PathBuf};

use refclock_core::nmea::agreement;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gnss");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the vendored gpsd captures)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 9, "expected the gpsd captures in {}", dir.display());
    logs
}

#[test]
fn decoded_epochs_agree_with_gpsd_on_time_and_mode() {
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for log in captures() {
        let name = log.file_name().unwrap().to_string_lossy().into_owned();
        let ours = agreement::our_modes(&std::fs::read(&log).unwrap());
        let chk = std::fs::read(log.with_extension("log.chk")).unwrap();
        let theirs = agreement::gpsd_modes(&String::from_utf8_lossy(&chk));
        assert!(!theirs.is_empty(), "{name}: gpsd reports no timed epoch");
        for (time, &mode) in &theirs {
            compared += 1;
            match ours.get(time) {
                Some(&m) if m == mode => {}
                got => disagreements.push(format!("{name} {time}: gpsd mode {mode}, ours {got:?}")),
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {compared} epochs differ:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
