//! Rate limiting against a real flood on loopback: the flooder gets RATE kiss-o'-death some of
//! the time, a polite client is still answered, and memory does not grow with the number of
//! source addresses. Bounded in count and time; loopback only (127.0.0.0/8 is all ours).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;

const RATE_LIMITED_CONFIG: &str = r#"
[ntp]
listen = ["127.0.0.1:0"]
workers = 2
[ntp.rate-limit]
enabled = true
max-rate = 2.0
burst = 4
kiss-of-death-one-in = 4
clients-tracked = 65536
[clock]
local-stratum = 10
"#;

#[test]
fn flooder_gets_kod_while_another_client_is_served() {
    let daemon = RunningDaemon::start(RATE_LIMITED_CONFIG);
    let server = daemon.ntp[0];
    let flooder = socket_to(server, "127.0.0.2");
    flooder.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let polite = socket_to(server, "127.0.0.3");

    let (mut sent, mut answers, mut kods) = (0u64, 0u64, 0u64);
    let mut polite_answered = 0;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    // On a starved machine the flood runs on until it is big enough to mean something.
    let hard_deadline = Instant::now() + Duration::from_secs(15);
    let mut next_polite = Instant::now();
    let mut buf = [0u8; 512];
    while (Instant::now() < deadline || sent < 1_000) && Instant::now() < hard_deadline && sent < 20_000 {
        for _ in 0..20 {
            let tx = ntp_now() ^ sent;
            flooder.send(&request(4, 3, tx)).unwrap();
            sent += 1;
        }
        while let Ok(n) = flooder.recv(&mut buf) {
            if n == 48 && buf[1] == 0 && &buf[12..16] == b"RATE" {
                kods += 1;
            } else if n == 48 && buf[1] == 10 {
                answers += 1;
            }
        }
        if Instant::now() >= next_polite {
            if exchange(&polite, &request(4, 3, ntp_now())).is_some_and(|r| r[1] == 10) {
                polite_answered += 1;
            }
            next_polite += Duration::from_millis(600);
        }
    }
    eprintln!("flood: sent={sent} answers={answers} kods={kods} polite_answered={polite_answered}");
    assert!(sent >= 1000, "flood too small to mean anything: {sent}");
    assert!(kods > 0, "no RATE kiss-o'-death in {sent} requests");
    assert!(kods < sent / 2, "KoD only some of the time: {kods} of {sent}");
    // Burst 4, then 2 a second for as long as the flood ran (3 s unless the machine was starved).
    let flood_s = started.elapsed().as_secs() + 1;
    assert!(answers <= 4 + 2 * flood_s, "flooder held to burst + rate: {answers} answers in {flood_s} s");
    assert!(polite_answered >= 4, "the polite client was starved: {polite_answered}");
    let log = daemon.stop();
    assert!(log.contains("rate_limited="), "{log}");
}

#[test]
fn memory_stays_bounded_with_many_source_addresses() {
    let daemon = RunningDaemon::start(RATE_LIMITED_CONFIG);
    let server = daemon.ntp[0];
    // Warm up: one round of 4096 sources so allocator and stacks settle.
    send_from_many_sources(server, 0, 4096);
    std::thread::sleep(Duration::from_millis(300));
    let before = daemon.rss_kib();
    send_from_many_sources(server, 4096, 30_000);
    std::thread::sleep(Duration::from_millis(300));
    let after = daemon.rss_kib();
    eprintln!("rss: {before} KiB before, {after} KiB after 30000 more sources");
    assert!(after <= before + 512, "RSS grew from {before} KiB to {after} KiB over 30000 clients");
    // Still serving afterwards.
    let socket = socket_to(server, "127.0.0.1");
    assert!(exchange(&socket, &request(4, 3, 42)).is_some());
}

/// One request from each of `count` distinct loopback addresses 127.1.x.y onwards.
fn send_from_many_sources(server: SocketAddr, first: u32, count: u32) {
    for i in first..first + count {
        let ip = [127, 1 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let Ok(s) = UdpSocket::bind((std::net::Ipv4Addr::from(ip), 0)) else { continue };
        let _ = s.send_to(&request(4, 3, u64::from(i)), server);
    }
}
