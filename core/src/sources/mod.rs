//! Upstream time sources, the pure half: one exchange read into a [`Measurement`] (or a
//! [`BadAnswer`]), a clock filter per source, falseticker rejection and a combined
//! [`NetworkEstimate`] across them. The daemon's pollers send the requests; its clock task
//! owns the [`Upstreams`] and feeds their estimate to the integrity guard.

mod filter;
mod measurement;
mod selection;
mod upstreams;

pub use measurement::{read_answer, BadAnswer, Measurement, SentRequest};
pub use selection::NetworkEstimate;
pub use upstreams::{host_of, SourceEvent, SourceInfo, SourceMode, SourceStatus, Upstreams};
