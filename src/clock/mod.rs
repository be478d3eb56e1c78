//! The clock shells: the clock task that runs the discipline of `stratum1-core`, the host clock
//! and the kernel's `clock_adjtime`, the saved frequency.

pub mod kernel;
pub mod persist;
pub mod task;
