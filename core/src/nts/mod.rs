//! Network Time Security (RFC 8915), the pure half: the key-establishment records and decision,
//! the AEADs, cookies and their rotating master keys, NTS inside NTP. The TLS server, the
//! certificates and the key file are the daemon's.

pub mod aead;
pub mod cookie;
pub mod ke_admission;
pub mod ke_records;
pub mod ke_response;
pub mod key_set;
pub mod ntp_auth;
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
