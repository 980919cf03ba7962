//! The YAML shape of each entry kind we implement, as written by the user.
//!
//! Fields the contract calls required are `Option` here so that validation can report
//! every missing one with its SPEC text instead of stopping at serde's first error.
//! Unknown fields are refused (`deny_unknown_fields`) so that typos never pass silently.

use serde::Deserialize;
use serde_yaml_ng::Value;

/// One `_index.yaml`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// `version`: the format version. Only `"1.0"` is known; anything else warns and is
    /// read as `"1.0"`.
    pub version: Option<Value>,
    /// `namespace`: required, without `:`. The namespace of every entry in the file.
    pub namespace: Option<String>,
    /// File-level metadata: free-form, not interpreted.
    #[serde(default, rename = "meta")]
    pub _meta: Option<Value>,
    /// `entries`: each entry as a mapping, parsed one by one. Default none.
    #[serde(default)]
    pub entries: Vec<Value>,
}

/// `fs.directory`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFsDirectory {
    /// `directory`: required. A relative one is taken from the project folder (as Wippy
    /// does), or with `base: module` from the declaring `_index.yaml`'s folder.
    pub directory: Option<String>,
    /// `base`: `module` resolves a relative `directory` against the folder of the
    /// `_index.yaml` that declares it. Unset (or `project`): against the project folder.
    pub base: Option<String>,
    /// `auto_init`: create the folder if it is missing. Default false.
    #[serde(default)]
    pub auto_init: bool,
    /// `mode`: octal permission bits, as a string (`"0755"`, `"0o755"`) or a number whose
    /// digits are read as octal (`755`). Default `0755`.
    pub mode: Option<Value>,
}

/// `process.wasm` and `function.wasm` share this.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasm {
    /// `fs`: required. The `fs.directory` entry holding the binary.
    pub fs: Option<String>,
    /// `path`: required. The `.wasm` file inside that folder.
    pub path: Option<String>,
    /// `hash`: required. `sha256:<hex>` of the file.
    pub hash: Option<String>,
    /// `method`: required. The export to call.
    pub method: Option<String>,
    /// `imports`: host interfaces to link. Default none.
    #[serde(default)]
    pub imports: Vec<String>,
    /// `wasi`: argv, environment, mounts, working folder and stdio.
    #[serde(default)]
    pub wasi: RawWasi,
    /// `limits`: per-process resource limits.
    #[serde(default)]
    pub limits: RawLimits,
    /// `wit`: a WIT signature for a core module's export.
    pub wit: Option<String>,
    /// Link imports no host provides as functions that trap when called (default, as
    /// Wippy does), or with `false`, refuse the entry.
    pub allow_unknown_imports: Option<bool>,
    /// Wippy's function pool settings: accepted for compatibility, not used.
    pub pool: Option<Value>,
    /// Wippy's `transport: payload`: accepted for compatibility, not used.
    pub transport: Option<Value>,
}

/// `wasi`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasi {
    /// `wasi.args`: argv after the program name. Default none.
    #[serde(default)]
    pub args: Vec<String>,
    /// `wasi.cwd`: the initial working folder; must be absolute.
    pub cwd: Option<String>,
    /// `wasi.env`: variables taken from `env.variable` entries. Default none.
    #[serde(default)]
    pub env: Vec<RawWasiEnv>,
    /// `wasi.mounts`: folders preopened in the guest. Default none.
    #[serde(default)]
    pub mounts: Vec<RawMount>,
    /// `wasi.stdio`: `log`, `inherit` or `null`. Unset: the host decides.
    pub stdio: Option<StdioMode>,
}

/// Where a guest's stdin/stdout/stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StdioMode {
    /// Output to the host's log, line by line, tagged with the PID; no stdin.
    Log,
    /// The host process's own stdin, stdout and stderr.
    Inherit,
    /// Nothing in, output discarded.
    Null,
}

/// One `wasi.env` item, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasiEnv {
    /// `id`: required. The `env.variable` entry to read.
    pub id: Option<String>,
    /// `name`: required, unique in the entry. The variable's name in the guest.
    pub name: Option<String>,
    /// `required`: fail the process if the variable has no value. Default false.
    #[serde(default)]
    pub required: bool,
}

/// One `wasi.mounts` item, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMount {
    /// `fs`: required. The `fs.directory` entry to mount.
    pub fs: Option<String>,
    /// `guest`: required, absolute, unique in the entry. Where the guest sees the folder.
    pub guest: Option<String>,
    /// `read_only`: refuse writes. Default false.
    #[serde(default)]
    pub read_only: bool,
}

/// `limits` of a `process.wasm` or `function.wasm` entry. Each is per process.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// `limits.max_execution_ms`: how long the process may run, in milliseconds; it then
    /// ends with `execution time limit exceeded`. Cannot be negative. Unset: no limit.
    pub max_execution_ms: Option<i64>,
    /// `limits.fuel`: the total instruction budget of the process. Unset: unlimited.
    pub fuel: Option<u64>,
    /// `limits.memory_bytes`: the most linear memory the process may grow to. Unset:
    /// 256 MiB.
    pub memory_bytes: Option<u64>,
    /// `limits.max_stack_bytes`: the wasm stack the process may use. The stack is the same
    /// for every process, so a value below the runtime's is refused at load.
    pub max_stack_bytes: Option<u64>,
    /// WASI handles (files, directories, sockets, streams) open at once.
    pub max_open_files: Option<u32>,
}

/// `process.host`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcessHost {
    /// `host`: workers and capacity.
    #[serde(default)]
    pub host: RawHostOptions,
    /// `lifecycle`: accepted as written.
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

/// The `host` block of a `process.host` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostOptions {
    /// `host.workers`: worker threads. Unset: one per core; `0` counts as one.
    pub workers: Option<usize>,
    /// Wippy's bounded spawn queue: accepted, not used (our queues are unbounded).
    pub queue_size: Option<usize>,
    /// Upper bound on live processes of this host: a spawn beyond it fails.
    pub max_processes: Option<u32>,
    /// Unread messages a process of this host may hold before sends to it fail.
    pub mailbox_size: Option<u32>,
    /// `host.preemption`: `fuel` or `epoch` (ours, not Wippy's). Unset: the runtime's
    /// default (`RuntimeBuilder::preemption`, fuel unless set).
    pub preemption: Option<String>,
}

/// `cluster.nats`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClusterNats {
    /// One server address, or a list.
    pub url: Option<OneOrMore>,
    /// This runtime's node name.
    pub node: Option<String>,
    /// `heartbeat`: a duration such as `"1s"`.
    pub heartbeat: Option<String>,
    /// The variable holding a token.
    pub token_env: Option<String>,
    /// The variable holding a user name.
    pub user_env: Option<String>,
    /// The variable holding a password.
    pub password_env: Option<String>,
    /// Accepted as written.
    #[serde(default, rename = "lifecycle")]
    pub _lifecycle: Option<Value>,
}

/// One string, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMore {
    /// A single one.
    One(String),
    /// Several.
    More(Vec<String>),
}

/// `terminal.host`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTerminalHost {
    /// Wippy's `hide_logs` (its own log lines off the terminal): accepted; ours are off
    /// the terminal unless `WIPPY_LOG` asks for them.
    #[serde(default, rename = "hide_logs")]
    pub _hide_logs: Option<bool>,
    /// `lifecycle`: accepted as written.
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

/// `lifecycle` of a host or a service (SPEC §8). Durations are strings such as
/// `"500ms"`, `"5s"`, `"1m"`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    /// `auto_start`: start it in application mode (`wippy run` with no command). Default
    /// false.
    #[serde(default)]
    pub auto_start: bool,
    /// `start_timeout`: how long starting may take before it counts as a failure.
    pub start_timeout: Option<String>,
    /// `stop_timeout`: how long to wait after CANCEL before terminating.
    pub stop_timeout: Option<String>,
    /// `requires` (Wippy's older spelling: `depends_on`): IDs of the entries started
    /// before this one and stopped after it. Default none.
    #[serde(default, alias = "depends_on")]
    pub requires: Vec<String>,
    /// `stable_threshold`: running this long resets the restart counter.
    pub stable_threshold: Option<String>,
    /// `restart`: the backoff between restarts after a failure.
    pub restart: Option<RawRestart>,
    /// `security`: Wippy's security settings. Accepted, not interpreted.
    pub security: Option<Value>,
}

/// `lifecycle.restart`, as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    /// `restart.max_attempts`: restarts before giving up; `0` means unlimited.
    pub max_attempts: Option<u32>,
    /// `restart.initial_delay`: the first backoff delay.
    pub initial_delay: Option<String>,
    /// `restart.max_delay`: the longest backoff delay.
    pub max_delay: Option<String>,
    /// `restart.backoff_factor`: each delay is the previous one times this.
    pub backoff_factor: Option<f64>,
    /// `restart.jitter`: each delay is spread at random by up to this fraction.
    pub jitter: Option<f64>,
}

/// `env.variable`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvVariable {
    /// `variable`: the variable's name in its storage. Default: the entry's name (as
    /// in Wippy).
    pub variable: Option<String>,
    /// `storage`: the `env.storage.*` entry to read. Unset: the OS environment.
    pub storage: Option<String>,
    /// `default`: the value when the storage has none.
    pub default: Option<String>,
    /// `read_only` (Wippy spells it `readonly`). Default false.
    #[serde(default, alias = "readonly")]
    pub read_only: bool,
}

/// `env.storage.os`: only Wippy's `lifecycle`, accepted (storages have no life here).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageOs {
    /// Accepted, not used.
    #[serde(default, rename = "lifecycle")]
    pub _lifecycle: Option<Value>,
}

/// `env.storage.static` and `env.storage.memory`: a fixed set of values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageValues {
    /// `values`: variable name to value. Default empty.
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
    /// Accepted, not used.
    #[serde(default, rename = "lifecycle")]
    pub _lifecycle: Option<Value>,
}

/// `env.storage.file`: a `KEY=VALUE` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageFile {
    /// `file_path`: required; relative to the project root.
    pub file_path: Option<String>,
    /// `auto_create`: create the file when it is missing. Default false.
    #[serde(default)]
    pub auto_create: bool,
    /// `file_mode`: the mode of a created file (octal, e.g. `0600`). Default 0644.
    pub file_mode: Option<Value>,
    /// Accepted, not used.
    #[serde(default, rename = "lifecycle")]
    pub _lifecycle: Option<Value>,
}

/// `env.storage.router`: storages searched in order; writes go to the first.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageRouter {
    /// `storages`: the `env.storage.*` entries, in search order.
    #[serde(default)]
    pub storages: Vec<String>,
    /// Accepted, not used.
    #[serde(default, rename = "lifecycle")]
    pub _lifecycle: Option<Value>,
}

/// `process.lua`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLua {
    /// `source`: required. `file://<path>` (relative to the `_index.yaml`'s folder) or
    /// inline Lua code.
    pub source: Option<String>,
    /// `method`: the function to call. Default `main`.
    pub method: Option<String>,
    /// `modules`: Lua modules the script uses. Default none. Not used yet.
    #[serde(default)]
    pub modules: Vec<String>,
    /// Wippy's Lua library imports: accepted, resolved by the Lua issue.
    #[serde(default, rename = "imports")]
    pub _imports: Option<Value>,
}

/// `process.service`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// `process`: required. The process entry to run.
    pub process: Option<String>,
    /// `host`: required. The `process.host` to run it on.
    pub host: Option<String>,
    /// `input`: the process's arguments. Default none.
    #[serde(default)]
    pub input: Vec<Value>,
    /// `lifecycle`: auto start, start order, timeouts and restart policy.
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

/// `meta.command`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    /// `name`: required. The word after `wippy run`.
    pub name: Option<String>,
    /// `short`: a one-line description for `wippy run list`.
    pub short: Option<String>,
    /// Wippy's `main`, `use_case` and `security`: accepted, not used.
    #[serde(default, rename = "main")]
    pub _main: Option<Value>,
    /// See `main`.
    #[serde(default, rename = "use_case")]
    pub _use_case: Option<Value>,
    /// See `main`.
    #[serde(default, rename = "security")]
    pub _security: Option<Value>,
}
