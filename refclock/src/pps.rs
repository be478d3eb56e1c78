//! Kernel PPS shell (`pps-time`): `/dev/ppsN`, assert or clear edge, fetched with a timeout.
//! A missing device or one that stops pulsing is a status and a retry, never a panic.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use pps_time::pps::{
    pps_kinfo, pps_ktime, PPS_CANWAIT, PPS_CAPTUREASSERT, PPS_CAPTURECLEAR, PPS_TSFMT_TSPEC,
};
use pps_time::PpsDevice;

use crate::link::{sleep_unless_stopped, Backoff, EdgeEvent, EdgeEventSink, Polarity};
use crate::sim::now_nanos;
use refclock_core::link::LinkStatus;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PpsConfig {
    pub path: PathBuf,
    pub polarity: Polarity,
}

/// Consecutive 1.5 s fetch timeouts before the line is reported silent.
const SILENT_AFTER_TIMEOUTS: u32 = 2;

/// New edges from successive PPS_FETCH results (pure): the kernel reports the latest edge and
/// a sequence number, so the same edge can be fetched twice and pulses can be missed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceTracker {
    last: Option<u32>,
    pub missed: u64,
}

impl SequenceTracker {
    /// The edge's local time if `info` holds an edge not seen before.
    pub fn new_edge(&mut self, info: &pps_kinfo, polarity: Polarity) -> Option<i64> {
        let (sequence, time) = match polarity {
            Polarity::Assert => (info.assert_sequence, info.assert_tu),
            Polarity::Clear => (info.clear_sequence, info.clear_tu),
        };
        if sequence == 0 || self.last == Some(sequence) {
            return None;
        }
        if let Some(last) = self.last {
            self.missed += u64::from(sequence.wrapping_sub(last).saturating_sub(1));
        }
        self.last = Some(sequence);
        ktime_nanos(&time)
    }
}

fn ktime_nanos(time: &pps_ktime) -> Option<i64> {
    time.sec.checked_mul(1_000_000_000)?.checked_add(i64::from(time.nsec))
}

pub struct PpsReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PpsReader {
    pub fn start(config: PpsConfig, mut sink: EdgeEventSink) -> io::Result<PpsReader> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("gnss-pps".into()).spawn(move || {
                let mut backoff = Backoff::new();
                while !stop.load(Ordering::Relaxed) {
                    let error = match open(&config) {
                        Ok(device) => fetch_until_lost(&device, &config, &stop, &mut sink, &mut backoff),
                        Err(e) => e.to_string(),
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let retry_in_ms = backoff.next_delay_ms();
                    let error = format!("{}: {error}", config.path.display());
                    sink(EdgeEvent::Status(LinkStatus::Down { error, retry_in_ms }));
                    sleep_unless_stopped(Duration::from_millis(retry_in_ms), &stop);
                }
            })?
        };
        Ok(PpsReader { stop, thread: Some(thread) })
    }
}

impl Drop for PpsReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open(config: &PpsConfig) -> io::Result<PpsDevice> {
    let device = PpsDevice::new(config.path.clone())?;
    let capabilities = device.get_cap()?;
    let wanted = match config.polarity {
        Polarity::Assert => PPS_CAPTUREASSERT,
        Polarity::Clear => PPS_CAPTURECLEAR,
    };
    if capabilities & PPS_CANWAIT == 0 || capabilities & wanted == 0 {
        return Err(io::Error::other(format!("device cannot wait for {:?} edges", config.polarity)));
    }
    let mut params = device.get_params()?;
    // The kernel's `mode` is a C int holding these flag bits.
    let wanted = wanted as i32;
    if params.mode & wanted == 0 {
        // Needs CAP_SYS_TIME; failing that is an error the status shows.
        params.mode |= wanted | PPS_TSFMT_TSPEC as i32;
        device.set_params(&mut params)?;
    }
    Ok(device)
}

fn fetch_until_lost(
    device: &PpsDevice,
    config: &PpsConfig,
    stop: &AtomicBool,
    sink: &mut EdgeEventSink,
    backoff: &mut Backoff,
) -> String {
    let mut tracker = SequenceTracker::default();
    let mut timeouts = 0;
    sink(EdgeEvent::Status(LinkStatus::Up { since: now_nanos() / 1_000_000_000 }));
    while !stop.load(Ordering::Relaxed) {
        match device.fetch_timeout(1, 500_000_000) {
            Ok(data) => {
                if let Some(edge) = tracker.new_edge(&data.info, config.polarity) {
                    if timeouts >= SILENT_AFTER_TIMEOUTS {
                        sink(EdgeEvent::Status(LinkStatus::Up { since: now_nanos() / 1_000_000_000 }));
                    }
                    timeouts = 0;
                    backoff.reset();
                    sink(EdgeEvent::Edge(edge));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                timeouts += 1;
                if timeouts == SILENT_AFTER_TIMEOUTS {
                    sink(EdgeEvent::Status(LinkStatus::Silent { since: now_nanos() / 1_000_000_000 }));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return e.to_string(),
        }
    }
    "stopped".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(assert_sequence: u32, sec: i64, nsec: i32) -> pps_kinfo {
        pps_kinfo { assert_sequence, assert_tu: pps_ktime { sec, nsec, flags: 0 }, ..Default::default() }
    }

    #[test]
    fn each_edge_is_delivered_once_and_missed_pulses_are_counted() {
        let mut tracker = SequenceTracker::default();
        assert_eq!(tracker.new_edge(&info(0, 0, 0), Polarity::Assert), None, "no edge yet");
        assert_eq!(tracker.new_edge(&info(7, 100, 250), Polarity::Assert), Some(100_000_000_250));
        assert_eq!(tracker.new_edge(&info(7, 100, 250), Polarity::Assert), None, "same edge again");
        assert_eq!(tracker.new_edge(&info(10, 103, 10), Polarity::Assert), Some(103_000_000_010));
        assert_eq!(tracker.missed, 2);
    }

    #[test]
    fn a_missing_device_is_a_status_with_a_retry_not_a_panic() {
        let (tx, rx) = std::sync::mpsc::channel();
        let config = PpsConfig { path: "/dev/pps-does-not-exist".into(), polarity: Polarity::Assert };
        let reader = PpsReader::start(config, Box::new(move |e| drop(tx.send(e)))).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let EdgeEvent::Status(LinkStatus::Down { error, retry_in_ms }) = first else { panic!("{first:?}") };
        assert!(error.contains("/dev/pps-does-not-exist"), "{error}");
        assert_eq!(retry_in_ms, Backoff::FIRST_MS);
        drop(reader);
    }
}
