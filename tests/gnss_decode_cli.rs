//! `stratum1ctl gnss decode` on a real capture, as an operator runs it.

use std::process::Command;

const CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/refclock-core/tests/data/gnss/mt3339.log");

#[test]
fn decodes_a_real_capture_to_json_lines() {
    let output = Command::new(env!("CARGO_BIN_EXE_stratum1ctl"))
        .args(["gnss", "decode", CAPTURE, "--not-before", "2015-01-01"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let epochs: Vec<_> = lines.iter().filter(|l| l["class"] == "EPOCH").collect();
    // gpsd's .chk for this capture reports 30 timed epochs, 20:26:40 to 20:27:09, all 3D.
    assert_eq!(epochs.len(), 30);
    assert_eq!(epochs[0]["time"], "2015-04-13T20:26:40.000Z");
    assert_eq!(epochs[29]["time"], "2015-04-13T20:27:09.000Z");
    assert!(epochs.iter().all(|e| e["mode"] == 3 && e["valid"] == true && e.get("refused").is_none()));
    let summary = lines.last().unwrap();
    assert_eq!(summary["class"], "SUMMARY");
    assert_eq!(summary["labelled_seconds"], 30);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_stratum1ctl"))
        .args(["gnss", "decode", "/nonexistent/capture.log"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/capture.log"));
}
