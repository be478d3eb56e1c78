//! What changed, and when: the transitions and warnings an operator wants to read back after
//! the fact (pure). [`EventDetector`] compares each snapshot with what it saw before and names
//! the differences: state changes, fix and PPS lost and back, receiver down, labels refused,
//! steps, integrity verdicts, sources lost and back, certificate renewed, expiring or expired,
//! and NTS-KE connections refused or timed out. Counters that can grow many times a second
//! (refusals, floods) give one summary a minute at most, so an attack cannot flood the log or
//! push the transitions out of [`EventLog`].

use std::collections::VecDeque;

use crate::snapshot::{EventLevel, EventView, OverallState, StatusSnapshot};

/// The last [`EventLog::CAPACITY`] events, oldest first.
#[derive(Clone, Debug, Default)]
pub struct EventLog(VecDeque<EventView>);

impl EventLog {
    pub const CAPACITY: usize = 100;

    pub fn push(&mut self, event: EventView) {
        if self.0.len() == Self::CAPACITY {
            self.0.pop_front();
        }
        self.0.push_back(event);
    }

    pub fn to_vec(&self) -> Vec<EventView> {
        self.0.iter().cloned().collect()
    }
}

/// A counter whose growth is reported at most once per [`SUMMARY_EVERY_MS`].
#[derive(Clone, Copy, Debug, Default)]
struct Summarised {
    reported: u64,
    last_report_ms: Option<i64>,
}

const SUMMARY_EVERY_MS: i64 = 60_000;
/// A certificate this close to its end is worth a warning, once a day.
const EXPIRY_WARNING_DAYS: i64 = 14;

impl Summarised {
    /// The growth since the last report, when a report is due.
    fn due(&mut self, value: u64, now_ms: i64) -> Option<u64> {
        if value < self.reported {
            // A counter that went back (restart of its owner): start over, say nothing.
            self.reported = value;
            return None;
        }
        let grown = value - self.reported;
        let due = self.last_report_ms.is_none_or(|t| now_ms - t >= SUMMARY_EVERY_MS);
        (grown > 0 && due).then(|| {
            self.reported = value;
            self.last_report_ms = Some(now_ms);
            grown
        })
    }
}

/// What the detector remembers of the last snapshot it saw.
#[derive(Clone, Debug)]
struct Seen {
    state: OverallState,
    fix_valid: Option<bool>,
    serial: Option<String>,
    pps: Option<String>,
    steps: u64,
    integrity: String,
    reachable: Vec<(String, bool)>,
    certificate_not_after: Option<i64>,
    nmea_delay_ms: Option<i64>,
    antenna: Option<String>,
    date_refused: bool,
    date_corrected: bool,
    /// When the state last left LOCKED, to say how long it was away.
    left_locked_ms: Option<i64>,
}

/// What has been true at least once since start: the first fix, pulse or lock is news, not a
/// recovery, and what happens before the first lock is the start-up, not a fault.
#[derive(Clone, Copy, Debug, Default)]
struct Ever {
    synchronised: bool,
    serial_up: bool,
    pps_up: bool,
    fix: bool,
}

#[derive(Clone, Debug, Default)]
pub struct EventDetector {
    seen: Option<Seen>,
    ever: Ever,
    labels_refused: Summarised,
    labels_refused_by_network: Summarised,
    second_changes_refused: Summarised,
    ke_over_capacity: Summarised,
    ke_evicted: Summarised,
    ke_timed_out: Summarised,
    /// The day (Unix days) the expiry was last warned about.
    expiry_warned_day: Option<i64>,
}

/// The first word of a link status (`up`, `silent`, `down`, `idle`, `starting`): its details
/// (retry delays, since when) change without the link changing.
fn link_kind(status: &str) -> &str {
    status.split([' ', ':', '(']).next().unwrap_or(status)
}

impl EventDetector {
    /// The events between the last snapshot seen and this one, oldest cause first.
    pub fn observe(&mut self, s: &StatusSnapshot) -> Vec<EventView> {
        let now = s.generated_unix_ms;
        let mut out = Vec::new();
        let mut say = |level, message: String| out.push(EventView { time_unix_ms: now, level, message });
        let gnss = s.gnss.as_ref();
        let current = Seen {
            state: s.state,
            fix_valid: gnss.map(|g| g.fix_valid),
            serial: gnss.map(|g| link_kind(&g.serial).to_owned()),
            pps: gnss.and_then(|g| g.pps.as_deref()).map(|p| link_kind(p).to_owned()),
            steps: s.clock.steps,
            integrity: s.integrity.state.clone(),
            reachable: s.sources.iter().map(|v| (v.address.clone(), v.reachable)).collect(),
            certificate_not_after: s
                .nts
                .as_ref()
                .and_then(|n| n.certificate.as_ref())
                .map(|c| c.not_after_unix),
            nmea_delay_ms: gnss.map(|g| g.nmea_delay_ms),
            antenna: gnss.and_then(|g| g.antenna.clone()),
            date_refused: gnss.is_some_and(|g| g.date_refused.is_some()),
            date_corrected: gnss.is_some_and(|g| g.date_corrected_from.is_some()),
            left_locked_ms: None,
        };
        let reason = || s.state_reason.clone().unwrap_or_default();

        let ever = self.ever;
        self.ever = Ever {
            synchronised: ever.synchronised
                || matches!(s.state, OverallState::Locked | OverallState::Holdover | OverallState::Network),
            serial_up: ever.serial_up || current.serial.as_deref() == Some("up"),
            pps_up: ever.pps_up || current.pps.as_deref() == Some("up"),
            fix: ever.fix || current.fix_valid == Some(true),
        };
        // Before the first lock, states and steps are the start-up running its course.
        let fault = |level| if ever.synchronised { level } else { EventLevel::Info };
        let Some(before) = self.seen.take() else {
            say(
                EventLevel::Info,
                format!(
                    "started: {}{}",
                    s.state.label(),
                    s.state_reason.as_deref().map_or(String::new(), |r| format!(" ({r})"))
                ),
            );
            // A receiver missing from the start is a fault, not news.
            if current.serial.as_deref() == Some("down") {
                say(EventLevel::Error, format!("receiver down: {}", gnss.map_or("", |g| g.serial.as_str())));
            }
            self.seen =
                Some(Seen { left_locked_ms: (s.state != OverallState::Locked).then_some(now), ..current });
            self.warn_expiry(s, &mut out);
            self.count_summaries(s, &mut out);
            return out;
        };
        let mut left_locked_ms = before.left_locked_ms;

        if let (Some(was), Some(is)) = (&before.serial, &current.serial) {
            if was != is {
                match is.as_str() {
                    "up" if ever.serial_up => say(EventLevel::Info, "receiver: NMEA flows again".into()),
                    "up" => say(EventLevel::Info, "receiver: NMEA flows".into()),
                    "down" => say(
                        EventLevel::Error,
                        format!("receiver down: {}", gnss.map_or("", |g| g.serial.as_str())),
                    ),
                    "silent" => say(
                        EventLevel::Warning,
                        "receiver silent: no NMEA arrives (device, baud rate, wiring?)".into(),
                    ),
                    _ => {}
                }
            }
        }
        if let (Some(was), Some(is)) = (before.fix_valid, current.fix_valid) {
            if was && !is {
                say(
                    EventLevel::Warning,
                    format!("fix lost ({} satellite(s) in view)", gnss.map_or(0, |g| g.satellites_in_view)),
                );
            } else if !was && is {
                let what = if ever.fix { "fix back" } else { "first fix" };
                let used =
                    gnss.and_then(|g| g.satellites_used).map_or(String::new(), |n| format!(", {n} used"));
                say(EventLevel::Info, format!("{what} ({}{used})", gnss.map_or("", |g| g.fix_mode.as_str())));
            }
        }
        if current.antenna != before.antenna {
            match (gnss.and_then(|g| g.antenna_text()), current.antenna.as_deref()) {
                (Some(text), Some("open" | "short")) => say(EventLevel::Error, format!("antenna: {text}")),
                (Some(text), _) if before.antenna.is_some() => {
                    say(EventLevel::Info, format!("antenna: {text}"))
                }
                _ => {}
            }
        }
        match (before.date_refused, current.date_refused, gnss.and_then(|g| g.date_text())) {
            (false, true, Some(text)) => say(EventLevel::Error, format!("receiver date {text}")),
            (true, false, _) => say(EventLevel::Info, "receiver date accepted".into()),
            _ => {}
        }
        if !before.date_corrected && current.date_corrected {
            if let Some(text) = gnss.and_then(|g| g.date_text()) {
                say(EventLevel::Warning, text);
            }
        }
        if let (Some(was), Some(is)) = (&before.pps, &current.pps) {
            if was != is {
                if is == "up" {
                    let again = if ever.pps_up { " again" } else { "" };
                    say(EventLevel::Info, format!("PPS: pulses arrive{again}"));
                } else if was == "up" {
                    say(
                        EventLevel::Warning,
                        format!("PPS lost: {}", gnss.and_then(|g| g.pps.as_deref()).unwrap_or("no pulses")),
                    );
                }
            }
        }
        if let (Some(was), Some(is)) = (before.nmea_delay_ms, current.nmea_delay_ms) {
            if was != is && was != 0 {
                say(
                    EventLevel::Warning,
                    format!(
                        "by network time the receiver sends each label {is} ms after the pulse it names; the \
                         pairing now uses {is} ms (set refclock.nmea-delay-ms = {is} to keep it across restarts)"
                    ),
                );
            }
        }
        if current.steps > before.steps {
            say(fault(EventLevel::Warning), format!("clock stepped ({} step(s) since start)", current.steps));
        }
        if current.integrity != before.integrity {
            let by =
                s.integrity.disagreement_ns.map_or(String::new(), |d| format!(" by {:.6} s", d.abs() / 1e9));
            let allowed =
                s.integrity.allowance_ns.map_or(String::new(), |a| format!(" (allowed {:.6} s)", a / 1e9));
            match current.integrity.as_str() {
                "gnss-disagrees" => say(
                    EventLevel::Error,
                    format!("integrity: the receiver disagrees with network time{by}{allowed}; it is not followed"),
                ),
                "consistent" => {
                    say(EventLevel::Info, format!("integrity: receiver and network time agree{by}{allowed}"))
                }
                _ if before.integrity != "unchecked" => say(
                    EventLevel::Warning,
                    "integrity: unchecked: no trusted network source to compare the receiver with".into(),
                ),
                _ => {}
            }
        }
        for (address, reachable) in &current.reachable {
            let was = before.reachable.iter().find(|(a, _)| a == address).map(|(_, r)| *r);
            match (was, reachable) {
                (Some(true), false) => {
                    let why = s
                        .sources
                        .iter()
                        .find(|v| &v.address == address)
                        .and_then(|v| v.last_error.clone())
                        .map_or(String::new(), |e| format!(": {e}"));
                    say(EventLevel::Warning, format!("source {address} unreachable{why}"))
                }
                (Some(false), true) => say(EventLevel::Info, format!("source {address} answers")),
                _ => {}
            }
        }
        if current.state != before.state {
            let away =
                left_locked_ms.map_or(String::new(), |t| format!(" after {:.0} s", (now - t) as f64 / 1e3));
            match current.state {
                OverallState::Locked if before.state == OverallState::Holdover => {
                    say(EventLevel::Info, format!("relocked{away} in holdover"))
                }
                OverallState::Locked => say(
                    EventLevel::Info,
                    format!("locked: serving stratum {} ({}){away}", s.server.stratum, s.server.reference_id),
                ),
                OverallState::Holdover => say(EventLevel::Warning, reason()),
                OverallState::NoFix if s.server.stratum == 16 => {
                    say(fault(EventLevel::Error), format!("NO FIX: stratum 16 served: {}", reason()))
                }
                OverallState::Network | OverallState::NoFix => {
                    say(fault(EventLevel::Warning), format!("{}: {}", current.state.label(), reason()))
                }
                OverallState::Unsynchronised => {
                    say(fault(EventLevel::Error), format!("unsynchronised: stratum 16 served: {}", reason()))
                }
            }
            left_locked_ms = match (before.state, current.state) {
                (_, OverallState::Locked) => None,
                (OverallState::Locked, _) => Some(now),
                _ => left_locked_ms,
            };
        }
        if let (Some(was), Some(is)) = (before.certificate_not_after, current.certificate_not_after) {
            if is != was {
                say(
                    EventLevel::Info,
                    format!(
                        "certificate renewed: valid {} more day(s)",
                        (is - now / 1000).div_euclid(86_400)
                    ),
                );
                self.expiry_warned_day = None;
            }
        }
        self.warn_expiry(s, &mut out);
        self.count_summaries(s, &mut out);
        self.seen = Some(Seen { left_locked_ms, ..current });
        out
    }

    fn warn_expiry(&mut self, s: &StatusSnapshot, out: &mut Vec<EventView>) {
        let Some(certificate) = s.nts.as_ref().and_then(|n| n.certificate.as_ref()) else { return };
        let now = s.generated_unix_ms;
        let today = (now / 1000).div_euclid(86_400);
        let left = certificate.days_left(now / 1000);
        if left >= EXPIRY_WARNING_DAYS || self.expiry_warned_day == Some(today) {
            return;
        }
        self.expiry_warned_day = Some(today);
        let (level, message) = if certificate.not_after_unix <= now / 1000 {
            (
                EventLevel::Error,
                format!("certificate expired: NTS clients refuse it ({})", certificate.subject),
            )
        } else {
            (
                EventLevel::Warning,
                format!("certificate expires in {left} day(s) ({}): renew it", certificate.subject),
            )
        };
        out.push(EventView { time_unix_ms: now, level, message });
    }

    fn count_summaries(&mut self, s: &StatusSnapshot, out: &mut Vec<EventView>) {
        let now = s.generated_unix_ms;
        let mut say = |level, message: String| out.push(EventView { time_unix_ms: now, level, message });
        if let Some(g) = &s.gnss {
            if let Some(n) = self.labels_refused.due(g.labels_refused, now) {
                say(
                    EventLevel::Warning,
                    format!("{n} label(s) refused: they named another second than the PPS anchor"),
                );
            }
            if let Some(n) = self.labels_refused_by_network.due(g.labels_refused_by_network, now) {
                say(
                    EventLevel::Warning,
                    format!("{n} label(s) refused: network time contradicts the second they name"),
                );
            }
            if let Some(n) = self.second_changes_refused.due(g.second_changes_refused, now) {
                say(
                    EventLevel::Warning,
                    format!(
                        "{n} change(s) of the second not adopted: with no network source to decide, the receiver \
                         is not followed to another second until a restart (add [[source]] lines)"
                    ),
                );
            }
        }
        if let Some(nts) = &s.nts {
            if let Some(n) = self.ke_over_capacity.due(nts.ke_over_capacity, now) {
                say(EventLevel::Warning, format!("NTS-KE: {n} connection(s) refused over capacity"));
            }
            if let Some(n) = self.ke_evicted.due(nts.ke_evicted, now) {
                say(
                    EventLevel::Warning,
                    format!(
                        "NTS-KE: {n} connection(s) closed to make room (waiting for a ClientHello, in a slow \
                         handshake, or sitting after one)"
                    ),
                );
            }
            if let Some(n) = self.ke_timed_out.due(nts.ke_timed_out, now) {
                say(EventLevel::Warning, format!("NTS-KE: {n} connection(s) timed out before finishing"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::example;

    /// The example with a certificate far from its end, at this time.
    fn at(ms: i64) -> StatusSnapshot {
        let mut s = example();
        s.nts.as_mut().unwrap().certificate.as_mut().unwrap().not_after_unix += 400 * 86_400;
        s.generated_unix_ms = ms;
        s
    }

    const T0: i64 = 1_800_000_000_000;

    fn messages(events: &[EventView]) -> Vec<String> {
        events.iter().map(|e| format!("{}: {}", e.level.name(), e.message)).collect()
    }

    #[test]
    fn the_first_look_says_where_it_started_and_a_quiet_second_says_nothing() {
        let mut d = EventDetector::default();
        assert_eq!(messages(&d.observe(&at(T0))), ["info: started: LOCKED"]);
        assert!(d.observe(&at(1_800_000_001_000)).is_empty());
    }

    #[test]
    fn a_label_fault_gives_holdover_with_its_reason_and_relock_says_how_long() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut s = at(1_800_000_010_000);
        s.state = OverallState::Holdover;
        s.integrity.state = "gnss-disagrees".into();
        s.integrity.disagreement_ns = Some(1e9);
        s.state_reason = Some("holdover: the receiver disagrees with network time by 1.000000 s".into());
        s.gnss.as_mut().unwrap().labels_refused_by_network = 3;
        let got = messages(&d.observe(&s));
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(
            got[0].starts_with("error: integrity: the receiver disagrees with network time by 1.000000 s")
        );
        assert_eq!(got[1], "warning: holdover: the receiver disagrees with network time by 1.000000 s");
        assert!(got[2].starts_with("warning: 3 label(s) refused: network time contradicts"));
        let back = messages(&d.observe(&at(1_800_000_130_000)));
        assert!(back.contains(&"info: relocked after 120 s in holdover".to_owned()), "{back:?}");
    }

    #[test]
    fn fix_pps_and_receiver_changes_are_named_and_retry_details_are_not_changes() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut s = at(1_800_000_001_000);
        let g = s.gnss.as_mut().unwrap();
        g.fix_valid = false;
        g.pps = Some("silent since 1799999990".into());
        g.serial = "down (No such file or directory); retry in 1000 ms".into();
        let got = messages(&d.observe(&s));
        assert_eq!(
            got,
            [
                "error: receiver down: down (No such file or directory); retry in 1000 ms",
                "warning: fix lost (9 satellite(s) in view)",
                "warning: PPS lost: silent since 1799999990",
            ]
        );
        s.gnss.as_mut().unwrap().serial = "down (No such file or directory); retry in 2000 ms".into();
        s.generated_unix_ms += 1000;
        assert!(d.observe(&s).is_empty());
        let got = messages(&d.observe(&at(1_800_000_003_000)));
        assert_eq!(
            got,
            [
                "info: receiver: NMEA flows again",
                "info: fix back (3D, 8 used)",
                "info: PPS: pulses arrive again"
            ]
        );
    }

    #[test]
    fn an_antenna_fault_is_an_error_and_its_repair_is_news() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut s = at(1_800_000_001_000);
        s.gnss.as_mut().unwrap().antenna = Some("open".into());
        assert_eq!(
            messages(&d.observe(&s)),
            ["error: antenna: open circuit: the antenna or its cable is disconnected"]
        );
        s.generated_unix_ms += 1000;
        assert!(d.observe(&s).is_empty(), "said once");
        s.gnss.as_mut().unwrap().antenna = Some("ok".into());
        s.generated_unix_ms += 1000;
        assert_eq!(messages(&d.observe(&s)), ["info: antenna: ok"]);
    }

    #[test]
    fn a_refused_receiver_date_is_an_error_and_a_corrected_one_a_warning() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut s = at(1_800_000_001_000);
        s.gnss.as_mut().unwrap().date_refused = Some("receiver date 2007-04-15 is before 2026-11-01".into());
        assert_eq!(
            messages(&d.observe(&s)),
            ["error: receiver date refused: receiver date 2007-04-15 is before 2026-11-01"]
        );
        s.generated_unix_ms += 1000;
        assert!(d.observe(&s).is_empty(), "said once");
        let g = s.gnss.as_mut().unwrap();
        g.date_refused = None;
        g.date_corrected_from = Some("2007-04-15".into());
        s.generated_unix_ms += 1000;
        let got = messages(&d.observe(&s));
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], "info: receiver date accepted");
        assert!(got[1].starts_with("warning: the receiver sends 2007-04-15, 1024 weeks early"), "{got:?}");
    }

    #[test]
    fn floods_give_one_summary_a_minute() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut reported = Vec::new();
        for second in 1..=150 {
            let mut s = at(T0 + second * 1000);
            s.nts.as_mut().unwrap().ke_over_capacity = (second * 50) as u64;
            reported.extend(messages(&d.observe(&s)));
        }
        assert_eq!(
            reported,
            [
                "warning: NTS-KE: 50 connection(s) refused over capacity",
                "warning: NTS-KE: 3000 connection(s) refused over capacity",
                "warning: NTS-KE: 3000 connection(s) refused over capacity",
            ]
        );
    }

    #[test]
    fn steps_unsynchronised_and_sources_lost() {
        let mut d = EventDetector::default();
        d.observe(&at(T0));
        let mut s = at(1_800_000_001_000);
        s.clock.steps = 2;
        s.state = OverallState::Unsynchronised;
        s.state_reason = Some("the holdover limit passed".into());
        s.sources[0].reachable = false;
        s.sources[0].last_error = Some("connection refused".into());
        let got = messages(&d.observe(&s));
        assert_eq!(
            got,
            [
                "warning: clock stepped (2 step(s) since start)",
                "warning: source nts.netnod.se unreachable: connection refused",
                "error: unsynchronised: stratum 16 served: the holdover limit passed",
            ]
        );
    }

    #[test]
    fn certificates_expiring_expired_and_renewed() {
        let mut d = EventDetector::default();
        // The example's leaf ends 10 days after the example's time.
        let soon = |ms: i64| {
            let mut s = example();
            s.generated_unix_ms = ms;
            s
        };
        let got = messages(&d.observe(&soon(T0)));
        assert_eq!(got[1], "warning: certificate expires in 10 day(s) (CN=localhost): renew it");
        assert!(d.observe(&soon(T0 + 3_600_000)).is_empty(), "once a day");
        let expired = soon(T0 + 11 * 86_400_000);
        assert_eq!(
            messages(&d.observe(&expired)),
            ["error: certificate expired: NTS clients refuse it (CN=localhost)"]
        );
        let mut renewed = soon(T0 + 11 * 86_400_000 + 1000);
        renewed.nts.as_mut().unwrap().certificate.as_mut().unwrap().not_after_unix += 90 * 86_400;
        assert_eq!(messages(&d.observe(&renewed)), ["info: certificate renewed: valid 88 more day(s)"]);
    }

    #[test]
    fn the_start_up_is_news_at_info_level_not_a_fault() {
        let mut d = EventDetector::default();
        let mut start = at(T0);
        start.state = OverallState::NoFix;
        start.state_reason = Some("the receiver has no valid fix".into());
        let g = start.gnss.as_mut().unwrap();
        g.fix_valid = false;
        g.pps = Some("idle".into());
        assert_eq!(messages(&d.observe(&start)), ["info: started: NO FIX (the receiver has no valid fix)"]);
        let mut acquiring = at(T0 + 3000);
        acquiring.state = OverallState::Unsynchronised;
        acquiring.state_reason = Some("acquiring".into());
        acquiring.clock.steps = 2;
        assert_eq!(
            messages(&d.observe(&acquiring)),
            [
                "info: first fix (3D, 8 used)",
                "info: PPS: pulses arrive",
                "info: clock stepped (2 step(s) since start)",
                "info: unsynchronised: stratum 16 served: acquiring",
            ]
        );
        let locked = messages(&d.observe(&at(T0 + 40_000)));
        assert_eq!(locked, ["info: locked: serving stratum 1 (PPS) after 40 s"]);
        let mut lost = at(T0 + 50_000);
        lost.state = OverallState::Unsynchronised;
        lost.state_reason = Some("the holdover limit passed".into());
        assert_eq!(
            messages(&d.observe(&lost)),
            ["error: unsynchronised: stratum 16 served: the holdover limit passed"]
        );
        let mut no_fix = at(T0 + 51_000);
        no_fix.state = OverallState::NoFix;
        no_fix.server.stratum = 16;
        no_fix.state_reason = Some("the receiver has no valid fix".into());
        assert_eq!(
            messages(&d.observe(&no_fix)),
            ["error: NO FIX: stratum 16 served: the receiver has no valid fix"]
        );
    }

    #[test]
    fn a_receiver_missing_from_the_start_is_an_error() {
        let mut d = EventDetector::default();
        let mut s = at(T0);
        s.state = OverallState::Unsynchronised;
        s.gnss.as_mut().unwrap().serial =
            "down (/dev/ttyAMA0: No such file or directory); retry in 250 ms".into();
        let got = messages(&d.observe(&s));
        assert_eq!(
            got[1],
            "error: receiver down: down (/dev/ttyAMA0: No such file or directory); retry in 250 ms"
        );
    }

    #[test]
    fn the_log_keeps_the_last_hundred() {
        let mut log = EventLog::default();
        for i in 0..150 {
            log.push(EventView { time_unix_ms: i, level: EventLevel::Info, message: i.to_string() });
        }
        let kept = log.to_vec();
        assert_eq!(kept.len(), 100);
        assert_eq!(kept[0].time_unix_ms, 50);
        assert_eq!(kept[99].time_unix_ms, 149);
    }
}
