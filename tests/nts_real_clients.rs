//! Real NTS clients against the real daemon: Debian's chrony (`chronyd -Q`, which never touches
//! the clock) and NTPsec's `ntpd` (run in a user and network namespace of its own, where the
//! kernel refuses it any clock change: it has no CAP_SYS_TIME over the host clock).

mod common;

use std::process::Command;

use common::*;

fn counter(log: &str, name: &str) -> u64 {
    log.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in log:\n{log}"))
}

#[test]
fn chrony_completes_nts_against_our_daemon() {
    require("chronyd");
    let daemon = RunningDaemon::start(&observe_only_nts_config(10));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chrony.conf");
    std::fs::write(
        &conf,
        format!(
            "server localhost port {} iburst nts ntsport {} minpoll -2 maxpoll -2\nntstrustedcerts {}\nntsdumpdir {}\npidfile {}\n",
            daemon.ntp[0].port(),
            daemon.nts_ke[0].port(),
            daemon.dir().join("ca/ca.pem").display(),
            dir.path().display(),
            dir.path().join("chronyd.pid").display(),
        ),
    )
    .unwrap();
    // chronyd drops to its own user: let it read the config and write its files.
    Command::new("chmod").args(["-R", "a+rwX"]).arg(dir.path()).status().unwrap();
    let out = Command::new("chronyd").args(["-Q", "-t", "10", "-f"]).arg(&conf).output().expect("chronyd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let offset: f64 = text
        .split("System clock wrong by ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!("chrony did not accept our NTS server:\n{text}\n--- our log:\n{}", daemon.log())
        });
    assert!(offset.abs() < 0.010, "offset {offset}");
    let log = daemon.stop();
    assert!(counter(&log, "accepted") >= 1, "KE accepted: {log}");
    assert!(counter(&log, "nts_answered") >= 1, "NTS answered: {log}");
    assert_eq!(counter(&log, "kod_ntsn"), 0);
    assert_eq!(counter(&log, "nts_malformed"), 0);
}

#[test]
fn ntpsec_ntpd_completes_nts_in_its_own_namespaces() {
    require("unshare");
    require("ip");
    let ntpd = ntpsec_ntpd();
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    // Inside the namespaces the ports are fixed: nothing else lives there.
    let config = observe_only_nts_config(10)
        .replace("127.0.0.1:0", "127.0.0.1:12300")
        .replace("/tmp/stratum1-demo-ca", &ca_dir.display().to_string());
    std::fs::write(dir.path().join("stratum1.toml"), config).unwrap();
    std::fs::write(
        dir.path().join("ntp.conf"),
        format!(
            "server localhost:4460 nts ca {} minpoll 1 maxpoll 2 iburst\n",
            ca_dir.join("ca.pem").display()
        ),
    )
    .unwrap();
    let d = dir.path().display();
    // stratum1d is stopped with SIGTERM so it logs its counters; ntpd ends by timeout.
    let script = format!(
        "ip link set lo up
        {DAEMON} --config {d}/stratum1.toml 2> {d}/stratum1.log &
        s1=$!
        for i in $(seq 50); do grep -q 'serving NTS-KE' {d}/stratum1.log && break; sleep 0.1; done
        timeout 12 {ntpd} -n -c {d}/ntp.conf -l {d}/ntpd.log -d > {d}/ntpd.out 2>&1
        kill -TERM $s1; wait $s1"
    );
    let status = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--", "sh", "-c", &script])
        .status()
        .expect("unshare");
    let ntpd_out = std::fs::read_to_string(dir.path().join("ntpd.out")).unwrap_or_default();
    let ours = std::fs::read_to_string(dir.path().join("stratum1.log")).unwrap_or_default();
    assert!(status.success(), "namespace script failed\n{ntpd_out}\n{ours}");
    assert!(ntpd_out.contains("NTSc: Got 8 cookies"), "ntpd did not complete NTS-KE:\n{ntpd_out}\n{ours}");
    assert!(ntpd_out.contains("NTS-KE req to localhost:4460 took"), "{ntpd_out}");
    // NTPsec drops NTS responses that do not authenticate; a filtered sample means one did.
    assert!(ntpd_out.contains("clock_filter: n 1"), "no authenticated sample in ntpd:\n{ntpd_out}\n{ours}");
    assert!(counter(&ours, "accepted") >= 1, "{ours}");
    assert!(counter(&ours, "nts_answered") >= 1, "{ours}");
    assert_eq!(counter(&ours, "kod_ntsn"), 0);
}

/// NTPsec's `ntpd` from Debian's package, unpacked by scripts/test (installing it would remove
/// chrony: the two packages conflict).
fn ntpsec_ntpd() -> String {
    let path = std::env::var("STRATUM1_NTPSEC_NTPD").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/peers/ntpsec/usr/sbin/ntpd").to_owned()
    });
    assert!(
        std::path::Path::new(&path).is_file(),
        "NTPsec's ntpd not found at {path}: run ./scripts/test, which unpacks Debian's ntpsec package there"
    );
    path
}
