//! refclock-core: what a GNSS receiver says, decoded, without touching a device.
//!
//! The contract with the rest of stratum1 is [`Sample`]: the instant of a PPS edge on the local
//! clock, paired with the UTC second the receiver's NMEA said that edge marks. This crate holds
//! the pure parts that build it: NMEA framing and decoding ([`nmea`]), gpsd's JSON ([`gpsd`]) and
//! the pairing of edges with seconds ([`pairing`]), a receiver that joins them ([`receiver`]) and
//! the simulated receiver's seconds and sentences ([`sim`]). Bytes and instants come in as arguments; the
//! serial, PPS, GPIO and gpsd shells live in the `refclock` crate.

#![forbid(unsafe_code)]

pub mod gpsd;
pub mod link;
pub mod nmea;
pub mod pairing;
pub mod receiver;
pub mod sim;

/// How a sample's instant was obtained, which bounds how far it can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quality {
    /// A PPS edge timestamped by the kernel, labelled by NMEA: sub-microsecond on a Pi.
    Pps,
    /// NMEA arrival time only: tens to hundreds of milliseconds of latency and jitter.
    NmeaOnly,
}

/// One second of reference time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Local clock reading at the edge: Unix seconds and nanoseconds.
    pub edge_local: (i64, u32),
    /// The UTC second (Unix seconds) the receiver says began at that edge.
    pub utc_second: i64,
    pub quality: Quality,
}

impl Sample {
    /// Local clock minus reference time at the edge, in nanoseconds.
    pub fn offset_nanos(&self) -> i128 {
        let (secs, nanos) = self.edge_local;
        (i128::from(secs) - i128::from(self.utc_second)) * 1_000_000_000 + i128::from(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_local_minus_reference() {
        let late = Sample { edge_local: (100, 250), utc_second: 100, quality: Quality::Pps };
        assert_eq!(late.offset_nanos(), 250);
        let early = Sample { edge_local: (99, 999_999_000), utc_second: 100, quality: Quality::Pps };
        assert_eq!(early.offset_nanos(), -1_000);
    }
}
