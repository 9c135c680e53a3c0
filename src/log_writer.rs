//! Where the log's lines go: into one shared buffer, which a writer thread empties into the
//! sink (standard error) every [`FLUSH_EVERY`], or as soon as it holds [`FLUSH_BYTES`].
//! A line costs the request that logs it a short lock and a copy: no system call, no
//! allocation, and no wake-up of another thread, which under load cost more than the
//! writes themselves when every line was handed over on its own. No line is dropped: once
//! [`MAX_BYTES`] wait unwritten, loggers wait for the writer. The guard from [`start`]
//! writes what is left when it is dropped. It knows nothing of what a line says (that is
//! `tracing_subscriber`'s).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most a line waits in the buffer while the server is busy.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Buffered bytes that have the writer go at once rather than at its next round: a write
/// of about this much is cheap per line, and the buffer stays small.
pub const FLUSH_BYTES: usize = 64 << 10;

/// Buffered bytes past which a logger waits for the writer: several seconds of a busy
/// server's access log.
pub const MAX_BYTES: usize = 4 << 20;

/// The writer side, as `tracing_subscriber` wants one (`MakeWriter`): cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread: the buffer filled, a first line came, or the end.
    work: Condvar,
    /// Wakes loggers waiting for room.
    room: Condvar,
}

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer thread waits for a first line rather than for its next round.
    idle: bool,
    closed: bool,
}

/// Writes what is still buffered, and stops the writer thread, when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `sink`.
pub fn start<W: Write + Send + 'static>(sink: W) -> std::io::Result<(LogWriter, LogGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        work: Condvar::new(),
        room: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("lightmirror-log".to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            move || write_rounds(&shared, sink)
        })?;
    let guard = LogGuard {
        shared: Arc::clone(&shared),
        thread: Some(thread),
    };
    Ok((LogWriter { shared }, guard))
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer thread: takes the whole buffer each round and writes it outside the lock.
fn write_rounds<W: Write>(shared: &Shared, mut sink: W) {
    let mut taken = Vec::new();
    loop {
        let mut state = shared.state();
        if state.lines.is_empty() && !state.closed {
            state.idle = true;
            state = shared
                .work
                .wait_while(state, |s| s.lines.is_empty() && !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            state.idle = false;
        }
        // Lines that come meanwhile join this round's write.
        if !state.closed && state.lines.len() < FLUSH_BYTES {
            state = shared
                .work
                .wait_timeout_while(state, FLUSH_EVERY, |s| {
                    s.lines.len() < FLUSH_BYTES && !s.closed
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut state.lines, &mut taken);
        let closed = state.closed;
        drop(state);
        shared.room.notify_all();
        // A sink that fails (a closed standard error) loses lines; nothing else can be done.
        let _ = sink.write_all(&taken).and_then(|()| sink.flush());
        taken.clear();
        if closed && shared.state().lines.is_empty() {
            return;
        }
    }
}

impl Write for &LogWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = &self.shared;
        let mut state = shared
            .room
            .wait_while(shared.state(), |s| s.lines.len() >= MAX_BYTES && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        let before = state.lines.len();
        state.lines.extend_from_slice(line);
        let wake = (state.idle && before == 0)
            || (before < FLUSH_BYTES && state.lines.len() >= FLUSH_BYTES);
        drop(state);
        if wake {
            shared.work.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = &'a LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.work.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink whose bytes the test can read while the writer runs.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn a_lone_line_is_written_within_a_round() {
        let sink = Sink::default();
        let (writer, _guard) = start(sink.clone()).unwrap();
        (&writer).write_all(b"one line\n").unwrap();
        let asked = Instant::now();
        while sink.text().is_empty() {
            assert!(
                asked.elapsed() < FLUSH_EVERY * 20,
                "the line was not written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "one line\n");
    }

    #[test]
    fn every_line_of_every_thread_is_written_whole_and_in_its_order() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..20_000 {
                        (&writer)
                            .write_all(format!("thread {t} line {n}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = sink.text();
        for t in 0..4 {
            let prefix = format!("thread {t} line ");
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&prefix))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..20_000).collect::<Vec<_>>(), "thread {t}");
        }
        assert_eq!(text.lines().count(), 80_000);
    }

    /// A sink that takes nothing until the test lets it.
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        sink: Sink,
    }

    impl Write for Gate {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (open, opened) = &*self.open;
            drop(opened.wait_while(open.lock().unwrap(), |o| !*o).unwrap());
            self.sink.write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn loggers_wait_for_a_stuck_sink_instead_of_dropping_or_hoarding_lines() {
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let sink = Sink::default();
        let gate = Gate {
            open: Arc::clone(&open),
            sink: sink.clone(),
        };
        let (writer, guard) = start(gate).unwrap();
        let line = [b'x'; 1023];
        let lines = 3 * MAX_BYTES / 1024;
        let logger = {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for _ in 0..lines {
                    (&writer).write_all(&line).unwrap();
                    (&writer).write_all(b"\n").unwrap();
                }
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let held = writer.shared.state().lines.len();
        assert!(held <= MAX_BYTES + 1024, "{held} bytes held");
        assert!(!logger.is_finished(), "the logger did not wait");
        let (flag, opened) = &*open;
        *flag.lock().unwrap() = true;
        opened.notify_all();
        logger.join().unwrap();
        drop(guard);
        assert_eq!(sink.text().lines().count(), lines);
    }
}
