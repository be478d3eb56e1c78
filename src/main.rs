//! stratum1d: arguments -> configuration -> services -> wait for a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stratum1::config::{Config, LogLevel};
use stratum1::daemon::Daemon;
use stratum1::logging;
use stratum1::notify::{self, Notifier};
use stratum1_core::ntp::DropReason;

#[derive(Parser)]
#[command(name = "stratum1d", version, about = "GNSS-disciplined Stratum-1 NTP server")]
struct Args {
    /// Configuration file (TOML). Without it, the built-in demo configuration is used.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check FILE and exit: 0 when valid, 2 with the key and line of the first error.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = args.check_config {
        let checked = Config::load(&path).map_err(|e| e.to_string()).and_then(|config| {
            if !config.nts.enabled {
                return Ok(None);
            }
            stratum1::nts::service::check_identity(&config.nts)
                .map_err(|e| format!("{}: [nts] {e}", path.display()))
        });
        return match checked {
            Ok(note) => {
                println!("{}: ok{}", path.display(), note.map_or(String::new(), |n| format!(" ({n})")));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("stratum1d: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match args.config.as_deref().map_or_else(Config::demo, Config::load) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stratum1d: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log.level);
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stratum1d: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let daemon = match Daemon::start(&config) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("stratum1d: {e}");
            return ExitCode::FAILURE;
        }
    };
    let notifier = match Notifier::from_env() {
        Ok(n) => n.map(Arc::new),
        Err(e) => {
            tracing::warn!("systemd: NOTIFY_SOCKET set but unusable ({e}); no readiness or watchdog notices");
            None
        }
    };
    let watchdog_stop = Arc::new(AtomicBool::new(false));
    let watchdog = notifier.as_ref().and_then(|n| {
        if let Err(e) = n.send("READY=1\nSTATUS=serving") {
            tracing::warn!("systemd: cannot send READY=1: {e}");
        }
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        let every = notify::watchdog_ping_every(usec.as_deref(), pid.as_deref(), std::process::id())?;
        let heartbeat = daemon.heartbeat()?;
        Some(start_watchdog(n.clone(), every, heartbeat, watchdog_stop.clone()))
    });
    // SIGHUP (a reload, or a closed terminal) must not stop a time server: the file is checked
    // and the verdict logged; changes take effect at the next restart.
    for signal in signals.forever() {
        if signal != SIGHUP {
            tracing::info!("signal {signal}: shutting down");
            break;
        }
        match args.config.as_deref().map(Config::load) {
            None => tracing::warn!("SIGHUP: running the built-in demo configuration; nothing to re-read"),
            Some(Ok(_)) => tracing::warn!(
                "SIGHUP: the configuration file is valid; changes take effect at the next restart (systemctl restart stratum1d)"
            ),
            Some(Err(e)) => tracing::error!("SIGHUP: {e}; still running with the configuration read at start"),
        }
    }
    if let Some(n) = &notifier {
        let _ = n.send("STOPPING=1");
    }
    watchdog_stop.store(true, Ordering::Relaxed);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let c = daemon.shutdown();
    let dropped: Vec<String> =
        DropReason::ALL.iter().map(|r| format!("{}={}", r.name(), c.dropped_for(*r))).collect();
    tracing::info!(
        "ntp counters: received={} af_xdp={} answered={} nts_answered={} kod_rate={} kod_ntsn={} send_errors={} {}",
        c.received,
        c.received_af_xdp,
        c.answered,
        c.nts_answered,
        c.kiss_of_death_rate,
        c.kiss_of_death_ntsn,
        c.send_errors,
        dropped.join(" ")
    );
    ExitCode::SUCCESS
}

/// Pings systemd's watchdog every `every` while the clock task ticks; a hung task stops the
/// pings, and systemd restarts the service (WatchdogSec=).
fn start_watchdog(
    notifier: Arc<Notifier>,
    every: Duration,
    heartbeat: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = heartbeat.load(Ordering::Relaxed);
        let mut warned = false;
        while !stop.load(Ordering::Relaxed) {
            // Short sleeps, so that a shutdown is not held up by a long period.
            let until = Instant::now() + every;
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100).min(every));
            }
            let now = heartbeat.load(Ordering::Relaxed);
            if now != last {
                let _ = notifier.send("WATCHDOG=1");
                last = now;
                warned = false;
            } else if !warned && !stop.load(Ordering::Relaxed) {
                tracing::error!("the clock task has not ticked for {every:?}: not telling systemd's watchdog we are alive");
                warned = true;
            }
        }
    })
}

fn init_logging(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    let builder =
        tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_ansi(false);
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    if logging::is_journal_stream(journal_stream.as_deref(), logging::stderr_dev_ino()) {
        builder.event_format(logging::JournalFormat).init();
    } else {
        builder.init();
    }
}
