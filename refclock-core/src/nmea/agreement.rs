//! How far our decoding agrees with gpsd's on a capture (pure): gpsd's regression `.chk`
//! files hold the TPV reports gpsd makes of each log. gpsd reports several TPVs per epoch as
//! sentences arrive; the one that counts is the last one carrying a time, gpsd's final view of
//! that epoch, which is what our assembler emits when the epoch closes. Used by the agreement
//! test on the vendored captures and by the bench's `gnss_agreement` on any directory of them.

use std::collections::BTreeMap;

use super::{DateWindow, Epoch, NmeaEvent, NmeaStream, WeekRollover};

/// Epoch time (RFC 3339, milliseconds, as gpsd writes it) to fix mode (1, 2 or 3).
pub type Modes = BTreeMap<String, u8>;

/// Our epochs of a capture, decoded with what gpsd knew when it wrote the `.chk`.
pub fn our_modes(capture: &[u8]) -> Modes {
    let window = window_gpsd_used(capture);
    let mut stream = NmeaStream::new(window);
    let mut modes = Modes::new();
    let mut keep = |epoch: Epoch| {
        if let Some(time) = epoch.rfc3339() {
            modes.insert(time, epoch.mode as u8);
        }
    };
    stream.push(capture, |event| {
        if let NmeaEvent::Epoch(epoch) = event {
            keep(epoch);
        }
    });
    if let Some(epoch) = stream.finish() {
        keep(epoch);
    }
    modes
}

/// The dates gpsd took as they came when it decoded a capture. A regression capture's
/// `# Date: yyyy-mm-dd` comment puts gpsd in regression mode, which serves any date as sent:
/// our window then starts at the GPS epoch. Without one gpsd decodes the capture as live input:
/// its leap-second count (18 since 2017) tells it the date is after 2017-01-01, and it moves an
/// earlier date one GPS era forward (`gpsd_utc_resolve`); our decoder is given the same
/// knowledge, a window from 2017-01-01 that corrects the era before it.
pub fn window_gpsd_used(capture: &[u8]) -> DateWindow {
    let dated = capture.split(|&b| b == b'\n').any(|line| line.starts_with(b"# Date: "));
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    if dated {
        DateWindow::starting(day(1980, 1, 6))
    } else {
        DateWindow::starting(day(2017, 1, 1)).with_rollover(WeekRollover::Correct)
    }
}

/// gpsd's epochs from a `.chk`: time to the mode of the last TPV with that time. Lines that
/// are not TPV reports are skipped; a TPV without time or mode says nothing about an epoch.
pub fn gpsd_modes(chk: &str) -> Modes {
    let mut modes = Modes::new();
    for line in chk.lines().filter(|l| l.starts_with("{\"class\":\"TPV\"")) {
        let Ok(report) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if let (Some(time), Some(mode)) = (report["time"].as_str(), report["mode"].as_u64()) {
            modes.insert(normalise(time), u8::try_from(mode).unwrap_or(0));
        }
    }
    modes
}

/// Whether a capture is NMEA: most of its bytes (outside gpsd's `#` comment lines) are in
/// lines that start with `$` or `!`. gpsd decodes binary protocols (UBX, SiRF, TSIP, ...)
/// too, and its `.chk` files echo them as sentences of its own, so the log decides.
pub fn is_nmea_capture(capture: &[u8]) -> bool {
    let (mut text, mut total) = (0usize, 0usize);
    for line in capture.split(|&b| b == b'\n') {
        if line.first() == Some(&b'#') {
            continue;
        }
        total += line.len() + 1;
        if matches!(line.first(), Some(b'$' | b'!')) {
            text += line.len() + 1;
        }
    }
    total > 0 && text * 2 >= total
}

/// gpsd writes `...:40Z`, `...:40.00Z` or `...:40.000Z` depending on its version; ours is the
/// last.
fn normalise(time: &str) -> String {
    let Some(stem) = time.strip_suffix('Z') else { return time.to_owned() };
    let (whole, fraction) = stem.split_once('.').unwrap_or((stem, ""));
    let mut digits: String = fraction.chars().take(3).collect();
    while digits.len() < 3 {
        digits.push('0');
    }
    format!("{whole}.{digits}Z")
}

/// One capture compared: gpsd's epochs, those we agree on, and the others.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Agreement {
    pub epochs: usize,
    pub agreed: usize,
    /// (time, gpsd's mode, ours: `None` when we have no epoch at that time).
    pub differences: Vec<(String, u8, Option<u8>)>,
}

impl Agreement {
    pub fn share(&self) -> f64 {
        if self.epochs == 0 {
            1.0
        } else {
            self.agreed as f64 / self.epochs as f64
        }
    }
}

pub fn compare(ours: &Modes, gpsd: &Modes) -> Agreement {
    let mut a = Agreement { epochs: gpsd.len(), ..Default::default() };
    for (time, &mode) in gpsd {
        match ours.get(time) {
            Some(&m) if m == mode => a.agreed += 1,
            got => a.differences.push((time.clone(), mode, got.copied())),
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpsd_times_of_any_precision_compare_with_ours() {
        assert_eq!(normalise("2015-04-13T20:26:40Z"), "2015-04-13T20:26:40.000Z");
        assert_eq!(normalise("2015-04-13T20:26:40.5Z"), "2015-04-13T20:26:40.500Z");
        assert_eq!(normalise("2015-04-13T20:26:40.000Z"), "2015-04-13T20:26:40.000Z");
    }

    #[test]
    fn a_capture_gpsd_decoded_as_live_input_has_its_pre_2017_dates_moved_one_era() {
        // As gpsd did with two captures whose header says `# Date = ...`, which it does not read.
        let rmc = "$GNRMC,171926.00,A,4404.14063,N,12118.85478,W,0.117,,180315,,,A*76\n";
        let live = format!("# Date = 2015-03-18\n{rmc}");
        assert_eq!(
            our_modes(live.as_bytes()).keys().next().map(String::as_str),
            Some("2034-11-01T17:19:26.000Z")
        );
        let regression = format!("# Date: 2015-03-18\n{rmc}");
        assert_eq!(
            our_modes(regression.as_bytes()).keys().next().map(String::as_str),
            Some("2015-03-18T17:19:26.000Z")
        );
    }

    #[test]
    fn the_last_tpv_of_an_epoch_counts() {
        let chk = "{\"class\":\"TPV\",\"mode\":2,\"time\":\"2017-01-10T00:09:41.000Z\"}\n\
                   $GNGGA,garbage\n\
                   {\"class\":\"TPV\",\"mode\":3,\"time\":\"2017-01-10T00:09:41.000Z\"}\n\
                   {\"class\":\"TPV\",\"mode\":1}\n";
        let gpsd = gpsd_modes(chk);
        assert_eq!(gpsd.len(), 1);
        let ours: Modes = [("2017-01-10T00:09:41.000Z".to_owned(), 2)].into();
        let a = compare(&ours, &gpsd);
        assert_eq!((a.epochs, a.agreed), (1, 0));
        assert_eq!(a.differences, [("2017-01-10T00:09:41.000Z".to_owned(), 3, Some(2))]);
    }
}
