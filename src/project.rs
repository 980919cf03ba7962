//! A project ready to run: the registry plus every wasm entry's verified, compiled code.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use wasmtime::Engine;

use crate::binary::{self, fsroot, imports, BinaryKind, Code, CompileCache, ExpectedHash};
use crate::registry::{
    Diagnostics, EntryConfig, EntryId, LoadErrors, Location, Registry, Warning, WasmEntry,
};

/// The verified, compiled code of one wasm entry.
#[derive(Clone)]
pub struct Program {
    pub entry: EntryId,
    pub sha256: [u8; 32],
    pub code: Code,
}

pub struct Project {
    pub registry: Registry,
    pub programs: HashMap<EntryId, Arc<Program>>,
}

/// A binary read and hash-checked, waiting to be compiled.
struct Verified {
    entry: EntryId,
    location: Location,
    declared: imports::Declared,
    bytes: Arc<Vec<u8>>,
    sha: [u8; 32],
    kind: BinaryKind,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut programs: Vec<_> = self.programs.keys().map(|id| id.to_string()).collect();
        programs.sort();
        f.debug_struct("Project")
            .field("root", &self.registry.root())
            .field("entries", &self.registry.entries().len())
            .field("programs", &programs)
            .finish()
    }
}

impl Project {
    /// Loads the registry, then reads, verifies and compiles every wasm entry. Every
    /// problem in the project is reported together; nothing is returned if there is one.
    pub fn load(root: &Path, engine: &Engine, cache: &CompileCache) -> Result<Project, LoadErrors> {
        Self::load_with_warnings(root, engine, cache).0
    }

    /// As [`Project::load`], also returning the warnings (inert kinds, unused fields).
    pub fn load_with_warnings(
        root: &Path,
        engine: &Engine,
        cache: &CompileCache,
    ) -> (Result<Project, LoadErrors>, Vec<Warning>) {
        Self::load_selected(root, engine, cache, None)
    }

    /// As [`Project::load_with_warnings`], but only the wasm entries in `only` (when
    /// given) are read, verified and compiled: the registry is still loaded and checked
    /// whole. For running one command without compiling what it will not run.
    pub fn load_selected(
        root: &Path,
        engine: &Engine,
        cache: &CompileCache,
        only: Option<&[EntryId]>,
    ) -> (Result<Project, LoadErrors>, Vec<Warning>) {
        let mut diags = Diagnostics::default();
        let registry = Registry::load_into(root, &mut diags);
        let mut verified = Vec::new();
        if diags.problems.is_empty() {
            for (entry, wasm) in registry.wasm_entries() {
                if only.is_some_and(|only| !only.contains(&entry.id)) {
                    continue;
                }
                let at = Location::entry(&entry.file, &entry.id);
                match read_and_verify(&registry, wasm) {
                    Ok((bytes, sha, kind)) => verified.push(Verified {
                        entry: entry.id.clone(),
                        location: at,
                        declared: imports::Declared::new(&wasm.imports)
                            .allowing_unknown(wasm.allow_unknown_imports),
                        bytes: Arc::new(bytes),
                        sha,
                        kind,
                    }),
                    Err((field, message)) => diags.problem(at.with_field(field), message),
                }
            }
        }
        let compiled = compile_all(engine, cache, &verified);
        let mut programs = HashMap::new();
        for v in &verified {
            match &compiled[&v.sha] {
                Err(message) => diags.problem(v.location.clone().with_field("path"), message),
                Ok(code) => {
                    let missing = imports::unsatisfied(engine, code, &v.declared);
                    if let Some(w) = imports::wippy_poll_warning(engine, code, &v.declared) {
                        diags.warn(v.location.clone().with_field("imports"), w);
                    }
                    for m in &missing {
                        diags.problem(v.location.clone().with_field("imports"), m);
                    }
                    if missing.is_empty() {
                        programs.insert(
                            v.entry.clone(),
                            Arc::new(Program {
                                entry: v.entry.clone(),
                                sha256: v.sha,
                                code: code.clone(),
                            }),
                        );
                    }
                }
            }
        }
        let warnings = diags.warnings;
        if diags.problems.is_empty() {
            (Ok(Project { registry, programs }), warnings)
        } else {
            (
                Err(LoadErrors {
                    problems: diags.problems,
                }),
                warnings,
            )
        }
    }

    pub fn program(&self, id: &EntryId) -> Option<&Arc<Program>> {
        self.programs.get(id)
    }

    pub fn wasm(&self, id: &EntryId) -> Option<&WasmEntry> {
        match self.registry.config(id)? {
            EntryConfig::Wasm(w) => Some(w),
            _ => None,
        }
    }
}

/// A problem with one field of an entry: (field, message).
type FieldError = (&'static str, String);

/// A binary's bytes, its sha256 and what kind of binary it is.
type Checked = (Vec<u8>, [u8; 32], BinaryKind);

/// Reads an entry's binary and checks its hash before anything else looks at the bytes.
fn read_and_verify(registry: &Registry, wasm: &WasmEntry) -> Result<Checked, FieldError> {
    let expected = ExpectedHash::parse(&wasm.hash).map_err(|e| ("hash", e))?;
    let fs = registry
        .fs_directory(&wasm.fs)
        .ok_or_else(|| ("fs", format!("filesystem not found: {}", wasm.fs)))?;
    if fs.auto_init && !fs.directory.exists() {
        std::fs::create_dir_all(&fs.directory).map_err(|e| {
            (
                "fs",
                format!("cannot create {}: {e}", fs.directory.display()),
            )
        })?;
    }
    let bytes = fsroot::read(&fs.directory, &wasm.path).map_err(|e| ("path", e))?;
    let sha = expected.verify(&bytes).map_err(|e| ("hash", e))?;
    let kind = BinaryKind::detect(&bytes).map_err(|e| ("path", format!("{}: {e}", wasm.path)))?;
    Ok((bytes, sha, kind))
}

/// Compiles each distinct binary once, spreading them over the machine's cores.
fn compile_all(
    engine: &Engine,
    cache: &CompileCache,
    verified: &[Verified],
) -> HashMap<[u8; 32], Result<Code, String>> {
    let mut unique: Vec<&Verified> = Vec::new();
    for v in verified {
        if !unique.iter().any(|u| u.sha == v.sha) {
            unique.push(v);
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(unique.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(v) = unique.get(i) else { break };
                let code = binary::compile::compile(engine, cache, &v.bytes, &v.sha, v.kind);
                results.lock().unwrap().insert(v.sha, code);
            });
        }
    });
    results.into_inner().unwrap()
}
