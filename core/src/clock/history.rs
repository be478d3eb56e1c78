//! What the status page plots: the last hour second by second (memory only) and the last day
//! minute by minute (the persisted history). Written by the clock task, read by the web server.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// One point a minute for a day.
pub const HISTORY_POINTS: usize = 24 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub unix_s: i64,
    pub offset_ns: f64,
    pub frequency_ppb: f64,
    pub error_bound_ns: f64,
}

/// One point a second for an hour.
pub const RECENT_POINTS: usize = 3600;

#[derive(Clone, Debug, Default)]
pub struct ClockHistory {
    pub recent: VecDeque<HistoryPoint>,
    pub day: VecDeque<HistoryPoint>,
}

impl ClockHistory {
    pub fn with_day(day: VecDeque<HistoryPoint>) -> Self {
        ClockHistory { recent: VecDeque::new(), day }
    }

    pub fn push_recent(&mut self, point: HistoryPoint) {
        push_bounded(&mut self.recent, point, RECENT_POINTS);
    }

    pub fn push_day(&mut self, point: HistoryPoint) {
        push_bounded(&mut self.day, point, HISTORY_POINTS);
    }
}

fn push_bounded(points: &mut VecDeque<HistoryPoint>, point: HistoryPoint, limit: usize) {
    points.push_back(point);
    while points.len() > limit {
        points.pop_front();
    }
}

pub type SharedClockHistory = Arc<RwLock<ClockHistory>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_series_stay_bounded() {
        let mut history = ClockHistory::default();
        let point = |t| HistoryPoint { unix_s: t, offset_ns: 1.0, frequency_ppb: 2.0, error_bound_ns: 3.0 };
        for t in 0..5000 {
            history.push_recent(point(t));
            history.push_day(point(t));
        }
        assert_eq!(history.recent.len(), RECENT_POINTS);
        assert_eq!(history.recent.front().map(|p| p.unix_s), Some(5000 - RECENT_POINTS as i64));
        assert_eq!(history.day.len(), HISTORY_POINTS);
    }
}
