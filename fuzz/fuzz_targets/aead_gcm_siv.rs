//! The project's AES-128-GCM-SIV (stratum1_core::nts::GcmSiv) against the `aes-gcm-siv` crate on
//! arbitrary keys, nonces, associated data and plaintexts: the same ciphertext and tag, what is
//! sealed opens to the plaintext, and a changed tag does not open and leaves the message as it
//! came.
#![no_main]

use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::GcmSiv;

fuzz_target!(|data: &[u8]| {
    // key (16) ‖ nonce (12) ‖ ad length (1) ‖ ad ‖ plaintext
    let Some((key, rest)) = data.split_first_chunk::<16>() else { return };
    let Some((nonce, rest)) = rest.split_first_chunk::<12>() else { return };
    let Some((&ad_len, rest)) = rest.split_first() else { return };
    let (ad, plaintext) = rest.split_at(usize::from(ad_len).min(rest.len()));

    let ours_cipher = GcmSiv::new(key);
    let mut ours = plaintext.to_vec();
    let tag = ours_cipher.seal(nonce, ad, &mut ours);
    let mut theirs = plaintext.to_vec();
    let their_tag = aes_gcm_siv::Aes128GcmSiv::new(key.into())
        .encrypt_in_place_detached(nonce.into(), ad, &mut theirs)
        .unwrap();
    assert_eq!(tag.as_slice(), their_tag.as_slice());
    assert_eq!(ours, theirs);
    let mut opened = ours.clone();
    ours_cipher.open(nonce, ad, &mut opened, &tag).unwrap();
    assert_eq!(opened, plaintext);
    let mut wrong = tag;
    wrong[usize::from(ad_len) % 16] ^= 1 << (plaintext.len() % 8);
    let mut refused = ours.clone();
    assert!(ours_cipher.open(nonce, ad, &mut refused, &wrong).is_err());
    assert_eq!(refused, ours, "a refused message is left as it came");
});
