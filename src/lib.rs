//! wippy-wasm runs WebAssembly modules and components, and Lua scripts, as lightweight
//! processes: spawned, monitored, linked, preempted, terminated, thousands at a time,
//! from a YAML registry (Wippy's `_index.yaml` files).
//!
//! # A tour
//!
//! - [`Runtime`] is where to start: [`Runtime::load`] a project folder (or
//!   [`RuntimeBuilder::build`] a [`Project`] held in memory), then spawn processes of its
//!   entries on its hosts, send them messages, and watch them end.
//! - A [`Mailbox`] is where [`Event`]s (EXIT, LINK_DOWN, CANCEL) and [`Message`]s arrive;
//!   a thread blocks on [`Mailbox::receive`].
//! - Every process ends with an [`ExitResult`]: the [`Value`] it returned, and an
//!   [`ExitReason`] (returned, exited, trapped, hit a [`Limit`], terminated, ...).
//! - [`ProcessStats`] are a live process's counters: Steps, fuel, memory, CPU time.
//! - [`GuestLog`] decides where guests' output goes; [`GuestLog::capture`] keeps it.
//! - [`ClockKind::Virtual`] makes every worker's clock virtual: sleeps and deadlines are
//!   exact, and tests never wait for real time.
//! - [`registry`] is the project as loaded: every entry, typed and validated.
//!
//! ```
//! use std::time::Duration;
//! use wippy_wasm::{Mailbox, Project, Runtime, Value};
//!
//! let yaml = r#"
//! version: "1.0"
//! namespace: app
//! entries:
//!   - name: workers
//!     kind: process.host
//!   - name: double
//!     kind: process.lua
//!     source: "return { main = function(n) return n * 2 end }"
//!     method: main
//! "#;
//! let project = Project::in_memory(".").with_index("_index.yaml", yaml);
//! let rt = Runtime::builder().build(&project).unwrap();
//! let me = Mailbox::new();
//! rt.spawn_monitored(&me, "app:double", "app:workers", vec![Value::Int(21)]).unwrap();
//! let exit = me.receive(Duration::from_secs(10)).expect("EXIT");
//! assert_eq!(exit.result.value, Value::Int(42));
//! ```
//!
//! # Inside
//!
//! `registry` (YAML to validated entries) → `load` (engine, verification, compile cache)
//! → the process kinds `wasm` and `lua`, which prepare their entries → `kernel` (hosts,
//! workers each running one `executor`, the process table, mailboxes, links), which runs
//! what the kinds prepared without knowing what they are. DESIGN.md has the whole map.

#![warn(missing_docs)]

mod cluster;
mod duration;
mod env_store;
mod executor;
mod kernel;
mod load;
mod lua;
pub mod registry;
mod runtime;
mod service;
mod value;
mod wasm;

pub use cluster::ClusterOptions;
pub use executor::ClockKind;
pub use kernel::event::{Event, EventKind, Mailbox, Message, Receive};
pub use kernel::exit::{ExitReason, ExitResult, Limit, Stage, TrapKind};
pub use kernel::host::{HostFull, SendError};
pub use kernel::names::NameError;
pub use kernel::output::{Captured, GuestLog, Stream};
pub use kernel::pid::Pid;
pub use kernel::stats::{Phase, ProcessStats, StatsSnapshot};
pub use kernel::SpawnError;
pub use load::cache::CacheStats;
pub use registry::{EntryId, LoadErrors, Location, Preemption, Problem, Warning};
pub use runtime::{
    Checked, Project, Runtime, RuntimeBuilder, RuntimeError, RuntimeHandle, DEFAULT_FUEL_SLICE,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use service::{ServiceChange, ServiceError, ServiceState, ServiceStatus};
pub use value::Value;

/// Internals the integration tests, the benchmarks and the CLI's file mode reach into
/// (hashing, binary kinds, the engine settings, value conversions). Not part of the API:
/// no stability promise, no documentation beyond this line.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod testing {
    pub use crate::load::engine::{
        build as build_engine, build_concurrent as build_concurrent_engine, EngineOptions,
    };
    pub use crate::load::hash::{sha256, to_hex};
    pub use crate::load::kind::BinaryKind;
    pub use crate::lua::{from_lua, std_libs as lua_std_libs, to_lua};
    pub use crate::wasm::convert;
}
