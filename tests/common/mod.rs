//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use wippy_wasm::binary::CompileCache;
use wippy_wasm::engine::{self, EngineOptions};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed guest binaries.
pub fn guests() -> PathBuf {
    repo().join("wasm").join("bin")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    wippy_wasm::binary::hash::to_hex(&wippy_wasm::binary::hash::sha256(bytes))
}

pub fn hash_of(guest: &str) -> String {
    format!(
        "sha256:{}",
        sha256_hex(&std::fs::read(guests().join(guest)).unwrap())
    )
}

/// A temporary project: `files` are (relative path, contents).
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

/// An `_index.yaml` in namespace `t` with a `bin` fs.directory on the committed guests,
/// followed by `entries` (YAML list items, indented by two spaces).
pub fn index_with(entries: &str) -> String {
    format!(
        "version: \"1.0\"\nnamespace: t\nentries:\n  - name: bin\n    kind: fs.directory\n    directory: {}\n{entries}",
        guests().display()
    )
}

/// A small engine (few pool slots) with its compile cache in `cache_dir`.
pub fn engine_with_cache(cache_dir: &Path) -> (wasmtime::Engine, CompileCache) {
    let options = EngineOptions {
        max_instances: 8,
        cache_dir: Some(cache_dir.to_path_buf()),
        ..EngineOptions::default()
    };
    let engine = engine::build(&options).unwrap();
    let cache = CompileCache::new(&engine, options.cache_dir.clone());
    (engine, cache)
}
