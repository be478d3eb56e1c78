//! Leap seconds from a `leap-seconds.list` file (tzdata / IERS format): which leap, if any,
//! ends the current UTC day, and whether the list can still be trusted (its `#@` expiry).
//!
//! An expired or missing list is reported, never guessed around: the server then announces
//! no leap, and the operator is told why.

use std::fmt;

use crate::time::UNIX_TO_NTP_SECONDS;

const DAY: i64 = 86_400;

/// A leap second at the end of a UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leap {
    Insert,
    Delete,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeapSeconds {
    /// (Unix second at which the offset takes effect, TAI - UTC from then on), ascending.
    entries: Vec<(i64, i32)>,
    /// Unix second after which the list says nothing.
    expires: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeapListError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: &'static str },
    #[error("no `#@` expiry line")]
    NoExpiry,
    #[error("no leap second entries")]
    Empty,
}

/// What the list says at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeapStatus {
    /// The list is current: `pending` is the leap at the end of today, if any.
    Known { pending: Option<Leap>, tai_offset: i32 },
    /// The list expired at this Unix second: leaps after it are unknown.
    Expired { at: i64 },
    /// No list was configured or it could not be read.
    Unavailable,
    /// No current list: what a majority of the `of` reachable trusted sources announce
    /// (`votes` of them announced `pending`, or nothing).
    FromNetwork { pending: Option<Leap>, votes: usize, of: usize },
}

impl LeapStatus {
    /// The leap at the end of today, as far as anything says.
    pub fn pending(&self) -> Option<Leap> {
        match *self {
            LeapStatus::Known { pending, .. } | LeapStatus::FromNetwork { pending, .. } => pending,
            _ => None,
        }
    }
}

impl fmt::Display for LeapStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeapStatus::Known { pending: None, tai_offset } => {
                write!(f, "no leap pending (TAI-UTC {tai_offset} s)")
            }
            LeapStatus::Known { pending: Some(leap), tai_offset } => {
                write!(f, "leap second {leap:?} at midnight UTC tonight (TAI-UTC {tai_offset} s)")
            }
            LeapStatus::Expired { at } => write!(f, "leap second list expired (Unix {at}); leaps unknown"),
            LeapStatus::Unavailable => write!(f, "no leap second list; leaps unknown"),
            LeapStatus::FromNetwork { pending: None, of, .. } => {
                write!(f, "no current leap second list; no leap announced by {of} trusted source(s)")
            }
            LeapStatus::FromNetwork { pending: Some(leap), votes, of } => write!(
                f,
                "no current leap second list; leap second {leap:?} at midnight UTC tonight, announced by {votes} of {of} trusted sources"
            ),
        }
    }
}

impl LeapSeconds {
    pub fn parse(text: &str) -> Result<LeapSeconds, LeapListError> {
        let mut entries = Vec::new();
        let mut expires = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |reason| LeapListError::Line { line, reason };
            if let Some(rest) = raw.strip_prefix("#@") {
                let ntp = ntp_seconds(rest.trim()).ok_or(bad("expiry is not an NTP second"))?;
                expires = Some(ntp - UNIX_TO_NTP_SECONDS);
                continue;
            }
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let mut fields = content.split_whitespace();
            let ntp = fields.next().and_then(ntp_seconds).ok_or(bad("expected an NTP second"))?;
            let offset: i32 =
                fields.next().and_then(|f| f.parse().ok()).ok_or(bad("expected the TAI-UTC offset"))?;
            let unix = ntp - UNIX_TO_NTP_SECONDS;
            if unix.rem_euclid(DAY) != 0 {
                return Err(bad("a leap must take effect at midnight UTC"));
            }
            if entries.last().is_some_and(|&(previous, _)| previous >= unix) {
                return Err(bad("entries must be in ascending order"));
            }
            entries.push((unix, offset));
        }
        if entries.is_empty() {
            return Err(LeapListError::Empty);
        }
        Ok(LeapSeconds { entries, expires: expires.ok_or(LeapListError::NoExpiry)? })
    }

    /// The status at Unix second `now`.
    pub fn status(&self, now: i64) -> LeapStatus {
        if now >= self.expires {
            return LeapStatus::Expired { at: self.expires };
        }
        let tai_offset = self.entries.iter().take_while(|&&(t, _)| t <= now).last().map_or(0, |&(_, o)| o);
        let midnight = (now.div_euclid(DAY) + 1) * DAY;
        let pending = self.entries.iter().find(|&&(t, _)| t == midnight).map(|&(_, next)| {
            if next > tai_offset {
                Leap::Insert
            } else {
                Leap::Delete
            }
        });
        LeapStatus::Known { pending, tai_offset }
    }
}

/// Without a current list (`list` expired or unavailable), the leap the trusted sources
/// announce: taken only when more than half of the `reachable` ones announce it, and only on
/// the last day of June or December, the days a leap may end (servers may announce a leap
/// for a whole month; the kernel would apply it at the first midnight).
pub fn with_network_leap(list: LeapStatus, announced: &[Leap], reachable: usize, now: i64) -> LeapStatus {
    use chrono::Datelike;
    if matches!(list, LeapStatus::Known { .. }) || reachable == 0 {
        return list;
    }
    let day = chrono::DateTime::from_timestamp(now, 0).map(|t| (t.month(), t.day()));
    let leap_day = matches!(day, Some((6, 30)) | Some((12, 31)));
    let majority = |leap: Leap| {
        let votes = announced.iter().filter(|a| **a == leap).count();
        (2 * votes > reachable).then_some((leap, votes))
    };
    match majority(Leap::Insert).or_else(|| majority(Leap::Delete)).filter(|_| leap_day) {
        Some((leap, votes)) => LeapStatus::FromNetwork { pending: Some(leap), votes, of: reachable },
        None => LeapStatus::FromNetwork { pending: None, votes: 0, of: reachable },
    }
}

/// NTP seconds as the list writes them: unsigned, and far from overflowing anything.
fn ntp_seconds(field: &str) -> Option<i64> {
    field.parse::<u64>().ok().filter(|&s| s < 1 << 40).map(|s| s as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_list_a_majority_of_sources_announces_the_leap_on_a_leap_day_only() {
        // 2026-12-31T12:00Z and 2026-12-15T12:00Z.
        let (leap_day, other_day) = (1_798_718_400, 1_797_336_000);
        let expired = LeapStatus::Expired { at: 0 };
        let insert = [Leap::Insert, Leap::Insert];
        assert_eq!(
            with_network_leap(expired, &insert, 3, leap_day),
            LeapStatus::FromNetwork { pending: Some(Leap::Insert), votes: 2, of: 3 }
        );
        assert_eq!(
            with_network_leap(expired, &insert, 3, other_day),
            LeapStatus::FromNetwork { pending: None, votes: 0, of: 3 }
        );
        assert_eq!(
            with_network_leap(LeapStatus::Unavailable, &insert, 4, leap_day),
            LeapStatus::FromNetwork { pending: None, votes: 0, of: 4 },
            "two of four is no majority"
        );
        assert_eq!(with_network_leap(expired, &insert, 0, leap_day), expired, "no sources: unknown");
        let known = LeapStatus::Known { pending: None, tai_offset: 37 };
        assert_eq!(with_network_leap(known, &insert, 3, leap_day), known, "a current list wins");
    }

    const LIST: &str = "#\tsample\n#@\t3960057600\n2272060800\t10\t# 1 Jan 1972\n3692217600\t37\t# 1 Jan 2017\n3944678400\t38\t# 1 Jan 2025 (made up)\n3952627200\t37\t# 3 Apr 2025 (made up)\n#h\tabc\n";

    fn unix(ntp: i64) -> i64 {
        ntp - UNIX_TO_NTP_SECONDS
    }

    #[test]
    fn insert_and_delete_are_announced_on_their_last_day_only() {
        let list = LeapSeconds::parse(LIST).unwrap();
        let insert_at = unix(3_944_678_400);
        assert_eq!(list.status(insert_at - DAY - 1), LeapStatus::Known { pending: None, tai_offset: 37 });
        assert_eq!(
            list.status(insert_at - DAY),
            LeapStatus::Known { pending: Some(Leap::Insert), tai_offset: 37 }
        );
        assert_eq!(
            list.status(insert_at - 1),
            LeapStatus::Known { pending: Some(Leap::Insert), tai_offset: 37 }
        );
        assert_eq!(list.status(insert_at), LeapStatus::Known { pending: None, tai_offset: 38 });
        let delete_at = unix(3_952_627_200);
        assert_eq!(
            list.status(delete_at - 10),
            LeapStatus::Known { pending: Some(Leap::Delete), tai_offset: 38 }
        );
        assert_eq!(list.status(delete_at), LeapStatus::Known { pending: None, tai_offset: 37 });
    }

    #[test]
    fn an_expired_list_says_so() {
        let list = LeapSeconds::parse(LIST).unwrap();
        let expiry = unix(3_960_057_600);
        assert!(matches!(list.status(expiry - 1), LeapStatus::Known { .. }));
        assert_eq!(list.status(expiry), LeapStatus::Expired { at: expiry });
    }

    #[test]
    fn the_system_list_parses_when_present() {
        // Debian's tzdata; its expiry date decides the status, which is not asserted here.
        if let Ok(text) = std::fs::read_to_string("/usr/share/zoneinfo/leap-seconds.list") {
            let list = LeapSeconds::parse(&text).unwrap();
            assert_eq!(list.entries.first(), Some(&(63_072_000, 10)));
            assert!(list.entries.iter().any(|&(_, o)| o == 37));
        }
    }

    #[test]
    fn malformed_lists_are_refused_with_the_line() {
        let cases = [
            ("#@ 3960057600\n2272060800\n", "line 2: expected the TAI-UTC offset"),
            ("#@ x\n", "line 1: expiry is not an NTP second"),
            ("#@ 3960057600\n-5 10\n", "line 2: expected an NTP second"),
            ("#@ 3960057600\n2272060801 10\n", "line 2: a leap must take effect at midnight UTC"),
            ("#@ 3960057600\n3692217600 37\n2272060800 10\n", "line 3: entries must be in ascending order"),
            ("2272060800 10\n", "no `#@` expiry line"),
            ("#@ 3960057600\n", "no leap second entries"),
        ];
        for (text, message) in cases {
            assert_eq!(LeapSeconds::parse(text).unwrap_err().to_string(), message, "{text:?}");
        }
    }
}
