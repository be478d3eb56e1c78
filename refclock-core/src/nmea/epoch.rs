//! Sentences to epochs (pure).
//!
//! An epoch is everything a receiver says about one instant: its timed sentences (RMC, GGA,
//! GNS, ZDA, GLL) carry the same time of day, and the untimed ones (GSA, GSV) that follow belong
//! to the epoch opened before them, which is how every receiver in tests/data/gnss orders its
//! output. A timed sentence with a new time closes the open epoch.
//!
//! Two things come out: the closed [`Epoch`] (status, the decode tool) and, as early as
//! possible, a [`Label`]: the UTC second a valid epoch names, which pairing attaches to a PPS
//! edge. The label cannot wait for the epoch to close, because that happens only when the next
//! second's sentences arrive.

use chrono::{Days, NaiveDate};

use super::calendar::{DateRefusal, DateWindow};
use super::decode::{Antenna, Constellation, Fact, FixMode, Position, Signal, TimeOfDay};

/// Everything the receiver said about one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    pub time_of_day: TimeOfDay,
    pub date: Option<NaiveDate>,
    /// The date came from this epoch's RMC or ZDA, not carried over from an earlier one.
    pub date_stated: bool,
    /// Why the date may not be served, if it may not.
    pub date_refusal: Option<DateRefusal>,
    /// The date the receiver sent, when `date` is that date moved one GPS era forward
    /// ([`WeekRollover::Correct`](super::calendar::WeekRollover)).
    pub date_corrected_from: Option<NaiveDate>,
    /// The receiver's own validity flag (RMC `A`, GGA quality > 0, GNS mode not `N`).
    pub valid: bool,
    pub mode: FixMode,
    pub satellites_used: Option<u32>,
    /// Distinct satellites the GSV pages listed; duplicates from several signal bands merged.
    pub signals: Vec<Signal>,
    pub hdop: Option<f32>,
    pub pdop: Option<f32>,
    pub vdop: Option<f32>,
    pub position: Option<Position>,
    /// The antenna's state as the receiver last reported it (receivers say it at start-up
    /// and on change, not every epoch); `None` if it never did.
    pub antenna: Option<Antenna>,
}

impl Epoch {
    /// Milliseconds since the Unix epoch, when the date is known.
    pub fn unix_millis(&self) -> Option<i64> {
        let midnight = self.date?.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        Some(midnight * 1000 + i64::from(self.time_of_day.millis()))
    }

    /// `2015-04-13T20:26:40.000Z`, gpsd's format.
    pub fn rfc3339(&self) -> Option<String> {
        let date = self.date?;
        let ms = self.time_of_day.millis();
        let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        Some(format!("{date}T{h:02}:{m:02}:{s:02}.{frac:03}Z"))
    }

    pub fn satellites_in_view(&self) -> usize {
        self.signals.len()
    }

    /// Satellites with a carrier-to-noise reading, i.e. actually tracked.
    pub fn satellites_tracked(&self) -> usize {
        self.signals.iter().filter(|s| s.snr.is_some()).count()
    }
}

/// The UTC second a valid epoch names: what pairing needs from NMEA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    /// Unix seconds.
    pub utc_second: i64,
    pub mode: FixMode,
}

/// What one fact did to the assembler.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// The epoch this fact closed, if it started a new one.
    pub closed: Option<Epoch>,
    /// The open epoch became labelled by this fact (at most once per epoch).
    pub label: Option<Label>,
}

/// Counts of epochs that were not labelled, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelCounts {
    pub labelled: u64,
    pub receiver_invalid: u64,
    pub date_refused: u64,
    /// Valid whole-second epochs without an RMC or ZDA date of their own.
    pub undated: u64,
    /// Sub-second epochs (5 Hz receivers, SiRF's `.799`) name no whole second.
    pub fractional: u64,
    /// Of the labelled, those whose date was moved one GPS era forward.
    pub rollover_corrected: u64,
}

#[derive(Clone, Debug, Default)]
struct OpenEpoch {
    time: TimeOfDay,
    stated_date: Option<NaiveDate>,
    rmc_valid: Option<bool>,
    fix_valid: Option<bool>,
    fix_altitude: bool,
    gll_valid: Option<bool>,
    gsa_mode: Option<FixMode>,
    /// A GSA of this epoch arrived: its count replaces the one carried from before.
    gsa_seen: bool,
    gsa_used: u32,
    /// The satellites the GSAs listed as used, with their constellation when it is known.
    gsa_prns: Vec<(Option<Constellation>, u32)>,
    fix_used: Option<u32>,
    signals: Vec<Signal>,
    hdop: Option<f32>,
    pdop: Option<f32>,
    vdop: Option<f32>,
    position: Option<Position>,
    /// The fix mode as the sentences so far set it, in the order they came (see `fold_mode`).
    mode: Option<FixMode>,
    labelled: bool,
}

/// What gpsd keeps from one epoch to the next and judges a fix mode by: whether an altitude
/// is known, how many satellites the last GSA listed, and the last epoch's mode.
#[derive(Clone, Copy, Debug)]
struct Carried {
    altitude: bool,
    used: u32,
    mode: FixMode,
}

impl Default for Carried {
    fn default() -> Carried {
        Carried { altitude: false, used: 0, mode: FixMode::NoFix }
    }
}

impl OpenEpoch {
    fn valid(&self) -> bool {
        self.rmc_valid.or(self.fix_valid).or(self.gll_valid).unwrap_or(false)
    }

    /// The epoch's fix mode. An RMC that says invalid overrides everything: the receiver is
    /// telling us not to use the epoch, whatever a GGA in it says.
    fn final_mode(&self) -> FixMode {
        if self.rmc_valid == Some(false) {
            FixMode::NoFix
        } else {
            self.mode.unwrap_or(FixMode::NoFix)
        }
    }

    /// Satellites used as gpsd counts them: this epoch's GSAs, or the last epoch's.
    fn used(&self, carried: &Carried) -> u32 {
        if self.gsa_seen {
            self.gsa_used
        } else {
            carried.used
        }
    }

    /// The fix mode after `fact`, derived as gpsd derives it: each sentence that speaks of the
    /// fix sets the mode by its own rule, in the order the receiver sent them, so the last
    /// one of the epoch decides. The rules, from gpsd's NMEA driver:
    /// - GGA or GNS: no position, or fewer than 3 satellites: no fix; an altitude with 4 or
    ///   more satellites (or an empty count): 3D; otherwise 2D. Unlike gpsd, a quality of 0
    ///   (or 6–8) is no fix: the receiver says so;
    /// - GSA: the mode it states (the highest of the epoch's GSAs, one per constellation);
    /// - RMC or GLL that is valid: 3D when an altitude is known (from this epoch's GGA or an
    ///   earlier fix) or more than 3 satellites are used; otherwise an RMC is 2D (3D when
    ///   the epoch before was) and a GLL leaves a 2D or 3D as it is;
    /// - RMC or GLL that is not valid: no fix;
    /// - and a 3D is not lowered to 2D while an altitude from an earlier epoch is known.
    fn fold_mode(&mut self, fact: &Fact, carried: &Carried) {
        let altitude = carried.altitude || self.fix_altitude;
        let rich = altitude || self.used(carried) > 3;
        let before = self.mode.unwrap_or(carried.mode);
        let after = match fact {
            Fact::Rmc { valid: false, .. } | Fact::Gll { valid: false, .. } => Some(FixMode::NoFix),
            Fact::Rmc { .. } if rich => Some(FixMode::ThreeD),
            Fact::Rmc { position, .. } => Some(match (position, carried.mode) {
                (None, _) => FixMode::NoFix,
                (Some(_), FixMode::ThreeD) => FixMode::ThreeD,
                (Some(_), _) => FixMode::TwoD,
            }),
            Fact::Gll { .. } if rich => Some(FixMode::ThreeD),
            Fact::Gll { .. } => match self.mode {
                Some(mode @ (FixMode::TwoD | FixMode::ThreeD)) if carried.altitude => Some(mode),
                _ => Some(FixMode::TwoD),
            },
            Fact::Fix { valid, satellites_used, position, .. } => Some(match (valid, position) {
                (false, _) | (true, None) => FixMode::NoFix,
                _ if satellites_used.is_some_and(|n| n < 3) => FixMode::NoFix,
                (true, Some(p)) if p.altitude.is_some() && satellites_used.is_none_or(|n| n >= 4) => {
                    FixMode::ThreeD
                }
                _ => FixMode::TwoD,
            }),
            Fact::Gsa { .. } => self.gsa_mode.or(self.mode),
            _ => self.mode,
        };
        // gpsd does not lower a 3D to 2D while an earlier epoch's altitude is known: receivers
        // that keep sending "2D" in GSA beside a GGA with 7 satellites and an altitude.
        self.mode = match after {
            Some(FixMode::TwoD) if before == FixMode::ThreeD && altitude => Some(FixMode::ThreeD),
            other => other,
        };
    }

    fn merge(&mut self, fact: Fact, carried: &Carried) {
        self.record(&fact);
        self.fold_mode(&fact, carried);
        self.take(fact);
    }

    /// What a fact says about the fix, before the mode is folded.
    fn record(&mut self, fact: &Fact) {
        match fact {
            Fact::Fix { position, .. } => self.fix_altitude = position.is_some_and(|p| p.altitude.is_some()),
            Fact::Gsa { mode, used, .. } => {
                self.gsa_mode = self.gsa_mode.max(*mode);
                self.gsa_used += used;
                self.gsa_seen = true;
            }
            _ => {}
        }
    }

    fn take(&mut self, fact: Fact) {
        match fact {
            Fact::Rmc { date, valid, position, .. } => {
                self.stated_date = self.stated_date.or(date);
                self.rmc_valid = Some(valid);
                self.position = self.position.or(position);
            }
            Fact::Fix { valid, satellites_used, hdop, position, .. } => {
                self.fix_valid = Some(valid);
                self.fix_used = satellites_used.or(self.fix_used);
                self.hdop = hdop.or(self.hdop);
                // GGA carries altitude, RMC does not: prefer the fuller position.
                self.position = position.or(self.position);
            }
            Fact::Zda { date, .. } => self.stated_date = date.or(self.stated_date),
            Fact::Gll { valid, .. } => self.gll_valid = Some(valid),
            Fact::Gsa { prns, system, pdop, hdop, vdop, .. } => {
                self.gsa_prns.extend(prns.into_iter().map(|prn| (system, prn)));
                self.gsa_prns.truncate(MAX_SIGNALS);
                self.pdop = pdop.or(self.pdop);
                self.hdop = self.hdop.or(hdop);
                self.vdop = vdop.or(self.vdop);
            }
            Fact::Gsv { signals, .. } => {
                for signal in signals {
                    self.add_signal(signal);
                }
            }
            Fact::Antenna(_) | Fact::Other => {}
        }
    }

    /// Receivers list a satellite once per signal band; keep it once, with its best SNR.
    fn add_signal(&mut self, signal: Signal) {
        let same = |s: &&mut Signal| s.constellation == signal.constellation && s.prn == signal.prn;
        match self.signals.iter_mut().find(same) {
            Some(known) => {
                known.snr = match (known.snr, signal.snr) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                }
            }
            None => self.signals.push(signal),
        }
    }
}

/// Marks the satellites the GSAs named. A number with no constellation (a GN GSA from before
/// NMEA 4.1) matches that number in any constellation: the numbering ranges (GPS 1–32,
/// GLONASS 65–96, …) keep such matches rare.
fn marked_used(mut signals: Vec<Signal>, used: &[(Option<Constellation>, u32)]) -> Vec<Signal> {
    for signal in &mut signals {
        signal.used = used
            .iter()
            .any(|(system, prn)| *prn == signal.prn && system.is_none_or(|c| c == signal.constellation));
    }
    signals
}

/// Groups decoded sentences into epochs and labels. Bounded: one open epoch at a time, and
/// its satellite list is capped.
#[derive(Clone, Debug, Default)]
pub struct EpochAssembler {
    window: DateWindow,
    open: Option<OpenEpoch>,
    /// The last stated date and the time of day it went with, to date epochs that state none.
    last_date: Option<(NaiveDate, TimeOfDay)>,
    /// What the epochs before leave for judging this one's mode (see `OpenEpoch::fold_mode`).
    carried: Carried,
    /// The constellation of the last GSA before the first timed sentence.
    pre_epoch_gsa: Option<Constellation>,
    /// The last antenna state reported, kept until the receiver reports another.
    antenna: Option<Antenna>,
    counts: LabelCounts,
}

/// More satellites than all constellations fly: anything past it is noise.
const MAX_SIGNALS: usize = 200;

impl EpochAssembler {
    pub fn new(window: DateWindow) -> EpochAssembler {
        EpochAssembler { window, ..Default::default() }
    }

    pub fn counts(&self) -> LabelCounts {
        self.counts
    }

    pub fn push(&mut self, fact: Fact) -> Step {
        let mut step = Step::default();
        if let Some(time) = fact.time() {
            if let Some(open) = self.open.as_mut().filter(|open| open.time != time) {
                if loss_named_under_last_time(&fact) {
                    open.mode = Some(FixMode::NoFix);
                }
                step.closed = self.finish();
            }
            self.open.get_or_insert_with(|| OpenEpoch { time, ..Default::default() });
        }
        if let Fact::Antenna(antenna) = fact {
            self.antenna = Some(antenna);
            return step;
        }
        let Some(open) = self.open.as_mut() else {
            // A GSA before the first timed sentence (SiRF sends one first) still tells gpsd,
            // and us, how many satellites the next epoch's fix uses.
            // GSAs of several constellations add up; one constellation's again replaces it.
            if let Fact::Gsa { used, system, .. } = fact {
                let again = system.is_some() && system == self.pre_epoch_gsa;
                self.carried.used = if again { used } else { self.carried.used.saturating_add(used) };
                self.pre_epoch_gsa = system;
            }
            return step;
        };
        open.merge(fact, &self.carried);
        open.signals.truncate(MAX_SIGNALS);
        if !open.labelled {
            step.label = self.try_label();
        }
        step
    }

    /// Closes the open epoch (end of input, or a new epoch began).
    pub fn finish(&mut self) -> Option<Epoch> {
        let open = self.open.take()?;
        if !open.labelled {
            self.count_unlabelled(&open);
        }
        let (reported, date_stated) = match open.stated_date {
            Some(date) => (Some(date), true),
            None => (self.carried_date(open.time), false),
        };
        let resolved = reported.map(|d| self.window.resolve(d));
        let date = match resolved {
            Some(Ok(r)) => Some(r.date),
            _ => reported,
        };
        if let Some(date) = open.stated_date {
            self.last_date = Some((date, open.time));
        }
        let mode = open.final_mode();
        self.carried = Carried {
            altitude: mode != FixMode::NoFix && (open.fix_altitude || self.carried.altitude),
            used: open.used(&self.carried),
            mode,
        };
        Some(Epoch {
            time_of_day: open.time,
            date,
            date_stated,
            date_refusal: resolved.and_then(Result::err),
            date_corrected_from: resolved.and_then(|r| r.ok()?.corrected_from),
            valid: open.valid(),
            mode,
            satellites_used: open.fix_used.or((open.gsa_used > 0).then_some(open.gsa_used)),
            hdop: open.hdop,
            pdop: open.pdop,
            vdop: open.vdop,
            position: open.position,
            antenna: self.antenna,
            signals: marked_used(open.signals, &open.gsa_prns),
        })
    }

    /// An epoch without its own date takes the last stated one, a day later if midnight passed.
    fn carried_date(&self, time: TimeOfDay) -> Option<NaiveDate> {
        let (date, then) = self.last_date?;
        if time >= then {
            Some(date)
        } else {
            date.checked_add_days(Days::new(1))
        }
    }

    /// Labels the open epoch once it is valid, whole-second and has its own in-window date.
    /// Only a stated date labels: a carried one is a guess across a possible midnight.
    fn try_label(&mut self) -> Option<Label> {
        let open = self.open.as_mut()?;
        let resolved = self.window.resolve(open.stated_date?).ok()?;
        if !open.valid() || !open.time.is_whole_second() {
            return None;
        }
        open.labelled = true;
        self.counts.labelled += 1;
        self.counts.rollover_corrected += u64::from(resolved.corrected_from.is_some());
        let date = resolved.date;
        let midnight = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
        Some(Label { utc_second: midnight + i64::from(open.time.millis() / 1000), mode: open.final_mode() })
    }

    fn count_unlabelled(&mut self, open: &OpenEpoch) {
        if !open.time.is_whole_second() {
            self.counts.fractional += 1;
        } else if !open.valid() {
            self.counts.receiver_invalid += 1;
        } else if open.stated_date.is_none() {
            self.counts.undated += 1;
        } else {
            self.counts.date_refused += 1;
        }
    }
}

/// gpsd does not take the time of an RMC marked invalid (the MTK3301 and the RGM-3800 send
/// bogus times with `V`, its driver notes), so when such an RMC carries a time and a date,
/// gpsd reports the loss of fix under the last good time: the epoch the RMC closes ends with
/// no fix in gpsd's view, and in ours. The label that epoch gave when it was valid stands; an
/// invalid RMC without a date leaves gpsd with no time at all, and the epoch before as it was.
fn loss_named_under_last_time(fact: &Fact) -> bool {
    matches!(fact, Fact::Rmc { valid: false, time: Some(_), date: Some(_), .. })
}

/// The constellations present in an epoch's satellite list, for status displays.
pub fn constellations(signals: &[Signal]) -> Vec<Constellation> {
    let mut seen: Vec<Constellation> = signals.iter().map(|s| s.constellation).collect();
    seen.sort();
    seen.dedup();
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nmea::{NmeaEvent, NmeaStream};

    fn sentence(body: &str) -> String {
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{sum:02X}\r\n")
    }

    fn window() -> DateWindow {
        DateWindow::starting(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
    }

    fn run(lines: &[&str]) -> (Vec<Label>, Vec<Epoch>, LabelCounts) {
        let mut stream = NmeaStream::new(window());
        let (mut labels, mut epochs) = (Vec::new(), Vec::new());
        for line in lines {
            stream.push(sentence(line).as_bytes(), |event| match event {
                NmeaEvent::Label(label) => labels.push(label),
                NmeaEvent::Epoch(epoch) => epochs.push(epoch),
            });
        }
        epochs.extend(stream.finish());
        (labels, epochs, stream.counts().labels)
    }

    const FIX_1: &str = "GPRMC,120001.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A";
    const GGA_1: &str = "GPGGA,120001.00,4404.1306,N,12118.8515,W,1,08,0.9,100.0,M,-19.6,M,,";
    const GSA: &str = "GPGSA,A,3,01,02,03,04,05,06,07,08,,,,,1.6,0.9,1.3";
    const FIX_2: &str = "GPRMC,120002.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A";

    /// The fix mode of the first epoch of these sentences (then a second to close it).
    fn mode_of(lines: &[&str]) -> FixMode {
        let mut all = lines.to_vec();
        all.push(FIX_2);
        run(&all).1[0].mode
    }

    #[test]
    fn without_gsa_the_mode_follows_gga_as_gpsd_derives_it() {
        // A position and an altitude: 3D; no altitude (old SiRF): 2D; under 3 satellites or
        // no position: no fix, whatever the quality says.
        assert_eq!(mode_of(&[FIX_1, GGA_1]), FixMode::ThreeD);
        let no_altitude = "GPGGA,120001.00,4404.1306,N,12118.8515,W,1,08,0.9,,M,,M,,";
        assert_eq!(mode_of(&[FIX_1, no_altitude]), FixMode::TwoD);
        let two = "GPGGA,120001.00,4404.1306,N,12118.8515,W,1,02,0.9,100.0,M,-19.6,M,,";
        assert_eq!(mode_of(&[FIX_1, two]), FixMode::NoFix);
        let no_position = "GPGGA,120001.00,,,,,1,08,0.9,100.0,M,-19.6,M,,";
        assert_eq!(mode_of(&[FIX_1, no_position]), FixMode::NoFix);
    }

    #[test]
    fn gns_alone_gives_the_mode_too() {
        let gns = "GNGNS,120001.00,4404.1306,N,12118.8515,W,AANN,13,0.9,100.0,-19.6,,,S";
        assert_eq!(mode_of(&[FIX_1, gns]), FixMode::ThreeD);
        let gns_2d = "GNGNS,120001.00,4404.1306,N,12118.8515,W,ANNN,05,0.9,,,,,S";
        assert_eq!(mode_of(&[FIX_1, gns_2d]), FixMode::TwoD);
    }

    #[test]
    fn a_gsa_saying_2d_does_not_lower_a_gga_with_altitude_but_no_fix_is_believed() {
        // As gpsd reports such receivers (a Quectel sends "2D" with 7 satellites and an
        // altitude): the documented choice is to follow gpsd. The label is the same either way.
        let gsa_2d = "GPGSA,A,2,06,07,11,19,22,28,30,,,,,,1.4,1.1,0.8";
        assert_eq!(mode_of(&[FIX_1, GGA_1, gsa_2d]), FixMode::ThreeD);
        let gsa_none = "GPGSA,A,1,,,,,,,,,,,,,,,";
        assert_eq!(mode_of(&[FIX_1, GGA_1, gsa_none]), FixMode::NoFix);
        assert_eq!(mode_of(&[FIX_1, GSA]), FixMode::ThreeD);
    }

    #[test]
    fn rmc_alone_is_2d_unless_an_altitude_was_just_known() {
        assert_eq!(mode_of(&[FIX_1]), FixMode::TwoD);
        // RMC after an epoch with GGA altitude: gpsd keeps the altitude, so 3D.
        let (_, epochs, _) =
            run(&[FIX_1, GGA_1, FIX_2, "GPRMC,120003.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A"]);
        assert_eq!(epochs[1].mode, FixMode::ThreeD);
    }

    #[test]
    fn the_last_sentence_of_the_epoch_sets_the_mode() {
        // A Garmin Foretrex: a GGA with no satellite count worth the name (0) and a GSA saying
        // 2D, then a GLL; gpsd's GLL rule makes it 3D because an altitude is known.
        let gga_0 = "GPGGA,120001.00,4404.1306,N,12118.8515,W,2,00,2.5,-9.1,M,43.9,M,,";
        let gsa_2d = "GPGSA,A,2,,,,,,,,,,,,,2.7,2.5,1.0";
        let gll = "GPGLL,4404.1306,N,12118.8515,W,120001.00,A,D";
        assert_eq!(mode_of(&[FIX_1, gga_0, gsa_2d]), FixMode::TwoD);
        assert_eq!(mode_of(&[FIX_1, gga_0, gsa_2d, gll]), FixMode::ThreeD);
        // A GLL with no altitude known anywhere keeps to 2D.
        assert_eq!(mode_of(&[FIX_1, "GPGLL,4404.1306,N,12118.8515,W,120001.00,A,A"]), FixMode::TwoD);
    }

    #[test]
    fn three_satellites_with_an_altitude_are_2d_until_the_next_epoch() {
        // gpsd's GGA wants 4 satellites for 3D; the next epoch's RMC then finds the altitude.
        let gga_3 = "GPGGA,120001.00,4404.1306,N,12118.8515,W,1,03,4.1,063.76,M,22.4,M,,";
        let (_, epochs, _) =
            run(&[FIX_1, gga_3, FIX_2, "GPRMC,120003.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A"]);
        assert_eq!(epochs[0].mode, FixMode::TwoD);
        assert_eq!(epochs[1].mode, FixMode::ThreeD);
    }

    #[test]
    fn satellites_used_carry_into_epochs_without_a_gsa() {
        // SiRF sends its GSA before the first RMC, and some receivers send a GSA only every
        // other epoch: the count still stands, as it does for gpsd.
        assert_eq!(mode_of(&[GSA, FIX_1]), FixMode::ThreeD);
        let (_, epochs, _) =
            run(&[FIX_1, GSA, FIX_2, "GPRMC,120003.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A"]);
        assert_eq!(epochs[1].mode, FixMode::ThreeD);
        // Two constellations' GSAs before the first epoch add up (2 + 2 > 3).
        let gp = "GNGSA,A,3,03,19,,,,,,,,,,,2.75,2.56,1.00";
        let gl = "GNGSA,A,3,88,87,,,,,,,,,,,2.75,2.56,1.00";
        assert_eq!(mode_of(&[gp, gl, FIX_1]), FixMode::ThreeD);
        assert_eq!(mode_of(&[gp, FIX_1]), FixMode::TwoD);
    }

    #[test]
    fn an_invalid_rmc_is_no_fix_whatever_follows() {
        let invalid = "GPRMC,120001.00,V,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,N";
        assert_eq!(mode_of(&[invalid, GGA_1, GSA]), FixMode::NoFix);
    }

    #[test]
    fn the_antenna_state_stands_until_the_receiver_reports_another() {
        let (_, epochs, _) = run(&[
            "GPTXT,01,01,02,ANTSTATUS=OK",
            FIX_1,
            FIX_2,
            "GPTXT,01,01,02,ANTSTATUS=OPEN",
            "GPRMC,120003.00,V,,,,,,,211126,,,N",
        ]);
        let states: Vec<_> = epochs.iter().map(|e| e.antenna).collect();
        assert_eq!(states, [Some(Antenna::Ok), Some(Antenna::Open), Some(Antenna::Open)]);
        assert_eq!(run(&[FIX_1]).1[0].antenna, None);
    }

    #[test]
    fn any_talker_carries_the_time() {
        // An integrated navigation system's talker (IN), as a Humminbird sends it.
        let (labels, epochs, _) =
            run(&["INRMC,120001,A,4426.1130,N,07140.5596,W,5.2,77.3,211126,15.8,W", FIX_2]);
        assert_eq!(epochs[0].rfc3339().as_deref(), Some("2026-11-21T12:00:01.000Z"));
        assert_eq!(labels.first().map(|l| l.utc_second % 60), Some(1));
    }

    #[test]
    fn gsa_marks_the_satellites_used_and_gsv_places_them_in_the_sky() {
        let (_, epochs, _) = run(&[
            FIX_1,
            "GPGSA,A,3,20,16,,,,,,,,,,,1.6,0.9,1.3",
            "GLGSA,A,3,20,,,,,,,,,,,,1.6,0.9,1.3",
            "GPGSV,1,1,03,20,45,120,40,16,10,300,33,09,05,010,",
            "GLGSV,1,1,01,71,30,200,35",
        ]);
        let used: Vec<(u32, bool)> = epochs[0].signals.iter().map(|s| (s.prn, s.used)).collect();
        assert_eq!(used, [(20, true), (16, true), (9, false), (71, false)]);
        let first = &epochs[0].signals[0];
        assert_eq!((first.elevation, first.azimuth), (Some(45.0), Some(120.0)));
    }

    #[test]
    fn a_valid_epoch_is_labelled_once_as_soon_as_rmc_arrives() {
        let (labels, epochs, counts) = run(&[FIX_1, GGA_1, GSA, FIX_2]);
        let second = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap().and_hms_opt(12, 0, 1).unwrap();
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[0].utc_second, second.and_utc().timestamp());
        assert_eq!(labels[1].utc_second, labels[0].utc_second + 1);
        assert_eq!(epochs.len(), 2);
        assert_eq!(epochs[0].mode, FixMode::ThreeD);
        assert_eq!(epochs[0].satellites_used, Some(8));
        assert_eq!(epochs[0].rfc3339().as_deref(), Some("2026-11-21T12:00:01.000Z"));
        assert_eq!(counts.labelled, 2);
    }

    #[test]
    fn an_invalid_epoch_is_never_labelled() {
        let (labels, epochs, counts) =
            run(&["GPRMC,120001.00,V,,,,,,,211126,,,N", "GPGGA,120001.00,,,,,0,00,,,M,,M,,"]);
        assert!(labels.is_empty());
        assert_eq!(epochs[0].mode, FixMode::NoFix);
        assert_eq!(counts.receiver_invalid, 1);
    }

    #[test]
    fn a_rollover_date_is_never_labelled() {
        // 2026-11-21 minus 1024 weeks.
        let (labels, epochs, counts) =
            run(&["GPRMC,120001.00,A,4404.1306,N,12118.8515,W,0.0,0.0,070407,,,A"]);
        assert!(labels.is_empty());
        assert!(matches!(epochs[0].date_refusal, Some(DateRefusal::TooEarly { .. })));
        assert_eq!(counts.date_refused, 1);
    }

    #[test]
    fn a_rollover_date_is_labelled_one_era_later_when_correction_is_asked() {
        let window = DateWindow::starting(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
            .with_rollover(crate::nmea::WeekRollover::Correct);
        let mut stream = NmeaStream::new(window);
        let mut labels = Vec::new();
        stream.push(
            sentence("GPRMC,120001.00,A,4404.1306,N,12118.8515,W,0.0,0.0,070407,,,A").as_bytes(),
            |event| {
                if let NmeaEvent::Label(label) = event {
                    labels.push(label);
                }
            },
        );
        let epoch = stream.finish().unwrap();
        let second = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap().and_hms_opt(12, 0, 1).unwrap();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].utc_second, second.and_utc().timestamp());
        assert_eq!(epoch.rfc3339().as_deref(), Some("2026-11-21T12:00:01.000Z"));
        assert_eq!(epoch.date_corrected_from, NaiveDate::from_ymd_opt(2007, 4, 7));
        assert_eq!(epoch.date_refusal, None);
        assert_eq!(stream.counts().labels.rollover_corrected, 1);
    }

    #[test]
    fn a_loss_of_fix_in_an_invalid_rmc_ends_the_epoch_before_it() {
        // gpsd takes no time from an RMC marked V: a dated one reports the loss under the last
        // good second. The label that second gave stands.
        let lost = "GPRMC,120002.00,V,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,N";
        let (labels, epochs, _) = run(&[FIX_1, GGA_1, GSA, lost]);
        assert_eq!(labels.len(), 1);
        assert_eq!((epochs[0].mode, epochs[1].mode), (FixMode::NoFix, FixMode::NoFix));
        // Without a date gpsd has no time for the RMC at all, and leaves the second before as it was.
        let undated = "GPRMC,120002.00,V,,,,,,,,,,N";
        assert_eq!(run(&[FIX_1, GGA_1, GSA, undated]).1[0].mode, FixMode::ThreeD);
        // A GGA without a fix names its own second (gpsd reports it there too).
        let gga_lost = "GPGGA,120002.00,,,,,0,00,,,M,,M,,";
        assert_eq!(run(&[FIX_1, GGA_1, GSA, gga_lost]).1[0].mode, FixMode::ThreeD);
    }

    #[test]
    fn an_epoch_without_its_own_date_is_shown_but_not_labelled() {
        let gga_2 = "GPGGA,120002.00,4404.1306,N,12118.8515,W,1,08,0.9,100.0,M,-19.6,M,,";
        let (labels, epochs, counts) = run(&[FIX_1, gga_2]);
        assert_eq!(labels.len(), 1);
        assert_eq!(epochs[1].rfc3339().as_deref(), Some("2026-11-21T12:00:02.000Z"));
        assert!(!epochs[1].date_stated);
        assert_eq!(counts.undated, 1);
    }

    #[test]
    fn a_carried_date_advances_past_midnight() {
        let before = "GPRMC,235959.00,A,4404.1306,N,12118.8515,W,0.0,0.0,211126,,,A";
        let after = "GPGGA,000000.00,4404.1306,N,12118.8515,W,1,08,0.9,100.0,M,-19.6,M,,";
        let (_, epochs, _) = run(&[before, after]);
        assert_eq!(epochs[1].rfc3339().as_deref(), Some("2026-11-22T00:00:00.000Z"));
    }

    #[test]
    fn sub_second_epochs_are_shown_but_not_labelled() {
        let (labels, epochs, counts) =
            run(&["GNRMC,055234.200,A,4739.71890,N,12219.58362,W,0.0,,211126,,,A"]);
        assert!(labels.is_empty());
        assert_eq!(epochs[0].rfc3339().as_deref(), Some("2026-11-21T05:52:34.200Z"));
        assert_eq!(counts.fractional, 1);
    }

    #[test]
    fn a_satellite_seen_on_two_bands_counts_once_with_its_best_snr() {
        let (_, epochs, _) =
            run(&[FIX_1, "GBGSV,1,1,02,19,40,100,30,21,50,200,,1", "GBGSV,1,1,01,19,40,100,41,5"]);
        assert_eq!(epochs[0].satellites_in_view(), 2);
        assert_eq!(epochs[0].satellites_tracked(), 1);
        assert_eq!(epochs[0].signals[0].snr, Some(41.0));
    }
}
