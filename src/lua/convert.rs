//! Lua values ↔ [`Value`]: nil ↔ null, integers and floats kept apart, strings (bytes
//! when not UTF-8), sequences ↔ lists, string-keyed tables ↔ maps.

use mlua::{Lua, Table, Value as LuaValue};

use crate::value::Value;

/// A [`Value`] as a Lua value. A null inside a list is dropped (`[1, null, 2]` becomes
/// `{1, 2}`), so the table stays a sequence that converts back.
pub fn to_lua(lua: &Lua, v: &Value) -> mlua::Result<LuaValue> {
    to_lua_as(lua, v, false)
}

/// Like [`to_lua`], but a null inside a list leaves a hole where it was (JSON's
/// `[1, null, 2]` has `2` at index 3, as `json.decode` in Wippy gives it).
pub fn to_lua_with_holes(lua: &Lua, v: &Value) -> mlua::Result<LuaValue> {
    to_lua_as(lua, v, true)
}

fn to_lua_as(lua: &Lua, v: &Value, holes: bool) -> mlua::Result<LuaValue> {
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Bool(b) => LuaValue::Boolean(*b),
        Value::Int(i) => LuaValue::Integer(*i),
        Value::Float(x) => LuaValue::Number(*x),
        Value::String(s) => LuaValue::String(lua.create_string(s)?),
        Value::Bytes(b) => LuaValue::String(lua.create_string(b)?),
        Value::List(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                let item = to_lua_as(lua, item, holes)?;
                if holes {
                    t.raw_set(i + 1, item)?;
                } else {
                    t.raw_push(item)?;
                }
            }
            LuaValue::Table(t)
        }
        Value::Map(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, item) in map {
                t.raw_set(k.as_str(), to_lua_as(lua, item, holes)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

/// A Lua value as a [`Value`]: tables with only keys 1..n are lists, others maps.
pub fn from_lua(v: &LuaValue) -> mlua::Result<Value> {
    let mut budget = MAX_VALUE_BYTES;
    from_lua_at(v, 0, &mut budget)
}

/// Several values that travel together (a message's payloads, spawn arguments, results):
/// one size budget for all of them.
pub fn from_lua_many<'a>(
    values: impl IntoIterator<Item = &'a LuaValue>,
) -> mlua::Result<Vec<Value>> {
    let mut budget = MAX_VALUE_BYTES;
    values
        .into_iter()
        .map(|v| from_lua_at(v, 0, &mut budget))
        .collect()
}

/// The most a value converted from Lua may take (strings' bytes, plus 16 per item). A
/// value is copied when it leaves a Lua state, outside that state's memory limit, and a
/// table that holds one sub-table twice is copied twice: without a budget, 30 lines of
/// `t = {t, t}` ask for 2^30 copies.
pub const MAX_VALUE_BYTES: usize = 64 << 20;

fn charge(budget: &mut usize, bytes: usize) -> mlua::Result<()> {
    *budget = budget.checked_sub(bytes).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "value too large to pass between processes: more than {} MiB",
            MAX_VALUE_BYTES >> 20
        ))
    })?;
    Ok(())
}

/// Tables nest at most this deep: a cycle is an error, not a stack overflow.
const MAX_DEPTH: usize = 64;

fn from_lua_at(v: &LuaValue, depth: usize, budget: &mut usize) -> mlua::Result<Value> {
    charge(budget, 16)?;
    Ok(match v {
        LuaValue::Nil => Value::Null,
        LuaValue::Boolean(b) => Value::Bool(*b),
        LuaValue::Integer(i) => Value::Int(*i),
        LuaValue::Number(x) => Value::Float(*x),
        LuaValue::String(s) => {
            charge(budget, s.as_bytes().len())?;
            match s.to_str() {
                Ok(text) => Value::String(text.to_owned()),
                Err(_) => Value::Bytes(s.as_bytes().to_vec()),
            }
        }
        // An error caught by `pcall` travels as its message.
        LuaValue::Error(e) => {
            let text = e.to_string();
            charge(budget, text.len())?;
            Value::String(text)
        }
        LuaValue::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(mlua::Error::runtime(
                    "table nests too deep to pass as a value (a cycle?)",
                ));
            }
            table(t, depth + 1, budget)?
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "a {} cannot be passed as a value",
                other.type_name()
            )))
        }
    })
}

/// A sequence `{1, 2, 3}` (keys exactly 1..n) is a list; an empty table is an empty list;
/// any other table must have string keys and is a map.
fn table(t: &Table, depth: usize, budget: &mut usize) -> mlua::Result<Value> {
    let len = t.raw_len();
    let mut count = 0usize;
    // A list needs every key to be an integer in 1..=len, and all of them present: `#t`
    // alone is fooled by holes (`{nil, 2, 3, x = 1}` has a border at 3).
    let mut in_sequence = 0usize;
    let mut map = std::collections::BTreeMap::new();
    let mut all_strings = true;
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        count += 1;
        if matches!(k, LuaValue::Integer(i) if i >= 1 && i as u64 <= len as u64) {
            in_sequence += 1;
        }
        match &k {
            LuaValue::String(s) if all_strings => {
                charge(budget, s.as_bytes().len())?;
                map.insert(s.to_str()?.to_owned(), from_lua_at(&v, depth, budget)?);
            }
            _ => all_strings = false,
        }
    }
    if count == len && in_sequence == len {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            items.push(from_lua_at(&t.raw_get(i)?, depth, budget)?);
        }
        return Ok(Value::List(items));
    }
    if all_strings {
        return Ok(Value::Map(map));
    }
    Err(mlua::Error::runtime(
        "a table passed as a value must be a sequence {1, 2, ...} or have only string keys",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_integers_stay_integers() {
        let lua = Lua::new();
        let v = Value::Map(
            [
                ("n".to_owned(), Value::Int(3)),
                ("x".to_owned(), Value::Float(3.0)),
                (
                    "list".to_owned(),
                    Value::List(vec![Value::Bool(true), Value::String("s".into())]),
                ),
            ]
            .into(),
        );
        let back = from_lua(&to_lua(&lua, &v).unwrap()).unwrap();
        assert_eq!(back, v);
        let mixed: LuaValue = lua.load("return {1, 2, x = 3}").eval().unwrap();
        assert!(from_lua(&mixed)
            .unwrap_err()
            .to_string()
            .contains("sequence"));
        for holed in ["return {nil, 2, 3, x = 1}", "return {nil, 0, [0.5] = 0}"] {
            let holed: LuaValue = lua.load(holed).eval().unwrap();
            assert!(from_lua(&holed).is_err(), "{holed:?} is not a sequence");
        }
        let shared: LuaValue = lua
            .load("local t = {string.rep('x', 1000)} for _ = 1, 40 do t = {t, t} end return t")
            .eval()
            .unwrap();
        assert!(from_lua(&shared)
            .unwrap_err()
            .to_string()
            .contains("value too large to pass between processes: more than 64 MiB"));
        let cyclic: LuaValue = lua
            .load("local t = {}; t.self = t; return t")
            .eval()
            .unwrap();
        assert!(from_lua(&cyclic).is_err());
    }
}
