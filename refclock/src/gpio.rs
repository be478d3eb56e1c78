//! GPIO PPS shell (`linux-embedded-hal`'s GPIO character device): line events with kernel
//! timestamps, for boards without the pps-gpio overlay. Chip, line and edge are configurable;
//! a missing chip or line is a status and a retry, never a panic.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use linux_embedded_hal::gpio_cdev::{Chip, EventRequestFlags, LineEventHandle, LineRequestFlags};

use crate::link::{sleep_unless_stopped, Backoff, EdgeEvent, EdgeEventSink, Polarity};
use crate::sim::now_nanos;
use refclock_core::link::LinkStatus;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpioConfig {
    /// A path (`/dev/gpiochip0` on a Pi up to 4), or a chip's label (`pinctrl-rp1` on a Pi 5,
    /// whose RP1 is `gpiochip4` on older kernels and `gpiochip0` on newer ones).
    pub chip: PathBuf,
    /// The line offset: GPIO4 on the Adafruit HAT, GPIO18 on the Uputronics.
    pub line: u32,
    pub polarity: Polarity,
}

/// Wait for an edge this long before calling the line silent (a PPS comes every second).
const SILENT_AFTER: Duration = Duration::from_millis(2500);

/// The GPIO v1 interface stamps events with CLOCK_MONOTONIC (Linux >= 5.7); edges are needed on
/// CLOCK_REALTIME. Both clocks are read back to back right after the event, so the error is the
/// few nanoseconds between the two reads plus any slew in the microseconds since the edge.
pub fn monotonic_to_realtime(event_monotonic: i64, monotonic_now: i64, realtime_now: i64) -> i64 {
    realtime_now - (monotonic_now - event_monotonic)
}

pub struct GpioReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GpioReader {
    pub fn start(config: GpioConfig, mut sink: EdgeEventSink) -> io::Result<GpioReader> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("gnss-gpio".into()).spawn(move || {
                let mut backoff = Backoff::new();
                while !stop.load(Ordering::Relaxed) {
                    let error = match request(&config) {
                        Ok(handle) => watch_until_lost(handle, &stop, &mut sink, &mut backoff),
                        Err(e) => e,
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let retry_in_ms = backoff.next_delay_ms();
                    let error = format!("{} line {}: {error}", config.chip.display(), config.line);
                    sink(EdgeEvent::Status(LinkStatus::Down { error, retry_in_ms }));
                    sleep_unless_stopped(Duration::from_millis(retry_in_ms), &stop);
                }
            })?
        };
        Ok(GpioReader { stop, thread: Some(thread) })
    }
}

impl Drop for GpioReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The chip `spec` names: a path, or (a bare name) the label of one of `/dev/gpiochip*`.
fn open_chip(spec: &Path) -> Result<Chip, String> {
    if spec.is_absolute() || spec.components().count() > 1 {
        return Chip::new(spec).map_err(|e| e.to_string());
    }
    let label = spec.to_string_lossy();
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/dev")
        .map_err(|e| format!("/dev: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("gpiochip")))
        .collect();
    paths.sort();
    let mut seen = Vec::new();
    for path in paths {
        match Chip::new(&path) {
            Ok(chip) if chip.label() == label => return Ok(chip),
            Ok(chip) => seen.push(format!("{} ({})", path.display(), chip.label())),
            Err(e) => seen.push(format!("{}: {e}", path.display())),
        }
    }
    let found = if seen.is_empty() { "none".to_owned() } else { seen.join(", ") };
    Err(format!("no GPIO chip labelled {label:?} (found: {found})"))
}

fn request(config: &GpioConfig) -> Result<LineEventHandle, String> {
    let mut chip = open_chip(&config.chip)?;
    let line = chip.get_line(config.line).map_err(|e| e.to_string())?;
    let edge = match config.polarity {
        Polarity::Assert => EventRequestFlags::RISING_EDGE,
        Polarity::Clear => EventRequestFlags::FALLING_EDGE,
    };
    line.events(LineRequestFlags::INPUT, edge, "stratum1-pps").map_err(|e| e.to_string())
}

fn watch_until_lost(
    mut handle: LineEventHandle,
    stop: &AtomicBool,
    sink: &mut EdgeEventSink,
    backoff: &mut Backoff,
) -> String {
    let mut silent = false;
    sink(EdgeEvent::Status(LinkStatus::Up { since: now_nanos() / 1_000_000_000 }));
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        match wait_readable(handle.as_raw_fd(), Duration::from_millis(500)) {
            Ok(false) => {
                waited += Duration::from_millis(500);
                if !silent && waited >= SILENT_AFTER {
                    silent = true;
                    sink(EdgeEvent::Status(LinkStatus::Silent { since: now_nanos() / 1_000_000_000 }));
                }
            }
            Ok(true) => {
                let event = match handle.get_event() {
                    Ok(event) => event,
                    Err(e) => return e.to_string(),
                };
                let (monotonic_now, realtime_now) = (monotonic_nanos(), now_nanos());
                let stamp = i64::try_from(event.timestamp()).unwrap_or(i64::MAX);
                if silent {
                    silent = false;
                    sink(EdgeEvent::Status(LinkStatus::Up { since: realtime_now / 1_000_000_000 }));
                }
                waited = Duration::ZERO;
                backoff.reset();
                sink(EdgeEvent::Edge(monotonic_to_realtime(stamp, monotonic_now, realtime_now)));
            }
            Err(e) => return e.to_string(),
        }
    }
    "stopped".into()
}

fn wait_readable(fd: i32, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    match unsafe { libc::poll(&mut poll, 1, millis) } {
        n if n < 0 => {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[allow(clippy::unnecessary_cast)] // i64 here, i32 on armhf
fn monotonic_nanos() -> i64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    // The fields are 32 bits on armhf (Raspberry Pi OS 32-bit).
    now.tv_sec as i64 * 1_000_000_000 + now.tv_nsec as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monotonic_stamp_maps_to_realtime_by_the_current_offset() {
        // An edge 40 us before the clocks were read.
        assert_eq!(
            monotonic_to_realtime(1_000_000, 1_040_000, 1_795_000_000_000_040_000),
            1_795_000_000_000_000_000
        );
    }

    #[test]
    fn a_missing_chip_is_a_status_with_a_retry_not_a_panic() {
        let (tx, rx) = std::sync::mpsc::channel();
        let config =
            GpioConfig { chip: "/dev/gpiochip-missing".into(), line: 18, polarity: Polarity::Assert };
        let reader = GpioReader::start(config, Box::new(move |e| drop(tx.send(e)))).unwrap();
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let EdgeEvent::Status(LinkStatus::Down { error, .. }) = first else { panic!("{first:?}") };
        assert!(error.contains("/dev/gpiochip-missing line 18"), "{error}");
        drop(reader);
    }

    #[test]
    fn a_chip_is_found_by_its_label_or_the_chips_there_are_named() {
        // No GPIO chip here has this label (and on a build machine there may be no chip at
        // all): the error says what was looked for and what exists.
        let Err(error) = open_chip(Path::new("no-such-label")) else {
            panic!("a chip labelled no-such-label")
        };
        assert!(error.starts_with("no GPIO chip labelled \"no-such-label\" (found: "), "{error}");
        let Err(error) = open_chip(Path::new("/dev/gpiochip-missing")) else {
            panic!("opened a missing path")
        };
        assert!(!error.contains("labelled"), "a path is opened as a path: {error}");
    }
}
