//! The Prometheus/OpenMetrics text encoding that `/metrics` serves.

use std::fmt::Write;

/// One metric family: a name, its HELP text, its type and labelled samples.
pub struct MetricFamily<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub kind: MetricKind,
    pub samples: Vec<(Vec<(&'a str, &'a str)>, f64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
}

/// Encodes families in the OpenMetrics text format (counters get their `_total` suffix).
pub fn encode_openmetrics(families: &[MetricFamily<'_>]) -> String {
    let mut out = String::new();
    for f in families {
        let (kind, suffix) = match f.kind {
            MetricKind::Counter => ("counter", "_total"),
            MetricKind::Gauge => ("gauge", ""),
        };
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        let _ = writeln!(out, "# HELP {} {}", f.name, escape(f.help, false));
        for (labels, value) in &f.samples {
            let _ = write!(out, "{}{suffix}", f.name);
            if !labels.is_empty() {
                let body: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v, true))).collect();
                let _ = write!(out, "{{{}}}", body.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
    out.push_str("# EOF\n");
    out
}

fn escape(text: &str, quotes: bool) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '"' if quotes => s.push_str("\\\""),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_encode() {
        let text = encode_openmetrics(&[
            MetricFamily {
                name: "ntp_requests_dropped",
                help: "Requests dropped, by reason.",
                kind: MetricKind::Counter,
                samples: vec![(vec![("reason", "rate_limited")], 3.0), (vec![("reason", "a\"b")], 0.0)],
            },
            MetricFamily {
                name: "ntp_stratum",
                help: "Announced stratum.",
                kind: MetricKind::Gauge,
                samples: vec![(vec![], 16.0)],
            },
        ]);
        assert_eq!(
            text,
            "# TYPE ntp_requests_dropped counter\n# HELP ntp_requests_dropped Requests dropped, by reason.\n\
             ntp_requests_dropped_total{reason=\"rate_limited\"} 3\nntp_requests_dropped_total{reason=\"a\\\"b\"} 0\n\
             # TYPE ntp_stratum gauge\n# HELP ntp_stratum Announced stratum.\nntp_stratum 16\n# EOF\n"
        );
    }
}
