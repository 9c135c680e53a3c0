//! How the text log writes an event's fields: exactly as `tracing_subscriber`'s default
//! (`name=value` separated by spaces, strings quoted and escaped as Rust's `Debug` writes
//! them), but strings and integers, which the access log's line is made of, are written
//! directly instead of through the default's per-field styling and `Debug` machinery,
//! which cost more than the rest of a request on a cache hit. Every other field (the
//! message, errors, `Debug` and `Display` values), and every field when the log is
//! coloured for a terminal, is left to the default, so no line reads differently. The
//! lines' timestamps ([`Timestamps`]) are the default's too, with the date and time of day
//! worked out once a second instead of for every line.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::time::FormatTime;

/// The log's timer (`tracing_subscriber::fmt().with_timer(Timestamps)`): the time as
/// `tracing_subscriber`'s `SystemTime` writes it, RFC 3339 in UTC to the microsecond
/// (`2026-12-02T00:09:36.399686Z`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Timestamps;

thread_local! {
    /// The last second this thread wrote a time in, and its text up to the fraction.
    static SECOND: RefCell<Option<(u64, String)>> = const { RefCell::new(None) };
}

impl FormatTime for Timestamps {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        write_time(SystemTime::now(), writer)
    }
}

/// Writes `now` as the default timer would.
fn write_time(now: SystemTime, writer: &mut impl Write) -> fmt::Result {
    let Ok(since) = now.duration_since(UNIX_EPOCH) else {
        return write!(writer, "{}", chrono_time(now));
    };
    let second = since.as_secs();
    SECOND.with(|cached| {
        let mut cached = cached.borrow_mut();
        let fresh = !matches!(&*cached, Some((s, _)) if *s == second);
        if fresh {
            let text = chrono_time(now);
            let whole = text.split('.').next().unwrap_or_default().to_owned();
            *cached = Some((second, whole));
        }
        let whole = cached.as_ref().map_or("", |(_, whole)| whole.as_str());
        write!(writer, "{whole}.{:06}Z", since.subsec_micros())
    })
}

/// `now` in the default timer's form, worked out whole.
fn chrono_time(now: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(now).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The text log's field formatter (`tracing_subscriber::fmt().fmt_fields(PlainFields)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one event's fields; see [`PlainFields`].
#[derive(Debug)]
pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Whether the default must write this field: its name is special to it (the message,
    /// `r#` names, `log.` metadata) or the line is coloured.
    fn for_default(&self, field: &Field) -> bool {
        let name = field.name();
        self.writer.has_ansi_escapes()
            || name == "message"
            || name.starts_with("r#")
            || name.starts_with("log.")
    }

    /// Has the default visitor record one field, with the separator state carried over.
    fn default_records(&mut self, field: &Field, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        // `log.` metadata of events from the `log` crate is written by the line's own
        // format; the default skips it, separator and all.
        if field.name().starts_with("log.") {
            return;
        }
        let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut default);
        self.result = default.finish();
        self.is_empty = false;
    }

    /// Writes `name=` after the separator a field needs.
    fn name(&mut self, field: &Field) -> fmt::Result {
        if self.is_empty {
            self.is_empty = false;
        } else {
            self.writer.write_char(' ')?;
        }
        self.writer.write_str(field.name())?;
        self.writer.write_char('=')
    }

    /// Records a string or integer field: directly with `write`, or through the default
    /// where it must (see [`Self::for_default`]).
    fn record_with(
        &mut self,
        field: &Field,
        write: impl FnOnce(&mut Self) -> fmt::Result,
        default: impl FnOnce(&mut DefaultVisitor<'_>),
    ) {
        if self.result.is_err() {
            return;
        }
        if self.for_default(field) {
            self.default_records(field, default);
        } else {
            self.result = write(self);
        }
    }

    fn integer(&mut self, field: &Field, value: impl fmt::Display) -> fmt::Result {
        self.name(field)?;
        write!(self.writer, "{value}")
    }

    fn string(&mut self, field: &Field, value: &str) -> fmt::Result {
        self.name(field)?;
        // Printable ASCII but the quote and the backslash is what `Debug` leaves as it is.
        if value
            .bytes()
            .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\')
        {
            self.writer.write_char('"')?;
            self.writer.write_str(value)?;
            self.writer.write_char('"')
        } else {
            write!(self.writer, "{value:?}")
        }
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_with(
            field,
            |v| v.string(field, value),
            |d| d.record_str(field, value),
        );
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_with(
            field,
            |v| v.integer(field, value),
            |d| d.record_u64(field, value),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_with(
            field,
            |v| v.integer(field, value),
            |d| d.record_i64(field, value),
        );
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        self.default_records(field, |d| d.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.default_records(field, |d| d.record_debug(field, value));
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// Everything written to it, shared with the test.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `events` logs, as the default fields write them and as ours do, with the
    /// time left out.
    fn both(events: impl Fn()) -> (String, String) {
        let default = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer({
                let default = default.clone();
                move || default.clone()
            })
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, &events);
        let plain = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(PlainFields)
            .with_writer({
                let plain = plain.clone();
                move || plain.clone()
            })
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, &events);
        let text = |lines: Lines| String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        (text(default), text(plain))
    }

    #[test]
    fn times_read_as_the_default_writes_them() {
        let start = SystemTime::now();
        let mut times: Vec<SystemTime> = (0..2_000u64)
            .map(|n| start + std::time::Duration::from_micros(n * 123_457))
            .collect();
        times.push(UNIX_EPOCH);
        times.push(UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_799));
        for time in times {
            let mut ours = String::new();
            write_time(time, &mut ours).unwrap();
            assert_eq!(ours, chrono_time(time), "{time:?}");
        }
        // And the default timer itself, within the same second.
        loop {
            let mut theirs = String::new();
            let mut ours = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            Timestamps.format_time(&mut Writer::new(&mut ours)).unwrap();
            let second = |t: &str| t.split('.').next().unwrap().to_owned();
            if second(&theirs) == second(&ours) {
                assert_eq!(ours.len(), theirs.len(), "{ours} {theirs}");
                assert!(ours.ends_with('Z') && ours.len() == 27, "{ours}");
                break;
            }
        }
    }

    #[test]
    fn lines_read_as_the_default_writes_them() {
        let error = io::Error::other("the upstream hung up");
        let (default, plain) = both(|| {
            tracing::info!(
                site = "ledger",
                path = "/a b/\"quoted\"\\back\tslash\u{1b}[31m/é/\u{301}",
                status = 200u16,
                total_ms = 3u64,
                delta = -4i64,
                ratio = 0.5f64,
                ok = true,
                client = %"127.0.0.1",
                shown = ?Some("x"),
                error = &error as &(dyn std::error::Error + 'static),
                "request"
            );
            tracing::warn!(site = "", "no fresh page: {}", "said\nin two lines");
            tracing::info!(only = "a field");
            tracing::info!(r#type = "raw", count = 1u64);
        });
        assert_eq!(plain, default);
        // Four events, one of whose messages spans two lines.
        assert_eq!(default.lines().count(), 5, "{default}");
        assert!(plain.contains(r#"site="ledger""#), "{plain}");
    }
}
