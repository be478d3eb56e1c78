//! The slots the daemon's tasks share, below every task so that none imports another for them:
//! the clock state the server announces (written by the clock task, read by every UDP worker
//! once per batch, by the page and `stratum1ctl`), what the network says of the local clock,
//! and the event log.

use std::sync::{Arc, Mutex, RwLock};

use refclock_core::pairing::NetworkTime;
use stratum1_core::served::ServedClock;
use stratum1_web::events::EventLog;

/// Written by the clock task at each network update, read by the GNSS task before every input:
/// the pairing decides the second by it.
pub type SharedNetworkTime = Arc<RwLock<Option<NetworkTime>>>;

/// The last events, written by the event watcher, read by the status endpoints.
pub type SharedEventLog = Arc<Mutex<EventLog>>;

/// The shared slot holding the current [`ServedClock`]. A read lock per batch is cheap next to
/// a system call, and the value is small enough to copy out.
pub struct SharedServedClock(RwLock<ServedClock>);

impl SharedServedClock {
    pub fn new(initial: ServedClock) -> Self {
        SharedServedClock(RwLock::new(initial))
    }

    pub fn get(&self) -> ServedClock {
        // A writer that panicked left a complete value (it is Copy), so a poisoned lock is fine.
        *self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set(&self, value: ServedClock) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = value;
    }
}
