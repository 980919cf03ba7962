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
