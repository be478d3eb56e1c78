//! stratum1ctl: the operator's command-line tool.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use refclock::nmea::DateWindow;
use stratum1::ctl::gnss_decode::decode_capture;

#[derive(Parser)]
#[command(name = "stratum1ctl", version, about = "Inspect a stratum1 time server and its receiver")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// GNSS receiver tools.
    Gnss {
        #[command(subcommand)]
        command: GnssCommand,
    },
}

#[derive(Subcommand)]
enum GnssCommand {
    /// Decode a captured NMEA log: one JSON line per epoch, then a summary of what was dropped.
    Decode {
        /// The capture (`-` for standard input).
        file: PathBuf,
        /// Earliest date to accept as servable (YYYY-MM-DD); defaults to this release's date.
        #[arg(long, value_name = "DATE")]
        not_before: Option<chrono::NaiveDate>,
    },
}

fn main() -> ExitCode {
    let Args { command: Command::Gnss { command: GnssCommand::Decode { file, not_before } } } = Args::parse();
    let window = not_before.map_or_else(DateWindow::default, DateWindow::starting);
    let out = BufWriter::new(io::stdout().lock());
    let result = if file.as_os_str() == "-" {
        decode_capture(io::stdin().lock(), window, out)
    } else {
        File::open(&file).and_then(|f| decode_capture(f, window, out))
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stratum1ctl: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}
