//! The shells' side of an input line: the events an edge source reports, how long to wait
//! before reopening a line, and a sleep that notices a stop.

use refclock_core::link::LinkStatus;

/// What an edge source (kernel PPS, GPIO line) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EdgeEvent {
    /// An edge at this local time (CLOCK_REALTIME nanoseconds).
    Edge(i64),
    Status(LinkStatus),
}

pub type EdgeEventSink = Box<dyn FnMut(EdgeEvent) + Send>;

/// Which transition of the pulse marks the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polarity {
    /// The rising edge (PPS "assert"), what nearly every receiver uses.
    Assert,
    /// The falling edge (PPS "clear").
    Clear,
}

/// Sleeps up to `period`, in short steps so that `stop` is noticed; for the shells' retries.
pub fn sleep_unless_stopped(period: std::time::Duration, stop: &std::sync::atomic::AtomicBool) {
    let deadline = std::time::Instant::now() + period;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(std::time::Duration::from_millis(100)));
    }
}

/// Exponential back-off between reconnection attempts: quick after a blip, bounded when the
/// device stays away, and never a busy loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u64,
}

impl Backoff {
    pub const FIRST_MS: u64 = 250;
    pub const MAX_MS: u64 = 30_000;

    pub fn new() -> Backoff {
        Backoff { next_ms: Self::FIRST_MS }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay_ms(&mut self) -> u64 {
        let delay = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(Self::MAX_MS);
        delay
    }

    pub fn reset(&mut self) {
        self.next_ms = Self::FIRST_MS;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<u64> = (0..10).map(|_| backoff.next_delay_ms()).collect();
        assert_eq!(&delays[..4], &[250, 500, 1000, 2000]);
        assert_eq!(delays[9], Backoff::MAX_MS);
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(), 250);
    }
}
