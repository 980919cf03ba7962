//! The `logger` module: Wippy's structured logger. `logger:info(msg, fields)` (and
//! `:debug`, `:warn`, `:error`) writes one line: the level, the logger's name if it has
//! one, the message, and the fields as JSON (`INFO  ponger ready  {"pid":"{app:h|3}"}`).
//! `:with(fields)` and `:named(name)` give a new logger carrying more. Lines go where the
//! process's stderr goes: the terminal for a terminal host, else the host's guest log.
//! `debug` lines are dropped unless `WIPPY_LUA_DEBUG` is set (Wippy's default level is
//! info).

use std::rc::Rc;

use mlua::{Lua, Table, UserData, UserDataMethods, Value as LuaValue};
use serde_json::{Map, Value as Json};

use super::convert::from_lua;

/// Where a logger's lines go.
pub type Sink = Rc<dyn Fn(&str)>;

#[derive(Clone)]
pub struct Logger {
    name: Option<String>,
    fields: Map<String, Json>,
    sink: Sink,
    debug: bool,
}

/// A field's value as JSON: an error object by its message, a value that cannot cross
/// (a function) by its type name.
fn field(v: &LuaValue) -> Json {
    match v {
        LuaValue::UserData(_) | LuaValue::Error(_) => {
            Json::String(v.to_string().unwrap_or_else(|_| v.type_name().to_owned()))
        }
        other => from_lua(other).map_or_else(
            |_| Json::String(other.type_name().to_owned()),
            |v| v.to_json(),
        ),
    }
}

fn fields(into: &mut Map<String, Json>, t: Option<Table>) -> mlua::Result<()> {
    let Some(t) = t else { return Ok(()) };
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let LuaValue::String(k) = k else {
            return Err(mlua::Error::runtime("logger: field names must be strings"));
        };
        into.insert(k.to_str()?.to_owned(), field(&v));
    }
    Ok(())
}

impl Logger {
    fn write(&self, level: &str, message: &str, extra: Option<Table>) -> mlua::Result<()> {
        if level == "DEBUG" && !self.debug {
            return Ok(());
        }
        let mut all = self.fields.clone();
        fields(&mut all, extra)?;
        let mut line = format!("{level:<5}  ");
        if let Some(name) = &self.name {
            line.push_str(name);
            line.push_str("  ");
        }
        line.push_str(message);
        if !all.is_empty() {
            line.push_str("  ");
            line.push_str(&Json::Object(all).to_string());
        }
        (self.sink)(&line);
        Ok(())
    }
}

impl UserData for Logger {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        for (name, level) in [
            ("debug", "DEBUG"),
            ("info", "INFO"),
            ("warn", "WARN"),
            ("error", "ERROR"),
        ] {
            methods.add_method(
                name,
                move |_, logger, (message, extra): (LuaValue, Option<Table>)| {
                    let message = message.to_string()?;
                    logger.write(level, &message, extra)
                },
            );
        }
        methods.add_method("with", |_, logger, extra: Option<Table>| {
            let mut more = logger.clone();
            fields(&mut more.fields, extra)?;
            Ok(more)
        });
        methods.add_method("named", |_, logger, name: String| {
            let mut more = logger.clone();
            more.name = Some(match &logger.name {
                Some(outer) => format!("{outer}.{name}"),
                None => name,
            });
            Ok(more)
        });
    }
}

pub fn module(lua: &Lua, sink: Sink) -> mlua::Result<mlua::AnyUserData> {
    lua.create_userdata(Logger {
        name: None,
        fields: Map::new(),
        sink,
        debug: std::env::var_os("WIPPY_LUA_DEBUG").is_some(),
    })
}
