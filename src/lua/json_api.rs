//! The `json` module: `json.encode(v)` and `json.decode(s)`, Wippy's way: `value, nil` or
//! `nil, err`; an empty table encodes as `[]`, JSON `null` decodes as nil, map keys come
//! out sorted (as Go's encoder writes them).

use mlua::{Lua, Table, Value as LuaValue};

use super::convert::{from_lua, to_lua_with_holes};
use crate::value::Value;

/// The largest document `json.decode` reads: decoding goes through serde_json's tree and
/// ours, outside the Lua state's memory limit (a 4 MiB array of zeros is ~150 MB there).
pub const MAX_JSON_BYTES: usize = 4 << 20;

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|_, v: LuaValue| {
            let value = match from_lua(&v) {
                Ok(value) => value,
                Err(e) => return Ok((None, Some(format!("json.encode: {e}")))),
            };
            match serde_json::to_string(&value) {
                Ok(text) => Ok((Some(text), None)),
                Err(e) => Ok((None, Some(format!("json.encode: {e}")))),
            }
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, text: LuaValue| {
            let LuaValue::String(text) = text else {
                return Ok((
                    LuaValue::Nil,
                    Some(format!(
                        "json.decode: expected a string, got {}",
                        text.type_name()
                    )),
                ));
            };
            let bytes = text.as_bytes();
            if bytes.len() > MAX_JSON_BYTES {
                return Ok((
                    LuaValue::Nil,
                    Some(format!(
                        "json.decode: {} bytes is more than a document may be ({MAX_JSON_BYTES})",
                        bytes.len()
                    )),
                ));
            }
            if bytes.is_empty() {
                return Ok((LuaValue::Nil, Some("json.decode: empty input".to_owned())));
            }
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(json) => Ok((to_lua_with_holes(lua, &Value::from_json(json))?, None)),
                Err(e) => Ok((LuaValue::Nil, Some(format!("json.decode: {e}")))),
            }
        })?,
    )?;
    Ok(t)
}
