//! Inputs for the AEAD tests: hex as RFCs print it, and a repeatable byte stream.

/// Bytes from hex digits, spaces ignored (RFC test vectors are printed in groups).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A xorshift64 stream from `seed`: the same bytes in every run, to compare against references.
pub fn pseudo_random(mut state: u64) -> impl FnMut() -> u8 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }
}
