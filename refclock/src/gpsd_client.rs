//! The gpsd shell: connects to gpsd, asks for JSON with PPS reports, and forwards what it
//! reads, stamped on arrival, as the serial shell forwards a port's bytes; a lost or refused
//! connection becomes a status and a retry with the same back-off (250 ms to 30 s).

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::link::{sleep_unless_stopped, Backoff};
use crate::serial::{read_until_lost, SerialEvent, SerialSink};
use refclock_core::link::LinkStatus;

/// What gpsd is asked for: JSON reports, with PPS.
const WATCH: &[u8] = b"?WATCH={\"enable\":true,\"json\":true,\"pps\":true};\n";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const READ_TIMEOUT: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct GpsdConfig {
    /// `host:port`, 2947 being gpsd's.
    pub address: String,
    /// No report for this long: the link is silent (gpsd up, receiver quiet).
    pub silent_after: Duration,
}

pub struct GpsdClient {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GpsdClient {
    pub fn start(config: GpsdConfig, mut sink: SerialSink) -> io::Result<GpsdClient> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new().name("gnss-gpsd".into()).spawn(move || {
                let mut backoff = Backoff::new();
                while !stop.load(Ordering::Relaxed) {
                    let error = match connect(&config.address) {
                        Ok(stream) => {
                            read_until_lost(stream, config.silent_after, &stop, &mut sink, &mut backoff)
                        }
                        Err(e) => e.to_string(),
                    };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let retry_in_ms = backoff.next_delay_ms();
                    let error = format!("gpsd at {}: {error}", config.address);
                    sink(SerialEvent::Status(LinkStatus::Down { error, retry_in_ms }));
                    sleep_unless_stopped(Duration::from_millis(retry_in_ms), &stop);
                }
            })?
        };
        Ok(GpsdClient { stop, thread: Some(thread) })
    }
}

fn connect(address: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(mut stream) => {
                stream.set_read_timeout(Some(READ_TIMEOUT))?;
                stream.set_nodelay(true)?;
                stream.write_all(WATCH)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Drop for GpsdClient {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
