//! NTP serving: the wire codec and the server's decision (pure), the UDP shell around them.

pub mod access;
pub mod counters;
pub mod packet;
pub mod rate_limit;
pub mod server;
pub mod timestamp;
pub mod udp;
mod udp_sys;
pub mod xdp;
