//! The TLS identity of the key-establishment server: a PEM chain and key read from files and
//! re-read when they change (a certbot renewal needs no restart, and handshakes in flight keep
//! the identity they started with), or a throwaway CA and `localhost` certificate for the demo.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: PathBuf },
    #[error("{path}: no PEM private key found ({detail})")]
    NoKey { path: PathBuf, detail: String },
    #[error("{path}: the key does not fit the certificate or is not supported: {detail}")]
    Unusable { path: PathBuf, detail: String },
    #[error("cannot make the throwaway CA in {path}: {detail}")]
    Generate { path: PathBuf, detail: String },
}

/// The files an identity was read from, and what they looked like then.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = fs::metadata(path).ok()?;
    Some(FileStamp { modified: meta.modified().ok(), len: meta.len() })
}

/// Reads a chain and its key into what rustls serves.
pub fn load_identity(
    certificate: &Path,
    private_key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertificateError> {
    let chain_pem = fs::read(certificate)
        .map_err(|source| CertificateError::Read { path: certificate.into(), source })?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&chain_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(CertificateError::NoCertificate { path: certificate.into() });
    }
    let key_pem = fs::read(private_key)
        .map_err(|source| CertificateError::Read { path: private_key.into(), source })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| CertificateError::NoKey { path: private_key.into(), detail: e.to_string() })?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| CertificateError::Unusable { path: private_key.into(), detail: e.to_string() })
}

/// Serves the current identity and swaps in a renewed one when the files change.
#[derive(Debug)]
pub struct ReloadingIdentity {
    certificate: PathBuf,
    private_key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Option<FileStamp>, Option<FileStamp>)>,
}

impl ReloadingIdentity {
    /// Loads the files once; an error here stops the daemon at start with the file named.
    pub fn load(
        certificate: &Path,
        private_key: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, CertificateError> {
        let (cert_stamp, key_stamp) = (stamp(certificate), stamp(private_key));
        let identity = load_identity(certificate, private_key, &provider)?;
        Ok(ReloadingIdentity {
            certificate: certificate.into(),
            private_key: private_key.into(),
            provider,
            current: RwLock::new((Arc::new(identity), cert_stamp, key_stamp)),
        })
    }

    /// Re-reads the files if either changed. Returns whether a new identity is now served. A
    /// renewal caught half-written fails to load and is retried on the next check; the old
    /// identity stays in service meanwhile.
    pub fn reload_if_changed(&self) -> Result<bool, CertificateError> {
        let (cert_stamp, key_stamp) = (stamp(&self.certificate), stamp(&self.private_key));
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.1 == cert_stamp && current.2 == key_stamp {
                return Ok(false);
            }
        }
        let identity = load_identity(&self.certificate, &self.private_key, &self.provider)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            (Arc::new(identity), cert_stamp, key_stamp);
        Ok(true)
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone()
    }
}

impl ResolvesServerCert for ReloadingIdentity {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A private directory for this run only (mode 0700, a random name under the system's
/// temporary directory), removed when dropped: the demo's CA, never shared with another run.
pub struct RunDirectory {
    path: PathBuf,
}

impl RunDirectory {
    pub fn create(prefix: &str) -> std::io::Result<RunDirectory> {
        use std::os::unix::fs::DirBuilderExt;
        let mut last = None;
        for _ in 0..8 {
            let mut suffix = [0u8; 6];
            if !super::os_random(&mut suffix) {
                return Err(std::io::Error::other("no randomness for a directory name"));
            }
            let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
            let path = std::env::temp_dir().join(format!("{prefix}-{name}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(RunDirectory { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free directory name")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The files of a throwaway CA.
#[derive(Clone, Debug)]
pub struct ThrowawayCa {
    /// What clients trust (`ntstrustedcerts` in chrony).
    pub ca_certificate: PathBuf,
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// Makes a fresh CA and a leaf for `localhost`, 127.0.0.1 and ::1, valid from a day ago for a
/// year, and writes them to `dir` (the key with mode 0600). Nothing here is ever reused.
pub fn make_throwaway_ca(dir: &Path) -> Result<ThrowawayCa, CertificateError> {
    make_ca(dir, &[], 365)
}

/// The appliance's own CA, made once (on first boot) and kept: clients pin it. The leaf names
/// `localhost`, this machine's host name and `<host name>.local`, and is valid for 10 years
/// (a renewal would break every pinned client; an operator who wants rotation brings a
/// certificate of their own).
pub fn load_or_make_local_ca(dir: &Path) -> Result<ThrowawayCa, CertificateError> {
    let files = ca_files(dir);
    if files.certificate.exists() && files.private_key.exists() {
        return Ok(files);
    }
    let host = host_name();
    let names: Vec<String> = host.iter().flat_map(|h| [h.clone(), format!("{h}.local")]).collect();
    make_ca(dir, &names, 3650)
}

fn host_name() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "localhost").then(|| name.to_owned())
}

fn ca_files(dir: &Path) -> ThrowawayCa {
    ThrowawayCa {
        ca_certificate: dir.join("ca.pem"),
        certificate: dir.join("cert.pem"),
        private_key: dir.join("key.pem"),
    }
}

fn make_ca(dir: &Path, extra_names: &[String], valid_days: i64) -> Result<ThrowawayCa, CertificateError> {
    let fail = |detail: String| CertificateError::Generate { path: dir.into(), detail };
    create_dir(dir).map_err(|e| fail(e.to_string()))?;
    let now = crate::host_clock::unix_seconds();
    let day = |offset_days: i64| {
        let t = chrono::DateTime::from_timestamp(now + offset_days * 86_400, 0).unwrap_or_default();
        use chrono::Datelike;
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
    };

    let ca_key = rcgen::KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let mut ca_params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(e.to_string()))?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "stratum1 throwaway CA");
    ca_params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    ca_params.not_before = day(-1);
    ca_params.not_after = day(valid_days);
    let ca = ca_params.self_signed(&ca_key).map_err(|e| fail(e.to_string()))?;

    let leaf_key = rcgen::KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    names.extend(extra_names.iter().cloned());
    let mut leaf_params = rcgen::CertificateParams::new(names).map_err(|e| fail(e.to_string()))?;
    leaf_params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.not_before = day(-1);
    leaf_params.not_after = day(valid_days);
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).map_err(|e| fail(e.to_string()))?;

    let files = ca_files(dir);
    let write = |path: &Path, text: String, mode: u32| {
        crate::atomic_file::write(path, text.as_bytes(), mode).map_err(|e| fail(e.to_string()))
    };
    write(&files.ca_certificate, ca.pem(), 0o644)?;
    write(&files.certificate, format!("{}{}", leaf.pem(), ca.pem()), 0o644)?;
    write(&files.private_key, leaf_key.serialize_pem(), 0o600)?;
    Ok(files)
}

/// World-readable: clients (chrony drops to its own user) must read `ca.pem`; the key inside
/// is 0600.
fn create_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o755).recursive(true).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn a_run_directory_is_private_unique_and_gone_when_dropped() {
        use std::os::unix::fs::PermissionsExt;
        let a = RunDirectory::create("stratum1-test-run").unwrap();
        let b = RunDirectory::create("stratum1-test-run").unwrap();
        assert_ne!(a.path(), b.path(), "two runs never share a directory");
        assert_eq!(fs::metadata(a.path()).unwrap().permissions().mode() & 0o777, 0o700);
        make_throwaway_ca(a.path()).unwrap();
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists(), "removed with its key");
    }

    #[test]
    fn throwaway_ca_loads_and_a_renewal_is_picked_up() {
        let dir = tempfile::tempdir().unwrap();
        let first = make_throwaway_ca(dir.path()).unwrap();
        let identity = ReloadingIdentity::load(&first.certificate, &first.private_key, provider()).unwrap();
        let before = identity.current().cert[0].clone();
        assert_eq!(identity.current().cert.len(), 2, "leaf and CA");
        assert!(!identity.reload_if_changed().unwrap(), "nothing changed");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&first.private_key).unwrap().permissions().mode() & 0o777, 0o600);

        make_throwaway_ca(dir.path()).unwrap();
        assert!(identity.reload_if_changed().unwrap());
        assert_ne!(identity.current().cert[0], before, "the renewed leaf is served");
    }

    #[test]
    fn the_local_ca_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_make_local_ca(dir.path()).unwrap();
        let pem = fs::read(&first.certificate).unwrap();
        let again = load_or_make_local_ca(dir.path()).unwrap();
        assert_eq!(fs::read(&again.certificate).unwrap(), pem, "not regenerated");
        assert!(load_identity(&again.certificate, &again.private_key, &provider()).is_ok());
    }

    #[test]
    fn missing_or_wrong_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = load_identity(&missing, &missing, &provider()).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
        let files = make_throwaway_ca(dir.path()).unwrap();
        let e = load_identity(&files.private_key, &files.private_key, &provider()).unwrap_err();
        assert!(matches!(e, CertificateError::NoCertificate { .. }), "{e}");
        let e = load_identity(&files.certificate, &files.certificate, &provider()).unwrap_err();
        assert!(matches!(e, CertificateError::NoKey { .. }), "{e}");
        // A key that is not the certificate's.
        let other = tempfile::tempdir().unwrap();
        let other_files = make_throwaway_ca(other.path()).unwrap();
        let e = load_identity(&files.certificate, &other_files.private_key, &provider()).unwrap_err();
        assert!(matches!(e, CertificateError::Unusable { .. }), "{e}");
    }
}
