//! `stratum1ctl status | gnss | serverstats | nts`: the daemon's status as text, in the spirit
//! of `chronyc tracking`, `sources`, `serverstats` and `authdata`. Pure: snapshot in, text out.

use std::fmt::Write;

use stratum1_web::StatusSnapshot;

pub fn status(s: &StatusSnapshot) -> String {
    let c = &s.clock;
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<20}: {v}");
    };
    line("State", s.state.label().to_owned());
    if let Some(reason) = &s.state_reason {
        line("Reason", reason.clone());
    }
    line("Reference ID", s.server.reference_id.clone());
    line("Stratum", s.server.stratum.to_string());
    line("Ref time (UTC)", s.server.reference_time_unix_ms.map_or("never".into(), utc));
    line("Clock", format!("{} ({})", c.lock_state, c.mode));
    line("Offset", c.offset_ns.map_or("unknown".into(), |v| format!("{:+.9} seconds", v / 1e9)));
    line("RMS offset", s.rms_offset_ns(3600).map_or("unknown".into(), |v| format!("{:.9} seconds", v / 1e9)));
    line("Frequency", format!("{:+.3} ppm", c.frequency_ppb / 1e3));
    line("Skew", c.skew_ppb.map_or("unknown".into(), |v| format!("{:.3} ppm", v / 1e3)));
    line("Jitter", c.measured_jitter_ns().map_or("unknown".into(), |j| format!("{:.9} seconds", j / 1e9)));
    line("Error bound", c.error_bound_ns.map_or("unknown".into(), |v| format!("{:.9} seconds", v / 1e9)));
    line("Root delay", format!("{:.9} seconds", s.server.root_delay_us / 1e6));
    line(
        "Root dispersion",
        s.server
            .bounded_root_dispersion_us()
            .map_or("unbounded (the NTP maximum: do not use)".into(), |d| format!("{:.9} seconds", d / 1e6)),
    );
    line("Update interval", c.update_interval_s.map_or("none used".into(), |i| format!("{i:.1} seconds")));
    line("Last sample", c.last_sample_age_s.map_or("none".into(), |a| format!("{a:.1} seconds ago")));
    line("Steps", c.steps.to_string());
    line("Leap status", format!("{} ({})", s.server.leap, c.leap_list));
    if let Some(e) = c.simulated_true_error_ns {
        line("Simulated true err", format!("{:+.9} seconds", e / 1e9));
    }
    line("Uptime", format!("{} seconds", s.uptime_s));
    line("Version", s.version.clone());
    out
}

/// `Wed Dec 02 05:10:00.123 2026`, chronyc's reference time with milliseconds.
fn utc(unix_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms).map_or_else(
        || format!("{unix_ms} ms since 1970"),
        |t| t.format("%a %b %d %H:%M:%S%.3f %Y").to_string(),
    )
}

/// `stratum1ctl events`: the last transitions and warnings, oldest first, one per line.
pub fn events(s: &StatusSnapshot) -> String {
    if s.events.is_empty() {
        return "No events yet.\n".to_owned();
    }
    let mut out = String::new();
    for e in &s.events {
        let _ = writeln!(out, "{}  {:<7}  {}", utc(e.time_unix_ms), e.level.name(), e.message);
    }
    out
}

/// Like `chronyc sources`: one line per upstream, then the integrity verdict. `*` selected,
/// `-` reachable but not selected (a falseticker, or not trusted), `?` unreachable.
pub fn sources(s: &StatusSnapshot) -> String {
    let mut out = String::new();
    if s.sources.is_empty() {
        out.push_str("No upstream sources configured ([[source]]): the receiver is not checked.\n");
    } else {
        let _ = writeln!(
            out,
            "  {:<32} {:<6} {:>2} {:>4} {:>12} {:>10} {:>11}  Note",
            "Address", "Mode", "St", "Reach", "Offset", "Delay", "Distance"
        );
        for v in &s.sources {
            let mark = if v.selected {
                '*'
            } else if v.reachable {
                '-'
            } else {
                '?'
            };
            let signed = |ns: Option<f64>| ns.map_or("-".to_owned(), format_seconds);
            let time =
                |ns: Option<f64>| ns.map_or("-".to_owned(), |v| format_seconds(v).replacen('+', "", 1));
            let mut note: Vec<String> = Vec::new();
            if v.authenticated {
                note.push("authenticated".into());
            }
            if !v.trusted {
                note.push("not trusted".into());
            }
            let bad: u64 = v.bad_answers.iter().map(|(_, n)| n).sum();
            if bad > 0 {
                note.push(format!("{bad} bad answers"));
            }
            if let Some(e) = &v.last_error {
                note.push(e.clone());
            }
            let _ = writeln!(
                out,
                "{mark} {:<32} {:<6} {:>2} {:>4o} {:>12} {:>10} {:>11}  {}",
                v.address,
                v.mode,
                v.stratum.map_or("-".to_owned(), |n| n.to_string()),
                v.reach,
                signed(v.offset_ns),
                time(v.delay_ns),
                time(v.root_distance_ns),
                note.join(", ")
            );
        }
    }
    let i = &s.integrity;
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<20}: {}", "Integrity", i.state);
    if let (Some(d), Some(a)) = (i.disagreement_ns, i.allowance_ns) {
        let _ = writeln!(
            out,
            "{:<20}: network {} from the receiver (allowed {})",
            "Last comparison",
            format_seconds(d),
            format_seconds(a).replacen('+', "", 1)
        );
    }
    if let (Some(o), Some(b)) = (i.network_offset_ns, i.network_bound_ns) {
        let _ = writeln!(
            out,
            "{:<20}: {} +/- {} ({} selected)",
            "Network offset",
            format_seconds(o),
            format_seconds(b).replacen('+', "", 1),
            i.sources_selected
        );
    }
    out
}

/// A duration in the unit that reads best: ns, us, ms or s.
fn format_seconds(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{ns:+.0}ns")
    } else if a < 1e6 {
        format!("{:+.1}us", ns / 1e3)
    } else if a < 1e9 {
        format!("{:+.3}ms", ns / 1e6)
    } else {
        format!("{:+.3}s", ns / 1e9)
    }
}

pub fn gnss(s: &StatusSnapshot) -> String {
    let Some(g) = &s.gnss else {
        return "No receiver configured ([refclock] kind = \"none\").\n".to_owned();
    };
    let mut out = String::new();
    let _ = writeln!(out, "{:<20}: {}", "Serial", g.serial);
    let _ = writeln!(out, "{:<20}: {}", "PPS", g.pps.as_deref().unwrap_or("not configured"));
    if let Some(age) = g.pps_last_edge_age_s {
        let _ = writeln!(out, "{:<20}: {age:.1} seconds ago", "Last sample");
    }
    let _ = writeln!(out, "{:<20}: {}{}", "Fix", g.fix_mode, if g.fix_valid { "" } else { " (not valid)" });
    let _ = writeln!(out, "{:<20}: {}", "GNSS time", g.time.as_deref().unwrap_or("unknown"));
    if let Some(antenna) = g.antenna_text() {
        let _ = writeln!(out, "{:<20}: {antenna}", "Antenna");
    }
    if let Some(text) = g.date_text() {
        let _ = writeln!(out, "{:<20}: {text}", "Date");
    }
    let used = g.satellites_used.map_or("?".to_owned(), |n| n.to_string());
    let _ = writeln!(out, "{:<20}: {used} used / {} in view", "Satellites", g.satellites_in_view);
    let _ = writeln!(out, "{:<20}: {}", "HDOP", g.hdop.map_or("-".to_owned(), |h| format!("{h:.1}")));
    if let Some(p) = &g.position {
        let _ = writeln!(
            out,
            "{:<20}: {:.5} {:.5} {}",
            "Position",
            p.latitude_deg,
            p.longitude_deg,
            p.altitude_m.map_or(String::new(), |a| format!("{a:.0} m"))
        );
    }
    let _ = writeln!(out, "{:<20}: {}", "Paired to PPS", g.paired_text());
    let _ = writeln!(out, "{:<20}: {} ms", "NMEA delay", g.nmea_delay_ms);
    if let Some(text) = stratum1_web::page::refused_labels(g) {
        let _ = writeln!(out, "{:<20}: {text}", "Labels refused");
    }
    if !g.signals.is_empty() {
        let _ = writeln!(out, "\nSystem    PRN  SNR dB-Hz");
        for sig in &g.signals {
            let snr = sig.snr_db.map_or("-".to_owned(), |v| v.to_string());
            let _ = writeln!(
                out,
                "{:<8} {:>4}  {snr:>4} {}",
                sig.system,
                sig.prn,
                "#".repeat(sig.snr_db.unwrap_or(0) as usize / 5)
            );
        }
    }
    out
}

pub fn serverstats(s: &StatusSnapshot) -> String {
    let n = &s.ntp;
    let mut out = String::new();
    let _ = writeln!(out, "{:<26}: {}", "NTP packets received", n.received);
    let _ = writeln!(out, "{:<26}: {}", "NTP packets answered", n.answered);
    let _ = writeln!(out, "{:<26}: {}", "  of which NTS", n.nts_answered);
    let _ = writeln!(out, "{:<26}: {}", "Kiss-o'-death RATE", n.kiss_of_death_rate);
    let _ = writeln!(out, "{:<26}: {}", "Kiss-o'-death NTSN", n.kiss_of_death_ntsn);
    for (reason, count) in &n.dropped {
        let _ = writeln!(out, "{:<26}: {count}", format!("Dropped: {}", reason.replace('_', " ")));
    }
    let versions: Vec<String> =
        n.by_version.iter().enumerate().filter(|(_, c)| **c > 0).map(|(v, c)| format!("v{v} {c}")).collect();
    let _ = writeln!(
        out,
        "{:<26}: {}",
        "By version",
        if versions.is_empty() { "-".to_owned() } else { versions.join(", ") }
    );
    out
}

pub fn nts(s: &StatusSnapshot) -> String {
    let Some(n) = &s.nts else {
        return "NTS is not enabled ([nts] enabled = false).\n".to_owned();
    };
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<26}: {v}");
    };
    line("NTS-KE accepted", n.ke_accepted.to_string());
    line("NTS-KE refused (error)", n.ke_refused.to_string());
    line("NTS-KE no common AEAD", n.ke_no_common_algorithm.to_string());
    line("NTS-KE handshake failed", n.ke_handshake_failed.to_string());
    line("NTS-KE timed out", n.ke_timed_out.to_string());
    line("NTS-KE over capacity", n.ke_over_capacity.to_string());
    line("NTS-KE evicted", n.ke_evicted.to_string());
    line("NTS answers", s.ntp.nts_answered.to_string());
    line("NTSN sent", s.ntp.kiss_of_death_ntsn.to_string());
    line(
        "Cookie key",
        format!("#{} (rotates every {} s, {} kept)", n.current_key_id, n.key_rotation_s, n.keys_kept),
    );
    if let Some(c) = &n.certificate {
        let now = s.generated_unix_ms.div_euclid(1000);
        line("Certificate subject", c.subject.clone());
        line("Certificate issuer", c.issuer.clone());
        line("Certificate expires", format!("in {} days", c.days_left(now)));
        line("SHA-256 fingerprint", c.sha256_fingerprint.clone());
    }
    if let Some(c) = &n.issuer_certificate {
        line("CA SHA-256 (pin this)", c.sha256_fingerprint.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_like_chronyc() {
        let text = sources(&stratum1_web::snapshot::example());
        assert!(text.contains("* nts.netnod.se"), "{text}");
        assert!(text.contains("377"), "reach in octal: {text}");
        assert!(text.contains("-41.0us"), "{text}");
        assert!(text.contains("Integrity           : consistent"), "{text}");
        let mut none = stratum1_web::snapshot::example();
        none.sources.clear();
        none.integrity = Default::default();
        assert!(sources(&none).contains("No upstream sources configured"));
        assert!(sources(&none).contains("unchecked"));
    }
    use stratum1_web::snapshot::example;

    /// Every `label: value` line of a view has its colon in the view's column.
    fn colons_line_up(text: &str, column: usize) {
        for l in text.lines().filter(|l| l.contains(": ")) {
            assert_eq!(l.get(column..column + 2), Some(": "), "label out of line:\n{l}\nin\n{text}");
        }
    }

    #[test]
    fn labels_line_up_in_every_view() {
        let mut s = example();
        s.state_reason = Some("holdover: no usable reference sample for 12 s".into());
        for (view, column) in
            [(status as fn(&StatusSnapshot) -> String, 20), (gnss, 20), (serverstats, 26), (nts, 26)]
        {
            colons_line_up(&view(&s), column);
        }
    }

    #[test]
    fn status_has_what_chronyc_tracking_users_look_for() {
        let text = status(&example());
        for field in [
            "Ref time (UTC)      : Fri Jan 15 07:59:59.600 2027",
            "RMS offset          : 0.000000005",
            "Root delay          : 0.000000000",
            "Update interval     : 1.0 seconds",
        ] {
            assert!(text.contains(field), "{field} in\n{text}");
        }
        let mut fresh = example();
        fresh.server.reference_time_unix_ms = None;
        fresh.history.clear();
        fresh.clock.update_interval_s = None;
        fresh.server.root_dispersion_us = 65_535_999_984.741;
        fresh.clock.samples_used = 0;
        let text = status(&fresh);
        assert!(text.contains("never") && text.contains("RMS offset          : unknown"), "{text}");
        assert!(text.contains("Jitter              : unknown"), "{text}");
        assert!(text.contains("Root dispersion     : unbounded (the NTP maximum: do not use)"), "{text}");
    }

    #[test]
    fn a_pairing_without_samples_says_for_how_long() {
        let mut s = example();
        let g = s.gnss.as_mut().unwrap();
        g.pps_last_edge_age_s = Some(618.0);
        let text = gnss(&s);
        assert!(text.contains("Paired to PPS       : yes, but no sample for 618 s"), "{text}");
        assert!(text.contains("Last sample         : 618.0 seconds ago"), "{text}");
    }

    #[test]
    fn events_list_oldest_first_with_level() {
        let text = events(&example());
        assert_eq!(
            text,
            "Fri Jan 15 07:00:00.000 2027  info     locked: serving stratum 1 (PPS) after 41 s\n"
        );
        let mut none = example();
        none.events.clear();
        assert_eq!(events(&none), "No events yet.\n");
    }

    #[test]
    fn views_show_what_an_operator_looks_for() {
        let s = example();
        let text = status(&s);
        assert!(
            text.contains("State               : LOCKED") && text.contains("+0.000000229 seconds"),
            "{text}"
        );
        assert!(
            gnss(&s).contains("8 used / 9 in view") && gnss(&s).contains("GPS         5"),
            "{}",
            gnss(&s)
        );
        assert!(serverstats(&s).contains("Dropped: malformed") && serverstats(&s).contains("v4 990"));
        assert!(nts(&s).contains("in 10 days") && nts(&s).contains("NTS-KE accepted           : 12"));
        let mut off = s.clone();
        off.nts = None;
        off.gnss = None;
        assert!(nts(&off).contains("not enabled") && gnss(&off).contains("No receiver"));
    }
}
