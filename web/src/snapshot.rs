//! The status the daemon publishes: plain, serialisable data, one value for the page, the JSON
//! API (`/api/status`), the metrics and `stratum1ctl`. Units are in the field names.

use serde::{Deserialize, Serialize};

/// The one-word summary an operator reads first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OverallState {
    /// Serving stratum 1, disciplined by PPS (or NMEA) right now.
    Locked,
    /// Reference lost; serving on the clock's own prediction within the holdover limit.
    Holdover,
    /// The receiver has no usable fix (and the clock is not locked).
    NoFix,
    /// No usable receiver: serving the upstream sources' time, one stratum below them.
    Network,
    /// Not serving usable time: stratum 16, leap indicator 3.
    Unsynchronised,
}

impl OverallState {
    pub fn label(self) -> &'static str {
        match self {
            OverallState::Locked => "LOCKED",
            OverallState::Holdover => "HOLDOVER",
            OverallState::NoFix => "NO FIX",
            OverallState::Network => "NETWORK",
            OverallState::Unsynchronised => "UNSYNCHRONISED",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub version: String,
    pub uptime_s: u64,
    /// When this snapshot was taken (host clock).
    pub generated_unix_ms: i64,
    pub state: OverallState,
    pub server: ServerView,
    pub clock: ClockView,
    pub gnss: Option<GnssView>,
    pub ntp: NtpView,
    pub nts: Option<NtsView>,
    /// Per-minute offset and frequency, oldest first (up to a day).
    pub history: Vec<HistoryPoint>,
    pub process: ProcessView,
    /// Upstream servers (`[[source]]`), in configuration order.
    #[serde(default)]
    pub sources: Vec<SourceView>,
    #[serde(default)]
    pub integrity: IntegrityView,
    /// Why the state is what it is, in words; `None` when LOCKED (see `reason`).
    #[serde(default)]
    pub state_reason: Option<String>,
    /// The last transitions and warnings, oldest first (see `events`).
    #[serde(default)]
    pub events: Vec<EventView>,
}

/// One upstream server, as `chronyc sources` shows it. Offsets: our clock minus the source's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    pub address: String,
    /// `nts` or `server` (plain NTP).
    pub mode: String,
    /// Answered usefully within the last eight polls.
    pub reachable: bool,
    /// The reachability register, as chronyc's octal `Reach`.
    pub reach: u8,
    pub stratum: Option<u8>,
    pub offset_ns: Option<f64>,
    pub delay_ns: Option<f64>,
    pub root_distance_ns: Option<f64>,
    /// NTS: its answers are authenticated (plain NTP never is).
    pub authenticated: bool,
    /// Counts toward integrity and fallback (NTS by default, plain NTP with `trust = true`).
    pub trusted: bool,
    /// Survived falseticker rejection and is part of the network estimate.
    pub selected: bool,
    pub polls: u64,
    pub answers: u64,
    /// Answers not used, by reason (wrong_origin, kiss_of_death, bad_authentication, ...).
    pub bad_answers: Vec<(String, u64)>,
    pub last_error: Option<String>,
    /// NTS key exchanges run, and sessions taken up from the cookie directory instead.
    #[serde(default)]
    pub key_exchanges: u64,
    #[serde(default)]
    pub sessions_restored: u64,
}

/// Whether the receiver agrees with authenticated network time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrityView {
    /// `consistent`, `gnss-disagrees` or `unchecked`.
    pub state: String,
    /// Network time minus the receiver's time at the last comparison.
    pub disagreement_ns: Option<f64>,
    /// How far they may differ: both bounds plus the asymmetry allowance.
    pub allowance_ns: Option<f64>,
    pub asymmetry_allowance_ns: f64,
    /// Our clock minus network time, and its bound, from the selected sources.
    pub network_offset_ns: Option<f64>,
    pub network_bound_ns: Option<f64>,
    pub sources_selected: usize,
    /// Receiver samples kept from the discipline while it was distrusted.
    pub samples_unfollowed: u64,
}

impl Default for IntegrityView {
    fn default() -> Self {
        IntegrityView {
            state: "unchecked".into(),
            disagreement_ns: None,
            allowance_ns: None,
            asymmetry_allowance_ns: 0.0,
            network_offset_ns: None,
            network_bound_ns: None,
            sources_selected: 0,
            samples_unfollowed: 0,
        }
    }
}

/// Who the daemon runs as: an operator checks that it holds only what it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessView {
    pub user: String,
    pub uid: u32,
    /// Effective capabilities, by name (`CAP_SYS_TIME`, …).
    pub capabilities: Vec<String>,
}

/// What NTP clients are told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerView {
    pub stratum: u8,
    pub reference_id: String,
    /// `none`, `insert`, `delete` or `unsynchronised`.
    pub leap: String,
    pub precision_log2: i8,
    pub root_dispersion_us: f64,
    /// Round trip to the primary reference: zero at stratum 1, the upstream's above.
    #[serde(default)]
    pub root_delay_us: f64,
    /// When the clock was last set or corrected from its reference (`None`: never).
    #[serde(default)]
    pub reference_time_unix_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockView {
    /// `observe-only`, `simulated` or `kernel`.
    pub mode: String,
    /// `acquiring`, `locked`, `holdover` or `unsynchronised`.
    pub lock_state: String,
    /// `None` (JSON `null`) until a measurement exists: unknown, not zero.
    pub offset_ns: Option<f64>,
    pub frequency_ppb: f64,
    /// `None` while the frequency is not known at all.
    pub skew_ppb: Option<f64>,
    pub jitter_ns: f64,
    /// The error bound the server announces (root dispersion minus precision); `None` while
    /// unbounded (JSON has no infinity).
    pub error_bound_ns: Option<f64>,
    pub last_sample_age_s: Option<f64>,
    pub steps: u64,
    pub samples_used: u64,
    pub samples_rejected: u64,
    /// `known`, `expired` or `unavailable`, with the next leap if one is scheduled.
    pub leap_list: String,
    /// Simulated mode only: the simulated clock's real error, to judge the estimate by.
    pub simulated_true_error_ns: Option<f64>,
    /// Seconds between the reference samples used over the last minute (`None`: none used).
    #[serde(default)]
    pub update_interval_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GnssView {
    /// `up`, `silent`, `down: …` or `idle`.
    pub serial: String,
    /// `None` when no PPS source is configured.
    pub pps: Option<String>,
    pub pps_last_edge_age_s: Option<f64>,
    /// `none`, `2D` or `3D`.
    pub fix_mode: String,
    pub fix_valid: bool,
    pub time: Option<String>,
    pub satellites_used: Option<u32>,
    pub satellites_in_view: u32,
    pub signals: Vec<SignalView>,
    pub hdop: Option<f32>,
    pub position: Option<PositionView>,
    /// Paired to the PPS edges (samples flow to the clock).
    pub locked: bool,
    /// Why pairing cannot work as configured, and what to change (absent when it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairing_warning: Option<String>,
    /// The NMEA delay the pairing uses, ms (configured, or measured by network time).
    #[serde(default)]
    pub nmea_delay_ms: i64,
    /// Labels refused because they named another second than the anchor, and because the
    /// network contradicted them; changes of the second never adopted (no network to decide).
    #[serde(default)]
    pub labels_refused: u64,
    #[serde(default)]
    pub labels_refused_by_network: u64,
    #[serde(default)]
    pub second_changes_refused: u64,
    /// `ok`, `open` or `short` as the receiver last reported its antenna; absent if it never
    /// did (many receivers cannot tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub antenna: Option<String>,
    /// Why the receiver's date is not served (a week-number rollover or a stale clock), and
    /// what to set; absent when it is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_refused: Option<String>,
    /// The date the receiver sent when it is served 1024 weeks later (`week-rollover = "correct"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_corrected_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignalView {
    /// `GPS`, `GLONASS`, `Galileo`, `BeiDou`, … and the satellite number.
    pub system: String,
    pub prn: u32,
    pub snr_db: Option<u32>,
    /// Position in the sky, degrees (GSV), when the receiver gives it.
    #[serde(default)]
    pub elevation_deg: Option<f32>,
    #[serde(default)]
    pub azimuth_deg: Option<f32>,
    /// Part of the fix (listed by GSA).
    #[serde(default)]
    pub used: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionView {
    pub latitude_deg: f64,
    pub longitude_deg: f64,
    pub altitude_m: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NtpView {
    pub received: u64,
    /// Of `received`, those that came through the AF_XDP fast path.
    #[serde(default)]
    pub received_af_xdp: u64,
    pub answered: u64,
    pub nts_answered: u64,
    pub kiss_of_death_rate: u64,
    pub kiss_of_death_ntsn: u64,
    /// Drops by reason (`malformed`, `rate_limited`, …).
    pub dropped: Vec<(String, u64)>,
    /// Requests by NTP version 0–7.
    pub by_version: [u64; 8],
    /// Requests and NTS answers per second over the last minute the status was looked at
    /// (`None` until two looks are a second apart).
    pub requests_per_s: Option<f64>,
    pub nts_answers_per_s: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NtsView {
    pub ke_accepted: u64,
    pub ke_refused: u64,
    pub ke_no_common_algorithm: u64,
    pub ke_handshake_failed: u64,
    pub ke_timed_out: u64,
    pub ke_over_capacity: u64,
    /// Closed to make room for a new one: the oldest that had not finished its handshake.
    #[serde(default)]
    pub ke_evicted: u64,
    pub certificate: Option<CertificateView>,
    /// The next certificate of the served chain: for the appliance's local CA, what clients
    /// pin (`ntstrustedcerts`, `certificate-authority`), so its fingerprint is shown too.
    #[serde(default)]
    pub issuer_certificate: Option<CertificateView>,
    pub current_key_id: u32,
    pub key_rotation_s: u64,
    pub keys_kept: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    pub subject: String,
    pub issuer: String,
    pub not_after_unix: i64,
    /// SHA-256 of the leaf certificate (DER), colon-separated hex: what clients pin.
    pub sha256_fingerprint: String,
}

impl ServerView {
    /// The root dispersion, `None` at the NTP maximum (about 65536 s): what stratum 16
    /// announces, an unbounded error rather than a figure.
    pub fn bounded_root_dispersion_us(&self) -> Option<f64> {
        (self.root_dispersion_us < 65_535e6).then_some(self.root_dispersion_us)
    }
}

impl GnssView {
    /// Whether edges and labels pair, in words: "yes", "no", or, when the pairing holds but no
    /// sample came for a while (a label fault, a lost pulse), how long.
    pub fn paired_text(&self) -> String {
        match (self.locked, self.pps_last_edge_age_s) {
            (true, Some(age)) if age > 3.0 => format!("yes, but no sample for {age:.0} s"),
            (true, _) => "yes".into(),
            (false, _) => "no".into(),
        }
    }

    /// The antenna in words, with what to do when it is not fine.
    pub fn antenna_text(&self) -> Option<String> {
        Some(match self.antenna.as_deref()? {
            "open" => "open circuit: the antenna or its cable is disconnected".into(),
            "short" => "short circuit: check the antenna cable".into(),
            other => other.to_owned(),
        })
    }

    /// The receiver's date when it is not served as sent: refused, or moved an era forward.
    pub fn date_text(&self) -> Option<String> {
        match (&self.date_refused, &self.date_corrected_from) {
            (Some(refused), _) => Some(format!("refused: {refused}")),
            (None, Some(from)) => Some(format!(
                "the receiver sends {from}, 1024 weeks early (a week-number rollover); served \
                 1024 weeks later (week-rollover = \"correct\")"
            )),
            (None, None) => None,
        }
    }
}

impl ClockView {
    /// The jitter, `None` before any reference sample was used (the filter's prior then).
    pub fn measured_jitter_ns(&self) -> Option<f64> {
        (self.samples_used > 0).then_some(self.jitter_ns)
    }
}

impl StatusSnapshot {
    /// Root mean square of the plotted offsets over the last `window_s` seconds, like
    /// chronyc's "RMS offset" (`None` without points).
    pub fn rms_offset_ns(&self, window_s: i64) -> Option<f64> {
        let newest = self.history.last()?.unix_s;
        let recent: Vec<f64> =
            self.history.iter().filter(|p| p.unix_s > newest - window_s).map(|p| p.offset_ns).collect();
        (!recent.is_empty()).then(|| (recent.iter().map(|o| o * o).sum::<f64>() / recent.len() as f64).sqrt())
    }
}

impl CertificateView {
    pub fn days_left(&self, now_unix: i64) -> i64 {
        (self.not_after_unix - now_unix).div_euclid(86_400)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub unix_s: i64,
    pub offset_ns: f64,
    pub frequency_ppb: f64,
    /// The error bound then (`None`: unbounded).
    #[serde(default)]
    pub error_bound_ns: Option<f64>,
}

/// How much an event matters; the log's level in journald.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    Info,
    Warning,
    Error,
}

impl EventLevel {
    pub fn name(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warning => "warning",
            EventLevel::Error => "error",
        }
    }
}

/// One event as `/api/status` and the page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventView {
    pub time_unix_ms: i64,
    pub level: EventLevel,
    pub message: String,
}

/// A filled-in snapshot for tests and the API documentation.
pub fn example() -> StatusSnapshot {
    StatusSnapshot {
        version: "0.1.0".into(),
        uptime_s: 3725,
        generated_unix_ms: 1_800_000_000_000,
        state: OverallState::Locked,
        server: ServerView {
            stratum: 1,
            reference_id: "PPS".into(),
            leap: "none".into(),
            precision_log2: -24,
            root_dispersion_us: 13.6,
            root_delay_us: 0.0,
            reference_time_unix_ms: Some(1_800_000_000_000 - 400),
        },
        clock: ClockView {
            mode: "simulated".into(),
            lock_state: "locked".into(),
            offset_ns: Some(229.0),
            frequency_ppb: 29_851.0,
            skew_ppb: Some(0.4),
            jitter_ns: 955.0,
            error_bound_ns: Some(13_593.0),
            last_sample_age_s: Some(0.4),
            steps: 1,
            samples_used: 3600,
            samples_rejected: 36,
            leap_list: "known, no leap pending".into(),
            simulated_true_error_ns: Some(1196.0),
            update_interval_s: Some(1.0),
        },
        gnss: Some(GnssView {
            serial: "up".into(),
            pps: Some("up".into()),
            pps_last_edge_age_s: Some(0.4),
            fix_mode: "3D".into(),
            fix_valid: true,
            time: Some("2027-01-15T08:00:00.000Z".into()),
            satellites_used: Some(8),
            satellites_in_view: 9,
            signals: vec![
                SignalView {
                    system: "GPS".into(),
                    prn: 5,
                    snr_db: Some(42),
                    elevation_deg: Some(48.0),
                    azimuth_deg: Some(72.0),
                    used: true,
                },
                SignalView {
                    system: "GPS".into(),
                    prn: 26,
                    snr_db: Some(24),
                    elevation_deg: Some(9.0),
                    azimuth_deg: Some(330.0),
                    used: false,
                },
            ],
            hdop: Some(0.9),
            position: Some(PositionView { latitude_deg: 52.1, longitude_deg: 5.1, altitude_m: Some(12.0) }),
            locked: true,
            pairing_warning: None,
            nmea_delay_ms: 300,
            labels_refused: 0,
            labels_refused_by_network: 0,
            second_changes_refused: 0,
            antenna: Some("ok".into()),
            date_refused: None,
            date_corrected_from: None,
        }),
        ntp: NtpView {
            received: 1000,
            received_af_xdp: 0,
            answered: 990,
            nts_answered: 500,
            kiss_of_death_rate: 3,
            kiss_of_death_ntsn: 1,
            dropped: vec![("malformed".into(), 6)],
            by_version: [0, 0, 0, 10, 990, 0, 0, 0],
            requests_per_s: Some(12.5),
            nts_answers_per_s: Some(6.0),
        },
        nts: Some(NtsView {
            ke_accepted: 12,
            ke_refused: 1,
            ke_no_common_algorithm: 0,
            ke_handshake_failed: 2,
            ke_timed_out: 0,
            ke_over_capacity: 0,
            ke_evicted: 0,
            certificate: Some(CertificateView {
                subject: "CN=localhost".into(),
                issuer: "CN=stratum1 throwaway CA".into(),
                not_after_unix: 1_800_000_000 + 10 * 86_400,
                sha256_fingerprint: "AB:CD".into(),
            }),
            issuer_certificate: Some(CertificateView {
                subject: "CN=stratum1 throwaway CA".into(),
                issuer: "CN=stratum1 throwaway CA".into(),
                not_after_unix: 1_800_000_000 + 3650 * 86_400,
                sha256_fingerprint: "EF:01".into(),
            }),
            current_key_id: 20833,
            key_rotation_s: 86_400,
            keys_kept: 7,
        }),
        process: ProcessView {
            user: "stratum1".into(),
            uid: 998,
            capabilities: vec!["CAP_NET_BIND_SERVICE".into(), "CAP_SYS_TIME".into()],
        },
        sources: vec![SourceView {
            address: "nts.netnod.se".into(),
            mode: "nts".into(),
            reachable: true,
            reach: 0o377,
            stratum: Some(1),
            offset_ns: Some(-41_000.0),
            delay_ns: Some(8_200_000.0),
            root_distance_ns: Some(4_300_000.0),
            authenticated: true,
            trusted: true,
            selected: true,
            polls: 40,
            answers: 40,
            bad_answers: vec![],
            last_error: None,
            key_exchanges: 1,
            sessions_restored: 0,
        }],
        integrity: IntegrityView {
            state: "consistent".into(),
            disagreement_ns: Some(41_229.0),
            allowance_ns: Some(4_402_000.0),
            asymmetry_allowance_ns: 100_000.0,
            network_offset_ns: Some(-41_000.0),
            network_bound_ns: Some(4_300_000.0),
            sources_selected: 1,
            samples_unfollowed: 0,
        },
        state_reason: None,
        events: vec![EventView {
            time_unix_ms: 1_800_000_000_000 - 3_600_000,
            level: EventLevel::Info,
            message: "locked: serving stratum 1 (PPS) after 41 s".into(),
        }],
        history: (0..120)
            .map(|i| HistoryPoint {
                unix_s: 1_800_000_000 - 120 + i,
                offset_ns: (i % 10) as f64,
                frequency_ppb: 29_851.0,
                error_bound_ns: Some(13_593.0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_names_units() {
        let json = serde_json::to_string(&example()).unwrap();
        assert!(json.contains("\"state\":\"LOCKED\"") && json.contains("\"offset_ns\":229.0"), "{json}");
        let back: StatusSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, example());
    }

    #[test]
    fn unknown_values_are_null_and_read_back() {
        // The first seconds after a start, and a misconfigured receiver: nothing measured.
        let mut s = example();
        s.clock.offset_ns = None;
        s.clock.skew_ppb = None;
        s.clock.error_bound_ns = None;
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"error_bound_ns\":null") && json.contains("\"offset_ns\":null"), "{json}");
        let back: StatusSnapshot = serde_json::from_str(&json).expect("a snapshot with unknowns reads back");
        assert_eq!(back, s);
    }
}
