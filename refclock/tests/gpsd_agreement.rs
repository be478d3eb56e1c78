//! Every real capture in tests/data/gnss (gpsd's regression logs, copied unchanged from
//! the gpsd regression set with their licence, COPYING.gpsd), decoded by us and by gpsd (its `.chk`),
//! must agree on the time and fix mode of every epoch gpsd reports.
//!
//! gpsd reports several TPVs per epoch as sentences arrive (the first often before it knows
//! the time); the one that counts is the last TPV carrying that time, i.e. gpsd's final view of
//! the epoch, which is what our assembler emits when the epoch closes.

use std::path::{Path, PathBuf};

use refclock::nmea::agreement;

/// Epochs where we deliberately differ from gpsd: (log, time, our mode, why).
const DELIBERATE: &[(&str, &str, u8, &str)] = &[(
    "unicore-um621.log",
    "2024-06-09T00:07:05.000Z",
    3,
    "00:07:05 had RMC A and a 3D GGA; gpsd's last TPV with that time is the loss of fix at \
         00:07:06 (RMC V), reported under the stale time. We put the loss in 00:07:06, as gpsd does too",
)];

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
            let deliberate = DELIBERATE.iter().find(|(l, t, _, _)| *l == name && t == time);
            match (ours.get(time), deliberate) {
                (Some(&m), None) if m == mode => {}
                (Some(&m), Some(&(_, _, expected, _))) if m == expected => {}
                (got, _) => disagreements.push(format!("{name} {time}: gpsd mode {mode}, ours {got:?}")),
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
