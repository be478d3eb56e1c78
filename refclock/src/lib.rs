//! refclock: the shells that read GNSS receivers (serial NMEA, kernel PPS, GPIO edges, a gpsd
//! socket) and the simulated receiver, feeding the pure decoding and pairing of `refclock-core`.

pub mod gpio;
pub mod gpsd_client;
pub mod link;
pub mod pps;
pub mod serial;
pub mod sim;
