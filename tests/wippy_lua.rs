//! Wippy's Lua library for processes (issue 15): channels and `select`, `coroutine.spawn`,
//! Wippy's `time`, message objects, `set_options`, and the modules `logger`, `json`,
//! `uuid`, `env`, `funcs`, `events`, with `modules:` deciding what a script may require.

mod common;

use common::*;
use wippy_wasm::{ClockKind, GuestLog, Stream, Value};

/// A Lua entry of `kind` with inline `source` and the `modules` it lists.
fn entry(name: &str, kind: &str, modules: &[&str], source: &str) -> String {
    let body: String = source.lines().map(|l| format!("      {l}\n")).collect();
    let modules = if modules.is_empty() {
        String::new()
    } else {
        format!("    modules: [{}]\n", modules.join(", "))
    };
    let method = if kind == "function.lua" {
        "    method: call\n"
    } else {
        ""
    };
    format!("  - name: {name}\n    kind: {kind}\n{method}{modules}    source: |\n{body}")
}

fn process(name: &str, modules: &[&str], source: &str) -> String {
    entry(name, "process.lua", modules, source)
}

fn virtual_runtime(entries: &str) -> TestRuntime {
    runtime_with(entries, |o| {
        o.clock(ClockKind::Virtual);
    })
}

fn ok_value(rt: &wippy_wasm::Runtime, entry: &str) -> Value {
    let r = run_to_exit(rt, entry, vec![]);
    assert_eq!(r.error(), None, "{entry}");
    r.value
}

#[test]
fn channels_buffer_hand_over_close_and_select_in_list_order() {
    let script = r#"
return { main = function()
  local out = {}
  -- Buffered: two sends fit without a receiver.
  local b = channel.new(2)
  b:send("a"); b:send("b")
  local v1, ok1 = b:receive()
  out.buffered = v1 .. tostring(ok1)
  -- Unbuffered: a spawned coroutine sends, main receives; the sender resumes after.
  local u = channel.new()
  local trace = {}
  coroutine.spawn(function()
    table.insert(trace, "send")
    u:send(42)
    table.insert(trace, "sent")
  end)
  local got = u:receive()
  table.insert(trace, "got " .. got)
  -- Closing: the buffer drains, then nil, false.
  b:close()
  local rest, still = b:receive()
  local none, open = b:receive()
  out.after_close = rest .. tostring(still) .. tostring(none) .. tostring(open)
  out.send_on_closed = not pcall(b.send, b, "x")
  -- select: the first ready case in list order; default when none is.
  local x, y = channel.new(1), channel.new(1)
  x:send("from x"); y:send("from y")
  local r = channel.select{ y:case_receive(), x:case_receive() }
  out.first = r.value
  out.same_channel = r.channel == y
  local d = channel.select{ channel.new():case_receive(), default = true }
  out.default = d.default
  local s = channel.select{ channel.new(1):case_send("v") }
  out.sent = s.ok
  local z = channel.new()
  coroutine.spawn(function() z:send("late") end)
  out.waited = channel.select{ z:case_receive() }.value
  table.insert(trace, "end")
  out.trace = table.concat(trace, ",")
  return out
end }
"#;
    let rt = runtime(&process("chan", &[], script));
    let got = ok_value(&rt, "t:chan");
    assert_eq!(
        got,
        map(&[
            ("buffered", Value::String("atrue".into())),
            ("after_close", Value::String("btruenilfalse".into())),
            ("send_on_closed", Value::Bool(true)),
            ("first", Value::String("from y".into())),
            ("same_channel", Value::Bool(true)),
            ("default", Value::Bool(true)),
            ("sent", Value::Bool(true)),
            ("waited", Value::String("late".into())),
            // As in Go: a send to a parked receiver hands over and goes on.
            ("trace", Value::String("send,sent,got 42,end".into())),
        ])
    );
}

#[test]
fn a_worker_pool_of_spawned_coroutines_shares_channels_and_main_ending_stops_them() {
    // Wippy's 04-worker-pool, in miniature: workers read jobs and write results.
    let script = r#"
local time = require("time")
return { main = function()
  local jobs, results = channel.new(10), channel.new(10)
  for w = 1, 3 do
    coroutine.spawn(function()
      while true do
        local job, ok = jobs:receive()
        if not ok then break end
        time.sleep("10ms")
        results:send({ worker = w, square = job * job })
      end
    end)
  end
  for i = 1, 6 do jobs:send(i) end
  jobs:close()
  local sum, workers = 0, {}
  for _ = 1, 6 do
    local r = results:receive()
    sum = sum + r.square
    workers[r.worker] = true
  end
  -- A coroutine that would run forever: main's return ends it.
  coroutine.spawn(function() while true do time.sleep("1h") end end)
  local t0 = time.now()
  return { sum = sum, all_worked = workers[1] and workers[2] and workers[3],
           parallel = (time.now() - t0):milliseconds() }
end }
"#;
    let rt = virtual_runtime(&process("pool", &[], script));
    let got = ok_value(&rt, "t:pool");
    assert_eq!(
        got,
        map(&[
            ("sum", Value::Int(91)),
            ("all_worked", Value::Bool(true)),
            ("parallel", Value::Int(0)),
        ])
    );
}

#[test]
fn an_error_in_a_spawned_coroutine_fails_the_process_and_busy_ones_take_turns() {
    let failing = r#"
return { main = function()
  coroutine.spawn(function() error("worker broke") end)
  channel.new():receive() -- waits forever: only the worker's error can end this
end }
"#;
    // Two busy coroutines and a busy main: each is preempted, so all three progress.
    let busy = r#"
return { main = function()
  local counts = { 0, 0 }
  for i = 1, 2 do
    coroutine.spawn(function() while true do counts[i] = counts[i] + 1 end end)
  end
  local n = 0
  while counts[1] == 0 or counts[2] == 0 do n = n + 1 end
  return "both ran"
end }
"#;
    let rt = runtime(&(process("failing", &[], failing) + &process("busy", &[], busy)));
    let r = run_to_exit(&rt, "t:failing", vec![]);
    let error = r.error().unwrap_or_default();
    assert!(error.contains("worker broke"), "{r:?}");
    assert_eq!(ok_value(&rt, "t:busy"), Value::String("both ran".into()));
}

#[test]
fn wippys_time_reads_nanoseconds_and_go_strings_and_its_clock_channels_fire_in_virtual_time() {
    let script = r#"
local time = require("time")
return { main = function()
  local out = {}
  local t0 = time.now()
  time.sleep(5 * time.MILLISECOND)
  time.sleep("1m30s")
  out.slept_ms = (time.now() - t0):milliseconds()
  out.parsed = tostring(time.parse_duration("1h30m"))
  out.bad = select(2, time.parse_duration("soon"))
  out.zero_after = select(2, time.after(0))
  -- after: one value, on time.
  local t1 = time.now()
  local fired = time.after("250ms"):receive()
  out.after_ms = (fired:sub(t1)):milliseconds()
  -- ticker: every 100ms until stopped.
  local ticker = time.ticker("100ms")
  local ticks = 0
  local t2 = time.now()
  for _ = 1, 3 do ticker:channel():receive(); ticks = ticks + 1 end
  out.ticks_ms = (time.now() - t2):milliseconds()
  ticker:stop()
  -- a stopped timer never fires: the select takes the later time.after.
  local timer = time.timer("10ms")
  out.stopped_before_firing = timer:stop()
  local r = channel.select{ timer:response():case_receive(), time.after("20ms"):case_receive() }
  out.timer_fired = r.channel == timer:response()
  -- select over the inbox and a timeout (Wippy's most common loop).
  process.send(process.pid(), "job", "payload")
  local inbox = process.inbox()
  local r1 = channel.select{ inbox:case_receive(), time.after("1s"):case_receive() }
  out.message = r1.channel == inbox and r1.value:payload():data()
  local r2 = channel.select{ inbox:case_receive(), time.after("1s"):case_receive() }
  out.timed_out = r2.channel ~= inbox
  return out
end }
"#;
    let rt = virtual_runtime(&process("time", &[], script));
    assert_eq!(
        ok_value(&rt, "t:time"),
        map(&[
            ("slept_ms", Value::Int(90_005)),
            ("parsed", Value::String("1h30m0s".into())),
            (
                "bad",
                Value::String(
                    "invalid duration \"soon\": expected a number and a unit, like 500ms, 5s, 1m30s (units: ns, us, ms, s, m, h)"
                        .into()
                )
            ),
            (
                "zero_after",
                Value::String("time.after: the duration must be positive".into())
            ),
            ("after_ms", Value::Int(250)),
            ("ticks_ms", Value::Int(300)),
            ("stopped_before_firing", Value::Bool(true)),
            ("timer_fired", Value::Bool(false)),
            ("message", Value::String("payload".into())),
            ("timed_out", Value::Bool(true)),
        ])
    );
}

#[test]
fn messages_are_objects_and_listen_gives_payloads_and_send_checks_topics() {
    let script = r#"
return { main = function()
  local me = process.pid()
  local jobs = process.listen("job")
  process.send(me, "note", { text = "hi" })
  process.send(me, "job", 7)
  local m = process.inbox():receive()
  local out = {
    topic = m:topic(), from_me = m:from() == me, text = m:payload():data().text,
    format = m:payload():get_format(), job = jobs:receive(),
    same_inbox = process.inbox() == process.inbox(),
    id = process.id(),
  }
  -- `data()` gives one value, and trailing nils are no payloads: forwarding keeps a table.
  process.send(me, "fwd", m:payload():data(), nil)
  out.forwarded = process.inbox():receive():payload():data().text
  local ok, err = process.send(me, "@exit", 1)
  out.reserved = ok == nil and err
  local _, field_error = pcall(function() return m.topik end)
  out.field_error = tostring(field_error):match("use msg:topic%(%)") ~= nil
  local _, empty = process.listen("")
  out.empty_topic = empty ~= nil
  local set, unsupported = process.set_options({ upgradable = true })
  out.unsupported = not set and unsupported
  return out
end }
"#;
    let rt = runtime(&process("msgs", &[], script));
    assert_eq!(
        ok_value(&rt, "t:msgs"),
        map(&[
            ("topic", Value::String("note".into())),
            ("from_me", Value::Bool(true)),
            ("text", Value::String("hi".into())),
            ("format", Value::String("lua/any".into())),
            ("job", Value::Int(7)),
            ("same_inbox", Value::Bool(true)),
            ("id", Value::String("t:msgs".into())),
            ("forwarded", Value::String("hi".into())),
            (
                "reserved",
                Value::String(
                    "invalid topic \"@exit\": topics starting with @ are the runtime's".into()
                )
            ),
            ("field_error", Value::Bool(true)),
            ("empty_topic", Value::Bool(true)),
            (
                "unsupported",
                Value::String("option upgradable is not supported".into())
            ),
        ])
    );
}

#[test]
fn logger_json_and_uuid_as_wippy_scripts_use_them() {
    let script = r#"
local logger, json, uuid = require("logger"), require("json"), require("uuid")
return { main = function()
  logger:info("ready", { round = 1 })
  logger:named("worker"):with({ id = 7 }):warn("slow")
  logger:debug("hidden by default")
  local text = json.encode({ b = { 1, 2 }, a = "x", empty = {} })
  local back = json.decode('{"n": 1.5, "list": [true, null, "s"]}')
  local _, bad = json.decode("{nope")
  local _, cycle = json.encode((function() local t = {} t.t = t return t end)())
  local id = uuid.v4()
  return {
    text = text, n = back.n, second_is_nil = back.list[2] == nil, third = back.list[3],
    bad = bad ~= nil, cycle = cycle ~= nil,
    valid = uuid.validate(id), version = uuid.version(id), v7 = uuid.version(uuid.v7()),
    v5 = uuid.v5("dns", "wippy.ai"), invalid = uuid.validate("nope"),
    simple = uuid.format("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "simple"),
  }
end }
"#;
    let entries = process("lib", &["logger", "json", "uuid"], script);
    let (log, lines) = GuestLog::capture();
    let rt = runtime_with(&entries, |o| {
        o.guest_output(log);
    });
    let got = ok_value(&rt, "t:lib");
    assert_eq!(
        got,
        map(&[
            (
                "text",
                Value::String(r#"{"a":"x","b":[1,2],"empty":[]}"#.into())
            ),
            ("n", Value::Float(1.5)),
            ("second_is_nil", Value::Bool(true)),
            ("third", Value::String("s".into())),
            ("bad", Value::Bool(true)),
            ("cycle", Value::Bool(true)),
            ("valid", Value::Bool(true)),
            ("version", Value::Int(4)),
            ("v7", Value::Int(7)),
            (
                "v5",
                Value::String("377c7225-396c-5e73-ad84-2bdabc48ea0c".into())
            ),
            ("invalid", Value::Bool(false)),
            (
                "simple",
                Value::String("6ba7b8109dad11d180b400c04fd430c8".into())
            ),
        ])
    );
    let logged: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, stream, _)| *stream == Stream::Stderr)
        .map(|(_, _, line)| line.clone())
        .collect();
    assert_eq!(
        logged,
        [
            r#"INFO   ready  {"round":1}"#,
            r#"WARN   worker  slow  {"id":7}"#
        ]
    );
}

#[test]
fn modules_decide_what_a_script_may_require() {
    let script = r#"
return { main = function()
  local ok, err = pcall(require, "json")
  err = tostring(err)
  local ok2, err2 = pcall(require, "nosuch")
  return { listed = type(logger) == "userdata" and require("logger") == logger,
           json = not ok and err, unknown = not ok2 and err2 ~= nil,
           always = require("channel") == channel and require("process") == process }
end }
"#;
    let rt = runtime(&process("mods", &["logger"], script));
    let got = ok_value(&rt, "t:mods");
    let Value::Map(got) = got else { panic!() };
    assert_eq!(got["listed"], Value::Bool(true));
    assert_eq!(got["always"], Value::Bool(true));
    assert_eq!(got["unknown"], Value::Bool(true));
    let Value::String(json) = &got["json"] else {
        panic!("{got:?}")
    };
    assert!(
        json.contains("module 'json' is not in the modules of entry t:mods: add `- json` to its `modules:` list"),
        "{json}"
    );
}

#[test]
fn env_reads_and_writes_through_its_storages_and_refuses_read_only_ones() {
    let script = r#"
local env = require("env")
return { main = function()
  local out = {}
  out.file = env.get("APP_NAME")
  out.default = env.get("PORT")
  out.memory = env.get("LOG_LEVEL")
  assert(env.set("LOG_LEVEL", "debug"))
  out.memory_after = env.get("LOG_LEVEL")
  assert(env.set("APP_NAME", "renamed"))
  out.by_id = env.get("t:app_name")
  local _, denied = env.set("APP_VERSION", "2")
  out.denied = denied
  local _, missing = env.get("NOPE")
  out.missing = missing
  out.all = env.get_all().LOG_LEVEL
  return out
end }
"#;
    let storages = [
        "  - name: mem\n    kind: env.storage.memory\n    values:\n      LOG_LEVEL: warn\n",
        "  - name: file\n    kind: env.storage.file\n    file_path: ./config.env\n    auto_create: true\n    file_mode: 0600\n",
        "  - name: app_name\n    kind: env.variable\n    variable: APP_NAME\n    storage: t:file\n",
        "  - name: port\n    kind: env.variable\n    variable: PORT\n    storage: t:static\n    default: \"8080\"\n",
        "  - name: static\n    kind: env.storage.static\n",
        "  - name: log_level\n    kind: env.variable\n    variable: LOG_LEVEL\n    storage: t:mem\n",
        "  - name: app_version\n    kind: env.variable\n    variable: APP_VERSION\n    default: \"1.0.0\"\n    readonly: true\n",
    ];
    let entries = storages.concat() + &process("envs", &["env"], script);
    let rt = runtime(&entries);
    std::fs::write(
        rt.project.path().join("config.env"),
        "# config\nAPP_NAME=\"Env Demo\"\n",
    )
    .unwrap();
    let got = ok_value(&rt, "t:envs");
    assert_eq!(
        got,
        map(&[
            ("file", Value::String("Env Demo".into())),
            ("default", Value::String("8080".into())),
            ("memory", Value::String("warn".into())),
            ("memory_after", Value::String("debug".into())),
            ("by_id", Value::String("renamed".into())),
            (
                "denied",
                Value::String(
                    "PERMISSION_DENIED: env variable \"APP_VERSION\" is read-only".into()
                )
            ),
            (
                "missing",
                Value::String("NOT_FOUND: no env.variable \"NOPE\"".into())
            ),
            ("all", Value::String("debug".into())),
        ])
    );
    let file = std::fs::read_to_string(rt.project.path().join("config.env")).unwrap();
    assert_eq!(file, "APP_NAME=renamed\n");
}

#[test]
fn funcs_call_runs_function_entries_and_returns_their_errors() {
    let double = "return { call = function(n) return n * 2 end }";
    let refuse = "return { call = function(name) return nil, 'no greeting for ' .. name end }";
    let script = r#"
local funcs = require("funcs")
return { main = function()
  local four, e4 = funcs.call("t:double", 2)
  assert(four, e4)
  local none, err = funcs.call("t:refuse", "Bob")
  local _, invalid = funcs.call("double", 1)
  local via_executor = funcs.new():with_context({ a = 1 }):call("t:double", 21)
  local wasm = funcs.call("t:worker", 6, 7)
  return { four = four, err = none == nil and err, invalid = invalid ~= nil,
           via_executor = via_executor, wasm = wasm }
end }
"#;
    let entries = entry("double", "function.lua", &[], double)
        + &entry("refuse", "function.lua", &[], refuse)
        + &guest("worker", "worker.wasm", "compute", "")
        + &process("caller", &["funcs"], script);
    let rt = runtime(&entries);
    let got = ok_value(&rt, "t:caller");
    let Value::Map(got) = got else { panic!() };
    assert_eq!(got["four"], Value::Int(4));
    assert_eq!(got["via_executor"], Value::Int(42));
    assert_eq!(got["wasm"], Value::Int(42));
    assert_eq!(got["invalid"], Value::Bool(true));
    let Value::String(err) = &got["err"] else {
        panic!("{got:?}")
    };
    assert!(err.contains("no greeting for Bob"), "{err}");
}

#[test]
fn events_reach_every_matching_subscriber_and_none_after_close() {
    let subscriber = r#"
local events = require("events")
return { main = function(parent)
  local all = events.subscribe("users")
  local created = events.subscribe("users", "created")
  local apps = events.subscribe("app.*")
  process.send(parent, "ready")
  local e1 = all:channel():receive()
  local e2 = all:channel():receive()
  local c = created:channel():receive()
  local a = apps:channel():receive()
  all:close()
  return { first = e1.kind .. " " .. e1.path .. " " .. e1.data.name, second = e2.kind,
           created_only = c.kind, app = a.system }
end }
"#;
    let publisher = r#"
local events = require("events")
return { main = function()
  local pid = process.spawn_monitored("t:subscriber", "t:host", process.pid())
  process.inbox():receive()
  events.send("users", "created", "/users/1", { name = "ann" })
  events.send("users", "deleted", "/users/1")
  events.send("app.orders", "placed", "/orders/9")
  local _, invalid = events.send("", "x", "/")
  local exit = process.events():receive()
  return { result = exit.result.value, invalid = invalid ~= nil }
end }
"#;
    let rt = runtime(
        &(process("subscriber", &["events"], subscriber)
            + &process("publisher", &["events"], publisher)),
    );
    assert_eq!(
        ok_value(&rt, "t:publisher"),
        map(&[
            (
                "result",
                map(&[
                    ("first", Value::String("created /users/1 ann".into())),
                    ("second", Value::String("deleted".into())),
                    ("created_only", Value::String("created".into())),
                    ("app", Value::String("app.orders".into())),
                ])
            ),
            ("invalid", Value::Bool(true)),
        ])
    );
}

#[test]
fn unknown_modules_warn_at_load_and_function_entries_load() {
    let entries = process("w", &["http", "bogus"], "return { main = function() end }");
    let dir = project(&[("_index.yaml", &index_with(&entries))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    let text = format!("{checked:?}");
    assert!(
        text.contains("module http is not available in wippy-wasm"),
        "{text}"
    );
    assert!(text.contains("unknown module bogus"), "{text}");
}

#[test]
fn hostile_scripts_meet_clear_limits_and_the_host_keeps_running() {
    // Each probe tries to grow memory outside the Lua state's limit, or to hold the worker
    // inside one Step, through the library; each must stop at a named limit.
    let script = r#"
local json, events, env, time = require("json"), require("events"), require("env"), require("time")
local function message(f) local ok, err = pcall(f) return not ok and tostring(err) or "no error" end
return { main = function()
  local out = {}
  -- Channel buffers, all channels of the process together.
  out.buffered = message(function()
    local chs = {}
    for c = 1, 8 do
      chs[c] = channel.new(1 << 20)
      for i = 1, 1 << 20 do chs[c]:send(i) end
    end
  end)
  out.capacity = message(function() channel.new(1 << 40) end)
  -- Coroutines beside main.
  out.coroutines = message(function()
    for i = 1, 20000 do coroutine.spawn(function() channel.new():receive() end) end
    time.sleep(0)
  end)
  -- Subscriptions.
  local subs, refused = {}, nil
  for i = 1, 300 do
    local s, err = events.subscribe("s" .. i)
    if not s then refused = err break end
    subs[i] = s
  end
  out.subscriptions = refused
  -- A JSON document larger than decode reads.
  out.json = select(2, json.decode("[" .. string.rep("0,", 3 << 20) .. "0]"))
  -- A 1 ns ticker read a second late skips what it missed without looping over it.
  local ticker = time.ticker(1)
  time.sleep("1s")
  ticker:channel():receive()
  out.ticker = "survived"
  -- A line break cannot add keys to a file storage.
  out.env = select(2, env.set("NAME", "x\nOTHER=1"))
  return out
end }
"#;
    let storages = [
        "  - name: file\n    kind: env.storage.file\n    file_path: ./e.env\n    auto_create: true\n",
        "  - name: name\n    kind: env.variable\n    variable: NAME\n    storage: t:file\n",
    ]
    .concat();
    let rt = virtual_runtime(
        &(storages
            + &process("hostile", &["json", "events", "env"], script)
            + &process(
                "after",
                &[],
                "return { main = function() return 'still running' end }",
            )),
    );
    let got = ok_value(&rt, "t:hostile");
    let Value::Map(got) = got else {
        panic!("{got:?}")
    };
    let text = |k: &str| match &got[k] {
        Value::String(s) => s.clone(),
        other => panic!("{k}: {other:?}"),
    };
    assert!(
        text("buffered").contains("this process's channels already hold 1048576 values"),
        "{}",
        text("buffered")
    );
    assert!(text("capacity").contains("capacity 1099511627776 is outside 0..1048576"));
    assert!(
        text("coroutines")
            .contains("coroutine.spawn: this process already runs 10000 coroutines beside main"),
        "{}",
        text("coroutines")
    );
    assert_eq!(
        text("subscriptions"),
        "events.subscribe: this process already has 256 open subscriptions (close some)"
    );
    assert_eq!(
        text("json"),
        "json.decode: 6291459 bytes is more than a document may be (4194304)"
    );
    assert_eq!(text("ticker"), "survived");
    assert_eq!(
        text("env"),
        "INVALID: the value of env variable \"NAME\" has a line break"
    );
    assert_eq!(
        ok_value(&rt, "t:after"),
        Value::String("still running".into())
    );
}
