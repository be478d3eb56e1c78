//! Which receiver dates may be served (pure).
//!
//! GPS broadcasts a 10-bit week number, so a receiver whose firmware assumes the wrong 1024-week
//! era reports a date 19.6 years in the past (the 1999 and 2019 rollovers broke many). A receiver
//! with no almanac reports its power-on default (often 1980 or its firmware date). A time server
//! must never serve either. The window is `[not_before, not_before + 1024 weeks)`: `not_before` is
//! the software's release date, so every honest date is inside it for the next 19 years, and the
//! window is never wider than one GPS era, so a wrong-era date is always outside it.

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateWindow {
    pub not_before: NaiveDate,
}

impl Default for DateWindow {
    fn default() -> Self {
        let (y, m, d) = RELEASE_DATE;
        DateWindow { not_before: NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN) }
    }
}

impl DateWindow {
    pub fn starting(not_before: NaiveDate) -> DateWindow {
        DateWindow { not_before }
    }

    fn end(&self) -> NaiveDate {
        self.not_before.checked_add_days(Days::new(GPS_ERA_DAYS)).unwrap_or(NaiveDate::MAX)
    }

    /// Accepts a date inside the window. Dates outside it are refused, never corrected: a
    /// receiver's power-on default can also land inside the window after some eras, and
    /// serving that would be worse than silence.
    pub fn check(&self, date: NaiveDate) -> Result<(), DateRefusal> {
        if date < self.not_before {
            let one_era_later = date.checked_add_days(Days::new(GPS_ERA_DAYS)).unwrap_or(NaiveDate::MAX);
            Err(DateRefusal::TooEarly { reported: date, not_before: self.not_before, one_era_later })
        } else if date >= self.end() {
            Err(DateRefusal::TooLate { reported: date, not_before: self.not_before })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_inside_the_window_pass() {
        let window = DateWindow::starting(date(2026, 11, 1));
        assert_eq!(window.check(date(2026, 11, 1)), Ok(()));
        assert_eq!(window.check(date(2030, 6, 30)), Ok(()));
        assert!(window.check(date(2046, 6, 18)).is_err());
    }

    #[test]
    fn a_2019_style_rollover_is_refused_and_named() {
        // A receiver that rolled over in April 2019 reports August 1999 instead.
        let window = DateWindow::starting(date(2019, 1, 1));
        let refusal = window.check(date(1999, 8, 22)).unwrap_err();
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
        assert!(matches!(window.check(date(1980, 1, 7)), Err(DateRefusal::TooEarly { .. })));
    }

    #[test]
    fn a_date_an_era_or_more_ahead_is_refused() {
        let window = DateWindow::starting(date(2026, 11, 1));
        assert!(matches!(window.check(date(2080, 1, 5)), Err(DateRefusal::TooLate { .. })));
    }

    #[test]
    fn the_default_window_starts_at_the_release_date() {
        let window = DateWindow::default();
        assert!(window.check(date(2015, 4, 13)).is_err());
        assert_eq!(window.check(date(2027, 1, 1)), Ok(()));
    }
}
