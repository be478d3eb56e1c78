//! The server's cookie (RFC 8915 §6 suggests the shape): key id ‖ nonce ‖ AEAD under that master
//! key of C2S ‖ S2C, with the key id and the session's algorithm as associated data. Only this
//! server (and servers sharing its key file) can open it; the client treats it as opaque. Pure:
//! the nonce comes in.
//!
//! The algorithm is not carried: every algorithm has a key length of its own, so the cookie's
//! length names it, and the tag covers it. The plaintext is then the two keys alone, a whole
//! number of AES blocks (64 bytes for AES-SIV-CMAC-256), which costs a software AES (a Pi 4)
//! two block calls fewer per cookie than the 68 bytes with the algorithm inside did.

use super::aead::{siv_open, siv_seal, AeadAlgorithm, AeadKey, MAX_KEY_LEN, TAG_LEN};
use super::key_set::CookieKeySet;
use super::siv::PlaintextChain;
pub const COOKIE_NONCE_LEN: usize = 16;
const KEY_ID_LEN: usize = 4;
const OVERHEAD: usize = KEY_ID_LEN + COOKIE_NONCE_LEN + TAG_LEN;
pub const MAX_COOKIE_LEN: usize = OVERHEAD + 2 * MAX_KEY_LEN;

/// What a cookie carries: the session's algorithm and its two keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieContents {
    pub c2s: AeadKey,
    pub s2c: AeadKey,
}

impl CookieContents {
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.c2s.algorithm()
    }
}

/// The length of a cookie for sessions using `algorithm`: a multiple of 4, as NTP extension
/// fields want, since every key length is.
pub fn cookie_len(algorithm: AeadAlgorithm) -> usize {
    OVERHEAD + 2 * algorithm.key_len()
}

/// The algorithm whose cookies are `len` bytes long.
fn algorithm_of_len(len: usize) -> Option<AeadAlgorithm> {
    AeadAlgorithm::ALL.into_iter().find(|a| cookie_len(*a) == len)
}

/// The associated data: the key id, then the algorithm, which the tag so binds to the keys.
fn associated_data(key_id: u32, algorithm: AeadAlgorithm) -> [u8; KEY_ID_LEN + 2] {
    let mut ad = [0u8; KEY_ID_LEN + 2];
    ad[..KEY_ID_LEN].copy_from_slice(&key_id.to_be_bytes());
    ad[KEY_ID_LEN..].copy_from_slice(&algorithm.id().to_be_bytes());
    ad
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("the cookie's length is not that of any algorithm's cookie")]
    Length,
    #[error("the cookie's master key {0} is not kept any more (or never was)")]
    UnknownKey(u32),
    #[error("the cookie does not authenticate under its master key")]
    Authentication,
}

/// A cookie opened: the session it carries, and what sealing its successors can reuse
/// ([`seal_successor_into`]).
#[derive(Clone, Debug)]
pub struct Opened {
    pub contents: CookieContents,
    renewal: Renewal,
}

/// What opening a cookie leaves for sealing its successors: the master key that opened it and
/// its plaintext's CMAC chain. A fresh cookie for the same session under the same master key
/// has the same plaintext, so sealing it skips those blocks (three of the four of an
/// AES-SIV-CMAC-256 session's), and comes out the same as without.
#[derive(Clone, Copy)]
struct Renewal {
    key_id: u32,
    chain: PlaintextChain,
}

impl std::fmt::Debug for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The chain is derived from the master key: never printed.
        write!(f, "Renewal(key {})", self.key_id)
    }
}

/// Seals `contents` under the current master key, appending the cookie to `out`.
pub fn seal(
    keys: &CookieKeySet,
    contents: &CookieContents,
    nonce: [u8; COOKIE_NONCE_LEN],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.resize(start + cookie_len(contents.algorithm()), 0);
    // `out` was just sized for the cookie, so this cannot fail.
    let _ = seal_into(keys, contents, nonce, &mut out[start..]);
}

/// Seals `contents` under the current master key into the front of `out`, without a copy of
/// it anywhere else; returns the cookie's length, or `None` if `out` is too short.
pub fn seal_into(
    keys: &CookieKeySet,
    contents: &CookieContents,
    nonce: [u8; COOKIE_NONCE_LEN],
    out: &mut [u8],
) -> Option<usize> {
    seal_with(keys, contents, nonce, None, out)
}

/// [`seal_into`] for a fresh cookie of the session `opened` carries: the same cookie, with
/// less work while `opened`'s master key is the current one.
pub fn seal_successor_into(
    keys: &CookieKeySet,
    opened: &Opened,
    nonce: [u8; COOKIE_NONCE_LEN],
    out: &mut [u8],
) -> Option<usize> {
    seal_with(keys, &opened.contents, nonce, Some(&opened.renewal), out)
}

fn seal_with(
    keys: &CookieKeySet,
    contents: &CookieContents,
    nonce: [u8; COOKIE_NONCE_LEN],
    renewal: Option<&Renewal>,
    out: &mut [u8],
) -> Option<usize> {
    let master = keys.current();
    let algorithm = contents.algorithm();
    let len = cookie_len(algorithm);
    let cookie = out.get_mut(..len)?;
    let (head, sealed) = cookie.split_at_mut(KEY_ID_LEN + COOKIE_NONCE_LEN);
    head[..KEY_ID_LEN].copy_from_slice(&master.id.to_be_bytes());
    head[KEY_ID_LEN..].copy_from_slice(&nonce);
    let k = algorithm.key_len();
    // AES-SIV puts the tag first (RFC 5297).
    let plain = &mut sealed[TAG_LEN..];
    plain[..k].copy_from_slice(contents.c2s.as_bytes());
    plain[k..].copy_from_slice(contents.s2c.as_bytes());
    let chain = renewal.filter(|r| r.key_id == master.id).map(|r| &r.chain);
    let ad = associated_data(master.id, algorithm);
    // The nonce is 16 bytes and `sealed` is the tag's room and the plaintext: this cannot fail.
    siv_seal(master.cipher().key(), &nonce, &ad, sealed, chain).ok()?;
    Some(len)
}

/// Opens a cookie with whichever kept master key it names.
pub fn open(keys: &CookieKeySet, cookie: &[u8]) -> Result<CookieContents, CookieError> {
    open_renewable(keys, cookie).map(|opened| opened.contents)
}

/// [`open`], keeping what sealing the cookie's successors can reuse.
pub fn open_renewable(keys: &CookieKeySet, cookie: &[u8]) -> Result<Opened, CookieError> {
    let algorithm = algorithm_of_len(cookie.len()).ok_or(CookieError::Length)?;
    let mut buffer = [0u8; MAX_COOKIE_LEN];
    let body = buffer.get_mut(..cookie.len()).ok_or(CookieError::Length)?;
    body.copy_from_slice(cookie);
    let (head, sealed) = body.split_at_mut(KEY_ID_LEN + COOKIE_NONCE_LEN);
    let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let master = keys.get(id).ok_or(CookieError::UnknownKey(id))?;
    let ad = associated_data(id, algorithm);
    let mut chain = PlaintextChain::default();
    let plain = siv_open(master.cipher().key(), &head[KEY_ID_LEN..], &ad, sealed, Some(&mut chain))
        .map_err(|_| CookieError::Authentication)?;
    let (c2s, s2c) = plain.split_at(algorithm.key_len());
    // Both halves are the algorithm's key length, which the cookie's length was chosen by.
    let key = |bytes: &[u8]| AeadKey::new(algorithm, bytes).map_err(|_| CookieError::Length);
    Ok(Opened {
        contents: CookieContents { c2s: key(c2s)?, s2c: key(s2c)? },
        renewal: Renewal { key_id: id, chain },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(algorithm: AeadAlgorithm) -> CookieContents {
        let k = algorithm.key_len();
        CookieContents {
            c2s: AeadKey::new(algorithm, &vec![1; k]).unwrap(),
            s2c: AeadKey::new(algorithm, &vec![2; k]).unwrap(),
        }
    }

    #[test]
    fn cookies_round_trip_for_every_algorithm_and_are_a_multiple_of_4() {
        let keys = CookieKeySet::new(86_400, 1, [5; 32], 1_800_000_000);
        for algorithm in AeadAlgorithm::ALL {
            let mut cookie = Vec::new();
            seal(&keys, &contents(algorithm), [3; 16], &mut cookie);
            assert_eq!(cookie.len(), cookie_len(algorithm));
            assert_eq!(cookie.len() % 4, 0);
            assert_eq!(open(&keys, &cookie).unwrap(), contents(algorithm));
        }
    }

    /// A successor sealed with what opening its predecessor left is the cookie sealed from
    /// scratch, byte for byte, for every algorithm, and also when the predecessor's master key
    /// is no longer the current one.
    #[test]
    fn successors_sealed_with_the_renewal_are_the_cookies_sealed_from_scratch() {
        let mut keys = CookieKeySet::new(86_400, 1, [5; 32], 1_800_000_000);
        for algorithm in AeadAlgorithm::ALL {
            let mut old = Vec::new();
            seal(&keys, &contents(algorithm), [3; 16], &mut old);
            let opened = open_renewable(&keys, &old).unwrap();
            assert_eq!(opened.contents, contents(algorithm));
            let mut renewed = vec![0u8; cookie_len(algorithm)];
            seal_successor_into(&keys, &opened, [4; 16], &mut renewed).unwrap();
            let mut scratch = Vec::new();
            seal(&keys, &opened.contents, [4; 16], &mut scratch);
            assert_eq!(renewed, scratch, "{}", algorithm.name());
            assert_eq!(open(&keys, &renewed).unwrap(), contents(algorithm));
        }
        let mut old = Vec::new();
        seal(&keys, &contents(AeadAlgorithm::AesSivCmac256), [3; 16], &mut old);
        let opened = open_renewable(&keys, &old).unwrap();
        keys.advance(1_800_000_000 + 86_400, || unreachable!());
        let mut renewed = vec![0u8; cookie_len(AeadAlgorithm::AesSivCmac256)];
        seal_successor_into(&keys, &opened, [4; 16], &mut renewed).unwrap();
        let mut scratch = Vec::new();
        seal(&keys, &opened.contents, [4; 16], &mut scratch);
        assert_eq!(renewed, scratch, "under the next master key");
        assert_ne!(renewed[..4], old[..4], "the successor is under the new key");
    }

    /// The length names the algorithm only while no two algorithms share a key length.
    #[test]
    fn every_algorithm_has_a_cookie_length_of_its_own() {
        for algorithm in AeadAlgorithm::ALL {
            assert_eq!(algorithm_of_len(cookie_len(algorithm)), Some(algorithm));
        }
    }

    #[test]
    fn tampered_unknown_or_expired_cookies_do_not_open() {
        let mut keys = CookieKeySet::new(86_400, 1, [5; 32], 1_800_000_000);
        let mut cookie = Vec::new();
        seal(&keys, &contents(AeadAlgorithm::AesSivCmac256), [3; 16], &mut cookie);
        for i in 0..cookie.len() {
            let mut bad = cookie.clone();
            bad[i] ^= 0x40;
            assert!(open(&keys, &bad).is_err(), "byte {i}");
        }
        assert_eq!(open(&keys, &cookie[..20]), Err(CookieError::Length));
        assert_eq!(open(&keys, &cookie[..cookie.len() - 4]), Err(CookieError::Length));
        assert_eq!(open(&keys, &[0; 300]), Err(CookieError::Length));
        keys.advance(1_800_000_000 + 86_400, || unreachable!());
        assert!(open(&keys, &cookie).is_ok(), "one previous key is kept");
        keys.advance(1_800_000_000 + 2 * 86_400, || unreachable!());
        assert!(matches!(open(&keys, &cookie), Err(CookieError::UnknownKey(_))));
    }
}
