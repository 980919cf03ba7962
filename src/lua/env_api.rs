//! The `env` module: `env.get(key)`, `env.set(key, value)`, `env.get_all()` over the
//! project's `env.variable` entries and their storages (see [`EnvStore`]).

use std::sync::Arc;

use mlua::{Lua, Table};

use crate::env_store::EnvStore;

pub fn module(lua: &Lua, store: Arc<EnvStore>, namespace: String) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let (s, ns) = (store.clone(), namespace.clone());
    t.set(
        "get",
        lua.create_function(move |_, key: String| {
            Ok(match s.get(&key, &ns) {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(e.to_string())),
            })
        })?,
    )?;
    let (s, ns) = (store.clone(), namespace);
    t.set(
        "set",
        lua.create_function(move |_, (key, value): (String, mlua::Value)| {
            let value = match value {
                mlua::Value::String(v) => v.to_str()?.to_owned(),
                mlua::Value::Integer(_) | mlua::Value::Number(_) | mlua::Value::Boolean(_) => {
                    value.to_string()?
                }
                other => {
                    return Ok((
                        None,
                        Some(format!(
                            "INVALID: env.set: the value must be a string, not {}",
                            other.type_name()
                        )),
                    ))
                }
            };
            Ok(match s.set(&key, &ns, &value) {
                Ok(()) => (Some(true), None),
                Err(e) => (None, Some(e.to_string())),
            })
        })?,
    )?;
    t.set(
        "get_all",
        lua.create_function(move |lua, ()| lua.create_table_from(store.all()))?,
    )?;
    Ok(t)
}
