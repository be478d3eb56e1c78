//! The network as a second witness to the receiver (pure): the upstream sources, the receiver's
//! recent claims and the guard in one place, so that the clock task and the simulation run the
//! same logic. Time is our clock's reading, passed in.

use refclock_core::pairing::NetworkTime;
use refclock_core::Quality;

use super::claim::{RecentSamples, SampleBounds};
use super::guard::{Comparison, GuardConfig, IntegrityGuard, IntegrityState, Transition};
use crate::filter::Nanos;
use crate::sources::{NetworkEstimate, SourceEvent, SourceInfo, SourceStatus, Upstreams};

/// Everything the page, the API and the log show about sources and integrity.
#[derive(Clone, Debug, PartialEq)]
pub struct IntegrityReport {
    pub state: IntegrityState,
    pub last: Option<Comparison>,
    pub disagreeing_since: Option<Nanos>,
    pub asymmetry_allowance_ns: f64,
    pub network: Option<NetworkEstimate>,
    pub sources: Vec<SourceStatus>,
    /// Receiver samples kept from the discipline because the receiver was distrusted.
    pub samples_unfollowed: u64,
}

#[derive(Clone, Debug)]
pub struct Witness {
    upstreams: Upstreams,
    guard: IntegrityGuard,
    recent: RecentSamples,
    last_step_at: Option<Nanos>,
    samples_unfollowed: u64,
}

impl Witness {
    pub fn new(sources: Vec<SourceInfo>, guard: GuardConfig) -> Self {
        Witness {
            upstreams: Upstreams::new(sources),
            guard: IntegrityGuard::new(guard),
            recent: RecentSamples::default(),
            last_step_at: None,
            samples_unfollowed: 0,
        }
    }

    pub fn state(&self) -> IntegrityState {
        self.guard.state()
    }

    /// A sample the pairing emitted (our clock minus GNSS, at `now`). True when the discipline
    /// may use it.
    pub fn on_sample(&mut self, now: Nanos, offset_ns: f64, quality: Quality) -> bool {
        self.recent.push(now, offset_ns, quality);
        let follow = self.guard.follows_gnss();
        if !follow {
            self.samples_unfollowed += 1;
        }
        follow
    }

    /// A pair the pairing refused: still what the receiver claims.
    pub fn on_disputed(&mut self, now: Nanos, offset_ns: f64, quality: Quality) {
        self.recent.push(now, offset_ns, quality);
    }

    /// An event from source `index`. When it updates the network estimate, the guard compares.
    pub fn on_source(
        &mut self,
        index: usize,
        event: SourceEvent,
        now: Nanos,
        bounds: SampleBounds,
    ) -> Option<Transition> {
        if let SourceEvent::Answer(m) = &event {
            // Sent before our clock was stepped: its offset straddles the step.
            let sent_at = m.at - m.delay_ns as Nanos;
            if self.last_step_at.is_some_and(|step| sent_at <= step) {
                return None;
            }
        }
        let updated = self.upstreams.on_event(index, event, now);
        updated.then(|| self.compare(now, bounds)).flatten()
    }

    /// Once a second: the sources' estimates age, and one that stopped answering leaves.
    pub fn on_tick(&mut self, now: Nanos, bounds: SampleBounds) -> Option<Transition> {
        let had = self.upstreams.network().is_some();
        self.upstreams.reselect(now);
        (had && self.upstreams.network().is_none()).then(|| self.compare(now, bounds)).flatten()
    }

    fn compare(&mut self, now: Nanos, bounds: SampleBounds) -> Option<Transition> {
        let network = self.upstreams.network();
        let claim = self.recent.claim(now, bounds);
        self.guard.on_network_update(now, network.as_ref(), claim)
    }

    /// We slewed our clock by `delta_ns` on purpose (following network time): every offset
    /// measured before moves with it.
    pub fn on_clock_slewed(&mut self, delta_ns: f64, now: Nanos) {
        self.upstreams.on_clock_slewed(delta_ns, now);
        self.recent.on_clock_slewed(delta_ns);
    }

    /// Our clock was stepped at `now`: every offset measured before is void.
    pub fn on_clock_step(&mut self, now: Nanos) {
        self.last_step_at = Some(now);
        self.upstreams.on_clock_step();
        self.recent.on_clock_step();
    }

    pub fn network(&self) -> Option<NetworkEstimate> {
        self.upstreams.network()
    }

    /// The network's view of our clock, for the pairing.
    pub fn network_time(&self) -> Option<NetworkTime> {
        self.network().map(|n| NetworkTime {
            local_minus_utc_ns: n.offset_ns.round() as i64,
            bound_ns: n.bound_ns.ceil().min(i64::MAX as f64) as i64,
        })
    }

    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    pub fn report(&self, now: Nanos) -> IntegrityReport {
        IntegrityReport {
            state: self.guard.state(),
            last: self.guard.last_comparison(),
            disagreeing_since: self.guard.disagreeing_since(),
            asymmetry_allowance_ns: self.guard.config().asymmetry_allowance_ns,
            network: self.network(),
            sources: self.upstreams.status(now),
            samples_unfollowed: self.samples_unfollowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{Measurement, SourceMode};

    const S: Nanos = 1_000_000_000;
    const BOUNDS: SampleBounds =
        SampleBounds { jitter_ns: 1_000.0, nmea_bias_bound_ns: 400e6, acquiring: false };

    fn witness() -> Witness {
        let info = SourceInfo { address: "127.0.0.1".into(), mode: SourceMode::Nts, trusted: true };
        Witness::new(vec![info], GuardConfig::default())
    }

    fn answer(at: Nanos, offset_ns: f64) -> SourceEvent {
        SourceEvent::Answer(Measurement::stratum_one(at, offset_ns, 50_000.0))
    }

    #[test]
    fn a_refused_second_is_still_the_receivers_claim() {
        let mut w = witness();
        for t in 1..=3 {
            w.on_sample(t * S, 100.0, Quality::Pps);
            w.on_source(0, SourceEvent::Polled, t * S, BOUNDS);
            w.on_source(0, answer(t * S, 0.0), t * S, BOUNDS);
        }
        assert_eq!(w.state(), IntegrityState::Consistent);
        // The pairing refuses the jumped labels, so only disputed claims arrive.
        for t in 4..=6 {
            w.on_disputed(t * S, -1e9, Quality::Pps);
            w.on_disputed(t * S + 1, -1e9, Quality::Pps);
            w.on_disputed(t * S + 2, -1e9, Quality::Pps);
            w.on_source(0, SourceEvent::Polled, t * S, BOUNDS);
            w.on_source(0, answer(t * S, 0.0), t * S, BOUNDS);
        }
        assert_eq!(w.state(), IntegrityState::GnssDisagrees);
        assert!(!w.on_sample(7 * S, 0.0, Quality::Pps), "a distrusted receiver is not followed");
        assert_eq!(w.report(7 * S).samples_unfollowed, 1);
    }

    #[test]
    fn an_answer_sent_before_a_step_is_dropped() {
        let mut w = witness();
        w.on_source(0, SourceEvent::Polled, S, BOUNDS);
        w.on_clock_step(S + 10_000);
        w.on_source(0, answer(S + 20_000, 5e6), S + 20_000, BOUNDS);
        assert!(w.network().is_none());
        w.on_source(0, answer(2 * S, 0.0), 2 * S, BOUNDS);
        assert!(w.network().is_some());
        assert!(w.network_time().unwrap().bound_ns > 0);
    }
}
