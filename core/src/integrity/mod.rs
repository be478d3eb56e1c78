//! Trust the receiver only as far as authenticated network time agrees: the receiver's claim
//! ([`claim`]) against the network estimate, judged by the [`guard`].

mod claim;
mod guard;
mod witness;

pub use claim::{RecentSamples, SampleBounds};
pub use guard::{Comparison, GnssClaim, GuardConfig, IntegrityGuard, IntegrityState, Transition};
pub use witness::{IntegrityReport, Witness};
