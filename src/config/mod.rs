//! The TOML configuration: schema, defaults and validation. Keys are kebab-case and unknown keys
//! are refused. Every check runs while the file is read, so an error names its key and line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use stratum1_core::ntp::RateLimitSettings;
use stratum1_core::ntp::{AccessList, Cidr};

mod clock;
mod nts;
mod receiver;
mod sources;
mod web;
pub use clock::{ClockConfig, ClockMode, ClockSimulatorConfig};
pub use nts::{CertificateSource, NtsConfig};
pub use receiver::{Polarity, PpsKind, RefclockConfig, RefclockKind, SimulatorConfig, WeekRollover};
pub use sources::{IntegrityConfig, SourceConfig, SourceDefaults};
pub use web::WebConfig;

/// The configuration the daemon runs with when given none: the no-hardware demo.
pub const DEMO_TOML: &str = include_str!("../../configs/demo.toml");

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ntp: NtpConfig,
    #[serde(default)]
    pub clock: ClockConfig,
    #[serde(default)]
    pub refclock: RefclockConfig,
    #[serde(default)]
    pub nts: NtsConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub log: LogConfig,
    /// Upstream servers that witness the receiver's time (`[[source]]`, as in ntpd-rs).
    #[serde(default)]
    pub source: Vec<SourceConfig>,
    #[serde(default)]
    pub source_defaults: SourceDefaults,
    #[serde(default)]
    pub integrity: IntegrityConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NtpConfig {
    /// UDP addresses to serve on; port 0 picks a free port (tests).
    #[serde(default = "default_listen", deserialize_with = "non_empty_listen")]
    pub listen: Vec<SocketAddr>,
    /// Sockets (and threads) per listen address; 0 means one per CPU core.
    #[serde(default, deserialize_with = "workers")]
    pub workers: usize,
    /// Prefixes that may be served. Default: everyone.
    #[serde(default = "default_allow")]
    pub allow: Vec<Cidr>,
    /// Prefixes that are never served, even if allowed.
    #[serde(default)]
    pub deny: Vec<Cidr>,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Microseconds a worker waits after a partial batch under load, so requests gather and one
    /// wake-up serves many. Timestamps are unaffected (requests wait after their kernel receive
    /// timestamp); 0 turns it off.
    #[serde(default = "default_coalesce_us", deserialize_with = "coalesce_us")]
    pub coalesce_us: u64,
    /// An interface to serve through AF_XDP as well (needs CAP_NET_ADMIN and CAP_BPF, or root).
    /// Datagrams to the first listen address's port on any address of this interface are
    /// answered before the kernel's IP stack sees them; the UDP sockets serve the rest.
    #[serde(default, deserialize_with = "xdp_interface")]
    pub xdp_interface: Option<String>,
}

impl Default for NtpConfig {
    fn default() -> Self {
        NtpConfig {
            listen: default_listen(),
            workers: 0,
            allow: default_allow(),
            deny: Vec::new(),
            rate_limit: RateLimitConfig::default(),
            coalesce_us: default_coalesce_us(),
            xdp_interface: None,
        }
    }
}

impl NtpConfig {
    pub fn access_list(&self) -> AccessList {
        AccessList::new(self.allow.clone(), self.deny.clone())
    }

    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sustained requests per second per client (IPv4 address or IPv6 prefix).
    #[serde(default = "default_max_rate", deserialize_with = "max_rate")]
    pub max_rate: f64,
    /// Requests a client may send back to back before the rate applies.
    #[serde(default = "default_burst", deserialize_with = "burst")]
    pub burst: u32,
    /// One over-rate request in this many gets a RATE kiss-o'-death; the rest are dropped.
    #[serde(default = "default_kod_one_in", deserialize_with = "kod_one_in")]
    pub kiss_of_death_one_in: u32,
    #[serde(default = "default_ipv6_prefix", deserialize_with = "ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Size of the client table (fixed memory: 8 bytes a client).
    #[serde(default = "default_clients_tracked", deserialize_with = "clients_tracked")]
    pub clients_tracked: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            max_rate: default_max_rate(),
            burst: default_burst(),
            kiss_of_death_one_in: default_kod_one_in(),
            ipv6_prefix: default_ipv6_prefix(),
            clients_tracked: default_clients_tracked(),
        }
    }
}

impl RateLimitConfig {
    pub fn settings(&self) -> RateLimitSettings {
        RateLimitSettings {
            max_rate: self.max_rate,
            burst: self.burst,
            ipv6_prefix: self.ipv6_prefix,
            table_entries: self.clients_tracked,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_log_level")]
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: default_log_level() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Parses and validates `text`; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e: toml::de::Error| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        // Checks that span several keys, so no single line is to blame.
        if config.nts.enabled {
            config
                .nts
                .certificate_source()
                .map_err(|message| ConfigError::Invalid { path: origin.to_owned(), message })?;
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// The demo (configs/demo.toml, built in): what stratum1d runs without `--config`. An empty
    /// file, or `Config::default()`, is the appliance's defaults instead.
    pub fn demo() -> Result<Config, ConfigError> {
        Config::from_toml(DEMO_TOML, "configs/demo.toml (embedded)")
    }
}

fn yes() -> bool {
    true
}
fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 123)), SocketAddr::from(([0u16; 8], 123))]
}
fn default_allow() -> Vec<Cidr> {
    ["0.0.0.0/0", "::/0"].iter().filter_map(|s| s.parse().ok()).collect()
}
fn default_coalesce_us() -> u64 {
    500
}
fn default_max_rate() -> f64 {
    8.0
}
fn default_burst() -> u32 {
    16
}
fn default_kod_one_in() -> u32 {
    4
}
fn default_ipv6_prefix() -> u8 {
    64
}
fn default_clients_tracked() -> usize {
    65_536
}
fn default_log_level() -> LogLevel {
    LogLevel::Info
}

/// Reads a number and checks it is within `range`, naming `key` in the error.
pub(crate) fn yes_pub() -> bool {
    yes()
}

pub(crate) fn in_range<'de, D, T>(d: D, key: &str, range: std::ops::RangeInclusive<T>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + PartialOrd + std::fmt::Display,
{
    let value = T::deserialize(d)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{key}` must be between {} and {}, not {value}",
            range.start(),
            range.end()
        )))
    }
}

fn workers<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_range(d, "workers", 0..=256)
}
fn coalesce_us<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    in_range(d, "coalesce-us", 0..=10_000)
}
fn max_rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "max-rate", 0.001..=1000.0)
}
fn burst<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "burst", 1..=10_000)
}
fn kod_one_in<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "kiss-of-death-one-in", 1..=1_000_000)
}
fn ipv6_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    in_range(d, "ipv6-prefix", 0..=128)
}
fn clients_tracked<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_range(d, "clients-tracked", 16..=(1 << 24))
}
fn xdp_interface<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let name = String::deserialize(d)?;
    // IFNAMSIZ is 16 with the terminating NUL.
    if name.is_empty() || name.len() > 15 || name.contains(['/', '\0']) || name.contains(char::is_whitespace)
    {
        return Err(serde::de::Error::custom(format!("`xdp-interface` is not an interface name: {name:?}")));
    }
    Ok(Some(name))
}
fn non_empty_listen<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    let listen = Vec::<SocketAddr>::deserialize(d)?;
    if listen.is_empty() {
        return Err(serde::de::Error::custom("`listen` needs at least one address"));
    }
    Ok(listen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        Config::from_toml(text, "test.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_embedded_demo_config_is_valid_and_safe() {
        let c = Config::demo().unwrap();
        assert_ne!(c.clock.mode, crate::config::ClockMode::Kernel, "the demo never steers the host clock");
        assert_eq!(c.clock.local_stratum, None, "the demo must not claim a stratum from nothing");
        for addr in &c.ntp.listen {
            assert!(addr.ip().is_loopback(), "demo listens on loopback only: {addr}");
            assert!(addr.port() >= 1024, "demo needs no root: {addr}");
        }
    }

    #[test]
    fn the_demo_uses_the_simulated_receiver() {
        let c = Config::demo().unwrap();
        assert_eq!(c.refclock.kind, RefclockKind::Simulated);
        assert!(c.refclock.simulator.pps);
    }

    #[test]
    fn refclock_values_are_checked() {
        let e = error_of("[refclock]\nkind = \"nmea\"\nnmea-window-ms = 600\n");
        assert!(e.contains("line 3") && e.contains("`nmea-window-ms`"), "{e}");
        let e = error_of("[refclock.simulator]\nnmea-latency-ms = [600, 100]\n");
        assert!(e.contains("line 2") && e.contains("min <= max"), "{e}");
        let e = error_of("[refclock]\nkind = \"ublox\"\n");
        assert!(e.contains("line 2") && e.contains("ublox"), "{e}");
        let e = error_of("[refclock]\nweek-rollover = \"fix\"\n");
        assert!(e.contains("line 2") && e.contains("correct"), "{e}");
    }

    #[test]
    fn week_rollover_dates_are_refused_unless_correction_is_asked() {
        assert_eq!(Config::from_toml("", "t.toml").unwrap().refclock.week_rollover, WeekRollover::Refuse);
        let c = Config::from_toml("[refclock]\nweek-rollover = \"correct\"\n", "t.toml").unwrap();
        assert_eq!(c.refclock.week_rollover, WeekRollover::Correct);
    }

    #[test]
    fn the_xdp_interface_must_be_an_interface_name() {
        let c = Config::from_toml("[ntp]\nxdp-interface = \"eth0\"\n", "t.toml").unwrap();
        assert_eq!(c.ntp.xdp_interface.as_deref(), Some("eth0"));
        for bad in ["", "a-name-far-too-long", "../eth0", "eth 0"] {
            let e = error_of(&format!("[ntp]\nxdp-interface = {bad:?}\n"));
            assert!(e.contains("line 2") && e.contains("`xdp-interface`"), "{e}");
        }
        assert_eq!(Config::from_toml("", "empty.toml").unwrap().ntp.xdp_interface, None, "off by default");
    }

    #[test]
    fn defaults_are_the_appliance() {
        let c = Config::from_toml("", "empty.toml").unwrap();
        assert!(c.ntp.listen.iter().all(|a| a.port() == 123));
        assert!(c.ntp.rate_limit.enabled);
        assert!(c.ntp.access_list().permits("203.0.113.1".parse().unwrap()));
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let e = error_of("[ntp]\nworkers = 2\nlisten-on = [\"127.0.0.1:123\"]\n");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("listen-on"), "{e}");
        assert!(e.starts_with("test.toml: "), "{e}");
    }

    #[test]
    fn out_of_range_value_is_named_with_its_line() {
        let e = error_of("[ntp.rate-limit]\nenabled = true\nburst = 0\n");
        assert!(e.contains("line 3") && e.contains("`burst`"), "{e}");
        let e = error_of("[clock]\nlocal-stratum = 16\n");
        assert!(e.contains("line 2") && e.contains("`local-stratum`"), "{e}");
    }

    #[test]
    fn the_pps_offset_is_taken_and_half_of_it_bounds_the_error() {
        let c = Config::from_toml("[refclock]\npps-offset-ns = 11700\n", "t.toml").unwrap();
        assert_eq!(c.refclock.pps_offset_ns, 11_700);
        assert_eq!(c.clock.discipline(&c.refclock).pps_bias_bound_ns, 5_850.0);
        let c = Config::from_toml("[refclock]\npps-offset-ns = -4000\n", "t.toml").unwrap();
        assert_eq!(c.clock.discipline(&c.refclock).pps_bias_bound_ns, 2_000.0);
        let e = error_of("[refclock]\npps-offset-ns = 11700000\n");
        assert!(e.contains("line 2") && e.contains("`pps-offset-ns`"), "{e}");
    }

    #[test]
    fn bad_cidr_and_address_are_refused() {
        let e = error_of("[ntp]\nallow = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n");
        assert!(e.contains("line 2") && e.contains("/99"), "{e}");
        let e = error_of("[ntp]\nlisten = [\"localhost:123\"]\n");
        assert!(e.contains("line 2"), "{e}");
        let e = error_of("[ntp]\nlisten = []\n");
        assert!(e.contains("`listen`"), "{e}");
    }

    #[test]
    fn wrong_types_and_modes_are_refused() {
        assert!(error_of("[ntp]\nworkers = \"two\"\n").contains("line 2"));
        assert!(error_of("[clock]\nmode = \"steer-wildly\"\n").contains("steer-wildly"));
        assert!(error_of("[log]\nlevel = \"loud\"\n").contains("loud"));
    }
}
