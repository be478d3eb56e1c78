//! Any byte stream through framing, sentence decoding and epoch assembly: no panic, bounded
//! output, positions on the Earth, and the same epochs and labels whether the bytes arrive in one read or two.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refclock_core::nmea::{DateWindow, NmeaEvent, NmeaStream};

fn events(reads: &[&[u8]]) -> Vec<String> {
    let mut stream = NmeaStream::new(DateWindow::default());
    let mut out = Vec::new();
    for read in reads {
        stream.push(read, |event| {
            if let NmeaEvent::Epoch(epoch) = &event {
                assert!(epoch.signals.len() <= 200);
                if let Some(p) = epoch.position {
                    assert!(p.latitude.abs() <= 90.0 && p.longitude.abs() <= 180.0, "{p:?}");
                }
                let _ = epoch.rfc3339();
                let _ = epoch.unix_millis();
            }
            out.push(format!("{event:?}"));
        });
    }
    out.push(format!("{:?}", stream.finish()));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let at = usize::from(split).min(stream.len());
    assert_eq!(events(&[stream]), events(&[&stream[..at], &stream[at..]]));
});
