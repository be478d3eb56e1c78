//! NTS inside NTP (RFC 8915 §5): reading a request's Unique Identifier, Cookie, Cookie
//! Placeholder and Authenticator fields, verifying it under C2S, and writing the authenticated
//! response (fresh cookies encrypted under S2C) or the `NTSN` kiss-o'-death's fields. Pure: the
//! randomness comes in as bytes.

use super::aead::{body_range, AeadKey, TAG_LEN};
use super::cookie::{self, COOKIE_NONCE_LEN};
use super::key_set::CookieKeySet;
use crate::packet::{write_extension_field, Packet};

pub const UNIQUE_IDENTIFIER: u16 = 0x0104;
pub const COOKIE: u16 = 0x0204;
pub const COOKIE_PLACEHOLDER: u16 = 0x0304;
pub const AUTHENTICATOR: u16 = 0x0404;

/// §5.3: at least 32 octets of unique identifier.
const MIN_UNIQUE_ID_LEN: usize = 32;
/// Cookies per response at most, whatever the number of placeholders (the KE hands out 8).
pub const MAX_COOKIES_PER_RESPONSE: usize = 8;
/// Randomness one response needs at most: its nonce plus one nonce per cookie.
pub const RANDOM_BYTES_PER_RESPONSE: usize = 16 + MAX_COOKIES_PER_RESPONSE * COOKIE_NONCE_LEN;

/// The NTS fields of a request, still sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NtsRequest<'a> {
    /// The whole Unique Identifier field, echoed as is.
    pub unique_id_field: &'a [u8],
    pub cookie: &'a [u8],
    pub placeholders: usize,
    /// Bytes of the datagram before the Authenticator field: the associated data.
    pub authenticated_len: usize,
    pub nonce: &'a [u8],
    pub ciphertext: &'a [u8],
    /// Nonce plus its padding plus additional padding (RFC 8915 §5.6 sets a floor on it).
    pub nonce_space: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtsFields<'a> {
    /// No NTS fields: plain NTP.
    Absent,
    Present(NtsRequest<'a>),
    /// NTS fields that cannot be an NTS request (no unique identifier, two cookies, …).
    Malformed(&'static str),
}

/// Finds the NTS fields in a parsed request. Fields after the Authenticator are not
/// authenticated, so they are not looked at.
pub fn read_fields<'a>(packet: &Packet<'a>) -> NtsFields<'a> {
    if !packet.has_extensions() {
        return NtsFields::Absent;
    }
    let mut unique_id_field = None;
    let mut cookie = None;
    let mut placeholders = 0usize;
    let mut seen_nts = false;
    for field in packet.extensions() {
        match field.field_type {
            UNIQUE_IDENTIFIER => {
                seen_nts = true;
                if unique_id_field.replace(field.raw).is_some() {
                    return NtsFields::Malformed("two unique identifiers");
                }
                if field.value.len() < MIN_UNIQUE_ID_LEN {
                    return NtsFields::Malformed("unique identifier shorter than 32 bytes");
                }
            }
            COOKIE => {
                seen_nts = true;
                if cookie.replace(field.value).is_some() {
                    return NtsFields::Malformed("two cookies");
                }
            }
            COOKIE_PLACEHOLDER => {
                seen_nts = true;
                placeholders += 1;
            }
            AUTHENTICATOR => {
                let (Some(unique_id_field), Some(cookie)) = (unique_id_field, cookie) else {
                    return NtsFields::Malformed("authenticator without unique identifier and cookie");
                };
                let Some((nonce, ciphertext, nonce_space)) = read_authenticator(field.value) else {
                    return NtsFields::Malformed("authenticator lengths do not fit");
                };
                return NtsFields::Present(NtsRequest {
                    unique_id_field,
                    cookie,
                    placeholders,
                    authenticated_len: field.offset,
                    nonce,
                    ciphertext,
                    nonce_space,
                });
            }
            _ => {}
        }
    }
    if seen_nts {
        NtsFields::Malformed("NTS fields without an authenticator")
    } else {
        NtsFields::Absent
    }
}

/// Nonce length(2) ‖ ciphertext length(2) ‖ nonce, padded to 4 ‖ ciphertext, padded to 4 ‖
/// additional padding. Returns the nonce, the ciphertext and the room taken by everything but
/// the ciphertext.
fn read_authenticator(value: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    let nonce_len = usize::from(u16::from_be_bytes([*value.first()?, *value.get(1)?]));
    let ciphertext_len = usize::from(u16::from_be_bytes([*value.get(2)?, *value.get(3)?]));
    let nonce = value.get(4..4 + nonce_len)?;
    let ciphertext_at = 4 + nonce_len.next_multiple_of(4);
    let ciphertext = value.get(ciphertext_at..ciphertext_at + ciphertext_len)?;
    let nonce_space = value.len().checked_sub(4 + ciphertext_len.next_multiple_of(4))?;
    Some((nonce, ciphertext, nonce_space))
}

/// Why an NTS request gets `NTSN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtsRejection {
    /// The cookie does not open: unknown or expired master key, or not ours.
    Cookie,
    /// The cookie opened but the request does not verify under its C2S key.
    Authentication,
}

/// A request that verified: the session keys and what the response should hold.
#[derive(Clone, Debug)]
pub struct VerifiedRequest {
    /// The request's cookie, opened: the session's keys, and what sealing the fresh cookies
    /// can reuse.
    pub cookie: cookie::Opened,
    pub cookies_wanted: usize,
}

impl VerifiedRequest {
    /// How many of the [`RANDOM_BYTES_PER_RESPONSE`] bytes [`write_response`] will read: the
    /// answer's nonce and one nonce per wanted cookie. Drawing only these saves the rest.
    pub fn random_len(&self) -> usize {
        16 + self.cookies_wanted * COOKIE_NONCE_LEN
    }
}

/// Opens the cookie and checks the authenticator over `datagram[..authenticated_len]`.
pub fn verify(
    request: &NtsRequest<'_>,
    datagram: &[u8],
    keys: &CookieKeySet,
) -> Result<VerifiedRequest, NtsRejection> {
    let opened = cookie::open_renewable(keys, request.cookie).map_err(|_| NtsRejection::Cookie)?;
    let contents = &opened.contents;
    if request.nonce_space < contents.algorithm().min_request_nonce_len() {
        return Err(NtsRejection::Authentication);
    }
    // Opening needs a writable copy. Clients put nothing (or little) in the encrypted part, so a
    // small stack buffer serves them without zeroing kilobytes per request; longer ones go to
    // the heap.
    let mut small = [0u8; 128];
    let mut large = Vec::new();
    let sealed = if let Some(room) = small.get_mut(..request.ciphertext.len()) {
        room.copy_from_slice(request.ciphertext);
        room
    } else {
        large.extend_from_slice(request.ciphertext);
        &mut large[..]
    };
    let associated = datagram.get(..request.authenticated_len).ok_or(NtsRejection::Authentication)?;
    contents.c2s.open(request.nonce, associated, sealed).map_err(|_| NtsRejection::Authentication)?;
    // Encrypted extension fields from the client carry nothing this server acts on.
    let cookies_wanted = (1 + request.placeholders).min(MAX_COOKIES_PER_RESPONSE);
    Ok(VerifiedRequest { cookie: opened, cookies_wanted })
}

/// Writes the response's NTS fields after the 48-byte header already in `out[..48]`: the
/// echoed unique identifier and an authenticator sealing fresh cookies under S2C. The cookie
/// count shrinks until the response is no larger than `request_len`. Returns the response
/// length. `random` holds fresh bytes in its first [`VerifiedRequest::random_len`].
pub fn write_response(
    verified: &VerifiedRequest,
    unique_id_field: &[u8],
    keys: &CookieKeySet,
    request_len: usize,
    random: &[u8; RANDOM_BYTES_PER_RESPONSE],
    out: &mut [u8],
) -> Option<usize> {
    let s2c = &verified.cookie.contents.s2c;
    let algorithm = s2c.algorithm();
    let nonce_len = algorithm.nonce_len();
    let cookie_field_len = 4 + cookie::cookie_len(algorithm);
    let fixed = 48 + unique_id_field.len() + 4 + 4 + nonce_len.next_multiple_of(4) + TAG_LEN;
    let fitting = request_len.checked_sub(fixed)? / cookie_field_len;
    let count = verified.cookies_wanted.min(fitting);
    if count == 0 {
        // Not even one cookie fits: the client's request was smaller than any answer.
        return None;
    }

    // The cookies are sealed straight into the authenticator's plaintext, which is then sealed
    // in place: no copy of either, no allocation.
    let plaintext_len = count * cookie_field_len;
    let ciphertext_len = plaintext_len + TAG_LEN;
    let at = 48 + unique_id_field.len();
    out.get_mut(48..at)?.copy_from_slice(unique_id_field);
    let ciphertext_at = 4 + 4 + nonce_len.next_multiple_of(4);
    let field_len = ciphertext_at + ciphertext_len.next_multiple_of(4);
    let (associated, rest) = out.split_at_mut(at);
    let auth = rest.get_mut(..field_len)?;
    let (head, sealed_and_padding) = auth.split_at_mut(ciphertext_at);
    head.fill(0);
    head[..2].copy_from_slice(&AUTHENTICATOR.to_be_bytes());
    head[2..4].copy_from_slice(&u16::try_from(field_len).ok()?.to_be_bytes());
    head[4..6].copy_from_slice(&u16::try_from(nonce_len).ok()?.to_be_bytes());
    head[6..8].copy_from_slice(&u16::try_from(ciphertext_len).ok()?.to_be_bytes());
    let nonce = &random[..nonce_len];
    head[8..8 + nonce_len].copy_from_slice(nonce);
    let (sealed, padding) = sealed_and_padding.split_at_mut(ciphertext_len);
    padding.fill(0);
    let body = sealed.get_mut(body_range(algorithm, plaintext_len))?;
    let cookie_field_type = COOKIE.to_be_bytes();
    let cookie_field_length = u16::try_from(cookie_field_len).ok()?.to_be_bytes();
    for (i, field) in body.chunks_exact_mut(cookie_field_len).enumerate() {
        let mut cookie_nonce = [0u8; COOKIE_NONCE_LEN];
        cookie_nonce.copy_from_slice(&random[16 + i * COOKIE_NONCE_LEN..16 + (i + 1) * COOKIE_NONCE_LEN]);
        field[..2].copy_from_slice(&cookie_field_type);
        field[2..4].copy_from_slice(&cookie_field_length);
        cookie::seal_successor_into(keys, &verified.cookie, cookie_nonce, &mut field[4..])?;
    }
    s2c.seal_in_place(nonce, associated, sealed).ok()?;
    Some(at + field_len)
}

/// The `NTSN` kiss-o'-death's only field: the echoed unique identifier (no authenticator: the
/// server has no key the client would trust). Written after the header; returns the length.
pub fn write_nak_fields(unique_id_field: &[u8], out: &mut [u8]) -> Option<usize> {
    out.get_mut(48..48 + unique_id_field.len())?.copy_from_slice(unique_id_field);
    Some(48 + unique_id_field.len())
}

/// Builds a client request (for tests and the load harness): header, unique identifier, cookie,
/// `placeholders` placeholders and an authenticator under C2S. Returns the datagram.
pub fn client_request(
    header: &[u8; 48],
    unique_id: &[u8; 32],
    cookie: &[u8],
    placeholders: usize,
    c2s: &AeadKey,
    nonce: &[u8],
) -> Vec<u8> {
    let mut out = header.to_vec();
    let mut field = vec![0u8; 4 + cookie.len().max(32) + 4];
    let n = write_extension_field(UNIQUE_IDENTIFIER, unique_id, &mut field).unwrap_or(0);
    out.extend_from_slice(&field[..n]);
    let n = write_extension_field(COOKIE, cookie, &mut field).unwrap_or(0);
    out.extend_from_slice(&field[..n]);
    let zeroes = vec![0u8; cookie.len()];
    for _ in 0..placeholders {
        let n = write_extension_field(COOKIE_PLACEHOLDER, &zeroes, &mut field).unwrap_or(0);
        out.extend_from_slice(&field[..n]);
    }
    let mut sealed = [0u8; TAG_LEN];
    let ciphertext_len = c2s.seal(nonce, &out, &[], &mut sealed).unwrap_or(0);
    let mut value = Vec::new();
    value.extend_from_slice(&(nonce.len() as u16).to_be_bytes());
    value.extend_from_slice(&(ciphertext_len as u16).to_be_bytes());
    value.extend_from_slice(nonce);
    value.resize(4 + nonce.len().next_multiple_of(4), 0);
    value.extend_from_slice(&sealed[..ciphertext_len]);
    let mut field = vec![0u8; 4 + value.len() + 4];
    let n = write_extension_field(AUTHENTICATOR, &value, &mut field).unwrap_or(0);
    out.extend_from_slice(&field[..n]);
    out
}

/// What a client reads from a verified response (tests and the load harness).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientView {
    pub unique_id: Vec<u8>,
    pub cookies: Vec<Vec<u8>>,
}

/// Checks a response as a client would: unique identifier, authenticator under S2C, and the
/// cookies inside. `None` if anything does not verify.
pub fn client_read_response(datagram: &[u8], s2c: &AeadKey) -> Option<ClientView> {
    let packet = Packet::parse(datagram).ok()?;
    let mut unique_id = None;
    for field in packet.extensions() {
        match field.field_type {
            UNIQUE_IDENTIFIER => unique_id = Some(field.value.to_vec()),
            AUTHENTICATOR => {
                let (nonce, ciphertext, _) = read_authenticator(field.value)?;
                let mut sealed = ciphertext.to_vec();
                let plain = s2c.open(nonce, datagram.get(..field.offset)?, &mut sealed).ok()?.to_vec();
                let mut cookies = Vec::new();
                let mut rest = &plain[..];
                while rest.len() >= 4 {
                    let t = u16::from_be_bytes([rest[0], rest[1]]);
                    let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
                    let value = rest.get(4..len)?;
                    if t == COOKIE {
                        cookies.push(value.to_vec());
                    }
                    rest = &rest[len..];
                }
                return Some(ClientView { unique_id: unique_id?, cookies });
            }
            _ => {}
        }
    }
    None
}
