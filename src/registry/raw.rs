//! The YAML shape of each entry kind we implement, as written by the user.
//!
//! Fields the contract calls required are `Option` here so that validation can report
//! every missing one with its SPEC text instead of stopping at serde's first error.
//! Unknown fields are refused (`deny_unknown_fields`) so that typos never pass silently.

use serde::Deserialize;
use serde_yaml::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub version: Option<Value>,
    pub namespace: Option<String>,
    /// File-level metadata: free-form, not interpreted.
    #[serde(default, rename = "meta")]
    pub _meta: Option<Value>,
    #[serde(default)]
    pub entries: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFsDirectory {
    pub directory: Option<String>,
    #[serde(default)]
    pub auto_init: bool,
    pub mode: Option<Value>,
}

/// `process.wasm` and `function.wasm` share this.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasm {
    pub fs: Option<String>,
    pub path: Option<String>,
    pub hash: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub imports: Vec<String>,
    #[serde(default)]
    pub wasi: RawWasi,
    #[serde(default)]
    pub limits: RawLimits,
    pub wit: Option<String>,
    /// Let imports no host provides trap when called instead of failing the load.
    #[serde(default)]
    pub allow_unknown_imports: bool,
    /// Wippy's function pool settings: accepted for compatibility, not used.
    pub pool: Option<Value>,
    /// Wippy's `transport: payload`: accepted for compatibility, not used.
    pub transport: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasi {
    #[serde(default)]
    pub args: Vec<String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: Vec<RawWasiEnv>,
    #[serde(default)]
    pub mounts: Vec<RawMount>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWasiEnv {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMount {
    pub fs: Option<String>,
    pub guest: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_execution_ms: Option<i64>,
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub max_stack_bytes: Option<u64>,
    /// WASI handles (files, directories, sockets, streams) open at once.
    pub max_open_files: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcessHost {
    #[serde(default)]
    pub host: RawHostOptions,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHostOptions {
    pub workers: Option<usize>,
    /// Wippy's bounded spawn queue: accepted, not used (our queues are unbounded).
    pub queue_size: Option<usize>,
    /// Upper bound on live processes of this host: a spawn beyond it fails.
    pub max_processes: Option<u32>,
    /// Unread messages a process of this host may hold before sends to it fail.
    pub mailbox_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTerminalHost {
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    #[serde(default)]
    pub auto_start: bool,
    pub start_timeout: Option<String>,
    pub stop_timeout: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub restart: Option<RawRestart>,
    pub security: Option<Value>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub max_attempts: Option<u32>,
    pub initial_delay: Option<String>,
    pub max_delay: Option<String>,
    pub backoff_factor: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvVariable {
    pub variable: Option<String>,
    pub storage: Option<String>,
    pub default: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageOs {}

/// `env.storage.static` and `env.storage.memory`: a fixed set of values.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnvStorageValues {
    #[serde(default)]
    pub values: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLua {
    pub source: Option<String>,
    pub method: Option<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    /// Wippy's Lua library imports: accepted, resolved by the Lua issue.
    #[serde(default, rename = "imports")]
    pub _imports: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub process: Option<String>,
    pub host: Option<String>,
    #[serde(default)]
    pub input: Vec<Value>,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub name: Option<String>,
    pub short: Option<String>,
}
