//! wasm processes as actors (SPEC §9): the `wippy_actor` core imports, exercised by the C
//! guests in wasm/src/actors.c.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::{ClockKind, EventKind, Mailbox, Phase, Value};

const WAIT: Duration = Duration::from_secs(120);

/// An actor entry: `method` of actors.wasm, importing `wippy:actor`.
fn actor(name: &str, method: &str) -> String {
    guest(name, "actors.wasm", method, "    imports: [wippy:actor]\n")
}

fn lua(name: &str, source: &str) -> String {
    let body: String = source.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - name: {name}\n    kind: process.lua\n    source: |\n{body}")
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

/// Waits (on the process's own phase, not a clock) until `pid` is parked.
fn wait_until_parked(rt: &wippy_wasm::Runtime, pid: &wippy_wasm::Pid) {
    let stats = rt.stats(pid).expect("alive");
    let deadline = std::time::Instant::now() + WAIT;
    while !(stats.phase() == Phase::Waiting && stats.steps() >= 1) {
        assert!(std::time::Instant::now() < deadline, "{pid} never parked");
        std::thread::yield_now();
    }
}

#[test]
fn two_wasm_processes_exchange_a_hundred_thousand_messages_in_order() {
    let rt = runtime(&(actor("pong", "pong") + &actor("ping", "ping")));
    let me = Mailbox::new();
    let pong = rt.spawn_monitored(&me, "t:pong", HOST, vec![]).unwrap();
    let ping = rt
        .spawn_monitored(&me, "t:ping", HOST, vec![Value::Int(100_000)])
        .unwrap();
    rt.send(&ping, "peer", text(&pong.to_string())).unwrap();
    let mut results = std::collections::HashMap::new();
    for _ in 0..2 {
        let exit = me.receive(WAIT).expect("EXIT");
        assert_eq!(exit.result.error(), None, "{:?}", exit.result);
        results.insert(exit.from.clone(), exit.result.value);
    }
    // Every pong came back carrying the number sent, in order; pong answered each.
    assert_eq!(results[&ping], Value::Int(100_000));
    assert_eq!(results[&pong], Value::Int(100_000));
}

#[test]
fn a_process_parked_in_receive_is_woken_by_a_message_or_terminated_at_once() {
    let rt = runtime(&actor("first", "first_number"));
    let me = Mailbox::new();
    let woken = rt.spawn_monitored(&me, "t:first", HOST, vec![]).unwrap();
    wait_until_parked(&rt, &woken);
    rt.send(&woken, "n", text("42")).unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!((exit.from, exit.result.value), (woken, Value::Int(42)));

    let stuck = rt.spawn_monitored(&me, "t:first", HOST, vec![]).unwrap();
    wait_until_parked(&rt, &stuck);
    assert!(rt.terminate(&stuck));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
}

#[test]
fn a_receive_with_a_timeout_runs_on_virtual_time() {
    let rt = runtime_with(
        &(actor("wait", "wait_ms") + &lua(
            "timed",
            "local process = require('process')\nlocal time = require('time')\nreturn { main = function()\n  local t0 = time.now()\n  local value = process.exec('t:wait', 't:host', 3600000)\n  return { value = value, waited = (time.now() - t0):milliseconds() }\nend }",
        )),
        |o| {
            o.clock(ClockKind::Virtual);
        },
    );
    let r = run_to_exit(&rt, "t:timed", vec![]);
    assert_eq!(r.error(), None);
    // An hour of virtual time passes at once; nothing came, so 0.
    assert_eq!(
        r.value,
        Value::map([("value", Value::Int(0)), ("waited", Value::Int(3_600_000))])
    );
}

#[test]
fn lua_and_wasm_exchange_messages_both_ways() {
    let script = r#"
local process = require("process")
return { main = function()
  local echo = process.spawn("t:echo", "t:host")
  local ok, err = process.send(echo, "greeting", { n = 1, s = "x", list = { 1, 2, 3 } })
  assert(ok, err)
  local m = process.inbox():receive()
  local p = m:payload():data()
  return { topic = m:topic(), from_echo = m:from() == echo, n = p.n, s = p.s,
           third = p.list[3] }
end }"#;
    let rt = runtime(&(actor("echo", "echo") + &lua("talker", script)));
    let r = run_to_exit(&rt, "t:talker", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        Value::map([
            ("topic", text("greeting")),
            ("from_echo", Value::Bool(true)),
            ("n", Value::Int(1)),
            ("s", text("x")),
            ("third", Value::Int(3)),
        ])
    );
    // The echo had registered its name; it is gone with the process.
    assert_eq!(rt.lookup("echo"), None);
}

#[test]
fn a_send_to_a_full_mailbox_returns_overloaded() {
    let entries = actor("flood", "flood")
        + &lua(
            "deaf",
            "local time = require('time')\nreturn { main = function() time.sleep('1h') end }",
        );
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n    host:\n      workers: 1\n      mailbox_size: 8\n{entries}"
    ));
    let dir = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let rt = options(&cache, 16).load(dir.path()).unwrap();
    let me = Mailbox::new();
    let deaf = rt.spawn("t:deaf", HOST, vec![]).unwrap();
    let flood = rt
        .spawn_monitored(&me, "t:flood", HOST, vec![Value::Int(1000)])
        .unwrap();
    rt.send(&flood, "peer", text(&deaf.to_string())).unwrap();
    let exit = me.receive(WAIT).unwrap();
    // 8 accepted, then WIPPY_OVERLOADED (-2).
    assert_eq!(exit.result.value, Value::Int(802));
}

#[test]
fn a_wasm_process_spawns_a_monitored_child_and_reads_its_exit() {
    let rt =
        runtime(&(actor("parent", "spawn_child") + &guest("worker", "worker.wasm", "compute", "")));
    let me = Mailbox::new();
    let parent = rt.spawn_monitored(&me, "t:parent", HOST, vec![]).unwrap();
    rt.send(&parent, "t:worker", text("t:host")).unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error(), None);
    assert_eq!(exit.result.value, Value::Int(42));
}

#[test]
fn cancel_reaches_a_wasm_actor_as_a_message() {
    let rt = runtime(&actor("pong", "pong"));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:pong", HOST, vec![]).unwrap();
    wait_until_parked(&rt, &pid);
    assert!(rt.cancel(&pid, "time to go"));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.kind, EventKind::Exit);
    // It read @cancel and returned normally: no error.
    assert_eq!(exit.result.error(), None);
    assert_eq!(exit.result.value, Value::Int(0));
}

#[test]
fn hostile_pointers_and_lengths_get_error_codes_and_hurt_nothing() {
    let rt =
        runtime(&(actor("hostile", "hostile") + &guest("worker", "worker.wasm", "compute", "")));
    let r = run_to_exit(&rt, "t:hostile", vec![]);
    assert_eq!(r.error(), None);
    // fault, fault, too-large, invalid-target, fault.
    assert_eq!(r.value, Value::Int(808_030_508));
    let r = run_to_exit(&rt, "t:worker", vec![Value::Int(6), Value::Int(7)]);
    assert_eq!(r.value, Value::Int(42));
}

#[test]
fn the_actor_imports_must_be_declared() {
    let errors = load_error(&index_with(&format!(
        "  - name: host\n    kind: process.host\n{}",
        guest("undeclared", "actors.wasm", "pong", "")
    )));
    assert!(
        errors.contains("unsatisfied import wippy_actor::")
            && errors.contains("add `wippy:actor` to the entry's imports"),
        "{errors}"
    );
}

/// The component form: `wippy:actor/process` (wasm/wit/actor/actor.wit), from a C
/// component (wasm/src/actor_component.c).
fn component(name: &str, method: &str) -> String {
    guest(
        name,
        "actor_component.wasm",
        method,
        "    imports: [wippy:actor, wasi:io]\n",
    )
}

#[test]
fn a_component_actor_and_lua_exchange_messages_both_ways() {
    let script = r#"
local process = require("process")
return { main = function()
  local echo = process.spawn("t:echo", "t:host")
  process.send(echo, "greeting", { n = 7, list = { "a", "b" } })
  local m = process.inbox():receive()
  local p = m:payload():data()
  return { topic = m:topic(), n = p.n, second = p.list[2], from_echo = m:from() == echo }
end }"#;
    let rt = runtime(&(component("echo", "echo") + &lua("talker", script)));
    let r = run_to_exit(&rt, "t:talker", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        Value::map([
            ("topic", text("greeting")),
            ("n", Value::Int(7)),
            ("second", text("b")),
            ("from_echo", Value::Bool(true)),
        ])
    );
}

#[test]
fn a_component_waits_on_its_inbox_through_a_wasi_pollable() {
    let rt = runtime(&component("waiter", "wait-topic"));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:waiter", HOST, vec![]).unwrap();
    wait_until_parked(&rt, &pid);
    rt.send(&pid, "wake-up", Value::Int(1)).unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error(), None);
    assert_eq!(exit.result.value, text("wake-up"));
}

#[test]
fn the_deadline_ends_a_process_parked_in_receive() {
    let rt = runtime_with(
        &guest(
            "first",
            "actors.wasm",
            "first_number",
            "    imports: [wippy:actor]\n    limits:\n      max_execution_ms: 250\n",
        ),
        |o| {
            o.clock(ClockKind::Virtual);
        },
    );
    let r = run_to_exit(&rt, "t:first", vec![]);
    assert_eq!(r.error().as_deref(), Some("execution time limit exceeded"));
}
