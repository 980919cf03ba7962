//! The `time` module: durations, sleeping on the executor's clock, and now().

use std::time::{Duration, Instant, SystemTime};

use mlua::{Lua, MetaMethod, Table, UserData, UserDataMethods, Value as LuaValue};

use crate::executor;

/// A span of time (`time.seconds(2)`, `time.milliseconds(10)`).
#[derive(Clone, Copy, Debug)]
pub struct LuaDuration(pub Duration);

impl UserData for LuaDuration {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("seconds", |_, d, ()| Ok(d.0.as_secs_f64()));
        methods.add_method("milliseconds", |_, d, ()| Ok(d.0.as_millis() as i64));
        methods.add_meta_method(MetaMethod::ToString, |_, d, ()| Ok(format!("{:?}", d.0)));
        methods.add_meta_function(MetaMethod::Add, |_, (a, b): (LuaValue, LuaValue)| {
            Ok(LuaDuration(duration(&a)? + duration(&b)?))
        });
    }
}

/// A moment (`time.now()`): monotonic on the executor's clock, with its wall time.
#[derive(Clone, Copy, Debug)]
pub struct LuaTime {
    at: Instant,
    wall: SystemTime,
}

impl UserData for LuaTime {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("unix", |_, t, ()| {
            Ok(t.wall
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64())
        });
        methods.add_meta_function(MetaMethod::Sub, |_, (a, b): (LuaTime, LuaTime)| {
            Ok(LuaDuration(a.at.saturating_duration_since(b.at)))
        });
    }
}

impl mlua::FromLua for LuaTime {
    fn from_lua(value: LuaValue, _: &Lua) -> mlua::Result<Self> {
        match value {
            LuaValue::UserData(u) => Ok(*u.borrow::<LuaTime>()?),
            other => Err(mlua::Error::runtime(format!(
                "expected a time from time.now(), got {}",
                other.type_name()
            ))),
        }
    }
}

/// A duration argument: a `time.*` duration, a number of milliseconds, or a string such
/// as `"250ms"`, `"2s"`, `"1.5m"`.
pub fn duration(v: &LuaValue) -> mlua::Result<Duration> {
    let bad = |what: &str| mlua::Error::runtime(format!("expected a duration, got {what}"));
    match v {
        LuaValue::UserData(u) => Ok(u.borrow::<LuaDuration>()?.0),
        LuaValue::Integer(ms) if *ms >= 0 => Ok(Duration::from_millis(*ms as u64)),
        LuaValue::Number(ms) if *ms >= 0.0 && ms.is_finite() => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        LuaValue::String(s) => {
            let text = s.to_str()?.trim().to_owned();
            let (number, unit) = text
                .find(|c: char| c.is_ascii_alphabetic())
                .map(|i| text.split_at(i))
                .ok_or_else(|| bad(&text))?;
            let n: f64 = number.trim().parse().map_err(|_| bad(&text))?;
            let secs = match unit {
                "ms" => n / 1000.0,
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(bad(&text)),
            };
            if !(secs >= 0.0 && secs.is_finite()) {
                return Err(bad(&text));
            }
            Ok(Duration::from_secs_f64(secs))
        }
        other => Err(bad(other.type_name())),
    }
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "seconds",
        lua.create_function(|_, n: f64| {
            Duration::try_from_secs_f64(n)
                .map(LuaDuration)
                .map_err(|_| mlua::Error::runtime(format!("invalid number of seconds: {n}")))
        })?,
    )?;
    t.set(
        "milliseconds",
        lua.create_function(|_, n: f64| {
            Duration::try_from_secs_f64(n / 1000.0)
                .map(LuaDuration)
                .map_err(|_| mlua::Error::runtime(format!("invalid number of milliseconds: {n}")))
        })?,
    )?;
    t.set(
        "sleep",
        lua.create_async_function(|_, d: LuaValue| async move {
            executor::sleep(duration(&d)?).await;
            Ok(())
        })?,
    )?;
    t.set(
        "now",
        lua.create_function(|_, ()| {
            Ok(LuaTime {
                at: executor::now(),
                wall: SystemTime::now(),
            })
        })?,
    )?;
    Ok(t)
}
