//! Hostile guests (`wasm/src/hostile.wat`): every attack on a host function, and every
//! resource bomb, ends inside its own process with an errno or a clear error, while a
//! neighbour on the same one-worker host runs to its end.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use wippy_wasm::GuestLog;
use wippy_wasm::Value;
use wippy_wasm::{ExitResult, Mailbox, Pid};

const WAIT: Duration = Duration::from_secs(120);
const EFAULT: i64 = 21;

fn hostile(name: &str, method: &str, extra: &str) -> String {
    guest(
        name,
        "hostile.wasm",
        method,
        &format!("    imports: [wasi1]\n{extra}"),
    )
}

/// The neighbour: a long, well-behaved computation sharing the only worker.
fn neighbour() -> String {
    guest("burn", "misbehave.wasm", "burn", "")
}

/// Spawns the neighbour, then every `attacks` entry (without arguments), and returns
/// how each ended.
fn run_beside_neighbour(rt: &wippy_wasm::Runtime, attacks: &[&str]) -> HashMap<String, ExitResult> {
    let with_args: Vec<(&str, Vec<Value>)> = attacks.iter().map(|a| (*a, vec![])).collect();
    run_with_args_beside_neighbour(rt, with_args)
}

fn run_with_args_beside_neighbour(
    rt: &wippy_wasm::Runtime,
    attacks: Vec<(&str, Vec<Value>)>,
) -> HashMap<String, ExitResult> {
    let me = Mailbox::new();
    let mut names: HashMap<Pid, String> = HashMap::new();
    let burn = rt
        .spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(30_000_000)])
        .unwrap();
    names.insert(burn, "burn".into());
    for (attack, args) in attacks {
        let pid = rt
            .spawn_monitored(&me, &format!("t:{attack}"), HOST, args)
            .unwrap();
        names.insert(pid, attack.to_string());
    }
    let mut results = HashMap::new();
    for _ in 0..names.len() {
        let exit = me.receive(WAIT).expect("every process ends");
        results.insert(names[&exit.from].clone(), exit.result);
    }
    results
}

#[test]
fn bad_pointers_and_counts_get_an_errno_and_the_neighbour_finishes() {
    let attacks = [
        "poll_bomb",
        "poll_subs_oob",
        "poll_wrap",
        "poll_out_oob",
        "poll_nevents_oob",
    ];
    let entries: String = attacks
        .iter()
        .map(|a| hostile(a, a, ""))
        .chain([hostile("poll_overlap", "poll_overlap", ""), neighbour()])
        .collect();
    let rt = runtime(&entries);
    let results = run_beside_neighbour(&rt, &[&attacks[..], &["poll_overlap"]].concat());
    for attack in attacks {
        let r = &results[attack];
        assert_eq!(r.error(), None, "{attack}: {r:?}");
        assert_eq!(r.value, Value::Int(EFAULT), "{attack}: EFAULT expected");
    }
    // Subscriptions and events in the same bytes: read first, then written.
    assert_eq!(results["poll_overlap"].value, Value::Int(1));
    assert_eq!(results["burn"].value, Value::Int(30_000_000));
}

#[test]
fn attacks_on_wasi_functions_end_inside_their_own_process() {
    let attacks = [
        "write_bomb",
        "write_huge_iov",
        "random_bomb",
        "clock_oob",
        "path_bomb",
    ];
    let entries: String = attacks
        .iter()
        .map(|a| hostile(a, a, ""))
        .chain([neighbour()])
        .collect();
    let rt = runtime(&entries);
    let results = run_beside_neighbour(&rt, &attacks);
    for attack in attacks {
        let r = &results[attack];
        // Refused with an errno, or ended with a one-line error: never a host crash.
        match &r.error() {
            None => assert_ne!(r.value, Value::Int(0), "{attack} must be refused: {r:?}"),
            Some(e) => assert!(!e.contains('\n'), "{attack}: {e}"),
        }
    }
    assert_eq!(results["burn"].value, Value::Int(30_000_000));
}

#[test]
fn resource_bombs_recursion_and_floods_end_with_clear_errors() {
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let entries = hostile("flood", "flood", "    limits:\n      fuel: 200000\n")
        + &hostile(
            "grow_or_die",
            "grow_or_die",
            "    limits:\n      memory_bytes: 1048576\n",
        )
        + &hostile("table_bomb", "table_bomb", "")
        + &guest("recurse", "misbehave.wasm", "recurse", "")
        + &guest(
            "bomb",
            "misbehave.wasm",
            "bomb",
            "    limits:\n      memory_bytes: 8388608\n",
        )
        + &neighbour();
    let rt = runtime_with(&entries, |o| {
        o.guest_output(GuestLog::new(move |_, _, line| {
            counter.fetch_add(line.len(), Ordering::Relaxed);
        }));
    });
    let results = run_with_args_beside_neighbour(
        &rt,
        vec![
            ("flood", vec![]),
            ("grow_or_die", vec![]),
            ("table_bomb", vec![]),
            ("recurse", vec![Value::Int(0)]),
            ("bomb", vec![]),
        ],
    );
    let err = |name: &str| results[name].error().clone().unwrap_or_default();

    assert!(
        err("flood").contains("fuel limit exceeded"),
        "{}",
        err("flood")
    );
    assert!(
        written.load(Ordering::Relaxed) > 1 << 20,
        "the flood reached the log"
    );
    // memory.grow returned -1; the guest gave up, and its error says why.
    assert!(
        err("grow_or_die").contains("unreachable"),
        "{}",
        err("grow_or_die")
    );
    assert!(
        err("grow_or_die")
            .contains("memory limit reached: the guest asked for 67174400 bytes, the limit is 1048576 (limits.memory_bytes)"),
        "{}",
        err("grow_or_die")
    );
    // Tables grow until the limit says no (-1), and the guest returns normally.
    assert_eq!(
        results["table_bomb"].error(),
        None,
        "{:?}",
        results["table_bomb"]
    );
    assert!(matches!(results["table_bomb"].value, Value::Int(n) if n > 1));
    assert!(
        err("recurse").contains("stack overflow"),
        "{}",
        err("recurse")
    );
    // A guest that copes with -1 keeps running and ends normally.
    assert_eq!(results["bomb"].error(), None);
    assert_eq!(results["burn"].value, Value::Int(30_000_000));
}

/// Each of three guests opens files until its handle limit refuses it, keeping them
/// all; a fourth guest still gets a descriptor for its own mount.
#[test]
fn a_guest_cannot_take_every_descriptor_of_the_host() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("f"), "x").unwrap();
    let mount = "    wasi:\n      mounts:\n        - {fs: data, guest: /data}\n";
    let entries = format!(
        "  - name: data\n    kind: fs.directory\n    directory: {}\n",
        data.path().display()
    ) + &hostile("open_many", "open_many", mount)
        + &hostile("open_one", "open_one", mount);
    let rt = runtime(&entries);
    let me = Mailbox::new();
    // 3 x 8,000 is more than this machine's 20,000 descriptors: without a per-process
    // cap the third guest, or the fourth, is refused by the OS.
    let hogs: Vec<Pid> = (0..3)
        .map(|_| {
            rt.spawn_monitored(&me, "t:open_many", HOST, vec![Value::Int(8000)])
                .unwrap()
        })
        .collect();
    for _ in &hogs {
        let exit = me.receive(WAIT).unwrap();
        let error = exit.result.error().unwrap_or_default();
        assert!(
            error.contains("too many open handles: the process holds its limit of 1024 (limits.max_open_files)"),
            "{error}"
        );
    }
    rt.spawn_monitored(&me, "t:open_one", HOST, vec![]).unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error(), None);
    assert_eq!(
        exit.result.value,
        Value::Int(0),
        "the fourth guest opened its file"
    );
}

#[test]
fn the_handle_limit_is_configurable() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("f"), "x").unwrap();
    let entries = format!(
        "  - name: data\n    kind: fs.directory\n    directory: {}\n",
        data.path().display()
    ) + &hostile(
        "open_many",
        "open_many",
        "    limits:\n      max_open_files: 10\n    wasi:\n      mounts:\n        - {fs: data, guest: /data}\n",
    );
    let rt = runtime(&entries);
    let error = run_to_exit(&rt, "t:open_many", vec![Value::Int(100)])
        .error()
        .unwrap_or_default();
    assert!(
        error.contains("its limit of 10 (limits.max_open_files)"),
        "{error}"
    );
}

/// A project whose wasm entries are WAT modules written for the test (compiled with the
/// `wat` crate, hashed like committed guests), each importing `wippy_actor`.
fn wat_runtime(modules: &[(&str, &str, &str)]) -> TestRuntime {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = format!(
        "  - name: gen\n    kind: fs.directory\n    directory: {}\n",
        dir.path().display()
    );
    for (name, wat, method) in modules {
        let bytes = wat::parse_str(wat).unwrap();
        std::fs::write(dir.path().join(format!("{name}.wasm")), &bytes).unwrap();
        entries += &format!(
            "  - name: {name}\n    kind: process.wasm\n    fs: t:gen\n    path: {name}.wasm\n    hash: sha256:{}\n    method: {method}\n    imports: [wippy:actor]\n",
            sha256_hex(&bytes)
        );
    }
    let rt = runtime(&entries);
    std::mem::forget(dir); // the binaries were read at load; the folder may stay
    rt
}

const ACTOR_IMPORTS: &str = r#"
  (import "wippy_actor" "self" (func $self (param i32 i32) (result i32)))
  (import "wippy_actor" "send" (func $send (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wippy_actor" "try_receive" (func $try_receive (result i32)))
  (import "wippy_actor" "message_topic" (func $topic (param i32 i32) (result i32)))
  (import "wippy_actor" "message_from" (func $from (param i32 i32) (result i32)))
  (import "wippy_actor" "message_data" (func $data (param i32 i32) (result i32)))
  (import "wippy_actor" "monitor" (func $monitor (param i32 i32) (result i32)))
  (import "wippy_actor" "link" (func $link (param i32 i32) (result i32)))
  (import "wippy_actor" "terminate" (func $terminate (param i32 i32) (result i32)))
  (import "wippy_actor" "register" (func $register (param i32 i32) (result i32)))
  (import "wippy_actor" "lookup" (func $lookup (param i32 i32 i32 i32) (result i32)))
"#;

#[test]
fn message_readers_names_and_pid_functions_refuse_hostile_pointers_with_codes() {
    // Every probe returns the host's answer; none may trap, crash or write out of bounds.
    let probes = format!(
        r#"(module {ACTOR_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 0) "t")
  (data (i32.const 16) "me")
  (func (export "probe") (param $k i32) (result i32) (local $len i32)
    ;; 0-1: no current message yet
    (if (i32.eq (local.get $k) (i32.const 0)) (then (return (call $topic (i32.const 0) (i32.const 16)))))
    (if (i32.eq (local.get $k) (i32.const 1)) (then (return (call $from (i32.const 0xffff0000) (i32.const 16)))))
    ;; a message to itself, so one is current
    (local.set $len (call $self (i32.const 100) (i32.const 200)))
    (drop (call $send (i32.const 100) (local.get $len) (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 1)))
    (drop (call $try_receive))
    ;; 2-4: buffers outside memory, just past its end, wrapping past 4 GiB
    (if (i32.eq (local.get $k) (i32.const 2)) (then (return (call $topic (i32.const 0xfffffff0) (i32.const 64)))))
    (if (i32.eq (local.get $k) (i32.const 3)) (then (return (call $data (i32.const 65536) (i32.const 1)))))
    (if (i32.eq (local.get $k) (i32.const 4)) (then (return (call $from (i32.const -1) (i32.const -1)))))
    ;; 5-7: pids read from outside memory, or too long to be a pid
    (if (i32.eq (local.get $k) (i32.const 5)) (then (return (call $monitor (i32.const 0xfffffff0) (i32.const 100)))))
    (if (i32.eq (local.get $k) (i32.const 6)) (then (return (call $link (i32.const 0) (i32.const 0x7fffffff)))))
    (if (i32.eq (local.get $k) (i32.const 7)) (then (return (call $terminate (i32.const 65530) (i32.const 100)))))
    ;; 8-9: a name found, its pid written outside memory; a name read from outside it
    (drop (call $register (i32.const 16) (i32.const 2)))
    (if (i32.eq (local.get $k) (i32.const 8)) (then (return (call $lookup (i32.const 16) (i32.const 2) (i32.const 0xfffffff0) (i32.const 64)))))
    (if (i32.eq (local.get $k) (i32.const 9)) (then (return (call $lookup (i32.const 0xfffffff0) (i32.const 10) (i32.const 0) (i32.const 0)))))
    ;; 10: the message is still readable after all that
    (call $topic (i32.const 200) (i32.const 16)))
)"#
    );
    // No exported memory: every function that reads or writes guest memory says FAULT.
    let memoryless = format!(
        r#"(module {ACTOR_IMPORTS}
  (func (export "probe") (param $k i32) (result i32)
    (if (i32.eq (local.get $k) (i32.const 0)) (then (return (call $self (i32.const 0) (i32.const 64)))))
    (if (i32.eq (local.get $k) (i32.const 1)) (then (return (call $register (i32.const 0) (i32.const 2)))))
    (call $send (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 1)))
)"#
    );
    let rt = wat_runtime(&[("probes", &probes, "probe"), ("bare", &memoryless, "probe")]);
    const FAULT: i64 = -8;
    const NO_MESSAGE: i64 = -9;
    const INVALID_TARGET: i64 = -5;
    let expected = [
        NO_MESSAGE,
        NO_MESSAGE,
        FAULT,
        FAULT,
        FAULT,
        FAULT,
        INVALID_TARGET,
        FAULT,
        FAULT,
        FAULT,
        1, // the topic "t"
    ];
    for (k, want) in expected.into_iter().enumerate() {
        let r = run_to_exit(&rt, "t:probes", vec![Value::Int(k as i64)]);
        assert_eq!(r.error(), None, "probe {k}");
        assert_eq!(r.value, Value::Int(want), "probe {k}");
    }
    for k in 0..3 {
        let r = run_to_exit(&rt, "t:bare", vec![Value::Int(k)]);
        assert_eq!(r.error(), None, "memoryless probe {k}");
        assert_eq!(r.value, Value::Int(FAULT), "memoryless probe {k}");
    }
}
