//! The AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA "AEAD Algorithms"): ids, key lengths,
//! and sealing/opening with caller-supplied buffers. Pure: no randomness here; nonces come in.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
use aes_gcm_siv::Aes128GcmSiv;
use aes_siv::siv::CmacSiv;

/// The SIV tag and the GCM-SIV tag are both 16 bytes.
pub const TAG_LEN: usize = 16;
/// The longest key of any supported algorithm (AES-SIV-CMAC-512).
pub const MAX_KEY_LEN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// 15, AEAD_AES_SIV_CMAC_256: mandatory to implement.
    AesSivCmac256,
    /// 16, AEAD_AES_SIV_CMAC_384.
    AesSivCmac384,
    /// 17, AEAD_AES_SIV_CMAC_512.
    AesSivCmac512,
    /// 30, AEAD_AES_128_GCM_SIV (RFC 8452).
    Aes128GcmSiv,
}

impl AeadAlgorithm {
    pub const ALL: [AeadAlgorithm; 4] = [
        AeadAlgorithm::AesSivCmac256,
        AeadAlgorithm::AesSivCmac384,
        AeadAlgorithm::AesSivCmac512,
        AeadAlgorithm::Aes128GcmSiv,
    ];

    pub fn id(self) -> u16 {
        match self {
            AeadAlgorithm::AesSivCmac256 => 15,
            AeadAlgorithm::AesSivCmac384 => 16,
            AeadAlgorithm::AesSivCmac512 => 17,
            AeadAlgorithm::Aes128GcmSiv => 30,
        }
    }

    pub fn from_id(id: u16) -> Option<Self> {
        AeadAlgorithm::ALL.into_iter().find(|a| a.id() == id)
    }

    /// The configuration name, as in the IANA registry without the `AEAD_` prefix.
    pub fn name(self) -> &'static str {
        match self {
            AeadAlgorithm::AesSivCmac256 => "AES-SIV-CMAC-256",
            AeadAlgorithm::AesSivCmac384 => "AES-SIV-CMAC-384",
            AeadAlgorithm::AesSivCmac512 => "AES-SIV-CMAC-512",
            AeadAlgorithm::Aes128GcmSiv => "AES-128-GCM-SIV",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        AeadAlgorithm::ALL.into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }

    pub fn key_len(self) -> usize {
        match self {
            AeadAlgorithm::AesSivCmac256 => 32,
            AeadAlgorithm::AesSivCmac384 => 48,
            AeadAlgorithm::AesSivCmac512 => 64,
            AeadAlgorithm::Aes128GcmSiv => 16,
        }
    }

    /// The nonce length this server uses when it seals (RFC 8915 §5.6 asks for at least
    /// min(16, the algorithm's maximum)).
    pub fn nonce_len(self) -> usize {
        match self {
            AeadAlgorithm::Aes128GcmSiv => 12,
            _ => 16,
        }
    }

    /// The least nonce length (including its padding) a request must carry: N_REQ of RFC 8915
    /// §5.6, min(16, N_MAX).
    pub fn min_request_nonce_len(self) -> usize {
        self.nonce_len()
    }

    fn accepts_nonce_len(self, len: usize) -> bool {
        match self {
            AeadAlgorithm::Aes128GcmSiv => len == 12,
            // SIV takes any nonce; an empty one would make every message deterministic.
            _ => len > 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AeadError {
    #[error("key length {actual} does not match the algorithm's {expected}")]
    KeyLength { expected: usize, actual: usize },
    #[error("nonce length {0} is not usable with this algorithm")]
    NonceLength(usize),
    #[error("output buffer too small")]
    BufferTooSmall,
    #[error("authentication failed")]
    Authentication,
}

/// A key with its algorithm: C2S, S2C, or a cookie master key.
#[derive(Clone, PartialEq, Eq)]
pub struct AeadKey {
    algorithm: AeadAlgorithm,
    bytes: [u8; MAX_KEY_LEN],
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material, not even in a debug log.
        write!(f, "AeadKey({})", self.algorithm.name())
    }
}

impl AeadKey {
    pub fn new(algorithm: AeadAlgorithm, key: &[u8]) -> Result<Self, AeadError> {
        if key.len() != algorithm.key_len() {
            return Err(AeadError::KeyLength { expected: algorithm.key_len(), actual: key.len() });
        }
        let mut bytes = [0u8; MAX_KEY_LEN];
        bytes[..key.len()].copy_from_slice(key);
        Ok(AeadKey { algorithm, bytes })
    }

    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.key_len()]
    }

    /// Seals `plaintext` into `out` (which must hold `plaintext.len() + TAG_LEN` bytes) and
    /// returns the ciphertext length. SIV puts its tag first (RFC 5297), GCM-SIV last (RFC 8452).
    pub fn seal(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, AeadError> {
        if !self.algorithm.accepts_nonce_len(nonce.len()) {
            return Err(AeadError::NonceLength(nonce.len()));
        }
        let len = plaintext.len() + TAG_LEN;
        let out = out.get_mut(..len).ok_or(AeadError::BufferTooSmall)?;
        let key = self.as_bytes();
        match self.algorithm {
            AeadAlgorithm::Aes128GcmSiv => {
                let (body, tag_out) = out.split_at_mut(plaintext.len());
                body.copy_from_slice(plaintext);
                let cipher = Aes128GcmSiv::new_from_slice(key).map_err(|_| self.key_error())?;
                let tag = cipher
                    .encrypt_in_place_detached(nonce.into(), associated_data, body)
                    .map_err(|_| AeadError::BufferTooSmall)?;
                tag_out.copy_from_slice(&tag);
            }
            siv => {
                let (tag_out, body) = out.split_at_mut(TAG_LEN);
                body.copy_from_slice(plaintext);
                let tag = siv_seal(siv, key, [associated_data, nonce], body).map_err(|_| self.key_error())?;
                tag_out.copy_from_slice(&tag);
            }
        }
        Ok(len)
    }

    /// Opens `ciphertext` in place; on success the plaintext is the returned sub-slice.
    pub fn open<'a>(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        ciphertext: &'a mut [u8],
    ) -> Result<&'a mut [u8], AeadError> {
        if !self.algorithm.accepts_nonce_len(nonce.len()) {
            return Err(AeadError::NonceLength(nonce.len()));
        }
        if ciphertext.len() < TAG_LEN {
            return Err(AeadError::Authentication);
        }
        let key = self.as_bytes();
        match self.algorithm {
            AeadAlgorithm::Aes128GcmSiv => {
                let (body, tag) = ciphertext.split_at_mut(ciphertext.len() - TAG_LEN);
                let cipher = Aes128GcmSiv::new_from_slice(key).map_err(|_| self.key_error())?;
                cipher
                    .decrypt_in_place_detached(nonce.into(), associated_data, body, (&*tag).into())
                    .map_err(|_| AeadError::Authentication)?;
                Ok(body)
            }
            siv => {
                let (tag, body) = ciphertext.split_at_mut(TAG_LEN);
                siv_open(siv, key, [associated_data, nonce], body, tag)?;
                Ok(body)
            }
        }
    }

    fn key_error(&self) -> AeadError {
        AeadError::KeyLength { expected: self.algorithm.key_len(), actual: self.as_bytes().len() }
    }
}

/// Runs `$body` with `$cipher` bound to the SIV instance for `$algorithm` (the three differ
/// only in the AES key size, which is a type parameter).
macro_rules! with_siv {
    ($algorithm:expr, $key:expr, |$cipher:ident| $body:expr) => {
        match $algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                let mut $cipher =
                    CmacSiv::<Aes128>::new_from_slice($key).map_err(|_| AeadError::Authentication)?;
                $body
            }
            AeadAlgorithm::AesSivCmac384 => {
                let mut $cipher =
                    CmacSiv::<Aes192>::new_from_slice($key).map_err(|_| AeadError::Authentication)?;
                $body
            }
            AeadAlgorithm::AesSivCmac512 | AeadAlgorithm::Aes128GcmSiv => {
                let mut $cipher =
                    CmacSiv::<Aes256>::new_from_slice($key).map_err(|_| AeadError::Authentication)?;
                $body
            }
        }
    };
}

fn siv_seal(
    algorithm: AeadAlgorithm,
    key: &[u8],
    headers: [&[u8]; 2],
    body: &mut [u8],
) -> Result<[u8; TAG_LEN], AeadError> {
    with_siv!(algorithm, key, |cipher| cipher
        .encrypt_in_place_detached(headers, body)
        .map(Into::into)
        .map_err(|_| AeadError::BufferTooSmall))
}

fn siv_open(
    algorithm: AeadAlgorithm,
    key: &[u8],
    headers: [&[u8]; 2],
    body: &mut [u8],
    tag: &[u8],
) -> Result<(), AeadError> {
    let tag = aes_siv::Tag::from_slice(tag);
    with_siv!(algorithm, key, |cipher| cipher
        .decrypt_in_place_detached(headers, body, tag)
        .map_err(|_| AeadError::Authentication))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(algorithm: AeadAlgorithm) -> AeadKey {
        let bytes: Vec<u8> = (0..algorithm.key_len() as u8).collect();
        AeadKey::new(algorithm, &bytes).unwrap()
    }

    #[test]
    fn ids_and_names_round_trip() {
        for a in AeadAlgorithm::ALL {
            assert_eq!(AeadAlgorithm::from_id(a.id()), Some(a));
            assert_eq!(AeadAlgorithm::from_name(&a.name().to_lowercase()), Some(a));
        }
        assert_eq!(AeadAlgorithm::from_id(0), None);
        assert_eq!(AeadAlgorithm::from_name("AES-SIV-CMAC-128"), None);
    }

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        for a in AeadAlgorithm::ALL {
            let k = key(a);
            let nonce = vec![7u8; a.nonce_len()];
            let mut out = [0u8; 64];
            let n = k.seal(&nonce, b"header", b"secret cookie", &mut out).unwrap();
            assert_eq!(n, 13 + TAG_LEN);
            assert_ne!(&out[..n], b"secret cookie", "{a:?}");
            let mut copy = out;
            assert_eq!(k.open(&nonce, b"header", &mut copy[..n]).unwrap(), b"secret cookie");
            let mut flipped = out;
            flipped[3] ^= 1;
            assert_eq!(k.open(&nonce, b"header", &mut flipped[..n]), Err(AeadError::Authentication));
            let mut copy = out;
            assert_eq!(k.open(&nonce, b"other", &mut copy[..n]), Err(AeadError::Authentication));
            let mut copy = out;
            let mut other_nonce = nonce.clone();
            other_nonce[0] ^= 1;
            assert_eq!(k.open(&other_nonce, b"header", &mut copy[..n]), Err(AeadError::Authentication));
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert!(AeadKey::new(AeadAlgorithm::AesSivCmac256, &[0; 31]).is_err());
        let k = key(AeadAlgorithm::Aes128GcmSiv);
        assert_eq!(k.seal(&[0; 16], b"", b"x", &mut [0; 64]), Err(AeadError::NonceLength(16)));
        assert_eq!(k.seal(&[0; 12], b"", b"x", &mut [0; 4]), Err(AeadError::BufferTooSmall));
        assert_eq!(
            key(AeadAlgorithm::AesSivCmac256).open(&[0; 16], b"", &mut [0; 5]),
            Err(AeadError::Authentication)
        );
    }
}
