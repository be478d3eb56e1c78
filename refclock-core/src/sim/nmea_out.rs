//! The sentences a u-blox-like receiver sends for one second (pure): RMC, GGA, GSA, GSV, ZDA.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike};

/// What the simulated receiver reports for one epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// The UTC second the sentences name (may differ from the truth in a jump scenario).
    pub labelled_second: i64,
    pub fix: bool,
    /// Varies the signal strengths a little from second to second.
    pub noise: u32,
}

/// Satellites in view: (PRN, elevation, azimuth, base SNR).
const SKY: [(u32, u32, u32, u32); 9] = [
    (2, 62, 301, 44),
    (5, 48, 72, 41),
    (7, 35, 144, 38),
    (9, 71, 210, 46),
    (13, 22, 33, 33),
    (16, 15, 255, 29),
    (20, 54, 118, 43),
    (26, 9, 330, 24),
    (30, 40, 182, 40),
];

/// Greenwich: a position anyone recognises as made up.
const LATITUDE: &str = "5128.6740,N";
const LONGITUDE: &str = "00000.0090,W";

pub fn sentences(report: &EpochReport) -> String {
    let Some(time) = DateTime::from_timestamp(report.labelled_second, 0) else { return String::new() };
    let hms = format!("{:02}{:02}{:02}.00", time.hour(), time.minute(), time.second());
    let dmy = format!("{:02}{:02}{:02}", time.day(), time.month(), time.year() % 100);
    let used = if report.fix { 8 } else { 0 };
    let mut out = String::with_capacity(600);
    let (status, quality, mode) = if report.fix { ('A', 1, 3) } else { ('V', 0, 1) };
    let (lat, lon) = if report.fix { (LATITUDE, LONGITUDE) } else { (",", ",") };
    push(
        &mut out,
        &format!("GPRMC,{hms},{status},{lat},{lon},0.02,,{dmy},,,{}", if report.fix { 'A' } else { 'N' }),
    );
    let alt = if report.fix { "45.2,M,47.0,M" } else { ",M,,M" };
    push(&mut out, &format!("GPGGA,{hms},{lat},{lon},{quality},{used:02},0.92,{alt},,"));
    let prns: Vec<String> = SKY.iter().take(used).map(|s| format!("{:02}", s.0)).collect();
    let mut gsa = format!("GPGSA,A,{mode}");
    for i in 0..12 {
        gsa.push(',');
        gsa.push_str(prns.get(i).map_or("", String::as_str));
    }
    gsa.push_str(if report.fix { ",1.60,0.92,1.31" } else { ",99.99,99.99,99.99" });
    push(&mut out, &gsa);
    let pages = SKY.len().div_ceil(4);
    for (page, chunk) in SKY.chunks(4).enumerate() {
        let mut gsv = format!("GPGSV,{pages},{},{:02}", page + 1, SKY.len());
        for (i, (prn, elevation, azimuth, snr)) in chunk.iter().enumerate() {
            let wobble = (report.noise.wrapping_mul(31).wrapping_add(*prn * 7 + i as u32)) % 5;
            let _ = write!(gsv, ",{prn:02},{elevation:02},{azimuth:03},{}", snr + wobble - 2);
        }
        push(&mut out, &gsv);
    }
    let date = format!("{:02},{:02},{:04}", time.day(), time.month(), time.year());
    push(&mut out, &format!("GPZDA,{hms},{date},00,00"));
    // u-blox receivers with antenna supervision report its state in a TXT now and then.
    if time.second() % 10 == 0 {
        push(&mut out, "GPTXT,01,01,02,ANTSTATUS=OK");
    }
    out
}

fn push(out: &mut String, body: &str) {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    let _ = write!(out, "${body}*{sum:02X}\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::{DateWindow, FixMode, NmeaEvent, NmeaStream};

    fn decode(report: &EpochReport) -> (Vec<i64>, crate::nmea::Epoch) {
        let mut stream = NmeaStream::new(DateWindow::default());
        let mut labels = Vec::new();
        stream.push(sentences(report).as_bytes(), |e| {
            if let NmeaEvent::Label(l) = e {
                labels.push(l.utc_second)
            }
        });
        let epoch = stream.finish().unwrap();
        assert_eq!(stream.counts().framing.bad_checksum + stream.counts().malformed, 0);
        (labels, epoch)
    }

    #[test]
    fn our_own_decoder_reads_a_fix() {
        let second = 1_795_300_000;
        let (labels, epoch) = decode(&EpochReport { labelled_second: second, fix: true, noise: 3 });
        assert_eq!(labels, vec![second]);
        assert_eq!(epoch.mode, FixMode::ThreeD);
        assert_eq!(epoch.satellites_used, Some(8));
        assert_eq!(epoch.satellites_in_view(), 9);
        assert!(epoch.position.is_some());
    }

    #[test]
    fn no_fix_gives_no_label() {
        let (labels, epoch) = decode(&EpochReport { labelled_second: 1_795_300_000, fix: false, noise: 0 });
        assert!(labels.is_empty());
        assert_eq!(epoch.mode, FixMode::NoFix);
    }
}
