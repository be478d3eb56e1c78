//! gpsd's JSON reports to epochs, labels and edges (pure), for receivers gpsd reads (UBX,
//! SiRF, … and NMEA) when gpsd owns the serial port and the PPS device.
//!
//! - `TPV` (time-position-velocity) becomes an [`Epoch`] for the status, and the first valid
//!   whole-second TPV of a second becomes a [`Label`], which our pairing attaches to an edge
//!   exactly as it does an NMEA label: gpsd's own pairing of time and pulse is not used.
//! - `PPS` gives the edge: `clock_sec`/`clock_nsec` is the local clock at the pulse as the
//!   kernel's PPS stamped it. `real_sec` is gpsd's guess at which second that was: ignored.
//! - `SKY` gives the satellites (elevation, azimuth, signal, used) for the next epochs.
//!
//! Dates are checked against the same window as NMEA's; lines are bounded; anything that is
//! not a JSON object of a known class is counted and dropped.

use chrono::NaiveDate;
use serde_json::Value;

use crate::nmea::DateWindow;
use crate::nmea::{Antenna, Constellation, FixMode, Position, Signal, TimeOfDay};
use crate::nmea::{Epoch, Label, LabelCounts};
use crate::pairing::LocalNanos;

/// gpsd's lines are a few kilobytes at most (a SKY with 100 satellites); past this is noise.
const MAX_LINE: usize = 32 * 1024;
const MAX_SIGNALS: usize = 200;

#[derive(Clone, Debug, PartialEq)]
pub enum GpsdEvent {
    Label(Label),
    Epoch(Epoch),
    /// A PPS edge on the local clock.
    Edge(LocalNanos),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpsdCounts {
    /// Reports read (any class).
    pub reports: u64,
    /// Lines that were not JSON objects, or reports of a known class with broken fields.
    pub malformed: u64,
    pub overlong: u64,
    pub labels: LabelCounts,
}

#[derive(Clone, Debug, Default)]
pub struct GpsdStream {
    window: DateWindow,
    line: Vec<u8>,
    overlong: bool,
    sky: Vec<Signal>,
    sky_used: Option<u32>,
    sky_hdop: Option<f32>,
    last_labelled: Option<i64>,
    counts: GpsdCounts,
}

impl GpsdStream {
    pub fn new(window: DateWindow) -> GpsdStream {
        GpsdStream { window, ..Default::default() }
    }

    pub fn counts(&self) -> GpsdCounts {
        self.counts
    }

    /// Bytes from the gpsd socket, in any split.
    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(GpsdEvent)) {
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                if std::mem::take(&mut self.overlong) {
                    self.counts.overlong += 1;
                } else {
                    self.line_done(&line, &mut on_event);
                }
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            } else {
                self.overlong = true;
            }
        }
    }

    fn line_done(&mut self, line: &[u8], on_event: &mut impl FnMut(GpsdEvent)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.counts.reports += 1;
        let Ok(Value::Object(report)) = serde_json::from_slice::<Value>(line) else {
            self.counts.malformed += 1;
            return;
        };
        let ok = match report.get("class").and_then(Value::as_str) {
            Some("TPV") => self.tpv(&report, on_event),
            Some("PPS") => pps_edge(&report).map(|edge| on_event(GpsdEvent::Edge(edge))).is_some(),
            Some("SKY") => self.sky(&report),
            _ => true,
        };
        if !ok {
            self.counts.malformed += 1;
        }
    }

    /// `false` when the report's fields are broken.
    fn tpv(&mut self, r: &serde_json::Map<String, Value>, on_event: &mut impl FnMut(GpsdEvent)) -> bool {
        let mode = match r.get("mode").and_then(Value::as_u64) {
            Some(0 | 1) => FixMode::NoFix,
            Some(2) => FixMode::TwoD,
            Some(3) => FixMode::ThreeD,
            _ => return false,
        };
        // gpsd reports a TPV before it knows the time (the first sentences of a cycle).
        let Some(time) = r.get("time") else { return true };
        let Some((date, time_of_day)) = time.as_str().and_then(parse_time) else { return false };
        let number = |key: &str| r.get(key).and_then(Value::as_f64).filter(|v| v.is_finite());
        let position = match (number("lat"), number("lon")) {
            (Some(latitude), Some(longitude)) => Some(Position {
                latitude,
                longitude,
                altitude: number("altMSL").or_else(|| number("alt")).map(|a| a as f32),
            }),
            _ => None,
        };
        let valid = mode != FixMode::NoFix;
        let resolved = self.window.resolve(date);
        let date_refusal = resolved.err();
        let date_corrected_from = resolved.ok().and_then(|r| r.corrected_from);
        let date = resolved.map_or(date, |r| r.date);
        on_event(GpsdEvent::Epoch(Epoch {
            time_of_day,
            date: Some(date),
            date_stated: true,
            date_refusal,
            date_corrected_from,
            valid,
            mode,
            satellites_used: self.sky_used,
            signals: self.sky.clone(),
            hdop: self.sky_hdop,
            pdop: None,
            vdop: None,
            position,
            // gpsd writes `ant` only when the antenna is not fine (2 open, 3 short).
            antenna: match r.get("ant").and_then(Value::as_u64) {
                Some(2) => Some(Antenna::Open),
                Some(3) => Some(Antenna::Short),
                _ => None,
            },
        }));
        let Some(midnight) = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()) else { return true };
        let second = midnight + i64::from(time_of_day.millis() / 1000);
        if self.last_labelled == Some(second) {
            return true; // gpsd reports each epoch several times; the first labels it
        }
        let labels = &mut self.counts.labels;
        if !time_of_day.is_whole_second() {
            labels.fractional += 1;
        } else if !valid {
            labels.receiver_invalid += 1;
        } else if date_refusal.is_some() {
            labels.date_refused += 1;
        } else {
            labels.labelled += 1;
            labels.rollover_corrected += u64::from(date_corrected_from.is_some());
            self.last_labelled = Some(second);
            on_event(GpsdEvent::Label(Label { utc_second: second, mode }));
        }
        true
    }

    fn sky(&mut self, r: &serde_json::Map<String, Value>) -> bool {
        self.sky_used =
            r.get("uSat").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).or(self.sky_used);
        self.sky_hdop = r
            .get("hdop")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
            .map(|v| v as f32)
            .or(self.sky_hdop);
        // A SKY with only DOPs (gpsd sends those between the full ones) keeps the satellites.
        let Some(satellites) = r.get("satellites") else { return true };
        let Some(list) = satellites.as_array() else { return false };
        self.sky = list.iter().take(MAX_SIGNALS).filter_map(signal).collect();
        true
    }
}

fn signal(s: &Value) -> Option<Signal> {
    let number = |key: &str| s.get(key).and_then(Value::as_f64).filter(|v| v.is_finite());
    let prn = u32::try_from(s.get("PRN")?.as_u64()?).ok()?;
    // gpsd's gnssid is u-blox's numbering.
    let constellation = match s.get("gnssid").and_then(Value::as_u64) {
        Some(0) => Constellation::Gps,
        Some(2) => Constellation::Galileo,
        Some(3) => Constellation::Beidou,
        Some(5) => Constellation::Qzss,
        Some(6) => Constellation::Glonass,
        Some(7) => Constellation::Navic,
        _ => Constellation::Mixed,
    };
    Some(Signal {
        constellation,
        prn,
        snr: number("ss").filter(|v| *v > 0.0).map(|v| v as f32),
        elevation: number("el").filter(|e| (-90.0..=90.0).contains(e)).map(|v| v as f32),
        azimuth: number("az").filter(|a| (0.0..=360.0).contains(a)).map(|v| v as f32),
        used: s.get("used").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The local clock at the pulse.
fn pps_edge(r: &serde_json::Map<String, Value>) -> Option<LocalNanos> {
    let secs = r.get("clock_sec")?.as_i64()?;
    let nanos = r.get("clock_nsec")?.as_i64().filter(|n| (0..1_000_000_000).contains(n))?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// gpsd's `2026-12-02T05:56:11.000Z` (any fraction, or none) to a date and a time of day.
fn parse_time(text: &str) -> Option<(NaiveDate, TimeOfDay)> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let (whole, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = whole.splitn(3, ':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    if h > 23 || m > 59 || s > 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms =
        fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |a, b| a * 10 + u32::from(b - b'0'));
    // A leap second stays inside the second it extends, as NMEA's does.
    Some((date, TimeOfDay::from_hms_milli(h, m, s.min(59), if s == 60 { 999 } else { ms })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TPV: &str = r#"{"class":"TPV","device":"/dev/pts/0","mode":3,"time":"2026-12-02T05:56:11.000Z","ept":0.005,"lat":51.4779,"lon":-0.00015,"altHAE":92.2,"altMSL":45.2}"#;
    const SKY: &str = r#"{"class":"SKY","hdop":0.92,"uSat":1,"satellites":[{"PRN":2,"el":62.0,"az":301.0,"ss":42.0,"used":true,"gnssid":0,"svid":2},{"PRN":70,"el":5.0,"az":10.0,"ss":0,"used":false,"gnssid":6}]}"#;
    const PPS: &str = r#"{"class":"PPS","device":"/dev/pts/0","real_sec":1796190971,"real_nsec":0,"clock_sec":1796190970,"clock_nsec":999999000,"precision":-20}"#;

    fn events(text: &str) -> (Vec<GpsdEvent>, GpsdCounts) {
        let mut stream = GpsdStream::new(DateWindow::starting(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
        let mut out = Vec::new();
        stream.push(text.as_bytes(), |e| out.push(e));
        (out, stream.counts())
    }

    #[test]
    fn a_tpv_labels_its_second_once_and_carries_the_sky() {
        let (out, counts) = events(&format!("{SKY}\n{TPV}\n{TPV}\n"));
        let labels: Vec<&GpsdEvent> = out.iter().filter(|e| matches!(e, GpsdEvent::Label(_))).collect();
        assert_eq!(labels, [&GpsdEvent::Label(Label { utc_second: 1_796_190_971, mode: FixMode::ThreeD })]);
        let Some(GpsdEvent::Epoch(epoch)) = out.last() else { panic!("{out:?}") };
        assert_eq!(epoch.rfc3339().as_deref(), Some("2026-12-02T05:56:11.000Z"));
        assert_eq!((epoch.satellites_used, epoch.signals.len()), (Some(1), 2));
        assert!(epoch.signals[0].used && epoch.signals[1].constellation == Constellation::Glonass);
        assert_eq!(epoch.signals[1].snr, None, "ss 0: not tracked");
        assert_eq!(epoch.position.and_then(|p| p.altitude), Some(45.2));
        assert_eq!(counts.labels.labelled, 1);
        assert_eq!(epoch.antenna, None, "no `ant`: gpsd has nothing to complain of, or no way to know");
        let open = TPV.replace(r#""mode":3,"#, r#""mode":3,"ant":2,"#);
        let (out, _) = events(&format!("{open}\n"));
        let Some(GpsdEvent::Epoch(epoch)) = out.iter().find(|e| matches!(e, GpsdEvent::Epoch(_))) else {
            panic!()
        };
        assert_eq!(epoch.antenna, Some(Antenna::Open));
    }

    #[test]
    fn the_edge_is_the_local_clock_and_gpsds_second_is_ignored() {
        let (out, _) = events(&format!("{PPS}\n"));
        assert_eq!(out, [GpsdEvent::Edge(1_796_190_970_999_999_000)]);
    }

    #[test]
    fn no_fix_old_dates_fractions_and_garbage_label_nothing() {
        let no_fix = TPV.replace("\"mode\":3", "\"mode\":1");
        let rollover = TPV.replace("2026-12-02", "2007-04-18");
        let fraction = TPV.replace(":11.000Z", ":11.200Z");
        let no_time = r#"{"class":"TPV","mode":1}"#;
        let text = format!("{no_fix}\n{rollover}\n{fraction}\n{no_time}\nnot json\n[1,2]\n{{\"class\":\"TPV\",\"mode\":9}}\n{{\"class\":\"PPS\",\"clock_sec\":1,\"clock_nsec\":-5}}\n");
        let (out, counts) = events(&text);
        assert!(!out.iter().any(|e| matches!(e, GpsdEvent::Label(_) | GpsdEvent::Edge(_))), "{out:?}");
        assert_eq!(counts.malformed, 4, "{counts:?}");
        let l = counts.labels;
        assert_eq!((l.receiver_invalid, l.date_refused, l.fractional), (1, 1, 1));
    }

    #[test]
    fn lines_split_anywhere_read_the_same_and_long_lines_are_dropped() {
        let text = format!("{SKY}\n{TPV}\n{PPS}\n");
        let whole = events(&text).0;
        for cut in [1, 17, text.len() / 2, text.len() - 1] {
            let mut stream =
                GpsdStream::new(DateWindow::starting(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()));
            let mut out = Vec::new();
            stream.push(&text.as_bytes()[..cut], |e| out.push(e));
            stream.push(&text.as_bytes()[cut..], |e| out.push(e));
            assert_eq!(out, whole, "cut at {cut}");
        }
        let long = format!("{}\n{TPV}\n", "x".repeat(MAX_LINE + 10));
        let (out, counts) = events(&long);
        assert_eq!(counts.overlong, 1);
        assert!(out.iter().any(|e| matches!(e, GpsdEvent::Label(_))), "the next line still counts");
    }

    #[test]
    fn times_of_any_precision_parse() {
        let (date, t) = parse_time("2026-12-02T05:56:11Z").unwrap();
        assert_eq!(
            (date, t),
            (NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(), TimeOfDay::from_hms_milli(5, 56, 11, 0))
        );
        assert_eq!(
            parse_time("2026-12-02T05:56:11.25Z").unwrap().1,
            TimeOfDay::from_hms_milli(5, 56, 11, 250)
        );
        for bad in [
            "2026-12-02T25:00:00Z",
            "2026-13-02T05:56:11Z",
            "2026-12-02 05:56:11Z",
            "2026-12-02T05:56:11",
            "x",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }
}
