//! Any datagram as an upstream's answer: the client's header check and the NTS response reader
//! never panic; a usable answer has a finite offset and a non-negative delay.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::{AeadAlgorithm, AeadKey};
use stratum1_core::nts::ntp_auth::client_read_response;
use stratum1_core::time::NtpTimestamp;
use stratum1_core::sources::{read_answer, SentRequest};

fuzz_target!(|data: &[u8]| {
    // The first 16 bytes choose the request it answers; the rest is the datagram.
    let Some((head, datagram)) = data.split_at_checked(16) else { return };
    let transmit = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
    let sent_at = i64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
    let sent = SentRequest { transmit: NtpTimestamp::from_bits(transmit), sent_at };
    if let Ok(m) = read_answer(datagram, &sent, sent_at.saturating_add(1_000_000), 1e9) {
        assert!(m.offset_ns.is_finite() && m.delay_ns >= 0.0 && m.delay_ns <= 1e9);
    }
    if let Ok(key) = AeadKey::new(AeadAlgorithm::AesSivCmac256, &[7u8; 32]) {
        let _ = client_read_response(datagram, &key);
    }
});
