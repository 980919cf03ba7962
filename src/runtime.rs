//! The facade: [`RuntimeBuilder`] loads a [`Project`] through every process kind and
//! starts its hosts; [`Runtime`] spawns, messages, watches and stops processes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::cluster::{Cluster, ClusterOptions};
use crate::executor::ClockKind;
use crate::kernel::event::Mailbox;
use crate::kernel::fd_limit;
use crate::kernel::host::{SendError, Watchers};
use crate::kernel::kind::{ProcessKind, Ready};
use crate::kernel::names::NameError;
use crate::kernel::output::GuestLog;
use crate::kernel::pid::Pid;
use crate::kernel::process::Args;
use crate::kernel::stats::ProcessStats;
use crate::kernel::{Kernel, KernelOptions, SpawnError};
use crate::load::cache::CacheStats;
use crate::load::engine::EngineOptions;
use crate::lua::LuaKind;
use crate::registry::{Diagnostics, EntryId, LoadErrors, Problem, Registry, Warning};
use crate::service::{ServiceChange, ServiceError, ServiceStatus, Services};
use crate::value::Value;
use crate::wasm::WasmKind;

/// Fuel per Step when nothing else is configured: ~10-300 µs of guest time (see
/// DESIGN.md), small enough that a spinning guest delays others by at most that.
pub const DEFAULT_FUEL_SLICE: u64 = 100_000;

/// How long dropping a runtime waits for its processes to close, unless set with
/// [`RuntimeBuilder::shutdown_timeout`]: a process closes within one slice of being
/// terminated; only one stuck in a long native call can take longer.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a project's registry comes from: a folder of `_index.yaml` files, or index files
/// held in memory.
///
/// ```
/// use wippy_wasm::Project;
///
/// let yaml = "version: \"1.0\"\nnamespace: app\nentries:\n  - name: terminal\n    kind: terminal.host\n";
/// let project = Project::in_memory(".").with_index("_index.yaml", yaml);
/// let checked = wippy_wasm::Runtime::builder().check(&project);
/// assert!(checked.is_ok(), "{:?}", checked.problems);
/// ```
#[derive(Clone, Debug)]
pub struct Project {
    root: PathBuf,
    /// `None`: read the `_index.yaml` files under `root`.
    files: Option<Vec<(PathBuf, String)>>,
}

impl Project {
    /// Every `_index.yaml` below `folder` (build output, `.git` and `node_modules` are
    /// skipped).
    pub fn folder(folder: impl Into<PathBuf>) -> Self {
        Self {
            root: folder.into(),
            files: None,
        }
    }

    /// A project with no files yet, rooted at `root`: paths in its entries (an
    /// `fs.directory`, a Lua `file://` source) resolve as if its index files were there.
    pub fn in_memory(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            files: Some(Vec::new()),
        }
    }

    /// Adds an index file: `path` (relative to the root) and its YAML. Problems in it are
    /// reported against `path`.
    pub fn with_index(mut self, path: impl Into<PathBuf>, yaml: impl Into<String>) -> Self {
        self.files
            .get_or_insert_with(Vec::new)
            .push((path.into(), yaml.into()));
        self
    }

    /// The folder its paths resolve against.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn registry(&self, diags: &mut Diagnostics) -> Registry {
        match &self.files {
            None => Registry::load_into(&self.root, diags),
            Some(files) => Registry::from_texts(&self.root, files, diags),
        }
    }
}

impl From<&Path> for Project {
    fn from(folder: &Path) -> Self {
        Project::folder(folder)
    }
}

/// Why a runtime did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The project has problems; every one is listed, with its file, entry and field.
    #[error("{0}")]
    Load(#[from] LoadErrors),
    /// wasmtime refused the engine settings (a pool too large for the address space).
    #[error("{0}")]
    Engine(String),
    /// A host's worker thread or its poller could not start.
    #[error("{0}")]
    Host(String),
    /// The cluster could not be joined (no NATS server at the address, bad credentials,
    /// a missing credential variable).
    #[error("{0}")]
    Cluster(String),
}

/// What [`RuntimeBuilder::check`] found: everything `load` would refuse, and the warnings.
#[derive(Debug)]
#[non_exhaustive]
pub struct Checked {
    /// Entries in the registry.
    pub entries: usize,
    /// Entries ready to spawn (wasm and Lua processes that passed every check).
    pub spawnable: usize,
    /// What would make `load` fail; empty if the project would load.
    pub problems: Vec<Problem>,
    /// Fields and kinds that load but do nothing here.
    pub warnings: Vec<Warning>,
    /// What the compile cache did during the check.
    pub cache: CacheStats,
}

impl Checked {
    /// True if the project would load.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Configures and starts a [`Runtime`], in the style of wasmtime's `Config`: each setter
/// takes `&mut self` and returns it for chaining.
///
/// ```
/// use std::time::Duration;
/// use wippy_wasm::{ClockKind, Runtime};
///
/// let mut builder = Runtime::builder();
/// builder
///     .max_instances(16)
///     .fuel_slice(50_000)
///     .clock(ClockKind::Virtual)
///     .shutdown_timeout(Duration::from_secs(1));
/// let rt = builder.load("examples").unwrap();
/// assert!(rt.registry().entries().len() > 1);
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeBuilder {
    engine: EngineOptions,
    fuel_slice: u64,
    clock: ClockKind,
    trace: bool,
    network: bool,
    blocking_files: bool,
    log: GuestLog,
    only: Option<Vec<String>>,
    shutdown_timeout: Duration,
    cluster: Option<ClusterOptions>,
    node: Option<String>,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            engine: EngineOptions::default(),
            fuel_slice: DEFAULT_FUEL_SLICE,
            clock: ClockKind::Real,
            trace: false,
            network: true,
            blocking_files: false,
            log: GuestLog::default(),
            only: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            cluster: None,
            node: None,
        }
    }
}

impl RuntimeBuilder {
    /// The defaults: 10,000 pool slots, [`DEFAULT_FUEL_SLICE`], the real clock, guest
    /// output to this process's stdout and stderr, the compile cache in
    /// `$WIPPY_CACHE_DIR` (else `~/.cache/wippy-wasm`).
    pub fn new() -> Self {
        Self::default()
    }

    /// How hosts that do not set `host.preemption` preempt busy wasm guests: fuel (the
    /// default: deterministic Steps, `limits.fuel` quotas) or epoch interruption (no
    /// metering cost; a Step ends at a 1 ms tick). Each mode in use compiles its own code.
    pub fn preemption(&mut self, preemption: crate::registry::Preemption) -> &mut Self {
        self.engine.preemption = preemption;
        self
    }

    /// Pool slots: the most wasm instances alive at once across the runtime (per
    /// preemption mode in use). WASI 0.3 components run in a pool of their own, a quarter
    /// of this size.
    pub fn max_instances(&mut self, slots: u32) -> &mut Self {
        self.engine.max_instances = slots;
        self
    }

    /// The cap (and virtual reservation) of each linear memory in the pool; 4 GiB by
    /// default, which lets 32-bit memories skip bounds checks. `limits.memory_bytes` caps
    /// real use, pooled or not.
    pub fn max_memory_bytes(&mut self, bytes: u64) -> &mut Self {
        self.engine.max_memory_bytes = bytes;
        self
    }

    /// The wasm stack of every process (1 MiB by default); entries may not ask for less
    /// with `limits.max_stack_bytes`.
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.engine.max_wasm_stack = bytes;
        self
    }

    /// Whether instances come from a pool (the default: spawns are cheaper and memory is
    /// reserved up front) or are allocated on demand, as `wasmtime run` does (what a
    /// runtime that runs one program wants). Either way, a binary the pool cannot hold
    /// (two memories, a huge table) runs on demand.
    pub fn pooling(&mut self, on: bool) -> &mut Self {
        self.engine.pooling = on;
        self
    }

    /// Where compiled code is cached; `None` turns the disk cache off.
    pub fn cache_dir(&mut self, dir: Option<PathBuf>) -> &mut Self {
        self.engine.cache_dir = dir;
        self
    }

    /// Fuel per Step: how long a compute-bound guest runs before others get a turn.
    pub fn fuel_slice(&mut self, fuel: u64) -> &mut Self {
        self.fuel_slice = fuel;
        self
    }

    /// The clock every worker keeps: [`ClockKind::Virtual`] makes timing exact in tests.
    pub fn clock(&mut self, clock: ClockKind) -> &mut Self {
        self.clock = clock;
        self
    }

    /// Whether wasm guests that declare `wasi:sockets` reach the host's network (default
    /// true). With false they are still linked, and may make sockets, but every address
    /// they bind, connect or send to is refused, and names are not looked up: `wasmtime
    /// run` without `-S inherit-network`.
    pub fn network(&mut self, on: bool) -> &mut Self {
        self.network = on;
        self
    }

    /// Whether wasm guests' file operations run on their worker's own thread (default
    /// false: on a helper thread, so that a slow disk stalls only the process that reads
    /// it, not every process on its worker). True saves two thread switches per file call,
    /// which a file-heavy program feels; `wippy run FILE.wasm`, one process, sets it.
    pub fn blocking_files(&mut self, on: bool) -> &mut Self {
        self.blocking_files = on;
        self
    }

    /// Records the order in which each worker runs processes ([`Runtime::trace`]).
    pub fn trace(&mut self, on: bool) -> &mut Self {
        self.trace = on;
        self
    }

    /// Where guests' output goes under a `process.host` (a `terminal.host` writes to the
    /// terminal): see [`GuestLog::capture`] to keep it.
    pub fn guest_output(&mut self, log: GuestLog) -> &mut Self {
        self.log = log;
        self
    }

    /// Compiles only these wasm entries (full IDs): the others cannot be spawned. The
    /// registry is still checked whole, and Lua entries are always made ready.
    pub fn only<S: Into<String>>(&mut self, entries: impl IntoIterator<Item = S>) -> &mut Self {
        self.only = Some(entries.into_iter().map(Into::into).collect());
        self
    }

    /// How long dropping the runtime waits for processes to close before it abandons
    /// them, logging each ([`DEFAULT_SHUTDOWN_TIMEOUT`] unless set).
    pub fn shutdown_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Loads the project in `folder` and starts its hosts (see [`RuntimeBuilder::build`]).
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn load(&self, folder: impl AsRef<Path>) -> Result<Runtime, RuntimeError> {
        self.build(&Project::folder(folder.as_ref()))
    }

    /// Joins a cluster through NATS (as a `cluster.nats` entry would, and in its place
    /// when the project has one): PIDs then carry this node's name, and processes on
    /// other nodes are reached as local ones (see `DESIGN.md`, "Nodes").
    pub fn cluster(&mut self, options: ClusterOptions) -> &mut Self {
        self.cluster = Some(options);
        self
    }

    /// This node's name in the cluster, in place of the one configured (`--node`).
    pub fn node(&mut self, name: impl Into<String>) -> &mut Self {
        self.node = Some(name.into());
        self
    }

    /// The cluster to join, if any: the builder's, else the project's `cluster.nats`
    /// entry, with `node` overriding the name either gives.
    fn cluster_options(&self, registry: &Registry) -> Result<Option<ClusterOptions>, RuntimeError> {
        let entries: Vec<_> = registry
            .entries()
            .iter()
            .filter_map(|e| match &e.config {
                crate::registry::EntryConfig::ClusterNats(c) => Some((e.id.clone(), c)),
                _ => None,
            })
            .collect();
        if entries.len() > 1 {
            return Err(RuntimeError::Cluster(format!(
                "the project has {} cluster.nats entries ({}); a runtime joins one cluster",
                entries.len(),
                entries
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let from_entry = match entries.first() {
            None => None,
            Some((id, c)) => {
                let var = |name: &str| {
                    std::env::var(name).map_err(|_| {
                        RuntimeError::Cluster(format!(
                            "{id}: the credential variable {name} is not set"
                        ))
                    })
                };
                let mut options = ClusterOptions::new(c.urls.clone());
                options.node = c.node.clone();
                options.heartbeat = c.heartbeat;
                options.token = c.token_env.as_deref().map(var).transpose()?;
                options.user = match &c.user_env {
                    Some((u, p)) => Some((var(u)?, var(p)?)),
                    None => None,
                };
                Some(options)
            }
        };
        let mut options = match (&self.cluster, from_entry) {
            (Some(mine), Some(entry)) => {
                let mut merged = entry;
                merged.urls = mine.urls.clone();
                Some(merged)
            }
            (Some(mine), None) => Some(mine.clone()),
            (None, entry) => entry,
        };
        match (&mut options, &self.node) {
            (Some(o), Some(node)) => o.node = Some(node.clone()),
            (None, Some(node)) => {
                return Err(RuntimeError::Cluster(format!(
                    "node name {node:?} given, but no cluster to join: pass --nats or add a cluster.nats entry"
                )))
            }
            _ => {}
        }
        if let Some(node) = options.as_ref().and_then(|o| o.node.as_ref()) {
            if !crate::registry::valid_node_name(node) {
                return Err(RuntimeError::Cluster(format!(
                    "invalid node name {node:?}: 1 to 64 letters, digits, - or _"
                )));
            }
        }
        Ok(options)
    }

    /// Loads `project` (all-or-nothing: its registry, then every entry through its
    /// process kind: binaries verified, compiled and linked, scripts checked) and starts
    /// a host for each `process.host` and `terminal.host`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Load`] with every problem in the project; [`RuntimeError::Engine`]
    /// if wasmtime refuses the engine settings; [`RuntimeError::Host`] if a worker
    /// cannot start.
    pub fn build(&self, project: &Project) -> Result<Runtime, RuntimeError> {
        fd_limit::raise_to_hard_limit();
        let wasm = Arc::new(WasmKind::new(&self.engine).map_err(RuntimeError::Engine)?);
        let lua = LuaKind::default();
        let mut diags = Diagnostics::default();
        let (registry, entries) = self.load_kinds(project, &wasm, &lua, &mut diags);
        if !diags.problems.is_empty() {
            return Err(LoadErrors {
                problems: diags.problems,
            }
            .into());
        }
        let cluster = self.cluster_options(&registry)?;
        let node: Option<Arc<str>> = cluster.as_ref().map(|c| Arc::from(c.node_name()));
        let options = KernelOptions {
            fuel_slice: self.fuel_slice,
            preemption: self.engine.preemption,
            clock: self.clock,
            trace: self.trace,
            network: self.network,
            blocking_files: self.blocking_files,
            log: self.log.clone(),
            shutdown_timeout: self.shutdown_timeout,
            node: node.clone(),
        };
        let kernel = Kernel::start(&registry, entries, options).map_err(RuntimeError::Host)?;
        let cluster = match (cluster, node) {
            (Some(options), Some(node)) => match Cluster::join(&kernel, &options, node) {
                Ok(cluster) => {
                    kernel.attach_remote(cluster.remote());
                    Some(cluster)
                }
                Err(e) => {
                    kernel.shutdown();
                    return Err(RuntimeError::Cluster(e));
                }
            },
            _ => None,
        };
        let services = Arc::new(Services::new(&registry, &kernel));
        lua.attach(&kernel, &services);
        wasm.attach(&kernel);
        Ok(Runtime {
            kernel,
            services,
            registry: Arc::new(registry),
            wasm,
            cluster,
        })
    }

    /// Checks `project` exactly as [`RuntimeBuilder::build`] would load it, without
    /// starting hosts or processes: `wippy check` is this. Like a load, it fills the
    /// compile cache and creates the `fs.directory` folders marked `auto_init`.
    pub fn check(&self, project: &Project) -> Checked {
        // Checking instantiates nothing: one pool slot. The code-generation settings, and
        // so the compile-cache key, stay the same as for a run.
        let mut engine = self.engine.clone();
        engine.max_instances = 1;
        let mut diags = Diagnostics::default();
        let (entries, spawnable, cache) = match WasmKind::new(&engine) {
            Ok(wasm) => {
                let (registry, ready) =
                    self.load_kinds(project, &wasm, &LuaKind::default(), &mut diags);
                let cache = wasm.cache_stats();
                (registry.entries().len(), ready.len(), cache)
            }
            Err(message) => {
                diags.problem(crate::registry::Location::file(project.root()), message);
                (0, 0, CacheStats::default())
            }
        };
        Checked {
            entries,
            spawnable,
            problems: diags.problems,
            warnings: diags.warnings,
            cache,
        }
    }

    /// The registry, then every kind's entries: all in one pass, so one `check` reports
    /// YAML and binary problems together. Kinds skip the entries the registry already
    /// found a problem in (one mistake, one report).
    fn load_kinds(
        &self,
        project: &Project,
        wasm: &WasmKind,
        lua: &LuaKind,
        diags: &mut Diagnostics,
    ) -> (Registry, Ready) {
        let registry = project.registry(diags);
        let only: Option<Vec<EntryId>> = self
            .only
            .as_ref()
            .map(|ids| ids.iter().filter_map(|id| EntryId::parse(id)).collect());
        let kinds: [&dyn ProcessKind; 2] = [wasm, lua];
        let mut entries = Vec::new();
        for kind in kinds {
            entries.extend(kind.load(&registry, only.as_deref(), diags));
        }
        (registry, entries)
    }
}

/// A loaded project with its hosts running. Dropping it (or [`Runtime::shutdown`])
/// terminates every process, lets each Close, and stops every worker.
///
/// Spawn a process, wait for its end, and read how it ended:
///
/// ```
/// use std::time::Duration;
/// use wippy_wasm::{Mailbox, Runtime, Value};
///
/// let rt = Runtime::load("examples").unwrap();
/// let me = Mailbox::new();
/// let args = vec![Value::Int(6), Value::Int(7)];
/// let pid = rt.spawn_monitored(&me, "myns:compute_worker", "myns:processes", args).unwrap();
/// let exit = me.receive(Duration::from_secs(10)).expect("EXIT");
/// assert_eq!(exit.from, pid);
/// assert_eq!(exit.result.value, Value::Int(42));
/// assert!(exit.stats.unwrap().steps >= 1);
/// ```
pub struct Runtime {
    kernel: Arc<Kernel>,
    services: Arc<Services>,
    registry: Arc<Registry>,
    wasm: Arc<WasmKind>,
    cluster: Option<Cluster>,
}

impl Runtime {
    /// A builder with the default settings.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::new()
    }

    /// Loads the project in `folder` with the default settings.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBuilder::build`].
    pub fn load(folder: impl AsRef<Path>) -> Result<Runtime, RuntimeError> {
        RuntimeBuilder::new().load(folder)
    }

    /// The loaded registry: every entry, its kind and configuration.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// What the compile cache did while loading.
    pub fn cache_stats(&self) -> CacheStats {
        self.wasm.cache_stats()
    }

    /// A handle that can stop processes from anywhere (a signal handler) without keeping
    /// the runtime alive.
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle(Arc::downgrade(&self.kernel))
    }

    /// Starts a process of `entry` on `host`; nobody is told when it ends.
    ///
    /// # Errors
    ///
    /// [`SpawnError`]: the entry or host does not exist, or the host is full.
    pub fn spawn(&self, entry: &str, host: &str, args: Vec<Value>) -> Result<Pid, SpawnError> {
        self.kernel
            .spawn(entry, host, args.into(), Watchers::default())
    }

    /// Runs `entry` as a command-line command: `words` are its arguments, converted to
    /// the method's parameters where it takes some, and its WASI argv where the entry
    /// sets none. `mailbox` receives the EXIT event.
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn_command(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        words: &[String],
    ) -> Result<Pid, SpawnError> {
        let args = command_args(words, None);
        self.kernel
            .spawn(entry, host, args, Watchers::monitor(mailbox))
    }

    /// As [`Runtime::spawn_command`], with `program` as the guest's `argv[0]` instead of
    /// its entry's name (`wippy run FILE.wasm` passes the file, as `wasmtime run` does).
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn_program(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        program: &str,
        words: &[String],
    ) -> Result<Pid, SpawnError> {
        let args = command_args(words, Some(program));
        self.kernel
            .spawn(entry, host, args, Watchers::monitor(mailbox))
    }

    /// Starts a process; `mailbox` receives its EXIT event.
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn_monitored(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.kernel
            .spawn(entry, host, args.into(), Watchers::monitor(mailbox))
    }

    /// Starts a process linked to `mailbox`: if it ends abnormally, `mailbox` receives
    /// LINK_DOWN (a normal end sends nothing).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_wasm::{EventKind, Mailbox, Runtime, Value};
    ///
    /// # let yaml = r#"
    /// # version: "1.0"
    /// # namespace: app
    /// # entries:
    /// #   - name: workers
    /// #     kind: process.host
    /// #   - name: crash
    /// #     kind: process.lua
    /// #     source: "return { main = function() error('boom') end }"
    /// #     method: main
    /// #   - name: echo
    /// #     kind: process.lua
    /// #     source: "return { main = function() return require('process').inbox():receive():payload():data() end }"
    /// #     method: main
    /// # "#;
    /// # let project = wippy_wasm::Project::in_memory(".").with_index("_index.yaml", yaml);
    /// # let rt = wippy_wasm::Runtime::builder().build(&project).unwrap();
    /// let me = Mailbox::new();
    /// // `crash` raises an error: the link reports it.
    /// rt.spawn_linked(&me, "app:crash", "app:workers", vec![]).unwrap();
    /// let down = me.receive(Duration::from_secs(10)).expect("LINK_DOWN");
    /// assert_eq!(down.kind, EventKind::LinkDown);
    /// assert!(down.result.error().unwrap().contains("boom"));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Runtime::spawn`].
    pub fn spawn_linked(
        &self,
        mailbox: &Mailbox,
        entry: &str,
        host: &str,
        args: Vec<Value>,
    ) -> Result<Pid, SpawnError> {
        self.kernel
            .spawn(entry, host, args.into(), Watchers::link(mailbox))
    }

    /// Ends a process (running, yielded or parked) with [`ExitReason::Terminated`]
    /// within one slice. False if it had already ended.
    ///
    /// [`ExitReason::Terminated`]: crate::ExitReason::Terminated
    pub fn terminate(&self, pid: &Pid) -> bool {
        self.kernel.terminate(pid)
    }

    /// Asks a process to stop: one that reads events (Lua, a wasm actor) gets CANCEL with
    /// the reason; any other wasm process, which cannot, ends with
    /// [`ExitReason::Cancelled`]. False if it had already ended.
    ///
    /// [`ExitReason::Cancelled`]: crate::ExitReason::Cancelled
    pub fn cancel(&self, pid: &Pid, reason: &str) -> bool {
        self.kernel.cancel(pid, None, reason)
    }

    /// Puts a message in the inbox of `pid`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_wasm::{Mailbox, Runtime, Value};
    ///
    /// # let yaml = r#"
    /// # version: "1.0"
    /// # namespace: app
    /// # entries:
    /// #   - name: workers
    /// #     kind: process.host
    /// #   - name: crash
    /// #     kind: process.lua
    /// #     source: "return { main = function() error('boom') end }"
    /// #     method: main
    /// #   - name: echo
    /// #     kind: process.lua
    /// #     source: "return { main = function() return require('process').inbox():receive():payload():data() end }"
    /// #     method: main
    /// # "#;
    /// # let project = wippy_wasm::Project::in_memory(".").with_index("_index.yaml", yaml);
    /// # let rt = wippy_wasm::Runtime::builder().build(&project).unwrap();
    /// let me = Mailbox::new();
    /// // `echo` (Lua) returns the payload of the first message it receives.
    /// let pid = rt.spawn_monitored(&me, "app:echo", "app:workers", vec![]).unwrap();
    /// rt.send(&pid, "hello", Value::String("hi".into())).unwrap();
    /// let exit = me.receive(Duration::from_secs(10)).expect("EXIT");
    /// assert_eq!(exit.result.value, Value::String("hi".into()));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError`]: the process has ended, reads no messages (a wasm entry without
    /// `wippy:actor`), or its mailbox is full. A refused message is not queued.
    pub fn send(&self, pid: &Pid, topic: &str, payload: Value) -> Result<(), SendError> {
        self.kernel.send(pid, None, topic, payload)
    }

    /// `mailbox` gets EXIT when `pid` ends. False if it has already ended.
    pub fn monitor(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.watch(pid, Watchers::monitor(mailbox))
    }

    /// Undoes [`Runtime::monitor`]. False if `pid` has already ended.
    pub fn unmonitor(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.unmonitor(pid, mailbox)
    }

    /// `mailbox` gets LINK_DOWN if `pid` ends abnormally. False if it has already ended.
    pub fn link(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.watch(pid, Watchers::link(mailbox))
    }

    /// Undoes [`Runtime::link`]. False if `pid` has already ended.
    pub fn unlink(&self, mailbox: &Mailbox, pid: &Pid) -> bool {
        self.kernel.unlink(pid, mailbox, None)
    }

    /// Counters of a live process (`None` once it has ended: its EXIT event carries the
    /// last ones).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_wasm::{Mailbox, Runtime, Value};
    ///
    /// # let yaml = r#"
    /// # version: "1.0"
    /// # namespace: app
    /// # entries:
    /// #   - name: workers
    /// #     kind: process.host
    /// #   - name: crash
    /// #     kind: process.lua
    /// #     source: "return { main = function() error('boom') end }"
    /// #     method: main
    /// #   - name: echo
    /// #     kind: process.lua
    /// #     source: "return { main = function() return require('process').inbox():receive():payload():data() end }"
    /// #     method: main
    /// # "#;
    /// # let project = wippy_wasm::Project::in_memory(".").with_index("_index.yaml", yaml);
    /// # let rt = wippy_wasm::Runtime::builder().build(&project).unwrap();
    /// let me = Mailbox::new();
    /// let pid = rt.spawn_monitored(&me, "app:echo", "app:workers", vec![]).unwrap();
    /// let stats = rt.stats(&pid).expect("alive: it waits for a message");
    /// rt.send(&pid, "bye", Value::Null).unwrap();
    /// me.receive(Duration::from_secs(10)).expect("EXIT");
    /// assert!(rt.stats(&pid).is_none());
    /// assert!(stats.steps() >= 1);
    /// ```
    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.kernel.stats(pid)
    }

    /// Live processes on `host`.
    pub fn live(&self, host: &str) -> usize {
        self.kernel.host(host).map_or(0, |h| h.live())
    }

    /// The PID numbers worker `worker` of `host` ran, one per Step, in order. Empty
    /// unless [`RuntimeBuilder::trace`] is on.
    pub fn trace(&self, host: &str, worker: usize) -> Vec<u64> {
        self.kernel
            .host(host)
            .map(|h| h.trace(worker))
            .unwrap_or_default()
    }

    /// Gives `name` to the live process `pid`: sends and lookups may then use the name.
    /// It is released when the process ends.
    ///
    /// # Errors
    ///
    /// [`NameError`]: the name is taken or invalid, or the process has ended.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), NameError> {
        self.kernel.register(name, pid).wait()
    }

    /// The process holding `name`, if any.
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.kernel.lookup(name)
    }

    /// Frees `name`. False if nobody held it.
    pub fn unregister(&self, name: &str) -> bool {
        self.kernel.unregister(name)
    }

    /// As [`Runtime::send`], to a PID written as text or a registered name.
    ///
    /// # Errors
    ///
    /// As [`Runtime::send`]; [`SendError::NoProcess`] when `target` is neither a PID nor
    /// a registered name.
    pub fn send_to(&self, target: &str, topic: &str, payload: Value) -> Result<(), SendError> {
        let pid = self
            .kernel
            .resolve(target)
            .ok_or_else(|| SendError::NoProcess(target.to_owned()))?;
        self.kernel.send(&pid, None, topic, payload)
    }

    /// The application mode's start: every `process.service` with `lifecycle.auto_start`,
    /// and the services they require, each after what it requires. Returns them in the
    /// order they started.
    ///
    /// # Errors
    ///
    /// [`ServiceError`] for the first service that did not start; those started before
    /// it keep running.
    pub fn start_services(&self) -> Result<Vec<EntryId>, ServiceError> {
        let order = self.services.auto_started();
        self.services.start_in_order(&order)?;
        Ok(order)
    }

    /// Starts the service `id` (and, first, the services it requires) under supervision:
    /// its process is restarted with backoff when it fails. A running service is left
    /// as it is. Returns the services started, in order.
    ///
    /// # Errors
    ///
    /// [`ServiceError`]: no such service, its host is full, or it did not reach Running
    /// within its `start_timeout`.
    pub fn start_service(&self, id: &str) -> Result<Vec<EntryId>, ServiceError> {
        let entry = EntryId::parse(id).ok_or_else(|| ServiceError::Unknown(id.to_owned()))?;
        self.services.start(&entry)
    }

    /// Stops the service `id`: CANCEL to its process, then terminate once its
    /// `stop_timeout` passes. Returns when it is Stopped. False if it was never started.
    pub fn stop_service(&self, id: &str) -> bool {
        EntryId::parse(id).is_some_and(|entry| self.services.stop(&entry))
    }

    /// Stops every started service, in the reverse of the order they started.
    pub fn stop_services(&self) {
        self.services.stop_all();
    }

    /// The state of the service `id`; `None` if it was never started.
    pub fn service(&self, id: &str) -> Option<ServiceStatus> {
        self.services.status(&EntryId::parse(id)?)
    }

    /// Every service started so far, with its state, sorted by ID.
    pub fn services(&self) -> Vec<(EntryId, ServiceStatus)> {
        self.services.all()
    }

    /// Every change of any service's state from now on (what the application mode
    /// prints, one line each).
    pub fn service_changes(&self) -> std::sync::mpsc::Receiver<ServiceChange> {
        self.services.subscribe()
    }

    /// Terminates every process, waits for each to Close (monitors get EXIT with
    /// [`ExitReason::Shutdown`]), and stops every worker; a worker whose processes have
    /// not closed by the shutdown timeout is abandoned with a log line.
    ///
    /// [`ExitReason::Shutdown`]: crate::ExitReason::Shutdown
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.services.stop_all();
        self.kernel.shutdown();
        // After the shutdown: the EXITs of this node's processes go out before its Bye.
        if let Some(cluster) = &self.cluster {
            cluster.leave();
        }
    }
}

/// A command line's words as a process's input: its parameters (as strings, converted to
/// the method's types) and, where its entry sets none, its argv after `program`.
fn command_args(words: &[String], program: Option<&str>) -> Args {
    Args {
        values: words.iter().map(|w| Value::String(w.clone())).collect(),
        words: Some(words.to_vec()),
        program: program.map(str::to_owned),
    }
}

/// A weak handle on a [`Runtime`] (see [`Runtime::handle`]): it can stop processes while
/// the runtime lives, and does nothing after.
#[derive(Clone)]
pub struct RuntimeHandle(Weak<Kernel>);

impl RuntimeHandle {
    /// As [`Runtime::terminate`]; false if the runtime is gone.
    pub fn terminate(&self, pid: &Pid) -> bool {
        self.0.upgrade().is_some_and(|k| k.terminate(pid))
    }
}
