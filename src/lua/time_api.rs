//! The `time` module, as Wippy's: durations (a number of nanoseconds, a Go duration
//! string such as `"300ms"` or `"1h30m"`, or a duration object), `now()`, `sleep(d)`,
//! `after(d)`, `ticker(d)`, `timer(d)`, `parse_duration(v)` and the unit constants; plus
//! the seed's `time.seconds(n)` and `time.milliseconds(n)`. Sleeping and the clock
//! channels use the executor's clock, so a virtual clock drives them in tests.

use std::time::Duration;

use mlua::{Lua, Table, UserData, UserDataMethods, Value as LuaValue};

use super::channel::{Channel, Source};
use super::time_values::{deadline, duration, from_secs, number, LuaDuration, LuaTime};
use crate::executor;

/// An error's text without mlua's "runtime error: " prefix (for a returned `err`).
fn message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A positive duration for a clock channel, or Wippy's `nil, err`.
fn positive(v: &LuaValue, what: &str) -> Result<Duration, String> {
    match duration(v) {
        Ok(d) if d.is_zero() => Err(format!("{what}: the duration must be positive")),
        Ok(d) => deadline(d)
            .map(|_| d)
            .map_err(|e| format!("{what}: {}", message(&e))),
        Err(e) => Err(format!("{what}: {}", message(&e))),
    }
}

/// `time.ticker(d)` and `time.timer(d)`: a clock channel that can be stopped.
struct Ticking {
    channel: Channel,
}

impl Ticking {
    fn with_clock<R>(&self, f: impl FnOnce(&mut super::channel::Clock) -> R) -> R {
        match self.channel.source() {
            Source::Clock(clock) => f(&mut clock.borrow_mut()),
            _ => unreachable!("tickers and timers read the clock"),
        }
    }
}

impl UserData for Ticking {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        for name in ["response", "channel"] {
            methods.add_method(name, |_, t, ()| Ok(t.channel.clone()));
        }
        methods.add_method("stop", |_, t, ()| Ok(t.with_clock(|c| c.stop())));
        methods.add_method("reset", |_, t, d: LuaValue| {
            let d = duration(&d)?;
            t.with_clock(|c| c.reset(d))?;
            Ok(true)
        });
    }
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (name, ns) in [
        ("NANOSECOND", 1),
        ("MICROSECOND", 1_000),
        ("MILLISECOND", 1_000_000),
        ("SECOND", 1_000_000_000),
        ("MINUTE", 60_000_000_000),
        ("HOUR", 3_600_000_000_000i64),
    ] {
        t.set(name, ns)?;
    }
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
        "parse_duration",
        lua.create_function(|_, v: LuaValue| {
            Ok(match duration(&v) {
                Ok(d) => (Some(LuaDuration(d)), None),
                Err(e) => (None, Some(message(&e))),
            })
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
        lua.create_function(|_, ()| Ok(LuaTime::at(executor::now())))?,
    )?;
    t.set(
        "after",
        lua.create_function(|_, d: LuaValue| {
            Ok(match positive(&d, "time.after") {
                Ok(d) => (Some(Channel::clock(deadline(d)?, None)), None),
                Err(e) => (None, Some(e)),
            })
        })?,
    )?;
    for (name, repeats) in [("ticker", true), ("timer", false)] {
        t.set(
            name,
            lua.create_function(move |_, d: LuaValue| {
                let d = match positive(&d, &format!("time.{name}")) {
                    Ok(d) => d,
                    Err(e) => return Ok((None, Some(e))),
                };
                let channel = Channel::clock(deadline(d)?, repeats.then_some(d));
                Ok((Some(Ticking { channel }), None))
            })?,
        )?;
    }
    Ok(t)
}
