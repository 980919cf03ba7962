//! The `process` module: spawn, monitor, link, send and receive from Lua (SPEC §7).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use mlua::{Lua, Table, Value as LuaValue, Variadic};

use super::channel::{timeout_arg, Channel, Reads, Source};
use super::convert::{from_lua, from_lua_many, to_lua};
use crate::kernel::event::{EventKind, Mailbox};
use crate::kernel::host::Watchers;
use crate::kernel::pid::Pid;
use crate::kernel::process::KillSwitch;
use crate::kernel::{Kernel, SpawnError, Spawned as KernelSpawned};
use crate::value::Value;

/// Topics one process may `listen` to: every inbox read skips them all.
const MAX_LISTENS: usize = 1024;

/// What a Lua process's `process` functions act for: itself.
#[derive(Clone)]
pub struct Me {
    pub kernel: Weak<Kernel>,
    /// The entry this process runs (`process.id()`).
    pub entry: String,
    /// Its kill switch, which also says whether a linked failure is trapped.
    pub kill: Arc<KillSwitch>,
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
            return self
                .kernel()?
                .parse_pid(text)
                .ok_or_else(|| mlua::Error::runtime(format!("not a pid: {text:?}")));
        }
        self.kernel()?
            .lookup(text)
            .ok_or_else(|| mlua::Error::runtime(format!("no process is registered as {text:?}")))
    }
}

/// Spawn result in Lua's style: the pid, or nil and the error.
type Spawned = (Option<String>, Option<String>);

#[derive(Clone, Copy)]
enum Watch {
    None,
    Monitor,
    Link,
    Both,
}

impl Watch {
    fn watchers(self, me: &Me) -> Watchers {
        match self {
            Watch::None => Watchers::default(),
            Watch::Monitor => Watchers::monitor(&me.inbox),
            Watch::Link => Watchers {
                linked_pid: Some(me.pid.clone()),
                ..Watchers::default()
            },
            Watch::Both => Watchers {
                linked_pid: Some(me.pid.clone()),
                ..Watchers::monitor(&me.inbox)
            },
        }
    }

    /// After the spawn: the link's other half (the spawner hears of the child's failure),
    /// and the answer in Lua's style.
    fn answer(self, kernel: &Kernel, me: &Me, spawned: Result<Pid, SpawnError>) -> Spawned {
        match spawned {
            Ok(pid) => {
                if let Watch::Link | Watch::Both = self {
                    kernel.watch_linked(&me.pid, &pid);
                }
                (Some(pid.to_string()), None)
            }
            Err(e) => (None, Some(e.to_string())),
        }
    }
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
    let spawned = kernel.spawn(entry, host, values.into(), watch.watchers(me));
    Ok(watch.answer(&kernel, me, spawned))
}

/// A spawn on `node@host`: the process yields until the node answers.
async fn spawn_on_node(
    me: &Me,
    entry: &str,
    host: &str,
    args: Variadic<LuaValue>,
    watch: Watch,
) -> mlua::Result<Spawned> {
    let kernel = me.kernel()?;
    let values = from_lua_many(args.iter())?;
    let spawned = match kernel.spawn_anywhere(entry, host, values.into(), watch.watchers(me)) {
        KernelSpawned::Here(result) => result,
        KernelSpawned::There(reply) => reply.await,
    };
    Ok(watch.answer(&kernel, me, spawned))
}

/// `process.spawn*`: local hosts take the synchronous path; a host written `node@host`
/// takes the asynchronous one, since the other node answers over the network.
const SPAWN_CHOOSER: &str = r#"local here, there = ...
return function(entry, host, ...)
  if type(host) == "string" and string.find(host, "@", 1, true) then
    return there(entry, host, ...)
  end
  return here(entry, host, ...)
end"#;

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
        ("spawn_linked_monitored", Watch::Both),
    ] {
        let m = me.clone();
        let here = lua.create_function(
            move |_, (entry, host, args): (String, String, Variadic<LuaValue>)| {
                spawn(&m, &entry, &host, args, watch)
            },
        )?;
        let m = me.clone();
        let there = lua.create_async_function(
            move |_, (entry, host, args): (String, String, Variadic<LuaValue>)| {
                let m = m.clone();
                async move { spawn_on_node(&m, &entry, &host, args, watch).await }
            },
        )?;
        let chooser: mlua::Function = lua
            .load(SPAWN_CHOOSER)
            .set_name("=process.spawn")
            .call((here, there))?;
        t.set(name, chooser)?;
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
            move |_, (pid, topic, mut payload): (String, String, Variadic<LuaValue>)| {
                // Trailing nils are no payloads: `send(pid, t, f())` where f returns `v, nil`.
                while matches!(payload.last(), Some(LuaValue::Nil)) {
                    payload.pop();
                }
                let payload = match payload.len() {
                    0 => Value::Null,
                    1 => from_lua(&payload[0])?,
                    _ => Value::List(from_lua_many(payload.iter())?),
                };
                if topic.starts_with('@') {
                    return Ok((
                        None,
                        Some(format!(
                            "invalid topic {topic:?}: topics starting with @ are the runtime's"
                        )),
                    ));
                }
                let kernel = m.kernel()?;
                let target = match m.target(&pid) {
                    Ok(target) => target,
                    Err(e) => return Ok((None, Some(e.to_string()))),
                };
                Ok(match kernel.send(&target, Some(&m.pid), &topic, payload) {
                    Ok(()) => (Some(true), None),
                    Err(e) => (None, Some(e.to_string())),
                })
            },
        )?,
    )?;

    // The same inbox and events channel for every call, as in Wippy.
    let events_channel = Channel::mailbox(me.inbox.clone(), Reads::Events);
    let events = lua.create_userdata(events_channel.clone())?;
    let inbox = lua.create_userdata(Channel::mailbox(
        me.inbox.clone(),
        Reads::Inbox(me.listened.clone()),
    ))?;
    // The seed's `process.receive([timeout])`: the next event, or nil once it passes.
    t.set(
        "receive",
        lua.create_async_function(move |lua, timeout: Option<LuaValue>| {
            let events = events_channel.clone();
            async move {
                let timeout = timeout_arg(timeout)?;
                Ok(events.receive(&lua, timeout).await?.ok().flatten())
            }
        })?,
    )?;
    t.set(
        "events",
        lua.create_function(move |_, ()| Ok(events.clone()))?,
    )?;
    t.set(
        "inbox",
        lua.create_function(move |_, ()| Ok(inbox.clone()))?,
    )?;
    let m = me.clone();
    t.set(
        "listen",
        lua.create_function(move |_, (topic, options): (String, Option<Table>)| {
            if topic.is_empty() || topic.starts_with('@') {
                return Ok((
                    None,
                    Some(format!(
                        "invalid topic {topic:?}: a topic is not empty and does not start with @"
                    )),
                ));
            }
            let messages = match &options {
                Some(o) => o.get::<Option<bool>>("message")?.unwrap_or(false),
                None => false,
            };
            let mut listened = m.listened.borrow_mut();
            if !listened.contains(&topic) {
                if listened.len() >= MAX_LISTENS {
                    return Ok((
                        None,
                        Some(format!(
                            "process.listen: this process already listens to {MAX_LISTENS} topics"
                        )),
                    ));
                }
                listened.push(topic.clone());
            }
            Ok((
                Some(Channel::mailbox(
                    m.inbox.clone(),
                    Reads::Topic { topic, messages },
                )),
                None,
            ))
        })?,
    )?;
    let m = me.clone();
    t.set(
        "unlisten",
        lua.create_function(move |_, ch: mlua::UserDataRef<Channel>| {
            if let Source::Mailbox {
                reads: Reads::Topic { topic, .. },
                ..
            } = ch.source()
            {
                m.listened.borrow_mut().retain(|t| t != topic);
            }
            Ok(())
        })?,
    )?;
    let m = me.clone();
    t.set("id", lua.create_function(move |_, ()| Ok(m.entry.clone()))?)?;
    let m = me.clone();
    t.set(
        "get_options",
        lua.create_function(move |lua, ()| {
            let options = lua.create_table()?;
            options.set("trap_links", m.kill.traps_links())?;
            Ok(options)
        })?,
    )?;
    let m = me.clone();
    t.set(
        "set_options",
        lua.create_function(move |_, options: Table| {
            for pair in options.pairs::<String, LuaValue>() {
                let (key, value) = pair?;
                match (key.as_str(), value) {
                    ("trap_links", LuaValue::Boolean(on)) => m.kill.set_trap_links(on),
                    ("trap_links", other) => {
                        return Ok((
                            false,
                            Some(format!(
                                "option trap_links must be a boolean, not {}",
                                other.type_name()
                            )),
                        ))
                    }
                    (other, _) => {
                        return Ok((false, Some(format!("option {other} is not supported"))))
                    }
                }
            }
            Ok((true, None))
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
pub(super) async fn exec(
    lua: &Lua,
    me: &Me,
    entry: &str,
    host: &str,
    args: Variadic<LuaValue>,
) -> mlua::Result<(LuaValue, Option<String>)> {
    let values = from_lua_many(args.iter())?;
    let exits = Mailbox::new();
    let spawned =
        match me
            .kernel()?
            .spawn_anywhere(entry, host, values.into(), Watchers::monitor(&exits))
        {
            KernelSpawned::Here(result) => result,
            KernelSpawned::There(reply) => reply.await,
        };
    if let Err(e) = spawned {
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
        // Asynchronous: in a cluster the name is claimed in the cluster's bucket.
        lua.create_async_function(move |_, (name, pid): (String, Option<String>)| {
            let m = m.clone();
            async move {
                let pid = match pid {
                    Some(text) => m.target(&text)?,
                    None => m.pid.clone(),
                };
                let registration = m.kernel()?.register(&name, &pid);
                Ok(match registration.answer().await {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.to_string())),
                })
            }
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
