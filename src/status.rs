//! The status snapshot for the page, the JSON API, the metrics and `stratum1ctl`: gathered from
//! the tasks' shared state into the web crate's plain data types.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use refclock_core::nmea::DateRefusal;
use refclock_core::nmea::FixMode;
use refclock_core::receiver::ReceiverStatus;
use sha2::{Digest, Sha256};
use stratum1_web::snapshot::{
    CertificateView, ClockView, GnssView, HistoryPoint, IntegrityView, NtpView, NtsView, OverallState,
    PositionView, ProcessView, ServerView, SignalView, SourceView, StatusSnapshot,
};

use crate::clock::task::{ClockStatus, SharedClockStatus, SharedIntegrity};
use crate::config::ClockMode;
use crate::gnss::SharedReceiverStatus;
use crate::nts::certificates::ReloadingIdentity;
use crate::nts::ke_server::KeCounters;
use crate::state::SharedServedClock;
use stratum1_core::clock::LockState;
use stratum1_core::clock::SharedClockHistory;
use stratum1_core::integrity::IntegrityReport;
use stratum1_core::ntp::DropReason;
use stratum1_core::ntp::{CountsSnapshot, ServerCounters};
use stratum1_core::nts::SharedKeys;
use stratum1_core::packet::LeapIndicator;
use stratum1_core::served::ServedClock;
use stratum1_core::sources::SourceMode;
use stratum1_core::time::NtpTimestamp;

/// Where each part of the status lives.
pub struct StatusSources {
    pub integrity: SharedIntegrity,
    pub started: Instant,
    pub served: Arc<SharedServedClock>,
    pub clock: SharedClockStatus,
    pub history: SharedClockHistory,
    pub gnss: Option<SharedReceiverStatus>,
    pub ntp: Arc<ServerCounters>,
    pub nts: Option<NtsSources>,
    pub steps: Arc<std::sync::atomic::AtomicU64>,
    /// Earlier looks at the counters, for rates.
    pub rates: std::sync::Mutex<RateWindow>,
    /// Earlier looks at the samples the clock used, for its update interval.
    pub sample_rate: std::sync::Mutex<RateWindow>,
    /// What [`crate::events::EventWatcher`] noticed.
    pub events: crate::state::SharedEventLog,
}

/// Counter readings at most a minute old, one per second at most, oldest first.
#[derive(Debug, Default)]
pub struct RateWindow(std::collections::VecDeque<(Instant, u64, u64)>);

impl RateWindow {
    const SPAN_S: f64 = 60.0;

    /// Adds a reading and returns (requests/s, NTS answers/s) since the oldest one kept.
    pub fn observe(&mut self, at: Instant, requests: u64, nts_answers: u64) -> (Option<f64>, Option<f64>) {
        while self.0.front().is_some_and(|(t, _, _)| at.duration_since(*t).as_secs_f64() > Self::SPAN_S) {
            self.0.pop_front();
        }
        // One reading a second at most, so a fast poller does not crowd out the older ones.
        let due = match self.0.back() {
            None => true,
            Some((t, _, _)) => at.duration_since(*t).as_secs_f64() >= 1.0,
        };
        if due {
            self.0.push_back((at, requests, nts_answers));
        }
        match self.0.front() {
            Some((t, r, n)) if at.duration_since(*t).as_secs_f64() >= 1.0 => {
                let dt = at.duration_since(*t).as_secs_f64();
                (
                    Some(requests.saturating_sub(*r) as f64 / dt),
                    Some(nts_answers.saturating_sub(*n) as f64 / dt),
                )
            }
            _ => (None, None),
        }
    }
}

pub struct NtsSources {
    pub counters: Arc<KeCounters>,
    pub identity: Arc<ReloadingIdentity>,
    pub keys: SharedKeys,
}

impl StatusSources {
    pub fn snapshot(&self) -> StatusSnapshot {
        let now_ns = crate::host_clock::unix_nanos();
        let served = self.served.get();
        let clock = self.clock.read().ok().and_then(|c| c.clone());
        let gnss = self.gnss.as_ref().and_then(|g| g.read().ok().and_then(|s| s.clone()));
        let history = self.history.read().map(|h| history_points(&h)).unwrap_or_default();
        let integrity = self.integrity.read().ok().and_then(|i| i.clone());
        let mut snapshot = StatusSnapshot {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.started.elapsed().as_secs(),
            generated_unix_ms: now_ns / 1_000_000,
            state: overall_state(clock.as_ref(), &served, self.gnss.is_some(), gnss.as_ref()),
            server: server_view(&served),
            clock: ClockView {
                update_interval_s: self.update_interval_s(clock.as_ref()),
                ..clock_view(clock.as_ref(), now_ns, self.steps.load(Ordering::Relaxed))
            },
            gnss: self.gnss.as_ref().map(|_| gnss_view(gnss.as_ref(), now_ns)),
            ntp: self.ntp_view(),
            nts: self.nts.as_ref().map(nts_view),
            history,
            process: process_view(),
            sources: integrity.as_ref().map(source_views).unwrap_or_default(),
            integrity: integrity.as_ref().map(integrity_view).unwrap_or_default(),
            state_reason: None,
            events: self.events.lock().map(|log| log.to_vec()).unwrap_or_default(),
        };
        snapshot.state_reason = stratum1_web::reason::state_reason(&snapshot);
        snapshot
    }
}

fn source_views(report: &IntegrityReport) -> Vec<SourceView> {
    report
        .sources
        .iter()
        .map(|s| SourceView {
            address: s.info.address.clone(),
            mode: s.info.mode.name().to_owned(),
            reachable: s.reachable,
            reach: s.reach,
            stratum: s.estimate.map(|e| e.stratum),
            offset_ns: s.estimate.map(|e| e.offset_ns),
            delay_ns: s.estimate.map(|e| e.delay_ns),
            root_distance_ns: s.estimate.map(|e| e.root_distance_ns),
            authenticated: s.info.mode == SourceMode::Nts && s.answers > 0,
            trusted: s.info.trusted,
            selected: s.selected,
            polls: s.polls,
            answers: s.answers,
            bad_answers: s.bad.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            last_error: s.last_error.clone(),
            key_exchanges: s.key_exchanges,
            sessions_restored: s.sessions_restored,
        })
        .collect()
}

fn integrity_view(report: &IntegrityReport) -> IntegrityView {
    IntegrityView {
        state: report.state.name().to_owned(),
        disagreement_ns: report.last.map(|c| c.disagreement_ns),
        allowance_ns: report.last.map(|c| c.allowance_ns),
        asymmetry_allowance_ns: report.asymmetry_allowance_ns,
        network_offset_ns: report.network.map(|n| n.offset_ns),
        network_bound_ns: report.network.map(|n| n.bound_ns),
        sources_selected: report.network.map_or(0, |n| n.survivors),
        samples_unfollowed: report.samples_unfollowed,
    }
}

fn overall_state(
    clock: Option<&ClockStatus>,
    served: &ServedClock,
    has_receiver: bool,
    gnss: Option<&ReceiverStatus>,
) -> OverallState {
    let lock = clock.map(|c| c.estimate.state);
    match lock {
        Some(LockState::Locked) if served.is_synchronised() => OverallState::Locked,
        Some(LockState::Holdover) if served.is_synchronised() => OverallState::Holdover,
        _ if served.is_synchronised()
            && served.stratum > 1
            && served.reference_id != stratum1_core::served::LOCAL_REFERENCE_ID =>
        {
            OverallState::Network
        }
        _ if has_receiver && !gnss.and_then(|g| g.last_epoch.as_ref()).is_some_and(|e| e.valid) => {
            OverallState::NoFix
        }
        _ => OverallState::Unsynchronised,
    }
}

/// An ASCII name at stratum 1 and for a declared local stratum; an upstream's address above.
fn reference_id_text(served: &ServedClock) -> String {
    let id = served.reference_id;
    if served.stratum > 1 && served.stratum < 16 && id != stratum1_core::served::LOCAL_REFERENCE_ID {
        return std::net::Ipv4Addr::from(id.0).to_string();
    }
    String::from_utf8_lossy(&id.0).trim_end_matches('\0').to_owned()
}

fn server_view(served: &ServedClock) -> ServerView {
    ServerView {
        stratum: served.stratum,
        reference_id: reference_id_text(served),
        leap: match served.leap {
            LeapIndicator::NoWarning => "none",
            LeapIndicator::InsertSecond => "insert",
            LeapIndicator::DeleteSecond => "delete",
            LeapIndicator::Unsynchronised => "unsynchronised",
        }
        .to_owned(),
        precision_log2: served.precision,
        root_dispersion_us: served.root_dispersion.to_nanos() as f64 / 1e3,
        root_delay_us: served.root_delay.to_nanos() as f64 / 1e3,
        reference_time_unix_ms: (served.reference_time != NtpTimestamp::ZERO).then(|| {
            let (secs, nanos) = served.reference_time.to_unix_near(unix_now_s());
            secs * 1000 + i64::from(nanos / 1_000_000)
        }),
    }
}

fn unix_now_s() -> i64 {
    crate::host_clock::unix_seconds()
}

fn clock_view(clock: Option<&ClockStatus>, now_ns: i64, steps: u64) -> ClockView {
    let Some(c) = clock else {
        return ClockView {
            mode: "starting".into(),
            lock_state: "starting".into(),
            offset_ns: None,
            frequency_ppb: 0.0,
            skew_ppb: None,
            jitter_ns: 0.0,
            error_bound_ns: None,
            last_sample_age_s: None,
            steps,
            samples_used: 0,
            samples_rejected: 0,
            leap_list: "not read yet".into(),
            simulated_true_error_ns: None,
            update_interval_s: None,
        };
    };
    let e = &c.estimate;
    ClockView {
        mode: match c.mode {
            ClockMode::ObserveOnly => "observe-only",
            ClockMode::Simulated => "simulated",
            ClockMode::Kernel => "kernel",
        }
        .to_owned(),
        lock_state: match e.state {
            LockState::Acquiring => "acquiring",
            LockState::Locked => "locked",
            LockState::Holdover => "holdover",
            LockState::Unsynchronised => "unsynchronised",
        }
        .to_owned(),
        // No measurement yet: the estimate's offset is a placeholder, its spread infinite.
        offset_ns: e.offset_sd_ns.is_finite().then_some(e.offset_ns),
        frequency_ppb: e.frequency_ppb,
        skew_ppb: e.skew_ppb.is_finite().then_some(e.skew_ppb),
        jitter_ns: e.jitter_ns,
        error_bound_ns: e.error_bound_ns.is_finite().then_some(e.error_bound_ns),
        last_sample_age_s: e.last_sample_at.map(|at| (now_ns - at) as f64 / 1e9),
        steps: c.counts.steps.max(steps),
        samples_used: c.counts.accepted,
        samples_rejected: c.counts.outliers,
        leap_list: c.leap.to_string(),
        simulated_true_error_ns: c.simulated_true_error_ns,
        update_interval_s: None,
    }
}

fn gnss_view(status: Option<&ReceiverStatus>, now_ns: i64) -> GnssView {
    let Some(s) = status else {
        return GnssView {
            serial: "starting".into(),
            pps: None,
            pps_last_edge_age_s: None,
            fix_mode: "none".into(),
            fix_valid: false,
            time: None,
            satellites_used: None,
            satellites_in_view: 0,
            signals: Vec::new(),
            hdop: None,
            position: None,
            locked: false,
            pairing_warning: None,
            nmea_delay_ms: 0,
            labels_refused: 0,
            labels_refused_by_network: 0,
            second_changes_refused: 0,
            antenna: None,
            date_refused: None,
            date_corrected_from: None,
        };
    };
    let epoch = s.last_epoch.as_ref();
    GnssView {
        serial: s.serial.to_string(),
        pps: s.pps.as_ref().map(ToString::to_string),
        pps_last_edge_age_s: s.last_sample.as_ref().map(|sample| {
            let (secs, nanos) = sample.edge_local;
            (now_ns as f64 - (secs as f64 * 1e9 + f64::from(nanos))) / 1e9
        }),
        fix_mode: match epoch.map(|e| e.mode) {
            Some(FixMode::ThreeD) => "3D",
            Some(FixMode::TwoD) => "2D",
            _ => "none",
        }
        .to_owned(),
        fix_valid: epoch.is_some_and(|e| e.valid),
        time: epoch.and_then(|e| e.rfc3339()),
        satellites_used: epoch.and_then(|e| e.satellites_used),
        satellites_in_view: epoch.map_or(0, |e| e.signals.len() as u32),
        signals: epoch
            .map(|e| {
                e.signals
                    .iter()
                    .map(|sig| SignalView {
                        system: sig.constellation.name().to_owned(),
                        prn: sig.prn,
                        snr_db: sig.snr.map(|v| v.max(0.0).round() as u32),
                        elevation_deg: sig.elevation,
                        azimuth_deg: sig.azimuth,
                        used: sig.used,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        hdop: epoch.and_then(|e| e.hdop),
        position: epoch.and_then(|e| e.position).map(|p| PositionView {
            latitude_deg: p.latitude,
            longitude_deg: p.longitude,
            altitude_m: p.altitude.map(f64::from),
        }),
        locked: s.locked,
        pairing_warning: s.label_timing.as_ref().map(crate::gnss::describe_label_timing),
        nmea_delay_ms: s.nmea_delay_ms,
        labels_refused: s.pairing.refused_jumps,
        labels_refused_by_network: s.pairing.refused_by_network,
        second_changes_refused: s.pairing.unadopted_changes,
        antenna: epoch.and_then(|e| e.antenna).map(|a| a.name().to_owned()),
        date_refused: epoch.and_then(|e| e.date_refusal).map(|refusal| match refusal {
            DateRefusal::TooEarly { .. } => format!(
                "{refusal}; for a receiver known to have the rollover bug, set \
                 refclock.week-rollover = \"correct\""
            ),
            DateRefusal::TooLate { .. } => refusal.to_string(),
        }),
        date_corrected_from: epoch.and_then(|e| e.date_corrected_from).map(|d| d.to_string()),
    }
}

impl StatusSources {
    /// Seconds between the reference samples the clock used over the last minute.
    fn update_interval_s(&self, clock: Option<&ClockStatus>) -> Option<f64> {
        let used = clock?.counts.accepted;
        let (per_s, _) = self.sample_rate.lock().ok()?.observe(Instant::now(), used, 0);
        per_s.filter(|r| *r > 0.0).map(|r| 1.0 / r)
    }

    fn ntp_view(&self) -> NtpView {
        let c = self.ntp.snapshot();
        let (requests_per_s, nts_answers_per_s) = self
            .rates
            .lock()
            .map(|mut w| w.observe(Instant::now(), c.received, c.nts_answered))
            .unwrap_or((None, None));
        NtpView { requests_per_s, nts_answers_per_s, ..ntp_counts(&c) }
    }
}

fn ntp_counts(c: &CountsSnapshot) -> NtpView {
    NtpView {
        received: c.received,
        received_af_xdp: c.received_af_xdp,
        answered: c.answered,
        nts_answered: c.nts_answered,
        kiss_of_death_rate: c.kiss_of_death_rate,
        kiss_of_death_ntsn: c.kiss_of_death_ntsn,
        dropped: DropReason::ALL.iter().map(|r| (r.name().to_owned(), c.dropped_for(*r))).collect(),
        by_version: c.by_version,
        requests_per_s: None,
        nts_answers_per_s: None,
    }
}

fn nts_view(nts: &NtsSources) -> NtsView {
    let c = nts.counters.snapshot();
    let keys = nts.keys.read().unwrap_or_else(|p| p.into_inner());
    let identity = nts.identity.current();
    let chain = &identity.cert;
    NtsView {
        ke_accepted: c.accepted,
        ke_refused: c.refused,
        ke_no_common_algorithm: c.no_common_algorithm,
        ke_handshake_failed: c.handshake_failed,
        ke_timed_out: c.timed_out,
        ke_over_capacity: c.over_capacity,
        ke_evicted: c.evicted,
        certificate: chain.first().and_then(|der| certificate_view(der)),
        issuer_certificate: chain.get(1).and_then(|der| certificate_view(der)),
        current_key_id: keys.current().id,
        key_rotation_s: keys.interval_s(),
        keys_kept: keys.keep(),
    }
}

/// The capability bits worth naming (linux/capability.h).
const CAPABILITY_NAMES: [(u32, &str); 14] = [
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (10, "CAP_NET_BIND_SERVICE"),
    (12, "CAP_NET_ADMIN"),
    (13, "CAP_NET_RAW"),
    (21, "CAP_SYS_ADMIN"),
    (23, "CAP_SYS_NICE"),
    (24, "CAP_SYS_RESOURCE"),
    (25, "CAP_SYS_TIME"),
    (33, "CAP_SYS_MODULE"),
    (38, "CAP_PERFMON"),
];

/// The daemon's user and effective capabilities, from /proc/self/status.
fn process_view() -> ProcessView {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("");
    let uid: u32 = field("Uid:").split_whitespace().nth(1).and_then(|u| u.parse().ok()).unwrap_or(u32::MAX);
    let bits = u64::from_str_radix(field("CapEff:"), 16).unwrap_or(0);
    ProcessView {
        user: user_name(uid).unwrap_or_else(|| uid.to_string()),
        uid,
        capabilities: capability_names(bits),
    }
}

fn capability_names(bits: u64) -> Vec<String> {
    let mut names: Vec<String> = CAPABILITY_NAMES
        .iter()
        .filter(|(bit, _)| bits & (1 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let named = CAPABILITY_NAMES.iter().fold(0u64, |acc, (bit, _)| acc | (1 << bit));
    let others = (bits & !named).count_ones();
    if others > 0 {
        names.push(format!("{others} more"));
    }
    names
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
    })
}

/// Subject, issuer, expiry and SHA-256 fingerprint of a DER certificate: nothing secret.
pub fn certificate_view(der: &[u8]) -> Option<CertificateView> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let fingerprint: Vec<String> = Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect();
    Some(CertificateView {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after_unix: cert.validity().not_after.timestamp(),
        sha256_fingerprint: fingerprint.join(":"),
    })
}

fn history_points(history: &stratum1_core::clock::ClockHistory) -> Vec<HistoryPoint> {
    // The day series (per minute) up to where the recent one (per second) begins.
    let recent_start = history.recent.front().map_or(i64::MAX, |p| p.unix_s);
    history
        .day
        .iter()
        .filter(|p| p.unix_s < recent_start)
        .chain(history.recent.iter())
        .map(|p| HistoryPoint {
            unix_s: p.unix_s,
            offset_ns: p.offset_ns,
            frequency_ppb: p.frequency_ppb,
            error_bound_ns: p.error_bound_ns.is_finite().then_some(p.error_bound_ns),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status view of a receiver that sent one RMC of 2007-04-07 (2026-11-21 minus an era).
    fn view_after_a_rollover_rmc(rollover: refclock_core::nmea::WeekRollover) -> GnssView {
        use refclock_core::nmea::DateWindow;
        use refclock_core::pairing::PairingConfig;
        let window = DateWindow::default().with_rollover(rollover);
        let mut receiver = refclock_core::receiver::Receiver::new(window, PairingConfig::default(), true);
        let mut samples = Vec::new();
        for second in ["120001", "120002"] {
            let body = format!("GPRMC,{second}.00,A,4404.1306,N,12118.8515,W,0.0,0.0,070407,,,A");
            let sum = body.bytes().fold(0u8, |a, b| a ^ b);
            receiver.on_bytes(format!("${body}*{sum:02X}\r\n").as_bytes(), 0, &mut samples);
        }
        gnss_view(Some(receiver.status()), 0)
    }

    #[test]
    fn a_refused_receiver_date_says_why_and_what_to_set() {
        let view = view_after_a_rollover_rmc(refclock_core::nmea::WeekRollover::Refuse);
        let refused = view.date_refused.unwrap();
        assert!(refused.contains("2007-04-07 is before 2026-11-01"), "{refused}");
        assert!(refused.contains("refclock.week-rollover = \"correct\""), "{refused}");
        assert_eq!(view.date_corrected_from, None);
        let view = view_after_a_rollover_rmc(refclock_core::nmea::WeekRollover::Correct);
        assert_eq!(view.date_refused, None);
        assert_eq!(view.date_corrected_from.as_deref(), Some("2007-04-07"));
        assert_eq!(view.time.as_deref(), Some("2026-11-21T12:00:01.000Z"));
    }

    #[test]
    fn capabilities_are_named_and_the_rest_counted() {
        assert_eq!(capability_names((1 << 25) | (1 << 10)), vec!["CAP_NET_BIND_SERVICE", "CAP_SYS_TIME"]);
        assert_eq!(
            capability_names((1 << 25) | (1 << 40)),
            vec!["CAP_SYS_TIME".to_owned(), "1 more".to_owned()]
        );
        assert!(capability_names(0).is_empty());
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn rates_come_from_readings_a_second_or_more_apart() {
        let mut w = RateWindow::default();
        let t0 = Instant::now();
        assert_eq!(w.observe(t0, 100, 10), (None, None));
        assert_eq!(w.observe(t0 + std::time::Duration::from_millis(500), 150, 10), (None, None));
        assert_eq!(w.observe(t0 + std::time::Duration::from_secs(2), 300, 20), (Some(100.0), Some(5.0)));
        // Readings older than a minute are forgotten.
        let late = t0 + std::time::Duration::from_secs(70);
        assert_eq!(w.observe(late, 900, 20), (None, None));
        assert_eq!(w.observe(late + std::time::Duration::from_secs(4), 1300, 20), (Some(100.0), Some(0.0)));
    }

    #[test]
    fn certificate_view_reads_the_throwaway_leaf() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::nts::certificates::make_throwaway_ca(dir.path()).unwrap();
        let pem = std::fs::read(&ca.certificate).unwrap();
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::pem_slice_iter(&pem).next().unwrap().unwrap();
        let view = certificate_view(&der).unwrap();
        assert_eq!(view.subject, "CN=localhost");
        assert_eq!(view.issuer, "CN=stratum1 throwaway CA");
        assert_eq!(view.sha256_fingerprint.len(), 32 * 3 - 1);
        let now = crate::host_clock::unix_seconds();
        assert!((364..=366).contains(&view.days_left(now)), "{}", view.days_left(now));
    }
}
