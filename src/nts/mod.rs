//! Network Time Security's shells: the TLS key-establishment server and client, certificate
//! loading and reloading, the key file and the packet path's randomness. The records, AEADs,
//! cookies and NTS-in-NTP are pure, in `stratum1_core::nts`.

pub mod certificates;
pub mod client;
pub mod ke_server;
pub mod key_store;
pub mod random;
pub mod service;

/// Randomness for the packet path: a per-thread keystream keyed by the operating system.
pub fn os_random(buffer: &mut [u8]) -> bool {
    random::fill(buffer)
}
