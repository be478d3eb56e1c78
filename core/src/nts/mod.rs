//! Network Time Security (RFC 8915), the pure half: the key-establishment records and decision,
//! the AEADs, cookies and their rotating master keys, NTS inside NTP. The TLS server, the
//! certificates and the key file are the daemon's.

mod aead;
pub mod cookie;
mod gcm_siv;
mod ke_admission;
pub mod ke_records;
mod ke_response;
mod key_set;
mod keystream;
pub mod ntp_auth;
mod siv;
#[cfg(test)]
mod test_bytes;

pub use aead::{hardware_aes, AeadAlgorithm, AeadKey};
pub use gcm_siv::GcmSiv;
pub use ke_admission::{Admission, Admit, Arrival};
pub use ke_response::{error_code, parse_ke_response};
pub use key_set::{Advance, CookieKeySet, MASTER_KEY_LEN};
pub use siv::Siv;

use std::sync::{Arc, RwLock, RwLockReadGuard};

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
