//! Wiring: configuration in, running services out. `main.rs` only adds arguments, logging and
//! signals around [`Daemon`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::task::ClockTask;
use crate::config::ClockMode;
use crate::config::Config;
use crate::events::EventWatcher;
use crate::gnss::{ClockLink, GnssTask};
use crate::host_clock;
use crate::ntp::udp::{Shared, UdpService};
use crate::ntp::xdp::XdpService;
use crate::nts::ke_server::KeCountsSnapshot;
use crate::nts::service::{self as nts_service, NtsService};
use crate::sources::poller::{CertificateTime, PollerConfig, Pollers};
use crate::state::SharedServedClock;
use crate::status::{NtsSources, StatusSources};
use stratum1_core::integrity::Witness;
use stratum1_core::ntp::RateLimiter;
use stratum1_core::ntp::{CountsSnapshot, ServerCounters};
use stratum1_core::ntp::{RatePolicy, Server};
use stratum1_core::served::{observe_only_state, precision_from_step};
use stratum1_web::server::WebServer;

/// The running services. Every one is optional so that a daemon that failed half-way through
/// [`Daemon::start`] is unwound by dropping it: whatever started is stopped, in order.
pub struct Daemon {
    /// Held while running: one daemon per state directory.
    _instance: Option<crate::instance_lock::InstanceLock>,
    stop: Arc<AtomicBool>,
    counters: Arc<ServerCounters>,
    clock_task: Option<ClockTask>,
    udp: Option<UdpService>,
    xdp: Option<XdpService>,
    gnss: Option<GnssTask>,
    nts: Option<NtsService>,
    sources: Option<Pollers>,
    events: Option<EventWatcher>,
    web: Option<WebServer>,
}

impl Daemon {
    pub fn start(config: &Config) -> io::Result<Daemon> {
        let instance = match config.clock.state_file.as_ref().and_then(|f| f.parent()) {
            Some(dir) if !dir.as_os_str().is_empty() && dir.is_dir() => {
                Some(crate::instance_lock::InstanceLock::acquire(dir)?)
            }
            _ => None,
        };
        let precision = precision_from_step(host_clock::measure_reading_step());
        let clock = Arc::new(SharedServedClock::new(observe_only_state(
            config.clock.local_stratum,
            precision,
            host_clock::now(),
        )));
        // Certificates and keys are checked before anything starts, so a bad file is a clean
        // error at start.
        let prepared_nts = if config.nts.enabled { Some(nts_service::prepare(&config.nts)?) } else { None };
        let witness =
            Witness::new(config.source.iter().map(|s| s.info()).collect(), config.integrity.guard());
        let clock_task =
            ClockTask::start(&config.clock, &config.refclock, clock.clone(), precision, witness)?;
        let clock_link = ClockLink {
            samples: clock_task.sample_sink(),
            steps: clock_task.steps(),
            simulated: clock_task.simulated_clock(),
            network: clock_task.network_time(),
        };
        let (clock_reader, source_sink) = (clock_task.clock_reader(), clock_task.source_sink());
        let certificate_time = CertificateTime {
            floor_unix_s: clock_task.saved_unix_s(),
            skip_until_synchronised: config.source_defaults.skip_certificate_time_check,
            synchronised: clock_task.synchronised(),
        };
        let mut status_sources = StatusSources {
            integrity: clock_task.integrity(),
            started: std::time::Instant::now(),
            served: clock.clone(),
            clock: clock_task.status(),
            history: clock_task.history(),
            gnss: None,
            ntp: Arc::default(),
            nts: None,
            steps: clock_task.steps(),
            rates: Default::default(),
            sample_rate: Default::default(),
            events: Default::default(),
        };
        let mut daemon = Daemon {
            _instance: instance,
            stop: Arc::new(AtomicBool::new(false)),
            counters: status_sources.ntp.clone(),
            clock_task: Some(clock_task),
            udp: None,
            xdp: None,
            gnss: None,
            nts: None,
            sources: None,
            events: None,
            web: None,
        };

        let shared = Shared {
            server: Arc::new(ntp_server(config, prepared_nts.as_ref())),
            clock: clock.clone(),
            counters: daemon.counters.clone(),
            stop: daemon.stop.clone(),
            coalesce: Duration::from_micros(config.ntp.coalesce_us),
        };
        let workers = config.ntp.worker_count();
        let udp = daemon.udp.insert(UdpService::start(&config.ntp.listen, workers, shared.clone())?);
        for addr in &udp.local_addrs {
            // Tests read this line to learn ephemeral ports: keep its shape.
            tracing::info!("serving NTP on udp://{addr} ({workers} workers)");
        }
        let ntp_addrs = udp.local_addrs.clone();
        daemon.xdp = start_xdp(config.ntp.xdp_interface.as_deref(), &ntp_addrs, shared)?;
        announce_clock(config.clock.mode, &clock);
        daemon.gnss = GnssTask::start(&config.refclock, clock_link)?;
        status_sources.gnss = daemon.gnss.as_ref().map(GnssTask::status);
        daemon.nts = prepared_nts.map(|p| p.start(&config.nts, &ntp_addrs)).transpose()?;
        if let Some(nts) = &daemon.nts {
            announce_nts(nts, &ntp_addrs, config.nts.require);
            status_sources.nts = Some(NtsSources {
                counters: nts.counters.clone(),
                identity: nts.identity.clone(),
                keys: nts.keys.clone(),
            });
        }
        let pollers = config
            .source
            .iter()
            .enumerate()
            .map(|(i, s)| PollerConfig::new(i, s, &config.source_defaults))
            .collect();
        daemon.sources = Some(Pollers::start(pollers, clock_reader, source_sink, certificate_time)?);
        announce_sources(config);
        let status_sources = Arc::new(status_sources);
        daemon.events = Some(EventWatcher::start(status_sources.clone())?);
        if config.web.enabled {
            let ca_pem = daemon.nts.as_ref().and_then(|n| n.ca_certificate.as_ref());
            daemon.web = Some(start_web(config, status_sources, ca_pem)?);
        }
        Ok(daemon)
    }

    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.udp.as_ref().map_or(&[], |u| &u.local_addrs)
    }

    /// The clock task's ticks (one a second): the sign of life systemd's watchdog is given.
    pub fn heartbeat(&self) -> Option<Arc<std::sync::atomic::AtomicU64>> {
        self.clock_task.as_ref().map(|c| c.ticks())
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
    pub fn shutdown(mut self) -> CountsSnapshot {
        self.stop_all();
        self.counters.snapshot()
    }

    /// Stops whatever is running, users of the clock first and the clock task last.
    fn stop_all(&mut self) {
        if let Some(web) = self.web.take() {
            web.shutdown();
        }
        if let Some(events) = self.events.take() {
            events.shutdown();
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sources) = self.sources.take() {
            sources.shutdown();
        }
        if let Some(gnss) = self.gnss.take() {
            gnss.shutdown();
        }
        if let Some(nts) = self.nts.take() {
            let c = nts.counters.snapshot();
            tracing::info!(
                "nts-ke counters: accepted={} refused={} no_common_algorithm={} handshake_failed={} timed_out={} over_capacity={} evicted={}",
                c.accepted,
                c.refused,
                c.no_common_algorithm,
                c.handshake_failed,
                c.timed_out,
                c.over_capacity,
                c.evicted
            );
            nts.shutdown();
        }
        if let Some(udp) = self.udp.take() {
            udp.join();
        }
        if let Some(xdp) = self.xdp.take() {
            xdp.join();
        }
        if let Some(clock_task) = self.clock_task.take() {
            clock_task.shutdown();
        }
    }
}

impl Drop for Daemon {
    /// A daemon that failed to start, or one dropped without [`Daemon::shutdown`], stops cleanly.
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// The NTP server's decision as configured: access list, rate limits, NTS.
fn ntp_server(config: &Config, nts: Option<&nts_service::PreparedNts>) -> Server {
    let rate_config = &config.ntp.rate_limit;
    let rate = rate_config
        .enabled
        .then(|| RatePolicy::new(RateLimiter::new(rate_config.settings()), rate_config.kiss_of_death_one_in));
    Server { access: config.ntp.access_list(), rate, nts: nts.map(|p| p.policy(config.nts.require)) }
}

/// The status page, `/api/status` and `/metrics` on the configured listeners.
fn start_web(
    config: &Config,
    status_sources: Arc<StatusSources>,
    ca_certificate: Option<&std::path::PathBuf>,
) -> io::Result<WebServer> {
    let source: stratum1_web::server::SnapshotSource = Arc::new(move || status_sources.snapshot());
    let idle = Duration::from_secs(config.web.idle_timeout_s);
    let ca_pem = ca_certificate.and_then(|path| std::fs::read_to_string(path).ok());
    let listeners = config
        .web
        .listen
        .iter()
        .map(|a| crate::net::bind_tcp(*a, "the status page"))
        .collect::<io::Result<Vec<_>>>()?;
    let web = WebServer::start(listeners, config.web.max_connections, idle, source, ca_pem)?;
    for addr in &web.local_addrs {
        // Tests read this line to learn ephemeral ports: keep its shape.
        tracing::info!("serving the status page on http://{addr}/");
    }
    Ok(web)
}

/// What the clock does with the host clock and what the server announces at start.
fn announce_clock(mode: ClockMode, clock: &SharedServedClock) {
    let announced = clock.get();
    tracing::info!(
        "clock: {}; announcing stratum {} refid {}, precision 2^{}",
        match mode {
            ClockMode::ObserveOnly => "observe-only (the host clock is never adjusted)",
            ClockMode::Simulated => "simulated (a simulated clock is steered; the host clock is only read)",
            ClockMode::Kernel => "kernel (the host clock is steered)",
        },
        announced.stratum,
        String::from_utf8_lossy(&announced.reference_id.0).trim_end_matches('\0'),
        announced.precision
    );
}

/// Each upstream source and whether it counts for the integrity guard.
fn announce_sources(config: &Config) {
    for s in &config.source {
        let trust =
            if s.trusted() { "trusted for integrity" } else { "shown only: set trust = true to count it" };
        tracing::info!("source {} ({}, {trust})", s.address, s.mode.name());
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
