//! Building a process's WASI context from its entry: args, env, cwd, mounts.

use std::collections::HashMap;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::clocks::ExecutorClock;
use super::prepared::Prepared;
use super::state::Wasi;
use crate::kernel::output::Stream;
use crate::kernel::pid::Pid;
use crate::kernel::process::{Args, RunSettings};
use crate::registry::{EntryConfig, EntryId, Registry, StdioMode};

/// The values `env.variable` entries resolve to, and where each mount lives on the host.
pub struct EnvSource {
    variables: HashMap<EntryId, String>,
    dirs: HashMap<EntryId, std::path::PathBuf>,
}

impl EnvSource {
    /// Reads every variable once, at load: OS storages from the host environment,
    /// static and memory storages from their `values`, then the entry's `default`.
    pub fn from_registry(registry: &Registry) -> Self {
        let store = crate::env_store::EnvStore::from_registry(registry);
        let mut variables = HashMap::new();
        let mut dirs = HashMap::new();
        for entry in registry.entries() {
            match &entry.config {
                EntryConfig::EnvVariable(_) => {
                    if let Some(value) = store.value(&entry.id) {
                        variables.insert(entry.id.clone(), value);
                    }
                }
                EntryConfig::FsDirectory(fs) => {
                    dirs.insert(entry.id.clone(), fs.directory.clone());
                }
                _ => {}
            }
        }
        Self { variables, dirs }
    }
}

pub fn build_wasi(
    prepared: &Prepared,
    env: &EnvSource,
    preview2: bool,
    settings: &RunSettings,
    pid: &Pid,
    args: &Args,
) -> Result<Wasi, String> {
    let wasi = &prepared.config.wasi;
    let mut b = WasiCtxBuilder::new();
    b.allow_blocking_current_thread(settings.blocking_files);
    b.arg(args.program.as_deref().unwrap_or(prepared.id.name()));
    match args.words.as_deref() {
        Some(words) if wasi.args.is_empty() => b.args(words),
        _ => b.args(&wasi.args),
    };
    for binding in &wasi.env {
        match env.variables.get(&binding.id) {
            Some(value) => {
                b.env(&binding.name, value);
            }
            None if binding.required => {
                return Err(format!(
                    "required wasi env variable not found: {}",
                    binding.id
                ));
            }
            None => {}
        }
    }
    if let Some(cwd) = &wasi.cwd {
        // Preview 2 has `initial-cwd`; preview 1 has no cwd call, and the convention
        // toolchains read (Go's wasip1, for one) is `PWD`.
        b.initial_cwd(cwd);
        if !wasi.env.iter().any(|e| e.name == "PWD") {
            b.env("PWD", cwd);
        }
    }
    for mount in &wasi.mounts {
        let dir = env
            .dirs
            .get(&mount.fs)
            .ok_or_else(|| format!("wasi mount filesystem not found: {}", mount.fs))?;
        let perms = if mount.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(dir, &mount.guest, perms)
            .map_err(|e| format!("cannot mount {} at {}: {e}", dir.display(), mount.guest))?;
    }
    let host_default = if settings.inherit_stdio {
        StdioMode::Inherit
    } else {
        StdioMode::Log
    };
    match wasi.stdio.unwrap_or(host_default) {
        StdioMode::Inherit => {
            b.inherit_stdio();
        }
        StdioMode::Log => {
            b.stdout(settings.log.stream(pid, Stream::Stdout));
            b.stderr(settings.log.stream(pid, Stream::Stderr));
        }
        StdioMode::Null => {}
    }
    // Guests sleep and read time on the executor's clock (virtual in tests).
    b.monotonic_clock(ExecutorClock);
    // Sockets (and so HTTP through them) only for guests that declared them. wasmtime-wasi
    // denies TCP and UDP unless allowed, whatever the address check says; without the
    // network, sockets can be made but every address is refused (its default check).
    let declared = crate::load::imports::Declared::new(&prepared.config.imports);
    if declared.sockets() {
        b.allow_tcp(true).allow_udp(true);
        if settings.network {
            b.inherit_network().allow_ip_name_lookup(true);
        }
    }
    // Every WASI handle (file, directory, socket, stream, pollable) is an entry of the
    // process's resource table: capping the table caps what one guest can hold open, so
    // it cannot take every descriptor the host has.
    let max_open = max_open_files(&prepared.config.limits);
    Ok(if preview2 {
        let mut table = wasmtime::component::ResourceTable::new();
        table.set_max_capacity(max_open);
        Wasi::P2 {
            ctx: Box::new(b.build()),
            table,
        }
    } else {
        let mut p1 = Box::new(b.build_p1());
        wasmtime_wasi::WasiView::ctx(&mut *p1)
            .table
            .set_max_capacity(max_open);
        Wasi::P1(p1)
    })
}

/// Handles a process may hold open when `limits.max_open_files` is not set.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1024;

pub fn max_open_files(limits: &crate::registry::RawLimits) -> usize {
    limits
        .max_open_files
        .map_or(DEFAULT_MAX_OPEN_FILES, |n| n as usize)
}
