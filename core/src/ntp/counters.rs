//! Serving counters: per drop reason and per NTP version. Each worker counts into a plain
//! [`LocalCounts`] and adds it to the shared [`ServerCounters`] once per batch, so the packet path
//! touches no shared cache line per packet.

use std::sync::atomic::{AtomicU64, Ordering};

use super::server::{DropReason, Outcome, Verdict};
use crate::packet::ReferenceId;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountsSnapshot {
    pub received: u64,
    /// Every mode-4 answer, NTS-authenticated ones included.
    pub answered: u64,
    /// Answers authenticated with NTS.
    pub nts_answered: u64,
    pub kiss_of_death_rate: u64,
    /// `NTSN`: a cookie or authenticator that did not verify.
    pub kiss_of_death_ntsn: u64,
    /// Indexed by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Requests by version 0..=7 as received (only 1–4 are answered).
    pub by_version: [u64; 8],
    pub send_errors: u64,
    /// Of `received`, those that came through the AF_XDP fast path.
    pub received_af_xdp: u64,
}

impl CountsSnapshot {
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// One worker's counts since its last flush.
pub type LocalCounts = CountsSnapshot;

impl LocalCounts {
    pub fn record(&mut self, verdict: &Verdict) {
        self.received += 1;
        if let Some(v) = verdict.version {
            self.by_version[usize::from(v & 7)] += 1;
        }
        match verdict.outcome {
            Outcome::Answer { .. } => self.answered += 1,
            Outcome::AuthenticatedAnswer { .. } => {
                self.answered += 1;
                self.nts_answered += 1;
            }
            Outcome::KissOfDeath { code, .. } if code == ReferenceId::NTSN => self.kiss_of_death_ntsn += 1,
            Outcome::KissOfDeath { .. } => self.kiss_of_death_rate += 1,
            Outcome::Drop(reason) => self.dropped[reason.index()] += 1,
        }
    }
}

#[derive(Default)]
pub struct ServerCounters {
    received: AtomicU64,
    answered: AtomicU64,
    nts_answered: AtomicU64,
    kiss_of_death_rate: AtomicU64,
    kiss_of_death_ntsn: AtomicU64,
    dropped: [AtomicU64; DropReason::COUNT],
    by_version: [AtomicU64; 8],
    send_errors: AtomicU64,
    received_af_xdp: AtomicU64,
}

impl ServerCounters {
    /// Adds a worker's counts and zeroes them.
    pub fn flush(&self, local: &mut LocalCounts) {
        let add = |a: &AtomicU64, v: u64| {
            if v != 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&self.received, local.received);
        add(&self.answered, local.answered);
        add(&self.nts_answered, local.nts_answered);
        add(&self.kiss_of_death_rate, local.kiss_of_death_rate);
        add(&self.kiss_of_death_ntsn, local.kiss_of_death_ntsn);
        add(&self.send_errors, local.send_errors);
        add(&self.received_af_xdp, local.received_af_xdp);
        for (a, v) in self.dropped.iter().zip(local.dropped) {
            add(a, v);
        }
        for (a, v) in self.by_version.iter().zip(local.by_version) {
            add(a, v);
        }
        *local = LocalCounts::default();
    }

    pub fn snapshot(&self) -> CountsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CountsSnapshot {
            received: get(&self.received),
            answered: get(&self.answered),
            nts_answered: get(&self.nts_answered),
            kiss_of_death_rate: get(&self.kiss_of_death_rate),
            kiss_of_death_ntsn: get(&self.kiss_of_death_ntsn),
            dropped: std::array::from_fn(|i| get(&self.dropped[i])),
            by_version: std::array::from_fn(|i| get(&self.by_version[i])),
            send_errors: get(&self.send_errors),
            received_af_xdp: get(&self.received_af_xdp),
        }
    }
}
