//! [`Value`]: the one dynamic value type that crosses the process boundary (spawn
//! arguments, return values, messages). Each process kind converts it to and from its own
//! values (wasm: `wasm::convert`; Lua: `lua::convert`).

use std::collections::BTreeMap;
use std::fmt;

/// A dynamic value: a spawn argument, a return value, a message payload.
///
/// ```
/// use wippy_wasm::Value;
///
/// let v = Value::map([("n", Value::Int(1)), ("name", Value::String("x".into()))]);
/// assert_eq!(v.to_string(), "{n: 1, name: x}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Nothing (`nil` in Lua, a function with no result in wasm).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer (wasm `i32`/`i64`, Lua integers).
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    String(String),
    /// Raw bytes (a component's `list<u8>`).
    Bytes(Vec<u8>),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with text keys (a component record, a Lua table with string keys).
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Roughly the memory this value holds: its strings' and bytes' lengths, plus 16 per
    /// item (what bounded mailboxes count).
    pub fn approx_size(&self) -> usize {
        16 + match self {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 0,
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::List(items) => items.iter().map(Value::approx_size).sum(),
            Value::Map(map) => map.iter().map(|(k, v)| k.len() + v.approx_size()).sum(),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// A [`Value::Map`] from pairs.
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => f.write_str(s),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Reads a word (a CLI argument) as the number or bool it spells, else as a string.
pub(crate) fn parse_word(word: &str) -> Value {
    if let Ok(i) = word.parse::<i64>() {
        Value::Int(i)
    } else if let Ok(x) = word.parse::<f64>() {
        Value::Float(x)
    } else {
        match word {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(word.to_owned()),
        }
    }
}

impl Value {
    /// A YAML value as written in a registry (`input:` of a service): tagged values keep
    /// their inner value.
    pub(crate) fn from_yaml(v: &serde_yaml_ng::Value) -> Value {
        use serde_yaml_ng::Value as Y;
        match v {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Y::String(s) => Value::String(s.clone()),
            Y::Sequence(items) => Value::List(items.iter().map(Value::from_yaml).collect()),
            Y::Mapping(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Y::String(s) => s.clone(),
                            other => serde_yaml_ng::to_string(other)
                                .unwrap_or_default()
                                .trim_end()
                                .to_owned(),
                        };
                        (key, Value::from_yaml(v))
                    })
                    .collect(),
            ),
            Y::Tagged(t) => Value::from_yaml(&t.value),
        }
    }

    /// As JSON (a `json` payload of a message to a wasm process): bytes become an array
    /// of numbers, a non-finite float `null`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Bytes(b) => J::Array(b.iter().map(|&x| J::from(x)).collect()),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// From JSON (a `json` payload a wasm process sent).
    pub(crate) fn from_json(v: serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::String(s),
            J::Array(items) => Value::List(items.into_iter().map(Value::from_json).collect()),
            J::Object(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| (k, Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// As JSON, the same mapping as `Value::to_json` (bytes as an array of numbers, a
/// non-finite float as null), written straight to the output with no tree in between.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(x) if x.is_finite() => s.serialize_f64(*x),
            Value::Float(_) => s.serialize_unit(),
            Value::String(text) => s.serialize_str(text),
            Value::Bytes(bytes) => {
                let mut seq = s.serialize_seq(Some(bytes.len()))?;
                for b in bytes {
                    seq.serialize_element(b)?;
                }
                seq.end()
            }
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializing_writes_what_to_json_builds() {
        let v = Value::map([
            ("n", Value::Int(-3)),
            ("x", Value::Float(1.5)),
            ("nan", Value::Float(f64::NAN)),
            ("b", Value::Bytes(vec![0, 255])),
            (
                "list",
                Value::List(vec![
                    Value::Null,
                    Value::Bool(true),
                    Value::String("s".into()),
                ]),
            ),
        ]);
        assert_eq!(serde_json::to_string(&v).unwrap(), v.to_json().to_string());
    }
}
