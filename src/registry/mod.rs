//! The registry: every `_index.yaml` below a project folder, parsed, validated and
//! cross-checked into one set of entries. Loading is all-or-nothing and reports every
//! problem found, each naming its file, entry and field.

mod diagnostics;
mod discover;
mod id;
mod kinds;
mod parse;
mod raw;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostics, LoadErrors, Location, Problem, Warning};
pub use id::{valid_node_name, EntryId};
pub use kinds::*;
pub use parse::{import_base, KNOWN_IMPORTS};
pub use raw::{RawLifecycle, RawLimits, RawRestart, StdioMode};

use parse::EntryParser;
use raw::RawFile;

/// The largest `_index.yaml` read (16 MiB): checked before reading, so a sparse huge file
/// cannot take the host's memory.
const MAX_INDEX_BYTES: u64 = 16 << 20;

fn read_index(file: &Path) -> Result<String, String> {
    let size = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    if size > MAX_INDEX_BYTES {
        return Err(format!(
            "{size} bytes is more than an index file may be ({MAX_INDEX_BYTES})"
        ));
    }
    std::fs::read_to_string(file).map_err(|e| e.to_string())
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    entries: Vec<Entry>,
    by_id: HashMap<EntryId, usize>,
    warnings: Vec<Warning>,
}

impl Registry {
    /// Loads every `_index.yaml` below `root`.
    ///
    /// # Errors
    ///
    /// [`LoadErrors`] with every problem found, if there is any: no project folder or no
    /// `_index.yaml`, an unreadable file, invalid YAML, an invalid entry, a duplicate ID or
    /// a reference to a missing entry. Warnings are then dropped; on success they are in
    /// [`Registry::warnings`].
    pub fn load(root: impl AsRef<Path>) -> Result<Registry, LoadErrors> {
        let mut diags = Diagnostics::default();
        let registry = Self::load_into(root.as_ref(), &mut diags);
        if diags.problems.is_empty() {
            Ok(registry)
        } else {
            Err(LoadErrors {
                problems: diags.problems,
            })
        }
    }

    /// Loads what it can, recording problems and warnings in `diags`. The result is only
    /// meaningful if no problem was recorded.
    pub fn load_into(root: &Path, diags: &mut Diagnostics) -> Registry {
        let mut registry = Registry::empty(root);
        let mut skipped = Vec::new();
        // Wippy's `wippy.lock` says which folder holds the registry (`src`); relative
        // paths in entries still resolve against the project root.
        let files = discover::source_folder(root)
            .and_then(|folder| discover::index_files(&folder, &mut skipped));
        for (folder, why) in skipped {
            diags.warn(Location::file(&folder), why);
        }
        let files = match files {
            Ok(files) => files,
            Err(message) => {
                diags.problem(Location::file(root), message);
                return registry;
            }
        };
        for file in &files {
            match read_index(file) {
                Ok(text) => registry.load_text(file, &text, diags),
                Err(e) => diags.problem(Location::file(file), format!("cannot read file: {e}")),
            }
        }
        registry.finish(diags);
        registry
    }

    /// As [`Registry::load_into`], from index files held in memory: `files` are (path,
    /// YAML text), each path as if under `root` (relative paths in entries resolve against
    /// the file's folder, as on disk).
    pub fn from_texts(
        root: &Path,
        files: &[(PathBuf, String)],
        diags: &mut Diagnostics,
    ) -> Registry {
        let mut registry = Registry::empty(root);
        let mut files: Vec<_> = files.iter().map(|(p, t)| (root.join(p), t)).collect();
        files.sort();
        for (file, text) in &files {
            registry.load_text(file, text, diags);
        }
        registry.finish(diags);
        registry
    }

    fn empty(root: &Path) -> Registry {
        Registry {
            root: root.to_path_buf(),
            entries: Vec::new(),
            by_id: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    fn finish(&mut self, diags: &mut Diagnostics) {
        self.check_references(diags);
        self.warnings = diags.warnings.clone();
    }

    fn load_text(&mut self, file: &Path, text: &str, diags: &mut Diagnostics) {
        let raw: RawFile = match serde_yaml_ng::from_str(text) {
            Ok(raw) => raw,
            Err(e) => return diags.problem(Location::file(file), format!("invalid YAML: {e}")),
        };
        match &raw.version {
            None => {}
            Some(serde_yaml_ng::Value::String(v)) if v == "1.0" => {}
            Some(other) => diags.warn(
                Location::file(file).with_field("version"),
                format!("unknown registry format version {other:?}; reading it as \"1.0\""),
            ),
        }
        let Some(namespace) = raw
            .namespace
            .filter(|n| !n.trim().is_empty() && !n.contains(':'))
        else {
            return diags.problem(
                Location::file(file).with_field("namespace"),
                "invalid configuration: namespace is required",
            );
        };
        let mut parser = EntryParser {
            root: &self.root,
            file,
            namespace: &namespace,
            diags,
        };
        for (index, value) in raw.entries.into_iter().enumerate() {
            let Some(entry) = parser.parse(index, value) else {
                continue;
            };
            if let Some(&prev) = self.by_id.get(&entry.id) {
                parser.diags.problem(
                    Location::entry(file, &entry.id),
                    format!(
                        "duplicate entry ID {} (first declared in {})",
                        entry.id,
                        self.entries[prev].file.display()
                    ),
                );
                continue;
            }
            self.by_id.insert(entry.id.clone(), self.entries.len());
            self.entries.push(entry);
        }
    }

    /// Checks what one entry cannot check alone: that references point at entries of the
    /// right kind, and that command names are unique.
    fn check_references(&self, diags: &mut Diagnostics) {
        let mut commands: HashMap<&str, &EntryId> = HashMap::new();
        for entry in &self.entries {
            let at = Location::entry(&entry.file, &entry.id);
            if let Some(cmd) = &entry.command {
                // `wippy run NAME` reads `list` as the listing and a path as a file.
                let unrunnable = if cmd.name == "list" {
                    Some("`wippy run list` lists the commands")
                } else if cmd.name.ends_with(".wasm") || cmd.name.contains('/') {
                    Some("`wippy run` reads it as a file to run")
                } else {
                    None
                };
                // A warning, not a problem: the project loads (Wippy's own runtime has no
                // such CLI rule), and `wippy check` and `wippy run` say so.
                if let Some(why) = unrunnable {
                    diags.warn(
                        at.clone().with_field("meta.command.name"),
                        format!("command name {:?} cannot be run: {why}", cmd.name),
                    );
                }
                if let Some(other) = commands.insert(&cmd.name, &entry.id) {
                    diags.problem(
                        at.clone().with_field("meta.command.name"),
                        format!(
                            "duplicate command name {:?} (also used by {other})",
                            cmd.name
                        ),
                    );
                }
            }
            match &entry.config {
                EntryConfig::Wasm(w) => {
                    if self.fs_directory(&w.fs).is_none() {
                        diags.problem(
                            at.clone().with_field("fs"),
                            format!("filesystem not found: {}", w.fs),
                        );
                    }
                    for (i, m) in w.wasi.mounts.iter().enumerate() {
                        if self.fs_directory(&m.fs).is_none() {
                            diags.problem(
                                at.clone().with_field(format!("wasi.mounts[{i}].fs")),
                                format!("wasi mount filesystem not found: {}", m.fs),
                            );
                        }
                    }
                    for (i, e) in w.wasi.env.iter().enumerate() {
                        if !matches!(self.config(&e.id), Some(EntryConfig::EnvVariable(_))) {
                            diags.warn(
                                at.clone().with_field(format!("wasi.env[{i}].id")),
                                format!(
                                    "env.variable entry not found: {}; the variable will be unset",
                                    e.id
                                ),
                            );
                        }
                    }
                }
                EntryConfig::EnvVariable(v) => {
                    if let Some(storage) = &v.storage {
                        if !matches!(
                            self.get(storage).map(|e| e.kind.as_str()),
                            Some(k) if k.starts_with("env.storage.")
                        ) {
                            diags.problem(
                                at.clone().with_field("storage"),
                                format!("env storage not found: {storage}"),
                            );
                        }
                    }
                }
                EntryConfig::Service(s) => {
                    if !matches!(
                        self.config(&s.process),
                        Some(
                            EntryConfig::Wasm(WasmEntry {
                                function: false,
                                ..
                            }) | EntryConfig::Lua(_)
                        )
                    ) {
                        diags.problem(
                            at.clone().with_field("process"),
                            format!("process entry not found: {}", s.process),
                        );
                    }
                    if !matches!(self.config(&s.host), Some(EntryConfig::ProcessHost(_))) {
                        diags.problem(
                            at.clone().with_field("host"),
                            format!("process host not found: {}", s.host),
                        );
                    }
                    for (i, required) in s.lifecycle.requires.iter().enumerate() {
                        if self.get(required).is_none() {
                            diags.problem(
                                at.clone().with_field(format!("lifecycle.requires[{i}]")),
                                format!("required entry not found: {required}"),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        self.check_service_cycles(diags);
        // Commands run on a terminal.host (as in Wippy, they need no process.host):
        // without one, `wippy run` refuses every command, so say so here too.
        let has = |kind: &str| self.entries.iter().any(|e| e.kind == kind);
        if let Some(first) = self.entries.iter().find(|e| e.command.is_some()) {
            let at = Location::entry(&first.file, &first.id).with_field("meta.command");
            if !has("terminal.host") {
                diags.warn(
                    at,
                    "the project has commands but no terminal.host: `wippy run` refuses them until one is added",
                );
            }
        }
    }

    /// Services must be startable in some order: a `requires` cycle is a problem, reported
    /// once, on its first service, naming every entry in it.
    fn check_service_cycles(&self, diags: &mut Diagnostics) {
        let requires = |id: &EntryId| match self.config(id) {
            Some(EntryConfig::Service(s)) => s.lifecycle.requires.as_slice(),
            _ => &[],
        };
        // Depth-first search; `path` is the chain being followed, `done` what is known
        // acyclic.
        let mut done: HashSet<&EntryId> = HashSet::new();
        for entry in &self.entries {
            if !matches!(entry.config, EntryConfig::Service(_)) || done.contains(&entry.id) {
                continue;
            }
            let mut path: Vec<(&EntryId, usize)> = vec![(&entry.id, 0)];
            while let Some(&mut (id, ref mut next)) = path.last_mut() {
                let Some(dep) = requires(id).get(*next) else {
                    done.insert(id);
                    path.pop();
                    continue;
                };
                *next += 1;
                if done.contains(dep) {
                    continue;
                }
                if let Some(start) = path.iter().position(|(p, _)| *p == dep) {
                    let cycle: Vec<String> = path[start..]
                        .iter()
                        .map(|(p, _)| p.to_string())
                        .chain([dep.to_string()])
                        .collect();
                    let first = self.get(dep).expect("a service in the path exists");
                    diags.problem(
                        Location::entry(&first.file, &first.id).with_field("lifecycle.requires"),
                        format!(
                            "services require each other in a cycle: {}",
                            cycle.join(" -> ")
                        ),
                    );
                    // Everything on the path is reported through this cycle.
                    for (p, _) in &path {
                        done.insert(p);
                    }
                    break;
                }
                path.push((dep, 0));
            }
        }
    }

    /// The project folder the registry was loaded from, as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every loaded entry, in declaration order: files sorted by path, then entries as written.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Warnings recorded while loading: unimplemented kinds, accepted but unused Wippy
    /// fields, `wasi.env` items naming no `env.variable` entry.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The entry with this ID, if any.
    pub fn get(&self, id: &EntryId) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// The configuration of the entry with this ID, if any.
    pub fn config(&self, id: &EntryId) -> Option<&EntryConfig> {
        self.get(id).map(|e| &e.config)
    }

    /// The `fs.directory` entry with this ID; `None` if there is none or it is of another kind.
    pub fn fs_directory(&self, id: &EntryId) -> Option<&FsDirectory> {
        match self.config(id)? {
            EntryConfig::FsDirectory(fs) => Some(fs),
            _ => None,
        }
    }

    /// Every `process.wasm` and `function.wasm` entry, in declaration order.
    pub fn wasm_entries(&self) -> impl Iterator<Item = (&Entry, &WasmEntry)> {
        self.entries.iter().filter_map(|e| match &e.config {
            EntryConfig::Wasm(w) => Some((e, w)),
            _ => None,
        })
    }

    /// Entries with `meta.command`, sorted by command name.
    pub fn commands(&self) -> Vec<(&Command, &Entry)> {
        let mut cmds: Vec<_> = self
            .entries
            .iter()
            .filter_map(|e| e.command.as_ref().map(|c| (c, e)))
            .collect();
        cmds.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        cmds
    }
}
