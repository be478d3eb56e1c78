//! The server's cookie (RFC 8915 §6 suggests the shape): key id ‖ nonce ‖ AEAD under that master
//! key of C2S ‖ S2C, with the key id and the session's algorithm as associated data. Only this
//! server (and servers sharing its key file) can open it; the client treats it as opaque. Pure:
//! the nonce comes in.
//!
//! The algorithm is not carried: every algorithm has a key length of its own, so the cookie's
//! length names it, and the tag covers it. The plaintext is then the two keys alone, a whole
//! number of AES blocks (64 bytes for AES-SIV-CMAC-256), which costs a software AES (a Pi 4)
//! two block calls fewer per cookie than the 68 bytes with the algorithm inside did.

use super::aead::{body_range, AeadAlgorithm, AeadKey, MAX_KEY_LEN, TAG_LEN};
use super::key_set::{CookieKeySet, COOKIE_ALGORITHM};
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
    let master = keys.current();
    let algorithm = contents.algorithm();
    let len = cookie_len(algorithm);
    let cookie = out.get_mut(..len)?;
    let (head, sealed) = cookie.split_at_mut(KEY_ID_LEN + COOKIE_NONCE_LEN);
    head[..KEY_ID_LEN].copy_from_slice(&master.id.to_be_bytes());
    head[KEY_ID_LEN..].copy_from_slice(&nonce);
    let k = algorithm.key_len();
    let plain = &mut sealed[body_range(COOKIE_ALGORITHM, 2 * k)];
    plain[..k].copy_from_slice(contents.c2s.as_bytes());
    plain[k..].copy_from_slice(contents.s2c.as_bytes());
    // The nonce is 16 bytes and `sealed` is the plaintext plus the tag: this cannot fail.
    master.cipher().seal_in_place(&nonce, &associated_data(master.id, algorithm), sealed).ok()?;
    Some(len)
}

/// Opens a cookie with whichever kept master key it names.
pub fn open(keys: &CookieKeySet, cookie: &[u8]) -> Result<CookieContents, CookieError> {
    let algorithm = algorithm_of_len(cookie.len()).ok_or(CookieError::Length)?;
    let mut buffer = [0u8; MAX_COOKIE_LEN];
    let body = buffer.get_mut(..cookie.len()).ok_or(CookieError::Length)?;
    body.copy_from_slice(cookie);
    let (head, sealed) = body.split_at_mut(KEY_ID_LEN + COOKIE_NONCE_LEN);
    let id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let master = keys.get(id).ok_or(CookieError::UnknownKey(id))?;
    let plain = master
        .cipher()
        .open(&head[KEY_ID_LEN..], &associated_data(id, algorithm), sealed)
        .map_err(|_| CookieError::Authentication)?;
    let (c2s, s2c) = plain.split_at(algorithm.key_len());
    // Both halves are the algorithm's key length, which the cookie's length was chosen by.
    let key = |bytes: &[u8]| AeadKey::new(algorithm, bytes).map_err(|_| CookieError::Length);
    Ok(CookieContents { c2s: key(c2s)?, s2c: key(s2c)? })
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
