//! The state of one input line (serial port, PPS device, GPIO line) as an operator sees it.

use std::fmt;

/// Seconds since the Unix epoch on the local clock; enough resolution for status.
pub type LocalSeconds = i64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkStatus {
    /// Not started yet.
    Idle,
    /// Open and delivering data.
    Up { since: LocalSeconds },
    /// Open, but nothing arrived for a while (receiver off, wrong baud, cable pulled).
    Silent { since: LocalSeconds },
    /// Could not open or lost it; a retry is scheduled.
    Down { error: String, retry_in_ms: u64 },
}

impl LinkStatus {
    pub fn is_up(&self) -> bool {
        matches!(self, LinkStatus::Up { .. })
    }
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkStatus::Idle => write!(f, "idle"),
            LinkStatus::Up { .. } => write!(f, "up"),
            LinkStatus::Silent { since } => write!(f, "silent since {since}"),
            LinkStatus::Down { error, retry_in_ms } => write!(f, "down ({error}); retry in {retry_in_ms} ms"),
        }
    }
}
