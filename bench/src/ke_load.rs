//! Key-establishment load: full NTS-KE exchanges (TLS 1.3 handshake, request, 8 cookies) at a
//! fixed offered rate from a few client threads, bounded in count and time; loopback only.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use stratum1::nts::client::{tls_config, KeConnection};
use stratum1_core::nts::AeadAlgorithm;

const CLIENT_THREADS: usize = 8;

#[derive(Debug, Default, Clone, Copy)]
pub struct KeLoadResult {
    pub offered: u64,
    pub completed: u64,
    pub failed: u64,
    pub window_completed: u64,
    pub window_server_cpu_ns: u64,
    pub window_seconds: f64,
}

pub fn run(
    server: SocketAddr,
    ca: &Path,
    rate: u64,
    warmup: Duration,
    measure: Duration,
    server_cpu: impl Fn() -> u64,
) -> io::Result<KeLoadResult> {
    if !server.ip().is_loopback() {
        return Err(io::Error::other("the load generator only targets loopback"));
    }
    // Every exchange a full handshake: a server that hands out session tickets (ntpd-rs does)
    // would otherwise be measured resuming, without its certificate or signature.
    let mut full_handshakes = (*tls_config(ca)?).clone();
    full_handshakes.resumption = rustls::client::Resumption::disabled();
    let tls = Arc::new(full_handshakes);
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::sync_channel::<()>(CLIENT_THREADS * 2);
    let rx = Arc::new(Mutex::new(rx));
    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|_| {
            let (tls, rx, completed, failed) = (tls.clone(), rx.clone(), completed.clone(), failed.clone());
            std::thread::spawn(move || loop {
                let job = rx.lock().map(|r| r.recv());
                if !matches!(job, Ok(Ok(()))) {
                    return;
                }
                let done = KeConnection::connect(tls.clone(), server, "localhost", Duration::from_secs(2))
                    .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]))
                    .is_ok_and(|s| s.cookies.len() == 8);
                if done { &completed } else { &failed }.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();

    let start = Instant::now();
    let window_start = start + warmup;
    let window_end = window_start + measure;
    let mut r = KeLoadResult::default();
    let mut at_start = None;
    while Instant::now() < window_end {
        let now = Instant::now();
        if at_start.is_none() && now >= window_start {
            at_start = Some((server_cpu(), now, completed.load(Ordering::Relaxed)));
        }
        let due = (now.duration_since(start).as_secs_f64() * rate as f64) as u64;
        while r.offered < due {
            // A full queue means the clients cannot keep up: the offer is dropped, not queued.
            if tx.try_send(()).is_err() {
                break;
            }
            r.offered += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some((cpu0, t0, done0)) = at_start {
        r.window_server_cpu_ns = server_cpu().saturating_sub(cpu0);
        r.window_seconds = t0.elapsed().as_secs_f64();
        r.window_completed = completed.load(Ordering::Relaxed) - done0;
    }
    drop(tx);
    for w in workers {
        let _ = w.join();
    }
    r.completed = completed.load(Ordering::Relaxed);
    r.failed = failed.load(Ordering::Relaxed);
    Ok(r)
}
