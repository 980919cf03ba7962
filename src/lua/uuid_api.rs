//! The `uuid` module: `v4()`, `v7()`, `v3(ns, name)`, `v5(ns, name)`, `validate(s)`,
//! `version(s)`, `variant(s)`, `format(s, "standard"|"simple"|"urn")`, with the `uuid`
//! crate (RFC 9562, the field's standard implementation).

use mlua::{Lua, Table};
use uuid::Uuid;

fn parse(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|e| format!("invalid uuid {text:?}: {e}"))
}

/// A name-based UUID's namespace: a UUID, or one of the RFC's names.
fn namespace(text: &str) -> Result<Uuid, String> {
    match text {
        "dns" | "DNS" => Ok(Uuid::NAMESPACE_DNS),
        "url" | "URL" => Ok(Uuid::NAMESPACE_URL),
        "oid" | "OID" => Ok(Uuid::NAMESPACE_OID),
        "x500" | "X500" => Ok(Uuid::NAMESPACE_X500),
        other => parse(other),
    }
}

type Answer<T> = (Option<T>, Option<String>);

fn answer<T>(r: Result<T, String>) -> Answer<T> {
    match r {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    }
}

pub fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "v4",
        lua.create_function(|_, ()| Ok(Uuid::new_v4().to_string()))?,
    )?;
    t.set(
        "v7",
        lua.create_function(|_, ()| Ok(Uuid::now_v7().to_string()))?,
    )?;
    t.set(
        "v3",
        lua.create_function(|_, (ns, name): (String, String)| {
            Ok(answer(
                namespace(&ns).map(|ns| Uuid::new_v3(&ns, name.as_bytes()).to_string()),
            ))
        })?,
    )?;
    t.set(
        "v5",
        lua.create_function(|_, (ns, name): (String, String)| {
            Ok(answer(
                namespace(&ns).map(|ns| Uuid::new_v5(&ns, name.as_bytes()).to_string()),
            ))
        })?,
    )?;
    t.set(
        "validate",
        lua.create_function(|_, s: mlua::Value| {
            Ok(matches!(&s, mlua::Value::String(s) if Uuid::try_parse_ascii(&s.as_bytes()).is_ok()))
        })?,
    )?;
    t.set(
        "version",
        lua.create_function(|_, s: String| {
            Ok(answer(parse(&s).map(|u| u.get_version_num() as i64)))
        })?,
    )?;
    t.set(
        "variant",
        lua.create_function(|_, s: String| {
            Ok(match parse(&s).map(|u| u.get_variant()) {
                Ok(uuid::Variant::RFC4122) => "RFC4122",
                Ok(uuid::Variant::Microsoft) => "Microsoft",
                Ok(uuid::Variant::NCS) => "NCS",
                _ => "Invalid",
            })
        })?,
    )?;
    t.set(
        "format",
        lua.create_function(|_, (s, style): (String, Option<String>)| {
            Ok(answer(parse(&s).and_then(
                |u| match style.as_deref().unwrap_or("standard") {
                    "standard" => Ok(u.hyphenated().to_string()),
                    "simple" => Ok(u.simple().to_string()),
                    "urn" => Ok(u.urn().to_string()),
                    other => Err(format!(
                        "unknown uuid format {other:?} (standard, simple, urn)"
                    )),
                },
            )))
        })?,
    )?;
    Ok(t)
}
