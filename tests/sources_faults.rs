//! Upstreams that misbehave, on loopback: a real stratum1d upstream (NTS and plain NTP) behind
//! a small UDP relay of this test's own that breaks its answers on demand (a flipped bit the
//! NTS authenticator covers, a wrong origin, a kiss-o'-death, a clock shifted by 50 ms). What the
//! relay breaks must be counted by reason and never used; a falseticker must be left out.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

const PASS: u8 = 0;
/// A bit of the transmit timestamp's last byte: covered by the NTS authenticator, and a
/// fraction of a nanosecond to a plain client.
const FLIP_COVERED_BIT: u8 = 1;
const WRONG_ORIGIN: u8 = 2;
const KISS_RATE: u8 = 3;
const SHIFT_50_MS: u8 = 4;

/// Relays datagrams from clients to `upstream` and the answers back, breaking the answers as
/// `mode` says. Stops when dropped (it polls a flag; no loop runs unbounded).
struct Relay {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(upstream: SocketAddr, mode: u8) -> Relay {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let addr = socket.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(mode));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (mode, stop) = (mode.clone(), stop.clone());
            std::thread::spawn(move || {
                let to_upstream = UdpSocket::bind("127.0.0.1:0").unwrap();
                to_upstream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                let mut buf = [0u8; 2048];
                let deadline = Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let Ok((n, client)) = socket.recv_from(&mut buf) else { continue };
                    if to_upstream.send_to(&buf[..n], upstream).is_err() {
                        continue;
                    }
                    let mut answer = [0u8; 2048];
                    let Ok(m) = to_upstream.recv(&mut answer) else { continue };
                    let answer = &mut answer[..m];
                    match mode.load(Ordering::Relaxed) {
                        FLIP_COVERED_BIT => answer[47] ^= 0x01,
                        WRONG_ORIGIN => answer[31] ^= 0x01,
                        KISS_RATE => {
                            answer[1] = 0;
                            answer[12..16].copy_from_slice(b"RATE");
                        }
                        SHIFT_50_MS => {
                            // Receive and transmit timestamps 50 ms later (2^32 / 20 fraction).
                            for at in [32, 40] {
                                let t = u64::from_be_bytes(answer[at..at + 8].try_into().unwrap());
                                answer[at..at + 8].copy_from_slice(&(t + (1u64 << 32) / 20).to_be_bytes());
                            }
                        }
                        _ => {}
                    }
                    let _ = socket.send_to(answer, client);
                }
            })
        };
        Relay { addr, mode, stop, thread: Some(thread) }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::Relaxed);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bad(s: &serde_json::Value, source: usize, reason: &str) -> u64 {
    s["sources"][source]["bad_answers"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e[0] == reason))
        .and_then(|e| e[1].as_u64())
        .unwrap_or(0)
}

fn answers(s: &serde_json::Value, source: usize) -> u64 {
    s["sources"][source]["answers"].as_u64().unwrap_or(0)
}

/// The demo without its receiver (so the sources alone decide what is served), with `sources`.
fn daemon_with(sources: &str) -> RunningDaemon {
    let config = stratum1::config::DEMO_TOML
        .replace("127.0.0.1:12300\", \"[::1]:12300\"", "127.0.0.1:0\"")
        .replace("listen = [\"127.0.0.1:4460\", \"[::1]:4460\"]", "listen = [\"127.0.0.1:4460\"]")
        .replace("kind = \"simulated\"", "kind = \"none\"");
    RunningDaemon::start(&format!("{config}\n{sources}"))
}

fn source(mode: &str, address: &str, extra: &str) -> String {
    format!("[[source]]\nmode = \"{mode}\"\naddress = \"{address}\"\npoll-min = 0\npoll-max = 0\n{extra}\n")
}

#[test]
fn bad_macs_wrong_origins_and_kisses_of_death_are_counted_and_never_used() {
    // The upstream tells NTS clients to send NTP to the relay (its `ntp-port`).
    let upstream_ntp = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let relay = Relay::start(SocketAddr::from(([127, 0, 0, 1], upstream_ntp)), PASS);
    let upstream_config = format!(
        "{}ntp-port = {}\n",
        observe_only_nts_config(1).replace("127.0.0.1:0", &format!("127.0.0.1:{upstream_ntp}")),
        relay.addr.port()
    );
    let upstream = RunningDaemon::start(&upstream_config);
    let ca = upstream.dir().join("ca/ca.pem");
    let daemon = daemon_with(
        &(source(
            "nts",
            &format!("localhost:{}", upstream.nts_ke[0].port()),
            &format!("certificate-authority = \"{}\"", ca.display()),
        ) + &source("server", &relay.addr.to_string(), "trust = true")),
    );
    let s = daemon.wait_for_status(Duration::from_secs(40), "both sources answered", |s| {
        answers(s, 0) >= 2 && answers(s, 1) >= 2
    });
    assert_eq!(s["sources"][0]["authenticated"], true);
    assert_eq!(s["server"]["stratum"], 2, "served from the network: {s:#}");

    for (mode, nts_reason, plain_reason) in [
        (FLIP_COVERED_BIT, "bad_authentication", None),
        (WRONG_ORIGIN, "bad_authentication", Some("wrong_origin")),
        (KISS_RATE, "kiss_of_death", Some("kiss_of_death")),
    ] {
        let before = daemon.api_status();
        relay.set(mode);
        let s = daemon.wait_for_status(Duration::from_secs(40), nts_reason, |s| {
            bad(s, 0, nts_reason) >= bad(&before, 0, nts_reason) + 2
                && plain_reason.is_none_or(|r| bad(s, 1, r) > bad(&before, 1, r))
        });
        // Only answers already on their way when the relay changed may have been used.
        assert!(answers(&s, 0) <= answers(&before, 0) + 1, "NTS answers used while broken:\n{s:#}");
        if plain_reason.is_some() {
            assert!(answers(&s, 1) <= answers(&before, 1) + 1, "plain answers used while broken:\n{s:#}");
        }
        relay.set(PASS);
        let back = answers(&s, 0);
        daemon.wait_for_status(Duration::from_secs(40), "answers again", |s| answers(s, 0) > back);
    }
    // The flipped bit in a plain answer went unnoticed (plain NTP is not authenticated): why
    // plain sources count only with trust = true.
}

#[test]
fn a_falseticker_among_three_sources_is_rejected() {
    let upstream = RunningDaemon::start(&observe_only_nts_config(1));
    let relays: Vec<Relay> =
        [PASS, PASS, SHIFT_50_MS].into_iter().map(|mode| Relay::start(upstream.ntp[0], mode)).collect();
    let sources: String =
        relays.iter().map(|r| source("server", &r.addr.to_string(), "trust = true")).collect();
    let daemon = daemon_with(&sources);
    let first = daemon.wait_for_status(Duration::from_secs(40), "two selected", |s| {
        s["integrity"]["sources_selected"] == 2
            && s["sources"].as_array().is_some_and(|a| a.iter().all(|v| v["reachable"] == true))
    });
    // The first selection probably comes as the daemon's clock takes the network's time (the demo's
    // starts 5 ms off): once every source has answered again, offsets and estimate are all on
    // the corrected clock (a CI run once saw them 4.9 ms apart in that first snapshot).
    let s = daemon.wait_for_status(Duration::from_secs(40), "every source answered again", |s| {
        s["integrity"]["sources_selected"] == 2 && (0..3).all(|i| answers(s, i) > answers(&first, i))
    });
    let selected: Vec<bool> = (0..3).map(|i| s["sources"][i]["selected"] == true).collect();
    assert_eq!(selected, vec![true, true, false], "{s:#}");
    // Offsets are of the demo's simulated clock (5 ms off at start), so compare them.
    let offset = |i: usize| s["sources"][i]["offset_ns"].as_f64().unwrap();
    assert!((offset(2) - offset(0) + 50e6).abs() < 2e6, "the shifted source reads 50 ms ahead: {s:#}");
    let network = s["integrity"]["network_offset_ns"].as_f64().unwrap();
    assert!((network - offset(0)).abs() < 1e6, "the liar pulls nothing: {network} ns");
}
