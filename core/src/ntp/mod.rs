//! NTP serving's pure half: the decision for one request (access list, rate limits, NTS) and the
//! counters it keeps. The sockets (UDP, AF_XDP) are the daemon's.

pub mod access;
pub mod counters;
pub mod rate_limit;
pub mod server;
