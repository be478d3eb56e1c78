//! PPS edges + NMEA labels -> samples (pure).
//!
//! A PPS edge says *when* a second began on the local clock; an NMEA label says *which* second
//! it was. The receiver sends the label some time after the edge (usually 50-500 ms, up to
//! ~900 ms on slow 9600-baud receivers) or, on some, shortly before it. Pairing matches each
//! edge with the one label whose arrival falls in a window around `edge + nmea_delay`.
//!
//! Nothing here trusts the local clock's absolute time (a Pi boots without an RTC), only
//! differences between local timestamps. What pairing guarantees is that it never emits a
//! wrong second:
//! - a label outside every edge's window (in the guard band between them) is ambiguous and
//!   dropped, as is an edge whose window holds two labels;
//! - once locked, every label must agree with the anchor (the last accepted pair): labels and
//!   edges must have advanced by the same whole number of seconds. A label that disagrees (a
//!   receiver bug, a spoofed jump) is refused. A disagreement that holds for `relock_after`
//!   consecutive seconds is reported, and adopted only where `adopt_sustained_change` says so
//!   (never, by default: a spoofer needs nothing but patience otherwise). A restart locks
//!   afresh;
//! - when the network says what time it is ([`Pairing::set_network_time`]), the network
//!   decides the second: a pair it contradicts is refused however long it lasts, and one it
//!   confirms is adopted at once, also when it moves the anchor;
//! - lock needs `lock_after` consecutive agreeing pairs, so one stray label cannot start it;
//! - a receiver configured to send its label after the edge (`nmea_delay >= 0`) cannot have
//!   sent it before: a label arriving before an edge is never that edge's. Without this, a
//!   slow receiver whose labels come 950 ms after their edge had them paired with the next
//!   edge, every one of them, and the clock was set one second off.
//!
//! When many labels fall between windows, the configured delay does not fit the receiver;
//! [`Pairing::label_timing`] says where they arrive, for the operator to set it. Timing alone
//! cannot tell a label sent late for the last pulse from one sent early for the next; the
//! network can: it says which second each label's arrival falls in, so the delay after the
//! pulse a label names is measured, and once the labels misfit the window and the measured
//! delays agree, the pairing uses that delay ([`PairingCounts::delay_adopted`]) and says so.

use std::collections::VecDeque;

use crate::{Quality, Sample};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Local clock reading (CLOCK_REALTIME), nanoseconds since the Unix epoch.
pub type LocalNanos = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairingConfig {
    /// Expected arrival of a label after its edge; negative for receivers that send it before.
    pub nmea_delay_ns: i64,
    /// Half-width of the window around `edge + nmea_delay` in which the label must arrive.
    /// Below 500 ms, so that neighbouring edges' windows never overlap.
    pub window_ns: i64,
    /// Consecutive agreeing pairs before the first sample.
    pub lock_after: u32,
    /// Consecutive seconds a new label/edge relation must hold before pairing follows it.
    pub relock_after: u32,
    /// With PPS configured but not one edge seen this long after the first label (wrong pin,
    /// overlay not loaded, cable off), labels are used alone as `NmeaOnly` samples, as a
    /// chrony NMEA source would be. Ends at the first edge. `None`: never.
    pub nmea_fallback_after_ns: Option<i64>,
    /// Without a network to decide, follow a new relation once it held `relock_after` seconds.
    pub adopt_sustained_change: bool,
}

/// What the network says of the local clock: local minus UTC, and how sure that is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkTime {
    pub local_minus_utc_ns: i64,
    pub bound_ns: i64,
}

/// The network only decides the second while it knows the time this well: a label names a
/// whole second, so it must be told apart from the one before and after with room to spare.
const NETWORK_DECIDES_BELOW_NS: i64 = 250_000_000;

impl Default for PairingConfig {
    fn default() -> Self {
        PairingConfig {
            nmea_delay_ns: 300_000_000,
            window_ns: 400_000_000,
            lock_after: 3,
            relock_after: 600,
            nmea_fallback_after_ns: Some(30 * NANOS_PER_SEC),
            adopt_sustained_change: false,
        }
    }
}

/// Why something was not paired, for status displays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PairingCounts {
    pub samples: u64,
    pub edges_without_label: u64,
    pub labels_without_edge: u64,
    /// Labels in the guard band between windows, or two labels in one window.
    pub ambiguous: u64,
    /// Labels that disagree with the established relation (e.g. a +1 s jump).
    pub refused_jumps: u64,
    /// Edges not a whole number of seconds after the previous one (noise on the PPS line).
    pub spurious_edges: u64,
    /// Times the anchor moved after a sustained disagreement.
    pub relocks: u64,
    /// Sustained disagreements that were not adopted (no network to decide, and
    /// `adopt_sustained_change` off): the receiver names another second than it did.
    pub unadopted_changes: u64,
    /// Pairs the network contradicted (the label names another second than the network).
    pub refused_by_network: u64,
    /// Times the network moved the anchor to the relation it confirms.
    pub network_relocks: u64,
    /// Times the NMEA delay measured against network time replaced the configured one.
    pub delay_adopted: u64,
    /// Pairs that agreed while lock was being established.
    pub locking: u64,
    /// Samples from labels alone because PPS never showed (`nmea_fallback_after_ns`).
    pub nmea_fallback: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pair {
    edge: LocalNanos,
    utc_second: i64,
}

impl Pair {
    /// Whether `other` is this pair moved by a whole number of seconds on both sides.
    fn agrees_with(&self, other: &Pair) -> bool {
        let elapsed = other.edge - self.edge;
        let whole = (elapsed + NANOS_PER_SEC / 2).div_euclid(NANOS_PER_SEC);
        other.utc_second - self.utc_second == whole
    }
}

/// Matches edges to labels. Feed it edges and label arrivals as they happen.
#[derive(Clone, Debug)]
pub struct Pairing {
    config: PairingConfig,
    /// Without PPS, a label's arrival minus the configured delay stands in for the edge.
    nmea_only: bool,
    edges: VecDeque<LocalNanos>,
    labels: VecDeque<(LocalNanos, i64)>,
    /// The latest local time any input has shown.
    now: LocalNanos,
    last_edge: Option<LocalNanos>,
    first_label: Option<LocalNanos>,
    anchor: Option<Pair>,
    agreeing: u32,
    /// Consecutive pairs agreeing with each other but not with the anchor.
    rival: Option<(Pair, u32)>,
    timing: RecentLabels,
    counts: PairingCounts,
    network: Option<NetworkTime>,
    /// The latest pair refused, as a sample: what the receiver claims although it is unused.
    disputed: Option<Sample>,
}

/// Where the last labels arrived, ms after the edge before them, and which of them fell
/// between windows.
#[derive(Clone, Debug, Default)]
struct RecentLabels {
    arrivals_ms: VecDeque<i64>,
    between_windows: VecDeque<bool>,
    /// Arrival after the true edge of the second each label names, by network time, in ms.
    network_delays_ms: VecDeque<i64>,
}

/// Labels remembered for [`Pairing::label_timing`].
const RECENT_LABELS: usize = 64;
/// More than this share of them between windows means the configured delay does not fit.
const MISFIT_SHARE: f64 = 0.25;

impl RecentLabels {
    fn push<T>(queue: &mut VecDeque<T>, value: T) {
        if queue.len() == RECENT_LABELS {
            queue.pop_front();
        }
        queue.push_back(value);
    }
}

/// The configured delay does not fit the receiver: where its labels arrive, and the window
/// they were expected in, both in ms after the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelTimingMisfit {
    pub arrivals_ms: (i64, i64),
    pub window_ms: (i64, i64),
    /// By network time, how long after the pulse it names each label arrives (median), ms.
    pub network_delay_ms: Option<i64>,
}

/// Measured delays may scatter this much (serial buffering, a busy receiver) and still be
/// one receiver habit.
const DELAY_SPREAD_MS: i64 = 300;

/// Bound on queued edges and labels; more means one side is flooding, and the oldest go.
const QUEUE_MAX: usize = 8;

impl Pairing {
    /// Pairing of PPS edges with NMEA labels.
    pub fn with_pps(config: PairingConfig) -> Pairing {
        Pairing {
            config,
            nmea_only: false,
            edges: VecDeque::new(),
            labels: VecDeque::new(),
            now: LocalNanos::MIN,
            last_edge: None,
            first_label: None,
            anchor: None,
            agreeing: 0,
            rival: None,
            timing: RecentLabels::default(),
            counts: PairingCounts::default(),
            network: None,
            disputed: None,
        }
    }

    /// What the network says of the local clock now (`None`: no network estimate).
    pub fn set_network_time(&mut self, network: Option<NetworkTime>) {
        self.network = network;
    }

    /// The latest refused pair since the last call, as the sample it would have been.
    pub fn take_disputed(&mut self) -> Option<Sample> {
        self.disputed.take()
    }

    /// Labels alone, timed by their arrival: milliseconds of error, reported as `NmeaOnly`.
    pub fn nmea_only(config: PairingConfig) -> Pairing {
        Pairing { nmea_only: true, ..Pairing::with_pps(config) }
    }

    pub fn counts(&self) -> PairingCounts {
        self.counts
    }

    pub fn locked(&self) -> bool {
        self.anchor.is_some() && self.agreeing >= self.config.lock_after
    }

    /// `Some` when more than a quarter of the recent labels fell between windows: the
    /// receiver sends its labels at another delay than configured (see the module notes).
    pub fn label_timing(&self) -> Option<LabelTimingMisfit> {
        let recent = &self.timing;
        let between = recent.between_windows.iter().filter(|b| **b).count();
        if recent.between_windows.len() < 8
            || (between as f64) <= MISFIT_SHARE * recent.between_windows.len() as f64
        {
            return None;
        }
        let earliest = recent.arrivals_ms.iter().min()?;
        let latest = recent.arrivals_ms.iter().max()?;
        let (from, to) = self.window(0);
        let ms = |ns: i64| ns.div_euclid(1_000_000);
        Some(LabelTimingMisfit {
            arrivals_ms: (*earliest, *latest),
            window_ms: (ms(from), ms(to)),
            network_delay_ms: self.network_delay_ms(),
        })
    }

    /// The median of the network-measured label delays, when there are enough and they agree.
    fn network_delay_ms(&self) -> Option<i64> {
        let mut delays: Vec<i64> = self.timing.network_delays_ms.iter().copied().collect();
        if delays.len() < 8 {
            return None;
        }
        delays.sort_unstable();
        let (low, high) = (delays[0], delays[delays.len() - 1]);
        (high - low <= DELAY_SPREAD_MS).then(|| delays[delays.len() / 2])
    }

    /// The configured delay misfits and the network measured one: use that one instead.
    fn adopt_network_delay(&mut self) {
        let Some(misfit) = self.label_timing() else { return };
        let Some(delay_ms) = misfit.network_delay_ms else { return };
        self.config.nmea_delay_ns = delay_ms * 1_000_000;
        self.counts.delay_adopted += 1;
        // Judge the new setting on the labels that come from now on.
        self.timing = RecentLabels::default();
        self.anchor = None;
        self.agreeing = 0;
        self.rival = None;
    }

    /// The NMEA delay in use, ms (the configured one until a measured one was adopted).
    pub fn nmea_delay_ms(&self) -> i64 {
        self.config.nmea_delay_ns.div_euclid(1_000_000)
    }

    /// A PPS edge at local time `edge`.
    pub fn push_edge(&mut self, edge: LocalNanos, out: &mut Vec<Sample>) {
        if self.nmea_only {
            return;
        }
        if let Some(last) = self.last_edge {
            let gap = edge - last;
            let phase = gap.rem_euclid(NANOS_PER_SEC);
            // A real edge comes a whole number of seconds after the last one, give or take the
            // local oscillator's error (<= 500 ppm) and interrupt latency.
            if gap <= 0 || phase.min(NANOS_PER_SEC - phase) > NANOS_PER_SEC / 100 {
                self.counts.spurious_edges += 1;
                return;
            }
        }
        self.last_edge = Some(edge);
        if self.edges.len() == QUEUE_MAX {
            self.edges.pop_front();
            self.counts.edges_without_label += 1;
        }
        self.edges.push_back(edge);
        self.advance(edge, out);
    }

    /// A label naming `utc_second` that arrived at local time `arrived`.
    pub fn push_label(&mut self, arrived: LocalNanos, utc_second: i64, out: &mut Vec<Sample>) {
        let first_label = *self.first_label.get_or_insert(arrived);
        let pps_absent = self.last_edge.is_none()
            && self.config.nmea_fallback_after_ns.is_some_and(|after| arrived - first_label >= after);
        if self.nmea_only || pps_absent {
            let pair = Pair { edge: arrived - self.config.nmea_delay_ns, utc_second };
            let before = self.counts.samples;
            self.accept(pair, Quality::NmeaOnly, out);
            if !self.nmea_only {
                self.counts.nmea_fallback += self.counts.samples - before;
            }
            return;
        }
        if let Some(edge) = self.last_edge {
            let after_edge_ms = (arrived - edge).rem_euclid(NANOS_PER_SEC) / 1_000_000;
            RecentLabels::push(&mut self.timing.arrivals_ms, after_edge_ms);
        }
        if let Some(network) = self.network.filter(|n| n.bound_ns < NETWORK_DECIDES_BELOW_NS) {
            let named_edge = utc_second.saturating_mul(NANOS_PER_SEC) + network.local_minus_utc_ns;
            RecentLabels::push(
                &mut self.timing.network_delays_ms,
                (arrived - named_edge).div_euclid(1_000_000),
            );
        }
        if self.labels.len() == QUEUE_MAX {
            self.labels.pop_front();
            self.counts.labels_without_edge += 1;
        }
        self.labels.push_back((arrived, utc_second));
        self.advance(arrived, out);
        self.adopt_network_delay();
    }

    /// Time has reached `now` (also without input): windows that closed are decided.
    pub fn advance(&mut self, now: LocalNanos, out: &mut Vec<Sample>) {
        self.now = self.now.max(now);
        self.decide_closed_windows(out);
        self.expire_orphan_labels();
    }

    /// Forget everything but the counts: call after the local clock was stepped.
    pub fn reset(&mut self) {
        let fresh = Pairing::with_pps(self.config);
        *self = Pairing { nmea_only: self.nmea_only, counts: self.counts, network: self.network, ..fresh };
    }

    fn window(&self, edge: LocalNanos) -> (LocalNanos, LocalNanos) {
        let centre = edge + self.config.nmea_delay_ns;
        let from = centre - self.config.window_ns;
        // A receiver that sends after the edge never sends before it (see the module notes).
        let from = if self.config.nmea_delay_ns >= 0 { from.max(edge) } else { from };
        (from, centre + self.config.window_ns)
    }

    /// An edge is decided once its window has closed, so that a second label in the same
    /// window is seen before anything is emitted. That costs at most the window's width.
    fn decide_closed_windows(&mut self, out: &mut Vec<Sample>) {
        while let Some(&edge) = self.edges.front() {
            let (from, to) = self.window(edge);
            if self.now <= to {
                return;
            }
            self.edges.pop_front();
            self.drop_labels_before(from);
            let in_window = self.labels.iter().take_while(|(arrived, _)| *arrived <= to).count();
            for _ in 0..in_window {
                RecentLabels::push(&mut self.timing.between_windows, false);
            }
            match in_window {
                0 => self.counts.edges_without_label += 1,
                1 => {
                    if let Some((_, utc_second)) = self.labels.pop_front() {
                        self.accept(Pair { edge, utc_second }, Quality::Pps, out);
                    }
                }
                n => {
                    self.labels.drain(..n);
                    self.counts.ambiguous += n as u64;
                }
            }
        }
    }

    /// Labels no edge can claim any more: one from an edge's window would have been taken.
    fn drop_labels_before(&mut self, from: LocalNanos) {
        while self.labels.front().is_some_and(|(arrived, _)| *arrived < from) {
            if let Some((arrived, _)) = self.labels.pop_front() {
                self.count_orphan(arrived);
            }
        }
    }

    /// Labels whose edge would have had to come more than a window ago: no PPS came for them.
    fn expire_orphan_labels(&mut self) {
        let slack = self.config.window_ns + NANOS_PER_SEC;
        while let Some(&(arrived, _)) = self.labels.front() {
            if arrived - self.config.nmea_delay_ns + slack >= self.now {
                return;
            }
            self.labels.pop_front();
            self.count_orphan(arrived);
        }
    }

    /// An unpaired label between windows (relative to the edge train) was ambiguous; one in a
    /// window position was a label whose pulse went missing.
    fn count_orphan(&mut self, arrived: LocalNanos) {
        let in_guard_band = self.last_edge.is_some_and(|last| {
            // Where it fell relative to the edge train, against a window of that train.
            let (from, to) = self.window(last);
            let phase = (arrived - from).rem_euclid(NANOS_PER_SEC);
            phase > to - from
        });
        RecentLabels::push(&mut self.timing.between_windows, in_guard_band);
        if in_guard_band {
            self.counts.ambiguous += 1;
        } else {
            self.counts.labels_without_edge += 1;
        }
    }

    /// `Some(true)` when the network confirms the second `pair` names, `Some(false)` when it
    /// names another, `None` when the network does not know well enough.
    fn network_verdict(&self, pair: &Pair) -> Option<bool> {
        let network = self.network.filter(|n| n.bound_ns < NETWORK_DECIDES_BELOW_NS)?;
        let utc_edge = pair.edge - network.local_minus_utc_ns;
        let second = (utc_edge + NANOS_PER_SEC / 2).div_euclid(NANOS_PER_SEC);
        Some(second == pair.utc_second)
    }

    fn accept(&mut self, pair: Pair, quality: Quality, out: &mut Vec<Sample>) {
        let agrees = self.anchor.is_some_and(|anchor| anchor.agrees_with(&pair));
        match self.network_verdict(&pair) {
            Some(false) => {
                self.counts.refused_by_network += 1;
                self.disputed = Some(Self::sample(pair, quality));
                return;
            }
            Some(true) if !agrees && self.agreeing >= self.config.lock_after => {
                // Locked on a relation the network contradicts: this one is right.
                self.anchor = Some(pair);
                self.rival = None;
                self.counts.network_relocks += 1;
                self.emit(pair, quality, out);
                return;
            }
            _ => {}
        }
        if agrees {
            self.anchor = Some(pair);
            self.rival = None;
            self.agreeing = self.agreeing.saturating_add(1);
            if self.agreeing >= self.config.lock_after {
                self.emit(pair, quality, out);
            } else {
                self.counts.locking += 1;
            }
        } else if self.agreeing < self.config.lock_after {
            // Not locked yet: locking restarts from this pair.
            self.anchor = Some(pair);
            self.agreeing = 1;
            if self.config.lock_after <= 1 {
                self.emit(pair, quality, out);
            } else {
                self.counts.locking += 1;
            }
        } else {
            self.refuse(pair, quality);
        }
    }

    /// A locked pairing met a label that disagrees with the anchor.
    fn refuse(&mut self, pair: Pair, quality: Quality) {
        self.counts.refused_jumps += 1;
        self.disputed = Some(Self::sample(pair, quality));
        let streak = match self.rival {
            Some((rival, n)) if rival.agrees_with(&pair) => n.saturating_add(1),
            _ => 1,
        };
        self.rival = Some((pair, streak));
        if streak == self.config.relock_after && !self.config.adopt_sustained_change {
            self.counts.unadopted_changes += 1;
        }
        if streak >= self.config.relock_after && self.config.adopt_sustained_change {
            self.anchor = Some(pair);
            self.rival = None;
            self.counts.relocks += 1;
        }
    }

    fn sample(pair: Pair, quality: Quality) -> Sample {
        let nanos = u32::try_from(pair.edge.rem_euclid(NANOS_PER_SEC)).unwrap_or(0);
        Sample {
            edge_local: (pair.edge.div_euclid(NANOS_PER_SEC), nanos),
            utc_second: pair.utc_second,
            quality,
        }
    }

    fn emit(&mut self, pair: Pair, quality: Quality, out: &mut Vec<Sample>) {
        self.counts.samples += 1;
        out.push(Self::sample(pair, quality));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SEC;
    const MS: i64 = 1_000_000;
    /// The first true second of every scenario (2026-11-21T00:00:00Z).
    const FIRST_SECOND: i64 = 1_795_219_200;

    /// A receiver over `seconds` seconds. The local clock is 0.3 s behind and the true edge of
    /// second n is at local time `start + n s`.
    struct Scenario {
        seconds: i64,
        delay: i64,
        /// Label arrival jitter for second n, in ns.
        jitter: fn(i64) -> i64,
        missing_edges: Vec<i64>,
        missing_labels: Vec<i64>,
        /// Seconds whose label names a different second: (n, wrong by).
        wrong_labels: Vec<(i64, i64)>,
    }

    impl Scenario {
        fn new(delay: i64) -> Scenario {
            Scenario {
                seconds: 60,
                delay,
                jitter: |_| 0,
                missing_edges: vec![],
                missing_labels: vec![],
                wrong_labels: vec![],
            }
        }

        fn edge(n: i64) -> LocalNanos {
            (FIRST_SECOND + n) * S - 300 * MS
        }

        /// Feeds edges and labels in local-time order, and checks every sample against truth.
        fn run(&self, pairing: &mut Pairing) -> Vec<Sample> {
            let mut events: Vec<(LocalNanos, Option<i64>)> = Vec::new();
            for n in 0..self.seconds {
                if !self.missing_edges.contains(&n) {
                    events.push((Scenario::edge(n), None));
                }
                if !self.missing_labels.contains(&n) {
                    let wrong = self.wrong_labels.iter().find(|(k, _)| *k == n).map_or(0, |(_, by)| *by);
                    let arrived = Scenario::edge(n) + self.delay + (self.jitter)(n);
                    events.push((arrived, Some(FIRST_SECOND + n + wrong)));
                }
            }
            events.sort_by_key(|(t, _)| *t);
            let mut out = Vec::new();
            for (t, label) in events {
                match label {
                    None => pairing.push_edge(t, &mut out),
                    Some(second) => pairing.push_label(t, second, &mut out),
                }
            }
            pairing.advance(Scenario::edge(self.seconds + 5), &mut out);
            for sample in &out {
                let edge = sample.edge_local.0 * S + i64::from(sample.edge_local.1);
                let n = (edge + 300 * MS + S / 2).div_euclid(S) - FIRST_SECOND;
                let tolerance = if sample.quality == Quality::NmeaOnly { 500 * MS } else { 0 };
                assert!((edge - Scenario::edge(n)).abs() <= tolerance, "{sample:?}");
                assert_eq!(sample.utc_second, FIRST_SECOND + n, "wrong second emitted: {sample:?}");
            }
            out
        }
    }

    fn config(delay_ms: i64) -> PairingConfig {
        PairingConfig { nmea_delay_ns: delay_ms * MS, ..PairingConfig::default() }
    }

    /// Deterministic jitter in [-amplitude, amplitude] ms.
    fn pseudo_random(n: i64, amplitude: i64) -> i64 {
        let mixed = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        (mixed % (2 * amplitude as u64 + 1)) as i64 - amplitude
    }

    #[test]
    fn label_after_edge_pairs_every_second_after_lock() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.jitter = |n| pseudo_random(n, 150) * MS;
        let samples = scenario.run(&mut pairing);
        assert_eq!(samples.len(), 58, "{:?}", pairing.counts());
        assert!(samples.iter().all(|s| s.quality == Quality::Pps));
        assert!(pairing.locked());
        assert_eq!(pairing.label_timing(), None);
    }

    #[test]
    fn a_slow_receiver_is_never_paired_with_the_next_edge() {
        // Labels 920-980 ms after their edge, with the default window (300 +- 400 ms): they
        // arrive just before the next edge. Taking them for that edge's (as before) set every
        // sample a second off; `run` fails on any wrong second.
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(950 * MS);
        scenario.jitter = |n| pseudo_random(n, 30) * MS;
        assert!(scenario.run(&mut pairing).is_empty(), "{:?}", pairing.counts());
        assert!(!pairing.locked());
        let misfit = pairing.label_timing().expect("the misfit is reported");
        assert!(misfit.arrivals_ms.0 >= 915 && misfit.arrivals_ms.1 <= 985, "{misfit:?}");
        assert_eq!(misfit.window_ms, (0, 700));
    }

    #[test]
    fn labels_straddling_the_window_are_reported_and_never_paired_wrongly() {
        // 700-990 ms after the edge: some between windows, none in the next edge's.
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(845 * MS);
        scenario.jitter = |n| pseudo_random(n, 145) * MS;
        scenario.seconds = 120;
        scenario.run(&mut pairing);
        let misfit = pairing.label_timing().expect("the misfit is reported");
        assert!(misfit.arrivals_ms.0 >= 700 && misfit.arrivals_ms.1 <= 990, "{misfit:?}");
    }

    #[test]
    fn label_before_edge_pairs_with_the_following_edge() {
        let mut pairing = Pairing::with_pps(config(-200));
        let mut scenario = Scenario::new(-200 * MS);
        scenario.jitter = |n| pseudo_random(n, 100) * MS;
        assert_eq!(scenario.run(&mut pairing).len(), 58);
    }

    #[test]
    fn a_900_ms_nmea_delay_with_jitter_pairs_with_the_right_edge() {
        let mut pairing = Pairing::with_pps(config(900));
        let mut scenario = Scenario::new(900 * MS);
        scenario.jitter = |n| pseudo_random(n, 300) * MS;
        assert_eq!(scenario.run(&mut pairing).len(), 58);
    }

    #[test]
    fn a_missing_pulse_loses_that_second_only() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.missing_edges = vec![10, 30, 31];
        assert_eq!(scenario.run(&mut pairing).len(), 55);
        assert_eq!(pairing.counts().labels_without_edge, 3);
    }

    #[test]
    fn a_missing_label_loses_that_second_only() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.missing_labels = vec![10, 20];
        assert_eq!(scenario.run(&mut pairing).len(), 56);
        assert_eq!(pairing.counts().edges_without_label, 2);
    }

    #[test]
    fn a_plus_one_second_label_jump_is_refused() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.wrong_labels = (20..40).map(|n| (n, 1)).collect();
        let samples = scenario.run(&mut pairing);
        assert_eq!(pairing.counts().refused_jumps, 20);
        assert_eq!(samples.len(), 38);
        assert_eq!(pairing.counts().relocks, 0);
    }

    #[test]
    fn a_sustained_new_relation_is_followed_only_after_relock_after_seconds_when_allowed() {
        let mut pairing = Pairing::with_pps(PairingConfig {
            relock_after: 10,
            adopt_sustained_change: true,
            ..config(300)
        });
        let mut scenario = Scenario::new(300 * MS);
        scenario.seconds = 40;
        // Labels that are one second off for good; truth in this scenario is the *old*
        // relation, so checking samples against it would fail after the relock. Check counts.
        let mut out = Vec::new();
        for n in 0..40 {
            let wrong = i64::from(n >= 20);
            pairing.push_edge(Scenario::edge(n), &mut out);
            pairing.push_label(Scenario::edge(n) + 300 * MS, FIRST_SECOND + n + wrong, &mut out);
        }
        pairing.advance(Scenario::edge(45), &mut out);
        assert_eq!(pairing.counts().relocks, 1);
        assert_eq!(pairing.counts().refused_jumps, 10);
        let shifted = out.iter().filter(|s| s.utc_second - s.edge_local.0 == 2).count();
        assert_eq!(shifted, 10, "after the relock the new relation is followed");
    }

    #[test]
    fn without_a_network_a_sustained_change_is_reported_and_never_adopted() {
        let mut pairing = Pairing::with_pps(PairingConfig { relock_after: 10, ..config(300) });
        let mut scenario = Scenario::new(300 * MS);
        scenario.wrong_labels = (20..60).map(|n| (n, 1)).collect();
        let samples = scenario.run(&mut pairing);
        assert_eq!(samples.len(), 18, "only the seconds before the change");
        assert_eq!(pairing.counts().relocks, 0);
        assert_eq!(pairing.counts().unadopted_changes, 1, "reported once per change");
        let disputed = pairing.take_disputed().expect("the refused claim is kept");
        assert_eq!(disputed.utc_second - disputed.edge_local.0, 2, "one second ahead of the truth");
        assert_eq!(pairing.take_disputed(), None);
    }

    /// The scenario's local clock is 300 ms behind UTC.
    const NETWORK: NetworkTime = NetworkTime { local_minus_utc_ns: -300 * MS, bound_ns: 5 * MS };

    #[test]
    fn the_network_refuses_a_jump_for_good_even_where_adoption_is_allowed() {
        let mut pairing = Pairing::with_pps(PairingConfig {
            relock_after: 10,
            adopt_sustained_change: true,
            ..config(300)
        });
        pairing.set_network_time(Some(NETWORK));
        let mut scenario = Scenario::new(300 * MS);
        scenario.wrong_labels = (20..60).map(|n| (n, 1)).collect();
        let samples = scenario.run(&mut pairing);
        assert_eq!(samples.len(), 18);
        assert_eq!(pairing.counts().refused_by_network, 40);
        assert_eq!(pairing.counts().relocks, 0);
    }

    #[test]
    fn the_network_moves_a_wrong_anchor_at_once() {
        // The receiver names every second one too late from the start, then gets it right.
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.seconds = 20;
        scenario.wrong_labels = (0..20).map(|n| (n, 1)).collect();
        let mut out = Vec::new();
        for n in 0..10 {
            pairing.push_edge(Scenario::edge(n), &mut out);
            pairing.push_label(Scenario::edge(n) + 300 * MS, FIRST_SECOND + n + 1, &mut out);
        }
        assert!(pairing.locked(), "locked on the wrong second without a network");
        pairing.set_network_time(Some(NETWORK));
        out.clear();
        for n in 10..20 {
            pairing.push_edge(Scenario::edge(n), &mut out);
            pairing.push_label(Scenario::edge(n) + 300 * MS, FIRST_SECOND + n, &mut out);
        }
        pairing.advance(Scenario::edge(25), &mut out);
        assert_eq!(pairing.counts().network_relocks, 1);
        assert_eq!(out.len(), 10, "every right pair used at once");
        assert!(out.iter().all(|s| s.utc_second - s.edge_local.0 == 1), "{out:?}");
    }

    #[test]
    fn the_network_measures_the_delay_the_window_misfits_and_it_is_used() {
        // Labels 950 ms after the pulse they name (a slow 9600-baud receiver), 60 ms before
        // it (a receiver that announces the coming second), with the default 300 ms expected.
        for delay_ms in [950, -60] {
            let mut pairing = Pairing::with_pps(config(300));
            pairing.set_network_time(Some(NETWORK));
            let mut scenario = Scenario::new(delay_ms * MS);
            scenario.seconds = 90;
            let samples = scenario.run(&mut pairing);
            assert_eq!(pairing.counts().delay_adopted, 1, "{delay_ms} ms: {:?}", pairing.counts());
            assert_eq!(pairing.nmea_delay_ms(), delay_ms);
            // `run` checked that every sample names its true second; most seconds are used.
            assert!(samples.len() > 45, "{delay_ms} ms: {} samples", samples.len());
        }
    }

    #[test]
    fn without_a_network_a_misfit_is_only_reported() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(950 * MS);
        scenario.seconds = 90;
        scenario.run(&mut pairing);
        assert_eq!(pairing.counts().delay_adopted, 0);
        let misfit = pairing.label_timing().expect("reported");
        assert_eq!(misfit.network_delay_ms, None);
    }

    #[test]
    fn a_network_that_knows_too_little_decides_nothing() {
        let mut pairing = Pairing::with_pps(config(300));
        pairing.set_network_time(Some(NetworkTime { bound_ns: 400 * MS, ..NETWORK }));
        let mut scenario = Scenario::new(300 * MS);
        scenario.wrong_labels = (20..40).map(|n| (n, 1)).collect();
        scenario.run(&mut pairing);
        assert_eq!(pairing.counts().refused_by_network, 0);
        assert_eq!(pairing.counts().refused_jumps, 20);
    }

    #[test]
    fn a_label_in_the_guard_band_is_ambiguous_and_unused() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        // Second 15's label arrives 800 ms after its edge: between its window and the next.
        scenario.jitter = |n| if n == 15 { 500 * MS } else { 0 };
        assert_eq!(scenario.run(&mut pairing).len(), 57);
        assert_eq!(pairing.counts().ambiguous, 1);
    }

    #[test]
    fn two_labels_in_one_window_are_both_refused() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut out = Vec::new();
        for n in 0..5 {
            pairing.push_edge(Scenario::edge(n), &mut out);
            pairing.push_label(Scenario::edge(n) + 300 * MS, FIRST_SECOND + n, &mut out);
        }
        pairing.push_edge(Scenario::edge(5), &mut out);
        pairing.push_label(Scenario::edge(5) + 200 * MS, FIRST_SECOND + 5, &mut out);
        pairing.push_label(Scenario::edge(5) + 400 * MS, FIRST_SECOND + 6, &mut out);
        pairing.advance(Scenario::edge(7), &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(pairing.counts().ambiguous, 2);
    }

    #[test]
    fn a_noise_pulse_between_edges_is_ignored() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut out = Vec::new();
        for n in 0..6 {
            pairing.push_edge(Scenario::edge(n), &mut out);
            pairing.push_edge(Scenario::edge(n) + 150 * MS, &mut out);
            pairing.push_label(Scenario::edge(n) + 300 * MS, FIRST_SECOND + n, &mut out);
        }
        pairing.advance(Scenario::edge(8), &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(pairing.counts().spurious_edges, 6);
    }

    #[test]
    fn nmea_only_mode_times_labels_by_arrival() {
        let mut pairing = Pairing::nmea_only(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.jitter = |n| pseudo_random(n, 100) * MS;
        let samples = scenario.run(&mut pairing);
        assert_eq!(samples.len(), 58);
        assert!(samples.iter().all(|s| s.quality == Quality::NmeaOnly));
    }

    #[test]
    fn labels_alone_are_used_while_pps_never_showed_and_pps_takes_over_at_its_first_edge() {
        let mut pairing = Pairing::with_pps(config(300));
        let mut scenario = Scenario::new(300 * MS);
        scenario.missing_edges = (0..45).collect();
        let samples = scenario.run(&mut pairing);
        let (nmea, pps): (Vec<&Sample>, Vec<&Sample>) =
            samples.iter().partition(|s| s.quality == Quality::NmeaOnly);
        // Labels 30..45 go alone (the first two only build lock); edges 45..60 pair at once,
        // since the anchor from the labels already agrees with them.
        assert_eq!(nmea.len(), 13, "{:?}", pairing.counts());
        assert!(nmea.iter().all(|s| s.utc_second < FIRST_SECOND + 45));
        assert_eq!(pps.len(), 15);
        assert!(pps.iter().all(|s| s.utc_second >= FIRST_SECOND + 45));
        assert_eq!(pairing.counts().nmea_fallback, 13);
    }

    #[test]
    fn without_fallback_labels_wait_for_pps() {
        let mut pairing = Pairing::with_pps(PairingConfig { nmea_fallback_after_ns: None, ..config(300) });
        let mut scenario = Scenario::new(300 * MS);
        scenario.missing_edges = (0..45).collect();
        let samples = scenario.run(&mut pairing);
        assert!(samples.iter().all(|s| s.quality == Quality::Pps));
        assert_eq!(samples.len(), 13);
    }

    #[test]
    fn no_wrong_second_under_any_mix_of_faults() {
        let (mut emitted, mut refused) = (0, 0);
        for seed in 0..200i64 {
            let mut pairing = Pairing::with_pps(PairingConfig { relock_after: u32::MAX, ..config(400) });
            let mut scenario = Scenario::new(400 * MS);
            scenario.seconds = 120;
            scenario.jitter = |n| pseudo_random(n * 7 + 3, 450) * MS;
            let pick = |salt: i64, one_in: i64| -> Vec<i64> {
                (0..120)
                    .filter(|n| pseudo_random(n * 31 + seed * 977 + salt, 1000).rem_euclid(one_in) == 0)
                    .collect()
            };
            scenario.missing_edges = pick(1, 7);
            scenario.missing_labels = pick(2, 9);
            scenario.wrong_labels =
                pick(3, 11).into_iter().map(|n| (n, if n % 2 == 0 { 1 } else { -1 })).collect();
            // `run` asserts that every emitted sample names the true second.
            emitted += scenario.run(&mut pairing).len();
            refused += pairing.counts().refused_jumps;
        }
        // The faults must not have silenced pairing altogether, or the check above is empty.
        assert!(emitted > 200 * 40, "only {emitted} samples in 200 runs");
        assert!(refused > 200, "only {refused} jumps refused");
    }
}
