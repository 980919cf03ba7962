//! [`Value`] to and from wasm: core params and results, and component `Val`s.
//!
//! Components: records are maps keyed by WIT field name, options are null or the value,
//! `result` is `{ok: ..}` / `{err: ..}` (a value, not a failure), variants are
//! `{case: payload}` (or the bare case name with no payload), enums are the case name,
//! flags are a list of names, tuples are lists. Arguments are checked against the
//! function's type before any call, so a bad argument never reaches the instance.

use std::fmt;

use wasmtime::component::{Type, Val as CVal};
use wasmtime::{Val, ValType};

use crate::value::{parse_word, Value};

fn count_check(expected: usize, got: usize) -> Result<(), String> {
    if expected == got {
        Ok(())
    } else {
        Err(format!(
            "parameter count mismatch: expected {expected}, got {got}"
        ))
    }
}

fn mismatch(what: &str, expected: impl fmt::Display, got: &Value) -> String {
    match got {
        Value::String(s) => format!("{what}: expected {expected}, got string {s:?}"),
        _ => format!("{what}: expected {expected}, got {}", got.type_name()),
    }
}

// ── core modules ─────────────────────────────────────────────────────────────

/// Converts arguments to a core export's parameter types.
pub fn to_core_params(args: &[Value], params: &[ValType]) -> Result<Vec<Val>, String> {
    count_check(params.len(), args.len())?;
    args.iter()
        .zip(params)
        .enumerate()
        .map(|(i, (v, ty))| to_core(v, ty).map_err(|_| mismatch(&format!("parameter {i}"), ty, v)))
        .collect()
}

fn to_core(v: &Value, ty: &ValType) -> Result<Val, ()> {
    if let Value::String(s) = v {
        return match parse_word(s) {
            Value::String(_) => Err(()),
            parsed => to_core(&parsed, ty),
        };
    }
    Ok(match (ty, v) {
        (ValType::I32, Value::Int(i)) => {
            // Accept the whole u32 range too: wasm's i32 is sign-agnostic.
            Val::I32(
                i32::try_from(*i)
                    .or_else(|_| u32::try_from(*i).map(|u| u as i32))
                    .map_err(|_| ())?,
            )
        }
        (ValType::I32, Value::Bool(b)) => Val::I32(*b as i32),
        (ValType::I64, Value::Int(i)) => Val::I64(*i),
        (ValType::F32, Value::Float(x)) => Val::F32((*x as f32).to_bits()),
        (ValType::F32, Value::Int(i)) => Val::F32((*i as f32).to_bits()),
        (ValType::F64, Value::Float(x)) => Val::F64(x.to_bits()),
        (ValType::F64, Value::Int(i)) => Val::F64((*i as f64).to_bits()),
        _ => return Err(()),
    })
}

/// A core export's results as one value: none is null, one is itself, more is a list.
pub fn from_core_results(results: &[Val]) -> Value {
    let one = |v: &Val| match v {
        Val::I32(i) => Value::Int(*i as i64),
        Val::I64(i) => Value::Int(*i),
        Val::F32(bits) => Value::Float(f32::from_bits(*bits) as f64),
        Val::F64(bits) => Value::Float(f64::from_bits(*bits)),
        _ => Value::Null,
    };
    match results {
        [] => Value::Null,
        [v] => one(v),
        many => Value::List(many.iter().map(one).collect()),
    }
}

// ── components ───────────────────────────────────────────────────────────────

/// Converts arguments to a component function's parameters, checking every type first.
pub fn to_component_params<'a>(
    args: &[Value],
    params: impl ExactSizeIterator<Item = (&'a str, Type)>,
) -> Result<Vec<CVal>, String> {
    count_check(params.len(), args.len())?;
    args.iter()
        .zip(params)
        .map(|(v, (name, ty))| to_component(v, &ty, &format!("parameter {name}")))
        .collect()
}

fn type_desc(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 | Type::S16 | Type::S32 | Type::S64 => "signed integer",
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => "unsigned integer",
        Type::Float32 | Type::Float64 => "float",
        Type::Char => "char (a one-character string)",
        Type::String => "string",
        Type::List(_) | Type::FixedLengthList(_) => "list",
        Type::Record(_) => "record (a map)",
        Type::Tuple(_) => "tuple (a list)",
        Type::Variant(_) => "variant ({case: payload} or a case name)",
        Type::Enum(_) => "enum (a case name)",
        Type::Option(_) => "option",
        Type::Result(_) => "result ({ok: ..} or {err: ..})",
        Type::Flags(_) => "flags (a list of names)",
        _ => "a type that cannot be passed as a value",
    }
}

/// Converts one value to `ty`. `at` names where it sits, for the error. A string that
/// spells a number or bool is accepted where the type wants one (CLI words are strings).
pub fn to_component(v: &Value, ty: &Type, at: &str) -> Result<CVal, String> {
    if let Value::String(s) = v {
        let scalar = matches!(
            ty,
            Type::Bool
                | Type::S8
                | Type::U8
                | Type::S16
                | Type::U16
                | Type::S32
                | Type::U32
                | Type::S64
                | Type::U64
                | Type::Float32
                | Type::Float64
        );
        let parsed = parse_word(s);
        if scalar && !matches!(parsed, Value::String(_)) {
            return to_component(&parsed, ty, at);
        }
    }
    let bad = || mismatch(at, type_desc(ty), v);
    let int = |lo: i64, hi: i128| -> Result<i64, String> {
        match v {
            Value::Int(i) if *i >= lo && (*i as i128) <= hi => Ok(*i),
            Value::Int(i) => Err(format!("{at}: {i} is out of range for {}", type_desc(ty))),
            _ => Err(bad()),
        }
    };
    Ok(match ty {
        Type::Bool => match v {
            Value::Bool(b) => CVal::Bool(*b),
            _ => return Err(bad()),
        },
        Type::S8 => CVal::S8(int(i8::MIN as i64, i8::MAX as i128)? as i8),
        Type::U8 => CVal::U8(int(0, u8::MAX as i128)? as u8),
        Type::S16 => CVal::S16(int(i16::MIN as i64, i16::MAX as i128)? as i16),
        Type::U16 => CVal::U16(int(0, u16::MAX as i128)? as u16),
        Type::S32 => CVal::S32(int(i32::MIN as i64, i32::MAX as i128)? as i32),
        Type::U32 => CVal::U32(int(0, u32::MAX as i128)? as u32),
        Type::S64 => CVal::S64(int(i64::MIN, i64::MAX as i128)?),
        Type::U64 => CVal::U64(int(0, i64::MAX as i128)? as u64),
        Type::Float32 | Type::Float64 => {
            let x = match v {
                Value::Float(x) => *x,
                Value::Int(i) => *i as f64,
                _ => return Err(bad()),
            };
            if matches!(ty, Type::Float32) {
                CVal::Float32(x as f32)
            } else {
                CVal::Float64(x)
            }
        }
        Type::Char => match v {
            Value::String(s) if s.chars().count() == 1 => CVal::Char(s.chars().next().unwrap()),
            _ => return Err(bad()),
        },
        Type::String => match v {
            Value::String(s) => CVal::String(s.clone()),
            _ => return Err(bad()),
        },
        Type::List(list) => {
            let elem = list.ty();
            match v {
                Value::List(items) => CVal::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| to_component(item, &elem, &format!("{at}[{i}]")))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Bytes(b) if matches!(elem, Type::U8) => {
                    CVal::List(b.iter().map(|x| CVal::U8(*x)).collect())
                }
                _ => return Err(bad()),
            }
        }
        Type::Record(record) => {
            let Value::Map(map) = v else {
                return Err(bad());
            };
            let mut fields = Vec::new();
            for field in record.fields() {
                let at = format!("{at}.{}", field.name);
                let value = match (map.get(field.name), &field.ty) {
                    (Some(value), _) => value,
                    (None, Type::Option(_)) => &Value::Null,
                    (None, _) => return Err(format!("{at}: missing record field")),
                };
                fields.push((field.name.to_owned(), to_component(value, &field.ty, &at)?));
            }
            if let Some(extra) = map
                .keys()
                .find(|k| !record.fields().any(|f| f.name == k.as_str()))
            {
                return Err(format!("{at}: unknown record field {extra:?}"));
            }
            CVal::Record(fields)
        }
        Type::Tuple(tuple) => {
            let Value::List(items) = v else {
                return Err(bad());
            };
            if items.len() != tuple.types().len() {
                return Err(format!(
                    "{at}: expected a tuple of {}, got {} items",
                    tuple.types().len(),
                    items.len()
                ));
            }
            CVal::Tuple(
                items
                    .iter()
                    .zip(tuple.types())
                    .enumerate()
                    .map(|(i, (item, ty))| to_component(item, &ty, &format!("{at}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Variant(variant) => {
            let (name, payload) = single_case(v).ok_or_else(bad)?;
            let case = variant
                .cases()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("{at}: unknown variant case {name:?}"))?;
            let payload = match (case.ty, payload) {
                (None, None | Some(Value::Null)) => None,
                (Some(ty), Some(p)) => {
                    Some(Box::new(to_component(p, &ty, &format!("{at}.{name}"))?))
                }
                (Some(_), None) => return Err(format!("{at}: case {name:?} needs a payload")),
                (None, Some(_)) => return Err(format!("{at}: case {name:?} takes no payload")),
            };
            CVal::Variant(name.to_owned(), payload)
        }
        Type::Enum(e) => match v {
            Value::String(s) if e.names().any(|n| n == s) => CVal::Enum(s.clone()),
            Value::String(s) => return Err(format!("{at}: unknown enum case {s:?}")),
            _ => return Err(bad()),
        },
        Type::Option(opt) => match v {
            Value::Null => CVal::Option(None),
            v => CVal::Option(Some(Box::new(to_component(v, &opt.ty(), at)?))),
        },
        Type::Result(r) => {
            let (name, payload) = single_case(v).ok_or_else(bad)?;
            let side = |ty: Option<Type>, label: &str| -> Result<Option<Box<CVal>>, String> {
                match (ty, payload) {
                    (None, None | Some(Value::Null)) => Ok(None),
                    (Some(ty), Some(p)) => Ok(Some(Box::new(to_component(
                        p,
                        &ty,
                        &format!("{at}.{label}"),
                    )?))),
                    (Some(_), None) => Err(format!("{at}: {label} needs a value")),
                    (None, Some(_)) => Err(format!("{at}: {label} takes no value")),
                }
            };
            match name {
                "ok" => CVal::Result(Ok(side(r.ok(), "ok")?)),
                "err" => CVal::Result(Err(side(r.err(), "err")?)),
                _ => return Err(bad()),
            }
        }
        Type::Flags(flags) => {
            let Value::List(items) = v else {
                return Err(bad());
            };
            let mut names = Vec::new();
            for item in items {
                match item {
                    Value::String(s) if flags.names().any(|n| n == s) => names.push(s.clone()),
                    Value::String(s) => return Err(format!("{at}: unknown flag {s:?}")),
                    other => return Err(mismatch(at, "flag name", other)),
                }
            }
            CVal::Flags(names)
        }
        _ => return Err(bad()),
    })
}

/// `{case: payload}` or a bare `"case"`.
fn single_case(v: &Value) -> Option<(&str, Option<&Value>)> {
    match v {
        Value::String(s) => Some((s, None)),
        Value::Map(m) if m.len() == 1 => m.iter().next().map(|(k, v)| (k.as_str(), Some(v))),
        _ => None,
    }
}

/// A component function's results as one value (none: null; one: itself; more: list).
pub fn from_component_results(results: &[CVal]) -> Value {
    match results {
        [] => Value::Null,
        [v] => from_component(v),
        many => Value::List(many.iter().map(from_component).collect()),
    }
}

pub fn from_component(v: &CVal) -> Value {
    let boxed = |b: &Option<Box<CVal>>| b.as_deref().map(from_component).unwrap_or(Value::Null);
    match v {
        CVal::Bool(b) => Value::Bool(*b),
        CVal::S8(i) => Value::Int(*i as i64),
        CVal::U8(i) => Value::Int(*i as i64),
        CVal::S16(i) => Value::Int(*i as i64),
        CVal::U16(i) => Value::Int(*i as i64),
        CVal::S32(i) => Value::Int(*i as i64),
        CVal::U32(i) => Value::Int(*i as i64),
        CVal::S64(i) => Value::Int(*i),
        CVal::U64(i) => i64::try_from(*i)
            .map(Value::Int)
            .unwrap_or(Value::Float(*i as f64)),
        CVal::Float32(x) => Value::Float(*x as f64),
        CVal::Float64(x) => Value::Float(*x),
        CVal::Char(c) => Value::String(c.to_string()),
        CVal::String(s) => Value::String(s.clone()),
        CVal::List(items) | CVal::Tuple(items) | CVal::FixedLengthList(items) => {
            Value::List(items.iter().map(from_component).collect())
        }
        CVal::Record(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), from_component(v)))
                .collect(),
        ),
        CVal::Variant(case, payload) => match payload {
            None => Value::String(case.clone()),
            Some(p) => Value::map([(case.as_str(), from_component(p))]),
        },
        CVal::Enum(case) => Value::String(case.clone()),
        CVal::Option(o) => boxed(o),
        CVal::Result(Ok(v)) => Value::map([("ok", boxed(v))]),
        CVal::Result(Err(e)) => Value::map([("err", boxed(e))]),
        CVal::Flags(names) => Value::List(names.iter().cloned().map(Value::String).collect()),
        CVal::Map(pairs) => Value::List(
            pairs
                .iter()
                .map(|(k, v)| Value::List(vec![from_component(k), from_component(v)]))
                .collect(),
        ),
        CVal::Resource(_) | CVal::Future(_) | CVal::Stream(_) | CVal::ErrorContext(_) => {
            Value::Null
        }
    }
}
