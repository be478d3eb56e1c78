//! The clock state the server announces: written by the clock task, read by every UDP worker
//! once per batch (and later by the status page and `stratum1ctl`).

use std::sync::RwLock;

use crate::ntp::packet::{LeapIndicator, ReferenceId};
use crate::ntp::timestamp::{NtpShort, NtpTimestamp};

/// What a response says about the server's clock (RFC 5905 header fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedClock {
    pub leap: LeapIndicator,
    pub stratum: u8,
    pub reference_id: ReferenceId,
    /// log2 seconds of the clock's reading precision.
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_time: NtpTimestamp,
}

impl ServedClock {
    /// The honest default: no reference, so clients must not use us.
    pub fn unsynchronised(precision: i8) -> Self {
        ServedClock {
            leap: LeapIndicator::Unsynchronised,
            stratum: 16,
            reference_id: ReferenceId::INIT,
            precision,
            root_delay: NtpShort::ZERO,
            root_dispersion: NtpShort::MAX,
            reference_time: NtpTimestamp::ZERO,
        }
    }

    pub fn is_synchronised(&self) -> bool {
        self.leap != LeapIndicator::Unsynchronised && (1..16).contains(&self.stratum)
    }
}

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
