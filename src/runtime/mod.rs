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

pub mod event;
mod host;
mod prepared;
pub mod process;
mod state;
mod wasi;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

pub use host::{Host, Watchers};
pub use process::{ProcessStats, RunSettings};

use crate::binary::CompileCache;
use crate::engine::{self, EngineOptions};
use crate::executor::ClockKind;
use crate::project::Project;
use crate::registry::{EntryConfig, EntryId, LoadErrors};
use crate::value::Value;
use event::{Mailbox, Pid};
use prepared::Prepared;
use wasi::EnvSource;

/// Fuel per Step when nothing else is configured: ~10-300 µs of guest time (see
/// DESIGN.md), small enough that a spinning guest delays others by at most that.
pub const DEFAULT_FUEL_SLICE: u64 = 100_000;

#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    pub engine: EngineOptions,
    pub fuel_slice: u64,
    pub clock: ClockKind,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            fuel_slice: DEFAULT_FUEL_SLICE,
            clock: ClockKind::Real,
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
}

pub struct Runtime {
    project: Project,
    prepared: HashMap<EntryId, Arc<Prepared>>,
    env: Arc<EnvSource>,
    hosts: HashMap<EntryId, Arc<Host>>,
    pub cache: CompileCache,
}

impl Runtime {
    /// Loads the project (all-or-nothing), links every wasm entry and starts every host.
    pub fn load(root: &Path, options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let engine =
            engine::build(&options.engine).map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, options.engine.cache_dir.clone());
        let project = Project::load(root, &engine, &cache)?;
        let mut prepared = HashMap::new();
        let mut problems = Vec::new();
        for (entry, wasm) in project.registry.wasm_entries() {
            let program = &project.programs[&entry.id];
            match prepared::prepare(&engine, program, wasm) {
                Ok(p) => {
                    prepared.insert(entry.id.clone(), Arc::new(p));
                }
                Err(message) => problems.push(crate::registry::Problem::new(
                    crate::registry::Location::entry(&entry.file, &entry.id).with_field("method"),
                    message,
                )),
            }
        }
        if !problems.is_empty() {
            return Err(LoadErrors { problems }.into());
        }
        let mut hosts = HashMap::new();
        for entry in project.registry.entries() {
            let (workers, inherit_stdio) = match &entry.config {
                EntryConfig::ProcessHost(h) => (
                    h.workers.unwrap_or_else(|| {
                        std::thread::available_parallelism()
                            .map(|n| n.get())
                            .unwrap_or(1)
                    }),
                    false,
                ),
                EntryConfig::TerminalHost(_) => (1, true),
                _ => continue,
            };
            let settings = RunSettings {
                fuel_slice: options.fuel_slice,
                inherit_stdio,
            };
            let host = Host::start(entry.id.clone(), workers, settings, options.clock)
                .map_err(|e| RuntimeError::Setup(format!("cannot start host {}: {e}", entry.id)))?;
            hosts.insert(entry.id.clone(), host);
        }
        let env = Arc::new(EnvSource::from_registry(&project.registry));
        Ok(Runtime {
            project,
            prepared,
            env,
            hosts,
            cache,
        })
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    fn target(&self, entry: &str, host: &str) -> Result<(Arc<Prepared>, &Arc<Host>), SpawnError> {
        let prepared = EntryId::parse(entry)
            .and_then(|id| self.prepared.get(&id))
            .ok_or_else(|| SpawnError::UnknownEntry(entry.to_owned()))?;
        let host = EntryId::parse(host)
            .and_then(|id| self.hosts.get(&id))
            .ok_or_else(|| SpawnError::UnknownHost(host.to_owned()))?;
        Ok((prepared.clone(), host))
    }

    fn spawn_with(
        &self,
        entry: &str,
        host: &str,
        args: Vec<Value>,
        watchers: Watchers,
    ) -> Result<Pid, SpawnError> {
        let (prepared, host) = self.target(entry, host)?;
        Ok(host.spawn(prepared, self.env.clone(), args, watchers))
    }

    /// Starts a process of `entry` on `host`; nobody is told when it ends.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Pid, SpawnError> {
        self.spawn_with(entry, host, args, Watchers::default())
    }

    /// Starts a process; `mailbox` receives its EXIT event.
    pub fn spawn_monitored(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.spawn_with(entry, host, args, Watchers::monitor(mailbox))
    }

    /// Starts a process linked to `mailbox`: an abnormal exit sends it LINK_DOWN.
    pub fn spawn_linked(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.spawn_with(entry, host, args, Watchers::link(mailbox))
    }

    fn host_of(&self, pid: &Pid) -> Option<&Arc<Host>> {
        self.hosts.get(&pid.host)
    }

    /// Ends a process (running, yielded or parked) with `process terminated`. False if
    /// it had already ended.
    pub fn terminate(&self, pid: &Pid) -> bool {
        self.host_of(pid).is_some_and(|h| h.terminate(pid))
    }

    pub fn monitor(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.watch(pid, Watchers::monitor(mailbox)))
    }

    pub fn link(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.watch(pid, Watchers::link(mailbox)))
    }

    /// Removes `mailbox` as monitor and link of `pid`.
    pub fn unwatch(&self, mailbox: &Mailbox, pid: &Pid) {
        if let Some(h) = self.host_of(pid) {
            h.unwatch(pid, mailbox)
        }
    }

    /// Counters of a live process (None once it has ended).
    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.host_of(pid)?.stats(pid)
    }

    /// Live processes on `host`.
    pub fn live(&self, host: &str) -> usize {
        EntryId::parse(host)
            .and_then(|id| self.hosts.get(&id))
            .map_or(0, |h| h.live())
    }

    /// Terminates every process, waits for each to Close, and stops every worker.
    pub fn shutdown(self) {
        drop(self);
    }
}
