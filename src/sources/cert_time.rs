//! Certificate time checks for a Pi that boots without a real-time clock.
//!
//! Until the first synchronisation the system clock may read anything (often the image's
//! build date, or 1970), and an NTS server's certificate then looks "not yet valid" or
//! "expired": the network could never help set the clock. Two remedies, as chrony has:
//! - the check never uses a time earlier than the clock state file's last save (a lower bound
//!   the clock cannot have gone below, since time does not run backwards);
//! - with `skip-certificate-time-check` (chrony's `nocerttimecheck`), a certificate whose only
//!   fault is its validity period is accepted until the server is first synchronised. The
//!   chain and the name are still checked. The risk: an expired (possibly compromised) key is
//!   accepted during that window, so it is off by default.
//!
//! Once synchronised, certificates are checked against the clock as usual.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

#[derive(Debug)]
pub struct BootstrapVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    /// Unix seconds the clock is known to be past (the state file's last save).
    floor_unix_s: u64,
    skip_until_synchronised: bool,
    /// Set by the clock task once the served clock was synchronised.
    synchronised: Arc<AtomicBool>,
}

impl BootstrapVerifier {
    pub fn new(
        inner: Arc<dyn ServerCertVerifier>,
        floor_unix_s: Option<i64>,
        skip_until_synchronised: bool,
        synchronised: Arc<AtomicBool>,
    ) -> Self {
        let floor_unix_s = floor_unix_s.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
        BootstrapVerifier { inner, floor_unix_s, skip_until_synchronised, synchronised }
    }
}

/// A time inside the leaf's validity period, for the one check the operator chose to skip.
fn inside_validity(end_entity: &CertificateDer<'_>) -> Option<UnixTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(end_entity.as_ref()).ok()?;
    let not_before = u64::try_from(cert.validity().not_before.timestamp()).ok()?;
    Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(not_before.saturating_add(1))))
}

impl ServerCertVerifier for BootstrapVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let now =
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.as_secs().max(self.floor_unix_s)));
        let verdict =
            self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        let time_only = matches!(
            &verdict,
            Err(Error::InvalidCertificate(
                CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. }
            ))
        );
        if !(time_only && self.skip_until_synchronised && !self.synchronised.load(Ordering::Relaxed)) {
            return verdict;
        }
        let Some(inside) = inside_validity(end_entity) else { return verdict };
        let retried =
            self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, inside);
        if retried.is_ok() {
            tracing::warn!(
                "sources: {server_name:?}: certificate outside its validity period by our clock; accepted \
                 because skip-certificate-time-check is on and the clock has not been synchronised yet"
            );
        }
        retried
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// A throwaway CA and its leaf for localhost (valid from yesterday for a year).
    fn pki() -> (Arc<dyn ServerCertVerifier>, CertificateDer<'static>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let files = crate::nts::certificates::make_throwaway_ca(dir.path()).unwrap();
        let roots = crate::nts::client::load_roots(&files.ca_certificate).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let pem = std::fs::read(&files.certificate).unwrap();
        let leaf = CertificateDer::pem_slice_iter(&pem).next().unwrap().unwrap();
        (verifier, leaf, dir)
    }

    fn at(unix_s: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(unix_s))
    }

    const BOOT_WITHOUT_RTC: u64 = 1_500_000_000; // 2017: years before the certificate.

    fn check(
        v: &BootstrapVerifier,
        leaf: &CertificateDer<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let name = ServerName::try_from("localhost").unwrap();
        v.verify_server_cert(leaf, &[], &name, &[], now)
    }

    #[test]
    fn a_clock_behind_the_certificate_fails_unless_the_state_file_or_the_operator_vouches() {
        let (inner, leaf, _dir) = pki();
        let today = UnixTime::now().as_secs();
        let synced = Arc::new(AtomicBool::new(false));
        let plain = BootstrapVerifier::new(inner.clone(), None, false, synced.clone());
        assert!(check(&plain, &leaf, at(today)).is_ok());
        assert!(check(&plain, &leaf, at(BOOT_WITHOUT_RTC)).is_err(), "not valid yet by a wrong clock");
        let floored = BootstrapVerifier::new(inner.clone(), Some(today as i64), false, synced.clone());
        assert!(
            check(&floored, &leaf, at(BOOT_WITHOUT_RTC)).is_ok(),
            "the state file's time is a lower bound"
        );
        let skipping = BootstrapVerifier::new(inner.clone(), None, true, synced.clone());
        assert!(check(&skipping, &leaf, at(BOOT_WITHOUT_RTC)).is_ok(), "skipped before the first sync");
        synced.store(true, Ordering::Relaxed);
        assert!(check(&skipping, &leaf, at(BOOT_WITHOUT_RTC)).is_err(), "checked again once synchronised");
    }

    #[test]
    fn skipping_the_time_check_still_checks_the_name_and_the_chain() {
        let (inner, leaf, _dir) = pki();
        let (_, stranger, _dir2) = pki();
        let skipping = BootstrapVerifier::new(inner, None, true, Arc::new(AtomicBool::new(false)));
        let wrong_name = ServerName::try_from("time.example.net").unwrap();
        assert!(skipping.verify_server_cert(&leaf, &[], &wrong_name, &[], at(BOOT_WITHOUT_RTC)).is_err());
        assert!(check(&skipping, &stranger, at(BOOT_WITHOUT_RTC)).is_err(), "another CA's leaf");
    }
}
