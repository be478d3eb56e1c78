//! The simulated receiver: realistic NMEA written to a pty (so the real serial path reads it)
//! and PPS edges with jitter, with scripted faults: fix loss and recovery, a label jump, and
//! the serial line going away and coming back.
//!
//! The truth is the host clock: the simulated edge of second S is at local time S plus jitter.
//! That suits observe-only mode, where the host clock is what is served.

pub mod pty;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pty::Pty;
use refclock_core::pairing::LocalNanos;
use refclock_core::sim::{nmea_out, Scenario, SimConfig};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Receives each simulated PPS edge, stamped on the local clock.
pub type EdgeSink = Box<dyn FnMut(LocalNanos) + Send>;

/// A running simulated receiver. Dropping it stops the thread and removes the link.
pub struct SimulatedReceiver {
    link: PathBuf,
    stop: Arc<AtomicBool>,
    unplugged_until: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl SimulatedReceiver {
    /// Starts the receiver; its serial line appears at `link` (a symlink to the pty), like a
    /// udev rule's `/dev/gps0`.
    pub fn start(config: SimConfig, link: &Path, mut on_edge: EdgeSink) -> io::Result<SimulatedReceiver> {
        let mut pty = Some(Pty::open()?);
        replace_link(link, pty.as_ref())?;
        let stop = Arc::new(AtomicBool::new(false));
        let unplugged_until = Arc::new(Mutex::new(None::<Instant>));
        let thread = {
            let (stop, unplugged_until, link) = (stop.clone(), unplugged_until.clone(), link.to_path_buf());
            std::thread::Builder::new().name("gnss-sim".into()).spawn(move || {
                let mut scenario = Scenario::new(config);
                while !stop.load(Ordering::Relaxed) {
                    let second = now_nanos().div_euclid(NANOS_PER_SEC) + 1;
                    if !sleep_until(second * NANOS_PER_SEC, &stop) {
                        break;
                    }
                    let unplugged = unplugged_until
                        .lock()
                        .map(|u| u.is_some_and(|t| Instant::now() < t))
                        .unwrap_or(false);
                    if unplugged && pty.is_some() {
                        pty = None;
                        let _ = std::fs::remove_file(&link);
                    } else if !unplugged && pty.is_none() {
                        pty = Pty::open().ok();
                        let _ = replace_link(&link, pty.as_ref());
                    }
                    let plan = scenario.second(second);
                    if let Some(jitter) = plan.edge_jitter_ns {
                        on_edge(second * NANOS_PER_SEC + jitter);
                    }
                    if !sleep_until(second * NANOS_PER_SEC + plan.nmea_latency_ns, &stop) {
                        break;
                    }
                    if let Some(pty) = pty.as_mut() {
                        let _ = pty.write_lossy(nmea_out::sentences(&plan.report).as_bytes());
                    }
                }
                let _ = std::fs::remove_file(&link);
            })?
        };
        Ok(SimulatedReceiver { link: link.to_path_buf(), stop, unplugged_until, thread: Some(thread) })
    }

    /// Where the serial shell should open the receiver.
    pub fn link(&self) -> &Path {
        &self.link
    }

    /// Closes the pty for `period` (the link disappears), then opens a new one, as when a USB
    /// receiver is unplugged and plugged back in.
    pub fn unplug(&self, period: Duration) {
        if let Ok(mut until) = self.unplugged_until.lock() {
            *until = Some(Instant::now() + period);
        }
    }
}

impl Drop for SimulatedReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn replace_link(link: &Path, pty: Option<&Pty>) -> io::Result<()> {
    let _ = std::fs::remove_file(link);
    match pty {
        Some(pty) => std::os::unix::fs::symlink(pty.slave_path(), link),
        None => Ok(()),
    }
}

pub fn now_nanos() -> LocalNanos {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

/// Sleeps until local time `deadline`, in short steps so a stop request is seen; false if
/// stopped.
fn sleep_until(deadline: LocalNanos, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = deadline - now_nanos();
        if left <= 0 {
            return true;
        }
        std::thread::sleep(Duration::from_nanos(left.min(200_000_000) as u64));
    }
}
