//! Guest stdout/stderr under a `process.host`: cut into lines, each tagged with the PID,
//! and handed to the host's log. Many processes share one terminal, so unbuffered,
//! untagged output would interleave mid-line and say nothing about who wrote it.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use super::pid::Pid;

/// Which of a guest's output streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (and Lua's `print`).
    Stdout,
    /// Standard error.
    Stderr,
}

/// Longest line kept in memory; a longer one is logged in pieces of this size.
pub(crate) const MAX_LINE: usize = 64 * 1024;

type Sink = dyn Fn(&Pid, Stream, &str) + Send + Sync;

/// Where guest lines go. The default writes `{host|n} line` to the host's own stdout or
/// stderr; [`GuestLog::capture`] keeps them for tests and embedders.
#[derive(Clone)]
pub struct GuestLog(Arc<Sink>);

/// Lines a [`GuestLog::capture`] log has received.
pub type Captured = Arc<Mutex<Vec<(Pid, Stream, String)>>>;

impl Default for GuestLog {
    fn default() -> Self {
        Self::new(|pid, stream, line| {
            let _ = match stream {
                Stream::Stdout => writeln!(std::io::stdout().lock(), "{pid} {line}"),
                Stream::Stderr => writeln!(std::io::stderr().lock(), "{pid} {line}"),
            };
        })
    }
}

impl fmt::Debug for GuestLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestLog")
    }
}

impl GuestLog {
    /// A log that hands each line to `sink`, from the worker thread that ran the guest.
    pub fn new(sink: impl Fn(&Pid, Stream, &str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// A log that keeps every line, and the list it keeps them in.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_wasm::{GuestLog, Mailbox, Project, Runtime, Stream};
    ///
    /// let yaml = r#"
    /// version: "1.0"
    /// namespace: app
    /// entries:
    ///   - name: workers
    ///     kind: process.host
    ///   - name: hello
    ///     kind: process.lua
    ///     source: "return { main = function() print('hello') end }"
    ///     method: main
    /// "#;
    /// let (log, lines) = GuestLog::capture();
    /// let rt = Runtime::builder()
    ///     .guest_output(log)
    ///     .build(&Project::in_memory(".").with_index("_index.yaml", yaml))
    ///     .unwrap();
    /// let me = Mailbox::new();
    /// let pid = rt.spawn_monitored(&me, "app:hello", "app:workers", vec![]).unwrap();
    /// me.receive(Duration::from_secs(10)).expect("EXIT");
    /// assert_eq!(lines.lock().unwrap()[0], (pid, Stream::Stdout, "hello".to_owned()));
    /// ```
    pub fn capture() -> (Self, Captured) {
        let lines = Captured::default();
        let kept = lines.clone();
        let log = Self::new(move |pid, stream, line| {
            kept.lock()
                .unwrap()
                .push((pid.clone(), stream, line.to_owned()))
        });
        (log, lines)
    }

    /// Logs one whole line for `pid` (Lua's `print`).
    pub(crate) fn emit(&self, pid: &Pid, stream: Stream, line: &str) {
        (self.0)(pid, stream, line)
    }

    /// The stdout or stderr of process `pid`, for its WASI context.
    pub(crate) fn stream(&self, pid: &Pid, stream: Stream) -> TaggedOutput {
        TaggedOutput(Arc::new(Mutex::new(LineBuffer {
            pid: pid.clone(),
            stream,
            log: self.clone(),
            pending: Vec::new(),
        })))
    }
}

struct LineBuffer {
    pid: Pid,
    stream: Stream,
    log: GuestLog,
    pending: Vec<u8>,
}

impl LineBuffer {
    fn write(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..end]);
            self.emit();
            bytes = &bytes[end + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            self.emit();
            self.pending = rest;
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        (self.log.0)(&self.pid, self.stream, line);
        self.pending.clear();
    }
}

impl Drop for LineBuffer {
    /// Close: a last line without a newline is still logged.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.emit();
        }
    }
}

/// One process's stdout or stderr. Clones share the line buffer.
#[derive(Clone)]
pub(crate) struct TaggedOutput(Arc<Mutex<LineBuffer>>);

impl TaggedOutput {
    /// Adds bytes; every complete line is logged at once.
    pub(crate) fn write_bytes(&self, bytes: &[u8]) {
        self.0.lock().unwrap().write(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::EntryId;

    #[test]
    fn output_is_cut_into_tagged_lines_and_the_rest_is_logged_at_close() {
        let (log, lines) = GuestLog::capture();
        let pid = Pid {
            node: None,
            host: Arc::new(EntryId::parse("a:h").unwrap()),
            n: 7,
        };
        let out = log.stream(&pid, Stream::Stdout);
        out.write_bytes(b"hel");
        out.write_bytes(b"lo\r\nwor");
        assert_eq!(lines.lock().unwrap().len(), 1);
        out.write_bytes(b"ld\nlast");
        drop(out);
        let got: Vec<_> = lines.lock().unwrap().iter().map(|l| l.2.clone()).collect();
        assert_eq!(got, ["hello", "world", "last"]);
        assert_eq!(lines.lock().unwrap()[0].0.to_string(), "{a:h|7}");
    }
}
