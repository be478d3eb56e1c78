//! What the clock remembers across restarts: the oscillator's frequency (the drift) and a
//! bounded history of offset and frequency for the status page. One JSON file, replaced
//! atomically (write a temporary file, fsync, rename, fsync the directory) so a power cut
//! leaves either the old state or the new one.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use stratum1_core::clock::{HistoryPoint, HISTORY_POINTS};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockMemory {
    /// The oscillator's frequency error, ppb, and how well it was known.
    pub frequency_ppb: Option<f64>,
    pub skew_ppb: Option<f64>,
    /// When the frequency was saved (Unix seconds).
    pub saved_unix_s: Option<i64>,
    pub history: VecDeque<HistoryPoint>,
}

impl ClockMemory {
    /// Reads the file; a missing file is an empty memory, a damaged one an error (the caller
    /// logs it and starts fresh, leaving the file for the operator to look at).
    pub fn load(path: &Path) -> io::Result<ClockMemory> {
        match fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ClockMemory::default()),
            Err(e) => Err(e),
        }
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::atomic_file::write(path, &bytes, 0o644)
    }

    /// Adds a point, dropping the oldest beyond a day's worth.
    pub fn record(&mut self, point: HistoryPoint) {
        self.history.push_back(point);
        while self.history.len() > HISTORY_POINTS {
            self.history.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        assert_eq!(ClockMemory::load(&path).unwrap(), ClockMemory::default());
        let mut memory =
            ClockMemory { frequency_ppb: Some(-12_345.6), skew_ppb: Some(3.0), ..Default::default() };
        for minute in 0..(HISTORY_POINTS as i64 + 10) {
            memory.record(HistoryPoint {
                unix_s: minute * 60,
                offset_ns: 1.0,
                frequency_ppb: 2.0,
                error_bound_ns: 3.0,
            });
        }
        assert_eq!(memory.history.len(), HISTORY_POINTS);
        assert_eq!(memory.history.front().map(|p| p.unix_s), Some(600));
        memory.save(&path).unwrap();
        assert_eq!(ClockMemory::load(&path).unwrap(), memory);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_damaged_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        fs::write(&path, b"{\"frequency_ppb\": [").unwrap();
        assert_eq!(ClockMemory::load(&path).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
