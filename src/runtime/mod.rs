//! The runtime: a loaded project, its hosts, and the embedding API.
//!
//! ```no_run
//! use std::time::Duration;
//! use wippy_wasm::runtime::{Runtime, RuntimeOptions};
//! use wippy_wasm::event::Mailbox;
//! use wippy_wasm::value::Value;
//!
//! let rt = Runtime::load("examples".as_ref(), RuntimeOptions::default()).unwrap();
//! let me = Mailbox::new();
//! rt.spawn_monitored(&me, "myns:compute_worker", "myns:processes", vec![Value::Int(6), Value::Int(7)]).unwrap();
//! let exit = me.receive(Duration::from_secs(10)).unwrap();
//! assert_eq!(exit.result.value, Value::Int(42));
//! ```

mod clocks;
pub mod event;
mod fd_limit;
mod guest_memory;
mod host;
mod kernel;
pub mod log;
mod prepared;
pub mod process;
mod state;
mod wasi;

use std::path::Path;
use std::sync::Arc;

pub use host::{Body, Host, HostFull, HostLimits, ProcessCtx, SendError, Watchers, SHUTDOWN};
pub use kernel::Kernel;
pub use process::{Args, Phase, ProcessStats, RunSettings, StatsSnapshot};

use crate::binary::CompileCache;
use crate::engine::EngineOptions;
use crate::executor::ClockKind;
use crate::project::Project;
use crate::registry::LoadErrors;
use crate::value::Value;
use event::{Mailbox, Pid};
use log::GuestLog;

/// Fuel per Step when nothing else is configured: ~10-300 µs of guest time (see
/// DESIGN.md), small enough that a spinning guest delays others by at most that.
pub const DEFAULT_FUEL_SLICE: u64 = 100_000;

#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub engine: EngineOptions,
    pub fuel_slice: u64,
    pub clock: ClockKind,
    /// Record the order in which each worker runs processes ([`Runtime::trace`]).
    pub trace: bool,
    /// Where guests' output goes under a `process.host`.
    pub log: GuestLog,
    /// Compile only these wasm entries (the others cannot be spawned); `None`: all.
    pub only: Option<Vec<crate::registry::EntryId>>,
    /// How long dropping the runtime waits for processes to close before it abandons
    /// them (logging each): [`DEFAULT_SHUTDOWN_TIMEOUT`] unless set.
    pub shutdown_timeout: std::time::Duration,
}

/// See [`RuntimeOptions::shutdown_timeout`]: a process closes within one slice of being
/// terminated; only one stuck in a long native call can take longer.
pub const DEFAULT_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            fuel_slice: DEFAULT_FUEL_SLICE,
            clock: ClockKind::Real,
            trace: false,
            log: GuestLog::default(),
            only: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Load(#[from] LoadErrors),
    #[error("{0}")]
    Setup(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpawnError {
    #[error("process entry not found: {0}")]
    UnknownEntry(String),
    #[error("process host not found: {0}")]
    UnknownHost(String),
    #[error("{0}")]
    HostFull(#[from] HostFull),
}

/// A loaded project with its hosts running. Dropping it (or [`Runtime::shutdown`])
/// terminates every process, lets each Close, and stops every worker.
pub struct Runtime {
    kernel: Arc<Kernel>,
}

impl Runtime {
    /// Loads the project (all-or-nothing), links every wasm entry and starts every host.
    pub fn load(root: &Path, options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        fd_limit::raise_to_hard_limit();
        let kernel = Kernel::load(root, options)?;
        let runtime = Runtime { kernel };
        crate::lua::prepare(&runtime.kernel)?;
        Ok(runtime)
    }

    pub fn project(&self) -> &Project {
        &self.kernel.project
    }

    pub fn cache(&self) -> &CompileCache {
        &self.kernel.cache
    }

    /// The shared core, for process kinds (Lua) that spawn and message from inside.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// Starts a process of `entry` on `host`; nobody is told when it ends.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Pid, SpawnError> {
        self.kernel.spawn(entry, host, args, Watchers::default())
    }

    /// Runs `entry` as a command-line command: `words` are its arguments, converted to
    /// the method's parameters where it takes some, and its WASI argv where the entry
    /// sets none. `mailbox` receives the EXIT event.
    pub fn spawn_command(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        words: &[String],
    ) -> Result<Pid, SpawnError> {
        let args = Args {
            values: words.iter().map(|w| Value::String(w.clone())).collect(),
            words: Some(words.to_vec()),
        };
        self.kernel
            .spawn(entry, host, args, Watchers::monitor(mailbox))
    }

    /// Starts a process; `mailbox` receives its EXIT event.
    pub fn spawn_monitored(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.kernel
            .spawn(entry, host, args, Watchers::monitor(mailbox))
    }

    /// Starts a process linked to `mailbox`: an abnormal exit sends it LINK_DOWN.
    pub fn spawn_linked(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.kernel
            .spawn(entry, host, args, Watchers::link(mailbox))
    }

    /// Ends a process (running, yielded or parked) with `process terminated`. False if
    /// it had already ended.
    pub fn terminate(&self, pid: &Pid) -> bool {
        self.kernel.terminate(pid)
    }

    /// Asks a process to stop: a process that reads events (Lua) gets CANCEL with the
    /// reason; a wasm process, which cannot, ends with `process cancelled: <reason>`.
    pub fn cancel(&self, pid: &Pid, reason: &str) -> bool {
        self.kernel.cancel(pid, None, reason)
    }

    /// Puts a message in the inbox of `pid`.
    pub fn send(&self, pid: &Pid, topic: &str, payload: Value) -> Result<(), SendError> {
        self.kernel.send(pid, None, topic, payload)
    }

    /// `mailbox` gets EXIT when `pid` ends. False if it has already ended.
    pub fn monitor(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.watch(pid, Watchers::monitor(mailbox))
    }

    pub fn unmonitor(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.unmonitor(pid, mailbox)
    }

    /// `mailbox` gets LINK_DOWN if `pid` ends abnormally. False if it has already ended.
    pub fn link(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.watch(pid, Watchers::link(mailbox))
    }

    pub fn unlink(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.unlink(pid, mailbox, None)
    }

    /// Counters of a live process (None once it has ended).
    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.kernel.host_of(pid)?.stats(pid)
    }

    /// Live processes on `host`.
    pub fn live(&self, host: &str) -> usize {
        self.kernel.host(host).map_or(0, |h| h.live())
    }

    /// The PID numbers worker `worker` of `host` ran, one per Step, in order. Empty
    /// unless [`RuntimeOptions::trace`] is set.
    pub fn trace(&self, host: &str, worker: usize) -> Vec<u64> {
        self.kernel
            .host(host)
            .map(|h| h.trace(worker))
            .unwrap_or_default()
    }

    /// Terminates every process, waits for each to Close (monitors get EXIT with
    /// [`SHUTDOWN`] as the error), and stops every worker.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.kernel.shutdown();
    }
}
