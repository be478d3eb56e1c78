//! The AEAD algorithms NTS negotiates (RFC 8915 §5.1, IANA "AEAD Algorithms"): ids, key lengths,
//! and sealing/opening with caller-supplied buffers. Pure: no randomness here; nonces come in.

use aes::cipher::consts::U16;
use aes::cipher::{BlockEncrypt, BlockSizeUser, KeyInit};
use aes::{Aes128Enc, Aes192Enc, Aes256Enc};

use super::gcm_siv::GcmSiv;
use super::siv::{self, PlaintextChain, SivKey};

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

    /// The server's order when the configuration names none. Where the processor has AES
    /// instructions (x86's AES-NI, the Pi 5's ARMv8 cryptography extensions) AES-SIV-CMAC-256
    /// comes first: every client has it and it is the cheapest there. Without them (a Pi 4)
    /// AES-128-GCM-SIV does: in software an NTS request then costs a half to two thirds as
    /// much (docs/benchmarks.md, "NTS on the Pi's processors"), and a client that does not
    /// offer it still gets AES-SIV.
    pub fn default_preference(hardware_aes: bool) -> Vec<AeadAlgorithm> {
        let mut order = vec![
            AeadAlgorithm::AesSivCmac256,
            AeadAlgorithm::Aes128GcmSiv,
            AeadAlgorithm::AesSivCmac512,
            AeadAlgorithm::AesSivCmac384,
        ];
        if !hardware_aes {
            order.swap(0, 1);
        }
        order
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
    /// returns the ciphertext length. For one message; a cookie master key keeps its schedule
    /// for many (`key_set::MasterKey`).
    pub fn seal(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, AeadError> {
        let out = out.get_mut(..plaintext.len() + TAG_LEN).ok_or(AeadError::BufferTooSmall)?;
        out[body_range(self.algorithm, plaintext.len())].copy_from_slice(plaintext);
        self.seal_in_place(nonce, associated_data, out)?;
        Ok(out.len())
    }

    /// Seals the plaintext already at [`body_range`] of `sealed` (the plaintext's length plus
    /// [`TAG_LEN`]) where it lies: no copy.
    pub fn seal_in_place(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        sealed: &mut [u8],
    ) -> Result<(), AeadError> {
        // The key schedule lives on this stack frame only: built where it is used, never moved.
        // `AeadKey::new` checked the key's length for the algorithm.
        let key = self.as_bytes();
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                siv::with_key::<Aes128Enc, _>(key, sealed.len().saturating_sub(TAG_LEN), |k| {
                    siv_seal(k, nonce, associated_data, sealed, None)
                })
            }
            AeadAlgorithm::AesSivCmac384 => {
                siv::with_key::<Aes192Enc, _>(key, sealed.len().saturating_sub(TAG_LEN), |k| {
                    siv_seal(k, nonce, associated_data, sealed, None)
                })
            }
            AeadAlgorithm::AesSivCmac512 => {
                siv::with_key::<Aes256Enc, _>(key, sealed.len().saturating_sub(TAG_LEN), |k| {
                    siv_seal(k, nonce, associated_data, sealed, None)
                })
            }
            AeadAlgorithm::Aes128GcmSiv => {
                gcm_siv_seal(&one_shot_gcm_siv(key)?, nonce, associated_data, sealed)
            }
        }
    }

    /// Opens `ciphertext` in place; on success the plaintext is the returned sub-slice.
    pub fn open<'a>(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        ciphertext: &'a mut [u8],
    ) -> Result<&'a mut [u8], AeadError> {
        // As in `seal_in_place`.
        let key = self.as_bytes();
        match self.algorithm {
            AeadAlgorithm::AesSivCmac256 => {
                siv::with_key::<Aes128Enc, _>(key, ciphertext.len().saturating_sub(TAG_LEN), |k| {
                    siv_open(k, nonce, associated_data, ciphertext, None)
                })
            }
            AeadAlgorithm::AesSivCmac384 => {
                siv::with_key::<Aes192Enc, _>(key, ciphertext.len().saturating_sub(TAG_LEN), |k| {
                    siv_open(k, nonce, associated_data, ciphertext, None)
                })
            }
            AeadAlgorithm::AesSivCmac512 => {
                siv::with_key::<Aes256Enc, _>(key, ciphertext.len().saturating_sub(TAG_LEN), |k| {
                    siv_open(k, nonce, associated_data, ciphertext, None)
                })
            }
            AeadAlgorithm::Aes128GcmSiv => {
                gcm_siv_open(&one_shot_gcm_siv(key)?, nonce, associated_data, ciphertext)
            }
        }
    }
}

/// Where the plaintext sits inside the sealed bytes: SIV puts its tag first (RFC 5297), GCM-SIV
/// last (RFC 8452).
pub fn body_range(algorithm: AeadAlgorithm, plaintext_len: usize) -> std::ops::Range<usize> {
    match algorithm {
        AeadAlgorithm::Aes128GcmSiv => 0..plaintext_len,
        _ => TAG_LEN..TAG_LEN + plaintext_len,
    }
}

fn one_shot_gcm_siv(key: &[u8]) -> Result<GcmSiv, AeadError> {
    let key = key.try_into().map_err(|_| AeadError::KeyLength { expected: 16, actual: key.len() })?;
    Ok(GcmSiv::new(key))
}

/// RFC 5297 §3 as RFC 8915 uses it: the associated data, then the nonce, then the plaintext.
/// One instance per AES key size serves every AES-SIV message of the server (the session keys'
/// and the cookie master key's), so the NTS decision runs one copy of this code, not one per
/// caller: with a copy per caller it measured 15-40 ns slower per request (`nts_decision`, AES-NI).
/// `resume` and `keep` are as in [`SivKey::seal_continuing`] and [`SivKey::open_keeping_chain`].
pub(super) fn siv_seal<C>(
    siv: SivKey<'_, C>,
    nonce: &[u8],
    associated_data: &[u8],
    sealed: &mut [u8],
    resume: Option<&PlaintextChain>,
) -> Result<(), AeadError>
where
    C: BlockEncrypt + KeyInit + BlockSizeUser<BlockSize = U16>,
{
    check_nonce(AeadAlgorithm::AesSivCmac256, nonce)?;
    if sealed.len() < TAG_LEN {
        return Err(AeadError::BufferTooSmall);
    }
    let (tag_out, body) = sealed.split_at_mut(TAG_LEN);
    tag_out.copy_from_slice(&siv.seal_continuing([associated_data, nonce], body, resume));
    Ok(())
}

pub(super) fn siv_open<'a, C>(
    siv: SivKey<'_, C>,
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext: &'a mut [u8],
    keep: Option<&mut PlaintextChain>,
) -> Result<&'a mut [u8], AeadError>
where
    C: BlockEncrypt + KeyInit + BlockSizeUser<BlockSize = U16>,
{
    check_nonce(AeadAlgorithm::AesSivCmac256, nonce)?;
    if ciphertext.len() < TAG_LEN {
        return Err(AeadError::Authentication);
    }
    let (tag, body) = ciphertext.split_at_mut(TAG_LEN);
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| AeadError::Authentication)?;
    siv.open_keeping_chain([associated_data, nonce], body, tag, keep)
        .map_err(|_| AeadError::Authentication)?;
    Ok(body)
}

fn gcm_siv_seal(
    cipher: &GcmSiv,
    nonce: &[u8],
    associated_data: &[u8],
    sealed: &mut [u8],
) -> Result<(), AeadError> {
    let nonce = nonce.try_into().map_err(|_| AeadError::NonceLength(nonce.len()))?;
    let body_len = sealed.len().checked_sub(TAG_LEN).ok_or(AeadError::BufferTooSmall)?;
    let (body, tag_out) = sealed.split_at_mut(body_len);
    tag_out.copy_from_slice(&cipher.seal(nonce, associated_data, body));
    Ok(())
}

fn gcm_siv_open<'a>(
    cipher: &GcmSiv,
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext: &'a mut [u8],
) -> Result<&'a mut [u8], AeadError> {
    let nonce = nonce.try_into().map_err(|_| AeadError::NonceLength(nonce.len()))?;
    let body_len = ciphertext.len().checked_sub(TAG_LEN).ok_or(AeadError::Authentication)?;
    let (body, tag) = ciphertext.split_at_mut(body_len);
    let tag: &[u8; TAG_LEN] = (&*tag).try_into().map_err(|_| AeadError::Authentication)?;
    cipher.open(nonce, associated_data, body, tag).map_err(|_| AeadError::Authentication)?;
    Ok(body)
}

fn check_nonce(algorithm: AeadAlgorithm, nonce: &[u8]) -> Result<(), AeadError> {
    if algorithm.accepts_nonce_len(nonce.len()) {
        Ok(())
    } else {
        Err(AeadError::NonceLength(nonce.len()))
    }
}

/// Whether the `aes` crate runs on AES instructions here: it checks the processor at run time,
/// but on aarch64 only when built with `--cfg aes_armv8` (`.cargo/config.toml`), and never with
/// `--cfg aes_force_soft`.
pub fn hardware_aes() -> bool {
    if cfg!(aes_force_soft) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("aes");
    #[cfg(target_arch = "aarch64")]
    return cfg!(aes_armv8) && std::arch::is_aarch64_feature_detected!("aes");
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    return false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_aes_instructions_gcm_siv_comes_first_and_every_algorithm_stays_offered() {
        let with = AeadAlgorithm::default_preference(true);
        let without = AeadAlgorithm::default_preference(false);
        assert_eq!(with[0], AeadAlgorithm::AesSivCmac256);
        assert_eq!(without[..2], [AeadAlgorithm::Aes128GcmSiv, AeadAlgorithm::AesSivCmac256]);
        for order in [with, without] {
            let mut ids: Vec<u16> = order.iter().map(|a| a.id()).collect();
            ids.sort();
            assert_eq!(ids, [15, 16, 17, 30]);
        }
    }

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
