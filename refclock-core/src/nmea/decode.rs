//! One verified sentence to the facts it states (pure).
//!
//! This file picks the facts a time server needs (time of day, date, fix validity and mode,
//! satellites, DOP, position) from the sentences that carry them. The `nmea` crate names the
//! sentence and reads the time field; the fields themselves are read here, because the crate
//! refuses sentences that real receivers send and gpsd reads (short RMCs and GLLs, empty VDOPs
//! and GGA qualities, signed ZDA zones, empty GSV pages, NMEA 4.11 GNS modes), and it reads
//! two-digit years against 1983 rather than the GPS epoch. Each reader names the receivers
//! whose habit it follows.

use chrono::{NaiveDate, NaiveTime, Timelike};
use nmea::SentenceType;

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

/// The antenna as the receiver reports it: u-blox and MediaTek/Quectel in `TXT`
/// (`ANTSTATUS=OPEN`, `ANTENNA SHORT`), ST Teseo in `$PSTMANTENNASTATUS`. Timing needs the
/// sky: an open or shorted antenna explains a lost fix before anything else does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Antenna {
    Ok,
    Open,
    Short,
}

impl Antenna {
    pub fn name(self) -> &'static str {
        match self {
            Antenna::Ok => "ok",
            Antenna::Open => "open",
            Antenna::Short => "short",
        }
    }
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
        /// `None` when the GSA states no mode this decoder knows.
        mode: Option<FixMode>,
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
    /// TXT or a proprietary status sentence naming the antenna's state.
    Antenna(Antenna),
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

/// The sentences this file reads; any other is `Fact::Other`.
pub const DECODED_KINDS: [&str; 7] = ["RMC", "GGA", "GNS", "ZDA", "GLL", "GSA", "GSV"];

/// A sentence whose checksum was right but whose fields were not.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} sentence with malformed fields")]
pub struct DecodeError {
    pub kind: &'static str,
}

/// Decodes one framed sentence. Proprietary sentences and sentences we have no use for are
/// `Other`.
pub fn decode(sentence: &Sentence<'_>) -> Result<Fact, DecodeError> {
    if sentence.address == "PSTMANTENNASTATUS" {
        return Ok(st_antenna(sentence.fields).map_or(Fact::Other, Fact::Antenna));
    }
    let (Some(talker), Some(kind)) = (sentence.talker(), sentence.kind()) else { return Ok(Fact::Other) };
    if kind == "TXT" {
        return Ok(txt_antenna(sentence.fields).map_or(Fact::Other, Fact::Antenna));
    }
    // Any talker may carry the time: integrated navigation systems send `IN`, some receivers
    // `II`; gpsd reads them all. Satellites of an unknown talker count as `mixed`.
    let constellation = Constellation::from_talker(talker).unwrap_or(Constellation::Mixed);
    let Ok(message_id) = SentenceType::try_from(kind) else { return Ok(Fact::Other) };
    let fields = sentence.fields;
    let (kind, read) = match message_id {
        SentenceType::RMC => ("RMC", rmc(fields)),
        SentenceType::GGA => ("GGA", gga(fields)),
        SentenceType::GNS => ("GNS", gns(fields)),
        SentenceType::ZDA => ("ZDA", zda(fields)),
        SentenceType::GLL => ("GLL", gll(fields)),
        SentenceType::GSA => ("GSA", gsa(fields, constellation)),
        SentenceType::GSV => ("GSV", gsv(fields, constellation)),
        _ => return Ok(Fact::Other),
    };
    read.ok_or(DecodeError { kind })
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

/// Latitude and longitude from their four fields (`ddmm.mmm,N,dddmm.mmm,E`, any number of
/// degree digits): `None` outside when a field is not a number or a hemisphere, `None` inside
/// when they are empty or name no place on Earth (TN200's `36000.0000,N,72000.0000,E` while
/// it has no fix): the sentence's time and status still count.
fn lat_lon(fields: [&str; 4]) -> Option<Option<(f64, f64)>> {
    if fields.iter().any(|f| f.is_empty()) {
        return Some(None);
    }
    let hemisphere = |h: &str, positive: &str, negative: &str| match h {
        _ if h == positive => Some(1.0),
        _ if h == negative => Some(-1.0),
        _ => None,
    };
    let magnitude = |value: &str, limit: f64| -> Option<Option<f64>> {
        let v: f64 = value.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
        let (degrees, minutes) = ((v / 100.0).trunc(), v % 100.0);
        let a = degrees + minutes / 60.0;
        Some((minutes < 60.0 && a <= limit).then_some(a))
    };
    let (lat_sign, lon_sign) = (hemisphere(fields[1], "N", "S")?, hemisphere(fields[3], "E", "W")?);
    let (lat, lon) = (magnitude(fields[0], 90.0)?, magnitude(fields[2], 180.0)?);
    Some(lat.zip(lon).map(|(lat, lon)| (lat * lat_sign, lon * lon_sign)))
}

/// RMC, read here: the `nmea` crate refuses the short RMCs older receivers send (no magnetic
/// variation direction, no mode). Fields: time, status, latitude, N/S, longitude, E/W, speed,
/// track, date, magnetic variation, E/W, mode (NMEA 2.3), navigational status (4.1). Valid
/// when the status is `A` and the mode, if any, is not `N` (no fix).
fn rmc(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 9)?;
    let field = |i: usize| f.get(i);
    let time = time_field(field(0))?;
    let status_valid = status(field(1))?;
    let valid = status_valid && field(11) != "N";
    let position = lat_lon([field(2), field(3), field(4), field(5)])?.map(|(latitude, longitude)| Position {
        latitude,
        longitude,
        altitude: None,
    });
    Some(Fact::Rmc { time, date: rmc_date(field(8)), valid, position })
}

/// GGA, read here: the `nmea` crate refuses an empty quality field (MyGuide 3100), which gpsd
/// reads as "quality unknown" and judges by the position. Fields: time, latitude, N/S,
/// longitude, E/W, quality, satellites used, HDOP, altitude, M, geoid separation, M, age of
/// corrections, station. Qualities 1–5 (GPS, DGPS, PPS, RTK fixed and float) are fixes;
/// 0 is none, and 6–8 (estimated, manual input, simulator) are not the sky's time.
fn gga(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 9)?;
    fix(&f, |has_position| match f.get(5) {
        "" => Some(has_position),
        q => Some(matches!(q.parse::<u8>().ok()?, 1..=5)),
    })
}

/// The fields GGA and GNS share: time, latitude, N/S, longitude, E/W, then (after the quality
/// or mode in field 5, which `valid` reads given whether there is a position) satellites
/// used, HDOP and altitude.
fn fix(f: &Fields<'_>, valid: impl FnOnce(bool) -> Option<bool>) -> Option<Fact> {
    let field = |i: usize| f.get(i);
    let time = time_field(field(0))?;
    let lat_lon = lat_lon([field(1), field(2), field(3), field(4)])?;
    let valid = valid(lat_lon.is_some())?;
    let satellites_used = count(field(6))?;
    let (hdop, altitude) = (dop(field(7))?, number(field(8))?);
    Some(Fact::Fix {
        time,
        valid,
        satellites_used,
        hdop,
        position: lat_lon.map(|(latitude, longitude)| Position { latitude, longitude, altitude }),
    })
}

/// ZDA, read here: the `nmea` crate refuses a signed local zone (`+00`, Firefly-II, Furuno),
/// which NMEA allows. Fields: time, day, month, four-digit year, zone hours, zone minutes;
/// the zone is ignored, the time is UTC.
fn zda(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 4)?;
    let field = |i: usize| f.get(i);
    let time = time_field(field(0))?;
    let date = match (field(1), field(2), field(3)) {
        ("", "", "") => None,
        (d, m, y) if y.len() == 4 => {
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        }
        _ => return None,
    };
    Some(Fact::Zda { time, date })
}

/// GSA, read here: the `nmea` crate refuses an empty VDOP (Oncore, PolaRx2, AC12) and SiRF
/// TriG's fractional system ID. Fields: selection (A/M), mode (1 none, 2 2D, 3 3D), twelve
/// satellite numbers, PDOP, HDOP, VDOP, and from NMEA 4.10 a system ID. A mode other than
/// 1–3 (Antaris's `E` for dead reckoning) states none, as gpsd reads it.
fn gsa(fields: &str, talker: Constellation) -> Option<Fact> {
    let f = Fields::at_least(fields, 2)?;
    let field = |i: usize| f.get(i);
    let mode = match field(1) {
        "1" => Some(FixMode::NoFix),
        "2" => Some(FixMode::TwoD),
        "3" => Some(FixMode::ThreeD),
        _ => None,
    };
    let mut prns = Vec::new();
    for i in 2..14 {
        if let Some(prn) = count(field(i))? {
            prns.push(prn);
        }
    }
    // NMEA 4.1's system ID names the constellation of a GN GSA; without it, a GN GSA's
    // numbers may belong to any.
    let system = match field(17) {
        "1" => Some(Constellation::Gps),
        "2" => Some(Constellation::Glonass),
        "3" => Some(Constellation::Galileo),
        "4" => Some(Constellation::Beidou),
        "5" => Some(Constellation::Qzss),
        "6" => Some(Constellation::Navic),
        _ => (talker != Constellation::Mixed).then_some(talker),
    };
    let used = u32::try_from(prns.len()).unwrap_or(u32::MAX);
    Some(Fact::Gsa {
        mode,
        used,
        prns,
        system,
        pdop: dop(field(14))?,
        hdop: dop(field(15))?,
        vdop: dop(field(16))?,
    })
}

/// GSV, read here: the `nmea` crate refuses a page listing no satellites (`1,1,00`) and
/// fractional angles. Fields: pages, page, satellites in view, then up to four of (number,
/// elevation, azimuth, SNR), and from NMEA 4.10 a signal ID, which a count of fields one past
/// a whole group gives away.
fn gsv(fields: &str, constellation: Constellation) -> Option<Fact> {
    let f = Fields::at_least(fields, 3)?;
    let header = |i: usize| f.get(i).parse::<u16>().ok();
    let (pages, page, in_view) = (header(0)?, header(1)?, count(f.get(2))?.unwrap_or(0));
    let groups = (f.0.len() - 3) / 4;
    let mut signals = Vec::new();
    for g in 0..groups.min(4) {
        let at = |k: usize| f.get(3 + 4 * g + k);
        let Some(prn) = count(at(0))? else { continue };
        let (elevation, azimuth, snr) = (number(at(1))?, number(at(2))?, number(at(3))?);
        signals.push(Signal {
            constellation,
            prn,
            snr: snr.filter(|s| *s > 0.0),
            elevation: elevation.filter(|e| (-90.0..=90.0).contains(e)),
            azimuth: azimuth.filter(|a| (0.0..=360.0).contains(a)),
            used: false,
        });
    }
    Some(Fact::Gsv {
        constellation,
        page,
        pages,
        in_view: u16::try_from(in_view).unwrap_or(u16::MAX),
        signals,
    })
}

/// The antenna in a TXT's text (fields: total, number, severity, text). u-blox writes
/// `ANTSTATUS=OK|OPEN|SHORT` (and `INIT`, `DONTKNOW`: nothing known), MediaTek and Quectel
/// `ANTENNA OK|OPEN|SHORT(ED)`. Any other text says nothing about it.
fn txt_antenna(fields: &str) -> Option<Antenna> {
    let text = fields.splitn(4, ',').nth(3)?.trim().to_ascii_uppercase();
    let state = text.strip_prefix("ANTSTATUS=").or_else(|| text.strip_prefix("ANTENNA "))?;
    match state.trim() {
        "OK" => Some(Antenna::Ok),
        "OPEN" => Some(Antenna::Open),
        "SHORT" | "SHORTED" => Some(Antenna::Short),
        _ => None,
    }
}

/// ST's `$PSTMANTENNASTATUS,<status>,<mode>,<path>,<power>`: status 0 normal, 1 open, 2 short.
fn st_antenna(fields: &str) -> Option<Antenna> {
    match fields.split(',').next()? {
        "0" => Some(Antenna::Ok),
        "1" => Some(Antenna::Open),
        "2" => Some(Antenna::Short),
        _ => None,
    }
}

/// A status field: `A` is valid. NMEA defines only `V` besides, but receivers send other
/// letters (eXplorist 110's `N`) and gpsd takes any of them as "not valid", as does this.
fn status(field: &str) -> Option<bool> {
    match field.as_bytes() {
        b"A" => Some(true),
        [] => Some(false),
        [letter] if letter.is_ascii_uppercase() => Some(false),
        _ => None,
    }
}

/// A number field: `Some(None)` when empty, `None` when it is not a finite number.
fn number(field: &str) -> Option<Option<f32>> {
    match field {
        "" => Some(None),
        v => v.parse::<f32>().ok().filter(|v| v.is_finite()).map(Some),
    }
}

/// A count field (satellites, satellite numbers): `Some(None)` when empty.
fn count(field: &str) -> Option<Option<u32>> {
    match field {
        "" => Some(None),
        v => v.parse::<u32>().ok().map(Some),
    }
}

/// A DOP field. Receivers put placeholders for "unknown" (BT-451 99.99, Jackson Labs 99.0,
/// SkyTraq 0.00): as gpsd does, only 0.01–89.99 is a DOP.
fn dop(field: &str) -> Option<Option<f32>> {
    Some(number(field)?.filter(|d| (0.01..=89.99).contains(d)))
}

/// GLL, read here: the `nmea` crate refuses the GLLs from before NMEA 2.3 (no mode field),
/// which Magellan and SiRF receivers send. Fields: latitude, N/S, longitude, E/W, time,
/// status, mode (2.3). Valid, as gpsd reads it, when the status is `A`, the mode (if any) is
/// not `N` and there is a position.
fn gll(fields: &str) -> Option<Fact> {
    let f = Fields::at_least(fields, 6)?;
    let field = |i: usize| f.get(i);
    let lat_lon = lat_lon([field(0), field(1), field(2), field(3)])?;
    let time = time_field(field(4))?;
    let status_valid = status(field(5))?;
    Some(Fact::Gll { time, valid: status_valid && field(6) != "N" && lat_lon.is_some() })
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
    let mode = f.get(5);
    if !mode.bytes().all(|b| b.is_ascii_uppercase()) || mode.len() > 6 {
        return None;
    }
    // The navigational status (NMEA 4.1: S safe, C caution, U unsafe, V not valid for
    // navigation) speaks of the position's integrity, not of the time; gpsd does not take it
    // as a loss of fix either.
    fix(&f, |_| Some(!matches!(mode.chars().next(), None | Some('N'))))
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
    use crate::nmea::LineFramer;

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
                mode: Some(FixMode::ThreeD),
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

    fn with_checksum(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{sum:02X}\r\n")
    }

    #[test]
    fn gll_before_nmea_2_3_and_with_odd_statuses_is_read() {
        // Magellan eXplorist 210: no mode field.
        let fact = one(&with_checksum("GPGLL,5313.2228,N,00634.4228,E,200620.303,A"));
        assert_eq!(fact, Fact::Gll { time: Some(TimeOfDay::from_hms_milli(20, 6, 20, 303)), valid: true });
        // eXplorist 110 puts `N` in the status; a mode of `N` or no position is no fix either.
        for body in [
            "GPGLL,3728.0549,N,12213.8639,W,014413.076,N,V",
            "GPGLL,3728.0549,N,12213.8639,W,014413.076,A,N",
            "GPGLL,,,,,014413.076,A,A",
        ] {
            assert!(matches!(one(&with_checksum(body)), Fact::Gll { valid: false, .. }), "{body}");
        }
    }

    #[test]
    fn gsa_with_empty_or_odd_trailing_fields_is_read() {
        // Oncore, PolaRx2: no VDOP. SiRF TriG: a fractional "system ID". Blumax: nothing.
        let Fact::Gsa { mode, used, pdop, vdop, .. } =
            one(&with_checksum("GPGSA,A,2,02,04,27,,,,,,,,,,,5.3,"))
        else {
            panic!()
        };
        assert_eq!((mode, used, pdop, vdop), (Some(FixMode::TwoD), 3, None, None));
        let Fact::Gsa { system, hdop, .. } =
            one(&with_checksum("BDGSA,A,3,02,03,04,,,,,,,,,,2.1,1.1,1.8,1.2"))
        else {
            panic!()
        };
        assert_eq!((system, hdop), (Some(Constellation::Beidou), Some(1.1)));
        let Fact::Gsa { system, .. } = one(&with_checksum("GNGSA,A,3,65,66,,,,,,,,,,,1.6,0.9,1.3,2")) else {
            panic!()
        };
        assert_eq!(system, Some(Constellation::Glonass));
        // Antaris's `E` (dead reckoning) states no mode; placeholder DOPs are no DOPs.
        let Fact::Gsa { mode, pdop, .. } = one(&with_checksum("GPGSA,A,E,,,,,,,,,,,,,99.99,99.99,99.99"))
        else {
            panic!()
        };
        assert_eq!((mode, pdop), (None, None));
    }

    #[test]
    fn gsv_pages_without_satellites_or_with_a_signal_id_are_read() {
        let Fact::Gsv { in_view, signals, .. } = one(&with_checksum("GPGSV,1,1,00")) else { panic!() };
        assert_eq!((in_view, signals.len()), (0, 0));
        // NMEA 4.10 signal ID after the last group; `00` SNR is not tracked.
        let Fact::Gsv { signals, .. } = one(&with_checksum("GPGSV,3,3,11,24,,,,39,,,34,46,,,00,1")) else {
            panic!()
        };
        assert_eq!(
            signals.iter().map(|s| (s.prn, s.snr)).collect::<Vec<_>>(),
            [(24, None), (39, Some(34.0)), (46, None)]
        );
    }

    #[test]
    fn zda_with_a_signed_zone_and_gga_with_no_quality_are_read() {
        let Fact::Zda { date, .. } = one(&with_checksum("GPZDA,005947.00,08,07,2010,+00,00")) else {
            panic!()
        };
        assert_eq!(date, NaiveDate::from_ymd_opt(2010, 7, 8));
        // MyGuide 3100: an empty quality; the position decides, as for gpsd.
        let fact = one(&with_checksum("GPGGA,105025.80,5612.9999,N,00306.7096,W,,2,60.000,160.002,M,,M,,"));
        assert!(
            matches!(fact, Fact::Fix { valid: true, satellites_used: Some(2), hdop: Some(60.0), .. }),
            "{fact:?}"
        );
        // Estimated (6) and simulator (8) are not fixes to serve time from.
        for q in ["6", "8"] {
            let body = format!("GPGGA,105025.80,5612.9999,N,00306.7096,W,{q},08,1.0,160.0,M,,M,,");
            assert!(matches!(one(&with_checksum(&body)), Fact::Fix { valid: false, .. }), "{q}");
        }
    }

    #[test]
    fn a_position_off_the_earth_is_no_position_but_the_time_still_counts() {
        // TN200 without a fix: 360° N, 720° E.
        let fact = one(&with_checksum("GPRMC,000416.984,V,36000.0000,N,72000.0000,E,0.000000,,260120,,"));
        let Fact::Rmc { time, position, valid, .. } = fact else { panic!("{fact:?}") };
        assert_eq!((time, position, valid), (Some(TimeOfDay::from_hms_milli(0, 4, 16, 984)), None, false));
        // But a hemisphere that is not one is malformed.
        assert_eq!(
            facts(&with_checksum("GPGLL,5313.2228,X,00634.4228,E,200620.303,A")),
            vec![Err(DecodeError { kind: "GLL" })]
        );
    }

    #[test]
    fn the_antenna_state_comes_from_txt_and_st_status_sentences() {
        for (body, antenna) in [
            ("GPTXT,01,01,02,ANTSTATUS=OK", Antenna::Ok),
            ("GPTXT,01,01,02,ANTSTATUS=OPEN", Antenna::Open),
            ("GNTXT,01,01,01,ANTENNA SHORT", Antenna::Short),
            ("GPTXT,01,01,01,ANTENNA OK", Antenna::Ok),
            ("PSTMANTENNASTATUS,1,0,0,0", Antenna::Open),
        ] {
            assert_eq!(one(&with_checksum(body)), Fact::Antenna(antenna), "{body}");
        }
        for body in ["GPTXT,01,01,02,ANTSTATUS=INIT", "GPTXT,01,01,02,u-blox ag - www.u-blox.com", "GPTXT,01"]
        {
            assert_eq!(one(&with_checksum(body)), Fact::Other, "{body}");
        }
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
