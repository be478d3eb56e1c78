//! What `stratum1ctl` prints, as pure functions from data to text; the binary only does I/O.

pub mod gnss_decode;
pub mod http;
pub mod pi_setup;
pub mod views;
