//! What a process's mailbox delivers, as Lua sees it: event tables and Wippy's message
//! objects. `msg:topic()`,
//! `msg:from()` (the sender's PID, `""` if none), `msg:payload()` (a payload object, or
//! nil for a message without one); a payload's `:data()` (or `:unmarshal()`) gives the
//! value, `:get_format()` its format.

use std::time::SystemTime;

use mlua::{Lua, MetaMethod, Table, UserData, UserDataMethods, Value as LuaValue};

use super::convert::to_lua;
use crate::kernel::event::{Event, EventKind, Message};
use crate::kernel::exit::ExitReason;
use crate::value::Value;

pub struct LuaMessage(Message);

impl From<Message> for LuaMessage {
    fn from(m: Message) -> Self {
        Self(m)
    }
}

impl UserData for LuaMessage {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("topic", |_, m, ()| Ok(m.0.topic.clone()));
        methods.add_method("from", |_, m, ()| {
            Ok(m.0.from.as_ref().map(|p| p.to_string()).unwrap_or_default())
        });
        methods.add_method("payload", |lua, m, ()| match &m.0.payload {
            Value::Null => Ok(LuaValue::Nil),
            v => lua
                .create_userdata(Payload(v.clone()))
                .map(LuaValue::UserData),
        });
        methods.add_meta_method(MetaMethod::ToString, |_, m, ()| {
            Ok(format!("message {:?}", m.0.topic))
        });
        // `msg.topic` and the like were plain fields before messages were objects: say so
        // instead of "attempt to index a nil value".
        methods.add_meta_method(MetaMethod::Index, |_, _, key: String| {
            Err::<(), _>(mlua::Error::runtime(format!(
                "a message has no field `{key}`: it is an object; use msg:topic(), msg:from() \
                 or msg:payload():data()"
            )))
        });
    }
}

/// One payload of a message.
pub struct Payload(Value);

impl UserData for Payload {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // One value on success (a second, nil, would become an extra payload when the
        // result is passed straight on: `process.send(pid, t, msg:payload():data())`).
        for name in ["data", "unmarshal"] {
            methods.add_method(name, |lua, p, ()| to_lua(lua, &p.0));
        }
        methods.add_method("get_format", |_, p, ()| {
            Ok(match p.0 {
                Value::String(_) => "text/plain",
                Value::Bytes(_) => "application/octet-stream",
                _ => "lua/any",
            })
        });
    }
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The canonical event table, with the seed's flat fields (`type`, `value`, `error`)
/// alongside `kind` and `result`.
pub fn event_table(lua: &Lua, e: &Event) -> mlua::Result<Table> {
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
