//! `[[source]]` (upstream servers, in ntpd-rs's vocabulary) and `[integrity]` (how far the
//! receiver must agree with them).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::in_range;
use stratum1_core::integrity::GuardConfig;
use stratum1_core::sources::{SourceInfo, SourceMode};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    pub mode: SourceMode,
    /// `host[:port]`: the NTS-KE server (port 4460) for `nts`, the NTP server (123) for `server`.
    pub address: String,
    /// PEM file of the CAs to trust for this NTS source; the system's roots without it.
    #[serde(default)]
    pub certificate_authority: Option<PathBuf>,
    /// Whether it counts toward integrity and fallback. Default: NTS sources yes, plain NTP no
    /// (anyone on the path can forge a plain answer).
    #[serde(default)]
    pub trust: Option<bool>,
    /// Poll interval limits, log2 seconds (chrony's minpoll/maxpoll).
    #[serde(default = "default_poll_min", deserialize_with = "poll")]
    pub poll_min: i8,
    #[serde(default = "default_poll_max", deserialize_with = "poll")]
    pub poll_max: i8,
    /// Four quick requests at start (chrony's `iburst`).
    #[serde(default = "super::yes_pub")]
    pub iburst: bool,
}

impl SourceConfig {
    pub fn trusted(&self) -> bool {
        self.trust.unwrap_or(self.mode == SourceMode::Nts)
    }

    pub fn info(&self) -> SourceInfo {
        SourceInfo { address: self.address.clone(), mode: self.mode, trusted: self.trusted() }
    }
}

/// `[source-defaults]`: what applies to every `[[source]]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceDefaults {
    /// Keep NTS sessions (keys and cookies, mode 0600) here across restarts, like chrony's
    /// `ntsdumpdir`, so a restart needs no key establishment.
    #[serde(default)]
    pub cookie_dir: Option<PathBuf>,
    /// Accept an NTS server's certificate outside its validity period until the clock is
    /// first synchronised (chrony's `nocerttimecheck`): for a Pi without a real-time clock
    /// and without a receiver fix. Risk: an expired, possibly compromised, key is accepted
    /// in that window.
    #[serde(default)]
    pub skip_certificate_time_check: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IntegrityConfig {
    /// Path asymmetry allowed beyond the sources' root distance, microseconds.
    #[serde(default = "default_asymmetry_us", deserialize_with = "asymmetry_us")]
    pub asymmetry_allowance_us: f64,
    /// Network updates in a row that disagree before the receiver is distrusted.
    #[serde(default = "default_disagree_after", deserialize_with = "disagree_after")]
    pub disagree_after: u32,
    /// Network updates in a row that agree before a distrusted receiver is followed again.
    #[serde(default = "default_agree_after", deserialize_with = "agree_after")]
    pub agree_after: u32,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        IntegrityConfig {
            asymmetry_allowance_us: default_asymmetry_us(),
            disagree_after: default_disagree_after(),
            agree_after: default_agree_after(),
        }
    }
}

impl IntegrityConfig {
    pub fn guard(&self) -> GuardConfig {
        GuardConfig {
            asymmetry_allowance_ns: self.asymmetry_allowance_us * 1e3,
            disagree_after: self.disagree_after,
            agree_after: self.agree_after,
        }
    }
}

fn default_poll_min() -> i8 {
    4
}
fn default_poll_max() -> i8 {
    10
}
fn poll<'de, D: Deserializer<'de>>(d: D) -> Result<i8, D::Error> {
    in_range(d, "poll-min/poll-max", 0..=17)
}
fn default_asymmetry_us() -> f64 {
    GuardConfig::default().asymmetry_allowance_ns / 1e3
}
fn default_disagree_after() -> u32 {
    GuardConfig::default().disagree_after
}
fn default_agree_after() -> u32 {
    GuardConfig::default().agree_after
}
fn asymmetry_us<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    in_range(d, "asymmetry-allowance-us", 0.0..=1e6)
}
fn disagree_after<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "disagree-after", 1..=100)
}
fn agree_after<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "agree-after", 1..=1000)
}
