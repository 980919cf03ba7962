//! The modules a script can reach, built when first used: through `require`, or as a
//! global (Wippy binds them into `_G`). Most scripts use a few of them, and building all
//! of them was a third of a Lua spawn.

use mlua::{Function, Lua, Table, Value as LuaValue};

/// Builds the module of a name (or nil for none).
pub type Build = Box<dyn Fn(&Lua, &str) -> mlua::Result<LuaValue>>;

pub struct Lazy {
    allowed: Vec<String>,
    build: Build,
    /// Modules built so far, by name.
    built: Table,
    /// `{yield = coroutine.yield}` as the library has it: mlua's async functions capture
    /// `coroutine.yield` when made, and a module is made after the script ran and may have
    /// replaced the global.
    pristine_coroutine: Table,
}

impl Lazy {
    pub fn new(lua: &Lua, allowed: Vec<String>, build: Build) -> mlua::Result<Self> {
        let coroutine: Table = lua.globals().get("coroutine")?;
        let pristine_coroutine = lua.create_table()?;
        pristine_coroutine.raw_set("yield", coroutine.get::<Function>("yield")?)?;
        Ok(Self {
            allowed,
            build,
            built: lua.create_table()?,
            pristine_coroutine,
        })
    }

    /// The module `name`, built now if it was not yet; `None` if the script may not have it.
    pub fn get(&self, lua: &Lua, name: &str) -> mlua::Result<Option<LuaValue>> {
        if let Some(module) = self.built.raw_get::<Option<LuaValue>>(name)? {
            return Ok(Some(module));
        }
        if !self.allowed.iter().any(|m| m == name) {
            return Ok(None);
        }
        let globals = lua.globals();
        let coroutine: LuaValue = globals.raw_get("coroutine")?;
        globals.raw_set("coroutine", &self.pristine_coroutine)?;
        let built = (self.build)(lua, name);
        globals.raw_set("coroutine", coroutine)?;
        let module = built?;
        self.built.raw_set(name, module.clone())?;
        globals.raw_set(name, module.clone())?;
        Ok(Some(module))
    }

    /// Makes the modules globals: `_G`'s `__index` builds one when a script first reads
    /// its name (then it is an ordinary global).
    pub fn install_globals(self: &std::rc::Rc<Self>, lua: &Lua) -> mlua::Result<()> {
        let this = self.clone();
        let meta = lua.create_table()?;
        meta.raw_set(
            "__index",
            lua.create_function(move |lua, (_, key): (LuaValue, LuaValue)| match key {
                LuaValue::String(name) => match this.get(lua, &name.to_str()?)? {
                    Some(module) => Ok(module),
                    None => Ok(LuaValue::Nil),
                },
                _ => Ok(LuaValue::Nil),
            })?,
        )?;
        lua.globals().set_metatable(Some(meta))?;
        Ok(())
    }
}
