//! NTP serving's pure half: the decision for one request (access list, rate limits, NTS) and the
//! counters it keeps. The sockets (UDP, AF_XDP) are the daemon's.

mod access;
mod counters;
mod rate_limit;
mod server;

pub use access::{AccessList, Cidr};
pub use counters::{CountsSnapshot, LocalCounts, ServerCounters};
pub use rate_limit::{RateLimitSettings, RateLimiter};
pub use server::{DropReason, Outcome, RatePolicy, RequestContext, Server, Verdict};
