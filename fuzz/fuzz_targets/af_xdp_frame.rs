//! Any Ethernet frame through the AF_XDP frame parser: no panic; a parsed datagram lies inside
//! the frame; turned around, it parses again with client and server swapped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum1::ntp::xdp::frame::{parse, turn_around};

fuzz_target!(|data: &[u8]| {
    let Ok(datagram) = parse(data) else { return };
    assert!(datagram.payload.start <= datagram.payload.end && datagram.payload.end <= data.len());
    let mut frame = data.to_vec();
    // The answer's length: the request's, or shorter by a fuzzed amount.
    let shorter = usize::from(data.last().copied().unwrap_or(0));
    let len = datagram.payload.len().saturating_sub(shorter);
    let end = turn_around(&mut frame, &datagram, len).expect("an answer no longer than its request fits");
    let answer = parse(&frame[..end]).expect("a turned-around frame parses");
    assert_eq!(answer.client, datagram.server);
    assert_eq!(answer.server, datagram.client);
    assert_eq!(answer.payload.len(), len);
});
