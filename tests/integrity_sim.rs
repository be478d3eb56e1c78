//! The integrity guard in simulation (no threads, no sleeps): the receiver, the pairing, the
//! discipline and one authenticated network source in virtual time, with the faults a spoofer
//! or a broken receiver brings. Each test prints what it measured (`--nocapture` shows it).

use stratum1_core::clock::accuracy::{self, Timeline};
use stratum1_core::clock::simulation::{SecondRecord, SimulatedNetwork, Simulation, SimulationConfig};
use stratum1_core::clock::LeapStatus;
use stratum1_core::clock::LockState;
use stratum1_core::clock::{network_fallback_state, source_reference_id};
use stratum1_core::integrity::{GuardConfig, IntegrityState};
use stratum1_core::time::NtpTimestamp;

/// No PPS outage and no temperature step unless a test asks for one.
const TIMELINE: Timeline =
    Timeline { holdover_from: 100_000, holdover_to: 100_000, end: 100_000, temperature_step_at: 100_000 };

/// A LAN-like source: 200 us round trip, 30 us of constant asymmetry, polled every 16 s.
fn network() -> SimulatedNetwork {
    SimulatedNetwork {
        poll_s: 16,
        half_delay_ns: 100_000.0,
        path_error_ns: 30_000.0,
        guard: GuardConfig::default(),
        outages: vec![],
    }
}

fn scenario(seed: u64) -> SimulationConfig {
    let mut config = accuracy::scenario(seed, TIMELINE);
    config.pps_outages.clear();
    config.network = Some(network());
    config
}

/// Runs `seconds` and checks at every second that a synchronised clock's announced bound
/// covers its true error.
fn run(sim: &mut Simulation, seconds: u32) -> Vec<SecondRecord> {
    run_checked(sim, seconds, true)
}

/// A spoofer who moves the edges slowly moves the reference the bound is relative to: until
/// the guard flags it, no bound computed from the receiver can cover that.
fn run_checked(sim: &mut Simulation, seconds: u32, check_bound: bool) -> Vec<SecondRecord> {
    (0..seconds)
        .map(|_| {
            let r = sim.step();
            if check_bound && matches!(r.estimate.state, LockState::Locked | LockState::Holdover) {
                assert!(
                    r.true_error_ns.abs() <= r.estimate.error_bound_ns,
                    "at {} s the true error {} ns is beyond the bound {} ns",
                    r.elapsed,
                    r.true_error_ns,
                    r.estimate.error_bound_ns
                );
            }
            r
        })
        .collect()
}

fn first(records: &[SecondRecord], after: u32, state: IntegrityState) -> Option<u32> {
    records.iter().find(|r| r.elapsed > after && r.integrity == state).map(|r| r.elapsed)
}

#[test]
fn a_label_jump_is_flagged_within_two_updates_and_never_adopted() {
    for seed in [1, 2, 3] {
        let mut config = scenario(seed);
        config.receiver.label_jump = (300, 1);
        let mut sim = Simulation::new(config);
        let records = run(&mut sim, 300 + 20 * 60 + 60);
        assert_eq!(records[290].integrity, IntegrityState::Consistent, "seed {seed}");
        let flagged = first(&records, 300, IntegrityState::GnssDisagrees).expect("flagged");
        // Two source updates at most: the second poll after the jump, 16 s apart.
        assert!(flagged <= 300 + 2 * 16 + 1, "seed {seed}: flagged at {flagged} s");
        println!("seed {seed}: +1 s label jump at 300 s flagged at {flagged} s");
        let end = records.last().unwrap();
        assert_eq!(end.integrity, IntegrityState::GnssDisagrees, "seed {seed}: still distrusted");
        assert!(
            end.true_error_ns.abs() < 1e8,
            "seed {seed}: the wrong second was adopted: {} ns",
            end.true_error_ns
        );
        assert_eq!(sim.discipline().counts().steps, 1, "seed {seed}: only the first step");
    }
}

#[test]
fn a_slow_pull_is_flagged_once_it_exceeds_the_allowance() {
    for (seed, pull_ns_per_s) in [(4, 1_000.0), (5, 1_000.0), (6, 10_000.0)] {
        let mut config = scenario(seed);
        config.receiver.spoof_pull = (300, pull_ns_per_s);
        let mut sim = Simulation::new(config);
        let records = run_checked(&mut sim, 900, false);
        let flagged = first(&records, 300, IntegrityState::GnssDisagrees).expect("flagged");
        let at_flag = &records[flagged as usize - 1];
        let allowance = sim.witness().report(0).last.map(|c| c.allowance_ns).unwrap_or_default();
        // Flagged within a few polls of the pull exceeding the allowance (give or take the
        // path's asymmetry, which the guard cannot see), and not before.
        let asymmetry = network().path_error_ns;
        let (earliest, latest) = (
            300.0 + (allowance - asymmetry) / pull_ns_per_s - 32.0,
            300.0 + (allowance + asymmetry) / pull_ns_per_s + 48.0,
        );
        println!(
            "seed {seed}: pull {pull_ns_per_s} ns/s flagged {} s after it began (allowance {:.0} us, true error then {:.0} us)",
            flagged - 300,
            allowance / 1e3,
            at_flag.true_error_ns / 1e3
        );
        assert!(f64::from(flagged) >= earliest, "seed {seed}: flagged at {flagged} s, before {earliest}");
        assert!(f64::from(flagged) <= latest, "seed {seed}: flagged at {flagged} s, after {latest}");
        assert!(
            at_flag.true_error_ns.abs() <= allowance + asymmetry + 3.0 * 16.0 * pull_ns_per_s,
            "seed {seed}: {} ns off when flagged",
            at_flag.true_error_ns
        );
        // Once distrusted, the receiver no longer steers. (Holdover still runs on the frequency
        // learnt during the pull: docs/sources-and-integrity.md says so.)
        let end = records.last().unwrap();
        assert_eq!(end.integrity, IntegrityState::GnssDisagrees, "seed {seed}");
        assert!(sim.witness().report(0).samples_unfollowed > 0, "seed {seed}");
    }
}

#[test]
fn with_the_receiver_gone_for_two_hours_the_network_is_served_at_stratum_two() {
    // A +1 ppm temperature step 20 minutes into the outage: holdover alone would drift 1 ppm.
    let mut config = accuracy::scenario(7, Timeline { temperature_step_at: 1_500, ..TIMELINE });
    config.network = Some(network());
    config.pps_outages = vec![(300, 100_000)];
    let mut sim = Simulation::new(config);
    let records = run(&mut sim, 300 + 2 * 3600);
    let end = records.last().unwrap();
    assert_eq!(end.estimate.state, LockState::Unsynchronised, "past the hour of holdover");
    let network = sim.witness().network().expect("the source is still there");
    let served = network_fallback_state(
        &network,
        source_reference_id(None, "192.0.2.1"),
        LeapStatus::Unavailable,
        -20,
        NtpTimestamp::ZERO,
    );
    assert_eq!(served.stratum, 2);
    assert!(served.is_synchronised());
    let root_distance = served.root_delay.to_nanos() as f64 / 2.0 + served.root_dispersion.to_nanos() as f64;
    assert!(
        end.true_error_ns.abs() <= root_distance,
        "the served root distance {root_distance} ns covers the true error {} ns",
        end.true_error_ns
    );
    println!(
        "after 2 h without the receiver: stratum {}, true error {:.0} us, root distance {:.0} us",
        served.stratum,
        end.true_error_ns / 1e3,
        root_distance / 1e3
    );
    // Past the holdover limit network time steers: the error stays near the path's asymmetry.
    let worst_after_limit = records[300 + 3_700..].iter().map(|r| r.true_error_ns.abs()).fold(0.0, f64::max);
    println!("worst error from the holdover limit on: {:.0} us", worst_after_limit / 1e3);
    assert!(worst_after_limit < 2e6, "network time steers: {worst_after_limit} ns");
    assert!(end.true_error_ns.abs() < 200_000.0, "followed the network: {} ns", end.true_error_ns);
}

#[test]
fn with_every_source_unreachable_the_receiver_is_served_unchecked() {
    let mut config = scenario(8);
    if let Some(n) = config.network.as_mut() {
        n.outages = vec![(0, 100_000)];
    }
    let mut sim = Simulation::new(config);
    let records = run(&mut sim, 200);
    let end = records.last().unwrap();
    assert_eq!(end.integrity, IntegrityState::Unchecked);
    assert_eq!(end.estimate.state, LockState::Locked, "GNSS is still followed");
}

#[test]
fn after_network_steering_the_receiver_is_followed_again_when_it_returns() {
    let mut config = scenario(9);
    config.pps_outages = vec![(300, 300 + 4_200)];
    let mut sim = Simulation::new(config);
    // `run` checks the bound against the true error at every locked or holdover second.
    let records = run(&mut sim, 300 + 4_200 + 300);
    assert_eq!(records[300 + 4_000].estimate.state, LockState::Unsynchronised, "past the limit");
    let relocked =
        records[300 + 4_200..].iter().find(|r| r.estimate.state == LockState::Locked).map(|r| r.elapsed);
    let relocked = relocked.expect("locks again");
    assert!(relocked <= 300 + 4_200 + 60, "relocked at {relocked} s");
    let end = records.last().unwrap();
    assert!(end.true_error_ns.abs() < 5_000.0, "on PPS again: {} ns", end.true_error_ns);
    println!(
        "PPS back at 4500 s after network steering: locked at {relocked} s, error then {:.1} us",
        end.true_error_ns / 1e3
    );
}
