//! A small blocking NTS-KE client: key establishment over TLS, as the upstream sources' pollers
//! do it (the tests and the benchmark's KE load use it against our daemon too). Reading the
//! response is pure and lives in `stratum1_core::nts::parse_ke_response`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;

use stratum1_core::nts::ke_records::{self, write_record};
use stratum1_core::nts::ke_records::{exporter_context, ALPN_NTSKE, EXPORTER_LABEL};
use stratum1_core::nts::parse_ke_response;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};

/// What key establishment gave the client.
#[derive(Debug)]
pub struct KeSession {
    pub algorithm: AeadAlgorithm,
    pub c2s: AeadKey,
    pub s2c: AeadKey,
    pub cookies: Vec<Vec<u8>>,
    /// Where to send NTP: the NTPv4 Server/Port records, or the KE host and port 123.
    pub ntp_server: Option<String>,
    pub ntp_port: Option<u16>,
    /// The server's leaf certificate (DER), to compare across renewals.
    pub leaf_certificate: Vec<u8>,
}

/// A TLS client configuration trusting the PEM certificates in `ca_file`.
pub fn tls_config(ca_file: &Path) -> io::Result<Arc<ClientConfig>> {
    tls_config_with_roots(load_roots(ca_file)?)
}

/// The PEM certificates in `ca_file` as trust anchors.
pub fn load_roots(ca_file: &Path) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let pem = std::fs::read(ca_file)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", ca_file.display())))?;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        roots.add(cert).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    }
    Ok(roots)
}

/// A TLS 1.3 client configuration for NTS-KE trusting `roots`.
pub fn tls_config_with_roots(roots: RootCertStore) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    tls_config_with_verifier(verifier)
}

/// A TLS 1.3 client configuration for NTS-KE whose server certificates `verifier` checks.
pub fn tls_config_with_verifier(
    verifier: Arc<dyn rustls::client::danger::ServerCertVerifier>,
) -> io::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| io::Error::other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_NTSKE.to_vec()];
    Ok(Arc::new(config))
}

/// A TLS connection to a KE server, handshake done, request not yet sent.
pub struct KeConnection {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl KeConnection {
    pub fn connect(
        config: Arc<ClientConfig>,
        addr: SocketAddr,
        server_name: &str,
        timeout: Duration,
    ) -> io::Result<Self> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        // The Finished and the request are two small writes: with Nagle the second waits for
        // the server's delayed ACK of the first (40 ms on Linux).
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let connection = ClientConnection::new(config, name).map_err(|e| io::Error::other(e.to_string()))?;
        let mut stream = StreamOwned::new(connection, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(KeConnection { stream })
    }

    /// Sends the request for `algorithms` and reads the answer.
    pub fn establish(mut self, algorithms: &[AeadAlgorithm]) -> io::Result<KeSession> {
        let mut request = Vec::new();
        write_record(
            &mut request,
            true,
            ke_records::NEXT_PROTOCOL,
            &ke_records::PROTOCOL_NTPV4.to_be_bytes(),
        );
        let ids: Vec<u8> = algorithms.iter().flat_map(|a| a.id().to_be_bytes()).collect();
        write_record(&mut request, true, ke_records::AEAD_ALGORITHM, &ids);
        // This client exports AES-128-GCM-SIV keys as RFC 8915 says; the record tells servers
        // that tell the two ways apart (chrony from 4.6.1, stratum1d), and stratum1d gives
        // GCM-SIV to no client that does not send it.
        if algorithms.contains(&AeadAlgorithm::Aes128GcmSiv) {
            write_record(&mut request, false, ke_records::COMPLIANT_128GCM_EXPORT, &[]);
        }
        write_record(&mut request, true, ke_records::END_OF_MESSAGE, &[]);
        self.send_raw(&request)?;
        let response = self.read_to_end()?;
        let leaf_certificate = self
            .stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        session_from_response(&response, &self.stream.conn, leaf_certificate)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Everything the server sends until it closes.
    pub fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let mut response = Vec::new();
        match self.stream.read_to_end(&mut response) {
            Ok(_) => Ok(response),
            // A server that closes without close_notify still sent what it sent.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !response.is_empty() => Ok(response),
            Err(e) => Err(e),
        }
    }
}

fn session_from_response(
    response: &[u8],
    conn: &ClientConnection,
    leaf_certificate: Vec<u8>,
) -> io::Result<KeSession> {
    let parsed = parse_ke_response(response).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let algorithm = parsed.algorithm;
    let export = |direction| {
        let mut key = vec![0u8; algorithm.key_len()];
        conn.export_keying_material(&mut key, EXPORTER_LABEL, Some(&exporter_context(algorithm, direction)))
            .map_err(|e| io::Error::other(e.to_string()))?;
        AeadKey::new(algorithm, &key).map_err(|e| io::Error::other(e.to_string()))
    };
    Ok(KeSession {
        algorithm,
        c2s: export(0)?,
        s2c: export(1)?,
        cookies: parsed.cookies,
        ntp_server: parsed.ntp_server,
        ntp_port: parsed.ntp_port,
        leaf_certificate,
    })
}
