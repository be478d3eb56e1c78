//! stratum1: a GNSS-disciplined Stratum-1 NTP/NTS server. The library holds the pure cores and
//! the thin shells; `stratum1d` (src/main.rs) wires them together.

pub mod clock;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod events;
pub mod gnss;
pub mod instance_lock;
pub mod integrity;
pub mod logging;
pub mod net;
pub mod notify;
pub mod ntp;
pub mod nts;
pub mod sources;
pub mod state;
pub mod status;
pub mod thread_priority;
