//! Time values for Lua: durations ([`LuaDuration`], and [`duration`], which reads one
//! from a script's argument as Wippy does: nanoseconds, a Go duration string or a duration
//! object) and moments ([`LuaTime`]) on the executor's clock.

use std::time::{Duration, Instant, SystemTime};

use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue};

use crate::executor;

/// A span of time.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct LuaDuration(pub Duration);

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl UserData for LuaDuration {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("nanoseconds", |_, d, ()| Ok(nanos(d.0)));
        methods.add_method("microseconds", |_, d, ()| Ok(nanos(d.0) / 1_000));
        methods.add_method("milliseconds", |_, d, ()| Ok(nanos(d.0) / 1_000_000));
        methods.add_method("seconds", |_, d, ()| Ok(d.0.as_secs_f64()));
        methods.add_method("minutes", |_, d, ()| Ok(d.0.as_secs_f64() / 60.0));
        methods.add_method("hours", |_, d, ()| Ok(d.0.as_secs_f64() / 3600.0));
        methods.add_method("string", |_, d, ()| Ok(go_string(d.0)));
        methods.add_meta_method(MetaMethod::ToString, |_, d, ()| Ok(go_string(d.0)));
        methods.add_meta_function(MetaMethod::Add, |_, (a, b): (LuaValue, LuaValue)| {
            duration(&a)?
                .checked_add(duration(&b)?)
                .map(LuaDuration)
                .ok_or_else(too_long)
        });
        methods.add_meta_function(MetaMethod::Sub, |_, (a, b): (LuaValue, LuaValue)| {
            Ok(LuaDuration(duration(&a)?.saturating_sub(duration(&b)?)))
        });
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (LuaDuration, LuaDuration)| {
            Ok(a == b)
        });
        methods.add_meta_function(MetaMethod::Lt, |_, (a, b): (LuaValue, LuaValue)| {
            Ok(duration(&a)? < duration(&b)?)
        });
        methods.add_meta_function(MetaMethod::Le, |_, (a, b): (LuaValue, LuaValue)| {
            Ok(duration(&a)? <= duration(&b)?)
        });
    }
}

impl mlua::FromLua for LuaDuration {
    fn from_lua(value: LuaValue, _: &Lua) -> mlua::Result<Self> {
        duration(&value).map(LuaDuration)
    }
}

/// A duration as Go prints it: `1h30m0s`, `1.5s`, `300ms`, `0s`.
fn go_string(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |x: f64| {
        let s = format!("{x:.9}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim(ns as f64 / 1e6));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, secs / 60 % 60);
    let s = trim((secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// A moment (`time.now()`): monotonic on the executor's clock, with its wall time.
#[derive(Clone, Copy, Debug)]
pub struct LuaTime {
    at: Instant,
    wall: SystemTime,
}

impl LuaTime {
    /// The moment `at` on the executor's clock, with the wall time that corresponds.
    pub fn at(at: Instant) -> Self {
        let now = executor::now();
        let wall = SystemTime::now();
        let wall = if at <= now {
            wall.checked_sub(now - at).unwrap_or(wall)
        } else {
            wall.checked_add(at - now).unwrap_or(wall)
        };
        Self { at, wall }
    }

    fn since_epoch(&self) -> Duration {
        self.wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
    }

    fn plus(&self, d: Duration) -> mlua::Result<Self> {
        Ok(Self {
            at: self.at.checked_add(d).ok_or_else(too_long)?,
            wall: self.wall.checked_add(d).ok_or_else(too_long)?,
        })
    }
}

impl UserData for LuaTime {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("unix", |_, t, ()| Ok(t.since_epoch().as_secs() as i64));
        methods.add_method("unix_nano", |_, t, ()| Ok(nanos(t.since_epoch())));
        methods.add_method("unix_milli", |_, t, ()| {
            Ok(nanos(t.since_epoch()) / 1_000_000)
        });
        methods.add_method("sub", |_, a, b: LuaTime| {
            Ok(LuaDuration(a.at.saturating_duration_since(b.at)))
        });
        methods.add_method("add", |_, t, d: LuaDuration| t.plus(d.0));
        methods.add_method("after", |_, a, b: LuaTime| Ok(a.at > b.at));
        methods.add_method("before", |_, a, b: LuaTime| Ok(a.at < b.at));
        methods.add_method("equal", |_, a, b: LuaTime| Ok(a.at == b.at));
        methods.add_method("format_rfc3339", |_, t, ()| Ok(rfc3339(t.since_epoch())));
        methods.add_meta_method(MetaMethod::ToString, |_, t, ()| {
            Ok(rfc3339(t.since_epoch()))
        });
        methods.add_meta_function(MetaMethod::Sub, |_, (a, b): (LuaTime, LuaTime)| {
            Ok(LuaDuration(a.at.saturating_duration_since(b.at)))
        });
    }
}

/// UTC time as RFC 3339 with nanoseconds trimmed: `2026-11-26T03:04:05.123Z`.
fn rfc3339(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let nanos = since_epoch.subsec_nanos();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_owned()
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
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
pub fn too_long() -> mlua::Error {
    mlua::Error::runtime("duration too long")
}

/// A number as a script would recognise it (`1e+300`, not three hundred zeros).
pub fn number(x: f64) -> String {
    if x.is_finite() && (x == 0.0 || (1e-4..1e15).contains(&x.abs())) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// `secs` as a duration, or an error naming `what` the script passed.
pub fn from_secs(secs: f64, what: &dyn std::fmt::Display) -> mlua::Result<Duration> {
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

/// A duration argument, as Wippy reads one: a duration object, a number of nanoseconds,
/// or a Go duration string (`"250ms"`, `"2s"`, `"1h30m"`). Negative, NaN and
/// unrepresentable ones are errors.
pub fn duration(v: &LuaValue) -> mlua::Result<Duration> {
    match v {
        LuaValue::UserData(u) => Ok(u.borrow::<LuaDuration>()?.0),
        LuaValue::Integer(ns) => match u64::try_from(*ns) {
            Ok(ns) => Ok(Duration::from_nanos(ns)),
            Err(_) => Err(mlua::Error::runtime(format!(
                "invalid duration: {ns} ns is negative"
            ))),
        },
        LuaValue::Number(ns) => from_secs(ns / 1e9, &format_args!("{} ns", number(*ns))),
        LuaValue::String(s) => crate::duration::parse(&s.to_str()?).map_err(mlua::Error::runtime),
        other => Err(mlua::Error::runtime(format!(
            "expected a duration (nanoseconds, a string like \"5s\", or a duration), got {}",
            other.type_name()
        ))),
    }
}

/// The instant `d` from now on the executor's clock, or "duration too long" when the
/// clock cannot represent it.
pub fn deadline(d: Duration) -> mlua::Result<Instant> {
    executor::now().checked_add(d).ok_or_else(too_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(15), "15ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(5400), "1h30m0s"),
        ] {
            assert_eq!(go_string(d), text);
        }
    }

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(Duration::new(1_795_000_000, 500_000_000)),
            "2026-11-18T11:06:40.5Z"
        );
    }
}
