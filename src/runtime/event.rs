//! PIDs and the events processes send to their monitors and links (SPEC §4).

use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::registry::EntryId;
use crate::value::Value;

/// `{host|n}`: unique for the host's lifetime.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    pub host: Arc<EntryId>,
    pub n: u64,
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}|{}}}", self.host, self.n)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `pid.exit`: a monitored process ended.
    Exit,
    /// `pid.link.down`: a linked process ended abnormally.
    LinkDown,
    /// `pid.cancel`: someone asked this process to stop.
    Cancel,
}

impl EventKind {
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::Exit => "pid.exit",
            EventKind::LinkDown => "pid.link.down",
            EventKind::Cancel => "pid.cancel",
        }
    }
}

/// How a process ended: its return value, or the error that stopped it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExitResult {
    pub value: Value,
    pub error: Option<String>,
}

impl ExitResult {
    pub fn ok(value: Value) -> Self {
        Self { value, error: None }
    }
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            value: Value::Null,
            error: Some(error.into()),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub from: Pid,
    pub at: SystemTime,
    pub result: ExitResult,
}

/// Where events land: a queue a caller can wait on. Cheap to clone; all clones share it.
#[derive(Clone, Default)]
pub struct Mailbox(Arc<(Mutex<std::collections::VecDeque<Event>>, Condvar)>);

impl Mailbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn deliver(&self, event: Event) {
        self.0 .0.lock().unwrap().push_back(event);
        self.0 .1.notify_all();
    }

    /// The next event, waiting up to `timeout`; `None` when it passes with nothing.
    pub fn receive(&self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.0 .0.lock().unwrap();
        loop {
            if let Some(e) = queue.pop_front() {
                return Some(e);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            queue = self.0 .1.wait_timeout(queue, left).unwrap().0;
        }
    }

    pub fn same(&self, other: &Mailbox) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
