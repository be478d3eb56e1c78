//! From a serial byte stream to checksum-verified NMEA sentences (pure).
//!
//! Receivers send more than clean lines: binary protocol frames interleaved with NMEA, noise at
//! power-up, a line cut by a reconnect, `$$` prefixes (ST Teseo), CR, LF or both. The framer
//! never panics and never grows without bound; everything it drops is counted by reason, so an
//! operator can see a failing line or a wrong baud rate.

/// Longest line accepted. NMEA allows 82 characters; real receivers exceed it (long GSV/GSA
/// variants, proprietary sentences), so allow a margin but stay bounded.
pub const MAX_LINE: usize = 256;

/// Why a candidate line was not delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramingCounts {
    pub sentences: u64,
    pub bad_checksum: u64,
    pub missing_checksum: u64,
    /// Lines with bytes that cannot appear in NMEA (binary frames, line noise).
    pub corrupt: u64,
    pub overlong: u64,
    /// Bytes outside any `$...` line.
    pub stray_bytes: u64,
}

/// One verified sentence, borrowed from the framer's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sentence<'a> {
    /// The address field: talker + type (`GPRMC`, `GNGGA`) or a proprietary name (`PMTK001`).
    pub address: &'a str,
    /// Everything after the address's comma and before `*`; empty if there are no fields.
    pub fields: &'a str,
}

impl<'a> Sentence<'a> {
    /// The two-letter talker (`GP`, `GN`, `BD`…), or `None` for proprietary (`P…`) sentences.
    pub fn talker(&self) -> Option<&'a str> {
        (!self.address.starts_with('P')).then(|| self.address.get(..2)).flatten()
    }

    /// The sentence type (`RMC`, `GGA`…) of a standard sentence.
    pub fn kind(&self) -> Option<&'a str> {
        self.talker().and_then(|_| self.address.get(2..))
    }

    pub fn field_iter(&self) -> std::str::Split<'a, char> {
        self.fields.split(',')
    }
}

/// Splits a byte stream into sentences. Feed it whatever the serial port returns.
#[derive(Clone, Debug, Default)]
pub struct LineFramer {
    line: Vec<u8>,
    in_line: bool,
    line_corrupt: bool,
    counts: FramingCounts,
}

impl LineFramer {
    pub fn new() -> Self {
        LineFramer { line: Vec::with_capacity(MAX_LINE), ..Default::default() }
    }

    pub fn counts(&self) -> FramingCounts {
        self.counts
    }

    /// Consumes `bytes`, calling `on_sentence` for each verified sentence completed by them.
    /// A line still open at the end is kept for the next call.
    pub fn push(&mut self, bytes: &[u8], mut on_sentence: impl FnMut(Sentence<'_>)) {
        for &b in bytes {
            match b {
                // A `$` always starts a line: whatever was open is abandoned. An empty, clean
                // open line (the first `$` of `$$`) is not counted as anything.
                b'$' => {
                    if self.in_line && (!self.line.is_empty() || self.line_corrupt) {
                        self.counts.corrupt += 1;
                    }
                    self.start_line();
                }
                b'\r' | b'\n' => {
                    if self.in_line {
                        self.finish_line(&mut on_sentence);
                    }
                }
                _ if !self.in_line => self.counts.stray_bytes += 1,
                _ if !(0x20..0x7f).contains(&b) => self.line_corrupt = true,
                _ if self.line.len() >= MAX_LINE => {
                    self.counts.overlong += 1;
                    self.in_line = false;
                }
                _ => self.line.push(b),
            }
        }
    }

    fn start_line(&mut self) {
        self.line.clear();
        self.in_line = true;
        self.line_corrupt = false;
    }

    fn finish_line(&mut self, on_sentence: &mut impl FnMut(Sentence<'_>)) {
        self.in_line = false;
        if self.line_corrupt {
            self.counts.corrupt += 1;
            return;
        }
        match verify(&self.line) {
            Ok(sentence) => {
                self.counts.sentences += 1;
                on_sentence(sentence);
            }
            Err(LineError::MissingChecksum) => self.counts.missing_checksum += 1,
            Err(LineError::BadChecksum) => self.counts.bad_checksum += 1,
            Err(LineError::Corrupt) => self.counts.corrupt += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineError {
    MissingChecksum,
    BadChecksum,
    Corrupt,
}

/// Checks one line (without its `$` and line ending): `ADDRESS[,fields]*HH`.
fn verify(line: &[u8]) -> Result<Sentence<'_>, LineError> {
    // Printable ASCII was checked byte by byte, so this cannot fail; stay total anyway.
    let text = std::str::from_utf8(line).map_err(|_| LineError::Corrupt)?;
    let (body, checksum) = text.rsplit_once('*').ok_or(LineError::MissingChecksum)?;
    let checksum = checksum.trim_end();
    let expected = u8::from_str_radix(checksum, 16).map_err(|_| LineError::Corrupt)?;
    if checksum.len() != 2 {
        return Err(LineError::Corrupt);
    }
    if body.bytes().fold(0u8, |acc, b| acc ^ b) != expected {
        return Err(LineError::BadChecksum);
    }
    let (address, fields) = body.split_once(',').unwrap_or((body, ""));
    if address.len() < 2 || !address.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(LineError::Corrupt);
    }
    Ok(Sentence { address, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(input: &[u8]) -> (Vec<String>, FramingCounts) {
        let mut framer = LineFramer::new();
        let mut out = Vec::new();
        framer.push(input, |s| out.push(format!("{}|{}", s.address, s.fields)));
        (out, framer.counts())
    }

    const RMC: &str = "$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73\r\n";

    #[test]
    fn a_valid_sentence_is_split_into_address_and_fields() {
        let (out, counts) = frame(RMC.as_bytes());
        assert_eq!(out, ["GPRMC|202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D"]);
        assert_eq!(counts.sentences, 1);
    }

    #[test]
    fn talker_and_kind() {
        let s = Sentence { address: "GNGGA", fields: "" };
        assert_eq!((s.talker(), s.kind()), (Some("GN"), Some("GGA")));
        let p = Sentence { address: "PMTK001", fields: "" };
        assert_eq!((p.talker(), p.kind()), (None, None));
    }

    #[test]
    fn a_bad_checksum_is_counted_and_dropped() {
        let bad = RMC.replace("*73", "*74");
        let (out, counts) = frame(bad.as_bytes());
        assert!(out.is_empty());
        assert_eq!(counts.bad_checksum, 1);
    }

    #[test]
    fn a_missing_checksum_is_counted_and_dropped() {
        let (out, counts) = frame(b"$POLYN,TIME,RESTART_OCCURRED\n");
        assert!(out.is_empty());
        assert_eq!(counts.missing_checksum, 1);
    }

    #[test]
    fn double_dollar_prefix_is_tolerated() {
        let (out, counts) = frame(b"$$GNGSA,A,3,27,08,,,,,,,,,,,2.5,1.7,1.8,1*34\r\n");
        assert_eq!(out.len(), 1, "{counts:?}");
        assert_eq!(counts.corrupt, 0);
    }

    #[test]
    fn binary_noise_and_cut_lines_are_survived() {
        let mut input = vec![0xb5, 0x62, 0x01, 0x07, 0x5c, 0x00, 0xff, 0x24, 0x80];
        input.extend_from_slice(b"$GPGGA,2026"); // cut by the next `$`
        input.extend_from_slice(RMC.as_bytes());
        input.extend_from_slice(b"$GNVTG,,T,,M,0.0\x9f29,N*30\r\n"); // a noise byte inside
        input.extend_from_slice(RMC.as_bytes());
        let (out, counts) = frame(&input);
        assert_eq!(out.len(), 2);
        assert_eq!(counts.corrupt, 3, "{counts:?}");
        assert!(counts.stray_bytes > 0);
    }

    #[test]
    fn a_sentence_split_across_reads_is_joined() {
        let mut framer = LineFramer::new();
        let mut out = 0;
        let (a, b) = RMC.as_bytes().split_at(20);
        framer.push(a, |_| out += 1);
        assert_eq!(out, 0);
        framer.push(b, |_| out += 1);
        assert_eq!(out, 1);
    }

    #[test]
    fn overlong_lines_are_bounded() {
        let mut input = b"$GPGSV".to_vec();
        input.extend(std::iter::repeat_n(b'9', 10_000));
        input.extend_from_slice(b"*00\r\n");
        input.extend_from_slice(RMC.as_bytes());
        let mut framer = LineFramer::new();
        let mut out = 0;
        framer.push(&input, |_| out += 1);
        assert_eq!(out, 1, "the next sentence still gets through");
        assert_eq!(framer.counts().overlong, 1);
        assert!(framer.line.capacity() <= MAX_LINE * 2);
    }

    #[test]
    fn every_real_capture_frames_without_loss_of_valid_lines() {
        // Each log's lines that carry a correct checksum must all be delivered.
        // The captures vendored with their licence (tests/data/gnss/COPYING.gpsd).
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gnss");
        let mut seen_any = false;
        for entry in std::fs::read_dir(dir).expect("refclock-core/tests/data/gnss") {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("log") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let expected = bytes
                .split(|&b| b == b'\n')
                .filter_map(|l| {
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    let start = l.iter().rposition(|&b| b == b'$')?;
                    verify(&l[start + 1..]).ok().map(|_| ())
                })
                .count();
            let mut framer = LineFramer::new();
            let mut delivered = 0;
            framer.push(&bytes, |_| delivered += 1);
            assert_eq!(delivered, expected, "{}", path.display());
            assert!(delivered > 0, "{}", path.display());
            seen_any = true;
        }
        assert!(seen_any, "no captures found in {dir}");
    }
}
