//! Our NTS server's own promises, checked with the library's NTS client over real sockets:
//! cookies survive a restart and expire after the kept window, a renewed certificate is served
//! without a restart and without dropping a connection in flight, and the key-establishment
//! limits hold while NTP keeps answering.

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use stratum1::nts::aead::AeadAlgorithm;
use stratum1::nts::certificates::make_throwaway_ca;
use stratum1::nts::client::{self, tls_config, KeConnection, KeSession, NtsQuery};

const TIMEOUT: Duration = Duration::from_secs(3);

fn config(nts_extra: &str) -> String {
    format!(
        r#"
[ntp]
listen = ["127.0.0.1:0"]
workers = 1
[ntp.rate-limit]
enabled = false
[clock]
mode = "observe-only"
local-stratum = 10
[nts]
enabled = true
listen = ["127.0.0.1:4460"]
{nts_extra}
"#
    )
}

fn throwaway(extra: &str) -> String {
    config(&format!("throwaway-ca-dir = \"/tmp/stratum1-demo-ca\"\n{extra}"))
}

fn establish(daemon: &RunningDaemon, algorithms: &[AeadAlgorithm]) -> KeSession {
    let tls = tls_config(&daemon.dir().join("ca/ca.pem")).unwrap();
    KeConnection::connect(tls, daemon.nts_ke[0], "localhost", TIMEOUT).unwrap().establish(algorithms).unwrap()
}

fn udp() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    socket
}

#[test]
fn every_algorithm_gets_8_cookies_and_authenticated_answers() {
    let daemon = RunningDaemon::start(&throwaway(""));
    let socket = udp();
    for algorithm in AeadAlgorithm::ALL {
        let session = establish(&daemon, &[algorithm]);
        assert_eq!(session.algorithm, algorithm);
        assert_eq!(session.cookies.len(), 8);
        assert_eq!(session.ntp_port, Some(daemon.ntp[0].port()), "the NTP port is announced (it is not 123)");
        match client::query(&socket, daemon.ntp[0], &session, &session.cookies[0], 2).unwrap() {
            NtsQuery::Authenticated { view, .. } => assert_eq!(view.cookies.len(), 3, "{algorithm:?}"),
            other => panic!("{algorithm:?}: {other:?}"),
        }
    }
    // The server's preference decides among what the client offers.
    let session = establish(&daemon, &[AeadAlgorithm::Aes128GcmSiv, AeadAlgorithm::AesSivCmac256]);
    assert_eq!(session.algorithm, AeadAlgorithm::AesSivCmac256);
}

#[test]
fn cookies_survive_a_restart_and_get_ntsn_after_the_kept_window() {
    // Keys rotate every 2 s and 2 old ones are kept: a cookie is good for 4 to 6 s.
    let extra = "key-file = \"KEYFILE\"\nkey-rotation-s = 2\nkeys-kept = 2\n";
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("nts-keys");
    let config = throwaway(&extra.replace("KEYFILE", &key_file.display().to_string()));
    let daemon = RunningDaemon::start_in(&config, dir);
    let session = establish(&daemon, &[AeadAlgorithm::AesSivCmac256]);
    let issued = Instant::now();
    let socket = udp();
    assert!(matches!(
        client::query(&socket, daemon.ntp[0], &session, &session.cookies[0], 0).unwrap(),
        NtsQuery::Authenticated { .. }
    ));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);

    let (_, dir) = daemon.stop_keeping_dir();
    let daemon = RunningDaemon::start_in(&config, dir);
    assert!(issued.elapsed() < Duration::from_secs(4), "restart too slow for the window");
    match client::query(&socket, daemon.ntp[0], &session, &session.cookies[1], 0).unwrap() {
        NtsQuery::Authenticated { .. } => {}
        other => panic!("a cookie from before the restart was refused: {other:?}\n{}", daemon.log()),
    }

    std::thread::sleep(Duration::from_secs(7).saturating_sub(issued.elapsed()));
    match client::query(&socket, daemon.ntp[0], &session, &session.cookies[2], 0).unwrap() {
        NtsQuery::KissOfDeath { code, response } => {
            assert_eq!(&code, b"NTSN");
            assert_eq!(response.len(), 48 + 36, "the unique identifier is echoed, nothing else");
        }
        other => panic!("an expired cookie was not refused with NTSN: {other:?}"),
    }
    let log = daemon.stop();
    assert!(log.contains("cookie key rotated"), "{log}");
}

#[test]
fn a_renewed_certificate_is_served_without_restart_or_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let first = make_throwaway_ca(&certs).unwrap();
    let config = config(&format!(
        "certificate = \"{}\"\nprivate-key = \"{}\"\ncertificate-check-s = 1\nexchange-timeout-ms = 8000\n",
        first.certificate.display(),
        first.private_key.display()
    ));
    let daemon = RunningDaemon::start_in(&config, dir);
    let old_ca = daemon.dir().join("old-ca.pem");
    std::fs::copy(&first.ca_certificate, &old_ca).unwrap();
    let before = KeConnection::connect(tls_config(&old_ca).unwrap(), daemon.nts_ke[0], "localhost", TIMEOUT)
        .unwrap()
        .establish(&[AeadAlgorithm::AesSivCmac256])
        .unwrap();

    // A connection whose handshake finished before the renewal, request not yet sent.
    let in_flight =
        KeConnection::connect(tls_config(&old_ca).unwrap(), daemon.nts_ke[0], "localhost", TIMEOUT).unwrap();
    let renewed = make_throwaway_ca(&certs).unwrap();
    let new_tls = tls_config(&renewed.ca_certificate).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        match KeConnection::connect(new_tls.clone(), daemon.nts_ke[0], "localhost", TIMEOUT) {
            Ok(connection) => break connection.establish(&[AeadAlgorithm::AesSivCmac256]).unwrap(),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => panic!("renewed certificate not served: {e}\n{}", daemon.log()),
        }
    };
    assert_ne!(after.leaf_certificate, before.leaf_certificate);
    let finished =
        in_flight.establish(&[AeadAlgorithm::AesSivCmac256]).expect("in-flight exchange completes");
    assert_eq!(finished.leaf_certificate, before.leaf_certificate, "it kept the identity it started with");
    assert_eq!(finished.cookies.len(), 8);
    // Clients that trust only the old CA now fail: the old certificate is no longer served.
    assert!(
        KeConnection::connect(tls_config(&old_ca).unwrap(), daemon.nts_ke[0], "localhost", TIMEOUT).is_err()
    );
    assert!(daemon.log().contains("certificate renewed"));
}

#[test]
fn bad_requests_get_error_records() {
    let daemon = RunningDaemon::start(&throwaway("max-request-bytes = 256\n"));
    let tls = tls_config(&daemon.dir().join("ca/ca.pem")).unwrap();
    let cases: [(&[u8], u16); 3] = [
        // Unknown critical record type 0x1234, then End of Message.
        (&[0x80, 0x01, 0, 2, 0, 0, 0x92, 0x34, 0, 0, 0x80, 0, 0, 0], 0),
        // End of Message with no Next Protocol.
        (&[0x80, 0, 0, 0], 1),
        // 300 bytes of a non-critical unknown record: over the size cap before any End.
        (&[0x12; 300], 1),
    ];
    for (request, code) in cases {
        let mut connection =
            KeConnection::connect(tls.clone(), daemon.nts_ke[0], "localhost", TIMEOUT).unwrap();
        connection.send_raw(request).unwrap();
        let response = connection.read_to_end().unwrap();
        assert_eq!(client::error_code(&response), Some(code), "{request:?} -> {response:?}");
    }
    let log = daemon.stop();
    assert!(log.contains("refused=3"), "{log}");
}

#[test]
fn ke_limits_hold_and_ntp_keeps_answering() {
    let daemon = RunningDaemon::start(&throwaway("max-connections = 2\nexchange-timeout-ms = 1000\n"));
    let ntp = socket_to(daemon.ntp[0], "127.0.0.1");
    // Two idle connections take both slots; a third makes the oldest give way (it had not
    // finished a handshake), so idle connections cannot lock honest clients out.
    let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(daemon.nts_ke[0]).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let third = TcpStream::connect(daemon.nts_ke[0]).unwrap();
    let mut oldest = idle.remove(0);
    oldest.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut byte = [0u8; 1];
    let started = Instant::now();
    assert!(matches!(oldest.read(&mut byte), Ok(0) | Err(_)), "the oldest idle one: closed");
    assert!(started.elapsed() < Duration::from_millis(400), "at once, not at the deadline");
    assert!(exchange(&ntp, &request(4, 3, ntp_now())).is_some(), "NTP answers meanwhile");

    // The others are closed at the deadline, and a trickling client too.
    idle.push(third);
    let started = Instant::now();
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert!(matches!(stream.read(&mut byte), Ok(0) | Err(_)));
    }
    assert!(started.elapsed() < Duration::from_millis(2500), "closed near the 1 s deadline");
    // A TLS record header announcing a 512-byte ClientHello, then its body a byte at a time.
    let mut trickle = TcpStream::connect(daemon.nts_ke[0]).unwrap();
    trickle.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    trickle.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    let closed_after = loop {
        if trickle.write_all(&[0]).is_err() || matches!(trickle.read(&mut byte), Ok(0)) {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(5), "trickling client never closed");
    };
    assert!(closed_after < Duration::from_millis(2500), "{closed_after:?}");
    // A client that does not negotiate ntske/1 is refused.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(daemon.dir().join("ca/ca.pem")).unwrap();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let no_alpn = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut connection =
        KeConnection::connect(std::sync::Arc::new(no_alpn), daemon.nts_ke[0], "localhost", TIMEOUT).unwrap();
    let _ = connection.send_raw(&[0x80, 0x01, 0, 2, 0, 0, 0x80, 0, 0, 0]);
    assert!(connection.read_to_end().map_or(true, |r| r.is_empty()), "no answer without ALPN");

    assert!(exchange(&ntp, &request(4, 3, ntp_now())).is_some(), "NTP still answers");
    let log = daemon.stop();
    for expected in ["over_capacity=0", "evicted=1", "timed_out=3", "handshake_failed=1"] {
        assert!(log.contains(expected), "{expected} in {log}");
    }
}

#[test]
fn a_missing_certificate_stops_the_daemon_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("fullchain.pem");
    let path = dir.path().join("stratum1.toml");
    std::fs::write(
        &path,
        config(&format!(
            "certificate = \"{}\"\nprivate-key = \"{}\"\n",
            missing.display(),
            missing.display()
        )),
    )
    .unwrap();
    let out = std::process::Command::new(DAEMON).arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fullchain.pem") && err.contains("No such file"), "{err}");

    // Half a certificate configuration is refused by --check-config already.
    std::fs::write(&path, config(&format!("certificate = \"{}\"\n", missing.display()))).unwrap();
    let out = std::process::Command::new(DAEMON).arg("--check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("private-key"));
}

#[test]
fn two_demos_never_share_their_throwaway_ca() {
    // Two runs at once, as two users' demos on one machine: each its own private CA directory,
    // named in its log, there while it runs and gone after.
    let config = observe_only_nts_config(1)
        .replace("throwaway-ca-dir = \"/tmp/stratum1-demo-ca\"", "throwaway-ca = true")
        .replace(":4460\"", ":0\"");
    assert!(config.contains("throwaway-ca = true"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stratum1.toml");
    std::fs::write(&path, config).unwrap();
    let start = || {
        std::process::Command::new("timeout")
            .args(["-s", "TERM", "4", DAEMON, "--config"])
            .arg(&path)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let ca_of = |log: &str| -> std::path::PathBuf {
        let line = log.lines().find_map(|l| l.trim().strip_prefix("ntstrustedcerts ")).expect(log);
        line.trim().into()
    };
    let (mut cas, mut alive) = (Vec::new(), Vec::new());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        let ca = ca_of(&log);
        alive.push(log.contains("serving NTS-KE"));
        cas.push(ca);
    }
    assert_eq!(alive, vec![true, true]);
    assert_ne!(cas[0], cas[1], "two runs, two CAs");
    for ca in &cas {
        assert!(!ca.parent().unwrap().exists(), "{} left behind after exit", ca.display());
    }
}

/// Idle connections no longer deny key establishment: four addresses keep 30 idle
/// connections each open (more than all 64 slots together), dropping their oldest and
/// reconnecting 50 times a second each, for 5 s. Every honest key exchange from another
/// address meanwhile gets its cookies within a second, because a new connection makes the
/// oldest unfinished handshake give way and one address holds at most a quarter of the slots.
/// Before, the first 64 idle connections took every slot and each newcomer was refused.
#[test]
fn idle_floods_from_several_addresses_cannot_deny_key_establishment() {
    let daemon = RunningDaemon::start(&config("throwaway-ca-dir = \"/tmp/stratum1-demo-ca\""));
    let ke = daemon.nts_ke[0];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (2..6)
        .map(|host| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut open = std::collections::VecDeque::new();
                let source: std::net::SocketAddr = format!("127.0.0.{host}:0").parse().unwrap();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let socket =
                        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
                    if socket.bind(&source.into()).is_ok()
                        && socket.connect_timeout(&ke.into(), TIMEOUT).is_ok()
                    {
                        open.push_back(socket);
                    }
                    if open.len() > 30 {
                        open.pop_front();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let tls = tls_config(&daemon.dir().join("ca/ca.pem")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut times = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let session = KeConnection::connect(tls.clone(), ke, "localhost", TIMEOUT)
            .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]));
        assert!(
            session.is_ok_and(|s| s.cookies.len() == 8),
            "an honest key exchange failed during the flood"
        );
        times.push(started.elapsed());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    let slowest = times.iter().max().copied().unwrap_or_default();
    assert!(
        times.len() >= 5 && slowest < Duration::from_secs(1),
        "{} exchanges, slowest {slowest:?}",
        times.len()
    );
    let log = daemon.stop();
    let evicted: u64 = log
        .split("evicted=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(evicted > 0, "the flood made idle connections give way: {log}");
}
