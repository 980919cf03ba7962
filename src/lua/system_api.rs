//! The `system` module: what a script may ask about the runtime. For now,
//! `system.supervisor.state(id)` and `system.supervisor.status(id)` on services (SPEC §8).

use std::sync::Weak;

use mlua::{Lua, Table};

use crate::registry::EntryId;
use crate::service::Services;

pub fn module(lua: &Lua, services: Weak<Services>) -> mlua::Result<Table> {
    let status_of = move |id: &str| -> mlua::Result<_> {
        let id = EntryId::parse(id)
            .ok_or_else(|| mlua::Error::runtime(format!("not an entry ID: {id:?}")))?;
        Ok(services.upgrade().and_then(|s| s.status(&id)))
    };
    let supervisor = lua.create_table()?;
    let status = status_of.clone();
    // `state(id)`: "starting", "running", "stopping", "stopped", "exited", "failed", or
    // nil for a service never started.
    supervisor.set(
        "state",
        lua.create_function(move |_, id: String| Ok(status(&id)?.map(|s| s.state.name())))?,
    )?;
    // `status(id)`: {state, pid, restarts, error}, or nil.
    supervisor.set(
        "status",
        lua.create_function(move |lua, id: String| {
            let Some(s) = status_of(&id)? else {
                return Ok(None);
            };
            let t = lua.create_table()?;
            t.set("state", s.state.name())?;
            t.set("pid", s.pid.map(|p| p.to_string()))?;
            t.set("restarts", s.restarts)?;
            t.set("error", s.error)?;
            Ok(Some(t))
        })?,
    )?;
    let t = lua.create_table()?;
    t.set("supervisor", supervisor)?;
    Ok(t)
}
