//! NMEA 0183 input: `framing` turns a raw byte stream (noise and all) into checksum-verified
//! sentences, `decode` reads the facts in each, `epoch` groups them per instant and labels
//! valid seconds, `calendar` refuses dates that must not be served, and `stream` chains them.

pub mod agreement;
pub mod calendar;
pub mod decode;
pub mod epoch;
pub mod framing;
pub mod stream;

pub use calendar::{DateRefusal, DateWindow, ResolvedDate, WeekRollover};
pub use decode::{Antenna, Constellation, FixMode, TimeOfDay};
pub use epoch::{Epoch, Label};
pub use stream::{NmeaCounts, NmeaEvent, NmeaStream};
