//! Every upstream source's state (pure): events from the pollers in, the per-source filters,
//! the counts of bad answers, and the selection over the trusted ones out.

use std::collections::BTreeMap;

use super::filter::{SourceEstimate, SourceFilter};
use super::measurement::{BadAnswer, Measurement};
use super::selection::{select, Candidate, NetworkEstimate, Selection};
use crate::filter::Nanos;

/// How a source is reached (ntpd-rs's `mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceMode {
    /// NTS: key establishment over TLS, then authenticated NTP.
    Nts,
    /// Plain NTP (unauthenticated).
    Server,
}

impl SourceMode {
    pub fn name(self) -> &'static str {
        match self {
            SourceMode::Nts => "nts",
            SourceMode::Server => "server",
        }
    }
}

/// What the configuration says of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    pub address: String,
    pub mode: SourceMode,
    /// Counts toward integrity and fallback.
    pub trusted: bool,
}

/// What a poller reports.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceEvent {
    /// A request went out.
    Polled,
    /// A usable answer (authenticated when the source is NTS).
    Answer(Measurement),
    /// An answer that must not be used.
    Bad(BadAnswer),
    /// No answer within the timeout.
    NoAnswer,
    /// Key establishment finished: `Ok` with the number of cookies, or why it failed.
    KeyExchange(Result<usize, String>),
    /// The address requests now go to (after resolving the name, or the KE's server record).
    Target(std::net::IpAddr),
    /// An NTS session kept by the last run was taken up, with this many cookies.
    SessionRestored(usize),
    /// The poll could not be made (name resolution, socket): why.
    Failed(String),
}

#[derive(Clone, Debug)]
struct SourceState {
    info: SourceInfo,
    filter: SourceFilter,
    polls: u64,
    answers: u64,
    no_answer: u64,
    bad: BTreeMap<&'static str, u64>,
    key_exchanges: u64,
    last_error: Option<String>,
    leap: Option<crate::packet::LeapIndicator>,
    target: Option<std::net::IpAddr>,
    sessions_restored: u64,
}

/// One source for display.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceStatus {
    pub info: SourceInfo,
    pub reachable: bool,
    pub reach: u8,
    pub estimate: Option<SourceEstimate>,
    pub selected: bool,
    pub polls: u64,
    pub answers: u64,
    pub no_answer: u64,
    /// Bad answers by reason ([`BadAnswer::name`]).
    pub bad: Vec<(&'static str, u64)>,
    pub key_exchanges: u64,
    /// NTS sessions taken up from the cookie directory instead of a key exchange.
    pub sessions_restored: u64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Upstreams {
    sources: Vec<SourceState>,
    selection: Selection,
    /// Index into `sources` of each candidate in `selection`.
    candidates: Vec<usize>,
}

impl Upstreams {
    pub fn new(infos: Vec<SourceInfo>) -> Self {
        let sources = infos
            .into_iter()
            .map(|info| SourceState {
                info,
                filter: SourceFilter::default(),
                polls: 0,
                answers: 0,
                no_answer: 0,
                bad: BTreeMap::new(),
                key_exchanges: 0,
                last_error: None,
                leap: None,
                target: None,
                sessions_restored: 0,
            })
            .collect();
        Upstreams { sources, selection: Selection::default(), candidates: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Applies `event` from source `index` at our clock's `now`. True when the network
    /// estimate was recomputed from a new answer (a "source update"), or came or went.
    pub fn on_event(&mut self, index: usize, event: SourceEvent, now: Nanos) -> bool {
        let Some(source) = self.sources.get_mut(index) else { return false };
        match event {
            SourceEvent::Polled => {
                source.polls += 1;
                source.filter.on_poll();
            }
            SourceEvent::Answer(m) => {
                source.answers += 1;
                source.leap = Some(m.leap);
                source.last_error = None;
                source.filter.on_measurement(m);
                self.reselect(now);
                return true;
            }
            SourceEvent::Bad(reason) => {
                *source.bad.entry(reason.name()).or_default() += 1;
                source.last_error = Some(match reason {
                    BadAnswer::KissOfDeath(code) => {
                        format!("kiss-o'-death {}", String::from_utf8_lossy(&code).trim_end_matches('\0'))
                    }
                    other => other.name().replace('_', " "),
                });
            }
            SourceEvent::NoAnswer => {
                source.no_answer += 1;
                source.last_error = Some("no answer".into());
            }
            SourceEvent::KeyExchange(Ok(_)) => source.key_exchanges += 1,
            SourceEvent::KeyExchange(Err(e)) => source.last_error = Some(format!("key exchange: {e}")),
            SourceEvent::Target(ip) => source.target = Some(ip),
            SourceEvent::SessionRestored(_) => source.sessions_restored += 1,
            SourceEvent::Failed(e) => source.last_error = Some(e),
        }
        // A source that stopped answering may have left the selection.
        let was = self.selection.estimate.is_some();
        self.reselect(now);
        was != self.selection.estimate.is_some()
    }

    /// We slewed our clock by `delta_ns` at `now`: every stored offset moves with it.
    pub fn on_clock_slewed(&mut self, delta_ns: f64, now: Nanos) {
        for s in &mut self.sources {
            s.filter.on_clock_slewed(delta_ns);
        }
        self.reselect(now);
    }

    /// Our clock was stepped: every stored offset is void.
    pub fn on_clock_step(&mut self) {
        for s in &mut self.sources {
            s.filter.on_clock_step();
        }
        self.selection = Selection::default();
        self.candidates.clear();
    }

    /// Selection again at `now` (dispersion grows with age; reachability changes).
    pub fn reselect(&mut self, now: Nanos) {
        let mut candidates = Vec::new();
        self.candidates.clear();
        for (i, s) in self.sources.iter().enumerate() {
            if !(s.info.trusted && s.filter.reachable()) {
                continue;
            }
            if let Some(e) = s.filter.estimate(now) {
                candidates.push(Candidate {
                    offset_ns: e.offset_ns,
                    root_distance_ns: e.root_distance_ns,
                    stratum: e.stratum,
                    root_delay_ns: e.root_delay_ns,
                    root_dispersion_ns: e.root_dispersion_ns,
                    at: e.at,
                });
                self.candidates.push(i);
            }
        }
        self.selection = select(&candidates);
    }

    /// What the trusted sources say, if a majority of them agree.
    pub fn network(&self) -> Option<NetworkEstimate> {
        self.selection.estimate.map(|mut e| {
            e.best = self.candidates.get(e.best).copied().unwrap_or(e.best);
            e
        })
    }

    pub fn info(&self, index: usize) -> Option<&SourceInfo> {
        self.sources.get(index).map(|s| &s.info)
    }

    /// Where source `index`'s requests last went, once known.
    pub fn target(&self, index: usize) -> Option<std::net::IpAddr> {
        self.sources.get(index).and_then(|s| s.target)
    }

    /// Reachable trusted sources whose last answer carried a leap warning, and how many
    /// reachable trusted sources there are.
    pub fn leap_votes(&self) -> (Vec<crate::packet::LeapIndicator>, usize) {
        let reachable: Vec<&SourceState> =
            self.sources.iter().filter(|s| s.info.trusted && s.filter.reachable()).collect();
        (reachable.iter().filter_map(|s| s.leap).collect(), reachable.len())
    }

    pub fn status(&self, now: Nanos) -> Vec<SourceStatus> {
        self.sources
            .iter()
            .enumerate()
            .map(|(i, s)| SourceStatus {
                info: s.info.clone(),
                reachable: s.filter.reachable(),
                reach: s.filter.reach(),
                estimate: s.filter.estimate(now),
                selected: self
                    .candidates
                    .iter()
                    .position(|c| *c == i)
                    .is_some_and(|k| self.selection.selected.get(k).copied().unwrap_or(false)),
                polls: s.polls,
                answers: s.answers,
                no_answer: s.no_answer,
                bad: s.bad.iter().map(|(k, v)| (*k, *v)).collect(),
                key_exchanges: s.key_exchanges,
                sessions_restored: s.sessions_restored,
                last_error: s.last_error.clone(),
            })
            .collect()
    }
}

/// The host part of `host[:port]`, for the TLS server name.
pub fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_address_with_and_without_a_port() {
        assert_eq!(host_of("nts.example.net:4460"), "nts.example.net");
        assert_eq!(host_of("nts.example.net"), "nts.example.net");
        assert_eq!(host_of("[::1]:4460"), "::1");
        assert_eq!(host_of("::1"), "::1");
    }

    const S: Nanos = 1_000_000_000;

    fn info(address: &str, trusted: bool) -> SourceInfo {
        SourceInfo { address: address.into(), mode: SourceMode::Server, trusted }
    }

    fn answer(at: Nanos, offset_ns: f64) -> SourceEvent {
        SourceEvent::Answer(Measurement::stratum_one(at, offset_ns, 100_000.0))
    }

    #[test]
    fn untrusted_sources_are_shown_but_never_selected() {
        let mut u = Upstreams::new(vec![info("a", true), info("b", false)]);
        for i in 0..2 {
            u.on_event(i, SourceEvent::Polled, 0);
            assert!(u.on_event(i, answer(S, 1_000.0 * i as f64), S));
        }
        let status = u.status(S);
        assert!(status[0].selected && !status[1].selected);
        assert!(status[1].reachable);
        assert_eq!(u.network().unwrap().best, 0);
    }

    #[test]
    fn bad_answers_are_counted_by_reason_and_never_used() {
        let mut u = Upstreams::new(vec![info("a", true)]);
        u.on_event(0, SourceEvent::Polled, 0);
        assert!(!u.on_event(0, SourceEvent::Bad(BadAnswer::WrongOrigin), 0));
        u.on_event(0, SourceEvent::Polled, 0);
        u.on_event(0, SourceEvent::Bad(BadAnswer::KissOfDeath(*b"RATE")), 0);
        u.on_event(0, SourceEvent::Bad(BadAnswer::BadAuthentication), 0);
        let s = &u.status(0)[0];
        assert_eq!(s.bad, vec![("bad_authentication", 1), ("kiss_of_death", 1), ("wrong_origin", 1)]);
        assert!(!s.reachable && s.estimate.is_none());
        assert_eq!(s.last_error.as_deref(), Some("bad authentication"));
        assert!(u.network().is_none());
    }

    #[test]
    fn a_falseticker_is_left_out_of_the_network_estimate() {
        let mut u = Upstreams::new(vec![info("a", true), info("liar", true), info("c", true)]);
        for (i, offset) in [0.0, 80e6, 20_000.0].into_iter().enumerate() {
            u.on_event(i, SourceEvent::Polled, 0);
            u.on_event(i, answer(S, offset), S);
        }
        let status = u.status(S);
        assert_eq!(status.iter().map(|s| s.selected).collect::<Vec<_>>(), vec![true, false, true]);
        assert!(u.network().unwrap().offset_ns.abs() < 20_000.0);
    }

    #[test]
    fn our_own_slews_keep_sources_measured_at_different_times_comparable() {
        // Source a measured 2 ms; we then slewed our clock back 1.9 ms before b measured 0.1 ms.
        // Both are right; uncorrected, their 100 µs intervals would not meet.
        let mut u = Upstreams::new(vec![info("a", true), info("b", true)]);
        u.on_event(0, SourceEvent::Polled, 0);
        u.on_event(0, answer(S, 2e6), S);
        u.on_clock_slewed(-1.9e6, 60 * S);
        u.on_event(1, SourceEvent::Polled, 60 * S);
        u.on_event(1, answer(61 * S, 0.1e6), 61 * S);
        let n = u.network().expect("both agree once a's offset moved with the slew");
        assert_eq!(n.survivors, 2);
        assert!((n.offset_ns - 0.1e6).abs() < 1_000.0, "{n:?}");
        assert!((u.status(61 * S)[0].estimate.unwrap().offset_ns - 0.1e6).abs() < 1e-6);
    }

    #[test]
    fn a_step_voids_the_estimate() {
        let mut u = Upstreams::new(vec![info("a", true)]);
        u.on_event(0, SourceEvent::Polled, 0);
        u.on_event(0, answer(S, 5e6), S);
        assert!(u.network().is_some());
        u.on_clock_step();
        assert!(u.network().is_none());
    }
}
