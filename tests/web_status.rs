//! The status page, `/api/status`, `/metrics` and `stratum1ctl`, against the demo (simulated
//! receiver and clock) — and the page in real headless Chromium.

mod common;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn demo() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml"))
        .unwrap()
        .replace("127.0.0.1:12300\", \"[::1]:12300", "127.0.0.1:0")
        .replace("\"127.0.0.1:4460\", \"[::1]:4460\"", "\"127.0.0.1:4460\"")
}

fn status(daemon: &RunningDaemon) -> serde_json::Value {
    let (code, head, body) = http_get(daemon.web[0], "/api/status");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn wait_for_lock(daemon: &RunningDaemon) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = status(daemon);
        if s["state"] == "LOCKED" {
            return s;
        }
        assert!(Instant::now() < deadline, "never LOCKED: {s}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn query_ntp(daemon: &RunningDaemon, n: usize) {
    let socket = socket_to(daemon.ntp[0], "127.0.0.1");
    for _ in 0..n {
        exchange(&socket, &request(4, 3, ntp_now()));
    }
}

#[test]
fn api_metrics_and_ctl_follow_the_demo() {
    let daemon = RunningDaemon::start(&demo());
    let first = status(&daemon);
    for key in ["version", "uptime_s", "state", "server", "clock", "gnss", "ntp", "nts", "history"] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }
    assert_ne!(first["state"], "LOCKED", "nothing is locked at start");
    assert_eq!(first["server"]["stratum"], 16);

    let locked = wait_for_lock(&daemon);
    assert_eq!(locked["server"]["stratum"], 1);
    assert_eq!(locked["server"]["reference_id"], "PPS");
    assert_eq!(locked["gnss"]["fix_mode"], "3D");
    assert!(locked["gnss"]["satellites_used"].as_u64().unwrap() >= 4);
    assert!(locked["nts"]["certificate"]["sha256_fingerprint"].as_str().unwrap().len() == 95);
    // The demo's throwaway CA is the chain's second certificate: its fingerprint is the one
    // of the ca.pem clients pin.
    let ca_pem = std::fs::read(daemon.dir().join("ca/ca.pem")).expect("the demo's ca.pem");
    let ca_der = CertificateDer::from_pem_slice(&ca_pem).expect("one certificate in ca.pem");
    let expected: Vec<String> = Sha256::digest(&ca_der).iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(locked["nts"]["issuer_certificate"]["sha256_fingerprint"], expected.join(":"));
    let body = locked.to_string();
    assert!(!body.contains(&daemon.dir().display().to_string()), "no private paths in the API");
    assert!(
        !body.contains("PRIVATE KEY") && !body.contains("key.pem"),
        "no key material or key paths in the API"
    );
    std::thread::sleep(Duration::from_secs(3));
    let later = status(&daemon);
    assert!(!later["history"].as_array().unwrap().is_empty(), "per-second history while locked");

    let (code, head, before) = http_get(daemon.web[0], "/metrics");
    assert_eq!(code, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    for name in ["stratum1_clock_offset_seconds", "stratum1_ntp_requests", "stratum1_nts_ke_connections"] {
        assert!(before.contains(&format!("# HELP {name} ")), "{name}");
    }
    assert_eq!(metric(&before, "stratum1_server_stratum"), 1.0);
    query_ntp(&daemon, 5);
    let (_, _, after) = http_get(daemon.web[0], "/metrics");
    assert_eq!(
        metric(&after, "stratum1_ntp_requests_total") - metric(&before, "stratum1_ntp_requests_total"),
        5.0
    );

    // Rates come from looks a second or more apart; 5 queries happened since the first look.
    let rate = status(&daemon)["ntp"]["requests_per_s"].as_f64().expect("a rate after several looks");
    assert!(rate > 0.0, "{rate}");

    // The CA that NTS clients trust is served (it is public); who the daemon runs as is shown.
    let (code, _, pem) = http_get(daemon.web[0], "/ca.pem");
    assert_eq!(code, 200);
    assert_eq!(pem, std::fs::read_to_string(daemon.dir().join("ca/ca.pem")).unwrap());
    assert!(later["process"]["uid"].as_u64().is_some() && later["process"]["capabilities"].is_array());

    // Read-only, with security headers; unknown paths are 404.
    let (code, head, _) = http_get(daemon.web[0], "/");
    assert_eq!(code, 200);
    for header in [
        "content-security-policy: default-src 'none'",
        "x-content-type-options: nosniff",
        "x-frame-options: DENY",
    ] {
        assert!(head.contains(header), "{header} in {head}");
    }
    assert_eq!(http_request(daemon.web[0], "POST", "/").0, 405);
    assert_eq!(http_get(daemon.web[0], "/etc/passwd").0, 404);

    let url = format!("http://{}", daemon.web[0]);
    let ctl = |view: &str| {
        let out = Command::new(CTL).args([view, "--url", &url]).output().unwrap();
        assert!(out.status.success(), "{view}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = ctl("status");
    assert!(text.contains("State               : LOCKED"), "{text}");
    // What chronyc tracking users look for, measured: once a second from PPS.
    assert!(
        !text.contains("Ref time (UTC)      : never") && text.contains("Root delay          : 0.000000000"),
        "{text}"
    );
    let interval: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Update interval     : ")?.strip_suffix(" seconds")?.parse().ok())
        .unwrap_or_else(|| panic!("no update interval:\n{text}"));
    assert!((0.5..3.0).contains(&interval), "PPS gives a sample about once a second: {interval}");
    // The events: where it started and when it locked, in the API, the CLI and the log.
    let events = ctl("events");
    assert!(events.contains("info     started: "), "{events}");
    assert!(events.contains("info     locked: serving stratum 1 (PPS) after"), "{events}");
    let api = status(&daemon);
    assert!(
        api["events"].as_array().unwrap().iter().any(|e| e["level"] == "info"
            && e["message"].as_str().unwrap().starts_with("locked: serving stratum 1")),
        "{api}"
    );
    assert!(daemon.log().contains(" INFO stratum1::events: event: locked: serving stratum 1 (PPS)"));
    assert!(ctl("gnss").contains("Fix                 : 3D"));
    assert!(ctl("serverstats").contains("NTP packets received      : 5"));
    assert!(ctl("nts").contains("CN=localhost"));
    // No subcommand: the status; with --json alone, the whole snapshot.
    let out = Command::new(CTL).args(["--url", &url]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("State               : LOCKED"));
    let out = Command::new(CTL).args(["--json", "--url", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the snapshot as JSON");
    assert_eq!(json["state"], "LOCKED");
}

#[test]
fn stratum1ctl_and_metrics_work_before_anything_is_measured() {
    // No receiver: the offset is never measured and the error bound stays unbounded, as in the
    // first seconds after every start. The views once failed on the bound's JSON null.
    let daemon = RunningDaemon::start(&demo().replace("kind = \"simulated\"", "kind = \"none\""));
    let s = status(&daemon);
    assert!(s["clock"]["error_bound_ns"].is_null() && s["clock"]["offset_ns"].is_null(), "{s:#}");
    // Why, in words, for the API, the page and the CLI alike.
    let reason = s["state_reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("no reference: no receiver ([refclock] kind) and no upstream"), "{s:#}");
    let (_, _, page) = http_get(daemon.web[0], "/");
    assert!(page.contains("no reference: no receiver ([refclock] kind) and no upstream"), "{page}");
    let url = format!("http://{}", daemon.web[0]);
    for view in ["status", "gnss", "sources", "serverstats", "nts"] {
        let out = Command::new(CTL).args([view, "--url", &url]).output().unwrap();
        assert!(out.status.success(), "{view}: {}", String::from_utf8_lossy(&out.stderr));
        if view == "status" {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("Error bound         : unknown"), "{text}");
            assert!(text.contains("Offset              : unknown"), "{text}");
            assert!(text.contains("Reason              : no reference: no receiver"), "{text}");
        }
    }
    let (_, _, metrics) = http_get(daemon.web[0], "/metrics");
    assert!(metrics.contains("# HELP stratum1_clock_error_bound_seconds "), "{metrics}");
    let samples = |name: &str| metrics.lines().filter(|l| l.starts_with(&format!("{name} "))).count();
    assert_eq!(samples("stratum1_clock_error_bound_seconds"), 0, "unknown is no sample, not 1e9 s");
    assert_eq!(samples("stratum1_clock_offset_seconds"), 0, "unknown is no sample, not 0");
}

#[test]
fn stratum1ctl_without_a_daemon_says_so() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = Command::new(CTL).args(["status", "--url", &format!("http://{free}")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach stratum1d") && err.contains("Is it running"), "{err}");
}

/// Real headless Chromium loads the page, runs its refresh loop and draws the plots. The
/// screenshot is kept in target/test-artifacts/ (not committed).
#[test]
fn chromium_shows_the_page_and_it_updates() {
    require("chromium");
    let daemon = RunningDaemon::start(&demo());
    wait_for_lock(&daemon);
    std::thread::sleep(Duration::from_secs(3));
    let url = format!("http://{}/", daemon.web[0]);
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1200,1500",
            ])
            // No background traffic: this machine has no network beyond loopback.
            .args(["--disable-quic", "--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--virtual-time-budget=7000", "--run-all-compositor-stages-before-draw"])
            .args(extra)
            .arg(&url)
            .output()
            .expect("run chromium");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    for expected in
        ["LOCKED", "stratum 1 · PPS", ">3D<", "8 used / 9 in view", "<svg class=\"plot\"", "CN=localhost"]
    {
        assert!(dom.contains(expected), "{expected} not in the page:\n{dom}");
    }
    let refreshed: u32 = dom
        .split("data-refreshed=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the page never refreshed itself:\n{dom}"));
    assert!(refreshed >= 2, "refreshed {refreshed} times");

    let artifacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 20_000, "screenshot of {size} bytes");
}

/// Clients that open connections and send nothing hold the page's slots, not NTP's: NTP keeps
/// answering, the idle connections are closed after `idle-timeout-s`, and the page answers
/// again.
#[test]
fn idle_http_clients_cannot_disturb_ntp() {
    let config = r#"
[ntp]
listen = ["127.0.0.1:0"]
workers = 1
[clock]
mode = "observe-only"
local-stratum = 10
[web]
enabled = true
listen = ["127.0.0.1:8123"]
max-connections = 4
idle-timeout-s = 1
"#;
    let daemon = RunningDaemon::start(config);
    let hogs: Vec<std::net::TcpStream> =
        (0..8).map(|_| std::net::TcpStream::connect(daemon.web[0]).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let ntp = socket_to(daemon.ntp[0], "127.0.0.1");
    // Ten queries: under the rate limiter's burst of 16.
    for _ in 0..10 {
        assert!(exchange(&ntp, &request(4, 3, ntp_now())).is_some(), "NTP answers while the page is hogged");
    }
    let started = Instant::now();
    for mut hog in hogs.into_iter().take(4) {
        use std::io::Read;
        hog.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut byte = [0u8; 1];
        assert!(matches!(hog.read(&mut byte), Ok(0) | Err(_)), "an idle connection is closed");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "closed after about 1 s: {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while http_get(daemon.web[0], "/api/status").0 != 200 {
        assert!(Instant::now() < deadline, "the page did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
}
