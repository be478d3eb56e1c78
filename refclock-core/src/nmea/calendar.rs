//! Which receiver dates may be served (pure).
//!
//! GPS broadcasts a 10-bit week number, so a receiver whose firmware assumes the wrong 1024-week
//! era reports a date 19.6 years in the past (the 1999 and 2019 rollovers broke many). A receiver
//! with no almanac reports its power-on default (often 1980 or its firmware date). A time server
//! must never serve either as it stands. The window is `[not_before, not_before + 1024 weeks)`:
//! `not_before` is the software's release date, so every honest date is inside it for the next
//! 19 years, and the window is never wider than one GPS era, so a wrong-era date is always
//! outside it.
//!
//! Moving a date from the era before the window one era forward, as gpsd and NTPsec's NMEA driver
//! do, is [`WeekRollover::Correct`], the operator's choice for a receiver known to have the
//! rollover bug: a power-on default from that era would be moved into the window too, and no
//! rule can tell the two apart.

use chrono::{Days, NaiveDate};

/// Days in one GPS week-number era.
pub const GPS_ERA_DAYS: u64 = 1024 * 7;

/// The release date of this version: the earliest date the daemon will believe.
pub const RELEASE_DATE: (i32, u32, u32) = (2026, 11, 1);

/// Why a receiver's date was refused. A date before the window cannot be told apart from a
/// wrong-era date (every date since 1980 is some whole number of eras before the window), so
/// the message names both causes and what the date would be one era later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateRefusal {
    #[error(
        "receiver date {reported} is before {not_before}, the earliest this release believes: \
         a GPS week-number rollover (1024 weeks later is {one_era_later}) or a stale receiver clock"
    )]
    TooEarly { reported: NaiveDate, not_before: NaiveDate, one_era_later: NaiveDate },
    #[error("receiver date {reported} is 1024 weeks or more after {not_before}")]
    TooLate { reported: NaiveDate, not_before: NaiveDate },
}

/// What to do with a date from the GPS era before the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WeekRollover {
    /// Refuse it (the default): it may be a power-on default rather than a rollover.
    #[default]
    Refuse,
    /// Move it one era (1024 weeks) forward, for a receiver known to have the rollover bug.
    /// Dates two or more eras back (1980's and 1999's power-on defaults) are still refused.
    Correct,
}

/// The date to use for a reported one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedDate {
    pub date: NaiveDate,
    /// The date the receiver sent, when it was moved one era forward.
    pub corrected_from: Option<NaiveDate>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateWindow {
    pub not_before: NaiveDate,
    pub rollover: WeekRollover,
}

impl Default for DateWindow {
    fn default() -> Self {
        let (y, m, d) = RELEASE_DATE;
        DateWindow::starting(NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN))
    }
}

impl DateWindow {
    pub fn starting(not_before: NaiveDate) -> DateWindow {
        DateWindow { not_before, rollover: WeekRollover::Refuse }
    }

    pub fn with_rollover(self, rollover: WeekRollover) -> DateWindow {
        DateWindow { rollover, ..self }
    }

    fn end(&self) -> NaiveDate {
        self.not_before.checked_add_days(Days::new(GPS_ERA_DAYS)).unwrap_or(NaiveDate::MAX)
    }

    /// Accepts a date inside the window. Dates outside it are refused, except that with
    /// [`WeekRollover::Correct`] a date less than one era before the window is moved one era
    /// forward, which always lands it inside.
    pub fn resolve(&self, date: NaiveDate) -> Result<ResolvedDate, DateRefusal> {
        let one_era_later = date.checked_add_days(Days::new(GPS_ERA_DAYS)).unwrap_or(NaiveDate::MAX);
        if date >= self.end() {
            Err(DateRefusal::TooLate { reported: date, not_before: self.not_before })
        } else if date >= self.not_before {
            Ok(ResolvedDate { date, corrected_from: None })
        } else if self.rollover == WeekRollover::Correct && one_era_later >= self.not_before {
            Ok(ResolvedDate { date: one_era_later, corrected_from: Some(date) })
        } else {
            Err(DateRefusal::TooEarly { reported: date, not_before: self.not_before, one_era_later })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Whether the date is served, as it stands or corrected.
    fn check(window: &DateWindow, date: NaiveDate) -> Result<(), DateRefusal> {
        window.resolve(date).map(|_| ())
    }

    #[test]
    fn dates_inside_the_window_pass() {
        let window = DateWindow::starting(date(2026, 11, 1));
        assert_eq!(check(&window, date(2026, 11, 1)), Ok(()));
        assert_eq!(check(&window, date(2030, 6, 30)), Ok(()));
        assert!(check(&window, date(2046, 6, 18)).is_err());
    }

    #[test]
    fn a_2019_style_rollover_is_refused_and_named() {
        // A receiver that rolled over in April 2019 reports August 1999 instead.
        let window = DateWindow::starting(date(2019, 1, 1));
        let refusal = check(&window, date(1999, 8, 22)).unwrap_err();
        assert_eq!(
            refusal,
            DateRefusal::TooEarly {
                reported: date(1999, 8, 22),
                not_before: date(2019, 1, 1),
                one_era_later: date(2019, 4, 7)
            }
        );
        assert!(refusal.to_string().contains("rollover (1024 weeks later is 2019-04-07)"));
    }

    #[test]
    fn a_1999_style_rollover_is_refused() {
        let window = DateWindow::starting(date(1999, 8, 1));
        assert!(matches!(check(&window, date(1980, 1, 7)), Err(DateRefusal::TooEarly { .. })));
    }

    #[test]
    fn a_date_an_era_or_more_ahead_is_refused() {
        let window = DateWindow::starting(date(2026, 11, 1));
        assert!(matches!(check(&window, date(2080, 1, 5)), Err(DateRefusal::TooLate { .. })));
    }

    #[test]
    fn a_rollover_is_corrected_only_when_asked_and_only_from_the_era_before() {
        let window = DateWindow::starting(date(2026, 11, 1)).with_rollover(WeekRollover::Correct);
        // A receiver that lost one era reports 2007-04-15 for 2026-11-29.
        assert_eq!(
            window.resolve(date(2007, 4, 15)),
            Ok(ResolvedDate { date: date(2026, 11, 29), corrected_from: Some(date(2007, 4, 15)) })
        );
        assert_eq!(
            window.resolve(date(2027, 1, 1)),
            Ok(ResolvedDate { date: date(2027, 1, 1), corrected_from: None })
        );
        // The day before the era boundary would land one day before the window: refused.
        assert!(matches!(window.resolve(date(2007, 3, 17)), Err(DateRefusal::TooEarly { .. })));
        assert_eq!(window.resolve(date(2007, 3, 18)).map(|r| r.date), Ok(date(2026, 11, 1)));
        // 1980's and 1999's power-on defaults are two or more eras back.
        assert!(window.resolve(date(1980, 1, 6)).is_err());
        assert!(window.resolve(date(1999, 8, 22)).is_err());
        assert!(matches!(window.resolve(date(2080, 1, 5)), Err(DateRefusal::TooLate { .. })));
        let refusing = DateWindow::starting(date(2026, 11, 1));
        assert!(refusing.resolve(date(2007, 4, 15)).is_err());
    }

    #[test]
    fn the_default_window_starts_at_the_release_date() {
        let window = DateWindow::default();
        assert!(check(&window, date(2015, 4, 13)).is_err());
        assert_eq!(check(&window, date(2027, 1, 1)), Ok(()));
    }
}
