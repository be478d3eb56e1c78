//! Wiring: configuration in, running services out. `main.rs` only adds arguments, logging and
//! signals around [`Daemon`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::task::ClockTask;
use crate::clock::{observe_only_state, precision_from_step, system, ClockMode};
use crate::config::Config;
use crate::gnss::{ClockLink, GnssTask};
use crate::integrity::Witness;
use crate::ntp::counters::{CountsSnapshot, ServerCounters};
use crate::ntp::rate_limit::RateLimiter;
use crate::ntp::server::{RatePolicy, Server};
use crate::ntp::udp::{Shared, UdpService};
use crate::ntp::xdp::XdpService;
use crate::nts::ke_server::KeCountsSnapshot;
use crate::nts::service::{self as nts_service, NtsService};
use crate::sources::poller::Pollers;
use crate::state::SharedServedClock;
use crate::status::{NtsSources, StatusSources};
use stratum1_web::server::WebServer;

pub struct Daemon {
    udp: UdpService,
    xdp: Option<XdpService>,
    clock_task: ClockTask,
    stop: Arc<AtomicBool>,
    counters: Arc<ServerCounters>,
    gnss: Option<GnssTask>,
    nts: Option<NtsService>,
    sources: Pollers,
    web: Option<WebServer>,
}

impl Daemon {
    pub fn start(config: &Config) -> io::Result<Daemon> {
        let stop = Arc::new(AtomicBool::new(false));
        let precision = precision_from_step(system::measure_reading_step());
        let clock = Arc::new(SharedServedClock::new(observe_only_state(
            config.clock.local_stratum,
            precision,
            system::now(),
        )));
        // Certificates and keys are checked before anything starts, so a bad file is a clean
        // error at start.
        let prepared_nts = if config.nts.enabled { Some(nts_service::prepare(&config.nts)?) } else { None };
        let witness =
            Witness::new(config.source.iter().map(|s| s.info()).collect(), config.integrity.guard());
        let clock_task = ClockTask::start(
            &config.clock,
            config.refclock.nmea_window_ms,
            clock.clone(),
            precision,
            witness,
        )?;

        let rate_config = &config.ntp.rate_limit;
        let rate = rate_config.enabled.then(|| {
            RatePolicy::new(RateLimiter::new(rate_config.settings()), rate_config.kiss_of_death_one_in)
        });
        let server = Arc::new(Server {
            access: config.ntp.access_list(),
            rate,
            nts: prepared_nts.as_ref().map(|p| p.policy(config.nts.require)),
        });
        let counters = Arc::new(ServerCounters::default());
        let shared = Shared {
            server,
            clock: clock.clone(),
            counters: counters.clone(),
            stop: stop.clone(),
            coalesce: Duration::from_micros(config.ntp.coalesce_us),
        };
        let workers = config.ntp.worker_count();
        let udp = match UdpService::start(&config.ntp.listen, workers, shared.clone()) {
            Ok(udp) => udp,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                clock_task.shutdown();
                return Err(e);
            }
        };
        for addr in &udp.local_addrs {
            // Tests read this line to learn ephemeral ports: keep its shape.
            tracing::info!("serving NTP on udp://{addr} ({workers} workers)");
        }
        let xdp = match start_xdp(config.ntp.xdp_interface.as_deref(), &udp.local_addrs, shared) {
            Ok(xdp) => xdp,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                udp.join();
                clock_task.shutdown();
                return Err(e);
            }
        };
        let announced = clock.get();
        tracing::info!(
            "clock: {}; announcing stratum {} refid {}, precision 2^{}",
            match config.clock.mode {
                ClockMode::ObserveOnly => "observe-only (the host clock is never adjusted)",
                ClockMode::Simulated =>
                    "simulated (a simulated clock is steered; the host clock is only read)",
                ClockMode::Kernel => "kernel (the host clock is steered)",
            },
            announced.stratum,
            String::from_utf8_lossy(&announced.reference_id.0).trim_end_matches('\0'),
            announced.precision
        );
        let clock_link = ClockLink {
            samples: clock_task.sample_sink(),
            steps: clock_task.steps(),
            simulated: clock_task.simulated_clock(),
            network: clock_task.network_time(),
        };
        let gnss = match GnssTask::start(&config.refclock, clock_link) {
            Ok(gnss) => gnss,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                udp.join();
                if let Some(xdp) = xdp {
                    xdp.join();
                }
                clock_task.shutdown();
                return Err(e);
            }
        };
        let nts = match prepared_nts.map(|p| p.start(&config.nts, &udp.local_addrs)).transpose() {
            Ok(nts) => nts,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                if let Some(gnss) = gnss {
                    gnss.shutdown();
                }
                udp.join();
                if let Some(xdp) = xdp {
                    xdp.join();
                }
                clock_task.shutdown();
                return Err(e);
            }
        };
        if let Some(nts) = &nts {
            announce_nts(nts, &udp.local_addrs, config.nts.require);
        }
        let pollers = config.source.iter().enumerate().map(|(i, s)| s.poller(i)).collect();
        let sources = match Pollers::start(pollers, clock_task.clock_reader(), clock_task.source_sink()) {
            Ok(p) => p,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                if let Some(nts) = nts {
                    nts.shutdown();
                }
                if let Some(gnss) = gnss {
                    gnss.shutdown();
                }
                udp.join();
                if let Some(xdp) = xdp {
                    xdp.join();
                }
                clock_task.shutdown();
                return Err(e);
            }
        };
        for s in &config.source {
            tracing::info!(
                "source {} ({}, {})",
                s.address,
                s.mode.name(),
                if s.trusted() {
                    "trusted for integrity"
                } else {
                    "shown only: set trust = true to count it"
                }
            );
        }
        let status_sources = StatusSources {
            integrity: clock_task.integrity(),
            started: std::time::Instant::now(),
            served: clock.clone(),
            clock: clock_task.status(),
            history: clock_task.history(),
            gnss: gnss.as_ref().map(GnssTask::status),
            ntp: counters.clone(),
            nts: nts.as_ref().map(|n| NtsSources {
                counters: n.counters.clone(),
                identity: n.identity.clone(),
                keys: n.keys.clone(),
            }),
            steps: clock_task.steps(),
            rates: Default::default(),
        };
        let mut daemon = Daemon { udp, xdp, clock_task, stop, counters, gnss, nts, sources, web: None };
        if config.web.enabled {
            let source: stratum1_web::server::SnapshotSource = Arc::new(move || status_sources.snapshot());
            let idle = Duration::from_secs(config.web.idle_timeout_s);
            let ca_pem = daemon
                .nts
                .as_ref()
                .and_then(|n| n.ca_certificate.as_ref())
                .and_then(|path| std::fs::read_to_string(path).ok());
            let listeners: std::io::Result<Vec<_>> =
                config.web.listen.iter().map(|a| crate::net::bind_tcp(*a, "the status page")).collect();
            match listeners
                .and_then(|l| WebServer::start(l, config.web.max_connections, idle, source, ca_pem))
            {
                Ok(web) => {
                    for addr in &web.local_addrs {
                        // Tests read this line to learn ephemeral ports: keep its shape.
                        tracing::info!("serving the status page on http://{addr}/");
                    }
                    daemon.web = Some(web);
                }
                Err(e) => {
                    daemon.shutdown();
                    return Err(e);
                }
            }
        }
        Ok(daemon)
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.udp.local_addrs
    }

    pub fn counters(&self) -> CountsSnapshot {
        self.counters.snapshot()
    }

    pub fn nts_ke_addrs(&self) -> &[SocketAddr] {
        self.nts.as_ref().map_or(&[], |n| n.local_addrs())
    }

    pub fn nts_ke_counters(&self) -> Option<KeCountsSnapshot> {
        self.nts.as_ref().map(|n| n.counters.snapshot())
    }

    /// Stops every task and waits for them; returns the final counters.
    pub fn shutdown(self) -> CountsSnapshot {
        if let Some(web) = self.web {
            web.shutdown();
        }
        self.stop.store(true, Ordering::Relaxed);
        self.sources.shutdown();
        if let Some(gnss) = self.gnss {
            gnss.shutdown();
        }
        if let Some(nts) = self.nts {
            let c = nts.counters.snapshot();
            tracing::info!(
                "nts-ke counters: accepted={} refused={} no_common_algorithm={} handshake_failed={} timed_out={} over_capacity={}",
                c.accepted,
                c.refused,
                c.no_common_algorithm,
                c.handshake_failed,
                c.timed_out,
                c.over_capacity
            );
            nts.shutdown();
        }
        self.udp.join();
        if let Some(xdp) = self.xdp {
            xdp.join();
        }
        self.clock_task.shutdown();
        self.counters.snapshot()
    }
}

/// Starts the AF_XDP fast path for the port of the first listen address, when configured.
fn start_xdp(
    interface: Option<&str>,
    udp_addrs: &[SocketAddr],
    shared: Shared,
) -> io::Result<Option<XdpService>> {
    let (Some(interface), Some(first)) = (interface, udp_addrs.first()) else { return Ok(None) };
    let xdp = XdpService::start(interface, first.port(), shared)?;
    // Tests read this line: keep its shape.
    tracing::info!("serving NTP on {interface} port {} through AF_XDP ({} queues)", first.port(), xdp.queues);
    Ok(Some(xdp))
}

/// The NTS-KE addresses (tests read this line to learn ephemeral ports: keep its shape) and,
/// with a throwaway CA, the client configuration that trusts it.
fn announce_nts(nts: &NtsService, ntp_addrs: &[SocketAddr], require: bool) {
    for addr in nts.local_addrs() {
        tracing::info!("serving NTS-KE on tcp://{addr}{}", if require { " (plain NTP refused)" } else { "" });
    }
    if let (Some(ca), Some(ke), Some(ntp)) = (&nts.throwaway_ca, nts.local_addrs().first(), ntp_addrs.first())
    {
        tracing::info!(
            "throwaway CA for the demo: a chrony client trusts it with\n    server localhost port {} iburst nts ntsport {}\n    ntstrustedcerts {}",
            ntp.port(),
            ke.port(),
            ca.ca_certificate.display()
        );
    }
}
