//! The client's side of NTS-KE (RFC 8915 section 4): what a server's response says. Pure; the
//! keys come from the TLS session, in the daemon's client.

use super::aead::AeadAlgorithm;
use super::ke_records::{self, read_record};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nts::ke_records::write_record;

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
