//! The shared core of a runtime: the project, the prepared entries and the hosts. The
//! embedding API and processes that spawn or message (Lua) both go through it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};

use super::event::{ExitResult, Mailbox, Message, Pid};
use super::host::{Body, Host, HostLimits, SendError, Watchers};
use super::prepared::{self, Prepared};
use super::process::{self, Args, RunSettings};
use super::wasi::EnvSource;
use super::{RuntimeError, RuntimeOptions, SpawnError};
use crate::binary::CompileCache;
use crate::engine;
use crate::project::Project;
use crate::registry::{EntryConfig, EntryId, LoadErrors, Location, Problem};
use crate::value::Value;

/// Builds the body of a process for an entry that is not wasm (see [`Kernel::register`]).
pub type Spawner = Arc<dyn Fn(&EntryId, Vec<Value>, Weak<Kernel>) -> Body + Send + Sync>;

pub struct Kernel {
    pub project: Project,
    prepared: HashMap<EntryId, Arc<Prepared>>,
    /// Other process kinds, by entry (Lua), installed before any spawn.
    others: std::sync::RwLock<HashMap<EntryId, Spawner>>,
    env: Arc<EnvSource>,
    hosts: HashMap<EntryId, Arc<Host>>,
    pub cache: CompileCache,
    shutdown_timeout: std::time::Duration,
    me: Weak<Kernel>,
}

impl Kernel {
    pub(super) fn load(root: &Path, options: RuntimeOptions) -> Result<Arc<Kernel>, RuntimeError> {
        let engine =
            engine::build(&options.engine).map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let cache = CompileCache::new(&engine, options.engine.cache_dir.clone());
        let project = Project::load_selected(root, &engine, &cache, options.only.as_deref()).0?;
        let mut prepared = HashMap::new();
        let mut problems = Vec::new();
        for (entry, wasm) in project.registry.wasm_entries() {
            if let Some(problem) = stack_limit_problem(wasm, options.engine.max_wasm_stack) {
                problems.push(Problem::new(
                    Location::entry(&entry.file, &entry.id).with_field("limits.max_stack_bytes"),
                    problem,
                ));
                continue;
            }
            let Some(program) = project.programs.get(&entry.id) else {
                continue; // not selected (RuntimeOptions::only)
            };
            match prepared::prepare(&engine, program, wasm) {
                Ok(p) => {
                    prepared.insert(entry.id.clone(), Arc::new(p));
                }
                Err(message) => problems.push(Problem::new(
                    Location::entry(&entry.file, &entry.id).with_field("method"),
                    message,
                )),
            }
        }
        if !problems.is_empty() {
            return Err(LoadErrors { problems }.into());
        }
        let mut hosts = HashMap::new();
        for entry in project.registry.entries() {
            let (workers, inherit_stdio, limits) = match &entry.config {
                EntryConfig::ProcessHost(h) => (
                    h.workers.unwrap_or_else(|| {
                        std::thread::available_parallelism()
                            .map(|n| n.get())
                            .unwrap_or(1)
                    }),
                    false,
                    {
                        let default = HostLimits::default();
                        HostLimits {
                            max_processes: h
                                .max_processes
                                .map_or(default.max_processes, |n| n as usize),
                            mailbox_size: h
                                .mailbox_size
                                .map_or(default.mailbox_size, |n| n as usize),
                        }
                    },
                ),
                EntryConfig::TerminalHost(_) => (1, true, HostLimits::default()),
                _ => continue,
            };
            let settings = RunSettings {
                fuel_slice: options.fuel_slice,
                inherit_stdio,
                trace: options.trace,
                log: options.log.clone(),
            };
            let host = Host::start(entry.id.clone(), workers, settings, options.clock, limits)
                .map_err(|e| RuntimeError::Setup(format!("cannot start host {}: {e}", entry.id)))?;
            hosts.insert(entry.id.clone(), host);
        }
        let env = Arc::new(EnvSource::from_registry(&project.registry));
        Ok(Arc::new_cyclic(|me| Kernel {
            project,
            prepared,
            others: Default::default(),
            env,
            hosts,
            cache,
            shutdown_timeout: options.shutdown_timeout,
            me: me.clone(),
        }))
    }

    /// Lets `entry` (a non-wasm process entry) be spawned with `spawner`.
    pub fn register(&self, entry: EntryId, spawner: Spawner) {
        self.others.write().unwrap().insert(entry, spawner);
    }

    pub fn host(&self, id: &str) -> Option<&Arc<Host>> {
        EntryId::parse(id).and_then(|id| self.hosts.get(&id))
    }

    pub(super) fn host_of(&self, pid: &Pid) -> Option<&Arc<Host>> {
        self.hosts.get(&pid.host)
    }

    pub fn spawn(
        &self,
        entry: &str,
        host: &str,
        args: impl Into<Args>,
        watchers: Watchers,
    ) -> Result<Pid, SpawnError> {
        let args = args.into();
        let unknown = || SpawnError::UnknownEntry(entry.to_owned());
        let id = EntryId::parse(entry).ok_or_else(unknown)?;
        let host = self
            .host(host)
            .ok_or_else(|| SpawnError::UnknownHost(host.to_owned()))?;
        let (body, with_inbox): (Body, bool) = match self.prepared.get(&id) {
            Some(prepared) => {
                let (prepared, env) = (prepared.clone(), self.env.clone());
                (
                    Box::new(move |ctx| Box::pin(process::run(prepared, env, args, ctx))),
                    false,
                )
            }
            None => {
                let spawner = self.others.read().unwrap().get(&id).cloned();
                (
                    spawner.ok_or_else(unknown)?(&id, args.values, self.me.clone()),
                    true,
                )
            }
        };
        let me = self.me.clone();
        Ok(
            host.spawn(body, watchers, with_inbox, move |pid, result, linked| {
                if let Some(kernel) = me.upgrade() {
                    kernel.tell_linked(pid, result, &linked);
                }
            })?,
        )
    }

    fn tell_linked(&self, from: &Pid, result: &ExitResult, linked: &[Pid]) {
        for pid in linked {
            if let Some(host) = self.host_of(pid) {
                host.link_down(pid, from, result);
            }
        }
    }

    pub fn terminate(&self, pid: &Pid) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.kill(pid, "process terminated"))
    }

    /// `from` is the cancelling process, if a process asked.
    pub fn cancel(&self, pid: &Pid, from: Option<&Pid>, reason: &str) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.cancel(pid, from.unwrap_or(pid), reason))
    }

    pub fn send(
        &self,
        pid: &Pid,
        from: Option<&Pid>,
        topic: &str,
        payload: Value,
    ) -> Result<(), SendError> {
        let host = self
            .host_of(pid)
            .ok_or_else(|| SendError::NoProcess(pid.to_string()))?;
        host.send(
            pid,
            Message {
                from: from.cloned(),
                topic: topic.to_owned(),
                payload,
            },
        )
    }

    pub fn watch(&self, pid: &Pid, watchers: Watchers) -> bool {
        self.host_of(pid).is_some_and(|h| h.watch(pid, watchers))
    }

    pub fn unmonitor(&self, pid: &Pid, mailbox: &Mailbox) -> bool {
        self.host_of(pid).is_some_and(|h| h.unmonitor(pid, mailbox))
    }

    pub fn unlink(&self, pid: &Pid, mailbox: &Mailbox, linked_pid: Option<&Pid>) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.unlink(pid, mailbox, linked_pid))
    }

    pub(super) fn shutdown(&self) {
        let deadline = std::time::Instant::now() + self.shutdown_timeout;
        for host in self.hosts.values() {
            host.shutdown(deadline);
        }
    }
}

/// wasmtime's wasm stack limit is engine-wide: every process gets the same stack. A
/// `max_stack_bytes` at or above it is honoured (no process can use more); one below it
/// cannot be, and is refused rather than silently ignored.
fn stack_limit_problem(wasm: &crate::registry::WasmEntry, engine_stack: usize) -> Option<String> {
    let asked = wasm.limits.max_stack_bytes?;
    (asked < engine_stack as u64).then(|| {
        format!(
            "{asked} is below the runtime's wasm stack of {engine_stack} bytes; the stack limit is the same for every process, so lower it for the whole runtime (EngineOptions::max_wasm_stack) instead"
        )
    })
}
