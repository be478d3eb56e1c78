//! The discipline and what the server announces from it: reference samples in, steering and
//! estimates out ([`discipline`]), the settling and holdover logic, the oscillator model the
//! simulated clock runs on, leap seconds, following network time without GNSS, and the served
//! header fields ([`served`]). The clock task in the daemon feeds it and applies its steering.

mod discipline;
mod history;
mod leap;
mod network_follower;
mod oscillator;
mod served;
mod settling;
mod sim_clock;

#[cfg(feature = "simulation")]
pub mod accuracy;
#[cfg(feature = "simulation")]
pub mod simulation;
#[cfg(feature = "simulation")]
pub mod tracking_floor;

pub use discipline::{Discipline, DisciplineConfig, DisciplineCounts, Estimate, LockState, Steering};
pub use history::{ClockHistory, HistoryPoint, SharedClockHistory, HISTORY_POINTS};
pub use leap::{with_network_leap, Leap, LeapSeconds, LeapStatus};
pub use network_follower::{network_steering, NetworkSteering};
pub use oscillator::{Oscillator, OscillatorConfig, TemperatureStep};
pub use served::{network_fallback_state, served_state, source_reference_id};
pub use sim_clock::SimulatedClock;
