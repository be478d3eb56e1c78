//! NTS-KE records (RFC 8915 §4): the wire codec and the server's reading of a client request.
//! Pure: bytes in, a request or the error code to answer with out.

use super::aead::AeadAlgorithm;

pub const END_OF_MESSAGE: u16 = 0;
pub const NEXT_PROTOCOL: u16 = 1;
pub const ERROR: u16 = 2;
pub const WARNING: u16 = 3;
pub const AEAD_ALGORITHM: u16 = 4;
pub const NEW_COOKIE: u16 = 5;
pub const NTPV4_SERVER: u16 = 6;
pub const NTPV4_PORT: u16 = 7;
/// chrony's record (not in RFC 8915; non-critical, empty): the client asks for AES-128-GCM-SIV
/// keys exported with the context RFC 8915 §5.1 gives, and the server that echoes it uses
/// them. chrony 4.4 to 4.6 put AES-SIV-CMAC-256's id (15) in that context for GCM-SIV; from
/// 4.6.1 a client sends this record, and without the echo it keeps the old keys until an
/// `NTSN` makes it switch (chrony's NEWS for 4.6.1; nts_ke.h, nts_ke_client.c).
pub const COMPLIANT_128GCM_EXPORT: u16 = 1024;

/// Protocol id of NTPv4 in the Next Protocol record.
pub const PROTOCOL_NTPV4: u16 = 0;
/// The TLS application protocol of NTS-KE (RFC 8915 section 4).
pub const ALPN_NTSKE: &[u8] = b"ntske/1";
/// The TLS exporter label both sides derive the NTP keys with (RFC 8915 section 5.1).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-network-time-security";

const CRITICAL: u16 = 0x8000;

/// Error codes a server sends (RFC 8915 §4.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeErrorCode {
    UnrecognizedCriticalRecord = 0,
    BadRequest = 1,
    InternalServerError = 2,
}

/// One record as it sits on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub critical: bool,
    pub record_type: u16,
    pub body: &'a [u8],
}

/// Reads the record at the start of `bytes`: `None` while it is incomplete, else the record
/// and the bytes it took.
pub fn read_record(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let head = bytes.get(..4)?;
    let type_field = u16::from_be_bytes([head[0], head[1]]);
    let length = usize::from(u16::from_be_bytes([head[2], head[3]]));
    let body = bytes.get(4..4 + length)?;
    let record = Record { critical: type_field & CRITICAL != 0, record_type: type_field & !CRITICAL, body };
    Some((record, 4 + length))
}

/// Appends one record. Bodies longer than 65535 bytes cannot be encoded; none we send come close.
pub fn write_record(out: &mut Vec<u8>, critical: bool, record_type: u16, body: &[u8]) {
    let type_field = record_type | if critical { CRITICAL } else { 0 };
    let length = u16::try_from(body.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&type_field.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&body[..usize::from(length)]);
}

fn u16_list(body: &[u8]) -> Option<Vec<u16>> {
    if !body.len().is_multiple_of(2) {
        return None;
    }
    Some(body.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
}

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeRequest {
    pub next_protocols: Vec<u16>,
    /// AEAD ids in the client's order of preference (unknown ids kept, they are simply not chosen).
    pub aead_algorithms: Vec<u16>,
    /// The client sent [`COMPLIANT_128GCM_EXPORT`].
    pub compliant_gcm_siv_keys: bool,
}

/// The state of a request that is still arriving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestProgress {
    /// No End of Message yet: read more.
    Incomplete,
    Complete(KeRequest),
    /// Answer with this error record and close.
    Refuse(KeErrorCode),
}

/// Reads a client's request from everything received so far.
pub fn read_request(bytes: &[u8]) -> RequestProgress {
    let mut next_protocols: Option<Vec<u16>> = None;
    let mut aead_algorithms: Option<Vec<u16>> = None;
    let mut compliant_gcm_siv_keys = false;
    let mut offset = 0;
    while let Some((record, used)) = bytes.get(offset..).and_then(read_record) {
        offset += used;
        let list = || u16_list(record.body).ok_or(KeErrorCode::BadRequest);
        let step = match record.record_type {
            END_OF_MESSAGE => {
                return finish(next_protocols, aead_algorithms, compliant_gcm_siv_keys);
            }
            NEXT_PROTOCOL if next_protocols.is_none() => list().map(|l| next_protocols = Some(l)),
            AEAD_ALGORITHM if aead_algorithms.is_none() => list().map(|l| aead_algorithms = Some(l)),
            // A second Next Protocol or AEAD record is not allowed (§4.1.2, §4.1.5).
            NEXT_PROTOCOL | AEAD_ALGORITHM => Err(KeErrorCode::BadRequest),
            // Only servers send these.
            ERROR | WARNING | NEW_COOKIE => Err(KeErrorCode::BadRequest),
            // Asked with an empty body; anything else is not that request, and ignored.
            COMPLIANT_128GCM_EXPORT => {
                compliant_gcm_siv_keys |= record.body.is_empty();
                Ok(())
            }
            // A client may suggest a server or port; this server answers with its own.
            NTPV4_SERVER | NTPV4_PORT => Ok(()),
            _ if record.critical => Err(KeErrorCode::UnrecognizedCriticalRecord),
            _ => Ok(()),
        };
        if let Err(code) = step {
            return RequestProgress::Refuse(code);
        }
    }
    RequestProgress::Incomplete
}

fn finish(
    next_protocols: Option<Vec<u16>>,
    aead_algorithms: Option<Vec<u16>>,
    compliant_gcm_siv_keys: bool,
) -> RequestProgress {
    let Some(next_protocols) = next_protocols else {
        return RequestProgress::Refuse(KeErrorCode::BadRequest);
    };
    let aead_algorithms = aead_algorithms.unwrap_or_default();
    if next_protocols.contains(&PROTOCOL_NTPV4) && aead_algorithms.is_empty() {
        return RequestProgress::Refuse(KeErrorCode::BadRequest);
    }
    RequestProgress::Complete(KeRequest { next_protocols, aead_algorithms, compliant_gcm_siv_keys })
}

/// What the server offers, from its configuration.
#[derive(Clone, Debug)]
pub struct KeOffer {
    /// The server's AEAD preference, best first.
    pub aead_preference: Vec<AeadAlgorithm>,
    /// Sent as an NTPv4 Server record when set.
    pub ntp_server: Option<String>,
    /// Sent as an NTPv4 Port record when set.
    pub ntp_port: Option<u16>,
}

/// The server's answer to a complete request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeDecision {
    /// With AES-128-GCM-SIV, `confirm_compliant_gcm_siv` echoes [`COMPLIANT_128GCM_EXPORT`].
    Accept { algorithm: AeadAlgorithm, confirm_compliant_gcm_siv: bool },
    /// The client does not speak NTPv4: an empty Next Protocol record (§4.1.2).
    NoCommonProtocol,
    /// No AEAD in common: an empty AEAD record (§4.1.5).
    NoCommonAead,
}

impl KeOffer {
    /// The server's preference wins among the algorithms the client offered, with one
    /// exception: AES-128-GCM-SIV only for a client that asked for RFC 8915's keys with
    /// [`COMPLIANT_128GCM_EXPORT`], or that offers nothing else this server has. A chrony client
    /// of 4.4 to 4.6 offers GCM-SIV first and AES-SIV-CMAC-256 beside it, and exports its
    /// GCM-SIV keys with the wrong context, so choosing GCM-SIV for it would make every one of
    /// its requests fail (`NTSN`); AES-SIV-CMAC-256 serves it.
    pub fn decide(&self, request: &KeRequest) -> KeDecision {
        if !request.next_protocols.contains(&PROTOCOL_NTPV4) {
            return KeDecision::NoCommonProtocol;
        }
        let offered = |a: &&AeadAlgorithm| request.aead_algorithms.contains(&a.id());
        let keys_agree =
            |a: &&AeadAlgorithm| **a != AeadAlgorithm::Aes128GcmSiv || request.compliant_gcm_siv_keys;
        let chosen = self.aead_preference.iter().filter(offered).find(keys_agree);
        chosen.or_else(|| self.aead_preference.iter().find(offered)).map_or(
            KeDecision::NoCommonAead,
            |&algorithm| KeDecision::Accept {
                algorithm,
                confirm_compliant_gcm_siv: algorithm == AeadAlgorithm::Aes128GcmSiv
                    && request.compliant_gcm_siv_keys,
            },
        )
    }

    /// The response records. `cookies` are used only when the decision accepts.
    pub fn response(&self, decision: KeDecision, cookies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + cookies.iter().map(|c| c.len() + 4).sum::<usize>());
        match decision {
            KeDecision::NoCommonProtocol => write_record(&mut out, true, NEXT_PROTOCOL, &[]),
            KeDecision::NoCommonAead => {
                write_record(&mut out, true, NEXT_PROTOCOL, &PROTOCOL_NTPV4.to_be_bytes());
                write_record(&mut out, true, AEAD_ALGORITHM, &[]);
            }
            KeDecision::Accept { algorithm, confirm_compliant_gcm_siv } => {
                write_record(&mut out, true, NEXT_PROTOCOL, &PROTOCOL_NTPV4.to_be_bytes());
                write_record(&mut out, true, AEAD_ALGORITHM, &algorithm.id().to_be_bytes());
                if confirm_compliant_gcm_siv {
                    write_record(&mut out, false, COMPLIANT_128GCM_EXPORT, &[]);
                }
                for cookie in cookies {
                    write_record(&mut out, false, NEW_COOKIE, cookie);
                }
                if let Some(server) = &self.ntp_server {
                    write_record(&mut out, true, NTPV4_SERVER, server.as_bytes());
                }
                if let Some(port) = self.ntp_port {
                    write_record(&mut out, true, NTPV4_PORT, &port.to_be_bytes());
                }
            }
        }
        write_record(&mut out, true, END_OF_MESSAGE, &[]);
        out
    }
}

/// An Error record and End of Message.
pub fn error_response(code: KeErrorCode) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    write_record(&mut out, true, ERROR, &(code as u16).to_be_bytes());
    write_record(&mut out, true, END_OF_MESSAGE, &[]);
    out
}

/// Context: protocol id ‖ AEAD id ‖ 0x00 for client-to-server, 0x01 for server-to-client.
pub fn exporter_context(algorithm: AeadAlgorithm, direction: u8) -> [u8; 5] {
    let [p0, p1] = PROTOCOL_NTPV4.to_be_bytes();
    let [a0, a1] = algorithm.id().to_be_bytes();
    [p0, p1, a0, a1, direction]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(records: &[(bool, u16, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (critical, t, body) in records {
            write_record(&mut out, *critical, *t, body);
        }
        out
    }

    fn typical() -> Vec<u8> {
        request(&[
            (true, NEXT_PROTOCOL, &[0, 0]),
            (false, AEAD_ALGORITHM, &[0, 30, 0, 15]),
            (true, END_OF_MESSAGE, &[]),
        ])
    }

    fn offer() -> KeOffer {
        KeOffer {
            aead_preference: vec![AeadAlgorithm::AesSivCmac256, AeadAlgorithm::Aes128GcmSiv],
            ntp_server: None,
            ntp_port: Some(12345),
        }
    }

    #[test]
    fn a_typical_request_is_read_and_the_server_preference_wins() {
        let RequestProgress::Complete(req) = read_request(&typical()) else { panic!() };
        assert_eq!(req.next_protocols, vec![0]);
        assert_eq!(req.aead_algorithms, vec![30, 15]);
        assert_eq!(
            offer().decide(&req),
            KeDecision::Accept { algorithm: AeadAlgorithm::AesSivCmac256, confirm_compliant_gcm_siv: false }
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let full = typical();
        for len in 0..full.len() {
            assert_eq!(read_request(&full[..len]), RequestProgress::Incomplete, "{len}");
        }
    }

    #[test]
    fn unknown_critical_records_are_error_0_and_unknown_others_ignored() {
        let bad =
            request(&[(true, NEXT_PROTOCOL, &[0, 0]), (true, 0x1234, &[1]), (true, END_OF_MESSAGE, &[])]);
        assert_eq!(read_request(&bad), RequestProgress::Refuse(KeErrorCode::UnrecognizedCriticalRecord));
        let fine = request(&[
            (true, NEXT_PROTOCOL, &[0, 0]),
            (false, 0x1234, &[1]),
            (false, AEAD_ALGORITHM, &[0, 15]),
            (true, END_OF_MESSAGE, &[]),
        ]);
        assert!(matches!(read_request(&fine), RequestProgress::Complete(_)));
    }

    /// The order of a Pi 4 (no AES instructions): AES-128-GCM-SIV first.
    fn gcm_siv_first() -> KeOffer {
        KeOffer {
            aead_preference: vec![AeadAlgorithm::Aes128GcmSiv, AeadAlgorithm::AesSivCmac256],
            ..offer()
        }
    }

    fn decided(offer: &KeOffer, records: &[(bool, u16, &[u8])]) -> KeDecision {
        let RequestProgress::Complete(req) = read_request(&request(records)) else { panic!() };
        offer.decide(&req)
    }

    #[test]
    fn gcm_siv_goes_only_to_clients_that_ask_for_rfc_8915_keys_or_offer_nothing_else() {
        let gcm = |confirm| KeDecision::Accept {
            algorithm: AeadAlgorithm::Aes128GcmSiv,
            confirm_compliant_gcm_siv: confirm,
        };
        let siv =
            KeDecision::Accept { algorithm: AeadAlgorithm::AesSivCmac256, confirm_compliant_gcm_siv: false };
        let (next, end) = ((true, NEXT_PROTOCOL, &[0u8, 0][..]), (true, END_OF_MESSAGE, &[][..]));
        let both = (false, AEAD_ALGORITHM, &[0u8, 30, 0, 15][..]);
        // chrony 4.4 to 4.6: GCM-SIV first, no record: its GCM-SIV keys would not match.
        assert_eq!(decided(&gcm_siv_first(), &[next, both, end]), siv);
        // chrony from 4.6.1: the record, echoed.
        let asks = (false, COMPLIANT_128GCM_EXPORT, &[][..]);
        assert_eq!(decided(&gcm_siv_first(), &[next, both, asks, end]), gcm(true));
        // A record with a body is not that request.
        let odd = (false, COMPLIANT_128GCM_EXPORT, &[1u8][..]);
        assert_eq!(decided(&gcm_siv_first(), &[next, both, odd, end]), siv);
        // Only GCM-SIV in common: it, with RFC 8915's keys.
        let only = (false, AEAD_ALGORITHM, &[0u8, 30][..]);
        assert_eq!(decided(&gcm_siv_first(), &[next, only, end]), gcm(false));
        // The server's own order still wins otherwise.
        assert_eq!(decided(&offer(), &[next, both, asks, end]), siv);
        let response = gcm_siv_first().response(gcm(true), &[vec![7; 4]]);
        let echoed = request(&[
            (true, NEXT_PROTOCOL, &[0, 0]),
            (true, AEAD_ALGORITHM, &[0, 30]),
            (false, COMPLIANT_128GCM_EXPORT, &[]),
            (false, NEW_COOKIE, &[7; 4]),
            (true, NTPV4_PORT, &12345u16.to_be_bytes()),
            (true, END_OF_MESSAGE, &[]),
        ]);
        assert_eq!(response, echoed);
        let unechoed = request(&[
            (true, NEXT_PROTOCOL, &[0, 0]),
            (true, AEAD_ALGORITHM, &[0, 30]),
            (true, NTPV4_PORT, &12345u16.to_be_bytes()),
            (true, END_OF_MESSAGE, &[]),
        ]);
        assert_eq!(gcm_siv_first().response(gcm(false), &[]), unechoed);
    }

    #[test]
    fn malformed_requests_are_error_1() {
        let cases: Vec<Vec<u8>> = vec![
            request(&[(true, AEAD_ALGORITHM, &[0, 15]), (true, END_OF_MESSAGE, &[])]),
            request(&[(true, NEXT_PROTOCOL, &[0]), (true, END_OF_MESSAGE, &[])]),
            request(&[(true, NEXT_PROTOCOL, &[0, 0]), (true, END_OF_MESSAGE, &[])]),
            request(&[
                (true, NEXT_PROTOCOL, &[0, 0]),
                (true, NEXT_PROTOCOL, &[0, 0]),
                (true, AEAD_ALGORITHM, &[0, 15]),
                (true, END_OF_MESSAGE, &[]),
            ]),
            request(&[
                (true, NEXT_PROTOCOL, &[0, 0]),
                (false, NEW_COOKIE, &[1, 2]),
                (true, END_OF_MESSAGE, &[]),
            ]),
            request(&[(true, ERROR, &[0, 0]), (true, END_OF_MESSAGE, &[])]),
        ];
        for case in cases {
            assert_eq!(read_request(&case), RequestProgress::Refuse(KeErrorCode::BadRequest), "{case:?}");
        }
    }

    #[test]
    fn no_common_protocol_or_aead_gets_empty_records() {
        let other = request(&[(true, NEXT_PROTOCOL, &[0x80, 1]), (true, END_OF_MESSAGE, &[])]);
        let RequestProgress::Complete(req) = read_request(&other) else { panic!() };
        assert_eq!(offer().decide(&req), KeDecision::NoCommonProtocol);
        assert_eq!(
            offer().response(KeDecision::NoCommonProtocol, &[]),
            request(&[(true, NEXT_PROTOCOL, &[]), (true, END_OF_MESSAGE, &[])])
        );
        let aead = request(&[
            (true, NEXT_PROTOCOL, &[0, 0]),
            (true, AEAD_ALGORITHM, &[0, 99]),
            (true, END_OF_MESSAGE, &[]),
        ]);
        let RequestProgress::Complete(req) = read_request(&aead) else { panic!() };
        assert_eq!(offer().decide(&req), KeDecision::NoCommonAead);
    }

    #[test]
    fn accepting_response_carries_protocol_aead_cookies_port_and_eom() {
        let cookies = vec![vec![1u8; 8], vec![2u8; 8]];
        let accept =
            KeDecision::Accept { algorithm: AeadAlgorithm::Aes128GcmSiv, confirm_compliant_gcm_siv: false };
        let response = offer().response(accept, &cookies);
        let mut records = Vec::new();
        let mut at = 0;
        while let Some((r, used)) = read_record(&response[at..]) {
            records.push((r.critical, r.record_type, r.body.to_vec()));
            at += used;
        }
        assert_eq!(at, response.len());
        assert_eq!(
            records,
            vec![
                (true, NEXT_PROTOCOL, vec![0, 0]),
                (true, AEAD_ALGORITHM, vec![0, 30]),
                (false, NEW_COOKIE, vec![1; 8]),
                (false, NEW_COOKIE, vec![2; 8]),
                (true, NTPV4_PORT, 12345u16.to_be_bytes().to_vec()),
                (true, END_OF_MESSAGE, vec![]),
            ]
        );
        assert_eq!(
            error_response(KeErrorCode::BadRequest),
            request(&[(true, ERROR, &[0, 1]), (true, END_OF_MESSAGE, &[])])
        );
    }
}
