//! Validated, resolved entry configurations: what the rest of the runtime works with.
//! Every reference is a full [`EntryId`]; a relative `fs.directory` is joined onto the
//! project folder (as Wippy does), every other relative path onto the folder of the
//! `_index.yaml` that declares it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::id::EntryId;
use super::raw::{RawLifecycle, RawLimits, StdioMode};

/// A validated registry entry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Entry {
    /// The full ID: the file's `namespace` and the entry's `name`.
    pub id: EntryId,
    /// `kind` as written, e.g. `process.wasm`, also for kinds this runtime does not implement.
    pub kind: String,
    /// The `_index.yaml` that declares it.
    pub file: PathBuf,
    /// `meta.command`, if set.
    pub command: Option<Command>,
    /// `meta` as written: free-form, `meta.command` included.
    pub meta: Option<serde_yaml_ng::Value>,
    /// The kind's own configuration.
    pub config: EntryConfig,
}

/// `meta.command`: makes an entry runnable as `wippy run <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Command {
    /// `meta.command.name`: the word after `wippy run`. Unique in the project.
    pub name: String,
    /// `meta.command.short`: a one-line description, shown by `wippy run list`.
    pub short: Option<String>,
}

/// The configuration of an entry, by kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EntryConfig {
    /// `fs.directory`.
    FsDirectory(FsDirectory),
    /// `process.wasm` or `function.wasm`.
    Wasm(WasmEntry),
    /// `process.host`.
    ProcessHost(ProcessHost),
    /// `terminal.host`.
    TerminalHost(TerminalHost),
    /// `env.variable`.
    EnvVariable(EnvVariable),
    /// `env.storage.os`, `env.storage.static` or `env.storage.memory`.
    EnvStorage(EnvStorage),
    /// `process.lua`.
    Lua(LuaEntry),
    /// `process.service`.
    Service(ServiceEntry),
    /// `cluster.nats`: this runtime is a node of a cluster that talks through NATS.
    ClusterNats(ClusterNats),
    /// A kind this runtime does not implement: kept so references to it resolve.
    Inert,
}

/// `fs.directory`: a host folder that binaries are read from and `wasi.mounts` expose.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FsDirectory {
    /// `directory`. A relative one is joined onto the project folder (as Wippy does; with
    /// `base: module`, onto the declaring `_index.yaml`'s folder), so it is absolute only
    /// if the project folder was given as an absolute path.
    pub directory: PathBuf,
    /// `auto_init`: create the folder, with its parents, if it is missing when a binary is
    /// read from it. Default false.
    pub auto_init: bool,
    /// `mode`: permission bits, written in octal (`"0755"`); at most `0o7777`. Default
    /// `0o755`. Checked at load, not yet applied to the folders `auto_init` creates.
    pub mode: u32,
}

/// `process.wasm` or `function.wasm`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WasmEntry {
    /// `true` for `function.wasm`, `false` for `process.wasm`.
    pub function: bool,
    /// `fs`: the `fs.directory` entry holding the binary.
    pub fs: EntryId,
    /// `path`: the `.wasm` file inside that folder; it cannot escape it (`..`, symlinks).
    pub path: String,
    /// `hash`: `sha256:<64 hex digits>`, checked before anything reads the binary.
    pub hash: String,
    /// `method`: the export to call; a component's interface export is `iface#func`.
    pub method: String,
    /// `imports`: the host interfaces to link, as written (version suffix kept); each is
    /// one of [`KNOWN_IMPORTS`](super::KNOWN_IMPORTS).
    pub imports: Vec<String>,
    /// `wasi`: the guest's argv, environment, mounts, working folder and stdio.
    pub wasi: WasiConfig,
    /// `limits`: per-process resource limits.
    pub limits: RawLimits,
    /// `wit`: a WIT signature for a core module's export, e.g.
    /// `compute: func(a: s32, b: s32) -> s32`.
    pub wit: Option<String>,
    /// `allow_unknown_imports`: link imports that no host provides as functions that trap
    /// when called (with one load warning naming them), as Wippy does; `false` refuses the
    /// entry instead. WASI and `wippy:actor` stay gated by `imports` either way. Default
    /// true.
    pub allow_unknown_imports: bool,
}

/// `wasi`: what a wasm guest sees of the host.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WasiConfig {
    /// `wasi.args`: argv after the program name (the entry's name). When empty, `wippy run`
    /// passes the words after the command name.
    pub args: Vec<String>,
    /// `wasi.cwd`: the initial working folder, absolute. Also set as `PWD` unless
    /// `wasi.env` names `PWD`.
    pub cwd: Option<String>,
    /// `wasi.env`: environment variables, each read from an `env.variable` entry.
    pub env: Vec<EnvBinding>,
    /// `wasi.mounts`: `fs.directory` folders preopened in the guest. Nothing else is visible.
    pub mounts: Vec<Mount>,
    /// `None`: the host decides (the terminal for `terminal.host`, the log otherwise).
    pub stdio: Option<StdioMode>,
}

/// One `wasi.env` item: an `env.variable` entry exposed to the guest under a name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvBinding {
    /// `id`: the `env.variable` entry to read. If there is none, the load warns and the
    /// variable is unset.
    pub id: EntryId,
    /// `name`: the variable's name in the guest. Unique in the entry.
    pub name: String,
    /// `required`: a process starts only if the variable has a value; otherwise it fails
    /// with `required wasi env variable not found: <id>`. Default false.
    pub required: bool,
}

/// One `wasi.mounts` item: an `fs.directory` folder preopened in the guest.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Mount {
    /// `fs`: the `fs.directory` entry to mount.
    pub fs: EntryId,
    /// `guest`: the absolute path the guest sees it at. Unique in the entry.
    pub guest: String,
    /// `read_only`: refuse writes. Default false.
    pub read_only: bool,
}

/// `process.host`: a pool of worker threads that runs processes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProcessHost {
    /// Worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// `host.max_processes`: live processes at most; a spawn beyond it fails. `None`: the
    /// runtime's default (10,000). Never 0.
    pub max_processes: Option<u32>,
    /// `host.mailbox_size`: unread messages a process may hold before sends to it fail.
    /// `None`: the runtime's default (4096). Never 0.
    pub mailbox_size: Option<u32>,
    /// `host.preemption`: how a busy guest is made to yield. `None`: the runtime's default.
    pub preemption: Option<Preemption>,
    /// `lifecycle`, as written. Not acted on: every host starts with the runtime.
    pub lifecycle: RawLifecycle,
}

/// How a host's wasm processes are preempted (`host.preemption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Preemption {
    /// Fuel: every Step is a fixed count of wasm instructions, so scheduling is
    /// deterministic and `limits.fuel` quotas work; metering costs up to ~1.6x on
    /// tight loops (BENCHMARKS.md row 4).
    #[default]
    Fuel,
    /// Epoch interruption: a Step ends when a 1 ms clock tick passes. No metering cost
    /// (only a check at loop heads and calls), but where a Step ends depends on timing,
    /// and `limits.fuel` cannot be counted.
    Epoch,
}

impl Preemption {
    /// The name as YAML and the CLI write it.
    pub fn name(self) -> &'static str {
        match self {
            Preemption::Fuel => "fuel",
            Preemption::Epoch => "epoch",
        }
    }
}

/// `cluster.nats`: join a cluster of runtimes through NATS servers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterNats {
    /// `url`: one NATS server address or several (`nats://127.0.0.1:4222`).
    pub urls: Vec<String>,
    /// `node`: this runtime's node name. `None`: the machine's host name.
    pub node: Option<String>,
    /// `heartbeat`: how often this node says it is alive. A node silent for 3 heartbeats
    /// is declared down. Default 1 s.
    pub heartbeat: std::time::Duration,
    /// `token_env`: the OS environment variable that holds the server's token.
    pub token_env: Option<String>,
    /// `user_env` and `password_env`: the variables that hold a user and a password.
    pub user_env: Option<(String, String)>,
}

/// `terminal.host`: the host that `wippy run` runs a command on, with the terminal as
/// the guest's stdio.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TerminalHost {
    /// `lifecycle`, as written. Not acted on: every host starts with the runtime.
    pub lifecycle: RawLifecycle,
}

/// `env.variable`: a named value, read once at load from its storage.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnvVariable {
    /// `variable`: the variable's name in its storage.
    pub variable: String,
    /// `None`: the host's OS environment.
    pub storage: Option<EntryId>,
    /// `default`: the value when the storage has none.
    pub default: Option<String>,
    /// `read_only` (Wippy: `readonly`): Lua's `env.set` refuses it. Default false.
    pub read_only: bool,
}

/// An `env.storage.*` entry: where `env.variable` entries read (and Lua's `env.set`
/// writes) their values.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EnvStorage {
    /// `env.storage.os`: the environment of the `wippy` process. Read-only.
    Os,
    /// `env.storage.static`: its `values` mapping, by variable name. Read-only.
    Static(BTreeMap<String, String>),
    /// `env.storage.memory`: starts from its `values`; writes last until the runtime ends.
    Memory(BTreeMap<String, String>),
    /// `env.storage.file`: a `KEY=VALUE` file (`#` comments), rewritten on writes.
    File {
        /// `file_path`, resolved against the project root.
        path: PathBuf,
        /// `auto_create`: create the file on first read when it is missing.
        auto_create: bool,
        /// `file_mode` of a created file.
        mode: u32,
    },
    /// `env.storage.router`: storages searched in order; writes go to the first.
    Router(Vec<EntryId>),
}

/// `source` of a `process.lua` entry: where its script comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum LuaSource {
    /// `file://<path>`: a script file. The path is joined onto the declaring
    /// `_index.yaml`'s folder and must stay inside the project.
    File(PathBuf),
    /// Any other `source`: the Lua code itself.
    Inline(String),
}

/// `process.lua` (or `function.lua`): a Lua script run as a process.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LuaEntry {
    /// `true` for `function.lua` (called through `funcs.call`), `false` for `process.lua`.
    pub function: bool,
    /// `source`: the script.
    pub source: LuaSource,
    /// `method`: the function to call, a field of the table the script returns or else a
    /// global. Default `main`.
    pub method: String,
    /// `modules`: the library modules the script may `require` (and finds as globals)
    /// beyond those every script has.
    pub modules: Vec<String>,
}

/// `process.service`: a process entry run and restarted under supervision (SPEC §8).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceEntry {
    /// `process`: the `process.wasm` or `process.lua` entry to run.
    pub process: EntryId,
    /// `host`: the `process.host` to run it on.
    pub host: EntryId,
    /// `input`: the arguments passed to the process. Default none.
    pub input: Vec<serde_yaml_ng::Value>,
    /// `lifecycle`: auto start, start order, timeouts and restart policy.
    pub lifecycle: ServiceLifecycle,
}

/// A service's `lifecycle`, with Wippy's defaults filled in (SPEC §8).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ServiceLifecycle {
    /// `auto_start`: started by the application mode (`wippy run` with no command).
    /// Default false.
    pub auto_start: bool,
    /// `requires` (alias `depends_on`): entries started before this one and stopped after
    /// it. Services among them are started (even without `auto_start`); hosts always run.
    pub requires: Vec<EntryId>,
    /// `start_timeout`: how long the application mode waits for the service to be
    /// Running. Default 10 s.
    pub start_timeout: Duration,
    /// `stop_timeout`: after CANCEL, how long its process has to end before it is
    /// terminated. Default 10 s.
    pub stop_timeout: Duration,
    /// `stable_threshold`: a process that ran this long before failing starts the
    /// backoff over. Default 5 s.
    pub stable_threshold: Duration,
    /// `restart`: the backoff between restarts.
    pub restart: RestartPolicy,
}

/// `lifecycle.restart`: exponential backoff after a failure.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// `initial_delay`: the delay before the first restart. Default 1 s.
    pub initial_delay: Duration,
    /// `max_delay`: no delay is longer. Default 90 s.
    pub max_delay: Duration,
    /// `backoff_factor`: each delay is the previous one times this (at least 1).
    /// Default 2.
    pub backoff_factor: f64,
    /// `jitter`: each delay is spread at random by up to this fraction either way, so
    /// services that failed together do not restart together (0 to 1; 0 is exact).
    /// Default 0.1.
    pub jitter: f64,
    /// `max_attempts`: restarts after failures in a row before the service is left
    /// Failed; 0 means no limit. Default 0.
    pub max_attempts: u32,
}

impl Default for ServiceLifecycle {
    fn default() -> Self {
        Self {
            auto_start: false,
            requires: Vec::new(),
            start_timeout: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(10),
            stable_threshold: Duration::from_secs(5),
            restart: RestartPolicy::default(),
        }
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(90),
            backoff_factor: 2.0,
            jitter: 0.1,
            max_attempts: 0,
        }
    }
}

impl RestartPolicy {
    /// The delay before restart number `attempt` (1 for the first), before jitter:
    /// `initial_delay * backoff_factor^(attempt-1)`, capped at `max_delay`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        // A zero first delay stays zero (0 × ∞, from a factor raised past f64's range,
        // would be NaN).
        if self.initial_delay.is_zero() {
            return Duration::ZERO;
        }
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let secs = self.initial_delay.as_secs_f64() * self.backoff_factor.powi(exponent);
        let max = self.max_delay.as_secs_f64();
        Duration::from_secs_f64(if secs.is_finite() { secs.min(max) } else { max })
    }

    /// [`RestartPolicy::base_delay`] spread by `jitter`; `unit` is a random number in
    /// `[0, 1)` (0.5 keeps the delay as it is).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        let spread = 1.0 + self.jitter * (2.0 * unit - 1.0);
        Duration::from_secs_f64((base * spread).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::RestartPolicy;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_to_its_cap_and_a_zero_delay_stays_zero_forever() {
        let policy = RestartPolicy::default();
        let secs: Vec<u64> = [1, 2, 3, 4, 7, 8, 100, u32::MAX]
            .iter()
            .map(|&n| policy.base_delay(n).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 64, 90, 90, 90]);
        let zero = RestartPolicy {
            initial_delay: Duration::ZERO,
            ..RestartPolicy::default()
        };
        for attempt in [1, 1025, 5000, u32::MAX] {
            assert_eq!(zero.base_delay(attempt), Duration::ZERO);
        }
        // Jitter spreads either way by at most its fraction.
        assert_eq!(policy.delay(1, 0.0), Duration::from_millis(900));
        assert_eq!(policy.delay(1, 0.5), Duration::from_secs(1));
    }
}
