//! Turns one YAML entry into a validated [`Entry`], recording every problem it has.

use std::collections::HashSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::diagnostics::{Diagnostics, Location};
use super::id::EntryId;
use super::kinds::*;
use super::raw::*;

/// Host interfaces an entry may list in `imports` (SPEC §2). Version suffixes are ignored.
pub const KNOWN_IMPORTS: &[&str] = &[
    "wasi:cli",
    "wasi:io",
    "wasi:poll",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:random",
    "wasi:sockets",
    "wasi:http",
    "wasi1",
    "wasi_snapshot_preview1",
    "wippy:actor",
];

/// Strips a `@version` suffix: `wasi:io@0.2.3` is `wasi:io`.
pub fn import_base(import: &str) -> &str {
    import.split('@').next().unwrap_or(import).trim()
}

/// Context for parsing the entries of one file.
pub struct EntryParser<'a> {
    /// The project folder: a relative `fs.directory` is taken from it.
    pub root: &'a Path,
    /// The `_index.yaml` being read: other relative paths are taken from its folder.
    pub file: &'a Path,
    /// The file's `namespace`: entry IDs and bare references use it.
    pub namespace: &'a str,
    /// Where problems and warnings go.
    pub diags: &'a mut Diagnostics,
}

impl EntryParser<'_> {
    /// Parses one entry. Returns `None` if it is too broken to be named.
    pub fn parse(&mut self, index: usize, value: Value) -> Option<Entry> {
        let here = Location::file(self.file).with_field(format!("entries[{index}]"));
        let Value::Mapping(mut map) = value else {
            self.diags.problem(here, "an entry must be a mapping");
            return None;
        };
        let name = take_string(&mut map, "name");
        let kind = take_string(&mut map, "kind");
        let Some(name) = name.filter(|n| !n.is_empty() && !n.contains(':')) else {
            self.diags.problem(
                here,
                "invalid configuration: name is required (a bare name, no ':')",
            );
            return None;
        };
        let id = EntryId::new(self.namespace, &name);
        let at = Location::entry(self.file, &id);
        let Some(kind) = kind else {
            self.diags.problem(
                at.with_field("kind"),
                "invalid configuration: kind is required",
            );
            return None;
        };
        let meta = map.remove("meta");
        // `meta` is free-form; only kinds that run read `meta.command` from it.
        let runs = matches!(
            kind.as_str(),
            "process.wasm" | "function.wasm" | "process.lua" | "function.lua"
        );
        let command = meta
            .as_ref()
            .filter(|_| runs)
            .and_then(|m| self.command(&at, m));

        let config = match kind.as_str() {
            "fs.directory" => self
                .typed(&at, map)
                .and_then(|raw| self.fs_directory(&at, raw)),
            "process.wasm" => self
                .typed(&at, map)
                .and_then(|raw| self.wasm(&at, raw, false)),
            "function.wasm" => self
                .typed(&at, map)
                .and_then(|raw| self.wasm(&at, raw, true)),
            "process.host" => self.typed(&at, map).map(|raw: RawProcessHost| {
                if raw.host.queue_size.is_some() {
                    self.warn_unused(&at, "host.queue_size");
                }
                for (field, value) in [
                    ("host.max_processes", raw.host.max_processes),
                    ("host.mailbox_size", raw.host.mailbox_size),
                ] {
                    if value == Some(0) {
                        self.diags.problem(
                            at.clone().with_field(field),
                            format!("invalid configuration: {field} must be at least 1"),
                        );
                    }
                }
                let preemption = match raw.host.preemption.as_deref() {
                    None => None,
                    Some("fuel") => Some(Preemption::Fuel),
                    Some("epoch") => Some(Preemption::Epoch),
                    Some(other) => {
                        self.diags.problem(
                            at.clone().with_field("host.preemption"),
                            format!("invalid configuration: host.preemption must be fuel or epoch, not {other:?}"),
                        );
                        None
                    }
                };
                EntryConfig::ProcessHost(ProcessHost {
                    workers: raw.host.workers,
                    max_processes: raw.host.max_processes,
                    mailbox_size: raw.host.mailbox_size,
                    preemption,
                    lifecycle: raw.lifecycle,
                })
            }),
            "terminal.host" => self.typed(&at, map).map(|raw: RawTerminalHost| {
                EntryConfig::TerminalHost(TerminalHost {
                    lifecycle: raw.lifecycle,
                })
            }),
            "env.variable" => self
                .typed(&at, map)
                .and_then(|raw| self.env_variable(&at, raw)),
            "env.storage.os" => self
                .typed::<RawEnvStorageOs>(&at, map)
                .map(|_| EntryConfig::EnvStorage(EnvStorage::Os)),
            "env.storage.static" => self
                .typed::<RawEnvStorageValues>(&at, map)
                .map(|raw| EntryConfig::EnvStorage(EnvStorage::Static(raw.values))),
            "env.storage.memory" => self
                .typed::<RawEnvStorageValues>(&at, map)
                .map(|raw| EntryConfig::EnvStorage(EnvStorage::Memory(raw.values))),
            "env.storage.file" => self.typed(&at, map).and_then(|raw| self.env_file(&at, raw)),
            "env.storage.router" => self.typed(&at, map).and_then(|raw: RawEnvStorageRouter| {
                let storages = raw
                    .storages
                    .iter()
                    .map(|s| self.reference(&at, "storages", s))
                    .collect::<Option<Vec<_>>>()?;
                Some(EntryConfig::EnvStorage(EnvStorage::Router(storages)))
            }),
            "process.lua" => self
                .typed(&at, map)
                .and_then(|raw| self.lua(&at, raw, false)),
            "function.lua" => self
                .typed(&at, map)
                .and_then(|raw| self.lua(&at, raw, true)),
            "process.service" => self.typed(&at, map).and_then(|raw| self.service(&at, raw)),
            "cluster.nats" => self.typed(&at, map).and_then(|raw| self.cluster(&at, raw)),
            other => {
                self.diags.warn(
                    at.clone().with_field("kind"),
                    format!("kind {other} is not implemented by wippy-wasm; the entry is loaded but inert"),
                );
                Some(EntryConfig::Inert)
            }
        }?;
        Some(Entry {
            id,
            kind,
            file: self.file.to_path_buf(),
            command,
            meta,
            config,
        })
    }

    fn typed<T: DeserializeOwned>(&mut self, at: &Location, map: Mapping) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(Value::Mapping(map)) {
            Ok(v) => Some(v),
            Err(err) => {
                let path = err.path().to_string();
                let loc = if path == "." {
                    at.clone()
                } else {
                    at.clone().with_field(path)
                };
                self.diags
                    .problem(loc, format!("invalid configuration: {}", err.inner()));
                None
            }
        }
    }

    fn command(&mut self, at: &Location, meta: &Value) -> Option<Command> {
        let command = meta.get("command")?;
        let at = at.clone().with_field("meta.command");
        // Wippy also writes the command as just its name.
        if let Value::String(name) = command {
            if !name.trim().is_empty() {
                return Some(Command {
                    name: name.clone(),
                    short: None,
                });
            }
        }
        match serde_yaml_ng::from_value::<RawCommand>(command.clone()) {
            Ok(RawCommand {
                name: Some(name),
                short,
                ..
            }) if !name.trim().is_empty() => Some(Command { name, short }),
            Ok(_) => {
                self.diags
                    .problem(at, "invalid configuration: meta.command.name is required");
                None
            }
            Err(err) => {
                self.diags
                    .problem(at, format!("invalid configuration: {err}"));
                None
            }
        }
    }

    fn warn_unused(&mut self, at: &Location, field: &str) {
        self.diags.warn(
            at.clone().with_field(field),
            format!("{field} is accepted for Wippy compatibility but has no effect in wippy-wasm"),
        );
    }

    /// Resolves a reference; a malformed one is recorded as a problem.
    fn reference(&mut self, at: &Location, field: &str, reference: &str) -> Option<EntryId> {
        let id = EntryId::resolve(reference, self.namespace);
        if id.is_none() {
            self.diags.problem(
                at.clone().with_field(field),
                format!("invalid configuration: {field} is not a valid entry ID: {reference:?}"),
            );
        }
        id
    }

    fn required<'v>(
        &mut self,
        at: &Location,
        field: &str,
        value: &'v Option<String>,
    ) -> Option<&'v str> {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                self.diags.problem(
                    at.clone().with_field(field),
                    format!("invalid configuration: {field} is required"),
                );
                None
            }
        }
    }

    fn fs_directory(&mut self, at: &Location, raw: RawFsDirectory) -> Option<EntryConfig> {
        let directory = self.required(at, "directory", &raw.directory)?;
        let mode = match &raw.mode {
            None => 0o755,
            Some(v) => match parse_mode(v) {
                Some(m) => m,
                None => {
                    self.diags.problem(
                        at.clone().with_field("mode"),
                        "invalid configuration: mode must be an octal permission string such as \"0755\"",
                    );
                    return None;
                }
            },
        };
        let base = match raw.base.as_deref() {
            None | Some("project") => self.root,
            Some("module") => self.file.parent().unwrap_or(Path::new(".")),
            Some(other) => {
                self.diags.problem(
                    at.clone().with_field("base"),
                    format!(
                        "invalid configuration: base must be `module` or `project`, got {other:?}"
                    ),
                );
                return None;
            }
        };
        // Without `.` components, so messages show `./data`, not `././data`.
        let directory: std::path::PathBuf = base
            .join(directory)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        Some(EntryConfig::FsDirectory(FsDirectory {
            directory: if directory.as_os_str().is_empty() {
                ".".into()
            } else {
                directory
            },
            auto_init: raw.auto_init,
            mode,
        }))
    }

    fn wasm(&mut self, at: &Location, raw: RawWasm, function: bool) -> Option<EntryConfig> {
        let before = self.diags.problems.len();
        let fs = self.required(at, "fs", &raw.fs);
        let path = self.required(at, "path", &raw.path).map(str::to_owned);
        let hash = self.required(at, "hash", &raw.hash).map(str::to_owned);
        let method = self.required(at, "method", &raw.method).map(str::to_owned);
        let fs = fs.and_then(|fs| self.reference(at, "fs", fs));

        for (i, import) in raw.imports.iter().enumerate() {
            if !KNOWN_IMPORTS.contains(&import_base(import)) {
                self.diags.problem(
                    at.clone().with_field(format!("imports[{i}]")),
                    format!("unsupported wasm host import: {import}"),
                );
            }
        }
        let wasi = self.wasi(at, raw.wasi);
        if matches!(raw.limits.max_execution_ms, Some(ms) if ms < 0) {
            self.diags.problem(
                at.clone().with_field("limits.max_execution_ms"),
                "invalid configuration: limits.max_execution_ms cannot be negative",
            );
        }
        if raw.pool.is_some() {
            self.warn_unused(at, "pool");
        }
        if raw.transport.is_some() {
            self.warn_unused(at, "transport");
        }
        if self.diags.problems.len() != before {
            return None;
        }
        Some(EntryConfig::Wasm(WasmEntry {
            function,
            fs: fs?,
            path: path?,
            hash: hash?,
            method: method?,
            imports: raw.imports,
            wasi: wasi?,
            limits: raw.limits,
            wit: raw.wit,
            allow_unknown_imports: raw.allow_unknown_imports.unwrap_or(true),
        }))
    }

    fn wasi(&mut self, at: &Location, raw: RawWasi) -> Option<WasiConfig> {
        let before = self.diags.problems.len();
        if let Some(cwd) = &raw.cwd {
            if !cwd.starts_with('/') {
                self.diags.problem(
                    at.clone().with_field("wasi.cwd"),
                    "invalid configuration: wasi.cwd must be absolute",
                );
            }
        }
        let mut env = Vec::new();
        let mut names = HashSet::new();
        for (i, e) in raw.env.iter().enumerate() {
            let field = |f: &str| format!("wasi.env[{i}].{f}");
            let id = match e.id.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(id) => self.reference(at, &field("id"), id),
                None => {
                    self.diags.problem(
                        at.clone().with_field(field("id")),
                        "invalid configuration: wasi.env[].id is required",
                    );
                    None
                }
            };
            let name = match e.name.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(name) if !names.insert(name.to_owned()) => {
                    self.diags.problem(
                        at.clone().with_field(field("name")),
                        "invalid configuration: wasi.env[].name must be unique",
                    );
                    None
                }
                Some(name) => Some(name.to_owned()),
                None => {
                    self.diags.problem(
                        at.clone().with_field(field("name")),
                        "invalid configuration: wasi.env[].name is required",
                    );
                    None
                }
            };
            if let (Some(id), Some(name)) = (id, name) {
                env.push(EnvBinding {
                    id,
                    name,
                    required: e.required,
                });
            }
        }
        let mut mounts = Vec::new();
        let mut guests = HashSet::new();
        for (i, m) in raw.mounts.iter().enumerate() {
            let field = |f: &str| format!("wasi.mounts[{i}].{f}");
            let fs = match m.fs.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(fs) => self.reference(at, &field("fs"), fs),
                None => {
                    self.diags.problem(
                        at.clone().with_field(field("fs")),
                        "invalid configuration: wasi.mounts[].fs is required",
                    );
                    None
                }
            };
            let guest = match m.guest.as_deref().filter(|s| !s.trim().is_empty()) {
                None => {
                    self.diags.problem(
                        at.clone().with_field(field("guest")),
                        "invalid configuration: wasi.mounts[].guest is required",
                    );
                    None
                }
                Some(g) if !g.starts_with('/') => {
                    self.diags.problem(
                        at.clone().with_field(field("guest")),
                        "invalid configuration: wasi.mounts[].guest must be absolute",
                    );
                    None
                }
                Some(g) if !guests.insert(g.trim_end_matches('/').to_owned()) => {
                    self.diags.problem(
                        at.clone().with_field(field("guest")),
                        "invalid configuration: wasi.mounts[].guest must be unique",
                    );
                    None
                }
                Some(g) => Some(g.to_owned()),
            };
            if let (Some(fs), Some(guest)) = (fs, guest) {
                mounts.push(Mount {
                    fs,
                    guest,
                    read_only: m.read_only,
                });
            }
        }
        (self.diags.problems.len() == before).then_some(WasiConfig {
            args: raw.args,
            cwd: raw.cwd,
            env,
            mounts,
            stdio: raw.stdio,
        })
    }

    fn env_file(&mut self, at: &Location, raw: RawEnvStorageFile) -> Option<EntryConfig> {
        let path = self.required(at, "file_path", &raw.file_path)?;
        let mode = match &raw.file_mode {
            None => 0o644,
            // YAML reads `0600` as the integer 600: Wippy means octal either way.
            Some(v) => match v
                .as_u64()
                .map(|n| n.to_string())
                .or_else(|| v.as_str().map(str::to_owned))
                .and_then(|t| u32::from_str_radix(t.trim_start_matches("0o"), 8).ok())
            {
                Some(mode) if mode <= 0o7777 => mode,
                _ => {
                    self.diags.problem(
                        at.clone().with_field("file_mode"),
                        "invalid configuration: file_mode must be an octal mode like 0600",
                    );
                    return None;
                }
            },
        };
        Some(EntryConfig::EnvStorage(EnvStorage::File {
            path: self.root.join(path),
            auto_create: raw.auto_create,
            mode,
        }))
    }

    fn cluster(&mut self, at: &Location, raw: RawClusterNats) -> Option<EntryConfig> {
        let urls = match raw.url {
            Some(OneOrMore::One(url)) => vec![url],
            Some(OneOrMore::More(urls)) if !urls.is_empty() => urls,
            _ => {
                self.diags.problem(
                    at.clone().with_field("url"),
                    "invalid configuration: cluster.nats needs url: a NATS server address (nats://host:port) or a list of them",
                );
                return None;
            }
        };
        if let Some(node) = &raw.node {
            if !super::id::valid_node_name(node) {
                self.diags.problem(
                    at.clone().with_field("node"),
                    format!("invalid configuration: node {node:?} must be 1 to 64 letters, digits, - or _"),
                );
                return None;
            }
        }
        let heartbeat = match raw.heartbeat.as_deref().map(crate::duration::parse) {
            None => std::time::Duration::from_secs(1),
            Some(Ok(d)) if d >= std::time::Duration::from_millis(10) => d,
            Some(Ok(_)) => {
                self.diags.problem(
                    at.clone().with_field("heartbeat"),
                    "invalid configuration: heartbeat must be at least 10ms",
                );
                return None;
            }
            Some(Err(e)) => {
                self.diags.problem(
                    at.clone().with_field("heartbeat"),
                    format!("invalid configuration: {e}"),
                );
                return None;
            }
        };
        let user_env = match (raw.user_env, raw.password_env) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => {
                self.diags.problem(
                    at.clone().with_field("user_env"),
                    "invalid configuration: user_env and password_env go together",
                );
                return None;
            }
        };
        Some(EntryConfig::ClusterNats(ClusterNats {
            urls,
            node: raw.node,
            heartbeat,
            token_env: raw.token_env,
            user_env,
        }))
    }

    fn env_variable(&mut self, at: &Location, raw: RawEnvVariable) -> Option<EntryConfig> {
        let variable = match raw.variable.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => v.to_owned(),
            // Wippy's default: the entry's name.
            _ => at
                .entry
                .as_ref()
                .map_or_else(String::new, |id| id.name().to_owned()),
        };
        let storage = match raw.storage.as_deref() {
            Some(s) => Some(self.reference(at, "storage", s)?),
            None => None,
        };
        Some(EntryConfig::EnvVariable(EnvVariable {
            variable,
            storage,
            default: raw.default,
            read_only: raw.read_only,
        }))
    }

    fn lua(&mut self, at: &Location, raw: RawLua, function: bool) -> Option<EntryConfig> {
        let source = self.required(at, "source", &raw.source)?;
        let source = match source.strip_prefix("file://") {
            // A script must live in the project (the runtime also checks `..` and symlinks
            // against the project folder when it reads the file).
            Some(rel) if Path::new(rel).has_root() || Path::new(rel).is_absolute() => {
                self.diags.problem(
                    at.clone().with_field("source"),
                    format!(
                        "invalid configuration: source {source} must be a path relative to the folder of its _index.yaml, inside the project"
                    ),
                );
                return None;
            }
            Some(rel) => LuaSource::File(self.file.parent().unwrap_or(Path::new(".")).join(rel)),
            None => LuaSource::Inline(source.to_owned()),
        };
        Some(EntryConfig::Lua(LuaEntry {
            function,
            source,
            method: raw.method.unwrap_or_else(|| "main".to_owned()),
            modules: raw.modules,
        }))
    }

    fn service(&mut self, at: &Location, raw: RawService) -> Option<EntryConfig> {
        let process = self.required(at, "process", &raw.process);
        let host = self.required(at, "host", &raw.host);
        let process = process.and_then(|p| self.reference(at, "process", p));
        let host = host.and_then(|h| self.reference(at, "host", h));
        let lifecycle = self.service_lifecycle(at, raw.lifecycle);
        Some(EntryConfig::Service(ServiceEntry {
            process: process?,
            host: host?,
            input: raw.input,
            lifecycle: lifecycle?,
        }))
    }

    /// A service's `lifecycle`, with every field checked and Wippy's defaults filled in.
    fn service_lifecycle(&mut self, at: &Location, raw: RawLifecycle) -> Option<ServiceLifecycle> {
        let before = self.diags.problems.len();
        let mut lifecycle = ServiceLifecycle {
            auto_start: raw.auto_start,
            ..ServiceLifecycle::default()
        };
        for (i, r) in raw.requires.iter().enumerate() {
            if let Some(id) = self.reference(at, &format!("lifecycle.requires[{i}]"), r) {
                lifecycle.requires.push(id);
            }
        }
        let restart = raw.restart.unwrap_or_default();
        for (field, text, slot) in [
            (
                "start_timeout",
                &raw.start_timeout,
                &mut lifecycle.start_timeout,
            ),
            (
                "stop_timeout",
                &raw.stop_timeout,
                &mut lifecycle.stop_timeout,
            ),
            (
                "stable_threshold",
                &raw.stable_threshold,
                &mut lifecycle.stable_threshold,
            ),
            (
                "restart.initial_delay",
                &restart.initial_delay,
                &mut lifecycle.restart.initial_delay,
            ),
            (
                "restart.max_delay",
                &restart.max_delay,
                &mut lifecycle.restart.max_delay,
            ),
        ] {
            if let Some(text) = text {
                match crate::duration::parse(text) {
                    Ok(d) => *slot = d,
                    Err(e) => self.diags.problem(
                        at.clone().with_field(format!("lifecycle.{field}")),
                        format!("invalid configuration: {e}"),
                    ),
                }
            }
        }
        let policy = &mut lifecycle.restart;
        if let Some(factor) = restart.backoff_factor {
            if !(1.0..=1000.0).contains(&factor) {
                self.diags.problem(
                    at.clone().with_field("lifecycle.restart.backoff_factor"),
                    format!("invalid configuration: backoff_factor must be between 1 and 1000, got {factor}"),
                );
            }
            policy.backoff_factor = factor;
        }
        if let Some(jitter) = restart.jitter {
            if !(0.0..=1.0).contains(&jitter) {
                self.diags.problem(
                    at.clone().with_field("lifecycle.restart.jitter"),
                    format!("invalid configuration: jitter must be between 0 and 1, got {jitter}"),
                );
            }
            policy.jitter = jitter;
        }
        policy.max_attempts = restart.max_attempts.unwrap_or(0);
        if policy.max_delay < policy.initial_delay {
            self.diags.problem(
                at.clone().with_field("lifecycle.restart.max_delay"),
                format!(
                    "invalid configuration: max_delay ({:?}) is shorter than initial_delay ({:?})",
                    policy.max_delay, policy.initial_delay
                ),
            );
        }
        if raw.security.is_some() {
            self.warn_unused(at, "lifecycle.security");
        }
        (self.diags.problems.len() == before).then_some(lifecycle)
    }
}

fn take_string(map: &mut Mapping, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn parse_mode(v: &Value) -> Option<u32> {
    match v {
        Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
        // YAML reads 0755 as the decimal integer 755: take its digits as octal.
        Value::Number(n) => u32::from_str_radix(&n.as_u64()?.to_string(), 8).ok(),
        _ => None,
    }
    .filter(|m| *m <= 0o7777)
}
