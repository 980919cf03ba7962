//! The actor operations (SPEC §9) both guest forms share: an [`Actor`] sends, spawns,
//! links and names for its process, and turns what arrives into what a guest reads.
//! `actor_core.rs` offers them to preview-1 modules (`wippy_actor`, pointers and
//! lengths), `actor_component.rs` to components (WIT `wippy:actor/process`).

use std::sync::Weak;

use crate::kernel::event::{Delivery, Event, EventKind, Mailbox, Message};
use crate::kernel::host::{SendError, Watchers};
use crate::kernel::pid::Pid;
use crate::kernel::{Kernel, SpawnError};
use crate::value::Value;

/// What a call returns when it fails (negative; `wippy_actor.h` names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// The target process has ended, or cannot receive.
    Closed = -1,
    /// Its mailbox is full: retry later.
    Overloaded = -2,
    /// A payload over 1 MiB, or an argument over its limit.
    TooLarge = -3,
    /// A topic that is empty, over 256 bytes, not UTF-8 or reserved (`@...`); text that is
    /// not UTF-8; JSON that does not parse.
    InvalidMessage = -4,
    /// Not a PID, a registered name, an entry or a host.
    InvalidTarget = -5,
    /// A payload format other than bytes, text, json.
    UnsupportedPayload = -6,
    /// The name is registered to another process.
    NameTaken = -7,
    /// A pointer and length that do not lie inside the guest's memory.
    Fault = -8,
    /// No current message to read (call `receive` or `try_receive` first).
    NoMessage = -9,
}

/// Wippy's limits (SPEC §9).
pub const MAX_PAYLOADS: usize = 16;
pub const MAX_PAYLOAD_BYTES: u32 = 1 << 20;
pub const MAX_TOPIC_BYTES: u32 = 256;
pub const MAX_PID_BYTES: u32 = 1024;
/// Spawn arguments (a JSON array) are a message too.
pub const MAX_ARGS_BYTES: u32 = MAX_PAYLOAD_BYTES;

/// A payload's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bytes = 0,
    Text = 1,
    Json = 2,
}

impl Format {
    pub(super) fn from_code(code: u32) -> Result<Self, Code> {
        match code {
            0 => Ok(Format::Bytes),
            1 => Ok(Format::Text),
            2 => Ok(Format::Json),
            _ => Err(Code::UnsupportedPayload),
        }
    }
}

/// The message a guest is reading (what `receive` took).
pub struct Incoming {
    pub from: String,
    pub topic: String,
    pub format: Format,
    pub data: Vec<u8>,
}

/// A process's actor side: who it is, its inbox, and the message it is reading.
pub struct Actor {
    kernel: Weak<Kernel>,
    pid: Pid,
    pid_text: String,
    inbox: Mailbox,
    /// The message a core guest is reading (`receive` took it; `message_*` copy it out).
    pub(super) current: Option<Incoming>,
}

impl Actor {
    pub fn new(kernel: Weak<Kernel>, pid: Pid, inbox: Mailbox) -> Self {
        Self {
            kernel,
            pid_text: pid.to_string(),
            pid,
            inbox,
            current: None,
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Act {
    Monitor,
    Unmonitor,
    Link,
    Unlink,
    Terminate,
}

impl Actor {
    fn kernel(&self) -> Result<std::sync::Arc<Kernel>, Code> {
        self.kernel.upgrade().ok_or(Code::Closed)
    }

    /// A destination as written: a PID or a registered name.
    fn target(&self, text: &str) -> Result<Pid, Code> {
        if text.len() > MAX_PID_BYTES as usize {
            return Err(Code::InvalidTarget);
        }
        self.kernel()?.resolve(text).ok_or(Code::InvalidTarget)
    }

    /// Sends `payload` to `to` under `topic`, after SPEC §9's checks on the topic.
    pub(super) fn send(&self, to: &str, topic: &str, payload: Value) -> Result<(), Code> {
        let to = self.target(to)?;
        if topic.is_empty() || topic.len() > MAX_TOPIC_BYTES as usize || topic.starts_with('@') {
            return Err(Code::InvalidMessage);
        }
        self.kernel()?
            .send(&to, Some(&self.pid), topic, payload)
            .map_err(|e| match e {
                SendError::MailboxFull { .. } | SendError::MailboxBytesFull { .. } => {
                    Code::Overloaded
                }
                _ => Code::Closed,
            })
    }

    /// Spawns `entry` on `host` with `args_json` (a JSON array, or empty for none);
    /// `watch`: 0 none, 1 monitored, 2 linked.
    pub(super) fn spawn(
        &self,
        entry: &str,
        host: &str,
        args_json: &[u8],
        watch: u32,
    ) -> Result<Pid, Code> {
        if entry.len() > MAX_PID_BYTES as usize || host.len() > MAX_PID_BYTES as usize {
            return Err(Code::InvalidTarget);
        }
        if args_json.len() > MAX_ARGS_BYTES as usize {
            return Err(Code::TooLarge);
        }
        let args = if args_json.is_empty() {
            Vec::new()
        } else {
            match decode(Format::Json, args_json.to_vec())? {
                Value::List(items) => items,
                _ => return Err(Code::InvalidMessage),
            }
        };
        let watchers = match watch {
            0 => Watchers::default(),
            1 => Watchers::monitor(&self.inbox),
            2 => Watchers {
                linked_pid: Some(self.pid.clone()),
                ..Watchers::default()
            },
            _ => return Err(Code::InvalidMessage),
        };
        let kernel = self.kernel()?;
        let pid = kernel
            .spawn(entry, host, args.into(), watchers)
            .map_err(|e| match e {
                SpawnError::HostFull(_) => Code::Overloaded,
                _ => Code::InvalidTarget,
            })?;
        if watch == 2 {
            kernel.watch_linked(&self.pid, &pid);
        }
        Ok(pid)
    }

    pub(super) fn act(&self, target: &str, act: Act) -> Result<(), Code> {
        let pid = self.target(target)?;
        let kernel = self.kernel()?;
        let (me, inbox) = (&self.pid, &self.inbox);
        let done = match act {
            Act::Monitor => kernel.watch(&pid, Watchers::monitor(inbox)),
            Act::Unmonitor => kernel.unmonitor(&pid, inbox),
            Act::Link => kernel.link(me, &pid),
            Act::Unlink => {
                kernel.unlink(me, inbox, Some(&pid));
                kernel.unlink(&pid, inbox, Some(me))
            }
            Act::Terminate => kernel.terminate(&pid),
        };
        if done {
            Ok(())
        } else {
            Err(Code::Closed)
        }
    }

    pub(super) fn register(&self, name: &str) -> Result<(), Code> {
        let kernel = self.kernel()?;
        kernel
            .register(name, &self.pid)
            .detach(&kernel)
            .map_err(|e| match e {
                crate::kernel::names::NameError::Taken { .. } => Code::NameTaken,
                crate::kernel::names::NameError::NoProcess(_) => Code::Closed,
                _ => Code::InvalidTarget,
            })
    }

    pub(super) fn lookup(&self, name: &str) -> Option<Pid> {
        self.kernel().ok()?.lookup(name)
    }

    pub(super) fn pid_text(&self) -> &str {
        &self.pid_text
    }

    pub(super) fn take_waiting(&self) -> Option<Incoming> {
        self.inbox.try_delivery().map(incoming)
    }

    pub(super) fn inbox(&self) -> &Mailbox {
        &self.inbox
    }
}

/// A payload as a [`Value`]: text a string, bytes bytes, JSON its value.
pub(super) fn decode(format: Format, bytes: Vec<u8>) -> Result<Value, Code> {
    match format {
        Format::Bytes => Ok(Value::Bytes(bytes)),
        Format::Text => String::from_utf8(bytes)
            .map(Value::String)
            .map_err(|_| Code::InvalidMessage),
        Format::Json => serde_json::from_slice(&bytes)
            .map(Value::from_json)
            .map_err(|_| Code::InvalidMessage),
    }
}

/// A [`Value`] as a payload: the inverse of [`decode`] (a Lua table arrives as JSON).
pub(super) fn encode(value: &Value) -> (Format, Vec<u8>) {
    match value {
        Value::String(s) => (Format::Text, s.clone().into_bytes()),
        Value::Bytes(b) => (Format::Bytes, b.clone()),
        other => (
            Format::Json,
            serde_json::to_vec(other).expect("a value always serializes as JSON"),
        ),
    }
}

/// An event or a message as what a guest reads.
pub(super) fn incoming(d: Delivery) -> Incoming {
    match d {
        Delivery::Message(m) => incoming_message(m),
        Delivery::Event(e) => incoming_event(e),
    }
}

fn incoming_message(m: Message) -> Incoming {
    let (format, data) = encode(&m.payload);
    Incoming {
        from: m.from.map(|p| p.to_string()).unwrap_or_default(),
        topic: m.topic,
        format,
        data,
    }
}

/// A lifecycle event as a message with a reserved topic and a JSON payload
/// `{from, result: {value, error}}`.
fn incoming_event(e: Event) -> Incoming {
    let topic = match e.kind {
        EventKind::Exit => "@exit",
        EventKind::LinkDown => "@link-down",
        EventKind::Cancel => "@cancel",
    };
    let error = match (&e.kind, &e.result.reason) {
        (EventKind::Cancel, crate::kernel::exit::ExitReason::Cancelled { reason }) => {
            Some(reason.clone())
        }
        _ => e.result.error(),
    };
    #[derive(serde::Serialize)]
    struct Body<'a> {
        from: &'a str,
        result: Outcome<'a>,
    }
    #[derive(serde::Serialize)]
    struct Outcome<'a> {
        value: &'a Value,
        error: Option<String>,
    }
    let from = e.from.to_string();
    let body = Body {
        from: &from,
        result: Outcome {
            value: &e.result.value,
            error,
        },
    };
    Incoming {
        data: serde_json::to_vec(&body).expect("a value always serializes as JSON"),
        from,
        topic: topic.to_owned(),
        format: Format::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_bad_ones_are_named() {
        let json = br#"{"n": 1, "list": [1, 2.5, "x"], "ok": true}"#.to_vec();
        let value = decode(Format::Json, json).unwrap();
        let (format, again) = encode(&value);
        assert_eq!(format, Format::Json);
        assert_eq!(decode(Format::Json, again).unwrap(), value);
        assert_eq!(
            encode(&Value::String("hi".into())),
            (Format::Text, b"hi".to_vec())
        );
        assert_eq!(decode(Format::Text, vec![0xff]), Err(Code::InvalidMessage));
        assert_eq!(
            decode(Format::Json, b"{".to_vec()),
            Err(Code::InvalidMessage)
        );
        assert_eq!(
            decode(Format::Bytes, vec![0, 255]).unwrap(),
            Value::Bytes(vec![0, 255])
        );
    }
}
