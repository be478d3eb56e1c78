//! NTPv4 wire codec (RFC 5905 §7.3) with extension fields (RFC 7822). Pure: bytes in, values out.
//! Parsing never panics; every malformed input is a [`ParseError`].

use crate::time::{NtpShort, NtpTimestamp};

pub const HEADER_LEN: usize = 48;
/// Legacy symmetric-key MACs: 4-byte key id plus a 16-byte (MD5) or 20-byte (SHA-1) digest.
const MAC_LENGTHS: [usize; 2] = [20, 24];
const MIN_EXTENSION_FIELD_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeapIndicator {
    NoWarning = 0,
    InsertSecond = 1,
    DeleteSecond = 2,
    Unsynchronised = 3,
}

impl LeapIndicator {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => LeapIndicator::NoWarning,
            1 => LeapIndicator::InsertSecond,
            2 => LeapIndicator::DeleteSecond,
            _ => LeapIndicator::Unsynchronised,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Reserved = 0,
    SymmetricActive = 1,
    SymmetricPassive = 2,
    Client = 3,
    Server = 4,
    Broadcast = 5,
    Control = 6,
    Private = 7,
}

impl Mode {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b111 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }
}

/// The four reference-identifier bytes: an ASCII source name at stratum 1 (`GPS`, `PPS`), a
/// kiss code at stratum 0 (`RATE`, `DENY`, `NTSN`), an address hash above.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReferenceId(pub [u8; 4]);

impl ReferenceId {
    pub const RATE: ReferenceId = ReferenceId(*b"RATE");
    pub const DENY: ReferenceId = ReferenceId(*b"DENY");
    pub const NTSN: ReferenceId = ReferenceId(*b"NTSN");
    pub const INIT: ReferenceId = ReferenceId(*b"INIT");

    /// An ASCII name padded with NULs; `None` if longer than four bytes or not printable ASCII.
    pub fn ascii(name: &str) -> Option<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > 4 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        let mut id = [0u8; 4];
        id[..bytes.len()].copy_from_slice(bytes);
        Some(ReferenceId(id))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub leap: LeapIndicator,
    /// 0–7 as received; the server decides which it answers.
    pub version: u8,
    pub mode: Mode,
    pub stratum: u8,
    pub poll: i8,
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: ReferenceId,
    pub reference_time: NtpTimestamp,
    pub origin_time: NtpTimestamp,
    pub receive_time: NtpTimestamp,
    pub transmit_time: NtpTimestamp,
}

impl Header {
    /// Reads the 48-byte header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Header, ParseError> {
        let b: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(ParseError::TooShort { length: bytes.len() })?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let ts_at = |i: usize| {
            NtpTimestamp::from_be_bytes([
                b[i],
                b[i + 1],
                b[i + 2],
                b[i + 3],
                b[i + 4],
                b[i + 5],
                b[i + 6],
                b[i + 7],
            ])
        };
        Ok(Header {
            leap: LeapIndicator::from_bits(b[0] >> 6),
            version: (b[0] >> 3) & 0b111,
            mode: Mode::from_bits(b[0]),
            stratum: b[1],
            poll: b[2] as i8,
            precision: b[3] as i8,
            root_delay: NtpShort::from_bits(u32_at(4)),
            root_dispersion: NtpShort::from_bits(u32_at(8)),
            reference_id: ReferenceId([b[12], b[13], b[14], b[15]]),
            reference_time: ts_at(16),
            origin_time: ts_at(24),
            receive_time: ts_at(32),
            transmit_time: ts_at(40),
        })
    }

    /// Writes the header into the first 48 bytes of `out`.
    pub fn write(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = ((self.leap as u8) << 6) | ((self.version & 0b111) << 3) | self.mode as u8;
        out[1] = self.stratum;
        out[2] = self.poll as u8;
        out[3] = self.precision as u8;
        out[4..8].copy_from_slice(&self.root_delay.to_bits().to_be_bytes());
        out[8..12].copy_from_slice(&self.root_dispersion.to_bits().to_be_bytes());
        out[12..16].copy_from_slice(&self.reference_id.0);
        out[16..24].copy_from_slice(&self.reference_time.to_be_bytes());
        out[24..32].copy_from_slice(&self.origin_time.to_be_bytes());
        out[32..40].copy_from_slice(&self.receive_time.to_be_bytes());
        out[40..48].copy_from_slice(&self.transmit_time.to_be_bytes());
    }
}

/// One extension field, not yet interpreted: its type and its value (padding included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtensionField<'a> {
    pub field_type: u16,
    pub value: &'a [u8],
    /// Where the field starts in the datagram (NTS authenticates everything before a field).
    pub offset: usize,
    /// The whole field, header included.
    pub raw: &'a [u8],
}

/// A parsed packet: the header, the validated extension-field area and an optional legacy MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: Header,
    extension_area: &'a [u8],
    pub mac: Option<&'a [u8]>,
}

impl<'a> Packet<'a> {
    /// Parses a whole datagram. The extension fields are checked here (so iterating them later
    /// cannot fail) without allocating.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let header = Header::parse(bytes)?;
        let rest = &bytes[HEADER_LEN..];
        let mut offset = 0;
        loop {
            let remaining = rest.len() - offset;
            if remaining == 0 {
                return Ok(Packet { header, extension_area: rest, mac: None });
            }
            // RFC 7822 §7.5: without a MAC the last field is at least 28 bytes long, so what is
            // left at exactly a MAC's length is a MAC.
            if MAC_LENGTHS.contains(&remaining) {
                return Ok(Packet { header, extension_area: &rest[..offset], mac: Some(&rest[offset..]) });
            }
            let at = HEADER_LEN + offset;
            if remaining < MIN_EXTENSION_FIELD_LEN {
                return Err(ParseError::TrailingBytes { offset: at, length: remaining });
            }
            let length = usize::from(u16::from_be_bytes([rest[offset + 2], rest[offset + 3]]));
            if length < MIN_EXTENSION_FIELD_LEN || length % 4 != 0 {
                return Err(ParseError::BadExtensionLength { offset: at, length });
            }
            if length > remaining {
                return Err(ParseError::TruncatedExtension { offset: at, length, remaining });
            }
            offset += length;
        }
    }

    pub fn extensions(&self) -> ExtensionFields<'a> {
        ExtensionFields { rest: self.extension_area, offset: HEADER_LEN }
    }

    pub fn has_extensions(&self) -> bool {
        !self.extension_area.is_empty()
    }
}

/// Iterator over a validated extension-field area.
#[derive(Clone, Debug)]
pub struct ExtensionFields<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for ExtensionFields<'a> {
    type Item = ExtensionField<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let field_type = u16::from_be_bytes([*self.rest.first()?, *self.rest.get(1)?]);
        let length = usize::from(u16::from_be_bytes([*self.rest.get(2)?, *self.rest.get(3)?]));
        let value = self.rest.get(4..length)?;
        let raw = self.rest.get(..length)?;
        let offset = self.offset;
        self.rest = self.rest.get(length..)?;
        self.offset += length;
        Some(ExtensionField { field_type, value, offset, raw })
    }
}

/// Writes one extension field (header + value + zero padding to a multiple of 4, at least 16
/// bytes) into `out`, returning the bytes written, or `None` if it does not fit.
pub fn write_extension_field(field_type: u16, value: &[u8], out: &mut [u8]) -> Option<usize> {
    let length = (4 + value.len()).next_multiple_of(4).max(MIN_EXTENSION_FIELD_LEN);
    let length_field = u16::try_from(length).ok()?;
    let out = out.get_mut(..length)?;
    out[..2].copy_from_slice(&field_type.to_be_bytes());
    out[2..4].copy_from_slice(&length_field.to_be_bytes());
    out[4..4 + value.len()].copy_from_slice(value);
    out[4 + value.len()..].fill(0);
    Some(length)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet of {length} bytes is shorter than the 48-byte NTP header")]
    TooShort { length: usize },
    #[error(
        "extension field at byte {offset} has invalid length {length} (must be >= 16 and a multiple of 4)"
    )]
    BadExtensionLength { offset: usize, length: usize },
    #[error("extension field at byte {offset} claims {length} bytes but only {remaining} remain")]
    TruncatedExtension { offset: usize, length: usize, remaining: usize },
    #[error("{length} trailing bytes at byte {offset} are neither an extension field nor a MAC")]
    TrailingBytes { offset: usize, length: usize },
}

/// A request header as a client would send it (for tests across the crate).
#[cfg(test)]
pub(crate) fn request_bytes(version: u8, mode: Mode, precision: i8, transmit: u64) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    Header {
        leap: LeapIndicator::Unsynchronised,
        version,
        mode,
        stratum: 0,
        poll: 6,
        precision,
        root_delay: NtpShort::ZERO,
        root_dispersion: NtpShort::ZERO,
        reference_id: ReferenceId::default(),
        reference_time: NtpTimestamp::ZERO,
        origin_time: NtpTimestamp::ZERO,
        receive_time: NtpTimestamp::ZERO,
        transmit_time: NtpTimestamp::from_bits(transmit),
    }
    .write(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_request(version: u8) -> [u8; HEADER_LEN] {
        request_bytes(version, Mode::Client, -20, 0x0123_4567_89ab_cdef)
    }

    #[test]
    fn header_round_trips() {
        let bytes = client_request(4);
        let header = Header::parse(&bytes).unwrap();
        assert_eq!(header.version, 4);
        assert_eq!(header.mode, Mode::Client);
        assert_eq!(header.leap, LeapIndicator::Unsynchronised);
        assert_eq!(header.poll, 6);
        assert_eq!(header.precision, -20);
        assert_eq!(header.transmit_time.to_bits(), 0x0123_4567_89ab_cdef);
        let mut again = [0u8; HEADER_LEN];
        header.write(&mut again);
        assert_eq!(again, bytes);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = client_request(4);
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::parse(&bytes[..len]), Err(ParseError::TooShort { length: len }));
        }
    }

    #[test]
    fn extension_fields_are_listed_in_order() {
        let mut bytes = client_request(4).to_vec();
        let mut field = [0u8; 64];
        let n = write_extension_field(0x0104, &[7u8; 32], &mut field).unwrap();
        bytes.extend_from_slice(&field[..n]);
        let n = write_extension_field(0x0204, &[9u8; 5], &mut field).unwrap();
        assert_eq!(n, 16, "short values are padded to the 16-byte minimum");
        bytes.extend_from_slice(&field[..n]);
        // The last field of a packet without MAC must be >= 28 bytes: append a third one.
        let n = write_extension_field(0x0304, &[0u8; 24], &mut field).unwrap();
        bytes.extend_from_slice(&field[..n]);

        let packet = Packet::parse(&bytes).unwrap();
        let fields: Vec<_> = packet.extensions().collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].field_type, 0x0104);
        assert_eq!(fields[0].value, &[7u8; 32]);
        assert_eq!(fields[1].field_type, 0x0204);
        assert_eq!(&fields[1].value[..5], &[9u8; 5]);
        assert_eq!(fields[2].field_type, 0x0304);
        assert_eq!(fields.iter().map(|f| f.offset).collect::<Vec<_>>(), vec![48, 84, 100]);
        assert_eq!(fields[1].raw, &bytes[84..100]);
        assert!(packet.mac.is_none());
    }

    #[test]
    fn legacy_mac_is_recognised() {
        for mac_len in MAC_LENGTHS {
            let mut bytes = client_request(3).to_vec();
            bytes.extend(std::iter::repeat_n(0xaa, mac_len));
            let packet = Packet::parse(&bytes).unwrap();
            assert_eq!(packet.mac.map(<[u8]>::len), Some(mac_len));
            assert!(!packet.has_extensions());
        }
    }

    #[test]
    fn extension_field_garbage_is_rejected() {
        let base = client_request(4);
        let with = |tail: &[u8]| {
            let mut v = base.to_vec();
            v.extend_from_slice(tail);
            Packet::parse(&v).map(|_| ())
        };
        // Length not a multiple of 4.
        let mut f = [0u8; 32];
        f[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert!(matches!(with(&f), Err(ParseError::BadExtensionLength { length: 30, .. })));
        // Length below the minimum.
        f[2..4].copy_from_slice(&8u16.to_be_bytes());
        assert!(matches!(with(&f), Err(ParseError::BadExtensionLength { length: 8, .. })));
        // Length zero (would loop forever if accepted).
        f[2..4].copy_from_slice(&0u16.to_be_bytes());
        assert!(matches!(with(&f), Err(ParseError::BadExtensionLength { length: 0, .. })));
        // Length beyond the datagram.
        f[2..4].copy_from_slice(&64u16.to_be_bytes());
        assert!(matches!(with(&f), Err(ParseError::TruncatedExtension { length: 64, .. })));
        // A few stray bytes.
        assert!(matches!(with(&[1, 2, 3]), Err(ParseError::TrailingBytes { length: 3, .. })));
    }

    #[test]
    fn reference_id_ascii() {
        assert_eq!(ReferenceId::ascii("GPS"), Some(ReferenceId(*b"GPS\0")));
        assert_eq!(ReferenceId::ascii("GNSS"), Some(ReferenceId(*b"GNSS")));
        assert_eq!(ReferenceId::ascii("TOOLONG"), None);
        assert_eq!(ReferenceId::ascii(""), None);
        assert_eq!(ReferenceId::ascii("a b"), None);
    }

    #[test]
    fn write_extension_field_refuses_what_does_not_fit() {
        let mut small = [0u8; 15];
        assert_eq!(write_extension_field(1, &[], &mut small), None);
        let mut big = vec![0u8; 70_000];
        assert_eq!(write_extension_field(1, &[0u8; 65_600], &mut big), None);
    }
}
