//! stratum1-core: the time server's pure cores, with no I/O, no threads and no clock reads.
//! Time comes in as arguments; the daemon's shells own sockets, devices, files and threads.
//!
//! From the bottom up (each module imports only those above it in this list):
//! - [`time`]: NTP timestamps and short-format durations;
//! - [`packet`]: the NTP header and extension fields on the wire;
//! - [`filter`]: robust statistics the source filters and the guard share;
//! - [`served`]: what a response says about the server's clock;
//! - [`nts`]: NTS-KE records, AEADs, cookies and their keys, NTS inside NTP;
//! - [`ntp`]: the server's decision for one request (access, rate limits, NTS), its counters;
//! - [`sources`]: one exchange with an upstream server read into a measurement, the filters,
//!   falseticker rejection and the combined network estimate;
//! - [`integrity`]: the receiver's claim judged against the network estimate;
//! - [`clock`]: the discipline, the oscillator model, leap seconds and what to serve from them.
//!
//! The simulation and accuracy harness behind the `simulation` feature is for the tests and
//! the benchmarks; the daemon does not build it.

#![forbid(unsafe_code)]

pub mod clock;
pub mod filter;
pub mod integrity;
pub mod ntp;
pub mod nts;
pub mod packet;
pub mod served;
pub mod sources;
pub mod time;
