//! stratum1: a GNSS-disciplined Stratum-1 NTP/NTS server. This crate is the daemon: the
//! configuration, the shells (sockets, AF_XDP, adjtimex, files, the TLS server), the tasks and
//! the wiring; `stratum1d` (src/main.rs) starts them. The pure cores are `stratum1-core` and
//! `refclock-core`, the receiver shells `refclock`, the page `stratum1-web`.

pub mod atomic_file;
pub mod clock;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod events;
pub mod gnss;
pub mod host_clock;
pub mod instance_lock;
pub mod logging;
pub mod net;
pub mod notify;
pub mod ntp;
pub mod nts;
pub mod sources;
pub mod state;
pub mod status;
pub mod thread_priority;
