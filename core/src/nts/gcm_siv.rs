//! AES-128-GCM-SIV (RFC 8452) over a key-generating key prepared once: per message, the four
//! key-derivation blocks in one call of the AES backend, POLYVAL, the tag, then AES-CTR with
//! RFC 8452's 32-bit counter. The `aes-gcm-siv` crate computes the same thing, but per message
//! it built the session key's decryption schedule too (which GCM-SIV never uses) and derived
//! the keys one block per AES call, which on a software AES (a Pi 4, where this AEAD is the
//! preferred one) costs four calls for one call's work: the 4 lanes of the bitsliced AES are
//! computed whatever is asked. Only the block function and POLYVAL come from crates. The unit
//! tests hold it to RFC 8452's vectors and to the `aes-gcm-siv` crate on pseudo-random inputs,
//! and the `aead_gcm_siv` fuzz target to the crate on arbitrary ones.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128Enc;
use polyval::universal_hash::UniversalHash;
use polyval::Polyval;

use super::keystream::Ctr;

pub const KEY_LEN: usize = 16;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
type Block = GenericArray<u8, U16>;

/// The tag does not authenticate the message under this key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAuthentic;

/// An AES-128-GCM-SIV key: its key-generating key's schedule.
#[derive(Clone)]
pub struct GcmSiv {
    key_generating: Aes128Enc,
}

impl GcmSiv {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        GcmSiv { key_generating: Aes128Enc::new(key.into()) }
    }

    /// Encrypts `body` in place and returns the tag.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], associated_data: &[u8], body: &mut [u8]) -> [u8; TAG_LEN] {
        let (polyval, encryption) = self.message_keys(nonce);
        let tag = tag(polyval, &encryption, nonce, associated_data, body);
        apply_keystream(&encryption, &tag, body);
        tag
    }

    /// Decrypts `body` in place if `tag` authenticates it; otherwise `body` is left encrypted
    /// again and the result is an error.
    pub fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        associated_data: &[u8],
        body: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), NotAuthentic> {
        let (polyval, encryption) = self.message_keys(nonce);
        apply_keystream(&encryption, tag, body);
        let expected = self::tag(polyval, &encryption, nonce, associated_data, body);
        // Every byte compared, whatever the first difference: the time says nothing of the tag.
        let difference = expected.iter().zip(tag).fold(0u8, |d, (a, b)| d | (a ^ b));
        if difference == 0 {
            Ok(())
        } else {
            apply_keystream(&encryption, tag, body);
            Err(NotAuthentic)
        }
    }

    /// §4: the message-authentication key and the message-encryption key, each the first
    /// halves of two encryptions of a little-endian counter (0 to 3) followed by the nonce.
    fn message_keys(&self, nonce: &[u8; NONCE_LEN]) -> (Polyval, Aes128Enc) {
        let mut blocks = [Block::default(); 4];
        for (counter, block) in (0u32..).zip(&mut blocks) {
            block[..4].copy_from_slice(&counter.to_le_bytes());
            block[4..].copy_from_slice(nonce);
        }
        self.key_generating.encrypt_blocks(&mut blocks);
        let mut authentication = Block::default();
        let mut encryption = Block::default();
        authentication[..8].copy_from_slice(&blocks[0][..8]);
        authentication[8..].copy_from_slice(&blocks[1][..8]);
        encryption[..8].copy_from_slice(&blocks[2][..8]);
        encryption[8..].copy_from_slice(&blocks[3][..8]);
        (Polyval::new(&authentication), Aes128Enc::new(&encryption))
    }
}

/// §4: POLYVAL over the padded associated data, the padded plaintext and their lengths in bits,
/// XORed with the nonce, the top bit cleared, encrypted.
fn tag(
    mut polyval: Polyval,
    encryption: &Aes128Enc,
    nonce: &[u8; NONCE_LEN],
    associated_data: &[u8],
    plaintext: &[u8],
) -> [u8; TAG_LEN] {
    polyval.update_padded(associated_data);
    polyval.update_padded(plaintext);
    let mut lengths = Block::default();
    lengths[..8].copy_from_slice(&(associated_data.len() as u64 * 8).to_le_bytes());
    lengths[8..].copy_from_slice(&(plaintext.len() as u64 * 8).to_le_bytes());
    polyval.update(&[lengths]);
    let mut s = polyval.finalize();
    for (byte, n) in s.iter_mut().zip(nonce) {
        *byte ^= n;
    }
    s[15] &= 0x7f;
    encryption.encrypt_block(&mut s);
    s.into()
}

/// §4: AES-CTR from the tag with its top bit set, the first 32 bits a little-endian counter
/// that wraps.
fn apply_keystream(encryption: &Aes128Enc, tag: &[u8; TAG_LEN], body: &mut [u8]) {
    if body.is_empty() {
        return;
    }
    let mut block = *tag;
    block[15] |= 0x80;
    let mut counter = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
    let next_block = move || {
        block[..4].copy_from_slice(&counter.to_le_bytes());
        counter = counter.wrapping_add(1);
        Block::from(block)
    };
    encryption.encrypt_with_backend(Ctr { next_block, body });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nts::test_bytes::{hex, pseudo_random};
    use aes_gcm_siv::aead::AeadInPlace;

    /// RFC 8452 Appendix C.1 (AEAD_AES_128_GCM_SIV), a selection over the lengths: key, nonce,
    /// AAD, plaintext, result (ciphertext ‖ tag).
    const VECTORS: [(&str, &str, &str, &str, &str); 9] = [
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "",
            "dc20e2d83f25705bb49e439eca56de25",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "0100000000000000",
            "b5d839330ac7b786578782fff6013b815b287c22493a364c",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "01000000000000000000000000000000",
            "743f7c8077ab25f8624e2e948579cf77303aaf90f6fe21199c6068577437a0c4",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "01000000000000000000000000000000020000000000000000000000000000000300000000000000000000000000000004000000000000000000000000000000",
            "2433668f1058190f6d43e360f4f35cd8e475127cfca7028ea8ab5c20f7ab2af02516a2bdcbc08d521be37ff28c152bba36697f25b4cd169c6590d1dd39566d3f8a263dd317aa88d56bdf3936dba75bb8",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "01",
            "0200000000000000",
            "1e6daba35669f4273b0a1a2560969cdf790d99759abd1508",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "010000000000000000000000",
            "02000000",
            "a8fe3e8707eb1f84fb28f8cb73de8e99e2f48a14",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "010000000000000000000000000000000200",
            "0300000000000000000000000000000004000000",
            "6bb0fecf5ded9b77f902c7d5da236a4391dd029724afc9805e976f451e6d87f6fe106514",
        ),
        (
            "01000000000000000000000000000000",
            "030000000000000000000000",
            "0100000000000000000000000000000002000000",
            "030000000000000000000000000000000400",
            "44d0aaf6fb2f1f34add5e8064e83e12a2adabff9b2ef00fb47920cc72a0c0f13b9fd",
        ),
        (
            "f901cfe8a69615a93fdf7a98cad48179",
            "6245709fb18853f68d833640",
            "7576f7028ec6eb5ea7e298342a94d4b202b370ef9768ec6561c4fe6b7e7296fa859c21",
            "e42a3c02c25b64869e146d7b233987bddfc240871d",
            "391cc328d484a4f46406181bcd62efd9b3ee197d052d15506c84a9edd65e13e9d24a2a6e70",
        ),
    ];

    #[test]
    fn seal_and_open_match_rfc_8452_c1() {
        for (key, nonce, ad, plaintext, result) in VECTORS {
            let cipher = GcmSiv::new(&hex(key).try_into().unwrap());
            let nonce: [u8; NONCE_LEN] = hex(nonce).try_into().unwrap();
            let (ad, plaintext, result) = (hex(ad), hex(plaintext), hex(result));
            let mut body = plaintext.clone();
            let tag = cipher.seal(&nonce, &ad, &mut body);
            assert_eq!([body.as_slice(), &tag].concat(), result);
            cipher.open(&nonce, &ad, &mut body, &tag).unwrap();
            assert_eq!(body, plaintext);
        }
    }

    #[test]
    fn a_wrong_tag_fails_and_leaves_the_ciphertext() {
        let cipher = GcmSiv::new(&[9; 16]);
        let mut body = b"a message of some length, past one block".to_vec();
        let mut tag = cipher.seal(&[1; 12], b"ad", &mut body);
        let sealed = body.clone();
        tag[15] ^= 1;
        assert_eq!(cipher.open(&[1; 12], b"ad", &mut body, &tag), Err(NotAuthentic));
        assert_eq!(body, sealed);
    }

    #[test]
    fn agrees_with_the_aes_gcm_siv_crate() {
        let mut next = pseudo_random(0x9e37_79b9_7f4a_7c15u64);
        for len in 0..300usize {
            let key: [u8; 16] = std::array::from_fn(|_| next());
            let nonce: [u8; 12] = std::array::from_fn(|_| next());
            let ad: Vec<u8> = (0..(len * 5) % 97).map(|_| next()).collect();
            let plaintext: Vec<u8> = (0..len).map(|_| next()).collect();
            let mut ours = plaintext.clone();
            let tag = GcmSiv::new(&key).seal(&nonce, &ad, &mut ours);
            let mut theirs = plaintext.clone();
            let their_tag = aes_gcm_siv::Aes128GcmSiv::new_from_slice(&key)
                .unwrap()
                .encrypt_in_place_detached((&nonce).into(), &ad, &mut theirs)
                .unwrap();
            assert_eq!((tag.as_slice(), &ours), (their_tag.as_slice(), &theirs), "{len} bytes");
        }
    }

    #[test]
    fn the_counter_wraps_in_its_32_bits() {
        // A tag whose first word is all ones: the keystream's second block has counter 0.
        let key = GcmSiv::new(&[3; 16]);
        let (_, encryption) = key.message_keys(&[4; 12]);
        let mut tag = [0u8; 16];
        tag[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        tag[4..].fill(0x5a);
        let mut body = [0u8; 32];
        apply_keystream(&encryption, &tag, &mut body);
        let mut expected = [Block::from(tag), Block::from(tag)];
        expected[0][15] |= 0x80;
        expected[1][15] |= 0x80;
        expected[1][..4].copy_from_slice(&0u32.to_le_bytes());
        encryption.encrypt_blocks(&mut expected);
        assert_eq!(body[..16], expected[0][..]);
        assert_eq!(body[16..], expected[1][..]);
    }
}
