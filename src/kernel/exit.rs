//! How a process ended: [`ExitResult`] (its value and its [`ExitReason`]), with predicates
//! for code that reacts to an ending and a `Display` that gives SPEC's texts for people.

use std::fmt;
use std::time::Duration;

use super::pid::Pid;
use crate::value::Value;

/// How a process ended: the value it returned (or [`Value::Null`]) and why it ended.
///
/// ```
/// use wippy_wasm::{ExitReason, ExitResult, Value};
///
/// let done = ExitResult::ok(Value::Int(42));
/// assert!(done.is_ok());
/// assert_eq!(done.error(), None);
///
/// let killed = ExitResult::from(ExitReason::Terminated);
/// assert!(killed.reason.is_terminated());
/// assert_eq!(killed.error().as_deref(), Some("process terminated"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ExitResult {
    /// What the process returned; [`Value::Null`] unless it returned normally.
    pub value: Value,
    /// Why it ended.
    pub reason: ExitReason,
    /// A limit the process ran into before it failed (a memory grow the runtime refused):
    /// the likely cause of the failure, so its text follows the error in parentheses.
    pub limit_hit: Option<Limit>,
}

impl ExitResult {
    /// A normal return of `value`.
    pub fn ok(value: Value) -> Self {
        Self {
            value,
            reason: ExitReason::Returned,
            limit_hit: None,
        }
    }

    /// True for a normal end: the function returned, or the guest exited with code 0.
    pub fn is_ok(&self) -> bool {
        self.reason.is_ok()
    }

    /// The error text (SPEC §4) for an abnormal end, `None` for a normal one.
    pub fn error(&self) -> Option<String> {
        if self.reason.is_ok() {
            return None;
        }
        Some(match &self.limit_hit {
            Some(limit) => format!("{} ({limit})", self.reason),
            None => self.reason.to_string(),
        })
    }

    /// The guest's WASI exit code, when it ended by calling exit.
    pub fn exit_code(&self) -> Option<i32> {
        match self.reason {
            ExitReason::Exited { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<ExitReason> for ExitResult {
    fn from(reason: ExitReason) -> Self {
        Self {
            value: Value::Null,
            reason,
            limit_hit: None,
        }
    }
}

/// Why a process ended. `Display` gives the error text SPEC §4 specifies (for a normal end,
/// a short description).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ExitReason {
    /// The process's function returned.
    Returned,
    /// The guest ended through WASI exit (`proc_exit`, `wasi:cli/exit`); code 0 is a
    /// normal end.
    Exited {
        /// The exit code.
        code: i32,
        /// The method that was running.
        method: String,
    },
    /// The guest trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trapped {
        /// Where: instantiating, or calling the method.
        stage: Stage,
        /// Which trap.
        trap: TrapKind,
        /// wasmtime's one-line description of it.
        message: String,
    },
    /// The process reached one of its limits.
    LimitReached {
        /// Where, when the limit ended a wasm call (`None`: the process as a whole).
        stage: Option<Stage>,
        /// Which limit, and its value.
        limit: Limit,
    },
    /// Ended by `terminate`.
    Terminated,
    /// Asked to stop with `cancel` while it could not read the CANCEL event (a wasm
    /// process); for a CANCEL event itself, the reason given.
    Cancelled {
        /// The reason the canceller gave.
        reason: String,
    },
    /// A process it was linked to ended abnormally, and it could not hear LINK_DOWN.
    LinkFailed {
        /// The linked process that failed.
        pid: Pid,
    },
    /// The runtime shut down while the process ran.
    Shutdown,
    /// The cluster node it ran on stopped answering (killed, cut off): what its monitors
    /// and links hear, since they can no longer know how it ended.
    NodeDown {
        /// The node's name.
        node: String,
    },
    /// A host function panicked inside the process; the host caught it.
    Panicked,
    /// Any other failure: a script error, arguments that do not fit the method, a binary
    /// that would not instantiate.
    Failed {
        /// Where, for a wasm process.
        stage: Option<Stage>,
        /// What went wrong.
        message: String,
    },
}

impl ExitReason {
    /// A failure with a message and no stage.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            stage: None,
            message: message.into(),
        }
    }

    /// True for a normal end: a return, or exit code 0.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Returned | Self::Exited { code: 0, .. })
    }

    /// True if the guest trapped.
    pub fn is_trap(&self) -> bool {
        matches!(self, Self::Trapped { .. })
    }

    /// The limit the process reached, if that is why it ended.
    pub fn limit(&self) -> Option<&Limit> {
        match self {
            Self::LimitReached { limit, .. } => Some(limit),
            _ => None,
        }
    }

    /// True if someone terminated it (not counting a runtime shutdown).
    pub fn is_terminated(&self) -> bool {
        matches!(self, Self::Terminated)
    }

    /// True if it was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled { .. })
    }

    /// True if the runtime shut down under it.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Self::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Returned => f.write_str("returned"),
            Self::Exited { code: 0, .. } => f.write_str("exited with code 0"),
            Self::Exited { code, method } => {
                write!(f, "{}: exit code {code}", Stage::call(method))
            }
            Self::Trapped { stage, message, .. } => write!(f, "{stage}: {message}"),
            Self::LimitReached {
                stage: Some(stage),
                limit,
            } => write!(f, "{stage}: {limit}"),
            Self::LimitReached { stage: None, limit } => write!(f, "{limit}"),
            Self::Terminated => f.write_str("process terminated"),
            Self::Cancelled { reason } => write!(f, "process cancelled: {reason}"),
            Self::LinkFailed { pid } => write!(f, "linked process {pid} failed"),
            Self::Shutdown => f.write_str("process terminated: host shutting down"),
            Self::NodeDown { node } => write!(f, "node down: {node}"),
            Self::Panicked => f.write_str("host error: a host function panicked"),
            Self::Failed {
                stage: Some(stage),
                message,
            } => write!(f, "{stage}: {message}"),
            Self::Failed {
                stage: None,
                message,
            } => f.write_str(message),
        }
    }
}

/// Where in a wasm process's life something went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Instantiating the entry (its start function and a reactor's `_initialize` included).
    Instantiate,
    /// Calling the entry's method.
    Call {
        /// The method's name.
        method: String,
    },
}

impl Stage {
    /// The call of `method`.
    pub fn call(method: &str) -> Self {
        Self::Call {
            method: method.to_owned(),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instantiate => f.write_str("failed to instantiate"),
            Self::Call { method } => write!(f, "failed to call wasm method: {method}"),
        }
    }
}

/// The kind of a wasm trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrapKind {
    /// The wasm stack outgrew the runtime's limit (or the guest recursed forever).
    StackOverflow,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A table access out of bounds.
    TableOutOfBounds,
    /// `call_indirect` through a null entry.
    IndirectCallToNull,
    /// `call_indirect` with the wrong signature.
    BadSignature,
    /// Integer overflow (e.g. `i32.div_s` of `MIN` by -1).
    IntegerOverflow,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// A float that does not convert to an integer.
    BadConversionToInteger,
    /// `unreachable` was executed (Rust and C `abort` end here).
    Unreachable,
    /// A null reference was used.
    NullReference,
    /// Any other trap.
    Other,
}

/// A limit a process can reach, with its configured value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// `limits.fuel`: the process used all of its fuel.
    Fuel {
        /// The fuel it had.
        budget: u64,
    },
    /// `limits.max_execution_ms`: it ran (in wall or virtual time) past its deadline.
    ExecutionTime {
        /// The limit.
        limit: Duration,
    },
    /// `limits.memory_bytes`: a memory grow was refused.
    Memory {
        /// Bytes the guest asked to have in all.
        asked: usize,
        /// The limit.
        limit: usize,
    },
    /// `limits.max_open_files`: its handle table was full.
    OpenHandles {
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fuel { budget } => write!(
                f,
                "fuel limit exceeded: the process used its {budget} fuel (limits.fuel)"
            ),
            Self::ExecutionTime { .. } => f.write_str("execution time limit exceeded"),
            Self::Memory { asked, limit } => write!(
                f,
                "memory limit reached: the guest asked for {asked} bytes, the limit is {limit} (limits.memory_bytes)"
            ),
            Self::OpenHandles { max } => write!(
                f,
                "too many open handles: the process holds its limit of {max} (limits.max_open_files)"
            ),
        }
    }
}
