//! The `process` module: spawn, monitor, link, send and receive from Lua (SPEC §7).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use mlua::{Lua, Table, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::convert::{from_lua, from_lua_many, to_lua};
use super::time_api::{deadline, duration};
use crate::kernel::event::{Event, EventKind, Mailbox, Message, Topics};
use crate::kernel::exit::ExitReason;
use crate::kernel::host::Watchers;
use crate::kernel::pid::Pid;
use crate::kernel::Kernel;
use crate::value::Value;

/// What a Lua process's `process` functions act for: itself.
#[derive(Clone)]
pub struct Me {
    pub kernel: Weak<Kernel>,
    pub pid: Pid,
    pub inbox: Mailbox,
    /// Topics taken by `process.listen`: the inbox channel skips them.
    pub listened: Rc<RefCell<Vec<String>>>,
}

impl Me {
    fn kernel(&self) -> mlua::Result<std::sync::Arc<Kernel>> {
        self.kernel
            .upgrade()
            .ok_or_else(|| mlua::Error::runtime("the runtime is shutting down"))
    }

    /// A destination: a PID (`{host|n}`) or a registered name.
    fn target(&self, text: &str) -> mlua::Result<Pid> {
        if text.starts_with('{') {
            return Pid::parse(text)
                .ok_or_else(|| mlua::Error::runtime(format!("not a pid: {text:?}")));
        }
        self.kernel()?
            .lookup(text)
            .ok_or_else(|| mlua::Error::runtime(format!("no process is registered as {text:?}")))
    }
}

/// A receive timeout: a duration (see [`duration`]) the clock can count from now.
fn timeout_arg(v: Option<LuaValue>) -> mlua::Result<Option<Duration>> {
    match v {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(v) => {
            let d = duration(&v)?;
            deadline(d)?;
            Ok(Some(d))
        }
    }
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The canonical event table, with the seed's flat fields (`type`, `value`, `error`)
/// alongside `kind` and `result`.
fn event_table(lua: &Lua, e: &Event) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let kind_name = match e.kind {
        EventKind::Exit => "EXIT",
        EventKind::LinkDown => "LINK_DOWN",
        EventKind::Cancel => "CANCEL",
    };
    let value = to_lua(lua, &e.result.value)?;
    // A CANCEL's error is the reason the canceller gave, as it was sent.
    let error = match &e.result.reason {
        ExitReason::Cancelled { reason } if e.kind == EventKind::Cancel => Some(reason.clone()),
        _ => e.result.error(),
    };
    let result = lua.create_table()?;
    result.set("value", value.clone())?;
    result.set("error", error.clone())?;
    t.set("type", kind_name)?;
    t.set("kind", e.kind.topic())?;
    t.set("from", e.from.to_string())?;
    t.set("at", unix(e.at))?;
    t.set("value", value)?;
    t.set("error", error.clone())?;
    if e.kind == EventKind::Cancel {
        t.set("reason", error)?;
    }
    t.set("result", result)?;
    Ok(t)
}

fn message_table(lua: &Lua, m: &Message) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("topic", m.topic.as_str())?;
    t.set("payload", to_lua(lua, &m.payload)?)?;
    t.set("from", m.from.as_ref().map(|p| p.to_string()))?;
    Ok(t)
}

/// What a [`Channel`] reads.
#[derive(Clone)]
enum Reads {
    Events,
    /// The inbox: every message no `process.listen` took.
    Inbox(Rc<RefCell<Vec<String>>>),
    /// `process.listen(topic)`: messages of one topic.
    Topic(String),
}

/// `process.events()`, `process.inbox()`, `process.listen(topic)`: a channel with
/// `:receive([timeout])`.
struct Channel {
    inbox: Mailbox,
    reads: Reads,
}

impl UserData for Channel {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method(
            "receive",
            |lua, this, timeout: Option<LuaValue>| async move {
                receive(&lua, &this.inbox, &this.reads, timeout).await
            },
        );
    }
}

/// The next event (or message) as a table, or nil once `timeout` passes.
async fn receive(
    lua: &Lua,
    inbox: &Mailbox,
    reads: &Reads,
    timeout: Option<LuaValue>,
) -> mlua::Result<LuaValue> {
    let timeout = timeout_arg(timeout)?;
    let topics = match reads {
        Reads::Events => None,
        Reads::Inbox(listened) => Some(match listened.borrow().as_slice() {
            [] => Topics::All,
            topics => Topics::Except(topics.to_vec()),
        }),
        Reads::Topic(topic) => Some(Topics::Only(topic.clone())),
    };
    let table = if let Some(topics) = topics {
        match inbox.next_message_of(topics, timeout).await {
            Some(m) => Some(message_table(lua, &m)?),
            None => None,
        }
    } else {
        match inbox.next_event(timeout).await {
            Some(e) => Some(event_table(lua, &e)?),
            None => None,
        }
    };
    Ok(table.map_or(LuaValue::Nil, LuaValue::Table))
}

/// Spawn result in Lua's style: the pid, or nil and the error.
type Spawned = (Option<String>, Option<String>);

#[derive(Clone, Copy)]
enum Watch {
    None,
    Monitor,
    Link,
}

fn spawn(
    me: &Me,
    entry: &str,
    host: &str,
    args: Variadic<LuaValue>,
    watch: Watch,
) -> mlua::Result<Spawned> {
    let kernel = me.kernel()?;
    let values = from_lua_many(args.iter())?;
    let watchers = match watch {
        Watch::None => Watchers::default(),
        Watch::Monitor => Watchers::monitor(&me.inbox),
        Watch::Link => Watchers {
            linked_pid: Some(me.pid.clone()),
            ..Watchers::default()
        },
    };
    match kernel.spawn(entry, host, values.into(), watchers) {
        Ok(pid) => {
            if let Watch::Link = watch {
                kernel.watch_linked(&me.pid, &pid);
            }
            Ok((Some(pid.to_string()), None))
        }
        Err(e) => Ok((None, Some(e.to_string()))),
    }
}

pub fn module(lua: &Lua, me: Me) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let event = lua.create_table()?;
    event.set("EXIT", EventKind::Exit.topic())?;
    event.set("LINK_DOWN", EventKind::LinkDown.topic())?;
    event.set("CANCEL", EventKind::Cancel.topic())?;
    t.set("event", event)?;

    for (name, watch) in [
        ("spawn", Watch::None),
        ("spawn_monitored", Watch::Monitor),
        ("spawn_linked", Watch::Link),
    ] {
        let me = me.clone();
        t.set(
            name,
            lua.create_function(
                move |_, (entry, host, args): (String, String, Variadic<LuaValue>)| {
                    spawn(&me, &entry, &host, args, watch)
                },
            )?,
        )?;
    }

    let m = me.clone();
    t.set(
        "pid",
        lua.create_function(move |_, ()| Ok(m.pid.to_string()))?,
    )?;

    let m = me.clone();
    t.set(
        "send",
        lua.create_function(
            move |_, (pid, topic, payload): (String, String, Variadic<LuaValue>)| {
                let payload = match payload.len() {
                    0 => Value::Null,
                    1 => from_lua(&payload[0])?,
                    _ => Value::List(from_lua_many(payload.iter())?),
                };
                let kernel = m.kernel()?;
                let target = match m.target(&pid) {
                    Ok(target) => target,
                    Err(e) => return Ok((false, Some(e.to_string()))),
                };
                Ok(match kernel.send(&target, Some(&m.pid), &topic, payload) {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.to_string())),
                })
            },
        )?,
    )?;

    let m = me.clone();
    t.set(
        "receive",
        lua.create_async_function(move |lua, timeout: Option<LuaValue>| {
            let inbox = m.inbox.clone();
            async move { receive(&lua, &inbox, &Reads::Events, timeout).await }
        })?,
    )?;
    // Builds the channel type's methods now, while `coroutine.yield` (which mlua's async
    // methods capture when the type is first used) is still the library's own.
    lua.create_userdata(Channel {
        inbox: me.inbox.clone(),
        reads: Reads::Events,
    })?;
    for (name, reads) in [
        ("events", Reads::Events),
        ("inbox", Reads::Inbox(me.listened.clone())),
    ] {
        let m = me.clone();
        t.set(
            name,
            lua.create_function(move |_, ()| {
                Ok(Channel {
                    inbox: m.inbox.clone(),
                    reads: reads.clone(),
                })
            })?,
        )?;
    }
    let m = me.clone();
    t.set(
        "listen",
        lua.create_function(move |_, topic: String| {
            let mut listened = m.listened.borrow_mut();
            if !listened.contains(&topic) {
                listened.push(topic.clone());
            }
            Ok(Channel {
                inbox: m.inbox.clone(),
                reads: Reads::Topic(topic),
            })
        })?,
    )?;
    let m = me.clone();
    t.set(
        "exec",
        lua.create_async_function(
            move |lua, (entry, host, args): (String, String, Variadic<LuaValue>)| {
                let m = m.clone();
                async move { exec(&lua, &m, &entry, &host, args).await }
            },
        )?,
    )?;
    t.set("registry", registry_module(lua, &me)?)?;

    set_pid_fn(lua, &t, &me, "terminate", |k, _, pid| k.terminate(&pid))?;
    set_pid_fn(lua, &t, &me, "monitor", |k, me, pid| {
        k.watch(&pid, Watchers::monitor(&me.inbox))
    })?;
    set_pid_fn(lua, &t, &me, "unmonitor", |k, me, pid| {
        k.unmonitor(&pid, &me.inbox)
    })?;
    set_pid_fn(lua, &t, &me, "link", |k, me, other| k.link(&me.pid, &other))?;
    set_pid_fn(lua, &t, &me, "unlink", |k, me, other| {
        k.unlink(&me.pid, &me.inbox, Some(&other));
        k.unlink(&other, &me.inbox, Some(&me.pid))
    })?;
    let m = me;
    t.set(
        "cancel",
        lua.create_function(move |_, (pid, reason): (String, Option<String>)| {
            let reason = reason.unwrap_or_else(|| "cancelled".to_owned());
            Ok(m.kernel()?.cancel(&m.target(&pid)?, Some(&m.pid), &reason))
        })?,
    )?;
    Ok(t)
}

/// `process.<name>(pid) -> bool`: `f` acts on the pid for this process.
fn set_pid_fn(
    lua: &Lua,
    t: &Table,
    me: &Me,
    name: &str,
    f: impl Fn(&Kernel, &Me, Pid) -> bool + 'static,
) -> mlua::Result<()> {
    let me = me.clone();
    t.set(
        name,
        lua.create_function(move |_, pid: String| Ok(f(&*me.kernel()?, &me, me.target(&pid)?)))?,
    )
}

/// `process.exec(entry, host, ...)`: spawns a process and waits for it to end; returns
/// its value, or nil and its error.
async fn exec(
    lua: &Lua,
    me: &Me,
    entry: &str,
    host: &str,
    args: Variadic<LuaValue>,
) -> mlua::Result<(LuaValue, Option<String>)> {
    let values = from_lua_many(args.iter())?;
    let exits = Mailbox::new();
    if let Err(e) = me
        .kernel()?
        .spawn(entry, host, values.into(), Watchers::monitor(&exits))
    {
        return Ok((LuaValue::Nil, Some(e.to_string())));
    }
    let Some(exit) = exits.next_event(None).await else {
        return Ok((LuaValue::Nil, Some("process ended without an exit".into())));
    };
    match exit.result.error() {
        Some(error) => Ok((LuaValue::Nil, Some(error))),
        None => Ok((to_lua(lua, &exit.result.value)?, None)),
    }
}

/// `process.registry`: `register(name[, pid])`, `lookup(name)`, `unregister(name)`.
fn registry_module(lua: &Lua, me: &Me) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let m = me.clone();
    t.set(
        "register",
        lua.create_function(move |_, (name, pid): (String, Option<String>)| {
            let pid = match pid {
                Some(text) => m.target(&text)?,
                None => m.pid.clone(),
            };
            Ok(match m.kernel()?.register(&name, &pid) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            })
        })?,
    )?;
    let m = me.clone();
    t.set(
        "lookup",
        lua.create_function(move |_, name: String| {
            Ok(m.kernel()?.lookup(&name).map(|pid| pid.to_string()))
        })?,
    )?;
    let m = me.clone();
    t.set(
        "unregister",
        lua.create_function(move |_, name: String| Ok(m.kernel()?.unregister(&name)))?,
    )?;
    Ok(t)
}
