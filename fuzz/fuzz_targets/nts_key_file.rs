//! Any text as an NTS key file: an error or a key set that writes back to an equal one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1_core::nts::CookieKeySet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(keys) = CookieKeySet::parse_file_text(text, 3) {
        let again = CookieKeySet::parse_file_text(&keys.to_file_text(), 3).expect("own output parses");
        assert_eq!(again, keys);
    }
});
