//! stratum1-bench: server CPU per answered request at a fixed offered rate, for stratum1d,
//! chrony and ntpd-rs, measured in the same run on the same machine (ratios are the result;
//! absolute numbers drift on a shared machine). Loopback only; every load is bounded.
//!
//! Modes: `ntp` (plain NTP requests), `nts` (NTS-authenticated requests; only answers that
//! authenticate count), `ke` (whole NTS-KE exchanges: TLS 1.3 handshake and 8 cookies),
//! `nts-ntp` (each round measures every server with plain NTP and then with NTS, back to
//! back, and reports the difference: the authenticated work, which the medians of two
//! separate runs do not resolve on a shared machine).
//!
//! Mode `hostile`: honest NTS-KE and NTP while idle, trickling or handshaking connections flood
//! NTS-KE, stratum1d beside chrony, both as shipped (see `hostile`).
//!
//! Usage: stratum1-bench [--mode ntp|nts|nts-ntp|ke|hostile] [--rate N] [--seconds S] [--rounds R] [--sources N]
//!                       [--stratum1d PATH] [--servers stratum1d,stratum1d+nts,stratum1d+page,stratum1d+sources,stratum1d+xdp,chronyd,ntpd-rs]
//!        [--floods idle,trickle,handshake] [--counts 64,1000,10000] [--mixes one,24,many]   (hostile)
//!        (stratum1d+xdp attaches an XDP program to `lo`: run it under `scripts/bench --netns`)
//!        stratum1-bench --target 127.0.0.1:PORT [--rate N] [--seconds S]   (load only, to profile)
//!        [--certificate p256|rsa2048]   (the servers' certificate key; default p256)
//!        [--ntpperf PATH]   (modes ntp, nts, nts-ntp: ntpperf is the load instead of the harness's
//!        own; in a network namespace of its own: run it under `scripts/bench --ntpperf`)

mod hostile;
mod ke_load;
mod load;
mod ntpperf;
mod page_poller;
mod peers;
mod procfs;

use std::path::PathBuf;
use std::time::Duration;

use load::{LoadResult, LoadSpec};
use peers::{Kind, Peer};

const SERVER_CPU: usize = 1;
const LOAD_CPU: usize = 0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ntp,
    Nts,
    /// Plain NTP then NTS for each server in each round: the difference of the pair.
    NtsOverNtp,
    Ke,
    /// Honest NTS-KE and NTP under connection floods (see `hostile`).
    Hostile,
}

impl Mode {
    fn unit(self) -> &'static str {
        match self {
            Mode::Ntp => "NTP request",
            Mode::Nts => "NTS request",
            Mode::NtsOverNtp => "NTP and NTS request",
            Mode::Ke | Mode::Hostile => "NTS-KE handshake",
        }
    }

    /// The loads a round measures each server under, in order.
    fn loads(self) -> &'static [Mode] {
        match self {
            Mode::NtsOverNtp => &[Mode::Ntp, Mode::Nts],
            Mode::Ntp => &[Mode::Ntp],
            Mode::Nts => &[Mode::Nts],
            Mode::Ke => &[Mode::Ke],
            Mode::Hostile => &[Mode::Hostile],
        }
    }

    fn takes_ntpperf(self) -> bool {
        matches!(self, Mode::Ntp | Mode::Nts | Mode::NtsOverNtp)
    }
}

struct Options {
    mode: Mode,
    rate: u64,
    seconds: u64,
    rounds: usize,
    sources: usize,
    stratum1d: PathBuf,
    servers: Vec<Kind>,
    /// Only offer load to an already running server (for profiling it).
    target: Option<std::net::SocketAddr>,
    floods: Vec<hostile::Flood>,
    counts: Vec<usize>,
    mixes: Vec<hostile::Mix>,
    /// ntpperf's binary, to use it as the load (modes ntp and nts).
    ntpperf: Option<PathBuf>,
    /// The servers' certificate key (modes nts and ke).
    key: peers::KeyKind,
}

/// One server under one load, round by round.
struct Series {
    kind: Kind,
    mode: Mode,
    rounds: Vec<(usize, Measurement)>,
}

struct Measurement {
    result: LoadResult,
    peak_rss_kib: u64,
}

impl Measurement {
    fn from_ke(r: ke_load::KeLoadResult, peak_rss_kib: u64) -> Measurement {
        let result = LoadResult {
            sent: r.offered,
            answered: r.completed,
            invalid: r.failed,
            window_answered: r.window_completed,
            window_server_cpu_ns: r.window_server_cpu_ns,
            window_seconds: r.window_seconds,
            ..LoadResult::default()
        };
        Measurement { result, peak_rss_kib }
    }

    fn cpu_us_per_request(&self) -> f64 {
        self.result.window_server_cpu_ns as f64 / 1e3 / self.result.window_answered.max(1) as f64
    }
    /// Over the whole run: answers inside the window may belong to requests sent before it.
    fn answered_ratio(&self) -> f64 {
        self.result.answered as f64 / self.result.sent.max(1) as f64
    }
    fn server_cpu_share(&self) -> f64 {
        self.result.window_server_cpu_ns as f64 / 1e9 / self.result.window_seconds.max(1e-9)
    }
}

fn main() {
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("stratum1-bench: {e}");
            std::process::exit(2);
        }
    };
    if options.servers.contains(&Kind::Stratum1WithXdp) && in_host_network_namespace() {
        eprintln!("stratum1-bench: stratum1d+xdp attaches an XDP program to lo; run it under `scripts/bench --netns`");
        std::process::exit(2);
    }
    let link = match &options.ntpperf {
        Some(_) if !options.mode.takes_ntpperf() => {
            eprintln!("stratum1-bench: --ntpperf is a load for modes ntp, nts and nts-ntp");
            std::process::exit(2);
        }
        Some(_) if in_host_network_namespace() => {
            eprintln!("stratum1-bench: --ntpperf makes a veth pair; run it under `scripts/bench --ntpperf`");
            std::process::exit(2);
        }
        Some(_) => match ntpperf::setup(LOAD_CPU) {
            Ok(link) => Some(link),
            Err(e) => {
                eprintln!("stratum1-bench: ntpperf's link: {e}");
                std::process::exit(1);
            }
        },
        None => None,
    };
    if let Err(e) = load::pin_to_cpu(LOAD_CPU) {
        eprintln!("stratum1-bench: cannot pin the load generator to CPU {LOAD_CPU}: {e}");
    }
    if options.mode == Mode::Hostile {
        hostile::run(&hostile::Options {
            floods: options.floods,
            counts: options.counts,
            mixes: options.mixes,
            servers: options.servers,
            seconds: options.seconds,
            stratum1d: options.stratum1d,
            server_cpu: SERVER_CPU,
        });
        return;
    }
    let spec = LoadSpec {
        rate: options.rate,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(options.seconds),
        sources: options.sources,
        nts: None,
    };
    if let Some(target) = options.target {
        match load::run(target, &spec, || 0) {
            Ok(r) => println!("load on {target}: {r:?}"),
            Err(e) => eprintln!("stratum1-bench: {e}"),
        }
        return;
    }
    match &link {
        Some(link) => println!(
            "{}s: {} /s offered by ntpperf for {} s (+ its warm-up) over a veth pair (answers' receive path {}); server pinned to CPU {SERVER_CPU}, ntpperf to CPU {LOAD_CPU}; {} rounds, interleaved",
            options.mode.unit(),
            options.rate,
            options.seconds,
            if link.steered { "steered to ntpperf's CPU" } else { "NOT steered: charged to the server" },
            options.rounds
        ),
        None => println!(
            "{}s: {} /s offered for {} s (+1 s warm-up) from {} loopback sources; server pinned to CPU {SERVER_CPU}, load to CPU {LOAD_CPU}; {} rounds, interleaved",
            options.mode.unit(),
            options.rate,
            options.seconds,
            if options.mode == Mode::Ke { 8 } else { options.sources },
            options.rounds
        ),
    }
    let loads = options.mode.loads();
    // One list of rounds per server and load; in a round the loads of one server run back to
    // back, so that their difference is taken over the same state of the machine.
    let mut results: Vec<Series> = options
        .servers
        .iter()
        .flat_map(|k| loads.iter().map(move |mode| Series { kind: *k, mode: *mode, rounds: Vec::new() }))
        .collect();
    for round in 1..=options.rounds {
        for Series { kind, mode, rounds: measurements } in &mut results {
            let tag = if loads.len() > 1 {
                if *mode == Mode::Nts {
                    " NTS"
                } else {
                    " NTP"
                }
            } else {
                ""
            };
            match measure(*kind, *mode, &options, &spec, link.as_ref()) {
                Ok(m) => {
                    println!(
                        "round {round} {:<13} sent {:>7} answered {:>6.2}% kod {} invalid {}  server CPU {:>5.1}%  {:.3} µs each  peak RSS {} KiB",
                        format!("{}{tag}", kind.name()),
                        m.result.sent,
                        m.answered_ratio() * 100.0,
                        m.result.kiss_of_death,
                        m.result.invalid,
                        m.server_cpu_share() * 100.0,
                        m.cpu_us_per_request(),
                        m.peak_rss_kib
                    );
                    measurements.push((round, m));
                }
                Err(e) => println!("round {round} {:<9}{tag} failed: {e}", kind.name()),
            }
        }
    }
    if options.mode == Mode::NtsOverNtp {
        report_pairs(&results);
    } else {
        let results: Vec<(Kind, Vec<Measurement>)> =
            results.into_iter().map(|s| (s.kind, s.rounds.into_iter().map(|(_, m)| m).collect())).collect();
        report(&results, options.mode);
    }
}

fn measure(
    kind: Kind,
    mode: Mode,
    options: &Options,
    spec: &LoadSpec,
    link: Option<&ntpperf::Link>,
) -> Result<Measurement, String> {
    let nts = if mode == Mode::Ntp { peers::Nts::Off } else { peers::Nts::Tuned };
    let at = link.map(ntpperf::Link::server_side);
    let peer = Peer::start_at(kind, &options.stratum1d, SERVER_CPU, nts, at, options.key)?;
    let pid = peer.pid();
    let cpu = || procfs::cpu_nanos(pid).unwrap_or(0);
    if matches!(mode, Mode::Ke | Mode::Hostile) {
        let (ke, ca) = peer.nts.clone().ok_or("no NTS-KE address")?;
        // The server starts its KE listener after its NTP socket: wait for it.
        establish(ke, &ca)?;
        let result =
            ke_load::run(ke, &ca, options.rate, spec.warmup, spec.measure, cpu).map_err(|e| e.to_string())?;
        return Ok(Measurement::from_ke(result, procfs::peak_rss_kib(pid).unwrap_or(0)));
    }
    let session = match mode {
        Mode::Nts => {
            let (ke, ca) = peer.nts.clone().ok_or("no NTS-KE address")?;
            Some(establish(ke, &ca)?)
        }
        _ => None,
    };
    // A server with its page on (stratum1d+page) is polled while it serves, by either load.
    let poller = peer.web.map(page_poller::start);
    let result = match (link, &options.ntpperf) {
        (Some(link), Some(binary)) => {
            let credentials = match &session {
                Some(session) => Some(ntpperf::NtsCredentials {
                    c2s: session.c2s.as_bytes().to_vec(),
                    cookie: session.cookies.first().ok_or("the KE gave no cookie")?.clone(),
                }),
                None => None,
            };
            ntpperf::run(binary, link, LOAD_CPU, options.rate, options.seconds, credentials.as_ref(), cpu)?
        }
        _ => load::run(peer.addr, &LoadSpec { nts: session, ..*spec }, cpu).map_err(|e| e.to_string())?,
    };
    if let Some(poller) = poller {
        let (pages, failures) = poller.stop();
        println!("  {} polled: {pages} page and API loads, {failures} failed", kind.name());
    }
    Ok(Measurement { result, peak_rss_kib: procfs::peak_rss_kib(pid).unwrap_or(0) })
}

/// One key establishment with the peer (retried while it starts up).
pub(crate) fn establish(
    ke: std::net::SocketAddr,
    ca: &std::path::Path,
) -> Result<stratum1::nts::client::KeSession, String> {
    use stratum1::nts::client::{tls_config, KeConnection};
    use stratum1_core::nts::AeadAlgorithm;
    let tls = tls_config(ca).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for _ in 0..50 {
        match KeConnection::connect(tls.clone(), ke, "localhost", Duration::from_secs(2))
            .and_then(|c| c.establish(&[AeadAlgorithm::AesSivCmac256]))
        {
            Ok(session) => return Ok(session),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("NTS-KE with {ke} failed: {last}"))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn report(results: &[(Kind, Vec<Measurement>)], mode: Mode) {
    println!();
    println!("| server | answered | server CPU per {} (median) | peak RSS |", mode.unit());
    println!("|---|---|---|---|");
    let mut medians = Vec::new();
    for (kind, ms) in results {
        if ms.is_empty() {
            continue;
        }
        let cpu = median(ms.iter().map(Measurement::cpu_us_per_request).collect());
        let answered = median(ms.iter().map(Measurement::answered_ratio).collect());
        let rss = median(ms.iter().map(|m| m.peak_rss_kib as f64).collect());
        println!("| {} | {:.2}% | {:.3} µs | {:.1} MiB |", kind.name(), answered * 100.0, cpu, rss / 1024.0);
        medians.push((*kind, cpu));
    }
    let ours = medians.iter().find(|(k, _)| *k == Kind::Stratum1).map(|(_, c)| *c);
    if let Some(ours) = ours {
        println!();
        for (kind, cpu) in medians.iter().filter(|(k, _)| *k != Kind::Stratum1) {
            println!(
                "stratum1d / {}: {:.2} (CPU per {}; lower is better)",
                kind.name(),
                ours / cpu,
                mode.unit()
            );
        }
    }
    let fast = medians.iter().find(|(k, _)| *k == Kind::Stratum1WithXdp).map(|(_, c)| *c);
    if let Some(fast) = fast {
        for (kind, cpu) in medians.iter().filter(|(k, _)| matches!(k, Kind::Chrony | Kind::NtpdRs)) {
            println!(
                "stratum1d+xdp / {}: {:.2} (CPU per {}; lower is better)",
                kind.name(),
                fast / cpu,
                mode.unit()
            );
        }
    }
}

/// Mode `nts-ntp`: per server the medians of its NTP and NTS rounds and of each round's
/// difference (NTS minus NTP, taken from the same round), then stratum1d's against the others.
fn report_pairs(results: &[Series]) {
    println!();
    println!("| server | NTP request (median) | NTS request (median) | NTS minus NTP, by round (median) |");
    println!("|---|---|---|---|");
    let mut rows = Vec::new();
    for Series { kind, rounds: ntp, .. } in results.iter().filter(|s| s.mode == Mode::Ntp) {
        let Some(Series { rounds: nts, .. }) =
            results.iter().find(|s| s.kind == *kind && s.mode == Mode::Nts)
        else {
            continue;
        };
        let us = |ms: &[(usize, Measurement)]| ms.iter().map(|(_, m)| m.cpu_us_per_request()).collect();
        // Only the rounds where both loads were measured make a pair.
        let differences = nts
            .iter()
            .filter_map(|(round, s)| {
                let (_, p) = ntp.iter().find(|(r, _)| r == round)?;
                Some(s.cpu_us_per_request() - p.cpu_us_per_request())
            })
            .collect();
        let row = (*kind, median(us(ntp)), median(us(nts)), median(differences));
        println!("| {} | {:.3} µs | {:.3} µs | {:.3} µs |", kind.name(), row.1, row.2, row.3);
        rows.push(row);
    }
    let Some(&(_, ours_ntp, ours_nts, ours_work)) = rows.iter().find(|r| r.0 == Kind::Stratum1) else {
        return;
    };
    println!();
    for (kind, ntp, nts, work) in rows.iter().filter(|r| r.0 != Kind::Stratum1) {
        println!(
            "stratum1d / {}: NTP {:.2}, NTS {:.2}, NTS minus NTP {:.2} (CPU per request; lower is better)",
            kind.name(),
            ours_ntp / ntp,
            ours_nts / nts,
            ours_work / work
        );
    }
}

/// Whether this process may share the host's network namespace: it is PID 1's, or it has any
/// interface besides `lo` (PID 1's namespace cannot always be read from inside another).
fn in_host_network_namespace() -> bool {
    let same_as_pid1 = match (std::fs::read_link("/proc/self/ns/net"), std::fs::read_link("/proc/1/ns/net")) {
        (Ok(ours), Ok(host)) => ours == host,
        _ => false,
    };
    let interfaces = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    let only_loopback =
        interfaces.lines().skip(2).all(|l| l.split(':').next().is_some_and(|name| name.trim() == "lo"));
    same_as_pid1 || !only_loopback
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        mode: Mode::Ntp,
        rate: 80_000,
        seconds: 5,
        rounds: 3,
        sources: 128,
        stratum1d: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/stratum1d")),
        servers: vec![Kind::Stratum1, Kind::Chrony, Kind::NtpdRs],
        target: None,
        floods: vec![hostile::Flood::Idle, hostile::Flood::Trickle, hostile::Flood::Handshake],
        counts: vec![64, 1_000, 10_000],
        mixes: vec![hostile::Mix::One, hostile::Mix::Slash24, hostile::Mix::Many],
        ntpperf: None,
        key: peers::KeyKind::P256,
    };
    let mut servers_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--mode" => {
                o.mode = match value()?.as_str() {
                    "ntp" => Mode::Ntp,
                    "nts" => Mode::Nts,
                    "nts-ntp" => Mode::NtsOverNtp,
                    "ke" => Mode::Ke,
                    "hostile" => Mode::Hostile,
                    other => return Err(format!("unknown mode {other} (ntp, nts, nts-ntp, ke, hostile)")),
                }
            }
            "--rate" => o.rate = number(value()?)?.clamp(1, 1_000_000),
            "--seconds" => o.seconds = number(value()?)?.clamp(1, 120),
            "--rounds" => o.rounds = number(value()?)?.clamp(1, 20) as usize,
            "--sources" => o.sources = number(value()?)?.clamp(1, 60_000) as usize,
            "--floods" => {
                o.floods = value()?.split(',').map(hostile::Flood::parse).collect::<Result<_, _>>()?
            }
            "--mixes" => o.mixes = value()?.split(',').map(hostile::Mix::parse).collect::<Result<_, _>>()?,
            "--counts" => {
                o.counts = value()?
                    .split(',')
                    .map(|c| {
                        c.parse::<usize>()
                            .map(|c| c.clamp(1, 15_000))
                            .map_err(|e| format!("--counts {c}: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--stratum1d" => o.stratum1d = PathBuf::from(value()?),
            "--ntpperf" => o.ntpperf = Some(PathBuf::from(value()?)),
            "--certificate" => {
                o.key = match value()?.as_str() {
                    "p256" => peers::KeyKind::P256,
                    "rsa2048" => peers::KeyKind::Rsa2048,
                    other => return Err(format!("unknown certificate key {other} (p256, rsa2048)")),
                }
            }
            "--target" => o.target = Some(value()?.parse().map_err(|e| format!("--target: {e}"))?),
            "--servers" => {
                servers_given = true;
                o.servers = value()?
                    .split(',')
                    .map(|s| match s {
                        "stratum1d" => Ok(Kind::Stratum1),
                        "stratum1d+nts" => Ok(Kind::Stratum1WithNts),
                        "stratum1d+page" => Ok(Kind::Stratum1WithPage),
                        "stratum1d+sources" => Ok(Kind::Stratum1WithSources),
                        "stratum1d+xdp" => Ok(Kind::Stratum1WithXdp),
                        "chronyd" | "chrony" => Ok(Kind::Chrony),
                        "ntpd-rs" => Ok(Kind::NtpdRs),
                        other => Err(format!("unknown server {other}")),
                    })
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.mode == Mode::Hostile && !servers_given {
        o.servers = vec![Kind::Stratum1, Kind::Chrony];
    }
    Ok(o)
}
