//! The satellites as SVG (pure): a sky plot (zenith in the middle, the horizon at the rim,
//! north up) and signal strength bars on a dB-Hz scale. Satellites in the fix are filled, the
//! others hollow, in both.

use std::fmt::Write;

use crate::snapshot::SignalView;

const SKY_SIZE: f64 = 240.0;
const SKY_RADIUS: f64 = 100.0;

/// The sky plot, or `None` when no satellite has a position.
pub fn sky_plot(signals: &[SignalView]) -> Option<String> {
    let placed: Vec<(&SignalView, f32, f32)> = signals
        .iter()
        .filter_map(|s| Some((s, s.elevation_deg?, s.azimuth_deg?)))
        .filter(|(_, e, _)| *e >= 0.0)
        .collect();
    if placed.is_empty() {
        return None;
    }
    let c = SKY_SIZE / 2.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="sky" viewBox="0 0 {SKY_SIZE} {SKY_SIZE}" role="img" aria-label="sky plot"><title>satellites by elevation and azimuth</title>"#
    );
    for elevation in [0.0, 30.0, 60.0] {
        let _ = write!(
            out,
            r#"<circle cx="{c}" cy="{c}" r="{:.1}" class="ring"/>"#,
            SKY_RADIUS * (90.0 - elevation) / 90.0
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{c}" y1="{t}" x2="{c}" y2="{b}" class="ring"/><line x1="{t}" y1="{c}" x2="{b}" y2="{c}" class="ring"/>"#,
        t = c - SKY_RADIUS,
        b = c + SKY_RADIUS
    );
    for (text, x, y) in
        [("N", c, 12.0), ("E", SKY_SIZE - 8.0, c + 4.0), ("S", c, SKY_SIZE - 3.0), ("W", 8.0, c + 4.0)]
    {
        let _ = write!(out, r#"<text x="{x}" y="{y}" class="compass">{text}</text>"#);
    }
    for (s, elevation, azimuth) in placed {
        let r = SKY_RADIUS * f64::from(90.0 - elevation.min(90.0)) / 90.0;
        let a = f64::from(azimuth).to_radians();
        let (x, y) = (c + r * a.sin(), c - r * a.cos());
        let _ = write!(
            out,
            r#"<g class="sat {used}"><title>{} {}: elevation {elevation:.0}°, azimuth {azimuth:.0}°, {}{}</title><circle cx="{x:.1}" cy="{y:.1}" r="6"/><text x="{x:.1}" y="{:.1}">{}</text></g>"#,
            s.system,
            s.prn,
            s.snr_db.map_or("not tracked".to_owned(), |v| format!("{v} dB-Hz")),
            if s.used { ", used" } else { "" },
            y - 8.0,
            s.prn,
            used = if s.used { "used" } else { "unused" },
        );
    }
    out.push_str("</svg>");
    Some(out)
}

const BAR_HEIGHT: f64 = 120.0;
const BAR_TOP: f64 = 6.0;
const BAR_LEFT: f64 = 34.0;
const BAR_WIDTH: f64 = 22.0;
/// The scale's top: strong signals reach about 50 dB-Hz.
const SNR_MAX: f64 = 55.0;

/// Signal strength per satellite on a dB-Hz scale, or `None` without satellites.
pub fn snr_bars(signals: &[SignalView]) -> Option<String> {
    if signals.is_empty() {
        return None;
    }
    let width = BAR_LEFT + BAR_WIDTH * signals.len() as f64 + 4.0;
    let height = BAR_TOP + BAR_HEIGHT + 26.0;
    let base = BAR_TOP + BAR_HEIGHT;
    let y = |db: f64| base - db.min(SNR_MAX) / SNR_MAX * BAR_HEIGHT;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="snr" viewBox="0 0 {width} {height}" style="max-width: {width}px" role="img" aria-label="signal strength per satellite"><title>carrier-to-noise per satellite, dB-Hz</title>"#
    );
    for db in [0.0, 10.0, 20.0, 30.0, 40.0, 50.0] {
        let _ = write!(
            out,
            r#"<line x1="{BAR_LEFT}" y1="{py:.1}" x2="{width}" y2="{py:.1}" class="grid"/><text x="{tx}" y="{ty:.1}" class="tick end">{db}</text>"#,
            py = y(db),
            tx = BAR_LEFT - 4.0,
            ty = y(db) + 4.0
        );
    }
    let _ = write!(out, r#"<text x="2" y="{}" class="tick">dB-Hz</text>"#, height - 2.0);
    for (i, s) in signals.iter().enumerate() {
        let x = BAR_LEFT + BAR_WIDTH * i as f64 + 3.0;
        let db = f64::from(s.snr_db.unwrap_or(0));
        let _ = write!(
            out,
            r#"<g class="sat {used}"><title>{} {}: {}{}</title><rect x="{x:.1}" y="{top:.1}" width="{w}" height="{h:.1}"/><text x="{tx:.1}" y="{ly:.1}">{}</text></g>"#,
            s.system,
            s.prn,
            s.snr_db.map_or("not tracked".to_owned(), |v| format!("{v} dB-Hz")),
            if s.used { ", used" } else { "" },
            s.prn,
            used = if s.used { "used" } else { "unused" },
            top = y(db),
            w = BAR_WIDTH - 6.0,
            h = base - y(db),
            tx = x + (BAR_WIDTH - 6.0) / 2.0,
            ly = base + 14.0,
        );
    }
    out.push_str("</svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::example;

    fn signals() -> Vec<SignalView> {
        example().gnss.unwrap().signals
    }

    #[test]
    fn the_sky_puts_north_up_and_marks_the_satellites_used() {
        let svg = sky_plot(&signals()).unwrap();
        assert_eq!(svg.matches(r#"class="sat used""#).count(), 1);
        assert_eq!(svg.matches(r#"class="sat unused""#).count(), 1);
        assert!(svg.contains("GPS 5: elevation 48°, azimuth 72°, 42 dB-Hz, used"), "{svg}");
        // Elevation 90 is the centre, azimuth 0 is straight up.
        let mut zenith = signals();
        zenith.truncate(1);
        zenith[0].elevation_deg = Some(90.0);
        assert!(sky_plot(&zenith).unwrap().contains(r#"cx="120.0" cy="120.0""#));
        zenith[0].elevation_deg = Some(0.0);
        zenith[0].azimuth_deg = Some(0.0);
        assert!(sky_plot(&zenith).unwrap().contains(r#"cx="120.0" cy="20.0""#));
        zenith[0].azimuth_deg = None;
        assert!(sky_plot(&zenith).is_none(), "no position, no plot");
    }

    #[test]
    fn bars_stand_on_a_db_hz_scale() {
        let svg = snr_bars(&signals()).unwrap();
        for tick in [">0<", ">10<", ">50<", "dB-Hz"] {
            assert!(svg.contains(tick), "{tick}: {svg}");
        }
        // 42 dB-Hz of a 55 dB-Hz scale 120 units tall.
        assert!(svg.contains(&format!(r#"height="{:.1}""#, 42.0 / 55.0 * 120.0)), "{svg}");
        assert!(snr_bars(&[]).is_none());
    }
}
