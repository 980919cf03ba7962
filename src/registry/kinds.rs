//! Validated, resolved entry configurations: what the rest of the runtime works with.
//! Every reference is a full [`EntryId`]; every path is absolute.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::raw::{RawLifecycle, RawLimits, StdioMode};
use super::EntryId;

/// A validated registry entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: EntryId,
    pub kind: String,
    /// The `_index.yaml` that declares it.
    pub file: PathBuf,
    pub command: Option<Command>,
    pub meta: Option<serde_yaml::Value>,
    pub config: EntryConfig,
}

/// `meta.command`: makes an entry runnable as `wippy run <name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub short: Option<String>,
}

#[derive(Debug, Clone)]
pub enum EntryConfig {
    FsDirectory(FsDirectory),
    Wasm(WasmEntry),
    ProcessHost(ProcessHost),
    TerminalHost(TerminalHost),
    EnvVariable(EnvVariable),
    EnvStorage(EnvStorage),
    Lua(LuaEntry),
    Service(ServiceEntry),
    /// A kind this runtime does not implement: kept so references to it resolve.
    Inert,
}

#[derive(Debug, Clone)]
pub struct FsDirectory {
    /// Absolute: relative paths are taken from the declaring `_index.yaml`'s folder.
    pub directory: PathBuf,
    pub auto_init: bool,
    pub mode: u32,
}

/// `process.wasm` or `function.wasm`.
#[derive(Debug, Clone)]
pub struct WasmEntry {
    pub function: bool,
    pub fs: EntryId,
    pub path: String,
    pub hash: String,
    pub method: String,
    pub imports: Vec<String>,
    pub wasi: WasiConfig,
    pub limits: RawLimits,
    pub wit: Option<String>,
    pub allow_unknown_imports: bool,
}

#[derive(Debug, Clone, Default)]
pub struct WasiConfig {
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<EnvBinding>,
    pub mounts: Vec<Mount>,
    /// `None`: the host decides (the terminal for `terminal.host`, the log otherwise).
    pub stdio: Option<StdioMode>,
}

#[derive(Debug, Clone)]
pub struct EnvBinding {
    pub id: EntryId,
    pub name: String,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub fs: EntryId,
    pub guest: String,
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub struct ProcessHost {
    /// Worker threads; `None` means one per core.
    pub workers: Option<usize>,
    pub max_processes: Option<u32>,
    pub mailbox_size: Option<u32>,
    pub lifecycle: RawLifecycle,
}

#[derive(Debug, Clone)]
pub struct TerminalHost {
    pub lifecycle: RawLifecycle,
}

#[derive(Debug, Clone)]
pub struct EnvVariable {
    pub variable: String,
    /// `None`: the host's OS environment.
    pub storage: Option<EntryId>,
    pub default: Option<String>,
    pub read_only: bool,
}

#[derive(Debug, Clone)]
pub enum EnvStorage {
    Os,
    Values(BTreeMap<String, String>),
}

#[derive(Debug, Clone)]
pub enum LuaSource {
    File(PathBuf),
    Inline(String),
}

#[derive(Debug, Clone)]
pub struct LuaEntry {
    pub source: LuaSource,
    pub method: String,
    pub modules: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub process: EntryId,
    pub host: EntryId,
    pub input: Vec<serde_yaml::Value>,
    pub lifecycle: RawLifecycle,
}
