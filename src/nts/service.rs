//! Wiring of NTS for the daemon: keys, certificate, the rotation thread and the
//! key-establishment server, from `[nts]`.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::certificates::{
    load_or_make_local_ca, make_throwaway_ca, ReloadingIdentity, RunDirectory, ThrowawayCa,
};
use super::ke_server::{KeCounters, KeServer, KeSettings};
use super::key_store::{self, KeyRotation};
use super::os_random;
use crate::config::{CertificateSource, NtsConfig};
use stratum1_core::nts::ke_records::KeOffer;
use stratum1_core::nts::{NtsPolicy, SharedKeys};

/// Everything that can fail at start, done before any socket is opened.
pub struct PreparedNts {
    /// The CA clients should trust, when this server made one (demo or appliance).
    ca_certificate: Option<std::path::PathBuf>,
    keys: SharedKeys,
    identity: Arc<ReloadingIdentity>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    throwaway_ca: Option<ThrowawayCa>,
    run_directory: Option<RunDirectory>,
}

pub struct NtsService {
    ke: KeServer,
    rotation: KeyRotation,
    pub counters: Arc<KeCounters>,
    pub throwaway_ca: Option<ThrowawayCa>,
    /// For the status page: the served certificate and the current cookie key.
    pub identity: Arc<ReloadingIdentity>,
    pub keys: SharedKeys,
    pub ca_certificate: Option<std::path::PathBuf>,
    /// The throwaway CA's directory made for this run: removed when the service is dropped.
    _run_directory: Option<RunDirectory>,
}

/// For `stratum1d --check-config`: opens the certificate and key the daemon would serve and
/// checks they belong together, without making or changing any file. `Ok` carries a note
/// for identities made at start (a throwaway or a new local CA).
pub fn check_identity(config: &NtsConfig) -> Result<Option<String>, String> {
    let provider = rustls::crypto::ring::default_provider();
    let (certificate, private_key) = match config.certificate_source()? {
        CertificateSource::Files { certificate, private_key } => (certificate, private_key),
        CertificateSource::ThrowawayCa { .. } => {
            return Ok(Some("a throwaway CA is made at every start".into()))
        }
        CertificateSource::LocalCa { dir } => {
            let (certificate, private_key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !certificate.exists() && !private_key.exists() {
                return Ok(Some(format!("the local CA is made in {} at the first start", dir.display())));
            }
            (certificate, private_key)
        }
    };
    crate::nts::certificates::load_identity(&certificate, &private_key, &provider)
        .map(|_| None)
        .map_err(|e| e.to_string())
}

pub fn prepare(config: &NtsConfig) -> io::Result<PreparedNts> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let source = config.certificate_source().map_err(invalid)?;
    let mut run_directory = None;
    let (certificate, private_key, throwaway_ca, ca_certificate) = match source {
        CertificateSource::Files { certificate, private_key } => (certificate, private_key, None, None),
        CertificateSource::ThrowawayCa { dir } => {
            let dir = match dir {
                Some(dir) => dir,
                None => {
                    let fresh = RunDirectory::create("stratum1-demo-ca")?;
                    let path = fresh.path().to_owned();
                    run_directory = Some(fresh);
                    path
                }
            };
            let ca = make_throwaway_ca(&dir).map_err(|e| invalid(e.to_string()))?;
            let trusted = Some(ca.ca_certificate.clone());
            (ca.certificate.clone(), ca.private_key.clone(), Some(ca), trusted)
        }
        CertificateSource::LocalCa { dir } => {
            let ca = load_or_make_local_ca(&dir).map_err(|e| invalid(e.to_string()))?;
            tracing::info!(
                "nts: local CA in {}; clients trust {}",
                dir.display(),
                ca.ca_certificate.display()
            );
            (ca.certificate, ca.private_key, None, Some(ca.ca_certificate))
        }
    };
    let identity = ReloadingIdentity::load(&certificate, &private_key, provider.clone())
        .map_err(|e| invalid(e.to_string()))?;
    if config.key_file.is_none() {
        tracing::warn!(
            "nts: no `key-file`: cookie keys live in memory, so a restart makes clients repeat NTS-KE"
        );
    }
    let keys =
        key_store::load_or_create(config.key_file.as_deref(), config.key_rotation_s, config.keys_kept)?;
    Ok(PreparedNts {
        ca_certificate,
        keys: Arc::new(RwLock::new(keys)),
        identity: Arc::new(identity),
        provider,
        throwaway_ca,
        run_directory,
    })
}

impl PreparedNts {
    pub fn policy(&self, require: bool) -> NtsPolicy {
        NtsPolicy { keys: self.keys.clone(), require, random: os_random }
    }

    /// Starts rotation and the KE server. `ntp_addrs` are the bound NTP addresses: their port is
    /// announced when it is not 123 and no `ntp-port` is configured.
    pub fn start(self, config: &NtsConfig, ntp_addrs: &[SocketAddr]) -> io::Result<NtsService> {
        let ntp_port = config.ntp_port.or_else(|| ntp_addrs.first().map(|a| a.port()).filter(|p| *p != 123));
        let order: Vec<&str> = config.aead_preference.iter().map(|a| a.name()).collect();
        let processor = if stratum1_core::nts::hardware_aes() { "with" } else { "without" };
        tracing::info!(
            "nts: AEAD preference {} (this processor runs AES {processor} AES instructions)",
            order.join(", ")
        );
        let settings = KeSettings {
            listen: config.listen.clone(),
            offer: KeOffer {
                aead_preference: config.aead_preference.clone(),
                ntp_server: config.ntp_server.clone(),
                ntp_port,
            },
            max_connections: config.max_connections,
            exchange_timeout: Duration::from_millis(config.exchange_timeout_ms),
            max_request_bytes: config.max_request_bytes,
            certificate_check: Duration::from_secs(config.certificate_check_s),
        };
        let counters = Arc::new(KeCounters::default());
        let rotation = KeyRotation::start(self.keys.clone(), config.key_file.clone())?;
        let ke = match KeServer::start(
            settings,
            self.identity.clone(),
            self.provider,
            self.keys.clone(),
            counters.clone(),
        ) {
            Ok(ke) => ke,
            Err(e) => {
                rotation.shutdown();
                return Err(e);
            }
        };
        Ok(NtsService {
            ke,
            rotation,
            counters,
            throwaway_ca: self.throwaway_ca,
            _run_directory: self.run_directory,
            identity: self.identity,
            keys: self.keys,
            ca_certificate: self.ca_certificate,
        })
    }
}

impl NtsService {
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.ke.local_addrs
    }

    pub fn shutdown(self) {
        self.ke.shutdown();
        self.rotation.shutdown();
    }
}
