//! A small blocking NTS client: key establishment over TLS, then authenticated NTP queries.
//! It checks a server the way a real client would (the tests use it against our daemon, and an
//! operator can point it at any NTS server).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;

use super::aead::{AeadAlgorithm, AeadKey};
use super::ke_records::{self, read_record, write_record};
use super::ke_server::{exporter_context, ALPN_NTSKE};
use super::ntp_auth::{client_read_response, client_request, ClientView};

const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";

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

/// What a KE server's response says (pure; the keys come from the TLS session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeResponse {
    pub algorithm: AeadAlgorithm,
    pub cookies: Vec<Vec<u8>>,
    /// The NTPv4 Server and Port records, if sent.
    pub ntp_server: Option<String>,
    pub ntp_port: Option<u16>,
}

/// Reads a KE response up to its End of Message: an Error record, a missing or unknown AEAD
/// algorithm, a malformed server name or a missing end are errors.
pub fn parse_ke_response(response: &[u8]) -> Result<KeResponse, String> {
    let mut algorithm = None;
    let mut cookies = Vec::new();
    let (mut ntp_server, mut ntp_port) = (None, None);
    let mut at = 0;
    while let Some((record, used)) = response.get(at..).and_then(read_record) {
        at += used;
        match record.record_type {
            ke_records::AEAD_ALGORITHM => {
                let id = record.body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                algorithm = id.and_then(AeadAlgorithm::from_id);
            }
            ke_records::NEW_COOKIE => cookies.push(record.body.to_vec()),
            ke_records::NTPV4_SERVER => {
                let name = std::str::from_utf8(record.body)
                    .map_err(|_| "the NTPv4 Server record is not ASCII".to_owned())?;
                ntp_server = Some(name.to_owned());
            }
            ke_records::NTPV4_PORT if record.body.len() == 2 => {
                ntp_port = Some(u16::from_be_bytes([record.body[0], record.body[1]]))
            }
            ke_records::ERROR => {
                let code = record.body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                return Err(format!("server answered Error {code:?}"));
            }
            ke_records::END_OF_MESSAGE => {
                let algorithm = algorithm.ok_or_else(|| "no AEAD algorithm agreed".to_owned())?;
                return Ok(KeResponse { algorithm, cookies, ntp_server, ntp_port });
            }
            _ => {}
        }
    }
    Err(format!("response ended without End of Message after {} bytes", response.len()))
}

/// The Error code in a KE response, if it is one (for tests of refusals).
pub fn error_code(response: &[u8]) -> Option<u16> {
    let (record, _) = read_record(response)?;
    (record.record_type == ke_records::ERROR && record.body.len() == 2)
        .then(|| u16::from_be_bytes([record.body[0], record.body[1]]))
}

/// The outcome of one NTS-protected NTP query.
#[derive(Debug)]
pub enum NtsQuery {
    /// Authenticated: the response and what it carried.
    Authenticated {
        response: Vec<u8>,
        view: ClientView,
    },
    /// A kiss-o'-death with this code (not authenticated).
    KissOfDeath {
        code: [u8; 4],
        response: Vec<u8>,
    },
    /// An answer that failed authentication.
    Unauthenticated {
        response: Vec<u8>,
    },
    NoAnswer,
}

/// Sends one NTS request using `cookie` and `placeholders` placeholders, with a random unique
/// identifier and nonce.
pub fn query(
    socket: &UdpSocket,
    server: impl ToSocketAddrs,
    session: &KeSession,
    cookie: &[u8],
    placeholders: usize,
) -> io::Result<NtsQuery> {
    let mut random = [0u8; 48];
    getrandom::getrandom(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let mut header = [0u8; 48];
    header[0] = (4 << 3) | 3;
    header[40..48].copy_from_slice(&random[32..40]);
    let mut unique_id = [0u8; 32];
    unique_id.copy_from_slice(&random[..32]);
    let nonce = &random[32..32 + session.algorithm.nonce_len()];
    let request = client_request(&header, &unique_id, cookie, placeholders, &session.c2s, nonce);
    socket.send_to(&request, server)?;
    let mut buffer = [0u8; 2048];
    let n = match socket.recv(&mut buffer) {
        Ok(n) => n,
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
            return Ok(NtsQuery::NoAnswer)
        }
        Err(e) => return Err(e),
    };
    let response = buffer[..n].to_vec();
    if response.len() >= 48 && response[1] == 0 {
        let mut code = [0u8; 4];
        code.copy_from_slice(&response[12..16]);
        return Ok(NtsQuery::KissOfDeath { code, response });
    }
    match client_read_response(&response, &session.s2c) {
        Some(view) if view.unique_id == unique_id => Ok(NtsQuery::Authenticated { response, view }),
        _ => Ok(NtsQuery::Unauthenticated { response }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(records: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, body) in records {
            write_record(&mut out, true, *kind, body);
        }
        out
    }

    #[test]
    fn a_response_gives_the_algorithm_cookies_and_the_server_records() {
        let r = response(&[
            (ke_records::NEXT_PROTOCOL, &[0, 0]),
            (ke_records::AEAD_ALGORITHM, &[0, 15]),
            (ke_records::NEW_COOKIE, b"cookie one"),
            (ke_records::NEW_COOKIE, b"cookie two"),
            (ke_records::NTPV4_SERVER, b"ntp.example.net"),
            (ke_records::NTPV4_PORT, &[0x01, 0x7b]),
            (ke_records::END_OF_MESSAGE, &[]),
        ]);
        let parsed = parse_ke_response(&r).unwrap();
        assert_eq!(parsed.algorithm, AeadAlgorithm::AesSivCmac256);
        assert_eq!(parsed.cookies, vec![b"cookie one".to_vec(), b"cookie two".to_vec()]);
        assert_eq!((parsed.ntp_server.as_deref(), parsed.ntp_port), (Some("ntp.example.net"), Some(379)));
    }

    #[test]
    fn errors_missing_algorithms_bad_names_and_truncation_are_refused() {
        let error = response(&[(ke_records::ERROR, &[0, 1]), (ke_records::END_OF_MESSAGE, &[])]);
        assert!(parse_ke_response(&error).unwrap_err().contains("Error Some(1)"));
        let none = response(&[(ke_records::NEW_COOKIE, b"c"), (ke_records::END_OF_MESSAGE, &[])]);
        assert!(parse_ke_response(&none).unwrap_err().contains("no AEAD"));
        let name = response(&[(ke_records::NTPV4_SERVER, &[0xff, 0xfe]), (ke_records::END_OF_MESSAGE, &[])]);
        assert!(parse_ke_response(&name).is_err());
        let cut = response(&[(ke_records::AEAD_ALGORITHM, &[0, 15])]);
        assert!(parse_ke_response(&cut).unwrap_err().contains("without End of Message"));
    }
}
