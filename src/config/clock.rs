//! `[clock]`: how the host clock is treated, the discipline's limits, leap seconds, the state
//! file, and the simulated oscillator of `mode = "simulated"`.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::in_range;
use super::receiver::RefclockConfig;
use stratum1_core::clock::DisciplineConfig;
use stratum1_core::clock::{OscillatorConfig, TemperatureStep};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClockConfig {
    #[serde(default = "default_mode")]
    pub mode: ClockMode,
    /// Announce this stratum from the host clock with no reference (chrony's `local stratum`).
    /// Only for an operator who vouches for the host clock; unset means stratum 16 until locked.
    #[serde(default, deserialize_with = "local_stratum")]
    pub local_stratum: Option<u8>,
    /// Step instead of slewing when the error exceeds this (chrony's `makestep` threshold) ...
    #[serde(default = "default_step_threshold_ms", deserialize_with = "step_threshold_ms")]
    pub step_threshold_ms: f64,
    /// ... during the first this many updates (0: never step).
    #[serde(default = "default_step_limit", deserialize_with = "step_limit")]
    pub step_limit: u32,
    /// Announce unsynchronised after this long without a reference.
    #[serde(default = "default_holdover_limit_s", deserialize_with = "holdover_limit_s")]
    pub holdover_limit_s: f64,
    /// How fast the announced error grows in holdover beyond the model (chrony's
    /// `maxclockerror`).
    #[serde(default = "default_max_clock_error_ppm", deserialize_with = "max_clock_error_ppm")]
    pub max_clock_error_ppm: f64,
    /// tzdata's list; an expired or missing list is a warning and no leap is announced.
    #[serde(default = "default_leap_seconds_file")]
    pub leap_seconds_file: Option<PathBuf>,
    /// Drift and history, kept across restarts (unset: nothing is written).
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    #[serde(default)]
    pub simulator: ClockSimulatorConfig,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            mode: default_mode(),
            local_stratum: None,
            step_threshold_ms: default_step_threshold_ms(),
            step_limit: default_step_limit(),
            holdover_limit_s: default_holdover_limit_s(),
            max_clock_error_ppm: default_max_clock_error_ppm(),
            leap_seconds_file: default_leap_seconds_file(),
            state_file: None,
            simulator: ClockSimulatorConfig::default(),
        }
    }
}

impl ClockConfig {
    /// The discipline's settings; the receiver's declared NMEA window bounds what labels
    /// timed alone can be off by, and half its PPS offset what its edges can be.
    pub fn discipline(&self, refclock: &RefclockConfig) -> DisciplineConfig {
        DisciplineConfig {
            nmea_bias_bound_ns: f64::from(refclock.nmea_window_ms) * 1e6,
            pps_bias_bound_ns: refclock.pps_offset_ns.unsigned_abs() as f64 / 2.0,
            steers: self.mode != ClockMode::ObserveOnly,
            step_threshold_ns: self.step_threshold_ms * 1e6,
            step_limit: self.step_limit,
            holdover_limit_s: self.holdover_limit_s,
            max_clock_error_ppb: self.max_clock_error_ppm * 1e3,
            ..DisciplineConfig::default()
        }
    }
}

/// The simulated oscillator behind `mode = "simulated"`: the host clock plays the reference.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClockSimulatorConfig {
    #[serde(default = "default_frequency_ppm", deserialize_with = "frequency_ppm")]
    pub frequency_ppm: f64,
    /// Frequency random walk, ppb per √s.
    #[serde(default = "default_wander_ppb", deserialize_with = "wander_ppb")]
    pub wander_ppb: f64,
    /// The simulated clock's error at start.
    #[serde(default = "default_initial_offset_ms", deserialize_with = "initial_offset_ms")]
    pub initial_offset_ms: f64,
    /// A temperature step `temperature-step-at-s` after start (0: none) ...
    #[serde(default)]
    pub temperature_step_at_s: u32,
    /// ... moving the frequency by this much ...
    #[serde(default = "default_temperature_step_ppb")]
    pub temperature_step_ppb: f64,
    /// ... with this thermal time constant.
    #[serde(default = "default_temperature_time_constant_s")]
    pub temperature_time_constant_s: f64,
}

impl Default for ClockSimulatorConfig {
    fn default() -> Self {
        ClockSimulatorConfig {
            frequency_ppm: default_frequency_ppm(),
            wander_ppb: default_wander_ppb(),
            initial_offset_ms: default_initial_offset_ms(),
            temperature_step_at_s: 0,
            temperature_step_ppb: default_temperature_step_ppb(),
            temperature_time_constant_s: default_temperature_time_constant_s(),
        }
    }
}

impl ClockSimulatorConfig {
    pub fn oscillator(&self, seed: u64) -> OscillatorConfig {
        OscillatorConfig {
            frequency_ppb: self.frequency_ppm * 1e3,
            wander_ppb: self.wander_ppb,
            temperature_step: (self.temperature_step_at_s > 0).then(|| TemperatureStep {
                at_s: f64::from(self.temperature_step_at_s),
                by_ppb: self.temperature_step_ppb,
                time_constant_s: self.temperature_time_constant_s,
            }),
            seed,
        }
    }
}

fn default_mode() -> ClockMode {
    ClockMode::ObserveOnly
}
fn default_step_threshold_ms() -> f64 {
    1.0
}
fn default_step_limit() -> u32 {
    3
}
fn default_holdover_limit_s() -> f64 {
    3_600.0
}
fn default_max_clock_error_ppm() -> f64 {
    1.0
}
fn default_leap_seconds_file() -> Option<PathBuf> {
    Some("/usr/share/zoneinfo/leap-seconds.list".into())
}
fn default_frequency_ppm() -> f64 {
    30.0
}
fn default_wander_ppb() -> f64 {
    1.0
}
fn default_initial_offset_ms() -> f64 {
    5.0
}
fn default_temperature_step_ppb() -> f64 {
    1_000.0
}
fn default_temperature_time_constant_s() -> f64 {
    120.0
}

fn local_stratum<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    in_range(d, "local-stratum", 1..=15).map(Some)
}
fn step_threshold_ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "step-threshold-ms", 0.001..=1e9)
}
fn step_limit<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "step-limit", 0..=1_000_000)
}
fn holdover_limit_s<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "holdover-limit-s", 1.0..=1e7)
}
fn max_clock_error_ppm<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "max-clock-error-ppm", 0.0..=500.0)
}
fn frequency_ppm<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "frequency-ppm", -500.0..=500.0)
}
fn wander_ppb<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "wander-ppb", 0.0..=1_000.0)
}
fn initial_offset_ms<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "initial-offset-ms", -1e6..=1e6)
}

/// How the daemon treats the host clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// Read the host clock, never adjust it (like `chronyd -x`): everything is estimated and
    /// announced, nothing is steered.
    ObserveOnly,
    /// Steer a simulated clock and oscillator; the host clock plays the reference and is only
    /// read. The demo and the tests use this or observe-only.
    Simulated,
    /// Steer the host clock through `clock_adjtime` (the appliance; needs CAP_SYS_TIME).
    Kernel,
}
