//! NMEA 0183 input: `framing` turns a raw byte stream (noise and all) into checksum-verified
//! sentences, `decode` reads the facts in each, `epoch` groups them per instant and labels
//! valid seconds, `calendar` refuses dates that must not be served, and `stream` chains them.

pub mod agreement;
mod calendar;
mod decode;
mod epoch;
mod framing;
mod stream;

pub use calendar::{DateRefusal, DateWindow, ResolvedDate, WeekRollover};
pub use decode::{Antenna, Constellation, FixMode, Position, Signal, TimeOfDay};
pub use epoch::{constellations, Epoch, Label, LabelCounts};
pub use framing::{LineFramer, MAX_LINE};
pub use stream::{NmeaCounts, NmeaEvent, NmeaStream};
