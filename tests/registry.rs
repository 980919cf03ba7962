//! The registry and binary loading (SPEC §1-2): every contract error text, all-or-nothing
//! loading, hash verification and the compile cache.

mod common;

use common::*;
use wippy_wasm::registry::{LoadErrors, Registry};
use wippy_wasm::Checked;

fn load(index: &str) -> Result<Checked, LoadErrors> {
    let dir = project(&[("_index.yaml", index)]);
    let cache = tempfile::tempdir().unwrap();
    check_dir(dir.path(), cache.path())
}

/// What loading the project in `dir` finds, as a result.
fn check_dir(dir: &std::path::Path, cache_dir: &std::path::Path) -> Result<Checked, LoadErrors> {
    let checked = check_with_cache(dir, cache_dir);
    if checked.is_ok() {
        Ok(checked)
    } else {
        Err(LoadErrors {
            problems: checked.problems,
        })
    }
}

fn worker_entry(extra: &str) -> String {
    format!(
        "  - name: w\n    kind: process.wasm\n    fs: bin\n    path: /worker.wasm\n    hash: {}\n    method: compute\n{extra}",
        hash_of("worker.wasm")
    )
}

/// Loads `index`, expects exactly one problem, and checks its text and its field.
fn expect_problem(index: &str, message: &str, field: &str) {
    let errors = load(index)
        .err()
        .unwrap_or_else(|| panic!("expected {message:?}, loaded fine"));
    assert_eq!(errors.problems.len(), 1, "{errors}");
    let p = &errors.problems[0];
    assert_eq!(p.message, message, "{errors}");
    assert_eq!(p.location.field.as_deref(), Some(field), "{errors}");
    assert!(p.location.file.as_ref().unwrap().ends_with("_index.yaml"));
    assert_eq!(p.location.entry.as_ref().unwrap().to_string(), "t:w");
}

#[test]
fn the_valid_base_entry_loads() {
    let project = load(&index_with(&worker_entry(""))).unwrap();
    assert_eq!(project.spawnable, 1);
}

#[test]
fn every_required_field_has_its_contract_text() {
    let h = hash_of("worker.wasm");
    let cases = [
        (
            format!("    path: /worker.wasm\n    hash: {h}\n    method: compute\n"),
            "fs",
        ),
        (
            format!("    fs: bin\n    hash: {h}\n    method: compute\n"),
            "path",
        ),
        (
            "    fs: bin\n    path: /worker.wasm\n    method: compute\n".to_owned(),
            "hash",
        ),
        (
            format!("    fs: bin\n    path: /worker.wasm\n    hash: {h}\n"),
            "method",
        ),
    ];
    for (fields, missing) in cases {
        let index = index_with(&format!("  - name: w\n    kind: process.wasm\n{fields}"));
        expect_problem(
            &index,
            &format!("invalid configuration: {missing} is required"),
            missing,
        );
    }
}

#[test]
fn wasi_and_limits_validation_texts() {
    let cases = [
        ("    wasi:\n      cwd: app\n", "invalid configuration: wasi.cwd must be absolute", "wasi.cwd"),
        ("    wasi:\n      env:\n        - name: X\n", "invalid configuration: wasi.env[].id is required", "wasi.env[0].id"),
        ("    wasi:\n      env:\n        - id: t:v\n", "invalid configuration: wasi.env[].name is required", "wasi.env[0].name"),
        (
            "    wasi:\n      env:\n        - {id: t:v, name: X}\n        - {id: t:v, name: X}\n",
            "invalid configuration: wasi.env[].name must be unique",
            "wasi.env[1].name",
        ),
        ("    wasi:\n      mounts:\n        - guest: /d\n", "invalid configuration: wasi.mounts[].fs is required", "wasi.mounts[0].fs"),
        ("    wasi:\n      mounts:\n        - fs: bin\n", "invalid configuration: wasi.mounts[].guest is required", "wasi.mounts[0].guest"),
        (
            "    wasi:\n      mounts:\n        - {fs: bin, guest: d}\n",
            "invalid configuration: wasi.mounts[].guest must be absolute",
            "wasi.mounts[0].guest",
        ),
        (
            "    wasi:\n      mounts:\n        - {fs: bin, guest: /d}\n        - {fs: bin, guest: /d/}\n",
            "invalid configuration: wasi.mounts[].guest must be unique",
            "wasi.mounts[1].guest",
        ),
        (
            "    limits:\n      max_execution_ms: -5\n",
            "invalid configuration: limits.max_execution_ms cannot be negative",
            "limits.max_execution_ms",
        ),
        ("    imports: [wasi:telepathy]\n", "unsupported wasm host import: wasi:telepathy", "imports[0]"),
        (
            "    wasi:\n      mounts:\n        - {fs: nowhere, guest: /d}\n",
            "wasi mount filesystem not found: t:nowhere",
            "wasi.mounts[0].fs",
        ),
    ];
    for (extra, message, field) in cases {
        expect_problem(&index_with(&worker_entry(extra)), message, field);
    }
}

#[test]
fn binary_loading_texts() {
    let good = hash_of("worker.wasm");
    let zeros = format!("sha256:{}", "0".repeat(64));
    let entry = |fs: &str, path: &str, hash: &str| {
        index_with(&format!(
            "  - name: w\n    kind: process.wasm\n    fs: {fs}\n    path: {path}\n    hash: {hash}\n    method: compute\n"
        ))
    };
    expect_problem(
        &entry("bin", "/nope.wasm", &good),
        "failed to open file: /nope.wasm",
        "path",
    );
    expect_problem(
        &entry("other:fs", "/worker.wasm", &good),
        "filesystem not found: other:fs",
        "fs",
    );
    expect_problem(
        &entry("bin", "/worker.wasm", "abc123"),
        "invalid hash format: abc123",
        "hash",
    );
    expect_problem(
        &entry("bin", "/worker.wasm", "md5:abc"),
        "unsupported hash algorithm: md5",
        "hash",
    );
    expect_problem(
        &entry("bin", "/worker.wasm", &zeros),
        &format!("hash mismatch: expected {zeros}, got {good}"),
        "hash",
    );
}

#[test]
fn an_import_the_entry_did_not_declare_fails_the_load_naming_it() {
    let index = index_with(&format!(
        "  - name: w\n    kind: process.wasm\n    fs: bin\n    path: /processor.wasm\n    hash: {}\n    method: process\n",
        hash_of("processor.wasm")
    ));
    let errors = load(&index).unwrap_err();
    assert!(!errors.problems.is_empty());
    for p in &errors.problems {
        assert!(
            p.message
                .starts_with("unsatisfied import wasi_snapshot_preview1::")
                && p.message.ends_with("add `wasi1` to the entry's imports"),
            "{p}"
        );
        assert_eq!(p.location.field.as_deref(), Some("imports"));
    }
    assert!(errors
        .problems
        .iter()
        .any(|p| p.message.contains("::fd_write")));
}

#[test]
fn a_tampered_binary_is_refused_and_nothing_from_it_loads() {
    let original = std::fs::read(guests().join("worker.wasm")).unwrap();
    let mut tampered = original.clone();
    *tampered.last_mut().unwrap() ^= 0x01;
    let index = format!(
        "namespace: t\nentries:\n  - {{name: bin, kind: fs.directory, directory: ./bin}}\n  - name: w\n    kind: process.wasm\n    fs: bin\n    path: /worker.wasm\n    hash: sha256:{}\n    method: compute\n",
        sha256_hex(&original)
    );
    let dir = project(&[("_index.yaml", &index)]);
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    std::fs::write(dir.path().join("bin/worker.wasm"), &tampered).unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache_dir.path());
    assert!(
        checked.problems[0].message.starts_with("hash mismatch"),
        "{:?}",
        checked.problems
    );
    // The bytes were never compiled: the cache saw nothing.
    assert_eq!(checked.cache.misses + checked.cache.hits, 0);
}

#[test]
fn every_problem_is_reported_at_once() {
    let index = index_with(
        "  - name: a\n    kind: process.wasm\n    fs: bin\n    path: /worker.wasm\n    method: compute\n    bogus: 1\n\
         \x20 - name: b\n    kind: process.wasm\n    method: x\n\
         \x20 - name: c\n    kind: process.host\n    host:\n      workers: many\n\
         \x20 - name: bin\n    kind: fs.directory\n    directory: ./again\n\
         \x20 - name: d\n    kind: http.service\n    port: 80\n",
    );
    let dir = project(&[("_index.yaml", &index)]);
    let mut diags = wippy_wasm::registry::Diagnostics::default();
    Registry::load_into(dir.path(), &mut diags);
    let text: Vec<String> = diags.problems.iter().map(|p| p.to_string()).collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(
        has("entry t:a: field .: invalid configuration: unknown field `bogus`")
            || has("unknown field `bogus`"),
        "{text:#?}"
    );
    assert!(
        has("entry t:b: field fs: invalid configuration: fs is required"),
        "{text:#?}"
    );
    assert!(
        has("entry t:b: field path: invalid configuration: path is required"),
        "{text:#?}"
    );
    assert!(
        has("entry t:b: field hash: invalid configuration: hash is required"),
        "{text:#?}"
    );
    assert!(
        has("entry t:c: field host.workers: invalid configuration: invalid type"),
        "{text:#?}"
    );
    assert!(has("entry t:bin: duplicate entry ID t:bin"), "{text:#?}");
    assert_eq!(diags.problems.len(), 6, "{text:#?}");
    // The unimplemented kind loads inert with exactly one warning.
    let warnings: Vec<_> = diags
        .warnings
        .iter()
        .filter(|w| w.message.contains("http.service"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:#?}", diags.warnings);
}

#[test]
fn wippy_fields_we_do_not_use_warn_but_load() {
    let dir = project(&[(
        "_index.yaml",
        &index_with(&worker_entry(
            "    pool:\n      size: 4\n    transport: payload\n",
        )),
    )]);
    let registry = Registry::load(dir.path()).unwrap();
    let fields: Vec<_> = registry
        .warnings()
        .iter()
        .filter_map(|w| w.location.field.clone())
        .collect();
    assert_eq!(fields, ["pool", "transport"]);
}

#[test]
fn references_resolve_in_the_declaring_namespace_across_files() {
    let h = hash_of("worker.wasm");
    let a = format!(
        "namespace: a\nentries:\n  - name: w\n    kind: process.wasm\n    fs: b:bin\n    path: /worker.wasm\n    hash: {h}\n    method: compute\n"
    );
    let b = format!(
        "namespace: b\nentries:\n  - {{name: bin, kind: fs.directory, directory: {}}}\n",
        guests().display()
    );
    let dir = project(&[
        ("a/_index.yaml", &a),
        ("nested/deep/b/_index.yaml", &b),
        ("target/_index.yaml", "broken: ["),
    ]);
    let registry = Registry::load(dir.path()).unwrap();
    assert_eq!(registry.entries().len(), 2, "target/ must be skipped");
}

#[test]
fn a_fifty_entry_project_loads_and_compiles_each_binary_once() {
    let mut entries = String::new();
    for i in 0..50 {
        entries.push_str(&worker_entry("").replace("name: w", &format!("name: w{i}")));
    }
    let dir = project(&[("_index.yaml", &index_with(&entries))]);
    let cache_dir = tempfile::tempdir().unwrap();
    let checked = check_dir(dir.path(), cache_dir.path()).unwrap();
    assert_eq!(checked.spawnable, 50);
    assert_eq!(checked.entries, 51);
    assert_eq!(checked.cache.misses, 1, "one binary, compiled once");
}

#[test]
fn a_wasi_0_3_component_is_cached_and_counted_like_any_other() {
    // It compiles on the concurrent engines, into their cache; the counts are the
    // runtime's, over every engine set.
    let entry = guest(
        "p3",
        "p3_sleeper.wasm",
        "wasi:cli/run#run",
        "    imports: [wasi:cli, wasi:clocks]\n",
    );
    let dir = project(&[("_index.yaml", &index_with(&entry))]);
    let cache_dir = tempfile::tempdir().unwrap();
    let first = check_dir(dir.path(), cache_dir.path()).unwrap().cache;
    assert_eq!((first.hits, first.misses), (0, 1));
    let second = check_dir(dir.path(), cache_dir.path()).unwrap().cache;
    assert_eq!((second.hits, second.misses), (1, 0));
}

#[test]
fn the_compile_cache_hits_on_the_second_load_and_rebuilds_a_corrupt_file() {
    let dir = project(&[("_index.yaml", &index_with(&worker_entry("")))]);
    let cache_dir = tempfile::tempdir().unwrap();

    let first = check_dir(dir.path(), cache_dir.path()).unwrap().cache;
    assert_eq!((first.hits, first.misses), (0, 1));

    let second = check_dir(dir.path(), cache_dir.path()).unwrap().cache;
    assert_eq!((second.hits, second.misses), (1, 0));

    let files: Vec<_> = std::fs::read_dir(cache_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let corruptions: [fn(&mut Vec<u8>); 3] = [
        |b| {
            let n = b.len() / 2;
            b[n] ^= 0xff
        },
        |b| b.truncate(b.len() / 3),
        |b| b[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\0"),
    ];
    for corrupt in corruptions {
        let mut bytes = std::fs::read(&files[0]).unwrap();
        corrupt(&mut bytes);
        std::fs::write(&files[0], &bytes).unwrap();

        let again = check_dir(dir.path(), cache_dir.path()).unwrap();
        assert_eq!(again.cache.rejected, 1, "the corrupt file is detected");
        assert_eq!(again.cache.hits, 0);
        assert_eq!(again.spawnable, 1);

        let healed = check_dir(dir.path(), cache_dir.path()).unwrap().cache;
        assert_eq!(healed.hits, 1, "and rewritten whole");
    }
}

#[test]
fn committed_binaries_match_their_registry_hashes() {
    let cache_dir = tempfile::tempdir().unwrap();
    check_dir(&repo().join("wasm"), cache_dir.path())
        .unwrap_or_else(|e| panic!("wasm/_index.yaml is stale; run wasm/build.sh\n{e}"));
    check_dir(&repo().join("examples"), cache_dir.path())
        .unwrap_or_else(|e| panic!("examples/_index.yaml is stale; run wasm/build.sh\n{e}"));
    // Every committed binary is covered by an entry (and so by a hash).
    let guests_registry = Registry::load(repo().join("wasm")).unwrap();
    let used: std::collections::HashSet<String> = guests_registry
        .wasm_entries()
        .map(|(_, w)| w.path.trim_start_matches('/').to_owned())
        .collect();
    for file in std::fs::read_dir(guests()).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".wasm") {
            assert!(
                used.contains(&name),
                "wasm/bin/{name} has no entry in wasm/_index.yaml"
            );
        }
    }
}

/// A FIFO named `_index.yaml` would block the scan forever, and a sparse binary of many
/// gigabytes (nothing on disk) would be read whole before its hash: both are refused.
#[cfg(unix)]
#[test]
fn a_fifo_index_is_skipped_and_a_huge_binary_is_refused_before_reading() {
    let data = tempfile::tempdir().unwrap();
    let huge = std::fs::File::create(data.path().join("huge.wasm")).unwrap();
    huge.set_len(3 << 30).unwrap();
    let index = format!(
        "version: \"1.0\"\nnamespace: t\nentries:\n  - name: data\n    kind: fs.directory\n    directory: {}\n  - name: w\n    kind: process.wasm\n    fs: data\n    path: /huge.wasm\n    hash: sha256:{}\n    method: run\n",
        data.path().display(),
        "0".repeat(64)
    );
    let dir = project(&[("_index.yaml", &index)]);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let fifo = dir.path().join("sub").join("_index.yaml");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let cache = tempfile::tempdir().unwrap();
    let errors = check_dir(dir.path(), cache.path()).err().unwrap();
    assert_eq!(errors.problems.len(), 1, "{errors}");
    assert_eq!(
        errors.problems[0].message,
        "file too large: /huge.wasm is 3221225472 bytes, the most a binary may be is 1073741824"
    );
}

/// `wippy check` and a load go through the same process kinds: a problem only a run used
/// to find (a Lua syntax error, a stack limit below the runtime's) is a check problem too,
/// with the same text.
#[test]
fn check_reports_exactly_what_a_load_refuses() {
    let entries = worker_entry("    limits:\n      max_stack_bytes: 1024\n")
        + "  - name: bad\n    kind: process.lua\n    source: \"return {\"\n";
    let dir = project(&[("_index.yaml", &index_with(&entries))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    let refused = match options(&cache, 8).load(dir.path()) {
        Err(wippy_wasm::RuntimeError::Load(errors)) => errors.problems,
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the project loaded"),
    };
    let texts = |problems: &[wippy_wasm::Problem]| -> Vec<String> {
        problems.iter().map(|p| p.to_string()).collect()
    };
    assert_eq!(texts(&checked.problems), texts(&refused));
    let all = texts(&refused).join("\n");
    assert!(
        all.contains("entry t:w: field limits.max_stack_bytes: 1024 is below"),
        "{all}"
    );
    assert!(
        all.contains("entry t:bad: field source: lua syntax error"),
        "{all}"
    );
}

/// One `check` reports every problem of a project at once: YAML and binaries, exports,
/// scripts and limits, each naming its entry (a binary problem is not held back until
/// the YAML is fixed).
#[test]
fn ten_problems_of_every_kind_come_from_one_check() {
    let worker = |name: &str, extra: &str| {
        worker_entry(extra).replace("name: w\n", &format!("name: {name}\n"))
    };
    let mut entries = String::new();
    entries += &worker("a", "").replace("    method: compute\n", "");
    entries += &worker("b", "    bogus: 1\n");
    entries += &worker("c", "").replace("fs: bin", "fs: nowhere");
    entries += &worker("d", "").replace("hash: sha256:", "hash: md5:");
    entries += "  - name: e\n    kind: process.host\n    host:\n      mailbox_size: 0\n";
    entries += &worker("f", "").replace(&hash_of("worker.wasm"), &hash_of("component.wasm"));
    entries += &worker("g", "").replace("/worker.wasm", "/missing.wasm");
    entries += &worker("h", "").replace("method: compute", "method: nope");
    entries += "  - name: i\n    kind: process.lua\n    source: \"return {\"\n";
    entries += &worker("j", "    limits:\n      max_stack_bytes: 1024\n");
    let dir = project(&[("_index.yaml", &index_with(&entries))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    let all: Vec<String> = checked.problems.iter().map(|p| p.to_string()).collect();
    for name in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"] {
        assert!(
            all.iter().any(|p| p.contains(&format!("entry t:{name}:"))),
            "no problem for t:{name} in:\n{}",
            all.join("\n")
        );
    }
}

/// What `wippy run` would refuse about commands, `check` finds: a name it reads as
/// something else, and commands with no host to run on.
#[test]
fn commands_that_cannot_run_are_found_at_load() {
    let command = |name: &str| {
        worker_entry(&format!("    meta:\n      command: {{name: \"{name}\"}}\n"))
            .replace("name: w\n", &format!("name: c{}\n", name.len()))
    };
    let index = index_with(&(command("list") + &command("tool.wasm")));
    let dir = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    assert!(checked.is_ok(), "still loads: {:?}", checked.problems);
    let errors: String = checked.warnings.iter().map(|w| format!("{w}\n")).collect();
    assert!(
        errors.contains("field meta.command.name: command name \"list\" cannot be run: `wippy run list` lists the commands"),
        "{errors}"
    );
    assert!(
        errors.contains("command name \"tool.wasm\" cannot be run"),
        "{errors}"
    );

    let dir = project(&[("_index.yaml", &index_with(&command("go")))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    assert!(checked.is_ok(), "{:?}", checked.problems);
    let warnings: Vec<String> = checked.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("the project has commands but no terminal.host")),
        "{warnings:?}"
    );
    // As in Wippy, a command needs no process.host.
    assert!(
        !warnings.iter().any(|w| w.contains("no process.host")),
        "{warnings:?}"
    );
}

/// A sound cache file is bound to its binary and engine: one copied under another
/// binary's name is refused and rebuilt, never run as the other binary's code.
#[test]
fn a_cache_file_copied_under_another_binarys_name_is_refused() {
    let cache_dir = tempfile::tempdir().unwrap();
    let files = || -> std::collections::BTreeSet<std::path::PathBuf> {
        std::fs::read_dir(cache_dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let worker = project(&[("_index.yaml", &index_with(&worker_entry("")))]);
    check_dir(worker.path(), cache_dir.path()).unwrap();
    let worker_file = files().into_iter().next().unwrap();
    let other = guest("m", "misbehave.wasm", "spin", "");
    let misbehave = project(&[("_index.yaml", &index_with(&other))]);
    check_dir(misbehave.path(), cache_dir.path()).unwrap();
    let misbehave_file = files().into_iter().find(|f| *f != worker_file).unwrap();

    std::fs::copy(&worker_file, &misbehave_file).unwrap();
    let again = check_dir(misbehave.path(), cache_dir.path()).unwrap();
    assert_eq!((again.cache.rejected, again.cache.hits), (1, 0));
    assert_eq!(again.spawnable, 1);
}

#[test]
fn registry_fields_as_wippy_writes_them_load() {
    let entries = r#"
  - name: terminal
    kind: terminal.host
    hide_logs: true
  - name: vars
    kind: env.storage.memory
    values: { API_KEY: secret }
    lifecycle: { auto_start: true }
  - name: os
    kind: env.storage.os
    lifecycle: { auto_start: true }
  - name: API_KEY
    kind: env.variable
    storage: vars
    readonly: true
  - name: hello
    kind: process.lua
    source: "return { main = function() end }"
    meta:
      command: hello
  - name: described
    kind: process.lua
    source: "return { main = function() end }"
    meta:
      command:
        name: described
        short: with Wippy's extra fields
        main: true
        use_case: demo
        security: { actor: admin }
  - name: router
    kind: http.router
    meta:
      command: { anything: goes }
      title: free-form
"#;
    let dir = project(&[("_index.yaml", &index_with(entries))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    assert!(checked.is_ok(), "{:?}", checked.problems);
    let rt = options(&cache, 8).load(dir.path()).unwrap();
    let registry = rt.registry();
    let id = |s: &str| wippy_wasm::EntryId::parse(s).unwrap();
    match registry.config(&id("t:API_KEY")) {
        Some(wippy_wasm::registry::EntryConfig::EnvVariable(v)) => {
            // No `variable`: the entry's name, as in Wippy.
            assert_eq!(v.variable, "API_KEY");
            assert!(v.read_only);
        }
        other => panic!("{other:?}"),
    }
    let names: Vec<&str> = registry
        .commands()
        .iter()
        .map(|(c, _)| c.name.as_str())
        .collect();
    assert_eq!(names, ["described", "hello"]);
}

#[test]
fn a_relative_directory_is_taken_from_the_project_folder_or_with_base_module_from_its_index() {
    let nested = "version: \"1.0\"\nnamespace: t\nentries:\n  - {name: data, kind: fs.directory, directory: ./data}\n  - {name: local, kind: fs.directory, directory: ./data, base: module}\n  - {name: odd, kind: fs.directory, directory: ./data, base: elsewhere}\n";
    let dir = project(&[("sub/_index.yaml", nested)]);
    let mut diags = wippy_wasm::registry::Diagnostics::default();
    let registry = Registry::load_into(dir.path(), &mut diags);
    let directory = |name: &str| {
        registry
            .fs_directory(&wippy_wasm::EntryId::parse(&format!("t:{name}")).unwrap())
            .map(|fs| fs.directory.clone())
    };
    assert_eq!(directory("data"), Some(dir.path().join("data")));
    assert_eq!(
        directory("local"),
        Some(dir.path().join("sub").join("data"))
    );
    let problems: Vec<String> = diags.problems.iter().map(|p| p.to_string()).collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("field base") && p.contains("\"elsewhere\"")),
        "{problems:?}"
    );
}

#[test]
fn a_folder_with_a_wippy_lock_of_its_own_is_another_project_and_is_not_loaded() {
    let app = "version: \"1.0\"\nnamespace: app\nentries:\n  - name: h\n    kind: process.host\n";
    let dir = project(&[
        ("_index.yaml", app),
        ("nested/wippy.lock", "directories:\n  src: .\n"),
        ("nested/_index.yaml", app),
    ]);
    let outer = Registry::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outer.entries().len(), 1);
    assert_eq!(outer.entries()[0].file, dir.path().join("_index.yaml"));
    let inner = Registry::load(dir.path().join("nested")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inner.entries().len(), 1);
}

#[test]
fn a_wippy_lock_names_the_folder_that_holds_the_registry() {
    let app = "version: \"1.0\"\nnamespace: app\nentries:\n  - name: h\n    kind: process.host\n";
    // `dev/` is another app (its own `app:h`); only the lock's `src` folder is the registry.
    let dir = project(&[
        (
            "wippy.lock",
            "directories:\n  modules: .wippy\n  src: ./app\n",
        ),
        ("app/_index.yaml", app),
        ("dev/_index.yaml", app),
        (".wippy/vendor/_index.yaml", app),
    ]);
    let registry =
        wippy_wasm::registry::Registry::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registry.entries().len(), 1);
    assert!(registry.entries()[0]
        .file
        .starts_with(dir.path().join("app")));

    let bad = project(&[
        ("wippy.lock", "directories:\n  src: ./missing\n"),
        ("_index.yaml", app),
    ]);
    let err = wippy_wasm::registry::Registry::load(bad.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("directories.src \"./missing\" is not a folder of the project"),
        "{err}"
    );
}
