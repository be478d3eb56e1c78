//! Wiring: configuration in, running services out. `main.rs` only adds arguments, logging and
//! signals around [`Daemon`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::{observe_only_state, precision_from_step, system, ClockMode};
use crate::config::Config;
use crate::gnss::GnssTask;
use crate::ntp::counters::{CountsSnapshot, ServerCounters};
use crate::ntp::rate_limit::RateLimiter;
use crate::ntp::server::{RatePolicy, Server};
use crate::ntp::udp::{Shared, UdpService};
use crate::state::SharedServedClock;

/// How often the clock task refreshes the announced state.
const CLOCK_UPDATE_INTERVAL: Duration = Duration::from_secs(1);

pub struct Daemon {
    udp: UdpService,
    clock_task: JoinHandle<()>,
    stop: Arc<AtomicBool>,
    counters: Arc<ServerCounters>,
    gnss: Option<GnssTask>,
}

impl Daemon {
    pub fn start(config: &Config) -> io::Result<Daemon> {
        let stop = Arc::new(AtomicBool::new(false));
        let precision = precision_from_step(system::measure_reading_step());
        let local_stratum = config.clock.local_stratum;
        let clock =
            Arc::new(SharedServedClock::new(observe_only_state(local_stratum, precision, system::now())));
        // Observe-only is the one mode so far; a steering mode will have to be handled here.
        let ClockMode::ObserveOnly = config.clock.mode;
        let clock_task = {
            let (clock, stop) = (clock.clone(), stop.clone());
            std::thread::Builder::new().name("clock".into()).spawn(move || {
                while !sleep_unless_stopped(&stop, CLOCK_UPDATE_INTERVAL) {
                    clock.set(observe_only_state(local_stratum, precision, system::now()));
                }
            })?
        };

        let rate_config = &config.ntp.rate_limit;
        let rate = rate_config.enabled.then(|| {
            RatePolicy::new(RateLimiter::new(rate_config.settings()), rate_config.kiss_of_death_one_in)
        });
        let server = Arc::new(Server { access: config.ntp.access_list(), rate });
        let counters = Arc::new(ServerCounters::default());
        let shared = Shared {
            server,
            clock: clock.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
            coalesce: Duration::from_micros(config.ntp.coalesce_us),
        };
        let workers = config.ntp.worker_count();
        let udp = match UdpService::start(&config.ntp.listen, workers, shared) {
            Ok(udp) => udp,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        let announced = clock.get();
        for addr in &udp.local_addrs {
            // Tests read this line to learn ephemeral ports: keep its shape.
            tracing::info!("serving NTP on udp://{addr} ({workers} workers)");
        }
        tracing::info!(
            "clock: observe-only (the host clock is never adjusted); announcing stratum {} refid {}, precision 2^{}",
            announced.stratum,
            String::from_utf8_lossy(&announced.reference_id.0).trim_end_matches('\0'),
            announced.precision
        );
        let gnss = match GnssTask::start(&config.refclock) {
            Ok(gnss) => gnss,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                udp.join();
                return Err(e);
            }
        };
        Ok(Daemon { udp, clock_task, stop, counters, gnss })
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.udp.local_addrs
    }

    pub fn counters(&self) -> CountsSnapshot {
        self.counters.snapshot()
    }

    /// Stops every task and waits for them; returns the final counters.
    pub fn shutdown(self) -> CountsSnapshot {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(gnss) = self.gnss {
            gnss.shutdown();
        }
        self.udp.join();
        if self.clock_task.join().is_err() {
            tracing::error!("the clock task panicked");
        }
        self.counters.snapshot()
    }
}

/// Sleeps for `duration` in short steps; returns true as soon as `stop` is set.
fn sleep_unless_stopped(stop: &AtomicBool, duration: Duration) -> bool {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < duration {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    stop.load(Ordering::Relaxed)
}
