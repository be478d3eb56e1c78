//! The simulated receiver's pure half: a seeded generator, the plan of each second (edge,
//! latency, faults) and the NMEA sentences that report it. The refclock crate's simulator
//! writes them to a pseudo-terminal on the wall clock.

pub mod nmea_out;
mod rng;
mod scenario;

pub use rng::SimRng;
pub use scenario::{Scenario, SecondPlan, SimConfig};
