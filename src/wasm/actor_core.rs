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

use std::time::Duration;

use wasmtime::{Caller, Extern, Linker};

use super::actor::{
    decode, incoming, Act, Actor, Code, Format, MAX_ARGS_BYTES, MAX_PAYLOAD_BYTES, MAX_PID_BYTES,
    MAX_TOPIC_BYTES,
};
use super::guest_memory;
use super::state::ProcessState;
use crate::kernel::event::Delivery;
use crate::kernel::pid::Pid;

/// Links every `wippy_actor` function.
pub fn add_to_linker(linker: &mut Linker<ProcessState>) -> wasmtime::Result<()> {
    const M: &str = "wippy_actor";
    linker.func_wrap(
        M,
        "self",
        |mut c: Caller<'_, ProcessState>, out: u32, cap: u32| {
            let me = actor(&mut c).pid_text().to_owned();
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
        let delivery = a.inbox().try_delivery();
        take(a, delivery)
    })?;
    linker.func_wrap_async(
        M,
        "receive",
        |mut c: Caller<'_, ProcessState>, (timeout_ms,): (i64,)| {
            let inbox = actor(&mut c).inbox().clone();
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

/// Makes `delivery` the current message; 1 if there was one, 0 if not.
fn take(a: &mut Actor, delivery: Option<Delivery>) -> i32 {
    a.current = delivery.map(incoming);
    a.current.is_some() as i32
}
