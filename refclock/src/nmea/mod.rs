//! NMEA 0183 input. `framing` turns a raw byte stream (noise and all) into checksum-verified
//! sentences; decoding of those sentences into epochs builds on it.

pub mod framing;
