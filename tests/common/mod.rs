//! Shared helpers for integration tests: start the real `stratum1d`, find its ports, stop it
//! (by PID, also when a test fails), and a minimal raw NTP client.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const DAEMON: &str = env!("CARGO_BIN_EXE_stratum1d");
pub const CTL: &str = env!("CARGO_BIN_EXE_stratum1ctl");

/// An observe-only daemon vouching for the host clock at `local_stratum` (no lock to wait
/// for), serving NTP and NTS with a throwaway CA. [`RunningDaemon::start`] gives the CA
/// directory and the KE port to the test alone.
pub fn observe_only_nts_config(local_stratum: u8) -> String {
    format!(
        r#"
[ntp]
listen = ["127.0.0.1:0"]
workers = 1
[clock]
mode = "observe-only"
local-stratum = {local_stratum}
[nts]
enabled = true
listen = ["127.0.0.1:4460"]
throwaway-ca-dir = "/tmp/stratum1-demo-ca"
"#
    )
}

/// A running daemon; killed and reaped on drop.
pub struct RunningDaemon {
    child: Child,
    pub ntp: Vec<SocketAddr>,
    /// NTS-KE addresses, when `[nts]` is enabled.
    pub nts_ke: Vec<SocketAddr>,
    /// Status page addresses, when `[web]` is enabled.
    pub web: Vec<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
    dir: Option<tempfile::TempDir>,
}

impl RunningDaemon {
    /// Writes `config` to a temporary file and starts the daemon with it; waits until every
    /// listen address is announced. The demo's fixed NTS-KE port and CA directory are replaced
    /// by an ephemeral port and a directory of this test's own, so tests never share them.
    pub fn start(config: &str) -> RunningDaemon {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(config, dir)
    }

    /// Like [`Self::start`], in a directory the caller chose (a restart test reuses its files).
    pub fn start_in(config: &str, dir: tempfile::TempDir) -> RunningDaemon {
        let config = config
            .replace(":4460\"", ":0\"")
            .replace(":8123\"", ":0\"")
            .replace("/tmp/stratum1-demo-ca", &dir.path().join("ca").display().to_string())
            // The demo's CA, made in a fresh directory of its own, goes in this test's instead,
            // where the test can read it.
            .replace(
                "throwaway-ca = true",
                &format!("throwaway-ca-dir = {:?}", dir.path().join("ca").display().to_string()),
            );
        let config = config.as_str();
        let path = dir.path().join("stratum1.toml");
        std::fs::write(&path, config).expect("write config");
        let mut child = Command::new(DAEMON)
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stratum1d");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = line.split("serving NTP on udp://").nth(1) {
                        let addr = addr.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send(addr.parse::<SocketAddr>().ok().map(|a| (0, a)));
                    }
                    if let Some(addr) = line.split("serving NTS-KE on tcp://").nth(1) {
                        let addr = addr.split_whitespace().next().unwrap_or_default();
                        let _ = tx.send(addr.parse::<SocketAddr>().ok().map(|a| (1, a)));
                    }
                    if let Some(addr) = line.split("serving the status page on http://").nth(1) {
                        let addr = addr.split('/').next().unwrap_or_default();
                        let _ = tx.send(addr.parse::<SocketAddr>().ok().map(|a| (2, a)));
                    }
                    log.lock().unwrap().push(line);
                }
                let _ = tx.send(None);
            });
        }
        let parsed =
            stratum1::config::Config::from_toml(config, "test config").expect("test config is valid");
        let expected_ntp = parsed.ntp.listen.len();
        let expected_ke = if parsed.nts.enabled { parsed.nts.listen.len() } else { 0 };
        let expected_web = if parsed.web.enabled { parsed.web.listen.len() } else { 0 };
        let (mut ntp, mut nts_ke, mut web) = (Vec::new(), Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while ntp.len() < expected_ntp || nts_ke.len() < expected_ke || web.len() < expected_web {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Some((0, addr))) => ntp.push(addr),
                Ok(Some((1, addr))) => nts_ke.push(addr),
                Ok(Some((_, addr))) => web.push(addr),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("daemon did not start; log:\n{}", log.lock().unwrap().join("\n"));
                }
            }
        }
        RunningDaemon { child, ntp, nts_ke, web, log, dir: Some(dir) }
    }

    /// `/api/status` as JSON.
    pub fn api_status(&self) -> serde_json::Value {
        let (code, _, body) = http_get(self.web[0], "/api/status");
        assert_eq!(code, 200);
        serde_json::from_str(&body).expect("status JSON")
    }

    /// Polls the status until `done` holds (or panics after `limit` with the last status and
    /// the log).
    pub fn wait_for_status(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.api_status();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not reached in {limit:?}:\n{s:#}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// The daemon's own directory: its config, and `ca/ca.pem` when the demo's throwaway CA is on.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(std::path::Path::new("/nonexistent"))
    }

    /// Stops the daemon but keeps its directory for a restart with [`Self::start_in`].
    pub fn stop_keeping_dir(mut self) -> (String, tempfile::TempDir) {
        let dir = self.dir.take().expect("directory present until stopped");
        (self.stop_in_place(), dir)
    }

    /// SIGTERM, wait, and return the full log (including the final counters line).
    pub fn stop(mut self) -> String {
        self.stop_in_place()
    }

    fn stop_in_place(&mut self) -> String {
        terminate(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.log()
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(pid: u32) {
    // SAFETY: kill(2) with our own child's PID and a valid signal number.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// A plain HTTP/1.1 GET on loopback: (status code, headers, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    http_request(addr, "GET", path)
}

pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the web server");
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A 48-byte client request with the given version, mode and transmit timestamp.
pub fn request(version: u8, mode: u8, transmit: u64) -> [u8; 48] {
    let mut r = [0u8; 48];
    r[0] = (version << 3) | mode;
    r[40..48].copy_from_slice(&transmit.to_be_bytes());
    r
}

/// The NTP timestamp of now (era 0).
pub fn ntp_now() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let secs = d.as_secs() + 2_208_988_800;
    (secs << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// Seconds between two NTP timestamps (b - a).
pub fn ntp_diff(a: u64, b: u64) -> f64 {
    (b.wrapping_sub(a) as i64) as f64 / 4_294_967_296.0
}

pub fn socket_to(server: SocketAddr, local_ip: &str) -> UdpSocket {
    let s = UdpSocket::bind((local_ip, 0)).expect("bind client");
    s.connect(server).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    s
}

/// Sends one request and waits for one answer.
pub fn exchange(socket: &UdpSocket, req: &[u8]) -> Option<Vec<u8>> {
    socket.send(req).expect("send");
    let mut buf = [0u8; 2048];
    match socket.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => None,
    }
}

/// Fails the test with a clear message when a peer program is missing.
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()));
    assert!(found, "{program} is not installed: run the README's test command (scripts/test) first");
}
