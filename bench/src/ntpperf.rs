//! ntpperf as the load: Miroslav Lichvar's NTP load generator, which neither this project nor
//! the peers wrote, so its figures do not depend on our harness. `scripts/bench --ntpperf`
//! builds it from its public source in a scratch folder and runs this harness in a network
//! namespace of its own, where this module makes the link ntpperf needs: a veth pair, the
//! server's end addressed 192.168.123.1, ntpperf's end without an address. ntpperf writes raw
//! frames from 172.18.0.0/16 into its end; the answers are routed back to it through a
//! permanent neighbour entry and, having no address to reach there, are dropped by the kernel
//! after ntpperf has captured them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::load::LoadResult;

const SERVER_IF: &str = "s1perf-srv";
const LOAD_IF: &str = "s1perf-load";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 123, 1);
/// The next hop the answers are sent to: ntpperf's end, which has no address of its own.
const LOAD_HOP: &str = "192.168.123.2";
const CLIENT_NETWORK: &str = "172.18.0.0/16";

/// The link, made once per run.
pub struct Link {
    server_mac: String,
    /// Whether the answers' receive work was moved off the server's CPU (RPS on ntpperf's end).
    pub steered: bool,
}

impl Link {
    /// Where the servers serve NTP (ntpperf always sends to port 123), and on which interface.
    pub fn server_side(&self) -> (SocketAddr, &'static str) {
        (SocketAddr::from((SERVER_IP, 123)), SERVER_IF)
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let status = Command::new("ip").args(args).status().map_err(|e| format!("ip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ip {} failed: {status}", args.join(" ")))
    }
}

fn mac_of(interface: &str) -> Result<String, String> {
    let path = format!("/sys/class/net/{interface}/address");
    std::fs::read_to_string(&path).map(|m| m.trim().to_owned()).map_err(|e| format!("{path}: {e}"))
}

/// Makes the veth pair. `load_cpu` is where the answers' receive path should run: on a real
/// network the server never pays for its clients' receive path, and without steering the veth
/// pair would charge it to the sending server's CPU.
pub fn setup(load_cpu: usize) -> Result<Link, String> {
    ip(&["link", "add", SERVER_IF, "type", "veth", "peer", "name", LOAD_IF])?;
    ip(&["addr", "add", &format!("{SERVER_IP}/24"), "dev", SERVER_IF])?;
    ip(&["link", "set", SERVER_IF, "up"])?;
    ip(&["link", "set", LOAD_IF, "up"])?;
    let load_mac = mac_of(LOAD_IF)?;
    ip(&["neigh", "add", LOAD_HOP, "lladdr", &load_mac, "dev", SERVER_IF, "nud", "permanent"])?;
    ip(&["route", "add", CLIENT_NETWORK, "via", LOAD_HOP, "dev", SERVER_IF])?;
    let rps = format!("/sys/class/net/{LOAD_IF}/queues/rx-0/rps_cpus");
    let steered = std::fs::write(&rps, format!("{:x}", 1u64 << load_cpu)).is_ok();
    Ok(Link { server_mac: mac_of(SERVER_IF)?, steered })
}

/// ntpperf's NTS option: the C2S key and a cookie, in hex (it authenticates with
/// AES-SIV-CMAC-256 and sends the same cookie every time, which a server must accept).
pub struct NtsCredentials {
    pub c2s: Vec<u8>,
    pub cookie: Vec<u8>,
}

/// Runs ntpperf at one fixed `rate` for `seconds` (after its own warm-up of two requests per
/// simulated client) and reads its line of results; the server's CPU is sampled around the
/// whole run, so the warm-up's requests are counted with the answers.
pub fn run(
    ntpperf: &Path,
    link: &Link,
    load_cpu: usize,
    rate: u64,
    seconds: u64,
    nts: Option<&NtsCredentials>,
    server_cpu: impl Fn() -> u64,
) -> Result<LoadResult, String> {
    let mut command = Command::new("taskset");
    command
        .arg("-c")
        .arg(load_cpu.to_string())
        .arg(ntpperf)
        .args([
            "-i",
            LOAD_IF,
            "-m",
            &link.server_mac,
            "-d",
            &SERVER_IP.to_string(),
            "-s",
            CLIENT_NETWORK,
            "-B",
        ])
        // -l: a request the sender could not send on time (this machine is shared) goes late
        // instead of ending the run.
        .args(["-r", &format!("{rate}-{rate}"), "-t", &seconds.to_string(), "-l"]);
    if let Some(nts) = nts {
        command.arg("-S").arg(format!("{},{}", hex(&nts.c2s), hex(&nts.cookie)));
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let cpu_before = server_cpu();
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("{}: {e}", ntpperf.display()))?;
    // ntpperf stops by itself after one rate; the deadline is for a hung one.
    let deadline = started + Duration::from_secs(seconds + 30);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("ntpperf did not finish in time".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_ns = server_cpu().saturating_sub(cpu_before);
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(stats) = stdout.lines().find_map(|line| parse_line(line, rate)) else {
        return Err(format!(
            "ntpperf ({status}) printed no result: {}{}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let counted = rate * seconds;
    let sent = counted + 2 * stats.clients;
    let answered = (sent as f64 * stats.answered_share) as u64;
    Ok(LoadResult {
        sent,
        answered,
        invalid: (counted as f64 * stats.invalid_share) as u64,
        window_sent: sent,
        window_answered: answered,
        window_server_cpu_ns: cpu_ns,
        window_seconds: elapsed,
        ..LoadResult::default()
    })
}

#[derive(Debug, PartialEq)]
struct Stats {
    clients: u64,
    /// Basic-mode answers (for NTS, those long enough to carry the authenticator).
    answered_share: f64,
    invalid_share: f64,
}

/// `rate clients lost% invalid% basic% xleave% …`, the line of the rate asked for.
fn parse_line(line: &str, rate: u64) -> Option<Stats> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.first()?.parse::<u64>().ok()? != rate {
        return None;
    }
    let share = |i: usize| fields.get(i)?.strip_suffix('%')?.parse::<f64>().ok().map(|p| p / 100.0);
    Some(Stats { clients: fields.get(1)?.parse().ok()?, invalid_share: share(3)?, answered_share: share(4)? })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_line_of_the_rate_asked_for() {
        let header = "rate   clients |  lost invalid   basic  xleave |    min    mean     max stddev";
        assert_eq!(parse_line(header, 20000), None);
        let line = "20000     2000   0.00%   0.50% 99.50%   0.00%    +5825  +24503 +1776682  68101";
        let stats = parse_line(line, 20000).unwrap();
        assert_eq!(stats.clients, 2000);
        assert!((stats.answered_share - 0.995).abs() < 1e-9);
        assert!((stats.invalid_share - 0.005).abs() < 1e-9);
        assert_eq!(parse_line(line, 80000), None);
    }
}
