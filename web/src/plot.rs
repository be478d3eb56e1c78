//! Small SVG line plots, drawn on the server so the page needs no chart library (and works with
//! JavaScript off).

use std::fmt::Write;

use crate::snapshot::HistoryPoint;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const MARGIN_LEFT: f64 = 96.0;
const MARGIN_BOTTOM: f64 = 20.0;
/// Points drawn at most; longer series are thinned evenly.
const MAX_POINTS: usize = 600;

/// A plot of `value` over the points newer than `since_unix`, with the y unit in the label.
/// `None` when there is nothing to draw.
pub fn svg(
    points: &[HistoryPoint],
    since_unix: i64,
    title: &str,
    unit: &str,
    value: impl Fn(&HistoryPoint) -> f64,
) -> Option<String> {
    let shown: Vec<&HistoryPoint> =
        points.iter().filter(|p| p.unix_s >= since_unix && value(p).is_finite()).collect();
    if shown.len() < 2 {
        return None;
    }
    let step = shown.len().div_ceil(MAX_POINTS);
    let shown: Vec<&HistoryPoint> = shown.into_iter().step_by(step).collect();
    let (t0, t1) = (shown.first()?.unix_s, shown.last()?.unix_s.max(shown.first()?.unix_s + 1));
    let (mut lo, mut hi) =
        shown.iter().map(|p| value(p)).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi - lo < 1e-9 {
        lo -= 0.5;
        hi += 0.5;
    }
    let x = |t: i64| MARGIN_LEFT + (t - t0) as f64 / (t1 - t0) as f64 * (WIDTH - MARGIN_LEFT - 4.0);
    let y = |v: f64| 4.0 + (hi - v) / (hi - lo) * (HEIGHT - MARGIN_BOTTOM - 8.0);
    let mut path = String::new();
    for (i, p) in shown.iter().enumerate() {
        let _ = write!(path, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(p.unix_s), y(value(p)));
    }
    let minutes = (t1 - t0) as f64 / 60.0;
    let hi_label = format!("{} {unit}", compact(hi));
    let lo_label = format!("{} {unit}", compact(lo));
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title><line x1="{MARGIN_LEFT}" y1="4" x2="{MARGIN_LEFT}" y2="{yb:.0}" class="axis"/><line x1="{MARGIN_LEFT}" y1="{yb:.0}" x2="{WIDTH}" y2="{yb:.0}" class="axis"/><text x="{tx:.0}" y="18" class="tick">{hi_label}</text><text x="{tx:.0}" y="{yb:.0}" class="tick">{lo_label}</text><text x="{WIDTH}" y="{HEIGHT}" class="tick end">{span}</text><path d="{path}" class="line"/></svg>"##,
        yb = HEIGHT - MARGIN_BOTTOM,
        tx = 2.0,
        span = if minutes < 2.0 {
            format!("last {:.0} s", minutes * 60.0)
        } else if minutes < 120.0 {
            format!("last {minutes:.0} min")
        } else {
            format!("last {:.1} h", minutes / 60.0)
        },
    );
    Some(out)
}

fn compact(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: i64) -> Vec<HistoryPoint> {
        (0..n)
            .map(|t| HistoryPoint { unix_s: 1000 + t, offset_ns: (t % 7) as f64, frequency_ppb: 5.0 })
            .collect()
    }

    #[test]
    fn draws_a_path_through_the_points_in_range() {
        let plot = svg(&series(100), 1050, "offset", "ns", |p| p.offset_ns).unwrap();
        assert!(plot.starts_with("<svg") && plot.ends_with("</svg>"));
        assert_eq!(plot.matches(" L").count(), 49, "50 points from t=1050");
        assert!(plot.contains("6.00 ns") && plot.contains("0.000 ns"), "{plot}");
    }

    #[test]
    fn long_series_are_thinned_and_flat_ones_still_drawn() {
        let plot = svg(&series(3600), 0, "f", "ppb", |p| p.frequency_ppb).unwrap();
        assert!(plot.matches(" L").count() < MAX_POINTS);
        assert!(plot.contains("5.50 ppb"), "flat series get a visible range: {plot}");
        assert!(svg(&series(1), 0, "f", "ppb", |p| p.frequency_ppb).is_none());
    }
}
