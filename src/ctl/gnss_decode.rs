//! `stratum1ctl gnss decode`: a receiver capture to one JSON line per epoch, the check an
//! operator runs on a capture before trusting a receiver.

use std::io::{self, Read, Write};

use refclock_core::nmea::constellations;
use refclock_core::nmea::{DateWindow, Epoch, NmeaCounts, NmeaEvent, NmeaStream};
use serde_json::{json, Map, Value};

/// One epoch as a JSON object. `time` and `mode` mean what they mean in gpsd's TPV, so the
/// output can be compared with `gpspipe -w` line by line.
pub fn epoch_json(epoch: &Epoch) -> Value {
    let mut line = Map::new();
    line.insert("class".into(), json!("EPOCH"));
    line.insert("time".into(), json!(epoch.rfc3339()));
    line.insert("mode".into(), json!(epoch.mode as u8));
    line.insert("valid".into(), json!(epoch.valid));
    line.insert("date_stated".into(), json!(epoch.date_stated));
    if let Some(refusal) = &epoch.date_refusal {
        line.insert("refused".into(), json!(refusal.to_string()));
    }
    if let Some(sent) = epoch.date_corrected_from {
        line.insert("date_corrected_from".into(), json!(sent.to_string()));
    }
    line.insert("used".into(), json!(epoch.satellites_used));
    line.insert("in_view".into(), json!(epoch.satellites_in_view()));
    line.insert("tracked".into(), json!(epoch.satellites_tracked()));
    let systems: Vec<&str> = constellations(&epoch.signals).iter().map(|c| c.name()).collect();
    line.insert("constellations".into(), json!(systems));
    for (key, dop) in [("hdop", epoch.hdop), ("pdop", epoch.pdop), ("vdop", epoch.vdop)] {
        if let Some(dop) = dop {
            line.insert(key.into(), json!(as_printed(dop)));
        }
    }
    if let Some(p) = epoch.position {
        line.insert("lat".into(), json!(p.latitude));
        line.insert("lon".into(), json!(p.longitude));
        if let Some(alt) = p.altitude {
            line.insert("alt".into(), json!(as_printed(alt)));
        }
    }
    if let Some(antenna) = epoch.antenna {
        line.insert("antenna".into(), json!(antenna.name()));
    }
    Value::Object(line)
}

/// An `f32` as the receiver printed it (`0.98`, not `0.9800000190734863`).
fn as_printed(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// The closing summary: what was dropped and why, so a bad capture explains itself.
pub fn counts_json(counts: &NmeaCounts) -> Value {
    let f = counts.framing;
    let l = counts.labels;
    json!({
        "class": "SUMMARY",
        "sentences": f.sentences,
        "bad_checksum": f.bad_checksum,
        "missing_checksum": f.missing_checksum,
        "corrupt_lines": f.corrupt,
        "overlong_lines": f.overlong,
        "stray_bytes": f.stray_bytes,
        "malformed_fields": counts.malformed,
        "malformed_by_sentence": counts
            .malformed_kinds()
            .map(|(kind, n)| (kind.to_owned(), json!(n)))
            .collect::<serde_json::Map<_, _>>(),
        "labelled_seconds": l.labelled,
        "labelled_rollover_corrected": l.rollover_corrected,
        "unlabelled_invalid": l.receiver_invalid,
        "unlabelled_date_refused": l.date_refused,
        "unlabelled_undated": l.undated,
        "unlabelled_fractional": l.fractional,
    })
}

/// Decodes `input` to `out`, one line per epoch, then the summary line.
pub fn decode_capture(
    mut input: impl Read,
    window: DateWindow,
    mut out: impl Write,
) -> io::Result<NmeaCounts> {
    let mut stream = NmeaStream::new(window);
    let mut buffer = [0u8; 4096];
    let mut written = Ok(());
    loop {
        let n = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.push(&buffer[..n], |event| {
            if let (NmeaEvent::Epoch(epoch), Ok(())) = (event, &written) {
                written = writeln!(out, "{}", epoch_json(&epoch));
            }
        });
        written.as_ref().map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
    }
    if let Some(epoch) = stream.finish() {
        writeln!(out, "{}", epoch_json(&epoch))?;
    }
    let counts = stream.counts();
    writeln!(out, "{}", counts_json(&counts))?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_becomes_json_lines_and_a_summary() {
        let capture =
            b"$GPGGA,202640.000,4404.1306,N,12118.8515,W,2,10,0.98,1127.7,M,-19.6,M,0000,0000*6C\r\n\
$GPGSA,A,3,20,16,09,03,07,10,23,19,27,30,,,1.64,0.98,1.31*05\r\n\
$GPRMC,202640.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*73\r\n\
$GPRMC,202641.000,A,4404.1306,N,12118.8515,W,0.03,225.97,130415,,,D*00\r\n";
        let mut out = Vec::new();
        let counts = decode_capture(&capture[..], DateWindow::default(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["time"], "2015-04-13T20:26:40.000Z");
        assert_eq!(lines[0]["mode"], 3);
        assert_eq!(lines[0]["used"], 10);
        // 2015 is before this release: shown, and marked as never to be served.
        assert!(lines[0]["refused"].as_str().unwrap().contains("2015-04-13"));
        assert_eq!(lines[1]["class"], "SUMMARY");
        assert_eq!(lines[1]["bad_checksum"], 1);
        assert_eq!(counts.framing.bad_checksum, 1);
    }

    #[test]
    fn the_summary_names_the_kinds_of_malformed_sentences() {
        let body = "GPGSA,A,3,xx,,,,,,,,,,,,1.6,0.9,1.3";
        let sum = body.bytes().fold(0u8, |a, b| a ^ b);
        let capture = format!("${body}*{sum:02X}\r\n");
        let mut out = Vec::new();
        decode_capture(capture.as_bytes(), DateWindow::default(), &mut out).unwrap();
        let summary: Value = serde_json::from_str(String::from_utf8(out).unwrap().trim()).unwrap();
        assert_eq!(summary["malformed_fields"], 1);
        assert_eq!(summary["malformed_by_sentence"], json!({"GSA": 1}));
    }
}
