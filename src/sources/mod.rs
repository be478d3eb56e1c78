//! Upstream time sources: NTS and plain NTP servers that witness the receiver's time.
//!
//! The pure core: one exchange read into a [`Measurement`] (or a [`BadAnswer`]), a clock filter
//! per source, falseticker rejection and a combined [`NetworkEstimate`] across them. The shell:
//! one poller thread per source ([`poller`]). The clock task owns the [`Upstreams`] and feeds
//! their estimate to the integrity guard.

pub mod cert_time;
pub mod cookie_jar;
pub mod filter;
pub mod measurement;
pub mod poller;
pub mod selection;
pub mod upstreams;

pub use measurement::{BadAnswer, Measurement};
pub use selection::NetworkEstimate;
pub use upstreams::{SourceEvent, SourceInfo, SourceMode, SourceStatus, Upstreams};
