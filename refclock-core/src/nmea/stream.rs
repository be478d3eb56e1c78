//! Bytes from a receiver to epochs and labels (pure): framing, decoding and assembly in one.

use super::calendar::DateWindow;
use super::decode::{decode, DECODED_KINDS};
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
    /// The same, by sentence kind, in the order of `DECODED_KINDS`.
    pub malformed_by_kind: [u64; DECODED_KINDS.len()],
    pub labels: LabelCounts,
}

impl NmeaCounts {
    /// The kinds with malformed sentences, and how many.
    pub fn malformed_kinds(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DECODED_KINDS.iter().zip(self.malformed_by_kind).filter(|(_, n)| *n > 0).map(|(k, n)| (*k, n))
    }
}

#[derive(Clone, Debug, Default)]
pub struct NmeaStream {
    framer: LineFramer,
    assembler: EpochAssembler,
    malformed: u64,
    malformed_by_kind: [u64; DECODED_KINDS.len()],
}

impl NmeaStream {
    pub fn new(window: DateWindow) -> NmeaStream {
        NmeaStream { assembler: EpochAssembler::new(window), ..Default::default() }
    }

    pub fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(NmeaEvent)) {
        let Self { framer, assembler, malformed, malformed_by_kind } = self;
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
            Err(error) => {
                *malformed += 1;
                if let Some(i) = DECODED_KINDS.iter().position(|k| *k == error.kind) {
                    malformed_by_kind[i] += 1;
                }
            }
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
            malformed_by_kind: self.malformed_by_kind,
            labels: self.assembler.counts(),
        }
    }
}
