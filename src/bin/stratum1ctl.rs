//! stratum1ctl: the operator's command-line tool.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use refclock_core::nmea::{DateWindow, WeekRollover};
use stratum1::ctl::gnss_decode::decode_capture;
use stratum1::ctl::http::fetch_status;
use stratum1::ctl::views;

/// Where the daemon's status page listens (`[web] listen`); the demo's default.
const DEFAULT_URL: &str = "http://127.0.0.1:8123";

#[derive(Parser)]
#[command(name = "stratum1ctl", version, about = "Inspect a stratum1 time server and its receiver")]
struct Args {
    /// The daemon's status page (`[web] listen`).
    #[arg(long, global = true, default_value = DEFAULT_URL, value_name = "URL")]
    url: String,
    /// Print the daemon's status as JSON (`/api/status`) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Without one: `status` (with --json, the whole snapshot).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The clock: state, offset, frequency, error bound (like `chronyc tracking`).
    Status,
    /// NTP traffic: answers, kiss-o'-death, drops by reason (like `chronyc serverstats`).
    Serverstats,
    /// NTS: key establishment, cookie keys, the certificate (like `chronyc authdata`).
    Nts,
    /// The last 100 transitions and warnings: lock, holdover, fix and PPS lost, steps, refusals.
    Events,
    /// Upstream servers and whether the receiver agrees with them (like `chronyc sources`).
    Sources,
    /// Raspberry Pi OS: show the config.txt and cmdline.txt changes a GNSS HAT needs on this
    /// board (UART on GPIO 14/15, console off it, the PPS overlay); write them with --apply.
    PiSetup {
        /// adafruit-ultimate-gps (PPS on GPIO 4) or uputronics-ublox (GPIO 18).
        #[arg(long)]
        hat: String,
        /// Write the changes (the old files are kept beside them as *.stratum1-backup).
        #[arg(long)]
        apply: bool,
        /// The boot partition; default /boot/firmware (Bookworm), else /boot.
        #[arg(long, value_name = "DIR")]
        boot: Option<PathBuf>,
        /// Where the board's model is read from.
        #[arg(long, value_name = "FILE", default_value = "/proc/device-tree/model")]
        model: PathBuf,
    },
    /// The GNSS receiver: fix, satellites and signal strength; `gnss decode FILE` decodes a capture.
    Gnss {
        #[command(subcommand)]
        command: Option<GnssCommand>,
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
        /// Move dates from the GPS era before that date 1024 weeks forward, as the daemon does
        /// with `refclock.week-rollover = "correct"`.
        #[arg(long)]
        correct_week_rollover: bool,
    },
    /// Write a simulated receiver's NMEA to standard output, once a second at 300 ms past it,
    /// labelled with this machine's clock (to feed a serial port under test).
    Simulate {
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let view: fn(&stratum1_web::StatusSnapshot) -> String = match args.command.unwrap_or(Command::Status) {
        Command::Gnss { command: Some(GnssCommand::Decode { file, not_before, correct_week_rollover }) } => {
            let window = not_before.map_or_else(DateWindow::default, DateWindow::starting);
            let rollover = if correct_week_rollover { WeekRollover::Correct } else { WeekRollover::Refuse };
            return decode(file, window.with_rollover(rollover));
        }
        Command::Gnss { command: Some(GnssCommand::Simulate { seconds }) } => return simulate(seconds),
        Command::PiSetup { hat, apply, boot, model } => return pi_setup(&hat, apply, boot, &model),
        Command::Status => views::status,
        Command::Serverstats => views::serverstats,
        Command::Nts => views::nts,
        Command::Sources => views::sources,
        Command::Events => views::events,
        Command::Gnss { command: None } => views::gnss,
    };
    match fetch_status(&args.url) {
        Ok(snapshot) if args.json => match serde_json::to_string_pretty(&snapshot) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("stratum1ctl: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(snapshot) => {
            print!("{}", view(&snapshot));
            ExitCode::SUCCESS
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut | io::ErrorKind::NotFound
            ) =>
        {
            eprintln!(
                "stratum1ctl: cannot reach stratum1d at {} ({e}). Is it running, with [web] enabled on that address? (--url chooses another)",
                args.url
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("stratum1ctl: {}: {e}", args.url);
            ExitCode::FAILURE
        }
    }
}

fn pi_setup(hat: &str, apply: bool, boot: Option<PathBuf>, model: &std::path::Path) -> ExitCode {
    use stratum1::ctl::pi_setup::{self, Board};
    let fail = |message: String| {
        eprintln!("stratum1ctl pi-setup: {message}");
        ExitCode::from(2)
    };
    let hat = match pi_setup::hat(hat) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let board = match std::fs::read_to_string(model).map_err(|e| format!("{}: {e}", model.display())) {
        Ok(text) => match Board::from_model(&text) {
            Ok(b) => b,
            Err(e) => return fail(e),
        },
        Err(e) => return fail(e),
    };
    let boot = boot.unwrap_or_else(|| {
        let bookworm = PathBuf::from("/boot/firmware");
        if bookworm.join("config.txt").exists() {
            bookworm
        } else {
            PathBuf::from("/boot")
        }
    });
    let (config_path, cmdline_path) = (boot.join("config.txt"), boot.join("cmdline.txt"));
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let (config, cmdline) = match (read(&config_path), read(&cmdline_path)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let plan = pi_setup::plan(board, hat, &config, &cmdline);
    let changes = [
        (&config_path, config.as_str(), plan.config_txt.as_str()),
        (&cmdline_path, cmdline.as_str(), plan.cmdline_txt.as_str()),
    ];
    let mut changed = false;
    for (path, before, after) in changes {
        let d = pi_setup::diff(&path.display().to_string(), before, after);
        print!("{d}");
        changed |= !d.is_empty();
    }
    if !changed {
        println!(
            "{} and {} are already set for {} on a {board:?}.",
            config_path.display(),
            cmdline_path.display(),
            hat.name
        );
    } else if apply {
        for (path, before, after) in changes {
            if before == after {
                continue;
            }
            let backup = path.with_extension("txt.stratum1-backup");
            if let Err(e) = std::fs::write(&backup, before) {
                return fail(format!("cannot keep {}: {e}; nothing written", backup.display()));
            }
            if let Err(e) = stratum1::atomic_file::write(path, after.as_bytes(), 0o755) {
                return fail(format!(
                    "cannot write {}: {e}; the old file is {}",
                    path.display(),
                    backup.display()
                ));
            }
            println!("wrote {} (the old one is {})", path.display(), backup.display());
        }
        println!("Reboot for the changes to take effect.");
    } else {
        println!("Nothing written: run again with --apply (as root) to write these changes.");
    }
    print!("{}", pi_setup::after_reboot(board, hat));
    ExitCode::SUCCESS
}

fn simulate(seconds: u64) -> ExitCode {
    use std::io::Write;
    let mut out = io::stdout().lock();
    for i in 0..seconds {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let second = now.as_secs() as i64 + 1;
        let wait = std::time::Duration::from_millis(1300)
            .saturating_sub(std::time::Duration::from_nanos(u64::from(now.subsec_nanos())));
        std::thread::sleep(wait);
        let report =
            refclock_core::sim::nmea_out::EpochReport { labelled_second: second, fix: true, noise: i as u32 };
        let text = refclock_core::sim::nmea_out::sentences(&report);
        if out.write_all(text.as_bytes()).and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS; // the reader went away
        }
    }
    ExitCode::SUCCESS
}

fn decode(file: PathBuf, window: DateWindow) -> ExitCode {
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
