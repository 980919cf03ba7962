//! `wippy:actor/process@0.1.0`: the actor interface for components (SPEC §9,
//! `wasm/wit/actor/actor.wit`), linked for entries that list `wippy:actor` in
//! `imports`. The operations are the core module's (`actor.rs`); this file only maps
//! them to component types: strings and records instead of pointers, a `message` record
//! instead of the "current message", `error` cases instead of negative codes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use wasmtime::component::{ComponentType, Lift, Linker, Lower, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};

use super::actor::{self, Act, Actor, Code, Incoming, MAX_PAYLOADS, MAX_PAYLOAD_BYTES};
use super::state::ProcessState;
use crate::kernel::event::Mailbox;
use crate::value::Value;

#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[repr(u8)]
enum Format {
    #[component(name = "bytes")]
    Bytes,
    #[component(name = "text")]
    Text,
    #[component(name = "json")]
    Json,
}

#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
struct Payload {
    format: Format,
    data: Vec<u8>,
}

#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(record)]
struct Message {
    from: String,
    topic: String,
    payloads: Vec<Payload>,
}

#[derive(ComponentType, Lift, Lower, Clone, Copy, Debug, PartialEq, Eq)]
#[component(enum)]
#[repr(u8)]
enum Error {
    #[component(name = "closed")]
    Closed,
    #[component(name = "overloaded")]
    Overloaded,
    #[component(name = "too-large")]
    TooLarge,
    #[component(name = "invalid-message")]
    InvalidMessage,
    #[component(name = "invalid-target")]
    InvalidTarget,
    #[component(name = "unsupported-payload")]
    UnsupportedPayload,
    #[component(name = "name-taken")]
    NameTaken,
}

impl From<Code> for Error {
    fn from(code: Code) -> Self {
        match code {
            Code::Closed | Code::NoMessage => Error::Closed,
            Code::Overloaded => Error::Overloaded,
            Code::TooLarge => Error::TooLarge,
            Code::InvalidMessage | Code::Fault => Error::InvalidMessage,
            Code::InvalidTarget => Error::InvalidTarget,
            Code::UnsupportedPayload => Error::UnsupportedPayload,
            Code::NameTaken => Error::NameTaken,
        }
    }
}

fn message(m: Incoming) -> Message {
    let format = match m.format {
        actor::Format::Bytes => Format::Bytes,
        actor::Format::Text => Format::Text,
        actor::Format::Json => Format::Json,
    };
    Message {
        from: m.from,
        topic: m.topic,
        payloads: vec![Payload {
            format,
            data: m.data,
        }],
    }
}

/// Payloads as one [`Value`]: one payload is its value, several a list of them.
fn value(payloads: Vec<Payload>) -> Result<Value, Code> {
    if payloads.len() > MAX_PAYLOADS {
        return Err(Code::TooLarge);
    }
    let total: usize = payloads.iter().map(|p| p.data.len()).sum();
    if total > MAX_PAYLOAD_BYTES as usize {
        return Err(Code::TooLarge);
    }
    let mut values = payloads
        .into_iter()
        .map(|p| {
            let format = match p.format {
                Format::Bytes => actor::Format::Bytes,
                Format::Text => actor::Format::Text,
                Format::Json => actor::Format::Json,
            };
            actor::decode(format, p.data)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match values.len() {
        1 => values.pop().expect("one value"),
        0 => Value::Null,
        _ => Value::List(values),
    })
}

fn me<'a>(store: &'a StoreContextMut<'_, ProcessState>) -> &'a Actor {
    store
        .data()
        .actor
        .as_deref()
        .expect("wippy:actor is linked only for processes that have an actor")
}

type Res<T> = Result<T, Error>;

/// Ready while the inbox holds an event or a message (`subscribe`).
struct InboxReady(Mailbox);

#[async_trait::async_trait]
impl Pollable for InboxReady {
    async fn ready(&mut self) {
        Waiting(&self.0).await
    }
}

struct Waiting<'a>(&'a Mailbox);

impl Future for Waiting<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.has_waiting(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

pub fn add_to_linker(linker: &mut Linker<ProcessState>) -> wasmtime::Result<()> {
    let mut i = linker.instance("wippy:actor/process@0.1.0")?;
    // The interface re-exports wasi:io's `pollable` (`use wasi:io/poll.{pollable}`): the
    // same host type as wasmtime-wasi's, dropped the same way, so that linking what no
    // host provides as traps does not invent a second, mismatched one.
    i.resource(
        "pollable",
        wasmtime::component::ResourceType::host::<DynPollable>(),
        |mut store, rep| {
            store
                .data_mut()
                .table()
                .delete(Resource::<DynPollable>::new_own(rep))?;
            Ok(())
        },
    )?;
    i.func_wrap("self", |store, (): ()| {
        Ok((me(&store).pid_text().to_owned(),))
    })?;
    i.func_wrap(
        "send",
        |store, (target, topic, payloads): (String, String, Vec<Payload>)| {
            let sent = value(payloads).and_then(|v| me(&store).send(&target, &topic, v));
            Ok((sent.map_err(Error::from),))
        },
    )?;
    i.func_wrap("try-receive", |store, (): ()| {
        Ok((me(&store).take_waiting().map(message),))
    })?;
    i.func_wrap_async("receive", |store, (): ()| {
        let inbox = me(&store).inbox().clone();
        Box::new(async move {
            let delivery = inbox
                .next_delivery(None)
                .await
                .expect("a receive without a timeout only ends with a delivery");
            Ok((message(actor::incoming(delivery)),))
        })
    })?;
    i.func_wrap(
        "subscribe",
        |mut store: StoreContextMut<'_, ProcessState>, (): ()| {
            let inbox = me(&store).inbox().clone();
            let table = store.data_mut().table();
            let ready = table.push(InboxReady(inbox))?;
            let pollable: Resource<DynPollable> = subscribe(table, ready)?;
            Ok((pollable,))
        },
    )?;
    for (name, watch) in [("spawn", 0), ("spawn-monitored", 1), ("spawn-linked", 2)] {
        i.func_wrap(
            name,
            move |store, (entry, host, args): (String, String, String)| {
                let spawned = me(&store).spawn(&entry, &host, args.as_bytes(), watch);
                Ok((spawned.map(|pid| pid.to_string()).map_err(Error::from),))
            },
        )?;
    }
    for (name, act) in [
        ("monitor", Act::Monitor),
        ("link", Act::Link),
        ("terminate", Act::Terminate),
    ] {
        i.func_wrap(name, move |store, (pid,): (String,)| {
            let done: Res<()> = me(&store).act(&pid, act).map_err(Error::from);
            Ok((done,))
        })?;
    }
    i.func_wrap("register", |store, (name,): (String,)| {
        let done: Res<()> = me(&store).register(&name).map_err(Error::from);
        Ok((done,))
    })?;
    i.func_wrap("lookup", |store, (name,): (String,)| {
        Ok((me(&store).lookup(&name).map(|pid| pid.to_string()),))
    })?;
    Ok(())
}
