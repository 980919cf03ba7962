//! Shared by the benchmarks: temporary projects over the committed guests.
#![allow(dead_code)]

use std::path::PathBuf;

use wippy_wasm::{Runtime, RuntimeBuilder};

pub fn guests() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("wasm")
        .join("bin")
}

pub fn hash_of(file: &str) -> String {
    let bytes = std::fs::read(guests().join(file)).unwrap();
    format!(
        "sha256:{}",
        wippy_wasm::testing::to_hex(&wippy_wasm::testing::sha256(&bytes))
    )
}

/// One `process.wasm` entry for a committed guest.
pub fn guest(name: &str, file: &str, method: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: process.wasm\n    fs: bin\n    path: /{file}\n    hash: {}\n    method: {method}\n{extra}",
        hash_of(file)
    )
}

/// A runtime over a temporary project: host `b:host` with `workers` workers, and `entries`.
pub fn runtime(
    entries: &str,
    workers: usize,
    tweak: impl FnOnce(&mut RuntimeBuilder),
) -> (Runtime, tempfile::TempDir, tempfile::TempDir) {
    try_runtime(entries, workers, tweak).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`runtime`], returning the load error instead of panicking.
pub fn try_runtime(
    entries: &str,
    workers: usize,
    tweak: impl FnOnce(&mut RuntimeBuilder),
) -> Result<(Runtime, tempfile::TempDir, tempfile::TempDir), String> {
    let index = format!(
        "version: \"1.0\"\nnamespace: b\nentries:\n  - name: bin\n    kind: fs.directory\n    directory: {}\n  - name: host\n    kind: process.host\n    host:\n      workers: {workers}\n{entries}",
        guests().display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("_index.yaml"), index).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut options = Runtime::builder();
    options
        .max_instances(2_000)
        .cache_dir(Some(cache.path().to_path_buf()));
    tweak(&mut options);
    let rt = options.load(dir.path()).map_err(|e| e.to_string())?;
    Ok((rt, dir, cache))
}

/// This process's resident set size, in bytes (Linux).
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
