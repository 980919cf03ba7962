//! The `funcs` module: `funcs.call(id, ...)` runs a `function.lua` or `function.wasm`
//! entry (any spawnable entry) with the arguments converted as for a spawn, waits for it
//! (parking only the calling coroutine) and returns `value, nil` or `nil, err`. It runs
//! on the caller's host. `funcs.new()` gives an executor with the same `:call`.

use mlua::{Lua, Table, Value as LuaValue, Variadic};

use super::process_api::{exec, Me};

async fn call(
    lua: Lua,
    me: Me,
    id: String,
    args: Variadic<LuaValue>,
) -> mlua::Result<(LuaValue, Option<String>)> {
    if !id.contains(':') {
        return Ok((
            LuaValue::Nil,
            Some(format!(
                "INVALID: funcs.call: {id:?} is not a full entry ID (namespace:name)"
            )),
        ));
    }
    let host = me.pid.host.to_string();
    exec(&lua, &me, &id, &host, args).await
}

pub fn module(lua: &Lua, me: Me) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let m = me.clone();
    let call_fn =
        lua.create_async_function(move |lua, (id, args): (String, Variadic<LuaValue>)| {
            call(lua, m.clone(), id, args)
        })?;
    t.set("call", call_fn)?;
    // `funcs.new()`: an executor; `:call(id, ...)` as above, the context options kept as
    // no-ops (there is no per-call context here).
    let executor = lua.create_table()?;
    let m = me;
    executor.set(
        "call",
        lua.create_async_function(
            move |lua, (_this, id, args): (LuaValue, String, Variadic<LuaValue>)| {
                call(lua, m.clone(), id, args)
            },
        )?,
    )?;
    let this = executor.clone();
    let same = lua.create_function(move |_, _: Variadic<LuaValue>| Ok(this.clone()))?;
    for option in ["with_context", "with_actor", "with_scope", "with_options"] {
        executor.set(option, same.clone())?;
    }
    t.set(
        "new",
        lua.create_function(move |_, ()| Ok(executor.clone()))?,
    )?;
    Ok(t)
}
