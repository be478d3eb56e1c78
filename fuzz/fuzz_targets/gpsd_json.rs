//! Any bytes as gpsd's JSON: no panic, bounded epochs, every edge a real instant, and the same
//! labels, epochs and edges whether the bytes arrive in one read or two.
#![no_main]

use libfuzzer_sys::fuzz_target;
use refclock_core::gpsd::{GpsdEvent, GpsdStream};
use refclock_core::nmea::DateWindow;

fn events(reads: &[&[u8]]) -> Vec<String> {
    let mut stream = GpsdStream::new(DateWindow::default());
    let mut out = Vec::new();
    for read in reads {
        stream.push(read, |event| {
            if let GpsdEvent::Epoch(epoch) = &event {
                assert!(epoch.signals.len() <= 200);
                let _ = epoch.rfc3339();
            }
            out.push(format!("{event:?}"));
        });
    }
    out.push(format!("{:?}", stream.counts()));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let at = usize::from(split).min(stream.len());
    assert_eq!(events(&[stream]), events(&[&stream[..at], &stream[at..]]));
});
