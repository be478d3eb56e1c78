//! Upstream sources against real servers started here, on loopback: chrony as an NTS server
//! (`chronyd -x`, `local stratum 1`, a throwaway CA made with openssl) and as a plain NTP
//! server, and a second stratum1d. The demo's simulated receiver must then be `consistent`
//! with them; a label jump must make it `gnss-disagrees`; unreachable sources `unchecked`.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A chronyd serving NTS and NTP from the host clock, never adjusting it (`-x`); killed on drop.
struct ChronyServer {
    child: Child,
    ntp_port: u16,
    ke_port: u16,
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
}

impl Drop for ChronyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a leaf for `localhost` signed by it, with openssl; returns (ca.pem, leaf, key).
fn throwaway_pki(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(p("leaf.key"))
        .arg("-out")
        .arg(p("leaf.csr")));
    std::fs::write(p("ext.cnf"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n").unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("leaf.pem")));
    (p("ca.pem"), p("leaf.pem"), p("leaf.key"))
}

fn start_chrony() -> ChronyServer {
    require("chronyd");
    require("openssl");
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = throwaway_pki(dir.path());
    let (ntp_port, ke_port) = (free_udp_port(), free_tcp_port());
    let conf = dir.path().join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "local stratum 1\nallow 127.0.0.1\nbindaddress 127.0.0.1\nport {ntp_port}\nntsport {ke_port}\ncmdport 0\n\
             ntsserverkey {}\nntsservercert {}\nntsdumpdir {}\npidfile {}\n",
            key.display(),
            cert.display(),
            dir.path().display(),
            dir.path().join("chronyd.pid").display()
        ),
    )
    .unwrap();
    Command::new("chmod").args(["-R", "a+rwX"]).arg(dir.path()).status().unwrap();
    let child = Command::new("chronyd")
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chronyd");
    // Ready once the KE port accepts connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", ke_port)).is_err() {
        assert!(Instant::now() < deadline, "chronyd did not open its NTS-KE port");
        std::thread::sleep(Duration::from_millis(100));
    }
    ChronyServer { child, ntp_port, ke_port, _dir: dir, ca }
}

/// The demo (simulated receiver and clock) with `sources` appended, polling every second.
fn demo_with(sources: &str, simulator_extra: &str) -> String {
    let demo = stratum1::config::DEMO_TOML
        .replace("127.0.0.1:12300\", \"[::1]:12300\"", "127.0.0.1:0\"")
        .replace("listen = [\"127.0.0.1:4460\", \"[::1]:4460\"]", "listen = [\"127.0.0.1:4460\"]")
        .replace("late-pps-percent = 1.0", &format!("late-pps-percent = 1.0\n{simulator_extra}"));
    format!("{demo}\n{sources}")
}

/// A `[[source]]` polled every second: NTS to a KE port on localhost, trusting `ca`.
fn nts_source(ke_port: u16, ca: &Path) -> String {
    format!(
        "[[source]]\nmode = \"nts\"\naddress = \"localhost:{ke_port}\"\ncertificate-authority = \"{}\"\npoll-min = 0\npoll-max = 0\n\n",
        ca.display()
    )
}

/// A trusted plain-NTP `[[source]]` on 127.0.0.1, polled every second.
fn ntp_source(port: u16) -> String {
    format!("[[source]]\nmode = \"server\"\naddress = \"127.0.0.1:{port}\"\ntrust = true\npoll-min = 0\npoll-max = 0\n\n")
}

#[test]
fn the_demo_with_chrony_and_stratum1d_upstreams_is_consistent() {
    let chrony = start_chrony();
    let upstream = RunningDaemon::start(&observe_only_nts_config(1));
    let sources = [
        nts_source(chrony.ke_port, &chrony.ca),
        nts_source(upstream.nts_ke[0].port(), &upstream.dir().join("ca/ca.pem")),
        ntp_source(chrony.ntp_port),
    ]
    .concat();
    let daemon = RunningDaemon::start(&demo_with(&sources, ""));
    let s = daemon.wait_for_status(Duration::from_secs(90), "locked and consistent", |s| {
        s["state"] == "LOCKED"
            && s["integrity"]["state"] == "consistent"
            && s["sources"].as_array().is_some_and(|a| a.iter().all(|v| v["selected"] == true))
    });
    let sources = s["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 3);
    assert_eq!(sources[0]["authenticated"], true, "chrony over NTS: {s:#}");
    assert_eq!(sources[1]["authenticated"], true, "stratum1d over NTS: {s:#}");
    assert_eq!(sources[2]["authenticated"], false, "plain NTP never is");
    for v in sources {
        assert_eq!(v["stratum"], 1);
        assert!(v["root_distance_ns"].as_f64().unwrap() < 10e6, "{v}");
    }
    assert_eq!(s["integrity"]["sources_selected"], 3);
    let (_, _, metrics) = http_get(daemon.web[0], "/metrics");
    assert!(metrics.contains("stratum1_integrity_state{state=\"consistent\"} 1"), "{metrics}");
    assert!(metrics.contains("stratum1_source_selected{address=\"127.0.0.1:"), "{metrics}");
    let log = daemon.log();
    assert!(log.contains("integrity: consistent"), "{log}");
    let ctl = Command::new(env!("CARGO_BIN_EXE_stratum1ctl"))
        .arg("--url")
        .arg(format!("http://{}", daemon.web[0]))
        .arg("sources")
        .output()
        .expect("stratum1ctl");
    let text = String::from_utf8_lossy(&ctl.stdout);
    assert!(text.contains("* localhost:") && text.contains("authenticated"), "{text}");
    assert!(text.contains("Integrity           : consistent"), "{text}");
}

#[test]
fn a_label_jump_is_flagged_by_the_network_and_unreachable_sources_leave_it_unchecked() {
    let upstream = RunningDaemon::start(&observe_only_nts_config(1));
    let sources = nts_source(upstream.nts_ke[0].port(), &upstream.dir().join("ca/ca.pem"));
    let daemon = RunningDaemon::start(&demo_with(&sources, "label-jump-at-s = 45\nlabel-jump-by-s = 1"));
    daemon.wait_for_status(Duration::from_secs(44), "consistent before the jump", |s| {
        s["integrity"]["state"] == "consistent"
    });
    let s = daemon.wait_for_status(Duration::from_secs(60), "gnss-disagrees after the jump", |s| {
        s["integrity"]["state"] == "gnss-disagrees"
    });
    let d = s["integrity"]["disagreement_ns"].as_f64().unwrap();
    assert!((d.abs() - 1e9).abs() < 1e6, "a second apart: {d}");
    assert!(daemon.log().contains("integrity: gnss-disagrees"), "{}", daemon.log());
    assert!(
        s["gnss"]["labels_refused_by_network"].as_u64().unwrap_or(0) > 0,
        "the pairing refused them: {s:#}"
    );
    // Ten more seconds: still distrusted, and the served stratum is still 1 (holdover).
    std::thread::sleep(Duration::from_secs(10));
    let s = daemon.api_status();
    assert_eq!(s["integrity"]["state"], "gnss-disagrees");
    assert!(s["clock"]["simulated_true_error_ns"].as_f64().unwrap().abs() < 1e6, "{s:#}");

    // No source reachable: unchecked, and the receiver is followed.
    let unreachable = ntp_source(free_udp_port());
    let alone = RunningDaemon::start(&demo_with(&unreachable, ""));
    let s = alone.wait_for_status(Duration::from_secs(90), "locked, unchecked", |s| s["state"] == "LOCKED");
    assert_eq!(s["integrity"]["state"], "unchecked");
    assert_eq!(s["sources"][0]["reachable"], false);
}

#[test]
fn nts_sessions_survive_a_restart_without_a_new_key_exchange() {
    let upstream = RunningDaemon::start(&observe_only_nts_config(1));
    let dir = tempfile::tempdir().unwrap();
    let cookies = dir.path().join("cookies");
    std::fs::create_dir(&cookies).unwrap();
    let config = demo_with(
        &format!(
            "[source-defaults]\ncookie-dir = \"{}\"\n\n{}",
            cookies.display(),
            nts_source(upstream.nts_ke[0].port(), &upstream.dir().join("ca/ca.pem"))
        ),
        "",
    );
    let daemon = RunningDaemon::start_in(&config, dir);
    let s = daemon.wait_for_status(Duration::from_secs(30), "an authenticated answer", |s| {
        s["sources"][0]["answers"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(s["sources"][0]["key_exchanges"], 1);
    let (_, dir) = daemon.stop_keeping_dir();
    let kept: Vec<_> = std::fs::read_dir(&cookies).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(kept.len(), 1, "one file per source: {kept:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777,
            0o600,
            "keys are secret"
        );
    }
    let daemon = RunningDaemon::start_in(&config, dir);
    let s = daemon.wait_for_status(Duration::from_secs(30), "an answer after the restart", |s| {
        s["sources"][0]["answers"].as_u64().unwrap_or(0) >= 2
    });
    assert_eq!(s["sources"][0]["sessions_restored"], 1, "{s:#}");
    assert_eq!(s["sources"][0]["key_exchanges"], 0, "no key exchange after the restart: {s:#}");
    assert_eq!(s["sources"][0]["authenticated"], true);
}

#[test]
fn the_network_measures_a_label_delay_the_window_misses_and_the_clock_locks_on_the_right_second() {
    let upstream = RunningDaemon::start(&observe_only_nts_config(1));
    let sources = nts_source(upstream.nts_ke[0].port(), &upstream.dir().join("ca/ca.pem"));
    // A slow receiver: labels 940-980 ms after their pulse, where 300 ms is configured.
    let config =
        demo_with(&sources, "").replace("nmea-latency-ms = [50, 500]", "nmea-latency-ms = [940, 980]");
    let daemon = RunningDaemon::start(&config);
    let s = daemon.wait_for_status(Duration::from_secs(120), "locked with the measured delay", |s| {
        s["state"] == "LOCKED"
    });
    let error = s["clock"]["simulated_true_error_ns"].as_f64().unwrap();
    assert!(error.abs() < 100_000.0, "locked on the right second: {error} ns off");
    let log = daemon.log();
    assert!(log.contains("the pairing now uses 9"), "{log}");
}
