//! Where log lines go and how they look. Under systemd (stderr is the journal's stream, as
//! `JOURNAL_STREAM` says) each line starts with its syslog priority, `<4>` for a warning, which
//! journald reads as the entry's priority: `journalctl -p warning` then finds the warnings. The
//! journal stamps the time itself. Elsewhere, lines are plain text with a timestamp.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// The syslog priority journald gives a line that starts with `<N>` (sd-daemon(3)).
pub fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Whether stderr is the journal's stream: systemd sets `JOURNAL_STREAM` to the stream's
/// `device:inode`, and the check against stderr's own keeps a variable inherited by a child
/// that writes elsewhere from counting (systemd.exec(5)).
pub fn is_journal_stream(journal_stream: Option<&str>, stderr_dev_ino: Option<(u64, u64)>) -> bool {
    let (Some(value), Some((dev, ino))) = (journal_stream, stderr_dev_ino) else { return false };
    value.split_once(':').is_some_and(|(d, i)| d.parse() == Ok(dev) && i.parse() == Ok(ino))
}

/// stderr's device and inode, if it can be looked at.
pub fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/fd/2").ok().map(|m| (m.dev(), m.ino()))
}

/// `<priority>target: message fields`, one line per event.
pub struct JournalFormat;

impl<S, N> FormatEvent<S, N> for JournalFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "<{}>{}: ", syslog_priority(*meta.level()), meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_syslog_priorities() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::DEBUG), 7);
    }

    #[test]
    fn only_stderrs_own_stream_counts_as_the_journal() {
        assert!(is_journal_stream(Some("8:12345"), Some((8, 12345))));
        assert!(!is_journal_stream(Some("8:12345"), Some((8, 99))), "inherited, stderr elsewhere");
        assert!(!is_journal_stream(None, Some((8, 12345))));
        assert!(!is_journal_stream(Some("garbage"), Some((8, 12345))));
        assert!(!is_journal_stream(Some("8:12345"), None));
    }
}
