//! Bytes from a receiver to epochs and labels (pure): framing, decoding and assembly in one.

use super::calendar::DateWindow;
use super::decode::decode;
use super::epoch::{Epoch, EpochAssembler, Label, LabelCounts};
use super::framing::{FramingCounts, LineFramer};

/// What the stream produced from some bytes, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum NmeaEvent {
    Label(Label),
    Epoch(Epoch),
}

/// Everything dropped or produced so far, for status and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NmeaCounts {
    pub framing: FramingCounts,
    /// Sentences with a good checksum whose fields did not parse.
    pub malformed: u64,
    pub labels: LabelCounts,
}

#[derive(Clone, Debug, Default)]
pub struct NmeaStream {
    framer: LineFramer,
    assembler: EpochAssembler,
    malformed: u64,
}

impl NmeaStream {
    pub fn new(window: DateWindow) -> NmeaStream {
        NmeaStream { framer: LineFramer::new(), assembler: EpochAssembler::new(window), malformed: 0 }
    }

    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(NmeaEvent)) {
        let Self { framer, assembler, malformed } = self;
        framer.push(bytes, |sentence| match decode(&sentence) {
            Ok(fact) => {
                let step = assembler.push(fact);
                if let Some(epoch) = step.closed {
                    on_event(NmeaEvent::Epoch(epoch));
                }
                if let Some(label) = step.label {
                    on_event(NmeaEvent::Label(label));
                }
            }
            Err(_) => *malformed += 1,
        });
    }

    /// Closes the open epoch at the end of input.
    pub fn finish(&mut self) -> Option<Epoch> {
        self.assembler.finish()
    }

    pub fn counts(&self) -> NmeaCounts {
        NmeaCounts {
            framing: self.framer.counts(),
            malformed: self.malformed,
            labels: self.assembler.counts(),
        }
    }
}
