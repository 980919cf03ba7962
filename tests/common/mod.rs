//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed guest binaries.
pub fn guests() -> PathBuf {
    repo().join("wasm").join("bin")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    wippy_wasm::testing::to_hex(&wippy_wasm::testing::sha256(bytes))
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

/// What loading the project in `dir` would find, with a small pool and its compile cache
/// in `cache_dir` (as `wippy check` does).
pub fn check_with_cache(dir: &Path, cache_dir: &Path) -> wippy_wasm::Checked {
    let mut builder = wippy_wasm::Runtime::builder();
    builder
        .max_instances(8)
        .cache_dir(Some(cache_dir.to_path_buf()));
    builder.check(&wippy_wasm::Project::folder(dir))
}

/// One `process.wasm` entry (YAML) for a committed guest in the `bin` filesystem.
pub fn guest(name: &str, file: &str, method: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: process.wasm\n    fs: bin\n    path: /{file}\n    hash: {}\n    method: {method}\n{extra}",
        hash_of(file)
    )
}

/// A runtime over a temporary project, and the temporary folders it lives on.
pub struct TestRuntime {
    pub rt: wippy_wasm::Runtime,
    pub project: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

impl std::ops::Deref for TestRuntime {
    type Target = wippy_wasm::Runtime;
    fn deref(&self) -> &Self::Target {
        &self.rt
    }
}

/// A runtime builder with `slots` pool slots and a private compile cache.
pub fn options(cache: &tempfile::TempDir, slots: u32) -> wippy_wasm::RuntimeBuilder {
    let mut builder = wippy_wasm::Runtime::builder();
    builder
        .max_instances(slots)
        .cache_dir(Some(cache.path().to_path_buf()));
    builder
}

pub const HOST: &str = "t:host";

/// A runtime over a project with a single-worker host `t:host`, the `bin` filesystem and
/// `entries`; `tweak` adjusts the options (clock, log, tracing).
pub fn runtime_with(
    entries: &str,
    tweak: impl FnOnce(&mut wippy_wasm::RuntimeBuilder),
) -> TestRuntime {
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n    host:\n      workers: 1\n{entries}"
    ));
    let project = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let mut opts = options(&cache, 128);
    tweak(&mut opts);
    let rt = opts.load(project.path()).unwrap_or_else(|e| panic!("{e}"));
    TestRuntime {
        rt,
        project,
        _cache: cache,
    }
}

pub fn runtime(entries: &str) -> TestRuntime {
    runtime_with(entries, |_| {})
}

/// Spawns `entry` on `t:host`, waits for its EXIT, and returns how it ended.
pub fn run_to_exit(
    rt: &wippy_wasm::Runtime,
    entry: &str,
    args: Vec<wippy_wasm::Value>,
) -> wippy_wasm::ExitResult {
    let me = wippy_wasm::Mailbox::new();
    rt.spawn_monitored(&me, entry, HOST, args)
        .unwrap_or_else(|e| panic!("{e}"));
    me.receive(std::time::Duration::from_secs(60))
        .expect("EXIT within a minute")
        .result
}

/// Loads a project whose `_index.yaml` is `index`, expecting it to be refused; returns
/// every problem as text.
pub fn load_error(index: &str) -> String {
    let dir = project(&[("_index.yaml", index)]);
    let cache = tempfile::tempdir().unwrap();
    match options(&cache, 8).load(dir.path()) {
        Ok(_) => panic!("the project loaded; expected it to be refused"),
        Err(e) => e.to_string(),
    }
}

/// Waits (on the process's own counter, not a clock) until `pid` has taken `steps` Steps.
/// Panics if that takes a minute: a process that stopped stepping fails the test rather
/// than hanging it.
pub fn wait_for_steps(rt: &wippy_wasm::Runtime, pid: &wippy_wasm::Pid, steps: u64) {
    let stats = rt.stats(pid).expect("the process is alive");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stats.steps() < steps {
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} took {} Steps in a minute, waiting for {steps}",
            stats.steps()
        );
        std::thread::yield_now();
    }
}

/// A map value from pairs (what a Lua table with string keys comes back as).
pub fn map(pairs: &[(&str, wippy_wasm::Value)]) -> wippy_wasm::Value {
    wippy_wasm::Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}
