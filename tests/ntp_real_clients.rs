//! The real daemon, queried on loopback by real clients: chrony (`chronyd -Q`, which never
//! touches the clock) and NTPsec's `ntpdig` (in a network namespace of its own, since it only
//! talks to port 123), plus raw packets for what clients do not send.

mod common;

use std::process::Command;

use common::*;

const LOCAL_STRATUM_CONFIG: &str = r#"
[ntp]
listen = ["127.0.0.1:0", "[::1]:0"]
workers = 2
[clock]
mode = "observe-only"
local-stratum = 10
"#;

#[test]
fn chrony_measures_our_time_within_10ms() {
    require("chronyd");
    let daemon = RunningDaemon::start(LOCAL_STRATUM_CONFIG);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chrony.conf");
    let port = daemon.ntp[0].port();
    std::fs::write(
        &conf,
        format!(
            "server 127.0.0.1 port {port} iburst\ncmdport 0\npidfile {}\n",
            dir.path().join("chronyd.pid").display()
        ),
    )
    .unwrap();
    // -Q: print the offset and exit, never setting the clock. -t 5: give up after 5 s.
    let out = Command::new("chronyd").args(["-Q", "-t", "5", "-f"]).arg(&conf).output().expect("run chronyd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let offset: f64 = text
        .split("System clock wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("chrony reported no offset:\n{text}"));
    assert!(offset.abs() < 0.010, "offset {offset} s: \n{text}");
    let log = daemon.stop();
    assert!(log.contains("answered=") && !log.contains(" answered=0 "), "{log}");
}

#[test]
fn ntpdig_in_a_private_namespace_gets_our_time_within_10ms() {
    require("ntpdig");
    require("unshare");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("port123.toml");
    std::fs::write(
        &config,
        "[ntp]\nlisten = [\"127.0.0.1:123\"]\nworkers = 1\n[clock]\nlocal-stratum = 10\n",
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    // The namespace has its own loopback and port 123; it and the daemon end with the shell.
    let script = format!(
        r#"ip link set lo up || exit 90
"{daemon}" --config "{config}" 2>"{log}" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for i in $(seq 100); do grep -q 'serving NTP' "{log}" && break; sleep 0.05; done
ntpdig -j -t 3 127.0.0.1"#,
        daemon = DAEMON,
        config = config.display(),
        log = log.display()
    );
    let out = Command::new("unshare").args(["--net", "--", "sh", "-c", &script]).output().expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ntpdig failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| -> String {
        stdout
            .split(&format!("\"{name}\":"))
            .nth(1)
            .and_then(|r| r.split([',', '}']).next())
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim_matches('"')
            .to_owned()
    };
    let offset: f64 = field("offset").parse().unwrap();
    assert!(offset.abs() < 0.010, "offset {offset}: {stdout}");
    assert_eq!(field("stratum"), "10");
    assert_eq!(field("leap"), "no-leap");
}

#[test]
fn the_demo_answers_honestly_unsynchronised_on_ipv4_and_ipv6() {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml"))
        .unwrap()
        .replace(":12300", ":0");
    let daemon = RunningDaemon::start(&demo);
    assert_eq!(daemon.ntp.len(), 2);
    for server in &daemon.ntp {
        let local = if server.is_ipv6() { "::1" } else { "127.0.0.1" };
        let socket = socket_to(*server, local);
        for version in 1..=4u8 {
            let sent = ntp_now();
            let reply = exchange(&socket, &request(version, 3, sent)).expect("an answer");
            assert_eq!(reply.len(), 48);
            assert_eq!(reply[0] >> 6, 3, "LI 3: unsynchronised");
            assert_eq!((reply[0] >> 3) & 7, version, "answered in the request's version");
            assert_eq!(reply[0] & 7, 4, "mode 4");
            assert_eq!(reply[1], 16, "stratum 16");
            assert_eq!(u64::from_be_bytes(reply[24..32].try_into().unwrap()), sent, "origin = our transmit");
            let receive = u64::from_be_bytes(reply[32..40].try_into().unwrap());
            let transmit = u64::from_be_bytes(reply[40..48].try_into().unwrap());
            assert!(ntp_diff(sent, receive).abs() < 0.010, "receive timestamp within 10 ms of our clock");
            assert!(ntp_diff(receive, transmit) >= 0.0, "transmit after receive");
        }
    }
}

#[test]
fn control_private_and_malformed_packets_get_no_answer() {
    let daemon = RunningDaemon::start(LOCAL_STRATUM_CONFIG);
    let socket = socket_to(daemon.ntp[0], "127.0.0.1");
    for mode in [6u8, 7] {
        assert_eq!(exchange(&socket, &request(2, mode, 1)), None, "mode {mode}");
    }
    assert_eq!(exchange(&socket, &request(4, 1, 1)), None, "symmetric active");
    assert_eq!(exchange(&socket, &request(4, 3, 1)[..47]), None, "truncated");
    assert_eq!(exchange(&socket, &[0x23; 300]), None, "garbage after header");
    // ntpq's 12-byte READVAR and ntpdc's 8-byte monlist probe: shorter than a header, counted
    // as control and private all the same; a datagram longer than any request, as oversized.
    assert_eq!(exchange(&socket, &[0x16, 0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), None, "ntpq probe");
    assert_eq!(exchange(&socket, &[0x17, 0x00, 0x03, 0x2a, 0, 0, 0, 0]), None, "monlist probe");
    assert_eq!(exchange(&socket, &[0x23; 3000]), None, "oversized");
    assert!(exchange(&socket, &request(4, 3, 1)).is_some(), "still serving");
    let log = daemon.stop();
    for counter in
        ["control_mode=2", "private_mode=2", "not_a_request=1", "malformed=2", "oversized=1", " answered=1 "]
    {
        assert!(log.contains(counter), "{counter} missing in:\n{log}");
    }
}

#[test]
fn a_bad_config_is_refused_with_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[ntp]\nworkers = 1\n\n[ntp.rate-limit]\nmax-rate = -3.0\n").unwrap();
    for flag in ["--check-config", "--config"] {
        let out = Command::new(DAEMON).arg(flag).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("line 5") && err.contains("`max-rate`"), "{flag}: {err}");
    }
    let ok = Command::new(DAEMON)
        .arg("--check-config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml"))
        .output()
        .unwrap();
    assert!(ok.status.success());
}

/// A second stratum1d on a port the first serves would join its SO_REUSEPORT group and take
/// part of its clients; it refuses to start instead, naming the address, and the first keeps
/// answering. A second one sharing the first's state directory is refused too.
#[test]
fn a_second_daemon_on_the_same_port_or_state_is_refused() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let config = |port: u16| {
        format!(
            "[ntp]\nlisten = [\"127.0.0.1:{port}\"]\nworkers = 2\n[clock]\nmode = \"observe-only\"\nlocal-stratum = 10\nstate-file = {:?}\n",
            state.path().join("clock.json").display().to_string()
        )
    };
    let first = RunningDaemon::start(&config(port));
    let dir = tempfile::tempdir().unwrap();
    let second = |text: String| {
        let path = dir.path().join("second.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(DAEMON)
            .arg("--config")
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = second(config(port));
    assert!(!ok, "the second daemon started:\n{err}");
    assert!(err.contains("already") && err.contains(&state.path().display().to_string()), "{err}");
    let other_port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (ok, err) = second(
        config(other_port)
            .replace("state-file", "# state-file")
            .replace(&format!(":{other_port}"), &format!(":{port}")),
    );
    assert!(!ok, "the second daemon started:\n{err}");
    assert!(err.contains(&format!("udp 127.0.0.1:{port} is already served by another process")), "{err}");
    let socket = socket_to(first.ntp[0], "127.0.0.1");
    assert!(exchange(&socket, &request(4, 3, 1)).is_some(), "the first still answers");
}

/// `--check-config` opens the certificate and key NTS would serve: a missing file, or a key
/// that is not the certificate's, is an error naming it, not "ok".
#[test]
fn check_config_opens_the_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let one = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key, wrong_key) =
        (dir.path().join("cert.pem"), dir.path().join("key.pem"), dir.path().join("other.pem"));
    std::fs::write(&cert, one.cert.pem()).unwrap();
    std::fs::write(&key, one.key_pair.serialize_pem()).unwrap();
    std::fs::write(&wrong_key, other.key_pair.serialize_pem()).unwrap();
    let check = |certificate: &std::path::Path, private_key: &std::path::Path| {
        let path = dir.path().join("nts.toml");
        let text = format!(
            "[nts]\nenabled = true\ncertificate = {:?}\nprivate-key = {:?}\n",
            certificate.display().to_string(),
            private_key.display().to_string()
        );
        std::fs::write(&path, text).unwrap();
        let out = Command::new(DAEMON).arg("--check-config").arg(&path).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(check(&cert, &key).0, Some(0));
    let (code, err) = check(&dir.path().join("missing.pem"), &key);
    assert!(code == Some(2) && err.contains("missing.pem"), "{code:?} {err}");
    let (code, err) = check(&cert, &wrong_key);
    assert!(code == Some(2) && err.contains("other.pem"), "a key of another certificate: {code:?} {err}");
}
