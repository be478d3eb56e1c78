//! Any bytes as an NTS-KE request, whole and as every prefix (a request arrives in pieces): no
//! panic, and a complete request always gets a well-formed response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::AeadAlgorithm;
use stratum1_core::nts::ke_records::{read_record, read_request, KeOffer, RequestProgress};

fuzz_target!(|data: &[u8]| {
    let offer = KeOffer { aead_preference: AeadAlgorithm::ALL.to_vec(), ntp_server: None, ntp_port: Some(123) };
    for end in [data.len(), data.len() / 2, data.len() / 3] {
        if let RequestProgress::Complete(request) = read_request(&data[..end]) {
            let response = offer.response(offer.decide(&request), &vec![vec![0u8; 104]; 8]);
            let mut at = 0;
            while let Some((_, used)) = read_record(&response[at..]) {
                at += used;
            }
            assert_eq!(at, response.len(), "the response is whole records");
        }
    }
});
