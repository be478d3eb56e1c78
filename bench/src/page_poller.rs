//! Polls the status page and the JSON API ten times a second (far more than any browser tab)
//! while the NTP load runs, so the page's cost shows up in the server's CPU if it has any.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct PagePoller {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(u64, u64)>,
}

pub fn start(addr: SocketAddr) -> PagePoller {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let (ok, failed) = (AtomicU64::new(0), AtomicU64::new(0));
        while !flag.load(Ordering::Relaxed) {
            for path in ["/", "/api/status"] {
                if get(addr, path) { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (ok.into_inner(), failed.into_inner())
    });
    PagePoller { stop, thread }
}

impl PagePoller {
    /// Stops polling; returns (successful loads, failed loads).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

fn get(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).is_ok() && response.starts_with(b"HTTP/1.1 200")
}
