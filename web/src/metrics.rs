//! `/metrics`: the snapshot as OpenMetrics families, with base units (seconds, ratios) and
//! HELP lines, named `stratum1_*`.

use crate::metrics_text::{encode_openmetrics, MetricFamily, MetricKind};
use crate::snapshot::{OverallState, StatusSnapshot};

pub fn render(s: &StatusSnapshot) -> String {
    let gauge = |name, help, value: f64| MetricFamily {
        name,
        help,
        kind: MetricKind::Gauge,
        samples: vec![(vec![], value)],
    };
    // Unknown is no sample at all: a made-up number would trip alerts or hide a fault.
    let known_gauge = |name, help, value: Option<f64>| MetricFamily {
        name,
        help,
        kind: MetricKind::Gauge,
        samples: value.map(|v| (vec![], v)).into_iter().collect(),
    };
    let counter = |name, help, value: u64| MetricFamily {
        name,
        help,
        kind: MetricKind::Counter,
        samples: vec![(vec![], value as f64)],
    };
    let mut families = vec![
        MetricFamily {
            name: "stratum1_build_info",
            help: "Version of the running stratum1d.",
            kind: MetricKind::Gauge,
            samples: vec![(vec![("version", s.version.as_str())], 1.0)],
        },
        gauge("stratum1_uptime_seconds", "Seconds since stratum1d started.", s.uptime_s as f64),
        MetricFamily {
            name: "stratum1_state",
            help: "Overall state: 1 for the current one (LOCKED, HOLDOVER, NO_FIX, NETWORK, UNSYNCHRONISED).",
            kind: MetricKind::Gauge,
            samples: [
                OverallState::Locked,
                OverallState::Holdover,
                OverallState::NoFix,
                OverallState::Network,
                OverallState::Unsynchronised,
            ]
            .into_iter()
            .map(|state| (vec![("state", state_name(state))], f64::from(u8::from(s.state == state))))
            .collect(),
        },
        gauge(
            "stratum1_server_stratum",
            "Stratum announced to NTP clients (16: unsynchronised).",
            f64::from(s.server.stratum),
        ),
        gauge(
            "stratum1_server_root_dispersion_seconds",
            "Root dispersion announced to NTP clients.",
            s.server.root_dispersion_us * 1e-6,
        ),
        known_gauge(
            "stratum1_clock_offset_seconds",
            "Estimated clock offset from the reference (absent while nothing is measured).",
            s.clock.offset_ns.map(|v| v * 1e-9),
        ),
        gauge(
            "stratum1_clock_frequency_offset_ratio",
            "Estimated frequency error of the oscillator (1e-6 = 1 ppm).",
            s.clock.frequency_ppb * 1e-9,
        ),
        gauge(
            "stratum1_clock_jitter_seconds",
            "Standard deviation of one PPS sample.",
            s.clock.jitter_ns * 1e-9,
        ),
        known_gauge(
            "stratum1_clock_error_bound_seconds",
            "Bound on the clock's error that the server announces (absent while unbounded).",
            s.clock.error_bound_ns.filter(|v| v.is_finite()).map(|v| v * 1e-9),
        ),
        counter("stratum1_clock_steps", "Steps of the clock since start.", s.clock.steps),
        counter(
            "stratum1_clock_samples_accepted",
            "Reference samples used by the discipline.",
            s.clock.samples_used,
        ),
        counter(
            "stratum1_clock_samples_rejected",
            "Reference samples rejected as outliers.",
            s.clock.samples_rejected,
        ),
        counter("stratum1_ntp_requests", "NTP datagrams received.", s.ntp.received),
        counter(
            "stratum1_ntp_requests_af_xdp",
            "NTP datagrams received through the AF_XDP fast path (included in stratum1_ntp_requests).",
            s.ntp.received_af_xdp,
        ),
        MetricFamily {
            name: "stratum1_ntp_responses",
            help: "NTP responses sent, by authentication.",
            kind: MetricKind::Counter,
            samples: vec![
                (vec![("auth", "none")], s.ntp.answered.saturating_sub(s.ntp.nts_answered) as f64),
                (vec![("auth", "nts")], s.ntp.nts_answered as f64),
            ],
        },
        MetricFamily {
            name: "stratum1_ntp_kiss_of_death",
            help: "Kiss-o'-death responses sent, by code.",
            kind: MetricKind::Counter,
            samples: vec![
                (vec![("code", "RATE")], s.ntp.kiss_of_death_rate as f64),
                (vec![("code", "NTSN")], s.ntp.kiss_of_death_ntsn as f64),
            ],
        },
        MetricFamily {
            name: "stratum1_ntp_dropped",
            help: "NTP datagrams dropped without an answer, by reason.",
            kind: MetricKind::Counter,
            samples: s
                .ntp
                .dropped
                .iter()
                .map(|(reason, n)| (vec![("reason", reason.as_str())], *n as f64))
                .collect(),
        },
    ];
    const VERSIONS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "7"];
    families.push(MetricFamily {
        name: "stratum1_ntp_requests_by_version",
        help: "NTP datagrams received, by the version field.",
        kind: MetricKind::Counter,
        samples: VERSIONS
            .iter()
            .zip(s.ntp.by_version)
            .map(|(v, n)| (vec![("version", *v)], n as f64))
            .collect(),
    });
    if let Some(g) = &s.gnss {
        families.push(gauge(
            "stratum1_gnss_satellites_used",
            "Satellites used in the fix.",
            f64::from(g.satellites_used.unwrap_or(0)),
        ));
        families.push(gauge(
            "stratum1_gnss_satellites_visible",
            "Satellites in view.",
            f64::from(g.satellites_in_view),
        ));
        families.push(gauge(
            "stratum1_gnss_fix_valid",
            "1 when the receiver reports a valid fix.",
            f64::from(u8::from(g.fix_valid)),
        ));
        families.push(gauge(
            "stratum1_gnss_pps_locked",
            "1 when samples pair PPS edges with NMEA labels.",
            f64::from(u8::from(g.locked)),
        ));
    }
    if let Some(n) = &s.nts {
        families.push(MetricFamily {
            name: "stratum1_nts_ke_connections",
            help: "NTS key-establishment connections, by outcome.",
            kind: MetricKind::Counter,
            samples: vec![
                (vec![("outcome", "accepted")], n.ke_accepted as f64),
                (vec![("outcome", "refused")], n.ke_refused as f64),
                (vec![("outcome", "no_common_algorithm")], n.ke_no_common_algorithm as f64),
                (vec![("outcome", "handshake_failed")], n.ke_handshake_failed as f64),
                (vec![("outcome", "timed_out")], n.ke_timed_out as f64),
                (vec![("outcome", "over_capacity")], n.ke_over_capacity as f64),
                (vec![("outcome", "evicted")], n.ke_evicted as f64),
            ],
        });
        if let Some(c) = &n.certificate {
            families.push(gauge(
                "stratum1_nts_certificate_expiry_timestamp_seconds",
                "When the served TLS certificate expires (Unix time).",
                c.not_after_unix as f64,
            ));
        }
    }
    families.extend(source_families(s));
    encode_openmetrics(&families)
}

/// Families for the upstream sources and the integrity guard.
fn source_families(s: &StatusSnapshot) -> Vec<MetricFamily<'_>> {
    let per_source =
        |name, help, kind, value: &dyn Fn(&crate::snapshot::SourceView) -> Option<f64>| MetricFamily {
            name,
            help,
            kind,
            samples: s
                .sources
                .iter()
                .filter_map(|v| {
                    value(v).map(|x| (vec![("address", v.address.as_str()), ("mode", v.mode.as_str())], x))
                })
                .collect(),
        };
    let i = &s.integrity;
    let mut families = vec![
        MetricFamily {
            name: "stratum1_integrity_state",
            help: "Whether the receiver agrees with authenticated network time: 1 for the current state.",
            kind: MetricKind::Gauge,
            samples: ["consistent", "gnss-disagrees", "unchecked"]
                .into_iter()
                .map(|state| (vec![("state", state)], f64::from(u8::from(i.state == state))))
                .collect(),
        },
        MetricFamily {
            name: "stratum1_integrity_receiver_samples_unfollowed",
            help: "Receiver samples kept from the discipline while the receiver was distrusted.",
            kind: MetricKind::Counter,
            samples: vec![(vec![], i.samples_unfollowed as f64)],
        },
    ];
    if let (Some(d), Some(a)) = (i.disagreement_ns, i.allowance_ns) {
        families.push(MetricFamily {
            name: "stratum1_integrity_disagreement_seconds",
            help: "Network time minus the receiver's time at the last comparison.",
            kind: MetricKind::Gauge,
            samples: vec![(vec![], d * 1e-9)],
        });
        families.push(MetricFamily {
            name: "stratum1_integrity_allowance_seconds",
            help: "How far the receiver may be from network time before it is distrusted.",
            kind: MetricKind::Gauge,
            samples: vec![(vec![], a * 1e-9)],
        });
    }
    if !s.sources.is_empty() {
        families.extend([
            per_source(
                "stratum1_source_reachable",
                "1 when the source answered within its last eight polls.",
                MetricKind::Gauge,
                &|v| Some(f64::from(u8::from(v.reachable))),
            ),
            per_source(
                "stratum1_source_selected",
                "1 when the source is part of the network estimate.",
                MetricKind::Gauge,
                &|v| Some(f64::from(u8::from(v.selected))),
            ),
            per_source(
                "stratum1_source_offset_seconds",
                "Our clock minus the source's.",
                MetricKind::Gauge,
                &|v| v.offset_ns.map(|x| x * 1e-9),
            ),
            per_source(
                "stratum1_source_delay_seconds",
                "Round-trip delay to the source.",
                MetricKind::Gauge,
                &|v| v.delay_ns.map(|x| x * 1e-9),
            ),
            per_source(
                "stratum1_source_root_distance_seconds",
                "The source's root distance as we see it.",
                MetricKind::Gauge,
                &|v| v.root_distance_ns.map(|x| x * 1e-9),
            ),
            per_source("stratum1_source_polls", "Requests sent to the source.", MetricKind::Counter, &|v| {
                Some(v.polls as f64)
            }),
        ]);
        families.push(MetricFamily {
            name: "stratum1_source_bad_answers",
            help: "Answers from the source that were not used, by reason.",
            kind: MetricKind::Counter,
            samples: s
                .sources
                .iter()
                .flat_map(|v| {
                    v.bad_answers.iter().map(move |(reason, n)| {
                        (vec![("address", v.address.as_str()), ("reason", reason.as_str())], *n as f64)
                    })
                })
                .collect(),
        });
    }
    families
}

fn state_name(state: OverallState) -> &'static str {
    match state {
        OverallState::Locked => "LOCKED",
        OverallState::Holdover => "HOLDOVER",
        OverallState::NoFix => "NO_FIX",
        OverallState::Network => "NETWORK",
        OverallState::Unsynchronised => "UNSYNCHRONISED",
    }
}

#[cfg(test)]
mod tests {
    use crate::snapshot::example;

    #[test]
    fn families_have_help_units_and_values() {
        let text = super::render(&example());
        for line in [
            "stratum1_server_stratum 1",
            "stratum1_state{state=\"LOCKED\"} 1",
            "stratum1_state{state=\"HOLDOVER\"} 0",
            "stratum1_clock_offset_seconds 0.000000229",
            "stratum1_ntp_responses_total{auth=\"nts\"} 500",
            "stratum1_ntp_kiss_of_death_total{code=\"NTSN\"} 1",
            "stratum1_nts_ke_connections_total{outcome=\"accepted\"} 12",
            "# HELP stratum1_clock_frequency_offset_ratio",
        ] {
            assert!(text.contains(line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn unknown_values_have_no_sample() {
        let mut s = example();
        s.clock.offset_ns = None;
        s.clock.error_bound_ns = None;
        let text = super::render(&s);
        assert!(text.contains("# HELP stratum1_clock_error_bound_seconds "), "{text}");
        assert!(!text.contains("\nstratum1_clock_error_bound_seconds "), "{text}");
        assert!(!text.contains("\nstratum1_clock_offset_seconds "), "{text}");
    }
}
