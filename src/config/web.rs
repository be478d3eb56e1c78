//! `[web]`: the status page, `/api/status` and `/metrics` (read-only).

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use super::in_range;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub enabled: bool,
    /// TCP addresses; loopback unless the page should be seen on the LAN.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// Connections served at once; more wait in the kernel's backlog.
    #[serde(default = "default_max_connections", deserialize_with = "max_connections")]
    pub max_connections: usize,
    /// A connection on which nothing moves for this long is closed.
    #[serde(default = "default_idle_timeout_s", deserialize_with = "idle_timeout_s")]
    pub idle_timeout_s: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: false,
            listen: default_listen(),
            max_connections: default_max_connections(),
            idle_timeout_s: default_idle_timeout_s(),
        }
    }
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 8123))]
}
fn default_max_connections() -> usize {
    32
}
fn default_idle_timeout_s() -> u64 {
    10
}
fn idle_timeout_s<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    in_range(d, "idle-timeout-s", 1..=3600)
}
fn max_connections<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_range(d, "max-connections", 1..=10_000)
}
