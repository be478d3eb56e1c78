//! The discipline and what the server announces from it: reference samples in, steering and
//! estimates out ([`discipline`]), the settling and holdover logic, the oscillator model the
//! simulated clock runs on, leap seconds, following network time without GNSS, and the served
//! header fields ([`served`]). The clock task in the daemon feeds it and applies its steering.

pub mod discipline;
pub mod history;
pub mod leap;
pub mod network_follower;
pub mod oscillator;
pub mod served;
pub mod settling;
pub mod sim_clock;

#[cfg(feature = "simulation")]
pub mod accuracy;
#[cfg(feature = "simulation")]
pub mod simulation;
#[cfg(feature = "simulation")]
pub mod tracking_floor;
