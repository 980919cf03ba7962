//! The `events` module: `events.send(system, kind, path[, data])` broadcasts on the
//! runtime's event bus; `events.subscribe(system[, kind])` gives a subscription whose
//! `:channel()` delivers `{system, kind, path, data}` tables, until `:close()` or the
//! end of the process.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use mlua::{Lua, Table, UserData, UserDataMethods, Value as LuaValue};

use super::channel::{Channel, Reads};
use super::convert::from_lua;
use crate::kernel::bus::{BusEvent, EVENT_TOPIC};
use crate::kernel::Kernel;

/// Subscriptions one process may hold at once: each is a mailbox of its own, and every
/// event it admits is copied into it.
pub const MAX_SUBSCRIPTIONS: usize = 256;

struct Subscription {
    id: u64,
    kernel: Weak<Kernel>,
    channel: Channel,
    /// The process's count of open subscriptions.
    open: Rc<Cell<usize>>,
    closed: Cell<bool>,
}

impl Subscription {
    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        self.open.set(self.open.get() - 1);
        if let Some(kernel) = self.kernel.upgrade() {
            kernel.bus.unsubscribe(self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

impl UserData for Subscription {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("channel", |_, s, ()| Ok(s.channel.clone()));
        methods.add_method("close", |_, s, ()| {
            s.close();
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
    let open = Rc::new(Cell::new(0));
    t.set(
        "subscribe",
        lua.create_function(move |_, (system, kind): (String, Option<String>)| {
            if system.is_empty() {
                return Ok((
                    None,
                    Some("INVALID: events.subscribe: the system is empty".to_owned()),
                ));
            }
            if open.get() >= MAX_SUBSCRIPTIONS {
                return Ok((None, Some(format!(
                    "events.subscribe: this process already has {MAX_SUBSCRIPTIONS} open subscriptions (close some)"
                ))));
            }
            open.set(open.get() + 1);
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
                    open: open.clone(),
                    closed: Cell::new(false),
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
