//! `[nts]`: the NTS key-establishment server, its certificate, the cookie keys and their
//! rotation, and whether plain NTP is still served.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::in_range;
use stratum1_core::nts::AeadAlgorithm;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NtsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// TCP addresses for NTS-KE (4460 is the IANA port); port 0 picks a free port (tests).
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain, leaf first (e.g. certbot's fullchain.pem). Re-read when it changes.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// Instead of `certificate`/`private-key`: make a throwaway CA and a `localhost` certificate
    /// in this directory at every start (the demo). Clients trust `ca.pem` there.
    #[serde(default)]
    pub throwaway_ca_dir: Option<PathBuf>,
    /// The same, in a fresh private directory made for this run (printed at start, removed at
    /// exit), so that two demos never share a key: what the demo uses.
    #[serde(default)]
    pub throwaway_ca: bool,
    /// Instead of `certificate`/`private-key`: a local CA and certificate made in this
    /// directory on first start and kept (the appliance; clients pin its fingerprint).
    #[serde(default)]
    pub local_ca_dir: Option<PathBuf>,
    /// How often the certificate files are checked for a renewal, in seconds.
    #[serde(default = "default_certificate_check_s", deserialize_with = "certificate_check_s")]
    pub certificate_check_s: u64,
    /// The cookie master keys, kept across restarts (mode 0600). Unset: keys live in memory
    /// and a restart makes every client repeat key establishment.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// A new master key every this many seconds (default daily).
    #[serde(default = "default_key_rotation_s", deserialize_with = "key_rotation_s")]
    pub key_rotation_s: u64,
    /// Previous master keys kept: cookies stay valid at least `key-rotation-s × keys-kept`.
    #[serde(default = "default_keys_kept", deserialize_with = "keys_kept")]
    pub keys_kept: u32,
    /// The server's AEAD preference, best first.
    #[serde(default = "default_aead_preference", deserialize_with = "aead_preference")]
    pub aead_preference: Vec<AeadAlgorithm>,
    /// Sent to clients as the NTPv4 Server record (unset: clients use the KE server's name).
    #[serde(default)]
    pub ntp_server: Option<String>,
    /// Sent as the NTPv4 Port record (unset: the NTP listen port, when it is not 123).
    #[serde(default)]
    pub ntp_port: Option<u16>,
    /// Drop plain NTP; only NTS-authenticated requests are answered.
    #[serde(default)]
    pub require: bool,
    /// Key-establishment connections served at once; more are closed at once.
    #[serde(default = "default_max_connections", deserialize_with = "max_connections")]
    pub max_connections: usize,
    /// Deadline for a whole exchange (TLS handshake, request, response), in milliseconds.
    #[serde(default = "default_exchange_timeout_ms", deserialize_with = "exchange_timeout_ms")]
    pub exchange_timeout_ms: u64,
    /// Largest request accepted, in bytes.
    #[serde(default = "default_max_request_bytes", deserialize_with = "max_request_bytes")]
    pub max_request_bytes: usize,
}

impl Default for NtsConfig {
    fn default() -> Self {
        NtsConfig {
            enabled: false,
            listen: default_listen(),
            certificate: None,
            private_key: None,
            throwaway_ca_dir: None,
            throwaway_ca: false,
            local_ca_dir: None,
            certificate_check_s: default_certificate_check_s(),
            key_file: None,
            key_rotation_s: default_key_rotation_s(),
            keys_kept: default_keys_kept(),
            aead_preference: default_aead_preference(),
            ntp_server: None,
            ntp_port: None,
            require: false,
            max_connections: default_max_connections(),
            exchange_timeout_ms: default_exchange_timeout_ms(),
            max_request_bytes: default_max_request_bytes(),
        }
    }
}

/// Where the TLS identity comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateSource {
    Files {
        certificate: PathBuf,
        private_key: PathBuf,
    },
    /// `dir: None`: a fresh private directory for this run.
    ThrowawayCa {
        dir: Option<PathBuf>,
    },
    LocalCa {
        dir: PathBuf,
    },
}

impl NtsConfig {
    /// The certificate source, or why the configuration has none (checked at start).
    pub fn certificate_source(&self) -> Result<CertificateSource, String> {
        if self.throwaway_ca {
            return match (&self.certificate, &self.private_key, &self.throwaway_ca_dir, &self.local_ca_dir) {
                (None, None, None, None) => Ok(CertificateSource::ThrowawayCa { dir: None }),
                _ => Err("[nts]: `throwaway-ca` makes its own certificate: leave out `certificate`, `private-key`, `local-ca-dir` and `throwaway-ca-dir`".into()),
            };
        }
        match (&self.certificate, &self.private_key, &self.throwaway_ca_dir, &self.local_ca_dir) {
            (Some(c), Some(k), None, None) => {
                Ok(CertificateSource::Files { certificate: c.clone(), private_key: k.clone() })
            }
            (None, None, Some(dir), None) => Ok(CertificateSource::ThrowawayCa { dir: Some(dir.clone()) }),
            (None, None, None, Some(dir)) => Ok(CertificateSource::LocalCa { dir: dir.clone() }),
            (None, None, None, None) => Err(
                "[nts]: set `certificate` + `private-key`, `local-ca-dir`, `throwaway-ca-dir` or `throwaway-ca = true` when NTS is enabled"
                    .into(),
            ),
            (Some(_), None, None, None) | (None, Some(_), None, None) => {
                Err("[nts]: `certificate` and `private-key` go together: set both".into())
            }
            _ => Err("[nts]: set only one of `certificate` + `private-key`, `local-ca-dir` and `throwaway-ca-dir`".into()),
        }
    }
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], 4460)), SocketAddr::from(([0u16; 8], 4460))]
}
fn default_certificate_check_s() -> u64 {
    60
}
fn default_key_rotation_s() -> u64 {
    86_400
}
fn default_keys_kept() -> u32 {
    7
}
/// By this processor: AES-SIV-CMAC-256 first with AES instructions, AES-128-GCM-SIV without.
fn default_aead_preference() -> Vec<AeadAlgorithm> {
    AeadAlgorithm::default_preference(stratum1_core::nts::hardware_aes())
}
fn default_max_connections() -> usize {
    256
}
fn default_exchange_timeout_ms() -> u64 {
    5_000
}
fn default_max_request_bytes() -> usize {
    1024
}

fn certificate_check_s<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    in_range(d, "certificate-check-s", 1..=86_400)
}
fn key_rotation_s<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    in_range(d, "key-rotation-s", 1..=365 * 86_400)
}
fn keys_kept<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    in_range(d, "keys-kept", 1..=1000)
}
fn max_connections<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_range(d, "max-connections", 1..=100_000)
}
fn exchange_timeout_ms<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    in_range(d, "exchange-timeout-ms", 100..=60_000)
}
fn max_request_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    in_range(d, "max-request-bytes", 64..=65_536)
}
fn aead_preference<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AeadAlgorithm>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(serde::de::Error::custom("`aead-preference` must name at least one algorithm"));
    }
    names
        .iter()
        .map(|name| {
            AeadAlgorithm::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = AeadAlgorithm::ALL.iter().map(|a| a.name()).collect();
                serde::de::Error::custom(format!("unknown AEAD `{name}`; known: {}", known.join(", ")))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_throwaway_ca_of_the_runs_own_takes_no_other_certificate_setting() {
        let c = Config::from_toml("[nts]\nenabled = true\nthrowaway-ca = true\n", "t").unwrap();
        assert_eq!(
            c.nts.certificate_source(),
            Ok(crate::config::CertificateSource::ThrowawayCa { dir: None })
        );
        let e = Config::from_toml("[nts]\nenabled = true\nthrowaway-ca = true\nlocal-ca-dir = \"/x\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("leave out"), "{e}");
    }

    #[test]
    fn defaults_and_errors_name_their_keys() {
        let config =
            Config::from_toml("[nts]\nenabled = true\nthrowaway-ca-dir = \"/tmp/x\"\n", "t").unwrap();
        assert!(config.nts.enabled);
        assert_eq!(config.nts.key_rotation_s, 86_400);
        assert_eq!(
            config.nts.aead_preference,
            stratum1_core::nts::AeadAlgorithm::default_preference(stratum1_core::nts::hardware_aes())
        );
        assert!(config.nts.certificate_source().is_ok());

        let e = Config::from_toml("[nts]\naead-preference = [\"AES-SIV-CMAC-128\"]\n", "t").unwrap_err();
        assert!(e.to_string().contains("unknown AEAD `AES-SIV-CMAC-128`"), "{e}");
        let e = Config::from_toml("[nts]\nkeys-kept = 0\n", "t").unwrap_err();
        assert!(e.to_string().contains("keys-kept") && e.to_string().contains("line 2"), "{e}");
        let e = Config::from_toml("[nts]\nenabled = true\ncertificate = \"/a\"\n", "t").unwrap_err();
        assert!(e.to_string().contains("private-key"), "{e}");
    }
}
