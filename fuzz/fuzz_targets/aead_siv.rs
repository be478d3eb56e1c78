//! The project's AES-SIV (stratum1_core::nts::Siv) against the `aes-siv` crate on arbitrary keys,
//! associated data, nonces and plaintexts, for the three key sizes: the same tag and ciphertext,
//! what is sealed opens to the plaintext, and a changed tag does not open. Also the key built
//! for one message (`AeadKey`, as NTS packets use it; its CMAC subkeys are derived inside S2V)
//! against the kept one. Build with `RUSTFLAGS="--cfg aes_force_soft"` for a Pi 4's code path.
#![no_main]

use aes_siv::aead::KeyInit;
use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::{AeadAlgorithm, AeadKey, Siv};

fuzz_target!(|data: &[u8]| {
    // key (64) ‖ ad length (1) ‖ nonce length (1) ‖ ad ‖ nonce ‖ plaintext
    let Some((key, rest)) = data.split_first_chunk::<64>() else { return };
    let Some((&[ad_len, nonce_len], rest)) = rest.split_first_chunk::<2>() else { return };
    let (ad, rest) = rest.split_at(usize::from(ad_len).min(rest.len()));
    let (nonce, plaintext) = rest.split_at(usize::from(nonce_len).min(rest.len()));

    macro_rules! compare {
        ($ours:ty, $theirs:ty, $key_len:expr) => {{
            let key = &key[..$key_len];
            let siv = Siv::<$ours>::new(key).unwrap();
            let mut ours = plaintext.to_vec();
            let tag = siv.seal([ad, nonce], &mut ours);
            let mut theirs = plaintext.to_vec();
            let their_tag =
                <$theirs>::new_from_slice(key).unwrap().encrypt_in_place_detached([ad, nonce], &mut theirs).unwrap();
            assert_eq!(tag.as_slice(), their_tag.as_slice());
            assert_eq!(ours, theirs);
            let mut opened = ours.clone();
            siv.open([ad, nonce], &mut opened, &tag).unwrap();
            assert_eq!(opened, plaintext);
            let mut wrong = tag;
            wrong[usize::from(ad_len) % 16] ^= 1 << (nonce_len % 8);
            let mut refused = ours.clone();
            assert!(siv.open([ad, nonce], &mut refused, &wrong).is_err());
            assert_eq!(refused, ours, "a refused message is left as it came");
        }};
    }
    compare!(aes::Aes128Enc, aes_siv::siv::Aes128Siv, 32);
    if !nonce.is_empty() {
        let kept = Siv::<aes::Aes128Enc>::new(&key[..32]).unwrap();
        let mut expected = plaintext.to_vec();
        let tag = kept.seal([ad, nonce], &mut expected);
        let one_message = AeadKey::new(AeadAlgorithm::AesSivCmac256, &key[..32]).unwrap();
        let mut sealed = vec![0u8; plaintext.len() + 16];
        one_message.seal(nonce, ad, plaintext, &mut sealed).unwrap();
        assert_eq!((&sealed[..16], &sealed[16..]), (tag.as_slice(), expected.as_slice()));
        let opened = one_message.open(nonce, ad, &mut sealed).unwrap();
        assert_eq!(opened, plaintext);
    }
    compare!(aes::Aes192Enc, aes_siv::siv::CmacSiv<aes::Aes192>, 48);
    compare!(aes::Aes256Enc, aes_siv::siv::Aes256Siv, 64);
});
