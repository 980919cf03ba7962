//! Lua processes (SPEC §7): spawn, monitor, link, send and receive from Lua.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::event::{EventKind, Mailbox};
use wippy_wasm::executor::ClockKind;
use wippy_wasm::runtime::Runtime;
use wippy_wasm::value::Value;

const WAIT: Duration = Duration::from_secs(60);

/// A `process.lua` entry with inline source.
fn lua(name: &str, source: &str) -> String {
    let body: String = source.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - name: {name}\n    kind: process.lua\n    source: |\n{body}")
}

fn workers() -> String {
    guest("worker", "worker.wasm", "compute", "")
        + &guest("div", "misbehave.wasm", "div", "")
        + &guest("spin", "misbehave.wasm", "spin", "")
        + &guest("mirror", "types.wasm", "mirror", "")
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

#[test]
fn the_seeds_lua_example_returns_42() {
    let cache = tempfile::tempdir().unwrap();
    let rt = Runtime::load(&repo().join("examples"), options(&cache, 64)).unwrap();
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "myns:spawn_demo", "myns:processes", vec![])
        .unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error, None);
    assert_eq!(exit.result.value, Value::Int(42));
}

#[test]
fn the_canonical_events_form_and_a_failing_workers_error_reach_lua() {
    let script = r#"
local process = require("process")
return { main = function()
  local ok = process.spawn_monitored("t:worker", "t:host", 6, 7)
  local bad = process.spawn_monitored("t:div", "t:host", 0)
  local got = {}
  local events = process.events()
  for _ = 1, 2 do
    local e = events:receive()
    assert(e.kind == process.event.EXIT, "kind " .. tostring(e.kind))
    if e.from == ok then got.value = e.result.value end
    if e.from == bad then got.error = e.result.error end
  end
  return got
end }
"#;
    let rt = runtime(&(workers() + &lua("gather", script)));
    let r = run_to_exit(&rt, "t:gather", vec![]);
    assert_eq!(r.error, None);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got["value"], Value::Int(42));
    let Value::String(error) = &got["error"] else {
        panic!("{got:?}")
    };
    assert!(error.contains("integer divide by zero"), "{error}");
}

#[test]
fn receive_with_a_timeout_returns_nil_on_time_in_virtual_time() {
    let script = r#"
local process, time = require("process"), require("time")
return { main = function()
  local t0 = time.now()
  local e = process.receive(time.milliseconds(250))
  return { none = e == nil, waited = (time.now() - t0):milliseconds() }
end }
"#;
    let rt = runtime_with(&lua("wait", script), |o| o.clock = ClockKind::Virtual);
    let r = run_to_exit(&rt, "t:wait", vec![]);
    assert_eq!(
        r.value,
        map(&[("none", Value::Bool(true)), ("waited", Value::Int(250))])
    );
}

#[test]
fn a_lua_process_spawns_a_thousand_workers_and_gets_every_exit() {
    let script = r#"
local process = require("process")
return { main = function(n)
  local pending, count, sum = {}, 0, 0
  for i = 1, n do
    local pid, err = process.spawn_monitored("t:worker", "t:host", i, 1)
    assert(pid, err)
    pending[pid] = true
  end
  while count < n do
    local e = process.receive()
    assert(pending[e.from], "an EXIT from a stranger or a duplicate")
    pending[e.from] = nil
    count = count + 1
    sum = sum + e.value
  end
  return sum
end }
"#;
    let rt = runtime(&(workers() + &lua("fan", script)));
    let r = run_to_exit(&rt, "t:fan", vec![Value::Int(1000)]);
    assert_eq!(r.error, None);
    assert_eq!(r.value, Value::Int(500_500));
    assert_eq!(rt.live(HOST), 0);
}

#[test]
fn a_lua_error_fails_only_its_process_with_message_and_traceback() {
    let script = r#"
local function deeper() error("something broke") end
return { main = function() deeper() end }
"#;
    let rt = runtime(&(workers() + &lua("bad", script)));
    let err = run_to_exit(&rt, "t:bad", vec![]).error.unwrap();
    assert!(err.contains("something broke"), "{err}");
    assert!(err.contains("stack traceback"), "{err}");
    assert!(err.contains("deeper"), "{err}");
    assert_eq!(
        run_to_exit(&rt, "t:worker", vec![Value::Int(2), Value::Int(3)]).value,
        Value::Int(6)
    );
}

#[test]
fn messages_sent_to_a_lua_process_arrive_in_its_inbox_and_cancel_arrives_as_an_event() {
    let script = r#"
local process = require("process")
return { main = function()
  local m = process.inbox():receive()
  local c = process.events():receive()
  return { topic = m.topic, payload = m.payload, cancel = c.kind, reason = c.reason }
end }
"#;
    let rt = runtime(&lua("listener", script));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:listener", HOST, vec![]).unwrap();
    rt.send(&pid, "job", map(&[("n", Value::Int(3))])).unwrap();
    assert!(rt.cancel(&pid, "time to go"));
    let r = me.receive(WAIT).unwrap().result;
    assert_eq!(
        r.value,
        map(&[
            ("topic", Value::String("job".into())),
            ("payload", map(&[("n", Value::Int(3))])),
            ("cancel", Value::String("pid.cancel".into())),
            ("reason", Value::String("time to go".into())),
        ])
    );
}

#[test]
fn links_work_both_ways_between_lua_and_wasm() {
    // A linked wasm worker fails: the Lua process gets LINK_DOWN.
    let hears = r#"
local process = require("process")
return { main = function()
  process.spawn_linked("t:div", "t:host", 0)
  local e = process.receive()
  return { type = e.type, error = e.error }
end }
"#;
    // The Lua process fails: its linked wasm spinner is taken down with it. An observer
    // learns the spinner's pid from the parent, monitors it, then lets the parent fail.
    let dies = r#"
local process = require("process")
return { main = function(observer)
  local pid = process.spawn_linked("t:spin", "t:host")
  process.send(observer, "spinner", pid)
  process.inbox():receive()
  error("parent gives up")
end }
"#;
    let observes = r#"
local process = require("process")
return { main = function()
  local parent = process.spawn("t:dies", "t:host", process.pid())
  local spinner = process.inbox():receive().payload
  assert(process.monitor(spinner))
  process.send(parent, "go")
  local e = process.receive()
  return { from_spinner = e.from == spinner, error = e.error }
end }
"#;
    let rt = runtime(
        &(workers() + &lua("hears", hears) + &lua("dies", dies) + &lua("observes", observes)),
    );
    let r = run_to_exit(&rt, "t:hears", vec![]);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got["type"], Value::String("LINK_DOWN".into()));

    let r = run_to_exit(&rt, "t:observes", vec![]);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got["from_spinner"], Value::Bool(true));
    let Value::String(error) = &got["error"] else {
        panic!("{got:?}")
    };
    assert!(
        error.starts_with("linked process {t:host|") && error.ends_with("} failed"),
        "{error}"
    );
    assert_eq!(rt.live(HOST), 0);
}

#[test]
fn a_busy_lua_loop_is_preempted_and_can_be_terminated() {
    let rt =
        runtime(&(workers() + &lua("busy", "return { main = function() while true do end end }")));
    let me = Mailbox::new();
    let busy = rt.spawn_monitored(&me, "t:busy", HOST, vec![]).unwrap();
    // Same single worker: the worker still finishes.
    assert_eq!(
        run_to_exit(&rt, "t:worker", vec![Value::Int(4), Value::Int(5)]).value,
        Value::Int(20)
    );
    let steps = rt
        .stats(&busy)
        .unwrap()
        .steps
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(steps > 1, "the loop yields between slices");
    assert!(rt.terminate(&busy));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.kind, EventKind::Exit);
    assert_eq!(exit.result.error.as_deref(), Some("process terminated"));
}

#[test]
fn lua_tables_reach_component_records() {
    let script = r#"
local process = require("process")
return { main = function()
  process.spawn_monitored("t:mirror", "t:host", { x = 1, y = 2, label = "ab" })
  return process.receive().value
end }
"#;
    let rt = runtime(&(workers() + &lua("rec", script)));
    assert_eq!(
        run_to_exit(&rt, "t:rec", vec![]).value,
        map(&[
            ("x", Value::Int(2)),
            ("y", Value::Int(1)),
            ("label", Value::String("abab".into()))
        ])
    );
}

#[test]
fn a_lua_syntax_error_or_missing_file_fails_the_load() {
    let index = index_with(
        &("  - name: host\n    kind: process.host\n".to_owned()
            + &lua("broken", "return { main = function( end }")
            + "  - name: gone\n    kind: process.lua\n    source: file://nope.lua\n"),
    );
    let err = load_error(&index);
    assert!(
        err.contains("entry t:broken: field source: lua syntax error"),
        "{err}"
    );
    assert!(
        err.contains("entry t:gone: field source: failed to open file"),
        "{err}"
    );
}

#[test]
fn a_scripts_own_coroutines_are_not_disturbed_by_preemption() {
    // 100k iterations inside a coroutine cross many instruction slices: a preemption
    // yield leaking into the coroutine would make resume return early, without "done".
    let script = r#"
return { main = function()
  local co = coroutine.create(function()
    local n = 0
    for i = 1, 100000 do n = n + i end
    coroutine.yield("first", n)
    return "done"
  end)
  local _, a, n = coroutine.resume(co)
  local _, b = coroutine.resume(co)
  return { a = a, n = n, b = b }
end }
"#;
    let rt = runtime(&lua("co", script));
    assert_eq!(
        run_to_exit(&rt, "t:co", vec![]).value,
        map(&[
            ("a", Value::String("first".into())),
            ("n", Value::Int(5_000_050_000)),
            ("b", Value::String("done".into())),
        ])
    );
}
