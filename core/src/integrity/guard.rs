//! The integrity guard (pure): what the receiver says against what authenticated network time
//! says, at every network update.
//!
//! Both are offsets of the same clock (ours minus the reference), so they must agree within
//! the sum of their bounds plus an allowance for path asymmetry that the root distance cannot
//! see. Several disagreements in a row distrust the receiver; agreement for a while restores
//! it. With no network estimate there is nothing to check against: `Unchecked`, unless the
//! receiver was already distrusted, which only the network can undo (otherwise cutting the
//! network would be all a spoofer needed to be believed again).

use crate::filter::Nanos;
use crate::sources::NetworkEstimate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IntegrityState {
    /// No reachable trusted source: the receiver is followed unchecked.
    Unchecked,
    /// The receiver agrees with the network within the allowance.
    Consistent,
    /// The receiver disagrees with the network: it is not followed.
    GnssDisagrees,
}

impl IntegrityState {
    pub fn name(self) -> &'static str {
        match self {
            IntegrityState::Unchecked => "unchecked",
            IntegrityState::Consistent => "consistent",
            IntegrityState::GnssDisagrees => "gnss-disagrees",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GuardConfig {
    /// Added to the two bounds: how unequal the network path may be beyond what the root
    /// distance allows (it already allows half the round trip).
    pub asymmetry_allowance_ns: f64,
    /// Disagreeing updates in a row before the receiver is distrusted.
    pub disagree_after: u32,
    /// Agreeing updates in a row before a distrusted receiver is followed again.
    pub agree_after: u32,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig { asymmetry_allowance_ns: 100_000.0, disagree_after: 2, agree_after: 8 }
    }
}

/// What the receiver says about our clock right now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GnssClaim {
    /// Our clock minus GNSS time, ns.
    pub offset_ns: f64,
    pub bound_ns: f64,
}

/// The last comparison, for the page and the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub at: Nanos,
    /// Network time minus GNSS time, ns: how far the receiver is from the network.
    pub disagreement_ns: f64,
    /// How far it may be: GNSS bound + network bound + asymmetry allowance.
    pub allowance_ns: f64,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.disagreement_ns.abs() <= self.allowance_ns
    }
}

/// A change of state, to log and to record as an event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition {
    pub from: IntegrityState,
    pub to: IntegrityState,
    pub comparison: Option<Comparison>,
}

#[derive(Clone, Debug)]
pub struct IntegrityGuard {
    config: GuardConfig,
    state: IntegrityState,
    disagreeing: u32,
    agreeing: u32,
    last: Option<Comparison>,
    /// When the receiver was first seen disagreeing in the current run, for detection times.
    disagreeing_since: Option<Nanos>,
}

impl IntegrityGuard {
    pub fn new(config: GuardConfig) -> Self {
        IntegrityGuard {
            config,
            state: IntegrityState::Unchecked,
            disagreeing: 0,
            agreeing: 0,
            last: None,
            disagreeing_since: None,
        }
    }

    pub fn state(&self) -> IntegrityState {
        self.state
    }

    pub fn last_comparison(&self) -> Option<Comparison> {
        self.last
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Whether the receiver's samples may steer the clock.
    pub fn follows_gnss(&self) -> bool {
        self.state != IntegrityState::GnssDisagrees
    }

    /// The network estimate changed (or went away) at our clock's `now`; `claim` is what the
    /// receiver says now, if it says anything.
    pub fn on_network_update(
        &mut self,
        now: Nanos,
        network: Option<&NetworkEstimate>,
        claim: Option<GnssClaim>,
    ) -> Option<Transition> {
        let before = self.state;
        let Some(network) = network else {
            self.disagreeing = 0;
            self.agreeing = 0;
            if self.state == IntegrityState::Consistent {
                self.state = IntegrityState::Unchecked;
            }
            return self.transition(before, None);
        };
        let claim = claim?;
        let comparison = Comparison {
            at: now,
            disagreement_ns: claim.offset_ns - network.offset_ns,
            allowance_ns: claim.bound_ns + network.bound_ns + self.config.asymmetry_allowance_ns,
        };
        self.last = Some(comparison);
        if comparison.agrees() {
            self.disagreeing = 0;
            self.disagreeing_since = None;
            self.agreeing = self.agreeing.saturating_add(1);
            let restore = match self.state {
                IntegrityState::GnssDisagrees => self.agreeing >= self.config.agree_after,
                _ => true,
            };
            if restore {
                self.state = IntegrityState::Consistent;
            }
        } else {
            self.agreeing = 0;
            self.disagreeing = self.disagreeing.saturating_add(1);
            self.disagreeing_since.get_or_insert(now);
            if self.disagreeing >= self.config.disagree_after {
                self.state = IntegrityState::GnssDisagrees;
            }
        }
        self.transition(before, Some(comparison))
    }

    /// When the current run of disagreements began (our clock), while there is one.
    pub fn disagreeing_since(&self) -> Option<Nanos> {
        self.disagreeing_since
    }

    fn transition(&self, from: IntegrityState, comparison: Option<Comparison>) -> Option<Transition> {
        (from != self.state).then_some(Transition { from, to: self.state, comparison })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(offset_ns: f64, bound_ns: f64) -> NetworkEstimate {
        NetworkEstimate {
            offset_ns,
            bound_ns,
            best: 0,
            best_stratum: 1,
            root_delay_ns: 0.0,
            root_dispersion_ns: 0.0,
            survivors: 1,
            at: 0,
        }
    }

    fn claim(offset_ns: f64) -> Option<GnssClaim> {
        Some(GnssClaim { offset_ns, bound_ns: 1_000.0 })
    }

    #[test]
    fn agreement_is_consistent_and_no_network_is_unchecked() {
        let mut g = IntegrityGuard::new(GuardConfig::default());
        assert_eq!(g.state(), IntegrityState::Unchecked);
        let t = g.on_network_update(0, Some(&network(50_000.0, 200_000.0)), claim(0.0)).unwrap();
        assert_eq!((t.from, t.to), (IntegrityState::Unchecked, IntegrityState::Consistent));
        assert!(g.follows_gnss());
        let t = g.on_network_update(1, None, claim(0.0)).unwrap();
        assert_eq!(t.to, IntegrityState::Unchecked);
        assert!(g.follows_gnss(), "unchecked still follows the receiver");
    }

    #[test]
    fn a_second_off_is_distrusted_after_two_updates_and_needs_a_while_to_be_trusted_again() {
        let mut g = IntegrityGuard::new(GuardConfig::default());
        g.on_network_update(0, Some(&network(0.0, 200_000.0)), claim(0.0));
        assert_eq!(
            g.on_network_update(1, Some(&network(0.0, 200_000.0)), claim(1e9)),
            None,
            "one is not enough"
        );
        let t = g.on_network_update(2, Some(&network(0.0, 200_000.0)), claim(1e9)).unwrap();
        assert_eq!(t.to, IntegrityState::GnssDisagrees);
        assert_eq!(t.comparison.unwrap().disagreement_ns, 1e9);
        assert!(!g.follows_gnss());
        assert_eq!(g.disagreeing_since(), Some(1));
        for i in 0..7 {
            g.on_network_update(3 + i, Some(&network(0.0, 200_000.0)), claim(0.0));
            assert_eq!(g.state(), IntegrityState::GnssDisagrees, "after {} agreeing", i + 1);
        }
        g.on_network_update(10, Some(&network(0.0, 200_000.0)), claim(0.0));
        assert_eq!(g.state(), IntegrityState::Consistent);
    }

    #[test]
    fn a_distrusted_receiver_stays_distrusted_when_the_network_goes() {
        let mut g = IntegrityGuard::new(GuardConfig::default());
        for t in 0..2 {
            g.on_network_update(t, Some(&network(0.0, 1_000.0)), claim(1e6));
        }
        assert_eq!(g.state(), IntegrityState::GnssDisagrees);
        assert_eq!(g.on_network_update(3, None, claim(1e6)), None);
        assert_eq!(g.state(), IntegrityState::GnssDisagrees);
    }

    #[test]
    fn the_allowance_is_both_bounds_plus_the_asymmetry() {
        let mut g = IntegrityGuard::new(GuardConfig { asymmetry_allowance_ns: 500.0, ..Default::default() });
        // 1000 (GNSS) + 2000 (network) + 500 = 3500.
        g.on_network_update(0, Some(&network(0.0, 2_000.0)), claim(3_499.0));
        assert!(g.last_comparison().unwrap().agrees());
        g.on_network_update(1, Some(&network(0.0, 2_000.0)), claim(-3_501.0));
        assert!(!g.last_comparison().unwrap().agrees());
        assert_eq!(g.last_comparison().unwrap().allowance_ns, 3_500.0);
    }

    #[test]
    fn without_a_claim_nothing_is_compared() {
        let mut g = IntegrityGuard::new(GuardConfig::default());
        assert_eq!(g.on_network_update(0, Some(&network(0.0, 1.0)), None), None);
        assert_eq!(g.state(), IntegrityState::Unchecked);
    }
}
