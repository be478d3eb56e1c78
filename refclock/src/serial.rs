//! Serial shell: reads the receiver's NMEA with `serialport` and forwards timestamped bytes.
//! A missing device, an unplugged cable or a silent line become a status and a retry with
//! back-off, never a crash or a busy loop.

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::link::{sleep_unless_stopped, Backoff};
use crate::sim::now_nanos;
use refclock_core::link::LinkStatus;
use refclock_core::pairing::LocalNanos;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialConfig {
    pub path: PathBuf,
    pub baud: u32,
    /// No bytes for this long makes the line `Silent`.
    pub silent_after: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SerialEvent {
    /// What one read returned, and when it returned.
    Bytes {
        data: Vec<u8>,
        arrived: LocalNanos,
    },
    Status(LinkStatus),
}

pub type SerialSink = Box<dyn FnMut(SerialEvent) + Send>;

/// Reads poll at this interval, so stop requests and silence are noticed promptly.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

pub struct SerialReader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SerialReader {
    pub fn start(config: SerialConfig, mut sink: SerialSink) -> io::Result<SerialReader> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("gnss-serial".into()).spawn(move || {
                let mut backoff = Backoff::new();
                while !stop.load(Ordering::Relaxed) {
                    let error = match serialport::new(config.path.to_string_lossy(), config.baud)
                        .timeout(READ_TIMEOUT)
                        .open_native()
                    {
                        Ok(port) => {
                            read_until_lost(port, config.silent_after, &stop, &mut sink, &mut backoff)
                        }
                        Err(e) => e.to_string(),
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let retry_in_ms = backoff.next_delay_ms();
                    let error = format!("{}: {error}", config.path.display());
                    sink(SerialEvent::Status(LinkStatus::Down { error, retry_in_ms }));
                    sleep_unless_stopped(Duration::from_millis(retry_in_ms), &stop);
                }
            })?
        };
        Ok(SerialReader { stop, thread: Some(thread) })
    }
}

impl Drop for SerialReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads an open port (or the gpsd socket) until it fails; returns why.
pub(crate) fn read_until_lost(
    mut port: impl Read,
    silent_after: Duration,
    stop: &AtomicBool,
    sink: &mut SerialSink,
    backoff: &mut Backoff,
) -> String {
    let mut buffer = [0u8; 1024];
    let mut last_data = Instant::now();
    let mut silent = false;
    sink(SerialEvent::Status(LinkStatus::Up { since: now_nanos() / 1_000_000_000 }));
    while !stop.load(Ordering::Relaxed) {
        match port.read(&mut buffer) {
            Ok(0) => return "end of file".into(),
            Ok(n) => {
                let arrived = now_nanos();
                sink(SerialEvent::Bytes { data: buffer[..n].to_vec(), arrived });
                if silent {
                    sink(SerialEvent::Status(LinkStatus::Up { since: arrived / 1_000_000_000 }));
                    silent = false;
                }
                last_data = Instant::now();
                backoff.reset();
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                if !silent && last_data.elapsed() >= silent_after {
                    silent = true;
                    sink(SerialEvent::Status(LinkStatus::Silent { since: now_nanos() / 1_000_000_000 }));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return e.to_string(),
        }
    }
    "stopped".into()
}
