//! stratum1-web: what the operator looks at. The daemon hands this crate a [`StatusSnapshot`]
//! (plain data); the crate renders it as the status page, the JSON API and the metrics, and
//! serves them read-only over HTTP.

pub mod events;
pub mod limits;
pub mod metrics;
pub mod metrics_text;
pub mod page;
pub mod plot;
pub mod reason;
pub mod server;
pub mod sky;
pub mod snapshot;

pub use snapshot::StatusSnapshot;
