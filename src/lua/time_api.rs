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
        methods.add_method("milliseconds", |_, d, ()| {
            Ok(i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX))
        });
        methods.add_meta_method(MetaMethod::ToString, |_, d, ()| Ok(format!("{:?}", d.0)));
        methods.add_meta_function(MetaMethod::Add, |_, (a, b): (LuaValue, LuaValue)| {
            duration(&a)?
                .checked_add(duration(&b)?)
                .map(LuaDuration)
                .ok_or_else(too_long)
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

/// The error for a duration beyond what the clock can count.
fn too_long() -> mlua::Error {
    mlua::Error::runtime("duration too long")
}

/// A number as a script would recognise it (`1e+300`, not three hundred zeros).
fn number(x: f64) -> String {
    if x.is_finite() && (x == 0.0 || (1e-4..1e15).contains(&x.abs())) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `secs` as a duration, or an error naming `what` the script passed.
fn from_secs(secs: f64, what: &dyn std::fmt::Display) -> mlua::Result<Duration> {
    if secs.is_nan() {
        return Err(mlua::Error::runtime(format!(
            "invalid duration: {what} is not a number"
        )));
    }
    if secs < 0.0 {
        return Err(mlua::Error::runtime(format!(
            "invalid duration: {what} is negative"
        )));
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| mlua::Error::runtime(format!("duration too long: {what}")))
}

/// A duration argument: a `time.*` duration, a number of milliseconds, or a string such
/// as `"250ms"`, `"2s"`, `"1.5m"`. Negative, NaN and unrepresentable ones are errors.
pub fn duration(v: &LuaValue) -> mlua::Result<Duration> {
    let bad = |what: &str| mlua::Error::runtime(format!("expected a duration, got {what}"));
    match v {
        LuaValue::UserData(u) => Ok(u.borrow::<LuaDuration>()?.0),
        LuaValue::Integer(ms) => match u64::try_from(*ms) {
            Ok(ms) => Ok(Duration::from_millis(ms)),
            Err(_) => Err(mlua::Error::runtime(format!(
                "invalid duration: {ms} ms is negative"
            ))),
        },
        LuaValue::Number(ms) => from_secs(ms / 1000.0, &format_args!("{} ms", number(*ms))),
        LuaValue::String(s) => {
            let text = s.to_str()?.trim().to_owned();
            let (number, unit) = text
                .find(|c: char| c.is_ascii_alphabetic())
                .map(|i| text.split_at(i))
                .ok_or_else(|| bad(&format!("{text:?}")))?;
            let n: f64 = number
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{text:?}")))?;
            let secs = match unit {
                "ms" => n / 1000.0,
                "s" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(bad(&format!("{text:?} (units: ms, s, m, h)"))),
            };
            from_secs(secs, &format_args!("{text:?}"))
        }
        other => Err(bad(other.type_name())),
    }
}

/// The instant `d` from now on the executor's clock, or "duration too long" when the
/// clock cannot represent it.
pub fn deadline(d: Duration) -> mlua::Result<Instant> {
    executor::now().checked_add(d).ok_or_else(too_long)
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "seconds",
        lua.create_function(|_, n: f64| {
            from_secs(n, &format_args!("{} seconds", number(n))).map(LuaDuration)
        })?,
    )?;
    t.set(
        "milliseconds",
        lua.create_function(|_, n: f64| {
            from_secs(n / 1000.0, &format_args!("{} milliseconds", number(n))).map(LuaDuration)
        })?,
    )?;
    t.set(
        "sleep",
        lua.create_async_function(|_, d: LuaValue| async move {
            executor::sleep_until(deadline(duration(&d)?)?).await;
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
