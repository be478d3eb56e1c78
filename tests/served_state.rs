//! The discipline's state reaches NTP clients. The demo (simulated receiver and oscillator)
//! is stratum 16 before lock, stratum 1 refid PPS once locked, and stratum 16 again once the
//! fix has been gone longer than the holdover limit. Seen by raw packets, by `chronyd -Q` and
//! by NTPsec's `ntpdig`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The demo, with the fix lost from second 50 to 90 and a 5 s holdover limit.
fn demo_with_fix_loss(listen: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml"))
        .unwrap()
        .replace("127.0.0.1:12300\", \"[::1]:12300", listen)
        .replace("holdover-limit-s = 3600", "holdover-limit-s = 5")
        // The fix goes at 90 s: after the lock, which the accuracy bench's 60 s target bounds
        // (its worst seed of 200 took 43 s; the seed here is the process id), and the 8 s of
        // chronyd -Q on either side of it.
        .replace("# fix-loss-every-s = 120", "fix-loss-every-s = 90")
        .replace("# fix-loss-for-s = 20", "fix-loss-for-s = 40")
}

struct Header {
    leap: u8,
    stratum: u8,
    reference_id: [u8; 4],
    root_dispersion_s: f64,
}

fn query(server: std::net::SocketAddr) -> Header {
    let socket = socket_to(server, "127.0.0.1");
    let reply = exchange(&socket, &request(4, 3, ntp_now())).expect("an answer");
    Header {
        leap: reply[0] >> 6,
        stratum: reply[1],
        reference_id: reply[12..16].try_into().unwrap(),
        root_dispersion_s: f64::from(u32::from_be_bytes(reply[8..12].try_into().unwrap())) / 65_536.0,
    }
}

fn wait_for(
    server: std::net::SocketAddr,
    deadline: Instant,
    what: &str,
    done: impl Fn(&Header) -> bool,
) -> Header {
    loop {
        let header = query(server);
        if done(&header) {
            return header;
        }
        assert!(Instant::now() < deadline, "{what}: still stratum {} LI {}", header.stratum, header.leap);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Runs `chronyd -Q` against the server: Some(offset) if chrony accepted it as a source.
fn chrony_offset(port: u16) -> Option<f64> {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chrony.conf");
    let pidfile = dir.path().join("chronyd.pid");
    std::fs::write(
        &conf,
        format!("server 127.0.0.1 port {port} iburst\ncmdport 0\npidfile {}\n", pidfile.display()),
    )
    .unwrap();
    let out = Command::new("chronyd").args(["-Q", "-t", "8", "-f"]).arg(&conf).output().expect("run chronyd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("chronyd -Q: {text}");
    text.split("System clock wrong by ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn stratum_follows_lock_holdover_and_its_limit() {
    require("chronyd");
    let started = Instant::now();
    let daemon = RunningDaemon::start(&demo_with_fix_loss("127.0.0.1:0"));
    let server = daemon.ntp[0];

    let before = query(server);
    assert_eq!((before.stratum, before.leap), (16, 3), "unsynchronised before lock");
    assert_eq!(chrony_offset(server.port()), None, "chrony must not accept an unsynchronised server");

    let locked = wait_for(server, started + Duration::from_secs(75), "lock", |h| h.stratum == 1);
    assert_eq!(&locked.reference_id, b"PPS\0");
    // Debian's leap second list has expired: no leap is announced rather than a guess.
    assert_eq!(locked.leap, 0);
    assert!(
        locked.root_dispersion_s > 0.0 && locked.root_dispersion_s < 100e-6,
        "{}",
        locked.root_dispersion_s
    );
    let offset = chrony_offset(server.port()).expect("chrony accepts the locked server");
    assert!(offset.abs() < 0.010, "chrony offset {offset}");

    // The fix goes at second 90: holdover, then unsynchronised 5 s later.
    let lost = wait_for(server, started + Duration::from_secs(120), "holdover limit", |h| h.stratum == 16);
    assert_eq!(lost.leap, 3);
    // Each transition is an event at its level: the fix and the lock lost are warnings, the
    // stratum 16 that follows an error.
    std::thread::sleep(Duration::from_secs(2));
    let events = daemon.api_status()["events"].clone();
    let said = |level: &str, start: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["level"] == level && e["message"].as_str().unwrap().starts_with(start))
    };
    assert!(said("warning", "fix lost"), "{events}");
    assert!(said("warning", "holdover: "), "{events}");
    // With the fix gone the state past the limit is NO FIX; either way stratum 16 is served.
    assert!(
        said("error", "NO FIX: stratum 16 served") || said("error", "unsynchronised: stratum 16 served"),
        "{events}"
    );
    let log = daemon.stop();
    assert!(log.contains(" WARN stratum1::events: event: fix lost"), "{log}");
    for state in ["clock: locked", "clock: holdover", "clock: unsynchronised", "clock: stepped by"] {
        assert!(log.contains(state), "no '{state}' in the log:\n{log}");
    }
}

#[test]
fn ntpdig_sees_stratum_16_then_stratum_1() {
    require("ntpdig");
    require("unshare");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("demo.toml");
    // No fix loss here: the clock must lock once, within the accuracy bench's 60 s target
    // (its worst seed of 200 took 43 s; the seed here is the process id).
    let demo = demo_with_fix_loss("127.0.0.1:123").replace("fix-loss-every-s = 90", "fix-loss-every-s = 0");
    assert!(demo.contains("fix-loss-every-s = 0"));
    std::fs::write(&config, demo).unwrap();
    let log = dir.path().join("daemon.log");
    // In a namespace of its own (ntpdig only talks to port 123); the daemon ends with the shell.
    let script = format!(
        r#"ip link set lo up || exit 90
"{daemon}" --config "{config}" 2>"{log}" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for i in $(seq 100); do grep -q 'serving NTP' "{log}" && break; sleep 0.05; done
echo "BEFORE"; ntpdig -j -t 1 127.0.0.1 2>&1
for i in $(seq 90); do
  out=$(ntpdig -j -t 1 127.0.0.1 2>&1)
  case "$out" in *'"stratum":1'*) echo "AFTER"; echo "$out"; exit 0;; esac
  sleep 1
done
echo "NEVER"; cat "{log}""#,
        daemon = DAEMON,
        config = config.display(),
        log = log.display()
    );
    let out = Command::new("unshare").args(["--net", "--", "sh", "-c", &script]).output().expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (before, after) = stdout.split_once("AFTER").unwrap_or_else(|| panic!("never stratum 1:\n{stdout}"));
    assert!(before.contains("stratum too high"), "before lock ntpdig must refuse us:\n{before}");
    assert!(after.contains("\"stratum\":1") && after.contains("\"leap\":\"no-leap\""), "{after}");
    let offset: f64 = after
        .split("\"offset\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {after}"));
    assert!(offset.abs() < 0.010, "{after}");
}

#[test]
fn sighup_is_logged_and_the_server_keeps_serving() {
    let daemon = RunningDaemon::start(&observe_only_nts_config(1));
    let hup = || {
        let ok = Command::new("kill").args(["-HUP", &daemon.pid().to_string()]).status().unwrap().success();
        assert!(ok, "kill -HUP");
    };
    let wait_log = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !daemon.log().contains(what) {
            assert!(Instant::now() < deadline, "no '{what}' in the log:\n{}", daemon.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    hup();
    wait_log("SIGHUP: the configuration file is valid");
    assert_eq!(query(daemon.ntp[0]).stratum, 1, "still serving after SIGHUP");
    // A broken file is reported, and the running configuration kept.
    std::fs::write(daemon.dir().join("stratum1.toml"), "[ntp]\nlisten = 5\n").unwrap();
    hup();
    wait_log("still running with the configuration read at start");
    assert_eq!(query(daemon.ntp[0]).stratum, 1, "still serving after a SIGHUP with a broken file");
    let log = daemon.stop();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn under_systemd_log_lines_carry_their_priority_for_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stratum1.toml");
    let text = observe_only_nts_config(1)
        .replace("/tmp/stratum1-demo-ca", &dir.path().join("ca").display().to_string());
    std::fs::write(&config, text).unwrap();
    // As systemd does: JOURNAL_STREAM names stderr's device and inode (here a pipe's).
    let run = |journal: bool| {
        let set = if journal {
            "JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2); export JOURNAL_STREAM; "
        } else {
            ""
        };
        let script = format!("{set}exec timeout -s TERM 3 \"{DAEMON}\" --config \"{}\"", config.display());
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let journal = run(true);
    assert!(
        journal.lines().any(|l| l.starts_with("<6>stratum1::daemon: serving NTP on udp://")),
        "{journal}"
    );
    assert!(journal.lines().any(|l| l.starts_with("<4>")), "a warning at priority 4:\n{journal}");
    assert!(journal.lines().all(|l| l.starts_with('<') || l.starts_with(' ')), "{journal}");
    let plain = run(false);
    assert!(plain.lines().any(|l| l.contains(" INFO stratum1::daemon: serving NTP")), "{plain}");
    assert!(!plain.contains("<6>"), "{plain}");
}

#[test]
fn under_systemd_readiness_and_the_watchdog_are_notified() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stratum1.toml");
    let text = observe_only_nts_config(1)
        .replace(":4460\"", ":0\"")
        .replace("/tmp/stratum1-demo-ca", &dir.path().join("ca").display().to_string());
    std::fs::write(&config, text).unwrap();
    // systemd's side: a datagram socket named by NOTIFY_SOCKET, a 2 s watchdog.
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut daemon = Command::new("timeout")
        .args(["-s", "TERM", "6", DAEMON, "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = socket.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = message.contains("STOPPING=1");
        messages.push(message);
        if done {
            break;
        }
    }
    let _ = daemon.wait();
    assert!(messages.first().is_some_and(|m| m.starts_with("READY=1")), "{messages:?}");
    let pings = messages.iter().filter(|m| m.as_str() == "WATCHDOG=1").count();
    assert!(pings >= 3, "about one watchdog ping a second for 6 s: {messages:?}");
    assert_eq!(messages.last().map(String::as_str), Some("STOPPING=1"), "{messages:?}");
}
