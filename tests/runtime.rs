//! The process runtime (SPEC §3-4): spawn, monitor, link, terminate, limits, traps.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::engine::EngineOptions;
use wippy_wasm::event::{EventKind, Mailbox};
use wippy_wasm::runtime::{Runtime, RuntimeOptions};
use wippy_wasm::value::Value;

const WAIT: Duration = Duration::from_secs(30);
const HOST: &str = "t:host";

fn misbehave(name: &str, method: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    kind: process.wasm\n    fs: bin\n    path: /misbehave.wasm\n    hash: {}\n    method: {method}\n{extra}",
        hash_of("misbehave.wasm")
    )
}

/// Runtime options with `slots` pool slots and a private compile cache.
fn options(cache: &tempfile::TempDir, slots: u32) -> RuntimeOptions {
    RuntimeOptions {
        engine: EngineOptions {
            max_instances: slots,
            cache_dir: Some(cache.path().to_path_buf()),
            ..EngineOptions::default()
        },
        ..RuntimeOptions::default()
    }
}

/// A runtime over a temp project with one single-worker host and the given entries.
fn runtime(entries: &str) -> (Runtime, tempfile::TempDir, tempfile::TempDir) {
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n    host:\n      workers: 1\n{entries}"
    ));
    let dir = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::load(dir.path(), options(&cache, 128)).unwrap_or_else(|e| panic!("{e}"));
    (rt, dir, cache)
}

fn error_of(rt: &Runtime, entry: &str, args: Vec<Value>) -> String {
    let me = Mailbox::new();
    rt.spawn_monitored(&me, entry, HOST, args).unwrap();
    let exit = me.receive(WAIT).expect("EXIT");
    exit.result
        .error
        .unwrap_or_else(|| panic!("{entry} did not fail: {:?}", exit.result.value))
}

#[test]
fn the_seed_example_returns_42_through_the_public_api() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::load(&repo().join("examples"), options(&cache, 16)).unwrap();
    let me = Mailbox::new();
    let pid = rt
        .spawn_monitored(
            &me,
            "myns:compute_worker",
            "myns:processes",
            vec![Value::Int(6), Value::Int(7)],
        )
        .unwrap();
    assert!(pid.to_string().starts_with("{myns:processes|"));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.kind, EventKind::Exit);
    assert_eq!(exit.kind.topic(), "pid.exit");
    assert_eq!(exit.from, pid);
    assert_eq!(exit.result.value, Value::Int(42));
    assert_eq!(exit.result.error, None);

    let greeting = rt.spawn_monitored(
        &me,
        "myns:greet",
        "myns:processes",
        vec![Value::String("Ada".into())],
    );
    assert!(greeting.is_ok());
    assert_eq!(
        me.receive(WAIT).unwrap().result.value,
        Value::String("Hello, Ada!".into())
    );
}

#[test]
fn terminate_ends_a_spinning_process_and_tells_monitors_and_links() {
    let (rt, _d, _c) = runtime(&misbehave("spin", "spin", ""));
    let monitor = Mailbox::new();
    let link = Mailbox::new();
    let pid = rt
        .spawn_monitored(&monitor, "t:spin", HOST, vec![])
        .unwrap();
    assert!(rt.link(&link, &pid));
    // It is really running: it has taken Steps (it yields every fuel slice).
    while rt
        .stats(&pid)
        .unwrap()
        .steps
        .load(std::sync::atomic::Ordering::Relaxed)
        < 3
    {
        std::thread::yield_now();
    }
    assert!(rt.terminate(&pid));
    let exit = monitor.receive(WAIT).unwrap();
    assert_eq!(exit.result.error.as_deref(), Some("process terminated"));
    let down = link.receive(WAIT).unwrap();
    assert_eq!(down.kind, EventKind::LinkDown);
    assert_eq!(down.from, pid);
    assert_eq!(rt.live(HOST), 0);
    assert!(!rt.terminate(&pid), "already gone");
}

#[test]
fn an_infinite_loop_does_not_stop_other_processes_on_its_worker() {
    let entries = misbehave("spin", "spin", "") + &misbehave("burn", "burn", "");
    let (rt, _d, _c) = runtime(&entries);
    let spinner = rt.spawn("t:spin", HOST, vec![]).unwrap();
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(5_000_000)])
        .unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.value, Value::Int(5_000_000));
    assert!(rt.stats(&spinner).is_some(), "the spinner is still running");
    rt.terminate(&spinner);
}

#[test]
fn each_limit_fails_only_its_own_process_with_its_error() {
    let entries = misbehave("fuel", "spin", "    limits:\n      fuel: 1000000\n")
        + &misbehave(
            "deadline",
            "spin",
            "    limits:\n      max_execution_ms: 50\n",
        )
        + &misbehave("bomb", "bomb", "    limits:\n      memory_bytes: 1048576\n")
        + &misbehave("burn", "burn", "");
    let (rt, _d, _c) = runtime(&entries);
    let me = Mailbox::new();
    let fuel = rt.spawn_monitored(&me, "t:fuel", HOST, vec![]).unwrap();
    let deadline = rt.spawn_monitored(&me, "t:deadline", HOST, vec![]).unwrap();
    let bomb = rt.spawn_monitored(&me, "t:bomb", HOST, vec![]).unwrap();
    let burn = rt
        .spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(1000)])
        .unwrap();
    let mut results = std::collections::HashMap::new();
    for _ in 0..4 {
        let e = me.receive(WAIT).unwrap();
        results.insert(e.from.clone(), e.result);
    }
    let err = |pid| results[pid].error.clone().unwrap_or_default();
    assert!(err(&fuel).contains("fuel limit exceeded"), "{}", err(&fuel));
    assert!(
        err(&fuel).starts_with("failed to call wasm method: spin: "),
        "{}",
        err(&fuel)
    );
    assert_eq!(err(&deadline), "execution time limit exceeded");
    assert!(
        err(&bomb).contains("memory limit exceeded"),
        "{}",
        err(&bomb)
    );
    assert_eq!(results[&burn].value, Value::Int(1000));
    assert_eq!(results[&burn].error, None);
}

#[test]
fn traps_are_contained() {
    let entries = misbehave("unreachable", "unreachable", "")
        + &misbehave("div", "div", "")
        + &misbehave("recurse", "recurse", "")
        + &misbehave("oob", "oob", "")
        + &misbehave("burn", "burn", "");
    let (rt, _d, _c) = runtime(&entries);
    assert!(error_of(&rt, "t:unreachable", vec![])
        .contains("wasm trap: wasm `unreachable` instruction executed"));
    assert!(error_of(&rt, "t:div", vec![Value::Int(0)]).contains("integer divide by zero"));
    assert!(error_of(&rt, "t:recurse", vec![Value::Int(0)]).contains("stack overflow"));
    assert!(error_of(&rt, "t:oob", vec![]).contains("out of bounds memory access"));
    // The host is fine afterwards.
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(3)])
        .unwrap();
    assert_eq!(me.receive(WAIT).unwrap().result.value, Value::Int(3));
}

#[test]
fn bad_arguments_fail_the_process_with_a_clear_error() {
    let (rt, _d, _c) = runtime(&misbehave("div", "div", ""));
    assert_eq!(
        error_of(&rt, "t:div", vec![]),
        "parameter count mismatch: expected 1, got 0"
    );
    assert_eq!(
        error_of(&rt, "t:div", vec![Value::List(vec![])]),
        "parameter 0: expected i32, got list"
    );
    assert!(rt.spawn("t:nope", HOST, vec![]).is_err());
    assert!(rt.spawn("t:div", "t:nohost", vec![]).is_err());
}

#[test]
fn ten_thousand_spawn_exit_cycles_leave_the_table_empty() {
    let (rt, _d, _c) = runtime(&misbehave("burn", "burn", ""));
    let me = Mailbox::new();
    for _batch in 0..100 {
        for _ in 0..100 {
            rt.spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(1)])
                .unwrap();
        }
        for _ in 0..100 {
            let e = me.receive(WAIT).unwrap();
            assert_eq!(e.result.value, Value::Int(1));
        }
    }
    assert_eq!(rt.live(HOST), 0);
    assert!(
        me.receive(Duration::ZERO).is_none(),
        "exactly one EXIT each"
    );
}
