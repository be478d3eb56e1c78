//! The servers under test, each started from its real binary on a loopback port (or on
//! ntpperf's link), pinned to one CPU with `taskset`, and killed by PID when dropped.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use stratum1::nts::certificates::{make_throwaway_ca, ThrowawayCa};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stratum1,
    /// stratum1d with NTS enabled, serving plain NTP: NTS must not slow the plain path.
    Stratum1WithNts,
    /// stratum1d with its status page on, polled while it serves: the page must cost NTP nothing.
    Stratum1WithPage,
    /// stratum1d with its AF_XDP fast path on `lo` (needs a network namespace of its own).
    Stratum1WithXdp,
    /// stratum1d polling three upstream sources every second (a second stratum1d, not pinned):
    /// the client side must cost the serving path nothing.
    Stratum1WithSources,
    Chrony,
    NtpdRs,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stratum1 => "stratum1d",
            Kind::Stratum1WithNts => "stratum1d+nts",
            Kind::Stratum1WithPage => "stratum1d+page",
            Kind::Stratum1WithXdp => "stratum1d+xdp",
            Kind::Stratum1WithSources => "stratum1d+sources",
            Kind::Chrony => "chronyd",
            Kind::NtpdRs => "ntpd-rs",
        }
    }
}

/// The servers' certificate key (the same for every server in a run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256, made by the project's own throwaway CA.
    P256,
    /// RSA-2048 (a CA and a leaf made with `openssl`, which *ring* cannot do).
    Rsa2048,
}

fn make_certificates(dir: &Path, key: KeyKind) -> Result<ThrowawayCa, String> {
    match key {
        KeyKind::P256 => make_throwaway_ca(dir).map_err(|e| e.to_string()),
        KeyKind::Rsa2048 => make_rsa_ca(dir),
    }
}

/// A throwaway RSA-2048 CA and a leaf for `localhost`, PKCS#8 keys, valid for two days.
fn make_rsa_ca(dir: &Path) -> Result<ThrowawayCa, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let path = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl").args(args).output().map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    let (ca, ca_key, leaf, leaf_key, request) =
        (path("ca.pem"), path("ca-key.pem"), path("cert.pem"), path("key.pem"), path("leaf.csr"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=stratum1-bench RSA CA",
    ])?;
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &leaf_key,
        "-out",
        &request,
        "-subj",
        "/CN=localhost",
    ])?;
    let extensions = dir.join("leaf.ext");
    write(
        &extensions,
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &request,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        &extensions.display().to_string(),
        "-out",
        &leaf,
    ])?;
    Ok(ThrowawayCa {
        ca_certificate: dir.join("ca.pem"),
        certificate: dir.join("cert.pem"),
        private_key: dir.join("key.pem"),
    })
}

/// How a server's NTS is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nts {
    Off,
    /// Tuned for throughput: stratum1d with 512 KE connections, chrony's key establishment in
    /// its main process (so its CPU is counted like everyone else's).
    Tuned,
    /// As shipped: what an operator who only names the certificate gets.
    Defaults,
}

pub struct Peer {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The NTS-KE address and the CA that signed the server's certificate, when NTS is on.
    pub nts: Option<(SocketAddr, PathBuf)>,
    /// The status page, when on.
    pub web: Option<SocketAddr>,
    child: Child,
    /// The upstream that `stratum1d+sources` polls.
    upstream: Option<Child>,
    dir: PathBuf,
}

impl Peer {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a server on a loopback port; with NTS, each also serves NTS-KE with a certificate
    /// from a throwaway CA made here.
    pub fn start(kind: Kind, stratum1d: &Path, cpu: usize, setup: Nts) -> Result<Peer, String> {
        Peer::start_at(kind, stratum1d, cpu, setup, None, KeyKind::P256)
    }

    /// As [`Peer::start`], serving NTP on `ntp`'s address instead, which is on `ntp`'s
    /// interface (ntpperf's link; stratum1d+xdp attaches there); NTS-KE stays on loopback.
    pub fn start_at(
        kind: Kind,
        stratum1d: &Path,
        cpu: usize,
        setup: Nts,
        ntp: Option<(SocketAddr, &str)>,
        key: KeyKind,
    ) -> Result<Peer, String> {
        let interface = ntp.map_or("lo", |(_, interface)| interface);
        let ntp = ntp.map(|(addr, _)| addr);
        let ntp_ip = ntp.map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
        let ntp_port = |pick: fn() -> Result<u16, String>| ntp.map_or_else(pick, |a| Ok(a.port()));
        let dir = std::env::temp_dir().join(format!("stratum1-bench-{}-{}", std::process::id(), kind.name()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let setup = if setup == Nts::Off && kind == Kind::Stratum1WithNts { Nts::Tuned } else { setup };
        let nts = setup != Nts::Off;
        let certs = if nts { Some(make_certificates(&dir.join("ca"), key)?) } else { None };
        let ke_port = if nts { free_tcp_port()? } else { 0 };
        let taskset = |program: &Path| {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
            c
        };
        let mut web_addr = None;
        let mut upstream = None;
        let (child, addr) = match kind {
            Kind::Stratum1
            | Kind::Stratum1WithNts
            | Kind::Stratum1WithPage
            | Kind::Stratum1WithXdp
            | Kind::Stratum1WithSources => {
                let conf = dir.join("stratum1.toml");
                // Rate limiting stays on (the default path) with a limit above the per-source
                // load, so its cost is measured but no request is refused.
                let xdp = if kind == Kind::Stratum1WithXdp {
                    format!("xdp-interface = \"{interface}\"\n")
                } else {
                    String::new()
                };
                let listen = ntp.map_or("127.0.0.1:0".to_owned(), |a| a.to_string());
                let mut text = format!(
                    "[ntp]\nlisten = [\"{listen}\"]\nworkers = 1\n{xdp}\
                     [ntp.rate-limit]\nenabled = true\nmax-rate = 1000.0\nburst = 1000\n\
                     [clock]\nlocal-stratum = 1\n"
                );
                if let Some(certs) = &certs {
                    text.push_str(&format!(
                        "[nts]\nenabled = true\nlisten = [\"127.0.0.1:{ke_port}\"]\ncertificate = \"{}\"\nprivate-key = \"{}\"\n",
                        certs.certificate.display(),
                        certs.private_key.display()
                    ));
                    if setup == Nts::Tuned {
                        text.push_str("max-connections = 512\n");
                    }
                }
                if kind == Kind::Stratum1WithPage {
                    text.push_str("[web]\nenabled = true\nlisten = [\"127.0.0.1:0\"]\n");
                }
                if kind == Kind::Stratum1WithSources {
                    let conf = dir.join("upstream.toml");
                    write(
                        &conf,
                        "[ntp]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n[clock]\nlocal-stratum = 1\n",
                    )?;
                    let mut child = Command::new(stratum1d)
                        .arg("--config")
                        .arg(&conf)
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .map_err(|e| e.to_string())?;
                    let (addr, _) = announced_addrs(&mut child, false)?;
                    upstream = Some(child);
                    for _ in 0..3 {
                        text.push_str(&format!(
                            "[[source]]\nmode = \"server\"\naddress = \"{addr}\"\ntrust = true\npoll-min = 0\npoll-max = 0\n"
                        ));
                    }
                }
                write(&conf, &text)?;
                let mut child =
                    taskset(stratum1d).arg("--config").arg(&conf).spawn().map_err(|e| e.to_string())?;
                let (addr, web) = announced_addrs(&mut child, kind == Kind::Stratum1WithPage)?;
                web_addr = web;
                (child, addr)
            }
            Kind::Chrony => {
                let port = ntp_port(free_port)?;
                let conf = dir.join("chrony.conf");
                let mut text = format!(
                    "port {port}\nbindaddress {ntp_ip}\nlocal stratum 1\nallow all\n\
                     cmdport 0\npidfile {}\n",
                    dir.join("chronyd.pid").display()
                );
                if let Some(certs) = &certs {
                    text.push_str(&format!(
                        "ntsport {ke_port}\nntsservercert {}\nntsserverkey {}\nntsdumpdir {}\n",
                        certs.certificate.display(),
                        certs.private_key.display(),
                        dir.display()
                    ));
                    if setup == Nts::Tuned {
                        text.push_str("ntsprocesses 0\n");
                    }
                }
                write(&conf, &text)?;
                // -x: never touch the clock; -d: stay in the foreground; -u root: read the key.
                let child = taskset(Path::new("chronyd"))
                    .args(["-d", "-x", "-u", "root", "-f"])
                    .arg(&conf)
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                (child, SocketAddr::new(ntp_ip, port))
            }
            Kind::NtpdRs => {
                let port = ntp_port(free_port)?;
                let conf = dir.join("ntp.toml");
                // A server and no source: ntpd-rs then never adjusts the clock.
                let mut text = format!(
                    "[observability]\nlog-level = \"warn\"\n\n[[server]]\nlisten = \"{}\"\n\n\
                     [synchronization]\nlocal-stratum = 1\n",
                    SocketAddr::new(ntp_ip, port)
                );
                if let Some(certs) = &certs {
                    text.push_str(&format!(
                        "\n[[nts-ke-server]]\nlisten = \"127.0.0.1:{ke_port}\"\ncertificate-chain-path = \"{}\"\n\
                         private-key-path = \"{}\"\nntp-port = {port}\n",
                        certs.certificate.display(),
                        certs.private_key.display()
                    ));
                }
                write(&conf, &text)?;
                let child = taskset(Path::new("ntp-daemon"))
                    .arg("-c")
                    .arg(&conf)
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| e.to_string())?;
                (child, SocketAddr::new(ntp_ip, port))
            }
        };
        // chrony serves NTS-KE on its `bindaddress` too; the others on loopback as configured.
        let ke_ip = if kind == Kind::Chrony { ntp_ip } else { IpAddr::from([127, 0, 0, 1]) };
        let nts = certs.map(|c| (SocketAddr::new(ke_ip, ke_port), c.ca_certificate));
        let mut peer = Peer { kind, addr, nts, web: web_addr, child, upstream, dir };
        peer.wait_until_answering()?;
        Ok(peer)
    }

    fn wait_until_answering(&mut self) -> Result<(), String> {
        let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(Duration::from_millis(100))).map_err(|e| e.to_string())?;
        let mut req = [0u8; 48];
        req[0] = (4 << 3) | 3;
        req[40] = 1;
        let mut buf = [0u8; 128];
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited early: {status}", self.kind.name()));
            }
            let _ = socket.send_to(&req, self.addr);
            if socket.recv(&mut buf).is_ok() {
                return Ok(());
            }
        }
        Err(format!("{} did not answer on {}", self.kind.name(), self.addr))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.upstream.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A loopback TCP port that was free a moment ago.
fn free_tcp_port() -> Result<u16, String> {
    let s = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    s.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A loopback UDP port that was free a moment ago.
fn free_port() -> Result<u16, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    s.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Reads the daemon's log until it announces its NTP address (and its status page, if asked).
fn announced_addrs(child: &mut Child, with_web: bool) -> Result<(SocketAddr, Option<SocketAddr>), String> {
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving NTP on udp://").nth(1) {
                let _ = tx.send((false, rest.split_whitespace().next().unwrap_or_default().to_owned()));
            }
            if let Some(rest) = line.split("serving the status page on http://").nth(1) {
                let _ = tx.send((true, rest.split('/').next().unwrap_or_default().to_owned()));
            }
        }
    });
    let (mut ntp, mut web) = (None, None);
    while ntp.is_none() || (with_web && web.is_none()) {
        let (is_web, addr) =
            rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "stratum1d did not start".to_owned())?;
        let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        if is_web {
            web = Some(addr);
        } else {
            ntp = Some(addr);
        }
    }
    Ok((ntp.ok_or("no NTP address")?, web))
}
