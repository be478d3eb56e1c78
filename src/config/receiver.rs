//! `[refclock]`: which receiver, how it is wired, and the simulator's scenario. (The file is
//! not called refclock.rs so that `refclock::` here means the crate.)

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::in_range;
pub use refclock::link::Polarity;
pub use refclock_core::nmea::WeekRollover;
use refclock_core::sim::SimConfig;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefclockKind {
    /// No receiver: the server stays unsynchronised (or at `local-stratum`).
    #[default]
    None,
    /// A real receiver: NMEA on `device`, PPS as `pps` says.
    Nmea,
    /// The built-in simulated receiver, over a pty; PPS as `[refclock.simulator]` says.
    Simulated,
    /// Any receiver gpsd reads, through gpsd's JSON at `gpsd`: its reports label the seconds
    /// and its PPS reports (the kernel's stamps) give the edges; our pairing decides.
    Gpsd,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PpsKind {
    /// NMEA only: milliseconds of error, announced as such.
    #[default]
    None,
    /// `/dev/ppsN` from the pps-gpio overlay (or a serial line's DCD).
    Kernel,
    /// A GPIO line read directly, for boards without the overlay.
    Gpio,
}

/// `edge`'s names for the PPS shells' own [`Polarity`], which holds the meaning: serde checks
/// that the two list the same variants.
#[derive(Deserialize)]
#[serde(remote = "Polarity", rename_all = "kebab-case")]
enum EdgeName {
    Assert,
    Clear,
}

fn default_edge() -> Polarity {
    Polarity::Assert
}

/// `week-rollover`'s names for the decoder's own [`WeekRollover`], which holds the meaning:
/// serde checks that the two list the same variants.
#[derive(Deserialize)]
#[serde(remote = "WeekRollover", rename_all = "kebab-case")]
enum WeekRolloverName {
    Refuse,
    Correct,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RefclockConfig {
    #[serde(default)]
    pub kind: RefclockKind,
    #[serde(default = "default_device")]
    pub device: PathBuf,
    /// gpsd's address for `kind = "gpsd"` (`host:port`).
    #[serde(default = "default_gpsd", deserialize_with = "gpsd_address")]
    pub gpsd: String,
    #[serde(default = "default_baud", deserialize_with = "baud")]
    pub baud: u32,
    #[serde(default)]
    pub pps: PpsKind,
    #[serde(default = "default_pps_device")]
    pub pps_device: PathBuf,
    #[serde(default = "default_gpio_chip")]
    pub gpio_chip: PathBuf,
    #[serde(default = "default_gpio_line", deserialize_with = "gpio_line")]
    pub gpio_line: u32,
    /// Which edge of the pulse marks the second (`assert`, the rising edge, or `clear`).
    #[serde(default = "default_edge", with = "EdgeName")]
    pub edge: Polarity,
    /// How late the PPS timestamps are, ns (positive: after the true edge), like chrony's
    /// refclock `offset`: subtracted from every edge, and half of it counted in the error
    /// bound, since such a latency is a typical figure that moves with the board's settings.
    #[serde(default, deserialize_with = "pps_offset_ns")]
    pub pps_offset_ns: i64,
    /// When the NMEA for a second arrives relative to its edge; negative if before.
    #[serde(default = "default_nmea_delay_ms", deserialize_with = "nmea_delay_ms")]
    pub nmea_delay_ms: i32,
    /// Half-width of the window around that delay; labels outside it are not used.
    #[serde(default = "default_nmea_window_ms", deserialize_with = "nmea_window_ms")]
    pub nmea_window_ms: u32,
    /// With PPS configured but no edge seen this long after the first label, time from the
    /// labels alone (announced as `NMEA`, milliseconds of error) until the first edge.
    /// 0: never; the server then stays unsynchronised without PPS.
    #[serde(default = "default_nmea_fallback_s", deserialize_with = "nmea_fallback_s")]
    pub nmea_fallback_s: u32,
    /// What to do with a receiver date from the GPS era (1024 weeks) before the release date.
    #[serde(default, with = "WeekRolloverName")]
    pub week_rollover: WeekRollover,
    #[serde(default)]
    pub simulator: SimulatorConfig,
}

impl Default for RefclockConfig {
    fn default() -> Self {
        RefclockConfig {
            kind: RefclockKind::None,
            device: default_device(),
            gpsd: default_gpsd(),
            baud: default_baud(),
            pps: PpsKind::None,
            pps_device: default_pps_device(),
            gpio_chip: default_gpio_chip(),
            gpio_line: default_gpio_line(),
            edge: default_edge(),
            pps_offset_ns: 0,
            nmea_delay_ms: default_nmea_delay_ms(),
            nmea_window_ms: default_nmea_window_ms(),
            nmea_fallback_s: default_nmea_fallback_s(),
            week_rollover: WeekRollover::Refuse,
            simulator: SimulatorConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SimulatorConfig {
    /// NMEA arrives uniformly within [min, max] ms after its edge.
    #[serde(default = "default_latency", deserialize_with = "latency")]
    pub nmea_latency_ms: [u32; 2],
    /// PPS timestamp jitter: Gaussian, this standard deviation.
    #[serde(default = "default_jitter", deserialize_with = "jitter")]
    pub pps_jitter_ns: u32,
    /// Percentage of edges whose interrupt is served late ...
    #[serde(default = "default_late_percent", deserialize_with = "late_percent")]
    pub late_pps_percent: f64,
    /// ... by up to this many microseconds (uniform).
    #[serde(default = "default_late_max_us", deserialize_with = "late_max_us")]
    pub late_pps_max_us: u32,
    /// Whether the simulated receiver produces PPS edges.
    #[serde(default = "yes")]
    pub pps: bool,
    /// Lose the fix every this many seconds (0: never) ...
    #[serde(default)]
    pub fix_loss_every_s: u32,
    /// ... for this many seconds.
    #[serde(default)]
    pub fix_loss_for_s: u32,
    /// From this second on (0: never), label every second wrongly by `label-jump-by-s`.
    #[serde(default)]
    pub label_jump_at_s: u32,
    #[serde(default)]
    pub label_jump_by_s: i64,
    /// From this second on (0: never), every PPS edge is moved by `spoof-pull-ns-per-s` more
    /// each second: a spoofer walking the time away.
    #[serde(default)]
    pub spoof_pull_at_s: u32,
    #[serde(default)]
    pub spoof_pull_ns_per_s: f64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            nmea_latency_ms: default_latency(),
            pps_jitter_ns: default_jitter(),
            late_pps_percent: default_late_percent(),
            late_pps_max_us: default_late_max_us(),
            pps: true,
            fix_loss_every_s: 0,
            fix_loss_for_s: 0,
            label_jump_at_s: 0,
            label_jump_by_s: 0,
            spoof_pull_at_s: 0,
            spoof_pull_ns_per_s: 0.0,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_device() -> PathBuf {
    "/dev/serial0".into()
}
fn default_gpsd() -> String {
    "127.0.0.1:2947".into()
}
fn gpsd_address<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let address = String::deserialize(d)?;
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(address),
        _ => Err(serde::de::Error::custom(format!(
            "`gpsd` must be host:port, such as 127.0.0.1:2947, not `{address}`"
        ))),
    }
}
fn default_baud() -> u32 {
    9600
}
fn default_pps_device() -> PathBuf {
    "/dev/pps0".into()
}
fn default_gpio_chip() -> PathBuf {
    "/dev/gpiochip0".into()
}
fn default_gpio_line() -> u32 {
    4
}
fn default_nmea_delay_ms() -> i32 {
    300
}
fn default_nmea_window_ms() -> u32 {
    400
}
fn default_nmea_fallback_s() -> u32 {
    30
}
// The simulator's defaults are the simulated receiver's own (refclock-core's SimConfig), in
// the units the file uses.
fn default_latency() -> [u32; 2] {
    let (low, high) = SimConfig::default().nmea_latency_ms;
    [low, high]
}
fn default_jitter() -> u32 {
    SimConfig::default().pps_jitter_ns
}
fn default_late_percent() -> f64 {
    SimConfig::default().late_edges.0 * 100.0
}
fn default_late_max_us() -> u32 {
    SimConfig::default().late_edges.1 / 1_000
}

fn baud<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "baud", 1200..=921_600)
}
fn gpio_line<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "gpio-line", 0..=1023)
}
fn nmea_delay_ms<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    in_range(d, "nmea-delay-ms", -900..=990)
}
fn pps_offset_ns<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    // A millisecond is far beyond any interrupt latency: a larger value is a unit mistake.
    in_range(d, "pps-offset-ns", -1_000_000..=1_000_000)
}
fn nmea_window_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    // Below 500 ms so neighbouring seconds' windows never overlap.
    in_range(d, "nmea-window-ms", 10..=490)
}
fn nmea_fallback_s<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "nmea-fallback-s", 0..=86_400)
}
fn jitter<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "pps-jitter-ns", 0..=100_000_000)
}
fn late_percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "late-pps-percent", 0.0..=100.0)
}
fn late_max_us<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "late-pps-max-us", 0..=900_000)
}
fn latency<'de, D: Deserializer<'de>>(d: D) -> Result<[u32; 2], D::Error> {
    let [min, max] = <[u32; 2]>::deserialize(d)?;
    if min > max || max > 990 {
        return Err(serde::de::Error::custom(format!(
            "`nmea-latency-ms` must be [min, max] with min <= max <= 990, not [{min}, {max}]"
        )));
    }
    Ok([min, max])
}
