//! From a wasm entry to compiled code: the engine, reading a binary inside its
//! `fs.directory`, the hash check, the compile cache and the import check. Deserializing
//! cached code is `unsafe` in wasmtime; it happens in `compile`, and only for bytes that
//! passed `cache`'s integrity envelope.

pub(crate) mod cache;
pub(crate) mod compile;
pub(crate) mod concurrency;
pub(crate) mod engine;
pub(crate) mod fsroot;
pub(crate) mod hash;
pub(crate) mod imports;
pub(crate) mod kind;

use std::collections::HashMap;
use std::sync::Arc;

pub(crate) use cache::CompileCache;
pub(crate) use compile::{Code, EngineSet, Engines};
use hash::ExpectedHash;
use kind::BinaryKind;

use crate::registry::{Diagnostics, EntryId, Location, Registry, WasmEntry};

/// The verified, compiled code of one wasm entry.
#[derive(Clone)]
pub(crate) struct Program {
    pub entry: EntryId,
    pub code: Code,
    /// It imports what no host provides: link those imports as traps.
    pub stubbed: bool,
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

/// Reads, hash-checks and compiles every wasm entry of `registry` (only those in `only`,
/// when given), then checks each binary's imports against its entry. Every problem goes to
/// `diags`, with its location; an entry with a problem has no program.
pub(crate) fn programs(
    registry: &Registry,
    engines: &Engines<'_>,
    only: Option<&[EntryId]>,
    diags: &mut Diagnostics,
) -> HashMap<EntryId, Arc<Program>> {
    let mut verified = Vec::new();
    for (entry, wasm) in registry.wasm_entries() {
        if only.is_some_and(|only| !only.contains(&entry.id)) || diags.has_problem(&entry.id) {
            continue;
        }
        let at = Location::entry(&entry.file, &entry.id);
        match read_and_verify(registry, wasm) {
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
    let compiled = compile_all(engines, &verified);
    let mut programs = HashMap::new();
    for v in &verified {
        match &compiled[&v.sha] {
            Err(message) => diags.problem(v.location.clone().with_field("path"), message),
            Ok(code) => {
                let found = imports::undeclared(code.engine(), code, &v.declared);
                if let Some(w) = imports::wippy_poll_warning(code.engine(), code, &v.declared) {
                    diags.warn(v.location.clone().with_field("imports"), w);
                }
                for m in &found.refused {
                    diags.problem(v.location.clone().with_field("imports"), m);
                }
                if !found.stubbed.is_empty() && found.refused.is_empty() {
                    diags.warn(
                        v.location.clone().with_field("imports"),
                        format!(
                            "no host provides {}: linked as functions that trap when called (set `allow_unknown_imports: false` to refuse them)",
                            found.stubbed.join(", ")
                        ),
                    );
                }
                if found.refused.is_empty() {
                    programs.insert(
                        v.entry.clone(),
                        Arc::new(Program {
                            entry: v.entry.clone(),
                            code: code.clone(),
                            stubbed: !found.stubbed.is_empty(),
                        }),
                    );
                }
            }
        }
    }
    programs
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
    let bytes = fsroot::read(&fs.directory, &wasm.path).map_err(|e| ("path", e))?;
    let sha = expected.verify(&bytes).map_err(|e| ("hash", e))?;
    let kind = BinaryKind::detect(&bytes).map_err(|e| ("path", format!("{}: {e}", wasm.path)))?;
    Ok((bytes, sha, kind))
}

/// Compiles each distinct binary once, spreading them over the machine's cores (rayon's
/// pool; wasmtime also parallelizes inside one module).
fn compile_all(
    engines: &Engines<'_>,
    verified: &[Verified],
) -> HashMap<[u8; 32], Result<Code, String>> {
    use rayon::prelude::*;
    let mut unique: Vec<&Verified> = Vec::new();
    for v in verified {
        if !unique.iter().any(|u| u.sha == v.sha) {
            unique.push(v);
        }
    }
    unique
        .par_iter()
        .map(|v| (v.sha, compile::compile(engines, &v.bytes, &v.sha, v.kind)))
        .collect()
}
