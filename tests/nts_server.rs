//! Our NTS server's own promises, checked with the library's NTS client over real sockets:
//! cookies survive a restart and expire after the kept window, a renewed certificate is served
//! without a restart and without dropping a connection in flight, and the key-establishment
//! limits hold while NTP keeps answering.

mod common;

use std::io;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use stratum1::nts::certificates::make_throwaway_ca;
use stratum1::nts::client::{tls_config, KeConnection, KeSession};
use stratum1_core::nts::error_code;
use stratum1_core::nts::ntp_auth::{client_read_response, client_request, ClientView};
use stratum1_core::nts::AeadAlgorithm;

// The test's NTS-in-NTP client: one request with a chosen cookie and placeholder count, and
// what came back. It lives here, not in the daemon, which never sends such queries itself.

/// The outcome of one NTS-protected NTP query.
#[derive(Debug)]
pub enum NtsQuery {
    /// Authenticated: the response and what it carried.
    Authenticated {
        response: Vec<u8>,
        view: ClientView,
    },
    /// A kiss-o'-death with this code (not authenticated).
    KissOfDeath {
        code: [u8; 4],
        response: Vec<u8>,
    },
    /// An answer that failed authentication.
    Unauthenticated {
        response: Vec<u8>,
    },
    NoAnswer,
}

/// Sends one NTS request using `cookie` and `placeholders` placeholders, with a random unique
/// identifier and nonce.
pub fn query(
    socket: &UdpSocket,
    server: impl ToSocketAddrs,
    session: &KeSession,
    cookie: &[u8],
    placeholders: usize,
) -> io::Result<NtsQuery> {
    let mut random = [0u8; 48];
    getrandom::getrandom(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let mut header = [0u8; 48];
    header[0] = (4 << 3) | 3;
    header[40..48].copy_from_slice(&random[32..40]);
    let mut unique_id = [0u8; 32];
    unique_id.copy_from_slice(&random[..32]);
    let nonce = &random[32..32 + session.algorithm.nonce_len()];
    let request = client_request(&header, &unique_id, cookie, placeholders, &session.c2s, nonce);
    socket.send_to(&request, server)?;
    let mut buffer = [0u8; 2048];
    let n = match socket.recv(&mut buffer) {
        Ok(n) => n,
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            return Ok(NtsQuery::NoAnswer)
        }
        Err(e) => return Err(e),
    };
    let response = buffer[..n].to_vec();
    if response.len() >= 48 && response[1] == 0 {
        let mut code = [0u8; 4];
        code.copy_from_slice(&response[12..16]);
        return Ok(NtsQuery::KissOfDeath { code, response });
    }
    match client_read_response(&response, &session.s2c) {
        Some(view) if view.unique_id == unique_id => Ok(NtsQuery::Authenticated { response, view }),
        _ => Ok(NtsQuery::Unauthenticated { response }),
    }
}

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
        match query(&socket, daemon.ntp[0], &session, &session.cookies[0], 2).unwrap() {
            NtsQuery::Authenticated { view, .. } => assert_eq!(view.cookies.len(), 3, "{algorithm:?}"),
            other => panic!("{algorithm:?}: {other:?}"),
        }
    }
    // The server's preference decides among what the client offers.
    let session = establish(&daemon, &[AeadAlgorithm::Aes128GcmSiv, AeadAlgorithm::AesSivCmac256]);
    assert_eq!(session.algorithm, AeadAlgorithm::AesSivCmac256);
}

/// A Pi 4's order (GCM-SIV first): this project's client asks for RFC 8915's GCM-SIV keys, gets
/// GCM-SIV though it offers AES-SIV first, and its keys match the server's.
#[test]
fn gcm_siv_first_serves_a_client_that_asks_for_rfc_8915_keys() {
    let daemon =
        RunningDaemon::start(&throwaway("aead-preference = [\"AES-128-GCM-SIV\", \"AES-SIV-CMAC-256\"]\n"));
    let session = establish(&daemon, &[AeadAlgorithm::AesSivCmac256, AeadAlgorithm::Aes128GcmSiv]);
    assert_eq!(session.algorithm, AeadAlgorithm::Aes128GcmSiv);
    match query(&udp(), daemon.ntp[0], &session, &session.cookies[0], 0).unwrap() {
        NtsQuery::Authenticated { view, .. } => assert_eq!(view.cookies.len(), 1),
        other => panic!("{other:?}"),
    }
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
        query(&socket, daemon.ntp[0], &session, &session.cookies[0], 0).unwrap(),
        NtsQuery::Authenticated { .. }
    ));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);

    let (_, dir) = daemon.stop_keeping_dir();
    let daemon = RunningDaemon::start_in(&config, dir);
    assert!(issued.elapsed() < Duration::from_secs(4), "restart too slow for the window");
    match query(&socket, daemon.ntp[0], &session, &session.cookies[1], 0).unwrap() {
        NtsQuery::Authenticated { .. } => {}
        other => panic!("a cookie from before the restart was refused: {other:?}\n{}", daemon.log()),
    }

    std::thread::sleep(Duration::from_secs(7).saturating_sub(issued.elapsed()));
    match query(&socket, daemon.ntp[0], &session, &session.cookies[2], 0).unwrap() {
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
        assert_eq!(error_code(&response), Some(code), "{request:?} -> {response:?}");
    }
    let log = daemon.stop();
    assert!(log.contains("refused=3"), "{log}");
}

/// A TCP connection to `server` from `source` (a loopback address), or `None` when the
/// connect fails.
fn connect_from(source: &str, server: std::net::SocketAddr) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let from: std::net::SocketAddr = format!("{source}:0").parse().ok()?;
    socket.bind(&from.into()).ok()?;
    socket.connect_timeout(&server.into(), TIMEOUT).ok()?;
    Some(socket.into())
}

/// A TLS record header announcing a 512-byte ClientHello: the server takes the connection
/// (it spoke) and waits for the rest.
const HELLO_HEADER: [u8; 5] = [0x16, 0x03, 0x01, 0x02, 0x00];

/// A connection from `source` that finishes its TLS handshake and then sends nothing.
fn sitter(
    tls: &std::sync::Arc<rustls::ClientConfig>,
    source: &str,
    server: std::net::SocketAddr,
) -> Option<TcpStream> {
    let mut tcp = connect_from(source, server)?;
    tcp.set_read_timeout(Some(TIMEOUT)).ok()?;
    let name = rustls_pki_types::ServerName::try_from("localhost").ok()?;
    let mut conn = rustls::ClientConnection::new(tls.clone(), name).ok()?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).ok()?;
    }
    // The Finished may still be buffered.
    while conn.wants_write() {
        conn.write_tls(&mut tcp).ok()?;
    }
    Some(tcp)
}

fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() <= limit => return true,
            Ok(0) | Err(_) => return false,
            Ok(_) => {} // the server's handshake flight, for a sitter
        }
    }
}

#[test]
fn each_stage_gives_way_in_its_order_and_ntp_keeps_answering() {
    let daemon = RunningDaemon::start(&throwaway("max-connections = 2\nexchange-timeout-ms = 3000\n"));
    let ke = daemon.nts_ke[0];
    let ntp = socket_to(daemon.ntp[0], "127.0.0.1");
    let tls = tls_config(&daemon.dir().join("ca/ca.pem")).unwrap();
    let honest = || {
        KeConnection::connect(tls.clone(), ke, "localhost", TIMEOUT)
            .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]))
            .is_ok_and(|s| s.cookies.len() == 8)
    };
    // Silent connections are not even handed to the server until they speak.
    let silent: Vec<TcpStream> = (0..2).filter_map(|_| connect_from("127.0.0.2", ke)).collect();
    assert_eq!(silent.len(), 2);
    assert!(honest(), "an honest exchange beside silent connections");
    drop(silent);

    // Waiting for their ClientHello, one address holds 2 of the 8 places (2 slots × 4): its
    // third makes its first give way at once; honest exchanges go on, and the rest are closed
    // at the 2 s handshake deadline.
    let mut waiting: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect_from("127.0.0.3", ke).unwrap();
            s.write_all(&HELLO_HEADER).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s
        })
        .collect();
    assert!(closed_within(&mut waiting[0], Duration::from_millis(400)), "the first waiting one, at once");
    assert!(honest(), "an honest exchange while the hello places of one address are full");
    assert!(exchange(&ntp, &request(4, 3, ntp_now())).is_some(), "NTP answers meanwhile");
    let started = Instant::now();
    for stream in &mut waiting[1..] {
        assert!(closed_within(stream, Duration::from_secs(3)));
    }
    assert!(started.elapsed() < Duration::from_millis(2500), "closed near the 2 s handshake deadline");

    // Two clients finish TLS and sit: both slots hold young exchanges and a newcomer is
    // refused; 0.2 s on, the older sitter gives way to the next honest client.
    let mut sitters: Vec<TcpStream> =
        ["127.0.0.4", "127.0.0.5"].iter().map(|s| sitter(&tls, s, ke).unwrap()).collect();
    assert!(!honest(), "both slots hold exchanges younger than 0.2 s");
    std::thread::sleep(Duration::from_millis(300));
    assert!(honest(), "a sitter past 0.2 s gives way");
    assert!(closed_within(&mut sitters[0], Duration::from_millis(500)), "the older sitter");

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
        KeConnection::connect(std::sync::Arc::new(no_alpn), ke, "localhost", TIMEOUT).unwrap();
    let _ = connection.send_raw(&[0x80, 0x01, 0, 2, 0, 0, 0x80, 0, 0, 0]);
    assert!(connection.read_to_end().map_or(true, |r| r.is_empty()), "no answer without ALPN");

    assert!(exchange(&ntp, &request(4, 3, ntp_now())).is_some(), "NTP still answers");
    let log = daemon.stop();
    for expected in ["over_capacity=1", "evicted=2", "timed_out=2", "handshake_failed=1"] {
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

/// Floods from several addresses cannot deny key establishment. With 32 TLS slots (and 128
/// places to wait for a ClientHello), four addresses keep 40 connections each waiting with half
/// a ClientHello (a new one every 20 ms), and four more keep 20 each that finished TLS and sit
/// (a new one every 50 ms), all dropping their oldest, for 5 s. (Sitters that finish more
/// handshakes than 32 slots / 0.2 s would keep every slot young: that flood is a CPU flood,
/// measured in docs/benchmarks.md, not a slot flood.) Every honest key exchange from another address meanwhile
/// gets its cookies within a second: half-hellos wait in a stage of their own, and a young
/// handshake outlasts connections sitting past theirs. Before, the half-hellos took the TLS
/// slots and the sitters' reconnections made the honest client's handshake give way.
#[test]
fn floods_from_several_addresses_cannot_deny_key_establishment() {
    let daemon = RunningDaemon::start(&throwaway("max-connections = 32\n"));
    let ke = daemon.nts_ke[0];
    let tls = tls_config(&daemon.dir().join("ca/ca.pem")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (2..10)
        .map(|host| {
            let (stop, tls) = (stop.clone(), tls.clone());
            std::thread::spawn(move || {
                let source = format!("127.0.0.{host}");
                let (sits, keep) = (host >= 6, if host >= 6 { 20 } else { 40 });
                let mut open = std::collections::VecDeque::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let stream = if sits {
                        sitter(&tls, &source, ke)
                    } else {
                        connect_from(&source, ke).filter(|mut s| s.write_all(&HELLO_HEADER).is_ok())
                    };
                    open.extend(stream);
                    if open.len() > keep {
                        open.pop_front();
                    }
                    std::thread::sleep(Duration::from_millis(if sits { 50 } else { 20 }));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut times = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let session = KeConnection::connect(tls.clone(), ke, "localhost", TIMEOUT)
            .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]));
        assert!(
            session.as_ref().is_ok_and(|s| s.cookies.len() == 8),
            "an honest key exchange failed during the flood: {:?}",
            session.err()
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
    assert!(evicted > 0, "the flood made connections give way: {log}");
}
