//! The AF_XDP fast path with real clients: in a network namespace of the test's own, the daemon
//! attaches its XDP program to the namespace's loopback, and NTPsec's `ntpdig` (IPv4 and IPv6)
//! and `chronyd -Q` query it. `ntpdig`'s requests and chrony's NTS requests (port 123, the
//! first listen address's port) must come through AF_XDP; plain chrony's, to a second port the
//! program passes on, through the kernel's UDP socket beside it. Every answer must carry our
//! time.

mod common;

use std::process::Command;

use common::*;

#[test]
fn real_clients_are_answered_through_af_xdp() {
    require("ntpdig");
    require("chronyd");
    require("unshare");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("xdp.toml");
    std::fs::write(
        &config,
        format!(
            "[ntp]\nlisten = [\"127.0.0.1:123\", \"[::1]:123\", \"127.0.0.1:1123\"]\nworkers = 1\nxdp-interface = \"lo\"\n\
         [clock]\nlocal-stratum = 10\n\
         [nts]\nenabled = true\nlisten = [\"127.0.0.1:4460\"]\nthrowaway-ca-dir = \"{}\"\n",
            dir.path().join("ca").display()
        ),
    )
    .unwrap();
    let chrony = dir.path().join("chrony.conf");
    std::fs::write(
        &chrony,
        format!(
            "server 127.0.0.1 port 1123 iburst\ncmdport 0\npidfile {}\n",
            dir.path().join("chronyd.pid").display()
        ),
    )
    .unwrap();
    let chrony_nts = dir.path().join("chrony-nts.conf");
    std::fs::write(
        &chrony_nts,
        format!(
            "server localhost iburst nts ntsport 4460 minpoll -2 maxpoll -2\nntstrustedcerts {}\nntsdumpdir {}\n\
             cmdport 0\npidfile {}\n",
            dir.path().join("ca/ca.pem").display(),
            dir.path().display(),
            dir.path().join("chronyd-nts.pid").display()
        ),
    )
    .unwrap();
    // chronyd drops to its own user: let it read the configs and the CA, and write its files.
    Command::new("chmod").args(["-R", "a+rwX"]).arg(dir.path()).status().unwrap();
    let log = dir.path().join("daemon.log");
    // An answer sent from an AF_XDP socket enters the stack with no route attached, so a
    // loopback namespace must accept 127.0.0.0/8 and its own addresses as a source; a real
    // interface needs neither. The namespace, and the daemon with it, end with the shell.
    let script = format!(
        r#"ip link set lo up || exit 90
sysctl -q -w net.ipv4.conf.lo.route_localnet=1 net.ipv4.conf.lo.accept_local=1 net.ipv4.conf.all.accept_local=1 || exit 91
"{daemon}" --config "{config}" 2>"{log}" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for i in $(seq 100); do grep -q 'through AF_XDP' "{log}" && break; sleep 0.05; done
grep -q 'through AF_XDP' "{log}" || exit 92
echo "ipv4 $(ntpdig -j -t 3 127.0.0.1)"
echo "ipv6 $(ntpdig -j -t 3 ::1)"
chronyd -Q -t 5 -f "{chrony}" 2>&1 | grep 'System clock wrong'
chmod -R a+rX "{dir}"
echo "nts $(chronyd -Q -t 10 -f "{chrony_nts}" 2>&1 | grep 'System clock wrong')"
kill $pid; wait $pid
trap - EXIT
cat "{log}""#,
        daemon = DAEMON,
        config = config.display(),
        chrony = chrony.display(),
        chrony_nts = chrony_nts.display(),
        dir = dir.path().display(),
        log = log.display()
    );
    let out = Command::new("unshare").args(["--net", "--", "sh", "-c", &script]).output().expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));

    for family in ["ipv4", "ipv6"] {
        let line =
            stdout.lines().find(|l| l.starts_with(family)).unwrap_or_else(|| panic!("no {family}: {stdout}"));
        let field = |name: &str| -> String {
            line.split(&format!("\"{name}\":"))
                .nth(1)
                .and_then(|r| r.split([',', '}']).next())
                .unwrap_or_else(|| panic!("no {name} in {line}"))
                .trim_matches('"')
                .to_owned()
        };
        let offset: f64 = field("offset").parse().unwrap();
        assert!(offset.abs() < 0.010, "{family} offset {offset}: {line}");
        assert_eq!(field("stratum"), "10", "{line}");
    }
    let chrony_offsets: Vec<f64> = stdout
        .split("System clock wrong by ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(chrony_offsets.len(), 2, "plain and NTS chrony both measured us:\n{stdout}");
    assert!(chrony_offsets.iter().all(|o| o.abs() < 0.010), "chrony offsets {chrony_offsets:?}");
    assert!(stdout.lines().any(|l| l.starts_with("nts ") && l.contains("System clock wrong")), "{stdout}");

    let counters = stdout.lines().find(|l| l.contains("ntp counters:")).unwrap_or_else(|| panic!("{stdout}"));
    let count = |name: &str| -> u64 {
        counters
            .split(&format!(" {name}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {counters}"))
    };
    // NTS requests went only to port 123, plain chrony only to port 1123.
    assert!(count("nts_answered") >= 1, "chrony's NTS requests were answered through AF_XDP: {counters}");
    assert_eq!(count("kod_ntsn"), 0, "{counters}");
    assert_eq!(count("af_xdp"), 2 + count("nts_answered"), "ntpdig's and the NTS requests: {counters}");
    assert!(count("received") > count("af_xdp"), "plain chrony came through the UDP socket: {counters}");
    assert_eq!(count("answered"), count("received"), "{counters}");
    assert!(!stdout.contains("without the program's receive stamp"), "the XDP program stamped every frame");
}
