//! gpsd as the receiver (`refclock.kind = "gpsd"`), against Debian's real gpsd on loopback:
//! gpsd reads a pseudo-terminal into which `stratum1ctl gnss simulate` writes NMEA labelled
//! with this machine's clock, and stratum1d reads gpsd's JSON. The fix reaches `/api/status`,
//! `stratum1ctl gnss` and the page; with no PPS reports (a pty has no pulse) the labels alone
//! lock the clock after `nmea-fallback-s`, announced as refid NMEA. Stopping gpsd is reported
//! as the link down, and a new gpsd on the same port is found again.

mod common;

use std::fs::File;
use std::os::fd::FromRawFd;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// A child killed and reaped on drop, also when the test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pseudo-terminal: (the master as a file, the slave's path). The slave stays open in this
/// process so that the line does not hang up between gpsd's opens.
fn pty() -> (File, File, String) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors; the name buffer and termios/winsize are optional.
    let rc = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(rc, 0, "openpty");
    let path = std::fs::read_link(format!("/proc/self/fd/{slave}")).unwrap().display().to_string();
    // SAFETY: both descriptors came from openpty and are owned by these files alone.
    unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave), path) }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn gpsd(port: u16, device: &str) -> Killed {
    let child = Command::new("gpsd")
        .args(["-N", "-n", "-b", "-S", &port.to_string(), device])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gpsd");
    Killed(child)
}

#[test]
fn a_receiver_read_through_real_gpsd_gives_its_fix_and_locks() {
    require("gpsd");
    let (master, _slave, device) = pty();
    let port = free_port();
    let mut gpsd_process = gpsd(port, &device);
    let simulate = Command::new(CTL)
        .args(["gnss", "simulate", "--seconds", "150"])
        .stdout(master.try_clone().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulated receiver");
    let _simulate = Killed(simulate);

    let daemon = RunningDaemon::start(&format!(
        r#"
[ntp]
listen = ["127.0.0.1:0"]
workers = 1
[clock]
mode = "observe-only"
[refclock]
kind = "gpsd"
gpsd = "127.0.0.1:{port}"
nmea-fallback-s = 5
[web]
enabled = true
listen = ["127.0.0.1:0"]
"#
    ));
    let fixed = daemon.wait_for_status(Duration::from_secs(30), "a 3D fix through gpsd", |s| {
        // gpsd sends the SKY after the TPV: the satellites show from the second epoch on.
        s["gnss"]["fix_mode"] == "3D" && s["gnss"]["serial"] == "up" && s["gnss"]["satellites_used"] == 8
    });
    let gnss = &fixed["gnss"];
    assert_eq!(gnss["satellites_used"], 8, "{gnss}");
    assert_eq!(gnss["satellites_in_view"], 9, "from gpsd's SKY: {gnss}");
    assert!(gnss["signals"][0]["elevation_deg"].as_f64().is_some(), "{gnss}");

    let url = format!("http://{}", daemon.web[0]);
    let out = Command::new(CTL).args(["gnss", "--url", &url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Fix                 : 3D") && text.contains("8 used / 9 in view"), "{text}");
    let (_, _, page) = http_get(daemon.web[0], "/");
    assert!(page.contains(">3D<") && page.contains("8 used / 9 in view"), "the page shows gpsd's fix");

    // No PPS reports from a pty: after nmea-fallback-s the labels alone set the time.
    let locked = daemon.wait_for_status(Duration::from_secs(90), "stratum 1 from gpsd's labels", |s| {
        s["server"]["stratum"] == 1
    });
    assert_eq!(locked["server"]["reference_id"], "NMEA", "{}", locked["server"]);

    // gpsd goes away: the link is down, with gpsd's address; a new gpsd is found again.
    drop(std::mem::replace(&mut gpsd_process, gpsd(free_port(), &device)));
    let down = daemon.wait_for_status(Duration::from_secs(20), "gpsd down", |s| {
        s["gnss"]["serial"].as_str().is_some_and(|l| l.starts_with("down"))
    });
    let link = down["gnss"]["serial"].as_str().unwrap().to_owned();
    assert!(link.contains(&format!("gpsd at 127.0.0.1:{port}")), "{link}");
    drop(std::mem::replace(&mut gpsd_process, gpsd(port, &device)));
    daemon.wait_for_status(Duration::from_secs(60), "gpsd found again", |s| {
        s["gnss"]["serial"] == "up" && s["gnss"]["fix_mode"] == "3D"
    });
    let log = daemon.stop();
    // The outage may be shorter than the events watcher's second; the receiver's line has it.
    assert!(log.contains(&format!("gnss: serial down (gpsd at 127.0.0.1:{port}")), "{log}");
}
