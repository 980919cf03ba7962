//! Guest stdout/stderr under a `process.host`: cut into lines, each tagged with the PID,
//! and handed to the host's log. Many processes share one terminal, so unbuffered,
//! untagged output would interleave mid-line and say nothing about who wrote it.

use std::fmt;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use super::event::Pid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Longest line kept in memory; a longer one is logged in pieces of this size.
const MAX_LINE: usize = 64 * 1024;

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
    pub fn new(sink: impl Fn(&Pid, Stream, &str) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// A log that keeps every line, and the list it keeps them in.
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
    pub fn emit(&self, pid: &Pid, stream: Stream, line: &str) {
        (self.0)(pid, stream, line)
    }

    /// The stdout or stderr of process `pid`, for its WASI context.
    pub fn stream(&self, pid: &Pid, stream: Stream) -> TaggedOutput {
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
pub struct TaggedOutput(Arc<Mutex<LineBuffer>>);

impl TaggedOutput {
    fn write_bytes(&self, bytes: &[u8]) {
        self.0.lock().unwrap().write(bytes);
    }
}

impl IsTerminal for TaggedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for TaggedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for TaggedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for TaggedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

impl tokio::io::AsyncWrite for TaggedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
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
