//! The status page in every state, in real headless Chromium at a phone's width (390 px) and a
//! desktop's (1280 px), in light and dark mode: nothing may be wider than the window (read
//! through the DevTools protocol as `document.documentElement.scrollWidth`). Each state is a
//! snapshot served by the real web server; the screenshots go to target/test-artifacts/, and
//! to `$STRATUM1_SCREENSHOTS` when set (how docs/screenshots/ is made).

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use stratum1_web::server::WebServer;
use stratum1_web::snapshot::{example, HistoryPoint, OverallState, SignalView, StatusSnapshot};
use stratum1_web::snapshot::{EventLevel, EventView};

/// Headless Chromium driven over `--remote-debugging-pipe` (commands on fd 3, answers on fd 4,
/// each a JSON text ended by NUL), so no WebSocket client is needed.
struct Browser {
    child: Child,
    commands: File,
    answers: BufReader<File>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

/// A close-on-exec pipe whose ends are numbered 10 or higher, so that moving them to 3 and 4
/// in the child can neither clobber the other end nor leave close-on-exec set (dup2 onto
/// itself would).
fn pipe() -> (RawFd, RawFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill; F_DUPFD_CLOEXEC and close
    // act on descriptors this function owns.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        let high = fds.map(|fd| {
            let moved = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
            assert!(moved >= 10, "F_DUPFD_CLOEXEC");
            libc::close(fd);
            moved
        });
        (high[0], high[1])
    }
}

impl Browser {
    fn start() -> Browser {
        common::require("chromium");
        let profile = tempfile::tempdir().unwrap();
        let (command_read, command_write) = pipe();
        let (answer_read, answer_write) = pipe();
        let mut command = Command::new("chromium");
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .args(["--disable-quic", "--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync", "about:blank"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec; dup2 clears
        // O_CLOEXEC on the new descriptors, so exactly fds 3 and 4 reach Chromium.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(command_read, 3) < 0 || libc::dup2(answer_write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("start chromium");
        // SAFETY: each descriptor came from pipe2 above and is owned by exactly one File here.
        let (commands, answers) = unsafe {
            libc::close(command_read);
            libc::close(answer_write);
            (File::from_raw_fd(command_write), File::from_raw_fd(answer_read))
        };
        let mut browser = Browser {
            child,
            commands,
            answers: BufReader::new(answers),
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("a target id").to_owned();
        let attached = browser.call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}));
        browser.session = attached["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// Sends one command (to the page's session once there is one) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        loop {
            let mut raw = Vec::new();
            let n = self.answers.read_until(0, &mut raw).expect("read from chromium");
            assert!(n > 0, "chromium closed the pipe during {method}");
            raw.pop();
            let answer: Value = serde_json::from_slice(&raw).expect("chromium speaks JSON");
            if answer["id"] == json!(id) {
                assert!(answer.get("error").is_none(), "{method}: {answer}");
                return answer["result"].clone();
            }
        }
    }

    fn evaluate(&mut self, expression: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expression, "returnByValue": true}));
        r["result"]["value"].clone()
    }

    /// Loads `url` at this width and colour scheme and waits until the page is drawn.
    fn open(&mut self, url: &str, width: u32, scheme: &str) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        );
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.evaluate("document.readyState === 'complete' && !!document.getElementById('main')")
            != json!(true)
        {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (scrollWidth, clientWidth) of the document: the first is larger when something overflows.
    fn widths(&mut self) -> (u64, u64) {
        let v = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]");
        (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
    }

    /// What sticks out past the right edge, for the failure message.
    fn overflowing(&mut self) -> Value {
        self.evaluate(
            "Array.from(document.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right > \
             document.documentElement.clientWidth + 0.5).slice(0, 8).map(e => e.tagName + '.' + e.className + \
             ' ' + (e.textContent || '').slice(0, 40))",
        )
    }

    /// A PNG of the whole page at `width`.
    fn screenshot(&mut self, width: u32) -> Vec<u8> {
        let height = self.evaluate("document.documentElement.scrollHeight").as_u64().unwrap_or(900);
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        );
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64::engine::general_purpose::STANDARD.decode(shot["data"].as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const NOW_MS: i64 = 1_800_000_000_000;

fn event(ago_s: i64, level: EventLevel, message: &str) -> EventView {
    EventView { time_unix_ms: NOW_MS - ago_s * 1000, level, message: message.into() }
}

/// Two hours of history: locked, an hour of holdover with the bound growing, relocked.
fn history() -> Vec<HistoryPoint> {
    (0..720)
        .rev()
        .map(|tenths| tenths * 10)
        .map(|ago| {
            let holdover = (2400..4200).contains(&ago);
            let since = (4200 - ago) as f64;
            HistoryPoint {
                unix_s: NOW_MS / 1000 - ago,
                offset_ns: if holdover { 300.0 } else { 250.0 * ((ago as f64) / 90.0).sin() },
                frequency_ppb: 29_850.0 + if holdover { 0.0 } else { 3.0 * ((ago as f64) / 600.0).cos() },
                error_bound_ns: Some(if holdover { 1_500.0 + since * 5.0 } else { 1_200.0 }),
            }
        })
        .collect()
}

fn sky() -> Vec<SignalView> {
    [
        (2, 62.0, 301.0, 44),
        (5, 48.0, 72.0, 41),
        (7, 35.0, 144.0, 38),
        (9, 71.0, 210.0, 46),
        (13, 22.0, 33.0, 33),
    ]
    .into_iter()
    .chain([(16, 15.0, 255.0, 29), (20, 54.0, 118.0, 43), (26, 9.0, 330.0, 24), (30, 40.0, 182.0, 40)])
    .enumerate()
    .map(|(i, (prn, elevation, azimuth, snr))| SignalView {
        system: "GPS".into(),
        prn,
        snr_db: Some(snr),
        elevation_deg: Some(elevation),
        azimuth_deg: Some(azimuth),
        used: i < 8,
    })
    .collect()
}

/// One snapshot per state, each with what makes that state hard to lay out.
fn states() -> Vec<(&'static str, StatusSnapshot)> {
    let mut locked = example();
    locked.generated_unix_ms = NOW_MS;
    locked.history = history();
    locked.gnss.as_mut().unwrap().signals = sky();
    locked.events = vec![
        event(7100, EventLevel::Info, "started: UNSYNCHRONISED (acquiring: 0 reference sample(s) used so far)"),
        event(7060, EventLevel::Info, "locked: serving stratum 1 (PPS) after 40 s"),
        event(4200, EventLevel::Warning, "PPS lost: silent since 1799995800"),
        event(4199, EventLevel::Warning, "holdover: no usable reference sample for 2 s (PPS is silent since 1799995800: check the PPS pin and its overlay)"),
        event(2400, EventLevel::Info, "PPS: pulses arrive again"),
        event(2390, EventLevel::Info, "relocked after 1809 s in holdover"),
    ];
    let nts = locked.nts.as_mut().unwrap();
    nts.certificate.as_mut().unwrap().not_after_unix += 80 * 86_400;
    let long_fingerprint = (0..32).map(|i| format!("{:02X}", i * 7 % 256)).collect::<Vec<_>>().join(":");
    nts.certificate.as_mut().unwrap().sha256_fingerprint = long_fingerprint.clone();
    nts.issuer_certificate.as_mut().unwrap().sha256_fingerprint = long_fingerprint.clone();

    let mut holdover = locked.clone();
    holdover.state = OverallState::Holdover;
    holdover.clock.lock_state = "holdover".into();
    holdover.clock.last_sample_age_s = Some(612.0);
    holdover.clock.error_bound_ns = Some(4_560.0);
    holdover.state_reason = Some(
        "holdover: the receiver disagrees with network time by 1.000012 s, so it is not followed".into(),
    );
    holdover.integrity.state = "gnss-disagrees".into();
    holdover.integrity.disagreement_ns = Some(-1_000_012_000.0);
    holdover.gnss.as_mut().unwrap().labels_refused_by_network = 612;

    let mut no_fix = locked.clone();
    no_fix.state = OverallState::NoFix;
    let g = no_fix.gnss.as_mut().unwrap();
    g.fix_valid = false;
    g.fix_mode = "none".into();
    g.satellites_used = Some(0);
    g.position = None;
    for s in &mut g.signals {
        s.used = false;
        s.snr_db = s.snr_db.map(|v| v / 3);
    }
    no_fix.state_reason =
        Some("the receiver has no valid fix (none, 9 satellite(s) in view): the antenna needs sky".into());

    let mut network = locked.clone();
    network.state = OverallState::Network;
    network.server.stratum = 2;
    network.server.reference_id = "192.0.2.123".into();
    network.server.root_delay_us = 8_200.0;
    network.state_reason = Some(
        "serving network time (stratum 2, 192.0.2.123): the receiver's serial line is down (No such file or \
         directory); retry in 8000 ms"
            .into(),
    );
    network.gnss.as_mut().unwrap().serial = "down (No such file or directory); retry in 8000 ms".into();
    network.sources[0].address = "a-rather-long-host-name.time.example.net:4460".into();

    // A fresh start as root: nothing measured, every capability, the longest state name.
    let mut unsynchronised = example();
    unsynchronised.generated_unix_ms = NOW_MS;
    unsynchronised.state = OverallState::Unsynchronised;
    unsynchronised.server.stratum = 16;
    unsynchronised.server.reference_id = "INIT".into();
    unsynchronised.server.root_dispersion_us = 65_535_999_984.741;
    unsynchronised.clock.offset_ns = None;
    unsynchronised.clock.skew_ppb = None;
    unsynchronised.clock.error_bound_ns = None;
    unsynchronised.clock.lock_state = "acquiring".into();
    unsynchronised.history.clear();
    unsynchronised.process.user = "root".into();
    unsynchronised.process.uid = 0;
    unsynchronised.process.capabilities = (0..41).map(|i| format!("CAP_NUMBER_{i}")).collect();
    unsynchronised.state_reason =
        Some("acquiring: 3 reference sample(s) used so far; locked once the estimate settles".into());
    unsynchronised.events = vec![event(3, EventLevel::Info, "started: UNSYNCHRONISED")];
    unsynchronised.gnss.as_mut().unwrap().signals = sky();

    vec![
        ("locked", locked),
        ("holdover", holdover),
        ("no-fix", no_fix),
        ("network", network),
        ("unsynchronised", unsynchronised),
    ]
}

fn serve(snapshot: StatusSnapshot) -> WebServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    WebServer::start(vec![listener], 8, Duration::from_secs(5), Arc::new(move || snapshot.clone()), None)
        .unwrap()
}

#[test]
fn every_state_fits_a_phone_and_a_desktop_in_light_and_dark() {
    let mut browser = Browser::start();
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let docs = std::env::var_os("STRATUM1_SCREENSHOTS").map(PathBuf::from);
    let mut overflows = Vec::new();
    for (name, snapshot) in states() {
        let label = snapshot.state.label();
        let server = serve(snapshot);
        let url = format!("http://{}/", server.local_addrs[0]);
        for width in [390, 1280] {
            for scheme in ["light", "dark"] {
                browser.open(&url, width, scheme);
                let shown = browser.evaluate("document.getElementById('state').textContent");
                assert_eq!(shown, json!(label), "{name}");
                // prefers-color-scheme decides the background: dark in dark mode, white in light.
                let background =
                    browser.evaluate("getComputedStyle(document.documentElement).backgroundColor");
                let expected = if scheme == "dark" { "rgb(18, 20, 23)" } else { "rgb(255, 255, 255)" };
                assert_eq!(background, json!(expected), "{name} in {scheme} mode");
                let (scroll, client) = browser.widths();
                if scroll > client {
                    overflows.push(format!(
                        "{name} at {width} px ({scheme}): {scroll} > {client}: {}",
                        browser.overflowing()
                    ));
                }
                let png = browser.screenshot(width);
                assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}: a screenshot");
                let file = format!("{name}-{width}-{scheme}.png");
                std::fs::write(artifacts.join(&file), &png).unwrap();
                if let Some(dir) = &docs {
                    // Each state at a desktop's width; a phone's, light and dark, for two of them.
                    let phone =
                        width == 390 && (name == "locked" || (name == "unsynchronised" && scheme == "light"));
                    if (scheme == "light" && width == 1280) || phone {
                        std::fs::write(dir.join(&file), &png).unwrap();
                    }
                }
            }
        }
        server.shutdown();
    }
    assert!(overflows.is_empty(), "wider than the window:\n{}", overflows.join("\n"));
}
