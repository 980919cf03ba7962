//! What nodes say to each other: [`Frame`]s and [`Heartbeat`]s, as JSON. Values keep their
//! exact type across (an integer stays an integer, bytes stay bytes), and nothing read
//! from the wire is trusted: a frame that does not parse is dropped with a log line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kernel::exit::{ExitReason, ExitResult};
use crate::kernel::pid::Pid;
use crate::value::Value;

/// One request or notice from one node to another, on the receiver's subject. Frames
/// from one node arrive in the order it sent them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Frame {
    /// A message for a process of the receiving node.
    Send {
        to: String,
        from: Option<String>,
        topic: String,
        payload: WireValue,
    },
    /// Watch `pid`: events for watch `monitor` or `link` go back to the sender;
    /// `linked` (a process of the sender) hears of its failure.
    Watch {
        pid: String,
        monitor: Option<u64>,
        link: Option<u64>,
        linked: Option<String>,
    },
    /// Undo a watch (`id`) and a link (`linked`).
    Unwatch {
        pid: String,
        id: Option<u64>,
        linked: Option<String>,
    },
    /// What a watch reports: the watched process ended.
    Event {
        id: u64,
        link_down: bool,
        from: String,
        result: WireResult,
    },
    /// `from` (on the sender), linked to `pid` (on the receiver), failed.
    LinkDown {
        pid: String,
        from: String,
        result: WireResult,
    },
    Terminate {
        pid: String,
    },
    Cancel {
        pid: String,
        from: String,
        reason: String,
    },
    /// Start a process; the answer is a `Spawned` frame with the same `request`.
    Spawn {
        request: u64,
        entry: String,
        host: String,
        args: Vec<WireValue>,
        monitor: Option<u64>,
        link: Option<u64>,
        linked: Option<String>,
    },
    Spawned {
        request: u64,
        result: Result<String, String>,
    },
    /// The sender is leaving: it is down from now on.
    Bye,
    /// `from` (on the sender) ended normally: `pid` (here), linked to it, need not hear
    /// of it any more.
    Unlinked {
        pid: String,
        from: String,
    },
    /// The process these watches (of the receiver's) were for ended without an event
    /// for them (a link, and it ended normally): forget them.
    Forget {
        ids: Vec<u64>,
    },
}

/// Sent by every node every heartbeat: it is alive, and how busy its hosts are.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Heartbeat {
    pub node: String,
    /// Random per run: two nodes started with one name tell each other apart.
    pub instance: u64,
    /// Live processes per host.
    pub load: BTreeMap<String, usize>,
}

/// A [`Value`] with its type kept: bytes as base64 text, not a list of numbers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(#[serde(with = "base64_bytes")] Vec<u8>),
    List(Vec<WireValue>),
    Map(BTreeMap<String, WireValue>),
}

/// Deepest nesting a value may have to cross: serde_json refuses more than 128 levels
/// when reading, and each level here is two.
pub(crate) const MAX_DEPTH: usize = 60;

impl WireValue {
    /// `None` when `value` nests deeper than [`MAX_DEPTH`].
    pub fn from_value(value: Value) -> Option<WireValue> {
        Self::at_depth(value, 0)
    }

    fn at_depth(value: Value, depth: usize) -> Option<WireValue> {
        if depth > MAX_DEPTH {
            return None;
        }
        Some(match value {
            Value::Null => WireValue::Null,
            Value::Bool(b) => WireValue::Bool(b),
            Value::Int(i) => WireValue::Int(i),
            Value::Float(f) => WireValue::Float(f),
            Value::String(s) => WireValue::String(s),
            Value::Bytes(b) => WireValue::Bytes(b),
            Value::List(items) => WireValue::List(
                items
                    .into_iter()
                    .map(|v| Self::at_depth(v, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            Value::Map(map) => WireValue::Map(
                map.into_iter()
                    .map(|(k, v)| Some((k, Self::at_depth(v, depth + 1)?)))
                    .collect::<Option<_>>()?,
            ),
        })
    }

    pub fn into_value(self) -> Value {
        match self {
            WireValue::Null => Value::Null,
            WireValue::Bool(b) => Value::Bool(b),
            WireValue::Int(i) => Value::Int(i),
            WireValue::Float(f) => Value::Float(f),
            WireValue::String(s) => Value::String(s),
            WireValue::Bytes(b) => Value::Bytes(b),
            WireValue::List(items) => {
                Value::List(items.into_iter().map(Self::into_value).collect())
            }
            WireValue::Map(map) => {
                Value::Map(map.into_iter().map(|(k, v)| (k, v.into_value())).collect())
            }
        }
    }
}

/// How a process ended, as another node needs it: its value, and its reason where the
/// reason is one a program acts on (terminated, cancelled, exit code, shutdown); any
/// other failure crosses as its error text.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireResult {
    value: WireValue,
    reason: WireReason,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireReason {
    Returned,
    Exited { code: i32, method: String },
    Terminated,
    Cancelled { reason: String },
    LinkFailed { pid: String },
    Shutdown,
    NodeDown { node: String },
    Failed { message: String },
}

impl WireResult {
    pub fn from_result(result: &ExitResult) -> WireResult {
        let reason = match &result.reason {
            ExitReason::Returned => WireReason::Returned,
            ExitReason::Exited { code, method } => WireReason::Exited {
                code: *code,
                method: method.clone(),
            },
            ExitReason::Terminated => WireReason::Terminated,
            ExitReason::Cancelled { reason } => WireReason::Cancelled {
                reason: reason.clone(),
            },
            ExitReason::LinkFailed { pid } => WireReason::LinkFailed {
                pid: pid.to_string(),
            },
            ExitReason::Shutdown => WireReason::Shutdown,
            ExitReason::NodeDown { node } => WireReason::NodeDown { node: node.clone() },
            _ => WireReason::Failed {
                message: result.error().unwrap_or_default(),
            },
        };
        // A value too deep to cross is replaced by its text.
        let value = WireValue::from_value(result.value.clone())
            .unwrap_or_else(|| WireValue::String(result.value.to_string()));
        WireResult { value, reason }
    }

    pub fn into_result(self) -> ExitResult {
        let reason = match self.reason {
            WireReason::Returned => ExitReason::Returned,
            WireReason::Exited { code, method } => ExitReason::Exited { code, method },
            WireReason::Terminated => ExitReason::Terminated,
            WireReason::Cancelled { reason } => ExitReason::Cancelled { reason },
            WireReason::LinkFailed { pid } => match Pid::parse(&pid) {
                Some(pid) => ExitReason::LinkFailed { pid },
                None => ExitReason::failed(format!("linked process {pid} failed")),
            },
            WireReason::Shutdown => ExitReason::Shutdown,
            WireReason::NodeDown { node } => ExitReason::NodeDown { node },
            WireReason::Failed { message } => ExitReason::failed(message),
        };
        ExitResult {
            value: self.value.into_value(),
            reason,
            limit_hit: None,
        }
    }
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let frame = Frame::Send {
            to: "{b@app:h|1}".into(),
            from: None,
            topic: "t".into(),
            payload: WireValue::from_value(value).unwrap(),
        };
        let bytes = serde_json::to_vec(&frame).unwrap();
        match serde_json::from_slice(&bytes).unwrap() {
            Frame::Send { payload, .. } => payload.into_value(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn values_keep_their_types() {
        let value = Value::map([
            ("bytes", Value::Bytes(vec![0, 255, 7])),
            ("int", Value::Int(-3)),
            ("float", Value::Float(2.0)),
            ("list", Value::List(vec![Value::Null, Value::Bool(true)])),
            ("text", Value::String("héllo".into())),
        ]);
        assert_eq!(round_trip(value.clone()), value);
    }

    #[test]
    fn a_value_nested_too_deep_is_refused_before_it_is_sent() {
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        assert!(WireValue::from_value(deep.clone()).is_some());
        assert!(WireValue::from_value(Value::List(vec![deep])).is_none());
    }

    #[test]
    fn the_deepest_value_allowed_still_parses() {
        let mut deep = Value::Int(1);
        for _ in 0..MAX_DEPTH {
            deep = Value::Map([("k".to_owned(), deep)].into());
        }
        assert_eq!(round_trip(deep.clone()), deep);
    }

    #[test]
    fn an_ending_keeps_what_programs_act_on() {
        for reason in [
            ExitReason::Terminated,
            ExitReason::Cancelled { reason: "r".into() },
            ExitReason::Exited {
                code: 3,
                method: "run".into(),
            },
            ExitReason::NodeDown { node: "b".into() },
        ] {
            let result = ExitResult::from(reason);
            assert_eq!(WireResult::from_result(&result).into_result(), result);
        }
        let failed = ExitResult::from(ExitReason::failed("boom"));
        let back = WireResult::from_result(&failed).into_result();
        assert_eq!(back.error().as_deref(), Some("boom"));
    }
}
