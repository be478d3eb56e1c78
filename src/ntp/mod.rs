//! NTP serving's shells: the UDP sockets and the AF_XDP fast path around the decision of
//! `stratum1_core::ntp`.

pub mod udp;
mod udp_sys;
pub mod xdp;
