//! `wippy_actor`: the actor interface for preview-1 core modules (SPEC §9), linked for
//! entries that list `wippy:actor` in `imports`. A guest sends and receives messages,
//! spawns, monitors, links, terminates and names processes, with pointers and lengths
//! into its own memory (`wasm/include/wippy_actor.h` is the C header).
//!
//! Every pointer and length is checked before anything is read or allocated: a range
//! outside the guest's memory is answered with `fault`, an over-long argument with
//! `too-large` or `invalid-target`, never a trap or a host allocation of the guest's
//! choosing. `receive` parks the process like a WASI sleep: termination and the
//! deadline still act within one slice, and virtual time applies.

use std::sync::Weak;
use std::time::Duration;

use wasmtime::{Caller, Extern, Linker};

use super::guest_memory;
use super::state::ProcessState;
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
const MAX_ARGS_BYTES: u32 = MAX_PAYLOAD_BYTES;

/// A payload's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Bytes = 0,
    Text = 1,
    Json = 2,
}

impl Format {
    fn from_code(code: u32) -> Result<Self, Code> {
        match code {
            0 => Ok(Format::Bytes),
            1 => Ok(Format::Text),
            2 => Ok(Format::Json),
            _ => Err(Code::UnsupportedPayload),
        }
    }
}

/// The message a guest is reading (what `receive` took).
pub(super) struct Incoming {
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
    current: Option<Incoming>,
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

/// Links every `wippy_actor` function.
pub fn add_to_linker(linker: &mut Linker<ProcessState>) -> wasmtime::Result<()> {
    const M: &str = "wippy_actor";
    linker.func_wrap(
        M,
        "self",
        |mut c: Caller<'_, ProcessState>, out: u32, cap: u32| {
            let me = actor(&mut c).pid_text.clone();
            put(&mut c, out, cap, me.as_bytes())
        },
    )?;
    linker.func_wrap(
        M,
        "send",
        |mut c: Caller<'_, ProcessState>,
         target: u32,
         target_len: u32,
         topic: u32,
         topic_len: u32,
         format: u32,
         data: u32,
         data_len: u32| {
            code(send(
                &mut c,
                (target, target_len),
                (topic, topic_len),
                format,
                (data, data_len),
            ))
        },
    )?;
    linker.func_wrap(M, "try_receive", |mut c: Caller<'_, ProcessState>| {
        let a = actor(&mut c);
        let delivery = a.inbox.try_delivery();
        take(a, delivery)
    })?;
    linker.func_wrap_async(
        M,
        "receive",
        |mut c: Caller<'_, ProcessState>, (timeout_ms,): (i64,)| {
            let inbox = actor(&mut c).inbox.clone();
            Box::new(async move {
                let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
                let delivery = inbox.next_delivery(timeout).await;
                Ok(take(actor(&mut c), delivery))
            })
        },
    )?;
    linker.func_wrap(
        M,
        "message_format",
        |mut c: Caller<'_, ProcessState>| match &actor(&mut c).current {
            Some(m) => m.format as i32,
            None => Code::NoMessage as i32,
        },
    )?;
    for (name, part) in [
        ("message_from", Part::From),
        ("message_topic", Part::Topic),
        ("message_data", Part::Data),
    ] {
        linker.func_wrap(
            M,
            name,
            move |mut c: Caller<'_, ProcessState>, out: u32, cap: u32| {
                let Some(m) = actor(&mut c).current.take() else {
                    return Code::NoMessage as i32;
                };
                let bytes = match part {
                    Part::From => m.from.as_bytes(),
                    Part::Topic => m.topic.as_bytes(),
                    Part::Data => &m.data[..],
                };
                let n = put(&mut c, out, cap, bytes);
                actor(&mut c).current = Some(m);
                n
            },
        )?;
    }
    linker.func_wrap(
        M,
        "spawn",
        |mut c: Caller<'_, ProcessState>,
         entry: u32,
         entry_len: u32,
         host: u32,
         host_len: u32,
         args: u32,
         args_len: u32,
         watch: u32,
         out: u32,
         cap: u32| {
            match spawn(
                &mut c,
                (entry, entry_len),
                (host, host_len),
                (args, args_len),
                watch,
            ) {
                Ok(pid) => put(&mut c, out, cap, pid.to_string().as_bytes()),
                Err(e) => e as i32,
            }
        },
    )?;
    for (name, act) in [
        ("monitor", Act::Monitor),
        ("unmonitor", Act::Unmonitor),
        ("link", Act::Link),
        ("unlink", Act::Unlink),
        ("terminate", Act::Terminate),
    ] {
        linker.func_wrap(
            M,
            name,
            move |mut c: Caller<'_, ProcessState>, pid: u32, len: u32| {
                code(on_pid(&mut c, (pid, len), act))
            },
        )?;
    }
    linker.func_wrap(
        M,
        "register",
        |mut c: Caller<'_, ProcessState>, name: u32, len: u32| code(register(&mut c, (name, len))),
    )?;
    linker.func_wrap(
        M,
        "lookup",
        |mut c: Caller<'_, ProcessState>, name: u32, len: u32, out: u32, cap: u32| {
            let found = read_text(&mut c, (name, len), MAX_PID_BYTES, Code::InvalidTarget)
                .and_then(|name| actor(&mut c).lookup(&name).ok_or(Code::Closed));
            match found {
                Ok(pid) => put(&mut c, out, cap, pid.to_string().as_bytes()),
                Err(e) => e as i32,
            }
        },
    )?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Part {
    From,
    Topic,
    Data,
}

#[derive(Clone, Copy)]
pub(super) enum Act {
    Monitor,
    Unmonitor,
    Link,
    Unlink,
    Terminate,
}

fn code(r: Result<(), Code>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e as i32,
    }
}

fn actor<'a>(c: &'a mut Caller<'_, ProcessState>) -> &'a mut Actor {
    c.data_mut()
        .actor
        .as_deref_mut()
        .expect("wippy_actor is linked only for processes that have an actor")
}

/// The guest's exported memory, if it has one.
fn memory(c: &mut Caller<'_, ProcessState>) -> Option<wasmtime::Memory> {
    match c.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// `len` bytes at `at` in the guest's memory; `max` is checked before anything else.
fn read(
    c: &mut Caller<'_, ProcessState>,
    (at, len): (u32, u32),
    max: u32,
    too_long: Code,
) -> Result<Vec<u8>, Code> {
    if len > max {
        return Err(too_long);
    }
    let memory = memory(c).ok_or(Code::Fault)?;
    let data = memory.data(&*c);
    let range = guest_memory::array(data.len(), at, len, 1).ok_or(Code::Fault)?;
    Ok(data[range].to_vec())
}

fn read_text(
    c: &mut Caller<'_, ProcessState>,
    span: (u32, u32),
    max: u32,
    too_long: Code,
) -> Result<String, Code> {
    String::from_utf8(read(c, span, max, too_long)?).map_err(|_| Code::InvalidMessage)
}

/// Copies `bytes` to `out` if they fit in `cap`; returns their length either way, so a
/// guest whose buffer was too small learns the size to allocate. `fault` if the buffer
/// does not lie in its memory.
fn put(c: &mut Caller<'_, ProcessState>, out: u32, cap: u32, bytes: &[u8]) -> i32 {
    let Ok(len) = i32::try_from(bytes.len()) else {
        return Code::TooLarge as i32;
    };
    if bytes.len() > cap as usize {
        return len;
    }
    let Some(memory) = memory(c) else {
        return Code::Fault as i32;
    };
    let data = memory.data_mut(&mut *c);
    match guest_memory::array(data.len(), out, bytes.len() as u32, 1) {
        Some(range) => {
            data[range].copy_from_slice(bytes);
            len
        }
        None => Code::Fault as i32,
    }
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
            link_back(&kernel, &self.pid, &pid);
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
            Act::Link => {
                let linked = kernel.watch(
                    &pid,
                    Watchers {
                        linked_pid: Some(me.clone()),
                        ..Watchers::default()
                    },
                );
                if linked {
                    link_back(&kernel, me, &pid);
                }
                linked
            }
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
        self.kernel()?
            .register(name, &self.pid)
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

/// The other half of a link: when `me` fails, `other` hears of it.
fn link_back(kernel: &Kernel, me: &Pid, other: &Pid) {
    kernel.watch(
        me,
        Watchers {
            linked_pid: Some(other.clone()),
            ..Watchers::default()
        },
    );
}

fn send(
    c: &mut Caller<'_, ProcessState>,
    to: (u32, u32),
    topic: (u32, u32),
    format: u32,
    data: (u32, u32),
) -> Result<(), Code> {
    let to = read_text(c, to, MAX_PID_BYTES, Code::InvalidTarget)?;
    let topic = read_text(c, topic, MAX_TOPIC_BYTES, Code::InvalidMessage)?;
    let format = Format::from_code(format)?;
    let bytes = read(c, data, MAX_PAYLOAD_BYTES, Code::TooLarge)?;
    let payload = decode(format, bytes)?;
    actor(c).send(&to, &topic, payload)
}

fn spawn(
    c: &mut Caller<'_, ProcessState>,
    entry: (u32, u32),
    host: (u32, u32),
    args: (u32, u32),
    watch: u32,
) -> Result<Pid, Code> {
    let entry = read_text(c, entry, MAX_PID_BYTES, Code::InvalidTarget)?;
    let host = read_text(c, host, MAX_PID_BYTES, Code::InvalidTarget)?;
    let args = read(c, args, MAX_ARGS_BYTES, Code::TooLarge)?;
    actor(c).spawn(&entry, &host, &args, watch)
}

fn on_pid(c: &mut Caller<'_, ProcessState>, pid: (u32, u32), act: Act) -> Result<(), Code> {
    let pid = read_text(c, pid, MAX_PID_BYTES, Code::InvalidTarget)?;
    actor(c).act(&pid, act)
}

fn register(c: &mut Caller<'_, ProcessState>, name: (u32, u32)) -> Result<(), Code> {
    let name = read_text(c, name, MAX_PID_BYTES, Code::InvalidTarget)?;
    actor(c).register(&name)
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
        other => (Format::Json, other.to_json().to_string().into_bytes()),
    }
}

/// Makes `delivery` the current message; 1 if there was one, 0 if not.
fn take(a: &mut Actor, delivery: Option<Delivery>) -> i32 {
    a.current = delivery.map(incoming);
    a.current.is_some() as i32
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
    let body = serde_json::json!({
        "from": e.from.to_string(),
        "result": { "value": e.result.value.to_json(), "error": error },
    });
    Incoming {
        from: e.from.to_string(),
        topic: topic.to_owned(),
        format: Format::Json,
        data: body.to_string().into_bytes(),
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
