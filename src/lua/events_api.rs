//! The `events` module: `events.send(system, kind, path[, data])` broadcasts on the
//! runtime's event bus; `events.subscribe(system[, kind])` gives a subscription whose
//! `:channel()` delivers `{system, kind, path, data}` tables, until `:close()` or the
//! end of the process.

use std::sync::{Arc, Weak};

use mlua::{Lua, Table, UserData, UserDataMethods, Value as LuaValue};

use super::channel::{Channel, Reads};
use super::convert::from_lua;
use crate::kernel::bus::{BusEvent, EVENT_TOPIC};
use crate::kernel::Kernel;

struct Subscription {
    id: u64,
    kernel: Weak<Kernel>,
    channel: Channel,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(kernel) = self.kernel.upgrade() {
            kernel.bus.unsubscribe(self.id);
        }
    }
}

impl UserData for Subscription {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("channel", |_, s, ()| Ok(s.channel.clone()));
        methods.add_method("close", |_, s, ()| {
            if let Some(kernel) = s.kernel.upgrade() {
                kernel.bus.unsubscribe(s.id);
            }
            Ok(true)
        });
    }
}

fn kernel(kernel: &Weak<Kernel>) -> mlua::Result<Arc<Kernel>> {
    kernel
        .upgrade()
        .ok_or_else(|| mlua::Error::runtime("the runtime is shutting down"))
}

pub fn module(lua: &Lua, k: Weak<Kernel>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let weak = k.clone();
    t.set(
        "subscribe",
        lua.create_function(move |_, (system, kind): (String, Option<String>)| {
            if system.is_empty() {
                return Ok((
                    None,
                    Some("INVALID: events.subscribe: the system is empty".to_owned()),
                ));
            }
            let (id, mailbox) = kernel(&weak)?.bus.subscribe(&system, kind.as_deref());
            let channel = Channel::mailbox(
                mailbox,
                Reads::Topic {
                    topic: EVENT_TOPIC.to_owned(),
                    messages: false,
                },
            );
            Ok((
                Some(Subscription {
                    id,
                    kernel: weak.clone(),
                    channel,
                }),
                None,
            ))
        })?,
    )?;
    t.set(
        "send",
        lua.create_function(
            move |_, (system, kind, path, data): (String, String, Option<String>, LuaValue)| {
                if system.is_empty() || kind.is_empty() {
                    return Ok((
                        None,
                        Some("INVALID: events.send: system and kind are required".to_owned()),
                    ));
                }
                let data = from_lua(&data)?;
                kernel(&k)?.bus.send(BusEvent {
                    system: &system,
                    kind: &kind,
                    path: path.as_deref().unwrap_or(""),
                    data,
                });
                Ok((Some(true), None))
            },
        )?,
    )?;
    Ok(t)
}
