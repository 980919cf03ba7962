//! Lua processes (SPEC §7): spawn, monitor, link, send and receive from Lua.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::ClockKind;
use wippy_wasm::Value;
use wippy_wasm::{EventKind, Mailbox};

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

#[test]
fn the_seeds_lua_example_returns_42() {
    let cache = tempfile::tempdir().unwrap();
    let rt = options(&cache, 64).load(repo().join("examples")).unwrap();
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "myns:spawn_demo", "myns:processes", vec![])
        .unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error(), None);
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
    assert_eq!(r.error(), None);
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
    let rt = runtime_with(&lua("wait", script), |o| {
        o.clock(ClockKind::Virtual);
    });
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
    assert_eq!(r.error(), None);
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
    let err = run_to_exit(&rt, "t:bad", vec![]).error().unwrap();
    // The place reads `entry:line:`, the traceback has only the script's frames.
    assert!(err.starts_with("t:bad:1: something broke"), "{err}");
    assert!(err.contains("stack traceback"), "{err}");
    assert!(err.contains("deeper"), "{err}");
    assert!(!err.contains("wippy:") && !err.contains("xpcall"), "{err}");
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
  return { topic = m:topic(), payload = m:payload():data(), cancel = c.kind, reason = c.reason }
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
  process.set_options({ trap_links = true })
  process.spawn_linked("t:div", "t:host", 0)
  local e = process.receive()
  return { type = e.type, error = e.error, trapping = process.get_options().trap_links }
end }
"#;
    // Without `trap_links` (Wippy's default), a linked failure ends the Lua process.
    let untrapped = r#"
local process = require("process")
return { main = function()
  local bad_option = select(2, process.set_options({ trap_everything = true }))
  process.spawn_linked("t:div", "t:host", 0)
  process.receive()
  return "not reached"
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
  local spinner = process.inbox():receive():payload():data()
  assert(process.monitor(spinner))
  process.send(parent, "go")
  local e = process.receive()
  return { from_spinner = e.from == spinner, error = e.error }
end }
"#;
    let rt = runtime(
        &(workers()
            + &lua("hears", hears)
            + &lua("untrapped", untrapped)
            + &lua("dies", dies)
            + &lua("observes", observes)),
    );
    let r = run_to_exit(&rt, "t:hears", vec![]);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got["type"], Value::String("LINK_DOWN".into()));
    assert_eq!(got["trapping"], Value::Bool(true));
    let r = run_to_exit(&rt, "t:untrapped", vec![]);
    let error = r.error().unwrap_or_default();
    assert!(
        error.starts_with("linked process {t:host|") && error.ends_with("} failed"),
        "{r:?}"
    );

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
    // The loop yields between slices (a minute without a second Step fails).
    wait_for_steps(&rt, &busy, 2);
    assert!(rt.terminate(&busy));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.kind, EventKind::Exit);
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
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

#[test]
fn a_hundred_thousand_spawn_monitored_and_receive_round_trips_from_one_script() {
    // Each receive parks the script: 100k round trips through the preemption hook and
    // mlua's async poller, with the GC running in between (this used to segfault).
    let script = r#"
local process = require("process")
return { main = function(n)
  local count = 0
  for i = 1, n do
    local pid, err = process.spawn_monitored("t:worker", "t:host", i, 1)
    assert(pid, err)
    local e = process.receive()
    assert(e.from == pid and e.value == i, "a wrong EXIT")
    count = count + 1
  end
  return count
end }
"#;
    let rt = runtime(&(workers() + &lua("loop", script)));
    let started = std::time::Instant::now();
    let r = run_to_exit(&rt, "t:loop", vec![Value::Int(100_000)]);
    eprintln!("100k spawn_monitored + receive: {:?}", started.elapsed());
    assert_eq!(r.error(), None);
    assert_eq!(r.value, Value::Int(100_000));
}

#[test]
fn a_hundred_thousand_pcall_sleeps_from_one_script() {
    // This used to fail after ~9,400 calls with "attempt to call a userdata value".
    let script = r#"
local time = require("time")
return { main = function(n)
  local count = 0
  for _ = 1, n do
    local ok, err = pcall(time.sleep, 0)
    assert(ok, err)
    count = count + 1
  end
  return count
end }
"#;
    let rt = runtime(&lua("sleeps", script));
    let started = std::time::Instant::now();
    let r = run_to_exit(&rt, "t:sleeps", vec![Value::Int(100_000)]);
    eprintln!("100k pcall(time.sleep, 0): {:?}", started.elapsed());
    assert_eq!(r.error(), None);
    assert_eq!(r.value, Value::Int(100_000));
}

#[test]
fn a_busy_coroutine_is_preempted_and_can_be_terminated() {
    let busy = r#"
return { main = function()
  local co = coroutine.wrap(function()
    while true do pcall(function() end) end
  end)
  co()
end }
"#;
    let rt = runtime(&(workers() + &lua("busy", busy)));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:busy", HOST, vec![]).unwrap();
    // The host has one worker: the neighbour runs only if the coroutine is preempted.
    wait_for_steps(&rt, &pid, 2);
    assert_eq!(
        run_to_exit(&rt, "t:worker", vec![Value::Int(4), Value::Int(5)]).value,
        Value::Int(20)
    );
    assert!(rt.terminate(&pid));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.kind, EventKind::Exit);
    assert_eq!(exit.from, pid);
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
}

#[test]
fn a_kill_ends_a_busy_loop_where_the_hook_cannot_yield_even_under_pcall() {
    // Inside a table.sort comparator nothing can yield: the hook can only raise, and the
    // script catches every error. After a kill the hook runs at every instruction, so an
    // error escapes through the instructions outside the pcall.
    let busy = r#"
return { main = function()
  while true do
    pcall(table.sort, { 3, 2, 1 }, function(a, b)
      while true do
        pcall(function() for _ = 1, 1e9 do end end)
      end
    end)
  end
end }
"#;
    let rt = runtime(&lua("stubborn", busy));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:stubborn", HOST, vec![]).unwrap();
    wait_for_steps(&rt, &pid, 1);
    assert!(rt.terminate(&pid));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.from, pid);
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
}

#[test]
fn sleep_and_receive_inside_a_coroutine_park_the_process_and_resume_it() {
    let script = r#"
local process, time = require("process"), require("time")
return { main = function()
  local co = coroutine.create(function(a)
    local t0 = time.now()
    time.sleep(time.milliseconds(250))
    local b = coroutine.yield(a + 1, (time.now() - t0):milliseconds())
    local pid = process.spawn_monitored("t:worker", "t:host", b, 3)
    local e = process.receive()
    return e.from == pid, e.value
  end)
  local ok1, first, waited = coroutine.resume(co, 1)
  local ok2, same, value = coroutine.resume(co, 7)
  local gen = coroutine.wrap(function()
    time.sleep(10)
    coroutine.yield("slept")
    process.send(process.pid(), "note", "hi")
    return process.inbox():receive():payload():data()
  end)
  local sum = 0
  for v in coroutine.wrap(function()
    for i = 1, 3 do time.sleep(1) coroutine.yield(i) end
  end) do
    sum = sum + v
  end
  -- A coroutine resumed where nothing can be suspended (a C function's callback) cannot
  -- wait: a clear error rather than a stray value.
  local _, stuck = pcall(table.sort, {2, 1}, function(a, b)
    coroutine.wrap(function() time.sleep(1) end)()
    return a < b
  end)
  -- gsub's replacement function runs in Lua (bounded.lua), so it can wait.
  local slept = string.gsub("a", "a", function()
    coroutine.wrap(function() time.sleep(1) end)()
    return "slept"
  end)
  return {
    ok = ok1 and ok2, first = first, waited = waited, same = same, value = value,
    status = coroutine.status(co), gen1 = gen(), gen2 = gen(), sum = sum,
    stuck = string.find(stuck, "cannot wait here", 1, true) ~= nil, slept = slept,
  }
end }
"#;
    let rt = runtime_with(&(workers() + &lua("co", script)), |o| {
        o.clock(ClockKind::Virtual);
    });
    let r = run_to_exit(&rt, "t:co", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        map(&[
            ("ok", Value::Bool(true)),
            ("first", Value::Int(2)),
            ("waited", Value::Int(250)),
            ("same", Value::Bool(true)),
            ("value", Value::Int(21)),
            ("status", Value::String("dead".into())),
            ("gen1", Value::String("slept".into())),
            ("gen2", Value::String("hi".into())),
            ("sum", Value::Int(6)),
            ("stuck", Value::Bool(true)),
            ("slept", Value::String("slept".into())),
        ])
    );
}

#[test]
fn the_sandbox_has_no_file_access_no_bytecode_and_no_finalizers() {
    let script = r#"
return { main = function(binary)
  local out = {
    loadfile = type(loadfile), dofile = type(dofile), dump = type(string.dump),
    text = load("return 1 + 1")(),
    -- Wippy's os: the clock and the calendar only.
    os_time = math.type(os.time()), os_date = type(os.date("%Y")),
    os_execute = type(os.execute), os_getenv = type(os.getenv), os_remove = type(os.remove),
    os_exit = type(os.exit),
  }
  local f, err = load(binary)
  out.binary = f == nil and err or "loaded"
  f, err = load(binary, "bin", "b")
  out.binary_b = f == nil and err or "loaded"
  local ok, gc = pcall(setmetatable, {}, { __gc = function() end })
  out.gc = ok and "set" or gc
  ok, err = pcall(collectgarbage, "stop")
  out.stop = ok and "stopped" or err
  out.count = type(collectgarbage("count"))
  return out
end }
"#;
    let binary = mlua::Lua::new()
        .load("return 1")
        .into_function()
        .unwrap()
        .dump(false);
    let rt = runtime(&lua("sandbox", script));
    let r = run_to_exit(&rt, "t:sandbox", vec![Value::Bytes(binary)]);
    assert_eq!(r.error(), None);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    let text = |k: &str| match &got[k] {
        Value::String(s) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert_eq!(text("loadfile"), "nil");
    assert_eq!(text("dofile"), "nil");
    assert_eq!(text("dump"), "nil");
    assert_eq!(text("os_time"), "integer");
    assert_eq!(text("os_date"), "string");
    for k in ["os_execute", "os_getenv", "os_remove", "os_exit"] {
        assert_eq!(text(k), "nil", "{k}");
    }
    assert_eq!(got["text"], Value::Int(2));
    for k in ["binary", "binary_b"] {
        assert!(
            text(k).contains("attempt to load a binary chunk"),
            "{k}: {}",
            text(k)
        );
    }
    assert!(text("gc").contains("__gc"), "{}", text("gc"));
    assert!(text("stop").contains("stop"), "{}", text("stop"));
    assert_eq!(text("count"), "number");
}

#[test]
fn a_lua_source_outside_the_project_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.lua");
    std::fs::write(&outside, "return { main = function() return 1 end }").unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(
        root.join("inside.lua"),
        "return { main = function() return 2 end }",
    )
    .unwrap();
    let host = "  - name: host\n    kind: process.host\n";
    let entry = |name: &str, source: &str| {
        format!("  - name: {name}\n    kind: process.lua\n    source: file://{source}\n")
    };
    let load = |index: &str, sub: Option<&str>| {
        std::fs::write(root.join("_index.yaml"), index).unwrap();
        if let Some(sub) = sub {
            std::fs::write(root.join("sub/_index.yaml"), sub).unwrap();
        }
        let cache = tempfile::tempdir().unwrap();
        options(&cache, 8).load(&root).map(|_| ())
    };

    // An absolute path is refused as the registry is read...
    let entries = host.to_owned() + &entry("abs", &outside.display().to_string());
    let err = load(&index_with(&entries), None).unwrap_err().to_string();
    assert!(err.contains("entry t:abs: field source:"), "{err}");

    // ... `..` out of the project and a symlink out of it when the script is read.
    let mut entries = host.to_owned() + &entry("up", "../outside.lua");
    entries += &entry("deep", "sub/../../outside.lua");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, root.join("link.lua")).unwrap();
        entries += &entry("link", "link.lua");
    }
    let err = load(&index_with(&entries), None).unwrap_err().to_string();
    for name in ["up", "deep"] {
        assert!(
            err.contains(&format!(
                "entry t:{name}: field source: failed to open file"
            )),
            "{err}"
        );
    }
    #[cfg(unix)]
    assert!(err.contains("entry t:link: field source:"), "{err}");
    assert!(err.contains("leaves the project folder"), "{err}");

    // `..` is fine while it stays inside the project: a nested _index.yaml reaching up.
    let sub = "version: \"1.0\"\nnamespace: s\nentries:\n".to_owned()
        + &entry("up", "../inside.lua")
        + "  - name: up_too\n    kind: process.lua\n    source: file://./../sub/../inside.lua\n";
    load(&index_with(host), Some(&sub)).unwrap();
}

#[test]
fn bad_durations_are_lua_errors() {
    let script = r#"
local process, time = require("process"), require("time")
return { main = function()
  local huge = time.seconds(1.8e19)
  local cases = {
    sleep_huge = function() time.sleep(1e300) end,
    sleep_negative = function() time.sleep(-1) end,
    sleep_nan = function() time.sleep(0/0) end,
    sleep_inf = function() time.sleep(1/0) end,
    sleep_string = function() time.sleep("1e300h") end,
    sleep_too_long = function() time.sleep(huge) end,
    seconds_huge = function() return time.seconds(1e300) end,
    add_overflow = function() return huge + huge end,
    receive_huge = function() return process.receive(1e300) end,
    receive_too_long = function() return process.receive(huge) end,
    events_negative = function() return process.events():receive(-5) end,
  }
  local out = {}
  for name, f in pairs(cases) do
    local ok, err = pcall(f)
    out[name] = ok and "no error" or tostring(err)
  end
  return out
end }
"#;
    let rt = runtime(&lua("durations", script));
    let r = run_to_exit(&rt, "t:durations", vec![]);
    assert_eq!(r.error(), None);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got.len(), 11, "{got:?}");
    for (name, message) in &got {
        let Value::String(message) = message else {
            panic!("{name}: {message:?}")
        };
        assert!(
            message.contains("duration") || message.contains("seconds"),
            "{name}: {message}"
        );
    }
    let text = |k: &str| format!("{:?}", got[k]);
    for k in ["sleep_too_long", "add_overflow", "receive_too_long"] {
        assert!(text(k).contains("duration too long"), "{k}: {}", text(k));
    }
    assert!(
        text("sleep_negative").contains("negative"),
        "{}",
        text("sleep_negative")
    );
}

#[test]
fn preemptions_and_waits_pass_through_nested_coroutines() {
    // Six coroutines deep, a busy loop is preempted many times and a sleep parks the
    // process; every level in between passes them outward and gets its value back.
    let script = r##"
local time = require("time")
return { main = function()
  local function level(n)
    if n == 0 then
      local s = 0
      for i = 1, 300000 do s = s + select("#", table.unpack({ i, i, i })) end
      time.sleep(time.milliseconds(40))
      return s
    end
    local co = coroutine.wrap(function() return level(n - 1) end)
    return co()
  end
  local t0 = time.now()
  local s = level(6)
  return { s = s, waited = (time.now() - t0):milliseconds() >= 40 }
end }
"##;
    let rt = runtime_with(&lua("nested", script), |o| {
        o.clock(ClockKind::Virtual);
    });
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:nested", HOST, vec![]).unwrap();
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error(), None);
    assert_eq!(
        exit.result.value,
        map(&[("s", Value::Int(900_000)), ("waited", Value::Bool(true))])
    );
    let steps = exit.stats.expect("an EXIT carries counters").steps;
    assert!(
        steps > 100,
        "{steps} Steps: the busy loop was not preempted"
    );
}

/// Long C library calls (a catastrophic pattern, a huge `table.move` or sort, an empty
/// `string.rep` a billion times) run in Lua, where the hook preempts them: a neighbour
/// spawned just before one starts has finished by the time it ends, on the only worker.
/// `terminate` ends one mid-way.
#[test]
fn long_library_calls_are_preempted_and_terminable() {
    let busy = [
        (
            "pattern",
            "",
            r#"string.find(string.rep("a", 150), ".-.-.-b")"#,
        ),
        ("move", "", "table.move({}, 1, 3000000, 1, {})"),
        (
            "sort",
            "local t = {} for i = 1, 1000000 do t[i] = -i end",
            "table.sort(t)",
        ),
    ];
    // Building nothing takes no time at all (C loops `n` times).
    let mut entries = workers()
        + &lua(
            "rep",
            r#"return { main = function() return #string.rep("", math.maxinteger) end }"#,
        );
    for (name, setup, call) in busy {
        let script = format!(
            r#"local process = require("process")
return {{ main = function(forever)
  {setup}
  process.spawn_monitored("t:worker", "t:host", 6, 7)
  repeat {call} until not forever
  return process.events():receive(0) ~= nil
end }}"#
        );
        entries += &lua(name, &script);
    }
    let rt = runtime(&entries);
    for (name, _, _) in busy {
        let r = run_to_exit(&rt, &format!("t:{name}"), vec![Value::Bool(false)]);
        assert_eq!(
            r.value,
            Value::Bool(true),
            "{name}: the neighbour ran meanwhile: {r:?}"
        );
    }
    assert_eq!(run_to_exit(&rt, "t:rep", vec![]).value, Value::Int(0));
    let me = Mailbox::new();
    let pid = rt
        .spawn_monitored(&me, "t:pattern", HOST, vec![Value::Bool(true)])
        .unwrap();
    while rt.stats(&pid).unwrap().steps() < 3 {
        std::thread::yield_now();
    }
    rt.terminate(&pid);
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
}

/// What an attacker tried: counts given as floats or strings, a `__len` that lies, a
/// message handler that loops while a kill unwinds, the shared string metatable.
#[test]
fn lying_lengths_float_counts_and_kill_time_handlers_cannot_hold_the_worker() {
    let scripts = [
        ("rep_float", r#"return #string.rep("", 1e18) + #string.rep("", "1000000000000000000")"#),
        ("string_meta", r#"return getmetatable("") == false"#),
        ("move_float", "table.move({}, 1.0, 1e18, 2.0)"),
        (
            "insert_len",
            r#"table.insert(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1, "x")"#,
        ),
        (
            "remove_len",
            "table.remove(setmetatable({}, {__len = function() return math.maxinteger - 1 end}), 1)",
        ),
        (
            "handler",
            "table.sort({1, 2}, function() xpcall(function() while true do end end, function() while true do end end) end)",
        ),
    ];
    let mut entries = workers();
    for (name, body) in scripts {
        entries += &lua(name, &format!("return {{ main = function() {body} end }}"));
    }
    let rt = runtime(&entries);
    assert_eq!(run_to_exit(&rt, "t:rep_float", vec![]).value, Value::Int(0));
    assert_eq!(
        run_to_exit(&rt, "t:string_meta", vec![]).value,
        Value::Bool(true)
    );
    let me = Mailbox::new();
    for name in ["move_float", "insert_len", "remove_len", "handler"] {
        let pid = rt
            .spawn_monitored(&me, &format!("t:{name}"), HOST, vec![])
            .unwrap();
        if name != "handler" {
            // Preempted: a neighbour on the only worker finishes first.
            let neighbour = rt
                .spawn_monitored(&me, "t:worker", HOST, vec![Value::Int(6), Value::Int(7)])
                .unwrap();
            assert_eq!(me.receive(WAIT).unwrap().from, neighbour, "{name}");
        } else {
            while rt.stats(&pid).unwrap().steps() == 0 {
                std::thread::yield_now();
            }
        }
        rt.terminate(&pid);
        let exit = me.receive(WAIT).unwrap();
        assert_eq!(exit.from, pid, "{name}");
        assert_eq!(
            exit.result.error().as_deref(),
            Some("process terminated"),
            "{name}"
        );
    }
}

/// Messages are bounded in bytes as well as in number: 50 MiB strings sent to oneself
/// stop at the mailbox's byte limit (256 MiB) with an error at the sender; one value over
/// 64 MiB cannot leave the script at all.
#[test]
fn big_messages_stop_at_the_mailboxs_byte_limit() {
    let script = r#"
local process = require("process")
return { main = function()
  local big, err = pcall(process.send, process.pid(), "x", string.rep("x", 65 * 1024 * 1024))
  assert(not big and string.find(tostring(err), "value too large to pass between processes: more than 64 MiB", 1, true), tostring(err))
  local s = string.rep("x", 50 * 1024 * 1024)
  for i = 1, 30 do
    local ok, err = process.send(process.pid(), "x", s)
    if not ok then return {sent = i - 1, err = err} end
  end
  return {sent = 30}
end }
"#;
    let rt = runtime(&lua("flood", script));
    let r = run_to_exit(&rt, "t:flood", vec![]);
    let Value::Map(got) = r.value else {
        panic!("{r:?}")
    };
    assert_eq!(got["sent"], Value::Int(5));
    let Value::String(err) = &got["err"] else {
        panic!("{got:?}")
    };
    assert!(
        err.ends_with("is full: its unread messages hold 256 MiB"),
        "{err}"
    );
}

#[test]
fn a_script_in_wippys_typed_dialect_runs_with_its_lines_kept() {
    let typed = r#"type Point = {x: number, y: number}
export type Pair<T> = {first: T, second: T}

local function add(a: number, b: number): number
  return a + b
end

local function first<T>(arr: {T}): T?
  return arr[1]
end

local function main(): integer
  local p: Point = {x = 1, y = 2}
  local s = (tostring(p.x) :: string)
  local n: number?, label: string = nil, "x" .. s
  local total: integer = add(p.x, p.y) + first({5}) + (7 // 2) + (6 & 3)
  return total
end

local function fail(): never
  error("typed failure")
end

return { main = main, fail = fail }"#;
    let rt = runtime(
        &(lua("typed", typed)
            + &lua(
                "typed_fail",
                &typed.replace("main = main, fail = fail", "main = fail"),
            )),
    );
    let r = run_to_exit(&rt, "t:typed", vec![]);
    assert_eq!(r.error(), None);
    // 3 + 5 + 3 + 2
    assert_eq!(r.value, Value::Int(13));
    let err = run_to_exit(&rt, "t:typed_fail", vec![]).error().unwrap();
    // The error names line 21, where `error` is in the script as written.
    assert!(err.contains(":21: typed failure"), "{err}");
}

#[test]
fn the_pattern_functions_load_late_but_with_the_libraries_as_they_were_at_start() {
    // `patterns.lua` loads at the first pattern call; a script that broke `string.byte`,
    // `string.sub` and `math.tointeger` before then must not change how patterns run
    // (their cost check decides between C and the preemptible Lua port).
    let script = r#"
return { main = function()
  string.byte = function() error("replaced byte") end
  string.sub = function() error("replaced sub") end
  math.tointeger = function() return 0 end
  local a = string.find("hello world", "o w")
  local b = ("key=value"):match("(%w+)=(%w+)")
  local c = select(2, string.gsub("a,b,c", ",", ";"))
  local words = {}
  for w in string.gmatch("one two", "%a+") do words[#words + 1] = w end
  return { find = a, match = b, gsub = c, words = table.concat(words, "+") }
end }
"#;
    let rt = runtime(&lua("late", script));
    let r = run_to_exit(&rt, "t:late", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        map(&[
            ("find", Value::Int(5)),
            ("match", Value::String("key".into())),
            ("gsub", Value::Int(2)),
            ("words", Value::String("one+two".into())),
        ])
    );
}

#[test]
fn modules_built_late_wait_properly_even_after_a_script_replaced_coroutine_yield() {
    // Modules are built at first use; their async functions must still park the process
    // with the real `coroutine.yield`, not the script's.
    let script = r#"
coroutine.yield = function() error("the script's yield was called") end
return { main = function()
  local time = require("time")
  time.sleep("5ms")
  local ch = channel.new()
  coroutine.spawn(function() time.sleep("1ms") ch:send("late") end)
  process.send(process.pid(), "note", 7)
  return { value = ch:receive(), note = process.inbox():receive():payload():data(),
           global = type(process) == "table" and type(time) == "table" }
end }
"#;
    let rt = runtime_with(&lua("late", script), |o| {
        o.clock(ClockKind::Virtual);
    });
    let r = run_to_exit(&rt, "t:late", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        map(&[
            ("value", Value::String("late".into())),
            ("note", Value::Int(7)),
            ("global", Value::Bool(true)),
        ])
    );
}

#[test]
fn bursts_of_messages_and_answers_never_lose_a_wake() {
    // The hook may preempt a script between an async call's poll that found nothing and
    // the yield that parks it; a wake in between was spent on a pass that did not poll
    // again, and the process parked for good (one burst in seven hung).
    let echo = r#"
local process = require("process")
return { main = function()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    process.send(msg:from(), "pong", msg:payload():data())
  end
end }
"#;
    let burst = r#"
local process = require("process")
return { main = function(rounds)
  local echo = assert(process.spawn("t:echo", "t:host"))
  local inbox = process.inbox()
  local got = 0
  for _ = 1, rounds do
    for i = 1, 1000 do assert(process.send(echo, "ping", i)) end
    for i = 1, 1000 do
      assert(inbox:receive():payload():data() == i, "out of order")
      got = got + 1
    end
  end
  process.terminate(echo)
  return got
end }
"#;
    // Two workers: the answers come from the other thread, between the burst's Steps.
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n    host:\n      workers: 2\n{}{}",
        lua("echo", echo),
        lua("burst", burst)
    ));
    let dir = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let rt = options(&cache, 8).load(dir.path()).unwrap();
    let r = run_to_exit(&rt, "t:burst", vec![Value::Int(100)]);
    assert_eq!(r.error(), None);
    assert_eq!(r.value, Value::Int(100_000));
}
