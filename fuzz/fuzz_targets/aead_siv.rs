//! The project's AES-SIV (stratum1_core::nts::Siv) against the `aes-siv` crate on arbitrary keys,
//! associated data, nonces and plaintexts, for the three key sizes: the same tag and ciphertext,
//! what is sealed opens to the plaintext, and a changed tag does not open.
#![no_main]

use aes_siv::aead::KeyInit;
use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::Siv;

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
    compare!(aes::Aes192Enc, aes_siv::siv::CmacSiv<aes::Aes192>, 48);
    compare!(aes::Aes256Enc, aes_siv::siv::Aes256Siv, 64);
});
