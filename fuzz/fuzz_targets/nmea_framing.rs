//! Any byte stream through the NMEA framer: no panic, bounded lines, and the same sentences
//! whether the bytes arrive in one read or split in two (as serial reads split them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use refclock_core::nmea::{LineFramer, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let mut whole = Vec::new();
    LineFramer::new().push(stream, |s| {
        assert!(s.address.len() + s.fields.len() < MAX_LINE);
        whole.push(format!("{}|{}", s.address, s.fields));
    });
    let at = usize::from(split).min(stream.len());
    let mut framer = LineFramer::new();
    let mut pieces = Vec::new();
    framer.push(&stream[..at], |s| pieces.push(format!("{}|{}", s.address, s.fields)));
    framer.push(&stream[at..], |s| pieces.push(format!("{}|{}", s.address, s.fields)));
    assert_eq!(whole, pieces);
});
