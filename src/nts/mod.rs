//! Network Time Security (RFC 8915): the key-establishment records and decision, the AEADs,
//! cookies and their rotating master keys, NTS inside NTP (all pure), and the shells around
//! them: the TLS key-establishment server, certificate loading and reloading, the key file.

pub mod aead;
pub mod certificates;
pub mod client;
pub mod cookie;
pub mod ke_admission;
pub mod ke_records;
pub mod ke_server;
pub mod key_set;
pub mod key_store;
pub mod ntp_auth;
pub mod random;
pub mod service;
pub mod siv;

use std::sync::{Arc, RwLock, RwLockReadGuard};

use key_set::CookieKeySet;

/// The cookie keys, shared by the NTP workers, the key-establishment server and the rotation
/// thread.
pub type SharedKeys = Arc<RwLock<CookieKeySet>>;

/// What the NTP server needs for NTS.
pub struct NtsPolicy {
    pub keys: SharedKeys,
    /// Drop plain NTP (no NTS fields) instead of answering it.
    pub require: bool,
    /// Fills a buffer with fresh randomness; `false` if none could be had.
    pub random: fn(&mut [u8]) -> bool,
}

impl NtsPolicy {
    pub fn keys(&self) -> RwLockReadGuard<'_, CookieKeySet> {
        // The rotation thread writes whole values; a poisoned lock still holds a usable set.
        self.keys.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Randomness for the packet path: a per-thread keystream keyed by the operating system.
pub fn os_random(buffer: &mut [u8]) -> bool {
    random::fill(buffer)
}
