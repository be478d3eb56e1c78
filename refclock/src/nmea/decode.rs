//! One verified sentence to the facts it states (pure).
//!
//! The `nmea` crate parses the fields of the standard sentences; this file picks the facts a
//! time server needs (time of day, date, fix validity and mode, satellites, DOP, position) and
//! adds what the crate lacks: talker mapping for every constellation and two-digit years read
//! against the GPS epoch rather than 1983.

use chrono::{NaiveDate, NaiveTime, Timelike};
use nmea::sentences::gsa::GsaMode2;
use nmea::sentences::{parse_gga, parse_gll, parse_gsa, parse_gsv, parse_zda, FixType};
use nmea::{NmeaSentence, SentenceType};

use super::framing::Sentence;

/// Milliseconds since UTC midnight, as the sentence's time field states it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(pub u32);

impl TimeOfDay {
    pub fn from_hms_milli(h: u32, m: u32, s: u32, ms: u32) -> TimeOfDay {
        TimeOfDay(((h * 60 + m) * 60 + s) * 1000 + ms)
    }

    fn from_naive(t: NaiveTime) -> TimeOfDay {
        // A leap second shows up as nanosecond >= 1e9; keep it inside the second it extends.
        let ms = (t.nanosecond() / 1_000_000).min(999);
        TimeOfDay::from_hms_milli(t.hour(), t.minute(), t.second(), ms)
    }

    pub fn millis(self) -> u32 {
        self.0
    }

    pub fn is_whole_second(self) -> bool {
        self.0.is_multiple_of(1000)
    }
}

/// The GNSS a talker or a satellite belongs to. `Mixed` is the `GN` talker (combined solution).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Constellation {
    Gps,
    Glonass,
    Galileo,
    Beidou,
    Qzss,
    Navic,
    Mixed,
}

impl Constellation {
    /// Talkers from NMEA 0183 4.11 plus the legacy `BD` and `QZ`.
    pub fn from_talker(talker: &str) -> Option<Constellation> {
        Some(match talker {
            "GP" => Constellation::Gps,
            "GL" => Constellation::Glonass,
            "GA" => Constellation::Galileo,
            "GB" | "BD" => Constellation::Beidou,
            "GQ" | "QZ" => Constellation::Qzss,
            "GI" => Constellation::Navic,
            "GN" => Constellation::Mixed,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Constellation::Gps => "GPS",
            Constellation::Glonass => "GLONASS",
            Constellation::Galileo => "Galileo",
            Constellation::Beidou => "BeiDou",
            Constellation::Qzss => "QZSS",
            Constellation::Navic => "NavIC",
            Constellation::Mixed => "mixed",
        }
    }
}

/// Fix dimension, numbered like gpsd's `mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FixMode {
    NoFix = 1,
    TwoD = 2,
    ThreeD = 3,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Position {
    pub latitude: f64,
    pub longitude: f64,
    /// Metres above mean sea level, when the sentence gives it.
    pub altitude: Option<f32>,
}

/// One satellite as a GSV sentence lists it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Signal {
    pub constellation: Constellation,
    pub prn: u32,
    /// Carrier-to-noise in dB-Hz; `None` when the satellite is not tracked.
    pub snr: Option<f32>,
    /// Where it stands in the sky, degrees, when the receiver says.
    pub elevation: Option<f32>,
    pub azimuth: Option<f32>,
    /// Listed by a GSA of the same epoch: part of the fix.
    pub used: bool,
}

/// What one sentence states. Sentences a time server has no use for are `Other`.
#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    /// RMC: time, date and the receiver's own validity flag.
    Rmc {
        time: Option<TimeOfDay>,
        date: Option<NaiveDate>,
        valid: bool,
        position: Option<Position>,
    },
    /// GGA or GNS: time, fix quality, satellites used, HDOP, position.
    Fix {
        time: Option<TimeOfDay>,
        valid: bool,
        satellites_used: Option<u32>,
        hdop: Option<f32>,
        position: Option<Position>,
    },
    /// ZDA: time and a four-digit-year date.
    Zda {
        time: Option<TimeOfDay>,
        date: Option<NaiveDate>,
    },
    /// GLL: time and validity.
    Gll {
        time: Option<TimeOfDay>,
        valid: bool,
    },
    /// GSA: fix mode and the satellites used by one constellation (or all, for old receivers).
    Gsa {
        mode: FixMode,
        used: u32,
        /// The satellites used, and whose numbers they are (`None`: any constellation's).
        prns: Vec<u32>,
        system: Option<Constellation>,
        pdop: Option<f32>,
        hdop: Option<f32>,
        vdop: Option<f32>,
    },
    /// GSV: one page of the satellites in view of one constellation.
    Gsv {
        constellation: Constellation,
        page: u16,
        pages: u16,
        in_view: u16,
        signals: Vec<Signal>,
    },
    Other,
}

impl Fact {
    /// The time of day the sentence is labelled with, if it carries one.
    pub fn time(&self) -> Option<TimeOfDay> {
        match self {
            Fact::Rmc { time, .. }
            | Fact::Fix { time, .. }
            | Fact::Zda { time, .. }
            | Fact::Gll { time, .. } => *time,
            _ => None,
        }
    }
}

/// A sentence whose checksum was right but whose fields were not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} sentence with malformed fields")]
pub struct DecodeError {
    pub kind: &'static str,
}

/// Decodes one framed sentence. Proprietary sentences and sentences we have no use for are
/// `Other`.
pub fn decode(sentence: &Sentence<'_>) -> Result<Fact, DecodeError> {
    let (Some(talker), Some(kind)) = (sentence.talker(), sentence.kind()) else { return Ok(Fact::Other) };
    // Any talker may carry the time: integrated navigation systems send `IN`, some receivers
    // `II`; gpsd reads them all. Satellites of an unknown talker count as `mixed`.
    let constellation = Constellation::from_talker(talker).unwrap_or(Constellation::Mixed);
    let Ok(message_id) = SentenceType::try_from(kind) else { return Ok(Fact::Other) };
    let raw = NmeaSentence { talker_id: talker, message_id, data: sentence.fields, checksum: 0 };
    let malformed = |kind: &'static str| move |_| DecodeError { kind };
    Ok(match message_id {
        SentenceType::RMC => rmc(sentence.fields).ok_or(DecodeError { kind: "RMC" })?,
        SentenceType::GGA => {
            let gga = parse_gga(raw).map_err(malformed("GGA"))?;
            Fact::Fix {
                time: gga.fix_time.map(TimeOfDay::from_naive),
                valid: gga.fix_type.is_some_and(FixType::is_valid),
                satellites_used: gga.fix_satellites,
                hdop: gga.hdop,
                position: position(gga.latitude, gga.longitude, gga.altitude),
            }
        }
        SentenceType::GNS => gns(sentence.fields).ok_or(DecodeError { kind: "GNS" })?,
        SentenceType::ZDA => {
            let zda = parse_zda(raw).map_err(malformed("ZDA"))?;
            let date = match (zda.year, zda.month, zda.day) {
                (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(i32::from(y), m.into(), d.into()),
                _ => None,
            };
            Fact::Zda { time: zda.utc_time.map(TimeOfDay::from_naive), date }
        }
        SentenceType::GLL => {
            let gll = parse_gll(raw).map_err(malformed("GLL"))?;
            Fact::Gll { time: gll.fix_time.map(TimeOfDay::from_naive), valid: gll.valid }
        }
        SentenceType::GSA => {
            let gsa = parse_gsa(raw).map_err(malformed("GSA"))?;
            let mode = match gsa.mode2 {
                GsaMode2::NoFix => FixMode::NoFix,
                GsaMode2::Fix2D => FixMode::TwoD,
                GsaMode2::Fix3D => FixMode::ThreeD,
            };
            let used = u32::try_from(gsa.fix_sats_prn.len()).unwrap_or(u32::MAX);
            // NMEA 4.1's system ID names the constellation of a GN GSA; without it, a GN GSA's
            // numbers may belong to any.
            let system = match gsa.system_id {
                Some(nmea::sentences::gnss_type::GnssSystemId::Gps) => Some(Constellation::Gps),
                Some(nmea::sentences::gnss_type::GnssSystemId::Glonass) => Some(Constellation::Glonass),
                Some(nmea::sentences::gnss_type::GnssSystemId::Galileo) => Some(Constellation::Galileo),
                Some(nmea::sentences::gnss_type::GnssSystemId::Beidou) => Some(Constellation::Beidou),
                None => (constellation != Constellation::Mixed).then_some(constellation),
            };
            let prns = gsa.fix_sats_prn.iter().copied().collect();
            Fact::Gsa { mode, used, prns, system, pdop: gsa.pdop, hdop: gsa.hdop, vdop: gsa.vdop }
        }
        SentenceType::GSV => {
            let gsv = parse_gsv(raw).map_err(malformed("GSV"))?;
            let signals = gsv
                .sats_info
                .iter()
                .flatten()
                .map(|sat| Signal {
                    constellation,
                    prn: sat.prn(),
                    snr: sat.snr(),
                    elevation: sat.elevation().filter(|e| (-90.0..=90.0).contains(e)),
                    azimuth: sat.azimuth().filter(|a| (0.0..=360.0).contains(a)),
                    used: false,
                })
                .collect();
            Fact::Gsv {
                constellation,
                page: gsv.sentence_num,
                pages: gsv.number_of_sentences,
                in_view: gsv.sats_in_view,
                signals,
            }
        }
        _ => Fact::Other,
    })
}

/// A sentence's comma-separated fields; one past the end reads as empty, as an empty field.
struct Fields<'a>(Vec<&'a str>);

impl<'a> Fields<'a> {
    /// `None` when the sentence has fewer than `n` fields.
    fn at_least(text: &'a str, n: usize) -> Option<Fields<'a>> {
        let fields: Vec<&str> = text.split(',').collect();
        (fields.len() >= n).then_some(Fields(fields))
    }

    fn get(&self, i: usize) -> &'a str {
        self.0.get(i).copied().unwrap_or("")
    }
}

/// A time field (`hhmmss` with any fraction), through the `nmea` crate's reader.
fn time_field(field: &str) -> Option<Option<TimeOfDay>> {
    match field {
        "" => Some(None),
        // The crate's reader wants the field's terminating comma.
        t => Some(Some(TimeOfDay::from_naive(nmea::sentences::utils::parse_hms(&format!("{t},")).ok()?.1))),
    }
}

/// Latitude and longitude from their four fields (`ddmm.mmm,N,dddmm.mmm,E`); `None` inside
/// when they are empty, `None` outside when they are malformed.
fn lat_lon(fields: [&str; 4]) -> Option<Option<(f64, f64)>> {
    if fields[0].is_empty() || fields[2].is_empty() {
        return Some(None);
    }
    Some(Some(nmea::sentences::utils::do_parse_lat_lon(&fields.join(",")).ok()?.1))
}

/// RMC, read here: the `nmea` crate refuses the short RMCs older receivers send (no magnetic
/// variation direction, no mode). Fields: time, status, latitude, N/S, longitude, E/W, speed,
/// track, date, magnetic variation, E/W, mode (NMEA 2.3), navigational status (4.1). Valid
/// when the status is `A` and the mode, if any, is not `N` (no fix).
fn rmc(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 9)?;
    let field = |i: usize| f.get(i);
    let time = time_field(field(0))?;
    let status_valid = match field(1) {
        "A" => true,
        "V" | "" => false,
        _ => return None,
    };
    let valid = status_valid && field(11) != "N";
    let position = lat_lon([field(2), field(3), field(4), field(5)])?
        .and_then(|(lat, lon)| position(Some(lat), Some(lon), None));
    Some(Fact::Rmc { time, date: rmc_date(field(8)), valid, position })
}

/// GNS, read here rather than by the `nmea` crate, which takes at most two mode characters
/// and refuses an empty satellite count. NMEA 4.11 gives one mode character per constellation
/// (GPS, GLONASS, Galileo, BeiDou, QZSS, NavIC: `AANN`); as gpsd does, the first decides, and
/// `N` means no fix.
///
/// Fields: time, latitude, N/S, longitude, E/W, mode, satellites, HDOP, altitude, geoid
/// separation, age of corrections, station, navigational status.
fn gns(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 6)?;
    let field = |i: usize| f.get(i);
    let time = time_field(field(0))?;
    let mode = field(5);
    if !mode.bytes().all(|b| b.is_ascii_uppercase()) || mode.len() > 6 {
        return None;
    }
    let number = |i: usize| -> Option<Option<f32>> {
        match field(i) {
            "" => Some(None),
            v => v.parse::<f32>().ok().filter(|v| v.is_finite()).map(Some),
        }
    };
    let satellites_used = match field(6) {
        "" => None,
        n => Some(n.parse::<u32>().ok()?),
    };
    let (hdop, altitude) = (number(7)?, number(8)?);
    // The navigational status (NMEA 4.1: S safe, C caution, U unsafe, V not valid for
    // navigation) speaks of the position's integrity, not of the time; gpsd does not take it
    // as a loss of fix either.
    let valid = !matches!(mode.chars().next(), None | Some('N'));
    let lat_lon = lat_lon([field(1), field(2), field(3), field(4)])?;
    Some(Fact::Fix {
        time,
        valid,
        satellites_used,
        hdop,
        position: lat_lon.and_then(|(lat, lon)| position(Some(lat), Some(lon), altitude)),
    })
}

fn position(latitude: Option<f64>, longitude: Option<f64>, altitude: Option<f32>) -> Option<Position> {
    Some(Position { latitude: latitude?, longitude: longitude?, altitude })
}

/// RMC's `ddmmyy` date. The `nmea` crate puts years 00–82 in 2000–2082, so a receiver that lost
/// its almanac and reports 1980 (the GPS epoch) would read as 2080. NMEA receivers cannot
/// report dates before 1980, so 80–99 are 19xx and 00–79 are 20xx; the date window in
/// `calendar` then refuses anything implausible, whichever century it lands in.
fn rmc_date(field: &str) -> Option<NaiveDate> {
    if field.len() != 6 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| field.get(range).and_then(|s| s.parse::<u32>().ok());
    let (day, month, yy) = (number(0..2)?, number(2..4)?, number(4..6)?);
    let year = if yy >= 80 { 1900 + yy } else { 2000 + yy };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::framing::LineFramer;

    fn facts(text: &str) -> Vec<Result<Fact, DecodeError>> {
        let mut out = Vec::new();
        LineFramer::new().push(text.as_bytes(), |s| out.push(decode(&s)));
        out
    }

    fn one(text: &str) -> Fact {
        let mut all = facts(text);
        assert_eq!(all.len(), 1, "{text}");
        all.remove(0).unwrap()
    }

    #[test]
    fn rmc_gives_time_date_and_validity() {
        let fact = one("$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73\r\n");
        let Fact::Rmc { time, date, valid, position } = fact else { panic!("{fact:?}") };
        assert_eq!(time, Some(TimeOfDay::from_hms_milli(20, 26, 40, 0)));
        assert_eq!(date, NaiveDate::from_ymd_opt(2015, 4, 13));
        assert!(valid);
        let position = position.unwrap();
        assert!((position.latitude - 44.068843).abs() < 1e-5);
    }

    #[test]
    fn two_digit_year_80_is_the_gps_epoch_not_2080() {
        let fact = one("$GPRMC,235946.005,V,8960.000000,N,00000.000000,E,0.000,0.00,050180,,,N*47\r\n");
        let Fact::Rmc { date, valid, time, .. } = fact else { panic!() };
        assert_eq!(date, NaiveDate::from_ymd_opt(1980, 1, 5));
        assert!(!valid);
        assert_eq!(time, Some(TimeOfDay::from_hms_milli(23, 59, 46, 5)));
    }

    #[test]
    fn gga_quality_zero_is_not_a_fix() {
        let fact =
            one("$GPGGA,212406.000,0000.0000000,N,00000.0000000,E,0,00,0.0,0.000,M,0.000,M,,0000*6E\r\n");
        assert!(matches!(fact, Fact::Fix { valid: false, .. }), "{fact:?}");
    }

    #[test]
    fn gns_with_a_mode_per_constellation_is_a_fix() {
        // NMEA 4.11: GPS and GLONASS autonomous, Galileo and BeiDou not used.
        let fact = one("$GNGNS,213712.000,4111.59903,N,11156.54809,W,AANN,13,0.93,01482.5,-016.5,,*52\r\n");
        let Fact::Fix { valid, satellites_used, position, time, .. } = fact else { panic!("{fact:?}") };
        assert!(valid);
        assert_eq!(satellites_used, Some(13));
        assert_eq!(time, Some(TimeOfDay::from_hms_milli(21, 37, 12, 0)));
        let p = position.unwrap();
        assert!((p.latitude - 41.193317).abs() < 1e-5 && p.altitude == Some(1482.5), "{p:?}");
    }

    #[test]
    fn gns_not_valid_is_no_fix() {
        for body in ["GNGNS,213712.000,,,,,NNNN,00,,,,,", "GNGNS,213712.000,,,,,N,,,,,,"] {
            let sum = body.bytes().fold(0u8, |a, b| a ^ b);
            let fact = one(&format!("${body}*{sum:02X}\r\n"));
            assert!(matches!(fact, Fact::Fix { valid: false, .. }), "{body}: {fact:?}");
        }
    }

    #[test]
    fn short_rmcs_of_older_receivers_are_read() {
        // No variation direction and no mode field (a Motorola T805); no variation at all.
        for body in [
            "GPRMC,212615.879,A,4839.9396,N,00214.8909,E,0.78,237.93,181207,0,A",
            "GPRMC,212615.879,A,4839.9396,N,00214.8909,E,0.78,237.93,181207",
        ] {
            let sum = body.bytes().fold(0u8, |a, b| a ^ b);
            let fact = one(&format!("${body}*{sum:02X}\r\n"));
            let Fact::Rmc { time, date, valid, .. } = fact else { panic!("{fact:?}") };
            assert_eq!(time, Some(TimeOfDay::from_hms_milli(21, 26, 15, 879)), "{body}");
            assert_eq!(date, NaiveDate::from_ymd_opt(2007, 12, 18));
            assert!(valid);
        }
        // Status A but mode N (no fix): not valid.
        let body = "GPRMC,212615.879,A,4839.9396,N,00214.8909,E,0.78,237.93,181207,,,N";
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        assert!(matches!(one(&format!("${body}*{sum:02X}\r\n")), Fact::Rmc { valid: false, .. }));
    }

    #[test]
    fn gsa_mode_and_used_count() {
        let fact = one("$GPGSA,A,3,20,16,09,03,07,10,23,19,27,30,,,1.64,0.98,1.31*05\r\n");
        assert_eq!(
            fact,
            Fact::Gsa {
                mode: FixMode::ThreeD,
                used: 10,
                prns: vec![20, 16, 9, 3, 7, 10, 23, 19, 27, 30],
                system: Some(Constellation::Gps),
                pdop: Some(1.64),
                hdop: Some(0.98),
                vdop: Some(1.31)
            }
        );
    }

    #[test]
    fn gsv_maps_beidou_talkers() {
        for talker in ["BD", "GB"] {
            let body = format!("{talker}GSV,1,1,02,13,19,043,17,27,38,127,");
            let sum = body.bytes().fold(0u8, |a, b| a ^ b);
            let Fact::Gsv { constellation, in_view, signals, .. } = one(&format!("${body}*{sum:02X}\r\n"))
            else {
                panic!()
            };
            assert_eq!(constellation, Constellation::Beidou);
            assert_eq!(in_view, 2);
            assert_eq!(signals[0].snr, Some(17.0));
            assert_eq!(signals[1].snr, None);
        }
    }

    #[test]
    fn zda_gives_a_four_digit_year() {
        let Fact::Zda { date, time } = one("$GPZDA,202640.000,13,04,2015,,*54\r\n") else { panic!() };
        assert_eq!(date, NaiveDate::from_ymd_opt(2015, 4, 13));
        assert_eq!(time, Some(TimeOfDay::from_hms_milli(20, 26, 40, 0)));
    }

    #[test]
    fn proprietary_and_unknown_talkers_are_other() {
        assert_eq!(one("$PMTK010,001*2E\r\n"), Fact::Other);
        let body = "GYOACC,090624,000653.10";
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        assert_eq!(one(&format!("${body}*{sum:02X}\r\n")), Fact::Other);
    }

    #[test]
    fn malformed_fields_are_an_error_not_a_panic() {
        let body = "GPRMC,99x999,A,,,,,,,,";
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        let all = facts(&format!("${body}*{sum:02X}\r\n"));
        assert_eq!(all, vec![Err(DecodeError { kind: "RMC" })]);
    }
}
