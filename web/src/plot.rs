//! Small SVG line plots, drawn on the server so the page needs no chart library (and works with
//! JavaScript off): a time axis in UTC, a value axis with round ticks, a zero line, the error
//! bound as a band around the line (so holdover shows as a widening band, not a calm line), and
//! a marker for each step, lock, holdover and relock.

use std::fmt::Write;

use crate::snapshot::HistoryPoint;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 180.0;
const MARGIN_LEFT: f64 = 92.0;
const MARGIN_RIGHT: f64 = 8.0;
const MARGIN_TOP: f64 = 8.0;
const MARGIN_BOTTOM: f64 = 24.0;
/// Points drawn at most; longer series are thinned evenly.
const MAX_POINTS: usize = 600;

/// A vertical line at an instant, labelled (`step`, `lock`, `holdover`, `relock`).
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub unix_s: i64,
    pub label: &'static str,
}

pub struct Plot<'a> {
    pub title: &'a str,
    pub since_unix: i64,
    /// The value to draw, in its base unit (ns or ppb).
    pub value: fn(&HistoryPoint) -> f64,
    /// Half-width of the band around the value (the error bound), same unit.
    pub band: Option<fn(&HistoryPoint) -> Option<f64>>,
    /// `time` (values in ns) or `frequency` (values in ppb): picks the axis unit.
    pub quantity: Quantity,
    pub markers: &'a [Marker],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Time,
    Frequency,
}

impl Quantity {
    /// The unit that reads best for values up to `magnitude` (base units), and its divisor.
    fn unit(self, magnitude: f64) -> (&'static str, f64) {
        match self {
            Quantity::Time if magnitude >= 1e6 => ("ms", 1e6),
            Quantity::Time if magnitude >= 1e3 => ("µs", 1e3),
            Quantity::Time => ("ns", 1.0),
            Quantity::Frequency if magnitude >= 1e3 => ("ppm", 1e3),
            Quantity::Frequency => ("ppb", 1.0),
        }
    }
}

/// Round tick values covering `lo..=hi`, three to six of them.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step =
        [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(magnitude * 10.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn label(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_owned()
    }
}

fn hhmm(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%H:%M").to_string())
}

impl Plot<'_> {
    /// The SVG, or `None` when fewer than two points are in range.
    pub fn svg(&self, points: &[HistoryPoint]) -> Option<String> {
        let value = self.value;
        let shown: Vec<&HistoryPoint> =
            points.iter().filter(|p| p.unix_s >= self.since_unix && value(p).is_finite()).collect();
        if shown.len() < 2 {
            return None;
        }
        let step = shown.len().div_ceil(MAX_POINTS);
        let shown: Vec<&HistoryPoint> = shown.into_iter().step_by(step).collect();
        let (t0, t1) = (shown.first()?.unix_s, shown.last()?.unix_s.max(shown.first()?.unix_s + 1));
        let band = |p: &HistoryPoint| self.band.and_then(|b| b(p)).filter(|b| b.is_finite());
        let (mut lo, mut hi) = shown.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            let (v, b) = (value(p), band(p).unwrap_or(0.0));
            (lo.min(v - b), hi.max(v + b))
        });
        if hi - lo < 1e-9 {
            lo -= 0.5;
            hi += 0.5;
        }
        let pad = (hi - lo) * 0.05;
        let (lo, hi) = (lo - pad, hi + pad);
        let (unit, divisor) = self.quantity.unit(lo.abs().max(hi.abs()));
        let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
        let bottom = HEIGHT - MARGIN_BOTTOM;
        let x = |t: i64| MARGIN_LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
        let y = |v: f64| MARGIN_TOP + (hi - v) / (hi - lo) * (bottom - MARGIN_TOP);

        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#,
            title = self.title
        );
        if shown.iter().any(|p| band(p).is_some()) {
            let upper = shown.iter().map(|p| (x(p.unix_s), y(value(p) + band(p).unwrap_or(0.0))));
            let lower = shown.iter().rev().map(|p| (x(p.unix_s), y(value(p) - band(p).unwrap_or(0.0))));
            let mut d = String::new();
            for (i, (px, py)) in upper.chain(lower).enumerate() {
                let _ = write!(d, "{}{px:.1},{py:.1}", if i == 0 { "M" } else { " L" });
            }
            let _ = write!(out, r#"<path d="{d} Z" class="band"><title>error bound</title></path>"#);
        }
        for v in ticks(lo, hi) {
            let _ = write!(
                out,
                r#"<line x1="{MARGIN_LEFT}" y1="{py:.1}" x2="{x2}" y2="{py:.1}" class="grid"/><text x="{tx}" y="{ty:.1}" class="tick end">{} {unit}</text>"#,
                label(v / divisor),
                py = y(v),
                x2 = WIDTH - MARGIN_RIGHT,
                tx = MARGIN_LEFT - 4.0,
                ty = y(v) + 5.0,
            );
        }
        if lo < 0.0 && hi > 0.0 {
            let _ = write!(
                out,
                r#"<line x1="{MARGIN_LEFT}" y1="{py:.1}" x2="{x2}" y2="{py:.1}" class="zero"/>"#,
                py = y(0.0),
                x2 = WIDTH - MARGIN_RIGHT
            );
        }
        let _ = write!(
            out,
            r#"<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" y2="{bottom}" class="axis"/><line x1="{MARGIN_LEFT}" y1="{bottom}" x2="{x2}" y2="{bottom}" class="axis"/>"#,
            x2 = WIDTH - MARGIN_RIGHT
        );
        for i in 0..=3 {
            let t = t0 + (t1 - t0) * i / 3;
            let anchor = match i {
                0 => "start",
                3 => "end",
                _ => "middle",
            };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{HEIGHT}" class="tick" text-anchor="{anchor}">{}</text>"#,
                x(t),
                hhmm(t)
            );
        }
        for m in self.markers.iter().filter(|m| m.unix_s >= t0 && m.unix_s <= t1) {
            let _ = write!(
                out,
                r#"<line x1="{px:.1}" y1="{MARGIN_TOP}" x2="{px:.1}" y2="{bottom}" class="marker {l}"/><text x="{tx:.1}" y="{ty}" class="mark">{l}</text>"#,
                px = x(m.unix_s),
                tx = x(m.unix_s) + 3.0,
                ty = MARGIN_TOP + 12.0,
                l = m.label
            );
        }
        let mut path = String::new();
        for (i, p) in shown.iter().enumerate() {
            let _ = write!(path, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(p.unix_s), y(value(p)));
        }
        let _ = write!(
            out,
            r#"<path d="{path}" class="line"/><text x="{WIDTH}" y="12" class="tick end">UTC</text></svg>"#
        );
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: i64) -> Vec<HistoryPoint> {
        (0..n)
            .map(|t| HistoryPoint {
                unix_s: 1000 + t,
                offset_ns: (t % 7) as f64 - 3.0,
                frequency_ppb: 5.0,
                error_bound_ns: Some(t as f64),
            })
            .collect()
    }

    fn offset(since_unix: i64, markers: &[Marker]) -> Plot<'_> {
        Plot {
            title: "offset",
            since_unix,
            value: |p| p.offset_ns,
            band: Some(|p| p.error_bound_ns),
            quantity: Quantity::Time,
            markers,
        }
    }

    #[test]
    fn draws_a_path_through_the_points_in_range_with_axes_zero_band_and_markers() {
        let markers = [Marker { unix_s: 1060, label: "holdover" }, Marker { unix_s: 10, label: "step" }];
        let plot = offset(1050, &markers).svg(&series(100)).unwrap();
        assert!(plot.starts_with("<svg") && plot.ends_with("</svg>"));
        let line = plot.rsplit(r#"<path d=""#).next().unwrap().split('"').next().unwrap();
        assert_eq!(line.matches(" L").count(), 49, "50 points from t=1050");
        assert!(plot.contains(r#"class="zero""#), "zero line: {plot}");
        assert!(plot.contains(r#"class="band""#), "error bound band");
        assert!(plot.contains(">holdover<") && !plot.contains(">step<"), "only markers in range: {plot}");
        assert!(plot.contains(">00:17<") && plot.contains(">00:18<"), "UTC time axis: {plot}");
        assert!(plot.contains(" ns</text>"), "value ticks with a unit: {plot}");
    }

    #[test]
    fn the_unit_follows_the_size_and_flat_series_are_still_drawn() {
        let mut big = series(100);
        for p in &mut big {
            p.error_bound_ns = Some(2e6);
        }
        assert!(offset(0, &[]).svg(&big).unwrap().contains(" ms</text>"));
        let frequency = Plot {
            title: "f",
            since_unix: 0,
            value: |p| p.frequency_ppb,
            band: None,
            quantity: Quantity::Frequency,
            markers: &[],
        };
        let plot = frequency.svg(&series(3600)).unwrap();
        assert!(plot.matches(" L").count() < MAX_POINTS);
        assert!(plot.contains(" ppb</text>") && !plot.contains("band"), "{plot}");
        assert!(frequency.svg(&series(1)).is_none());
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(-3.2, 6.1), [-2.0, 0.0, 2.0, 4.0, 6.0]);
        assert_eq!(ticks(0.0, 1000.0), [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]);
        assert_eq!(label(-0.0), "0");
        assert_eq!(label(2.5), "2.5");
    }
}
