//! Any bytes as an NTS-KE server's response, as the upstream client reads them: no panic; an
//! accepted response names a known AEAD algorithm.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::parse_ke_response;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = parse_ke_response(data) {
        assert_eq!(stratum1_core::nts::AeadAlgorithm::from_id(response.algorithm.id()), Some(response.algorithm));
        assert!(response.cookies.iter().all(|c| c.len() < data.len()));
    }
});
