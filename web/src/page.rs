//! The status page (`/`): server-rendered with askama, readable with JavaScript off (it then
//! reloads itself every 10 s); with JavaScript, `app.js` swaps in a fresh `<main>` every 2 s.

use askama::Template;

use crate::plot::{Marker, Plot, Quantity};
use crate::sky;
use crate::snapshot::EventView;
use crate::snapshot::{OverallState, StatusSnapshot};

/// Certificates closer to expiry than this get a warning.
const EXPIRY_WARNING_DAYS: i64 = 21;

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    s: &'a StatusSnapshot,
    state_class: &'static str,
    rows_time: Vec<(&'static str, String)>,
    rows_gnss: Vec<(&'static str, String)>,
    rows_traffic: Vec<(&'static str, String)>,
    rows_tls: Vec<(&'static str, String)>,
    tls_warning: Option<String>,
    rows_sources: Vec<(String, String)>,
    integrity_warning: Option<String>,
    sky: Option<String>,
    snr: Option<String>,
    plots: Vec<(String, String)>,
    /// Newest first: (time, level, message).
    events: Vec<(String, &'static str, String)>,
    uptime: String,
}

/// The whole page as HTML.
pub fn render(s: &StatusSnapshot) -> String {
    let now_unix = s.generated_unix_ms.div_euclid(1000);
    let c = &s.clock;
    let rows_time = vec![
        ("Stratum", s.server.stratum.to_string()),
        ("Reference", s.server.reference_id.clone()),
        ("Offset", c.offset_ns.map_or(UNKNOWN.into(), signed_ns)),
        ("Jitter", c.measured_jitter_ns().map_or(UNKNOWN.into(), ns)),
        ("Frequency", format!("{:+.3} ppm", c.frequency_ppb / 1e3)),
        ("Error bound", c.error_bound_ns.map_or(UNKNOWN.into(), ns)),
        (
            "Root dispersion",
            s.server.bounded_root_dispersion_us().map_or("unbounded".into(), |d| ns(d * 1e3)),
        ),
        ("Leap", format!("{} ({})", s.server.leap, c.leap_list)),
        ("Clock", format!("{}, {}", c.mode, c.lock_state)),
        ("Runs as", format!("{} ({})", s.process.user, capabilities(&s.process.capabilities))),
    ];
    let (rows_gnss, sky, snr) = match &s.gnss {
        Some(g) => {
            let mut rows = vec![
                ("Fix", format!("{}{}", g.fix_mode, if g.fix_valid { "" } else { " (not valid)" })),
                (
                    "Satellites",
                    format!(
                        "{} used / {} in view",
                        g.satellites_used.map_or("?".into(), |n| n.to_string()),
                        g.satellites_in_view
                    ),
                ),
                ("HDOP", g.hdop.map_or("–".into(), |h| format!("{h:.1}"))),
                ("PPS", g.pps.clone().unwrap_or_else(|| "not configured".into())),
                // The last edge that became a sample (pulse and label paired), not the last pulse.
                ("Last sample", g.pps_last_edge_age_s.map_or("–".into(), |a| format!("{a:.1} s ago"))),
                ("Serial", g.serial.clone()),
                ("Paired to PPS", g.paired_text()),
            ];
            if let Some(t) = &g.time {
                rows.insert(1, ("GNSS time", t.clone()));
            }
            if let Some(antenna) = g.antenna_text() {
                rows.insert(2, ("Antenna", antenna));
            }
            if let Some(text) = g.date_text() {
                rows.push(("Date", text));
            }
            if let Some(warning) = &g.pairing_warning {
                rows.push(("Pairing", warning.clone()));
            }
            if let Some(text) = refused_labels(g) {
                rows.push(("Labels refused", text));
            }
            if let Some(p) = &g.position {
                rows.push((
                    "Position",
                    format!(
                        "{:.5}°, {:.5}°{}",
                        p.latitude_deg,
                        p.longitude_deg,
                        p.altitude_m.map_or(String::new(), |a| format!(", {a:.0} m"))
                    ),
                ));
            }
            (rows, sky::sky_plot(&g.signals), sky::snr_bars(&g.signals))
        }
        None => (vec![("Receiver", "none configured".to_owned())], None, None),
    };
    let n = &s.ntp;
    let per_s = |r: Option<f64>| r.map_or("–".to_owned(), |r| format!("{r:.1}/s"));
    let mut rows_traffic = vec![
        ("Requests/s", per_s(n.requests_per_s)),
        ("NTS answers/s", per_s(n.nts_answers_per_s)),
        ("Requests", n.received.to_string()),
        ("Answered", n.answered.to_string()),
        ("NTS answered", n.nts_answered.to_string()),
        ("KoD RATE / NTSN", format!("{} / {}", n.kiss_of_death_rate, n.kiss_of_death_ntsn)),
        ("Dropped", n.dropped.iter().map(|(_, c)| c).sum::<u64>().to_string()),
    ];
    if n.received_af_xdp > 0 {
        rows_traffic.insert(3, ("Through AF_XDP", n.received_af_xdp.to_string()));
    }
    let mut rows_tls = Vec::new();
    let mut tls_warning = None;
    if let Some(nts) = &s.nts {
        rows_traffic.push(("NTS-KE handshakes", nts.ke_accepted.to_string()));
        rows_traffic.push((
            "NTS-KE failed",
            (nts.ke_refused
                + nts.ke_handshake_failed
                + nts.ke_timed_out
                + nts.ke_over_capacity
                + nts.ke_evicted)
                .to_string(),
        ));
        if let Some(cert) = &nts.certificate {
            let days = cert.days_left(now_unix);
            rows_tls.push(("Subject", cert.subject.clone()));
            rows_tls.push(("Issuer", cert.issuer.clone()));
            rows_tls.push(("Expires", format!("{} ({days} days)", date(cert.not_after_unix))));
            rows_tls.push(("SHA-256", cert.sha256_fingerprint.clone()));
            if let Some(issuer) = &nts.issuer_certificate {
                rows_tls.push(("Issuer SHA-256 (pin this CA)", issuer.sha256_fingerprint.clone()));
            }
            if days < EXPIRY_WARNING_DAYS {
                tls_warning = Some(if days < 0 {
                    "The certificate has expired: NTS clients cannot connect.".to_owned()
                } else {
                    format!("The certificate expires in {days} days.")
                });
            }
        }
        rows_tls.push((
            "Cookie key",
            format!("#{} (new every {} s, {} kept)", nts.current_key_id, nts.key_rotation_s, nts.keys_kept),
        ));
    }
    let (rows_sources, integrity_warning) = sources_rows(s);
    let markers = markers(&s.events);
    let plots = plots(s, now_unix, &markers);
    let page = StatusPage {
        s,
        state_class: match s.state {
            OverallState::Locked => "ok",
            OverallState::Holdover | OverallState::Network => "warn",
            OverallState::NoFix | OverallState::Unsynchronised => "bad",
        },
        rows_time,
        rows_gnss,
        rows_traffic,
        rows_tls,
        tls_warning,
        rows_sources,
        integrity_warning,
        sky,
        snr,
        plots,
        events: s
            .events
            .iter()
            .rev()
            .map(|e| (clock_time(e.time_unix_ms), e.level.name(), e.message.clone()))
            .collect(),
        uptime: duration(s.uptime_s),
    };
    page.render().unwrap_or_else(|e| format!("<!doctype html><title>stratum1</title><p>page error: {e}</p>"))
}

/// The offset and frequency plots: the last hour, and the last day once more than an hour
/// is kept (before that it would repeat the hour).
fn plots(s: &StatusSnapshot, now_unix: i64, markers: &[Marker]) -> Vec<(String, String)> {
    let kept_s = s.history.first().map_or(0, |p| now_unix - p.unix_s);
    let mut spans = vec![("last hour", now_unix - 3600)];
    if kept_s > 3600 {
        spans.push(("last day", now_unix - 86_400));
    }
    let mut out = Vec::new();
    for (span, since_unix) in spans {
        let offset = Plot {
            title: &format!("Offset and error bound, {span}"),
            since_unix,
            value: |p| p.offset_ns,
            band: Some(|p| p.error_bound_ns),
            quantity: Quantity::Time,
            markers,
        }
        .svg(&s.history);
        let frequency = Plot {
            title: &format!("Frequency, {span}"),
            since_unix,
            value: |p| p.frequency_ppb,
            band: None,
            quantity: Quantity::Frequency,
            markers,
        }
        .svg(&s.history);
        for (title, svg) in
            [(format!("Offset ± error bound, {span}"), offset), (format!("Frequency, {span}"), frequency)]
        {
            out.push((
                title,
                svg.unwrap_or_else(|| {
                    "<p class=\"empty\">Nothing to plot yet: points are kept while locked and in holdover.</p>"
                        .to_owned()
                }),
            ));
        }
    }
    out
}

/// Steps, lock, holdover and relock, from the events, for the plots.
fn markers(events: &[EventView]) -> Vec<Marker> {
    events
        .iter()
        .filter_map(|e| {
            let label = if e.message.starts_with("clock stepped") {
                "step"
            } else if e.message.starts_with("relocked") {
                "relock"
            } else if e.message.starts_with("locked") {
                "lock"
            } else if e.message.starts_with("holdover") {
                "holdover"
            } else {
                return None;
            };
            Some(Marker { unix_s: e.time_unix_ms.div_euclid(1000), label })
        })
        .collect()
}

/// A few capabilities by name; a long list (a daemon run as root) as a count, named in full
/// by `stratum1ctl --json` and the API.
fn capabilities(names: &[String]) -> String {
    match names.len() {
        0 => "no capabilities".to_owned(),
        1..=4 => names.join(", "),
        n if n >= 30 => format!("all {n} capabilities: run it as its own user"),
        n => format!("{n} capabilities: {}, …", names[..3].join(", ")),
    }
}

/// `2026-12-02 05:10:00 UTC`.
fn clock_time(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .map_or_else(|| unix_ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The Sources card: the integrity verdict first, then one row per upstream, as chronyc's
/// `sources` marks them (`*` selected, `-` not selected, `?` unreachable).
fn sources_rows(s: &StatusSnapshot) -> (Vec<(String, String)>, Option<String>) {
    let i = &s.integrity;
    let compared = match (i.disagreement_ns, i.allowance_ns) {
        (Some(d), Some(a)) => format!(" (receiver {} from network time, {} allowed)", signed_ns(-d), ns(a)),
        _ => String::new(),
    };
    let mut rows = vec![("Integrity".to_owned(), format!("{}{compared}", i.state))];
    let warning = match i.state.as_str() {
        "gnss-disagrees" => Some(format!(
            "The receiver disagrees with authenticated network time{compared}: it is not followed."
        )),
        "unchecked" if !s.sources.is_empty() => {
            Some("No trusted source reachable: the receiver is not checked.".to_owned())
        }
        _ => None,
    };
    for v in &s.sources {
        let mark = if v.selected {
            "*"
        } else if v.reachable {
            "-"
        } else {
            "?"
        };
        let mut text = match (v.offset_ns, v.root_distance_ns, v.stratum) {
            (Some(o), Some(d), Some(st)) => format!("{} ± {}, stratum {st}", signed_ns(o), ns(d)),
            _ => "no answer yet".to_owned(),
        };
        if v.authenticated {
            text.push_str(", NTS");
        } else if v.mode == "server" {
            text.push_str(", plain NTP");
        }
        if !v.trusted {
            text.push_str(", not trusted");
        }
        if let Some(e) = &v.last_error {
            text.push_str(&format!("; {e}"));
        }
        rows.push((format!("{mark} {}", v.address), text));
    }
    (rows, warning)
}

/// Labels the pairing refused, when there are any: the receiver named another second.
pub fn refused_labels(g: &crate::snapshot::GnssView) -> Option<String> {
    let mut parts = Vec::new();
    if g.labels_refused > 0 {
        parts.push(format!("{} naming another second", g.labels_refused));
    }
    if g.labels_refused_by_network > 0 {
        parts.push(format!("{} the network contradicted", g.labels_refused_by_network));
    }
    if g.second_changes_refused > 0 {
        parts.push(format!(
            "{} sustained change(s) of the second not adopted (restart to adopt)",
            g.second_changes_refused
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// What the page shows for a value nothing has measured yet.
const UNKNOWN: &str = "—";

fn ns(v: f64) -> String {
    if !v.is_finite() {
        "unknown".into()
    } else if v.abs() >= 1e6 {
        format!("{:.3} ms", v / 1e6)
    } else if v.abs() >= 1e3 {
        format!("{:.3} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

fn signed_ns(v: f64) -> String {
    if v.is_finite() && v >= 0.0 {
        format!("+{}", ns(v))
    } else {
        ns(v)
    }
}

fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ => format!("{} d {} h", s / 86_400, s / 3600 % 24),
    }
}

fn date(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_well() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_782_604_800), "2026-06-28");
        assert_eq!(duration(3725), "1 h 2 min");
        assert_eq!(signed_ns(229.4), "+229 ns");
        assert_eq!(ns(13_593.0), "13.593 µs");
        assert_eq!(ns(f64::INFINITY), "unknown");
    }

    #[test]
    fn before_lock_the_dispersion_is_unbounded_and_the_jitter_unknown() {
        let mut s = crate::snapshot::example();
        s.server.root_dispersion_us = 65_535_999_984.741;
        s.clock.samples_used = 0;
        let html = render(&s);
        assert!(!html.contains("65535999984") && html.contains("unbounded"), "{html}");
        assert!(html.contains(r#"<dd data-k="Jitter">—</dd>"#), "{html}");
    }
}

#[cfg(test)]
mod page_tests {
    use crate::snapshot::example;

    #[test]
    fn the_page_shows_state_time_gnss_traffic_tls_and_plots() {
        let html = super::render(&example());
        for expected in [
            "LOCKED",
            "+229 ns",
            "3D",
            "8 used / 9 in view",
            "NTS-KE handshakes",
            "CN=localhost",
            "AB:CD",
            "<svg",
            "expires in 10 days",
        ] {
            assert!(html.contains(expected), "{expected} missing");
        }
        let mut lost = example();
        lost.gnss = None;
        lost.nts = None;
        lost.history.clear();
        let html = super::render(&lost);
        assert!(html.contains("none configured") && html.contains("Nothing to plot yet"));
    }

    #[test]
    fn the_antenna_is_shown_when_the_receiver_reports_it_with_what_to_do() {
        let mut s = example();
        assert!(super::render(&s).contains("Antenna"));
        if let Some(g) = s.gnss.as_mut() {
            g.antenna = Some("short".into());
        }
        assert!(super::render(&s).contains("short circuit: check the antenna cable"));
        if let Some(g) = s.gnss.as_mut() {
            g.antenna = None;
        }
        assert!(!super::render(&s).contains("Antenna"));
    }

    #[test]
    fn refused_labels_are_shown_only_when_there_are_some() {
        let mut s = example();
        assert!(!super::render(&s).contains("Labels refused"));
        if let Some(g) = s.gnss.as_mut() {
            g.labels_refused_by_network = 12;
            g.second_changes_refused = 1;
        }
        let html = super::render(&s);
        assert!(html.contains("12 the network contradicted"), "{html}");
        assert!(html.contains("1 sustained change(s) of the second not adopted"), "{html}");
    }

    #[test]
    fn the_sources_card_shows_each_source_and_a_disagreeing_receiver() {
        let html = super::render(&example());
        assert!(html.contains("* nts.netnod.se") && html.contains("stratum 1, NTS"), "{html}");
        assert!(!html.contains("not followed"));
        let mut spoofed = example();
        spoofed.integrity.state = "gnss-disagrees".into();
        spoofed.integrity.disagreement_ns = Some(1e9);
        let html = super::render(&spoofed);
        assert!(html.contains("it is not followed"), "{html}");
        assert!(html.contains("receiver -1000.000 ms from network time"), "{html}");
    }

    #[test]
    fn events_are_listed_newest_first_and_mark_the_plots() {
        let mut s = example();
        s.events.push(crate::snapshot::EventView {
            time_unix_ms: 1_800_000_000_000 - 60_000,
            level: crate::snapshot::EventLevel::Warning,
            message: "holdover: no usable reference sample for 5 s".into(),
        });
        let html = super::render(&s);
        let (holdover, locked) =
            (html.find("holdover: no usable").unwrap(), html.find("locked: serving").unwrap());
        assert!(holdover < locked, "newest first");
        assert!(html.contains(r#"<li class="level-warning">"#), "{html}");
        assert!(html.contains(">holdover</text>"), "a marker on the plot");
        s.events.clear();
        assert!(super::render(&s).contains("Nothing has happened yet"));
    }

    #[test]
    fn a_root_daemon_capability_list_is_one_short_line() {
        let mut s = example();
        s.process.capabilities = (0..41).map(|i| format!("CAP_{i}")).collect();
        let html = super::render(&s);
        assert!(
            html.contains("all 41 capabilities: run it as its own user") && !html.contains("CAP_7"),
            "{html}"
        );
    }

    #[test]
    fn the_day_plots_wait_for_more_than_an_hour_of_history() {
        let s = example();
        let html = super::render(&s);
        assert!(html.contains("last hour") && !html.contains("last day"), "two minutes kept");
        let mut long = example();
        for p in long.history.iter_mut() {
            p.unix_s -= 7200;
        }
        long.history.push(crate::snapshot::HistoryPoint { unix_s: 1_800_000_000, ..long.history[0] });
        assert!(super::render(&long).contains("Offset ± error bound, last day"));
    }

    #[test]
    fn satellites_get_a_sky_plot_and_a_scale() {
        let html = super::render(&example());
        assert!(html.contains(r#"class="sky""#) && html.contains("dB-Hz</text>"), "{html}");
    }
}
