//! The process runtime (SPEC §3-4): spawn, monitor, link, terminate, limits, traps.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::Runtime;
use wippy_wasm::Value;
use wippy_wasm::{EventKind, ExitResult, Mailbox};

const WAIT: Duration = Duration::from_secs(30);

fn misbehave(name: &str, method: &str, extra: &str) -> String {
    guest(name, "misbehave.wasm", method, extra)
}

fn error_of(rt: &Runtime, entry: &str, args: Vec<Value>) -> String {
    let result = run_to_exit(rt, entry, args);
    result
        .error()
        .unwrap_or_else(|| panic!("{entry} did not fail: {:?}", result.value))
}

#[test]
fn the_seed_example_returns_42_through_the_public_api() {
    let cache = tempfile::tempdir().unwrap();
    let rt = options(&cache, 16).load(repo().join("examples")).unwrap();
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
    assert_eq!(exit.result.error(), None);

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
    let rt = runtime(&misbehave("spin", "spin", ""));
    let monitor = Mailbox::new();
    let link = Mailbox::new();
    let pid = rt
        .spawn_monitored(&monitor, "t:spin", HOST, vec![])
        .unwrap();
    assert!(rt.link(&link, &pid));
    // It is really running: it has taken Steps (it yields every fuel slice).
    wait_for_steps(&rt, &pid, 3);
    assert!(rt.terminate(&pid));
    let exit = monitor.receive(WAIT).unwrap();
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
    let down = link.receive(WAIT).unwrap();
    assert_eq!(down.kind, EventKind::LinkDown);
    assert_eq!(down.from, pid);
    assert_eq!(rt.live(HOST), 0);
    assert!(!rt.terminate(&pid), "already gone");
}

#[test]
fn an_infinite_loop_does_not_stop_other_processes_on_its_worker() {
    let entries = misbehave("spin", "spin", "") + &misbehave("burn", "burn", "");
    let rt = runtime(&entries);
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
    let rt = runtime(&entries);
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
    let err = |pid| results[pid].error().clone().unwrap_or_default();
    assert!(err(&fuel).contains("fuel limit exceeded"), "{}", err(&fuel));
    assert!(
        err(&fuel).starts_with("failed to call wasm method: spin: "),
        "{}",
        err(&fuel)
    );
    assert_eq!(err(&deadline), "execution time limit exceeded");
    // Past the limit, memory.grow returns -1 (the wasm spec), and this guest copes: it
    // stops growing and returns the pages it reached.
    assert_eq!(results[&bomb].error(), None);
    let Value::Int(pages) = results[&bomb].value else {
        panic!("{:?}", results[&bomb])
    };
    assert!(
        (1..=16).contains(&pages),
        "{pages} pages of 64 KiB within 1 MiB"
    );
    assert_eq!(results[&burn].value, Value::Int(1000));
    assert_eq!(results[&burn].error(), None);
}

#[test]
fn traps_are_contained() {
    let entries = misbehave("unreachable", "unreachable", "")
        + &misbehave("div", "div", "")
        + &misbehave("recurse", "recurse", "")
        + &misbehave("oob", "oob", "")
        + &misbehave("burn", "burn", "");
    let rt = runtime(&entries);
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
    let rt = runtime(&misbehave("div", "div", ""));
    assert_eq!(
        error_of(&rt, "t:div", vec![]),
        "parameter count mismatch: expected 1, got 0"
    );
    assert_eq!(
        error_of(&rt, "t:div", vec![Value::List(vec![])]),
        "parameter 0: expected i32, got list"
    );
    // A word that spells no number (the CLI passes words) is named in the error.
    assert_eq!(
        error_of(&rt, "t:div", vec![Value::String("six".into())]),
        "parameter 0: expected i32, got string \"six\""
    );
    assert!(rt.spawn("t:nope", HOST, vec![]).is_err());
    assert!(rt.spawn("t:div", "t:nohost", vec![]).is_err());
}

#[test]
fn ten_thousand_spawn_exit_cycles_leave_the_table_empty() {
    // The pool has 128 slots: if Close leaked an instance slot, spawns would start
    // failing long before 10,000 (so memory stays flat by construction).
    let rt = runtime(&misbehave("burn", "burn", ""));
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

#[test]
fn two_spinners_on_one_worker_interleave_exactly_and_identically_run_to_run() {
    let window = || {
        let rt = runtime_with(&misbehave("spin", "spin", ""), |o| {
            o.trace(true);
        });
        let me = Mailbox::new();
        let a = rt.spawn_monitored(&me, "t:spin", HOST, vec![]).unwrap();
        let b = rt.spawn_monitored(&me, "t:spin", HOST, vec![]).unwrap();
        wait_for_steps(&rt, &a, 30);
        wait_for_steps(&rt, &b, 30);
        rt.terminate(&a);
        rt.terminate(&b);
        me.receive(WAIT).unwrap();
        me.receive(WAIT).unwrap();
        let trace = rt.trace(HOST, 0);
        let first_b = trace.iter().position(|&n| n == b.number()).unwrap();
        let window: Vec<u64> = trace[first_b..first_b + 40].to_vec();
        for pair in window.windows(2) {
            assert_ne!(
                pair[0], pair[1],
                "a Step was taken twice in a row: {window:?}"
            );
        }
        assert!(window.iter().all(|&n| n == a.number() || n == b.number()));
        window
    };
    assert_eq!(window(), window());
}

#[test]
fn an_infinite_loop_delays_a_sleeper_by_at_most_one_slice() {
    // Stepped virtual time: every Step costs 100 µs, so lateness is exact and repeatable.
    let step = Duration::from_micros(100);
    let entries = misbehave("spin", "spin", "")
        + &guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n");
    let rt = runtime_with(&entries, |o| {
        o.clock(wippy_wasm::ClockKind::Stepped(step));
    });
    let spinner = rt.spawn("t:spin", HOST, vec![]).unwrap();
    let slept = run_to_exit(&rt, "t:sleeper", vec![Value::Int(10)]);
    let Value::Int(ns) = slept.value else {
        panic!("nap returned {slept:?}")
    };
    let late = Duration::from_nanos(ns as u64) - Duration::from_millis(10);
    // The timer comes due during one spinner Step; the woken sleeper runs next, before
    // the spinner's next Step (each Step is charged before it runs, its own included).
    assert!(late <= 2 * step, "woke {late:?} late");
    assert!(rt.stats(&spinner).is_some(), "the spinner still runs");
    assert!(rt.terminate(&spinner));
}

#[test]
fn terminate_ends_a_parked_process_promptly() {
    let rt = runtime(&guest(
        "sleeper",
        "sleeper.wasm",
        "nap",
        "    imports: [wasi1]\n",
    ));
    let me = Mailbox::new();
    // An hour-long sleep: only termination can end it within the test's wait.
    let pid = rt
        .spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(3_600_000)])
        .unwrap();
    wait_for_steps(&rt, &pid, 1);
    assert!(rt.terminate(&pid));
    let exit = me.receive(WAIT).expect("EXIT soon after terminate");
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
    assert_eq!(rt.live(HOST), 0);
}

#[test]
fn cancel_ends_a_wasm_process_with_the_reason_and_send_refuses_clearly() {
    let rt = runtime(&misbehave("spin", "spin", ""));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:spin", HOST, vec![]).unwrap();
    assert_eq!(
        rt.send(&pid, "work", Value::Int(1)),
        Err(wippy_wasm::SendError::NoInbox(pid.to_string()))
    );
    assert!(rt.cancel(&pid, "no longer needed"));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(
        exit.result.error().as_deref(),
        Some("process cancelled: no longer needed")
    );
    assert!(!rt.cancel(&pid, "again"), "already gone");
    assert_eq!(
        rt.send(&pid, "work", Value::Int(1)),
        Err(wippy_wasm::SendError::NoProcess(pid.to_string()))
    );
}

#[test]
fn unmonitor_and_unlink_stop_the_events() {
    let rt = runtime(&misbehave("spin", "spin", ""));
    let (kept, dropped) = (Mailbox::new(), Mailbox::new());
    let pid = rt
        .spawn_monitored(&dropped, "t:spin", HOST, vec![])
        .unwrap();
    assert!(rt.monitor(&kept, &pid));
    assert!(rt.link(&dropped, &pid));
    assert!(rt.link(&kept, &pid));
    assert!(rt.unmonitor(&dropped, &pid));
    assert!(rt.unlink(&dropped, &pid));
    rt.terminate(&pid);
    let kinds: Vec<_> = (0..2).map(|_| kept.receive(WAIT).unwrap().kind).collect();
    assert_eq!(kinds, [EventKind::Exit, EventKind::LinkDown]);
    assert!(dropped.receive(Duration::from_millis(200)).is_none());
}

#[test]
fn shutdown_closes_every_process_and_tells_its_monitors() {
    let rt = runtime(
        &(misbehave("spin", "spin", "")
            + &guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n")),
    );
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:spin", HOST, vec![]).unwrap();
    rt.spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(3_600_000)])
        .unwrap();
    let TestRuntime { rt, .. } = rt;
    rt.shutdown();
    for _ in 0..2 {
        let exit = me.receive(WAIT).expect("EXIT for each process");
        assert_eq!(
            exit.result.error().as_deref(),
            Some("process terminated: host shutting down")
        );
    }
}

#[test]
fn a_preview1_exit_code_reaches_the_exit_event() {
    let probe = |name: &str, args: &str| {
        guest(
            name,
            "wasi_probe.wasm",
            "_start",
            &format!("    imports: [wasi1]\n    wasi:\n      args: [{args}]\n"),
        )
    };
    let rt = runtime(&(probe("three", "exit, \"3\"") + &probe("zero", "exit, \"0\"")));
    let three = run_to_exit(&rt, "t:three", vec![]);
    assert_eq!(three.exit_code(), Some(3));
    assert_eq!(
        three.error().as_deref(),
        Some("failed to call wasm method: _start: exit code 3")
    );
    let zero = run_to_exit(&rt, "t:zero", vec![]);
    assert_eq!((zero.exit_code(), zero.error()), (Some(0), None));
}

/// Every WIT type, both directions, through the `types` component.
#[test]
fn component_arguments_and_results_convert_for_every_wit_type() {
    let mut entries = String::new();
    for f in [
        "mirror", "double", "divide", "morph", "next", "toggle", "swap", "sum", "split", "even",
        "count", "half",
    ] {
        entries += &guest(f, "types.wasm", f, "");
    }
    let rt = runtime(&entries);
    let call = |f: &str, args: Vec<Value>| {
        let r = run_to_exit(&rt, &format!("t:{f}"), args);
        assert_eq!(r.error(), None, "{f}");
        r.value
    };
    let s = |t: &str| Value::String(t.into());
    let map = |pairs: &[(&str, Value)]| {
        Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    // record <-> map by field name
    assert_eq!(
        call(
            "mirror",
            vec![map(&[
                ("x", Value::Int(1)),
                ("y", Value::Int(2)),
                ("label", s("ab"))
            ])]
        ),
        map(&[
            ("x", Value::Int(2)),
            ("y", Value::Int(1)),
            ("label", s("abab"))
        ])
    );
    // option <-> null or value
    assert_eq!(call("double", vec![Value::Int(21)]), Value::Int(42));
    assert_eq!(call("double", vec![Value::Null]), Value::Null);
    // result is a value: {ok: ..} or {err: ..}
    assert_eq!(
        call("divide", vec![Value::Int(7), Value::Int(2)]),
        map(&[("ok", Value::Int(3))])
    );
    assert_eq!(
        call("divide", vec![Value::Int(1), Value::Int(0)]),
        map(&[("err", s("division by zero"))])
    );
    // variant <-> {case: payload}; a payload-less case is its name
    assert_eq!(
        call("morph", vec![map(&[("circle", Value::Float(2.5))])]),
        map(&[("square", Value::Int(2))])
    );
    assert_eq!(
        call("morph", vec![map(&[("square", Value::Int(3))])]),
        map(&[("circle", Value::Float(3.0))])
    );
    assert_eq!(call("morph", vec![s("nothing")]), s("nothing"));
    // enum <-> case name
    assert_eq!(call("next", vec![s("blue")]), s("red"));
    // flags <-> list of names
    assert_eq!(
        call("toggle", vec![Value::List(vec![s("read")])]),
        Value::List(vec![s("write"), s("exec")])
    );
    // tuple <-> list
    assert_eq!(
        call("swap", vec![Value::List(vec![Value::Int(7), s("x")])]),
        Value::List(vec![s("x"), Value::Int(7)])
    );
    // lists, strings, bools, bytes, floats
    assert_eq!(
        call(
            "sum",
            vec![Value::List(vec![
                Value::Int(1),
                Value::Int(-5),
                Value::Int(10)
            ])]
        ),
        Value::Int(6)
    );
    assert_eq!(
        call("split", vec![s("a bc d")]),
        Value::List(vec![s("a"), s("bc"), s("d")])
    );
    assert_eq!(call("even", vec![Value::Int(4)]), Value::Bool(true));
    assert_eq!(
        call("count", vec![Value::Bytes(vec![1, 2, 3])]),
        Value::Int(3)
    );
    assert_eq!(call("half", vec![Value::Float(3.0)]), Value::Float(1.5));

    // Mismatches name the parameter, and the instance is not poisoned for the next call.
    let bad = run_to_exit(&rt, "t:next", vec![s("purple")]);
    assert!(
        bad.error().as_deref().unwrap_or("").contains("purple"),
        "{bad:?}"
    );
    let bad = run_to_exit(&rt, "t:mirror", vec![map(&[("x", Value::Int(1))])]);
    assert_eq!(
        bad.error().as_deref(),
        Some("parameter p.y: missing record field")
    );
    assert_eq!(
        run_to_exit(&rt, "t:sum", vec![]).error().as_deref(),
        Some("parameter count mismatch: expected 1, got 0")
    );
    assert_eq!(call("next", vec![s("red")]), s("green"));
}

#[test]
fn max_stack_bytes_is_honoured_at_or_above_the_runtime_stack_and_refused_below_it() {
    let ok = misbehave(
        "deep",
        "recurse",
        "    limits:\n      max_stack_bytes: 8388608\n",
    );
    let rt = runtime(&ok);
    assert!(error_of(&rt, "t:deep", vec![Value::Int(0)]).contains("stack overflow"));

    let small = misbehave(
        "small",
        "recurse",
        "    limits:\n      max_stack_bytes: 65536\n",
    );
    let host = "  - name: host\n    kind: process.host\n";
    let err = load_error(&index_with(&(host.to_owned() + &small)));
    assert!(
        err.contains("entry t:small: field limits.max_stack_bytes: 65536 is below the runtime's wasm stack of 1048576 bytes"),
        "{err}"
    );
    // Lowered for the whole runtime, the same entry loads.
    let rt = runtime_with(&small, |o| {
        o.max_wasm_stack(65536);
    });
    assert!(error_of(&rt, "t:small", vec![Value::Int(0)]).contains("stack overflow"));
}

#[test]
fn counters_are_readable_while_running_and_reported_in_the_exit_event() {
    use wippy_wasm::Phase;
    let entries = misbehave("burn", "burn", "")
        + &misbehave("bomb", "bomb", "    limits:\n      memory_bytes: 4194304\n")
        + &guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n");
    let rt = runtime(&entries);
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:burn", HOST, vec![Value::Int(200_000_000)])
        .unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(
        exit.result.value,
        Value::Int(200_000_000),
        "{:?}",
        exit.result
    );
    let stats = exit.stats.expect("EXIT carries the counters");
    assert!(
        stats.steps > 1,
        "a long burn takes several Steps: {stats:?}"
    );
    assert!(stats.fuel_used > 20_000_000, "{stats:?}");
    assert!(
        stats.cpu > Duration::ZERO && stats.wall >= stats.cpu,
        "{stats:?}"
    );

    rt.spawn_monitored(&me, "t:bomb", HOST, vec![]).unwrap();
    let bomb = me.receive(WAIT).unwrap().stats.unwrap();
    // 1 page, grown 16 at a time: 17, 33, 49 pages fit in 4 MiB; 65 does not.
    assert_eq!(bomb.peak_memory, 49 * 65536, "{bomb:?}");

    // A parked process is Waiting, readable from outside while it sleeps.
    let pid = rt
        .spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(3_600_000)])
        .unwrap();
    let stats = rt.stats(&pid).unwrap();
    wait_for_steps(&rt, &pid, 1);
    while stats.phase() != Phase::Waiting {
        std::thread::yield_now();
    }
    rt.terminate(&pid);
    me.receive(WAIT).unwrap();
    assert_eq!(stats.phase(), Phase::Closed);
}

#[test]
fn a_runtime_limited_to_some_entries_compiles_nothing_else() {
    let entries = guest("worker", "worker.wasm", "compute", "")
        + &guest("greeter", "component.wasm", "greet", "")
        + &misbehave("spin", "spin", "");
    let rt = runtime_with(&entries, |o| {
        o.only(["t:worker"]);
    });
    let compiled = rt.cache_stats();
    assert_eq!(compiled.misses + compiled.hits, 1, "one binary made ready");
    assert_eq!(
        run_to_exit(&rt, "t:worker", vec![Value::Int(6), Value::Int(7)]).value,
        Value::Int(42)
    );
    assert_eq!(
        rt.spawn("t:greeter", HOST, vec![]),
        Err(wippy_wasm::SpawnError::UnknownEntry("t:greeter".into()))
    );
}

/// A pooled runtime loads a binary its pool cannot hold (two memories, a 47,157-element
/// table) into an on-demand engine instead of refusing it, and runs it beside pooled ones.
#[test]
fn binaries_larger_than_a_pool_slot_run_on_demand() {
    let entries = guest("outsized", "outsized.wasm", "two_memories", "")
        + &guest("table", "outsized.wasm", "big_table", "")
        + &guest("worker", "worker.wasm", "compute", "");
    let rt = runtime(&entries);
    assert_eq!(
        run_to_exit(&rt, "t:outsized", vec![]),
        ExitResult::ok(Value::Int(7))
    );
    assert_eq!(
        run_to_exit(&rt, "t:table", vec![]).value,
        Value::List(vec![Value::Int(7), Value::Int(47157)])
    );
    assert_eq!(
        run_to_exit(&rt, "t:worker", vec![Value::Int(6), Value::Int(7)]).value,
        Value::Int(42)
    );
}

/// A two-worker host `t:pair`; `t:fan`, a Lua parent that spawns `n` `t:worker` children
/// on it and waits for them; `t:idle`, a Lua process that waits for a message forever.
const FAN_ON_PAIR: &str = r#"  - name: pair
    kind: process.host
    host:
      workers: 2
  - name: fan
    kind: process.lua
    source: |
      local process = require("process")
      return { main = function(n)
        for i = 1, n do
          assert(process.spawn_monitored("t:worker", "t:pair", i, 1))
        end
        for i = 1, n do process.receive() end
      end }
  - name: idle
    kind: process.lua
    source: |
      local process = require("process")
      return { main = function() process.receive() end }
"#;

#[test]
fn a_process_s_spawns_stay_on_its_worker_until_that_worker_is_much_busier() {
    let entries = guest("worker", "worker.wasm", "compute", "") + FAN_ON_PAIR;
    let rt = runtime_with(&entries, |o| {
        o.trace(true);
    });
    // One idle process on each worker (PIDs 1 and 2, least-loaded placement from this
    // thread), so neither worker is idle: an idle worker would take a spawn first.
    let me = Mailbox::new();
    let idle: Vec<_> = (0..2)
        .map(|_| rt.spawn_monitored(&me, "t:idle", "t:pair", vec![]).unwrap())
        .collect();
    wait_for_steps(&rt, &idle[1], 1);
    let worker_of = |n: u64| (0..2).find(|&w| rt.trace("t:pair", w).contains(&n));
    let ran_on = |worker: usize, numbers: std::ops::RangeInclusive<u64>| {
        let trace = rt.trace("t:pair", worker);
        numbers.filter(|n| trace.contains(n)).count()
    };
    // Four children (PIDs 4-7): every one on the parent's worker, none handed over.
    let parent = run_to_exit_on(&rt, "t:fan", "t:pair", 4);
    assert_eq!(parent.number(), 3);
    let home = worker_of(3).unwrap();
    assert_eq!(ran_on(home, 4..=7), 4);
    // Forty (PIDs 9-48), all spawned in the parent's one Step: its worker keeps them
    // while it holds at most 8 more live processes than the other (so the first 8 at
    // least), and the rest spread to the other worker.
    let parent = run_to_exit_on(&rt, "t:fan", "t:pair", 40);
    assert_eq!(parent.number(), 8);
    let home = worker_of(8).unwrap();
    let (here, there) = (ran_on(home, 9..=48), ran_on(1 - home, 9..=48));
    assert_eq!(here + there, 40);
    assert!(
        (9..=16).all(|n| worker_of(n) == Some(home)) && there >= 1,
        "{here} on the parent's worker, {there} on the other"
    );
    for pid in &idle {
        rt.terminate(pid);
    }
}

fn run_to_exit_on(rt: &wippy_wasm::Runtime, entry: &str, host: &str, n: i64) -> wippy_wasm::Pid {
    let me = Mailbox::new();
    let pid = rt
        .spawn_monitored(&me, entry, host, vec![Value::Int(n)])
        .unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert!(exit.result.is_ok(), "{:?}", exit.result);
    pid
}
