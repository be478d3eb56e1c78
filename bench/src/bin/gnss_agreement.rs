//! Agreement with gpsd on time and fix mode, per capture, for every `NAME.log` beside a
//! `NAME.log.chk` in the directories given (gpsd's regression logs: the vendored ones in
//! refclock-core/tests/data/gnss, or a gpsd checkout's test/daemon). Prints a Markdown table, the
//! mean share per log, and with `--misses` the epochs that differ.
//!
//!     cargo run --release -p stratum1-bench --bin gnss_agreement -- refclock-core/tests/data/gnss

use std::path::PathBuf;
use std::process::ExitCode;

use refclock_core::nmea::agreement;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let misses = args.iter().any(|a| a == "--misses");
    let mut logs: Vec<PathBuf> = Vec::new();
    for dir in args.iter().filter(|a| !a.starts_with("--")) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            eprintln!("gnss_agreement: cannot read {dir}");
            return ExitCode::from(2);
        };
        logs.extend(
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| {
                p.extension().is_some_and(|e| e == "log") && p.with_extension("log.chk").exists()
            }),
        );
    }
    logs.sort();
    if logs.is_empty() {
        eprintln!("usage: gnss_agreement [--misses] DIR...  (NAME.log beside NAME.log.chk)");
        return ExitCode::from(2);
    }
    println!("| capture | gpsd's epochs | agreed | share |\n|---|---:|---:|---:|");
    let (mut shares, mut epochs, mut agreed) = (Vec::new(), 0, 0);
    for log in &logs {
        let (Ok(capture), Ok(chk)) = (std::fs::read(log), std::fs::read(log.with_extension("log.chk")))
        else {
            continue;
        };
        let chk = String::from_utf8_lossy(&chk);
        let gpsd = agreement::gpsd_modes(&chk);
        if gpsd.is_empty() || !agreement::is_nmea_capture(&capture) {
            continue; // gpsd dates nothing in it, or from a binary protocol we do not read
        }
        let a = agreement::compare(&agreement::our_modes(&capture), &gpsd);
        let name = log.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        println!("| {name} | {} | {} | {:.1} % |", a.epochs, a.agreed, a.share() * 100.0);
        if misses {
            for (time, theirs, ours) in a.differences.iter().take(5) {
                println!(
                    "|  ↳ {time} | gpsd {theirs} | ours {} | |",
                    ours.map_or("none".into(), |m| m.to_string())
                );
            }
        }
        shares.push(a.share());
        epochs += a.epochs;
        agreed += a.agreed;
    }
    let mean = shares.iter().sum::<f64>() / shares.len().max(1) as f64;
    let worst = shares.iter().copied().fold(1.0, f64::min);
    println!(
        "\n{} captures, {agreed} of {epochs} epochs agree; mean per capture {:.1} %, lowest {:.1} %",
        shares.len(),
        mean * 100.0,
        worst * 100.0
    );
    ExitCode::SUCCESS
}
