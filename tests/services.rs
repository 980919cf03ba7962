//! `process.service` supervision (SPEC §8): restarts with exact backoff under virtual
//! time, the end states, `requires` order, stopping, and what Lua sees.

mod common;

use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::*;
use wippy_wasm::{ClockKind, Mailbox, ServiceChange, ServiceState, Value};

const WAIT: Duration = Duration::from_secs(60);

fn lua(name: &str, source: &str) -> String {
    let body: String = source.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - name: {name}\n    kind: process.lua\n    source: |\n{body}")
}

/// A `process.service` of `process` on `t:host`; `lifecycle` is YAML indented by six.
fn service(name: &str, process: &str, lifecycle: &str) -> String {
    format!("  - name: {name}\n    kind: process.service\n    process: {process}\n    host: host\n    lifecycle:\n{lifecycle}")
}

/// Changes of `service` until one satisfies `last`, which is included.
fn changes_until(
    feed: &Receiver<ServiceChange>,
    service: &str,
    last: impl Fn(&ServiceChange) -> bool,
) -> Vec<ServiceChange> {
    let mut seen = Vec::new();
    loop {
        let change = feed
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no change of {service} in a minute; saw {seen:#?}"));
        if change.service.to_string() != service {
            continue;
        }
        let done = last(&change);
        seen.push(change);
        if done {
            return seen;
        }
    }
}

const CRASH: &str = "return { main = function() error('crash on purpose') end }";

#[test]
fn a_failing_service_restarts_after_exact_backoff_delays_then_is_left_failed() {
    let entries = lua("crash", CRASH)
        + &service(
            "svc",
            "crash",
            "      restart:\n        initial_delay: 1s\n        max_delay: 3s\n        backoff_factor: 2\n        jitter: 0\n        max_attempts: 4\n",
        );
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let feed = rt.service_changes();
    rt.start_service("t:svc").unwrap();
    let changes = changes_until(&feed, "t:svc", |c| c.state.is_final());
    let last = changes.last().unwrap();
    assert_eq!(last.state, ServiceState::Failed);
    let error = last.error.as_deref().unwrap();
    assert!(
        error.contains("gave up after 4 restarts in a row") && error.contains("crash on purpose"),
        "{error}"
    );
    // Each failure announces its delay, and the next process starts exactly that much
    // later on the (virtual) clock: 1 s, 2 s, then capped at 3 s.
    let mut delays = Vec::new();
    for pair in changes.windows(2) {
        if let (Some(delay), ServiceState::Running) = (pair[0].restart_in, pair[1].state) {
            assert_eq!(pair[1].at - pair[0].at, delay, "{:#?}", pair);
            delays.push(delay.as_secs());
        }
    }
    assert_eq!(delays, [1, 2, 3, 3]);
    let runs = changes
        .iter()
        .filter(|c| c.state == ServiceState::Running)
        .count();
    assert_eq!(runs, 5, "the first run and four restarts");
    let status = rt.service("t:svc").unwrap();
    assert_eq!((status.state, status.restarts), (ServiceState::Failed, 4));
}

#[test]
fn a_service_that_ran_past_stable_threshold_starts_its_backoff_over() {
    // Runs 10 s (virtual), fails: each failure is the first in a row, so every delay is
    // the initial one.
    let script = "local time = require('time')\nreturn { main = function() time.sleep('10s'); error('late failure') end }";
    let entries = lua("late", script)
        + &service(
            "svc",
            "late",
            "      stable_threshold: 5s\n      restart:\n        initial_delay: 1s\n        jitter: 0\n",
        );
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let feed = rt.service_changes();
    rt.start_service("t:svc").unwrap();
    let mut delays = Vec::new();
    while delays.len() < 3 {
        let c = changes_until(&feed, "t:svc", |c| c.restart_in.is_some());
        delays.push(c.last().unwrap().restart_in.unwrap());
    }
    assert_eq!(delays, [Duration::from_secs(1); 3]);
    assert!(rt.stop_service("t:svc"));
    assert_eq!(rt.service("t:svc").unwrap().state, ServiceState::Stopped);
}

#[test]
fn a_service_that_returns_normally_is_exited_and_not_restarted() {
    let entries = lua("done", "return { main = function() return 'fine' end }")
        + &service(
            "svc",
            "done",
            "      restart:\n        initial_delay: 1ms\n",
        );
    let rt = runtime(&entries);
    let feed = rt.service_changes();
    rt.start_service("t:svc").unwrap();
    let changes = changes_until(&feed, "t:svc", |c| c.state.is_final());
    let states: Vec<_> = changes.iter().map(|c| c.state).collect();
    assert_eq!(
        states,
        [
            ServiceState::Starting,
            ServiceState::Running,
            ServiceState::Exited
        ]
    );
    let status = rt.service("t:svc").unwrap();
    assert_eq!((status.restarts, status.pid), (0, None));
}

#[test]
fn a_wasm_service_that_traps_is_restarted() {
    let entries = guest("div", "misbehave.wasm", "div", "")
        + &service(
            "svc",
            "div",
            "      restart:\n        initial_delay: 2s\n        jitter: 0\n        max_attempts: 1\n",
        )
        .replace("lifecycle:\n", "input: [0]\n    lifecycle:\n");
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let feed = rt.service_changes();
    rt.start_service("t:svc").unwrap();
    let changes = changes_until(&feed, "t:svc", |c| c.state.is_final());
    let failed = changes.last().unwrap();
    assert_eq!(failed.state, ServiceState::Failed);
    assert!(
        failed.error.as_deref().unwrap().contains("divide by zero"),
        "{failed:?}"
    );
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.state == ServiceState::Running)
            .count(),
        2
    );
}

/// A service that waits for CANCEL and then returns: it stops cleanly.
const POLITE: &str = r#"
local process = require("process")
return { main = function()
  while true do
    local e = process.events():receive()
    if e.kind == process.event.CANCEL then return "closed" end
  end
end }"#;

#[test]
fn requires_starts_dependencies_first_and_stops_them_last() {
    let entries = lua("polite", POLITE)
        + &service("a", "polite", "      requires: [b]\n")
        + &service("b", "polite", "      depends_on: [c, host]\n")
        + &service("c", "polite", "      auto_start: false\n");
    let rt = runtime(&entries);
    let feed = rt.service_changes();
    let started = rt.start_service("t:a").unwrap();
    let names: Vec<String> = started.iter().map(|id| id.to_string()).collect();
    assert_eq!(names, ["t:c", "t:b", "t:a"]);
    rt.stop_services();
    // Every change was recorded before start and stop returned.
    let changes: Vec<ServiceChange> = feed.try_iter().collect();
    let of = |state: ServiceState| -> Vec<String> {
        changes
            .iter()
            .filter(|c| c.state == state)
            .map(|c| c.service.to_string())
            .collect()
    };
    assert_eq!(of(ServiceState::Running), ["t:c", "t:b", "t:a"]);
    assert_eq!(of(ServiceState::Stopped), ["t:a", "t:b", "t:c"]);
    // Each stopped by answering CANCEL, so no error.
    assert!(changes
        .iter()
        .filter(|c| c.state == ServiceState::Stopped)
        .all(|c| c.error.is_none()));
}

#[test]
fn a_service_that_ignores_cancel_is_terminated_after_stop_timeout() {
    let deaf = "local time = require('time')\nreturn { main = function() while true do time.sleep('1h') end end }";
    let entries = lua("deaf", deaf) + &service("svc", "deaf", "      stop_timeout: 3s\n");
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let feed = rt.service_changes();
    rt.start_service("t:svc").unwrap();
    assert!(rt.stop_service("t:svc"));
    let changes = changes_until(&feed, "t:svc", |c| c.state.is_final());
    let stopping = changes
        .iter()
        .find(|c| c.state == ServiceState::Stopping)
        .unwrap();
    let stopped = changes.last().unwrap();
    assert_eq!(stopped.state, ServiceState::Stopped);
    assert_eq!(stopped.at - stopping.at, Duration::from_secs(3));
    assert_eq!(stopped.error.as_deref(), Some("process terminated"));
}

#[test]
fn a_requires_cycle_and_a_missing_requirement_fail_the_load_naming_the_entries() {
    let entries = lua("p", POLITE)
        + &service("a", "p", "      requires: [b]\n")
        + &service("b", "p", "      requires: [a]\n")
        + &service("c", "p", "      requires: [nowhere]\n")
        + &service("d", "p", "      stop_timeout: soon\n");
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n{entries}"
    ));
    let errors = load_error(&index);
    assert!(
        errors.contains("services require each other in a cycle: t:a -> t:b -> t:a"),
        "{errors}"
    );
    assert!(
        errors.contains("required entry not found: t:nowhere"),
        "{errors}"
    );
    assert!(
        errors.contains("lifecycle.stop_timeout") && errors.contains("invalid duration \"soon\""),
        "{errors}"
    );
}

#[test]
fn lua_reads_a_services_state() {
    let ask = r#"
local system = require("system")
return { main = function()
  local s = system.supervisor.status("t:svc")
  return { state = system.supervisor.state("t:svc"), restarts = s.restarts,
           has_pid = s.pid ~= nil, never = system.supervisor.state("t:other") }
end }"#;
    let entries = lua("polite", POLITE)
        + &lua("ask", ask)
        + &service("svc", "polite", "      auto_start: true\n");
    let rt = runtime(&entries);
    assert_eq!(rt.start_services().unwrap().len(), 1);
    let r = run_to_exit(&rt, "t:ask", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        Value::map([
            ("state", Value::String("running".into())),
            ("restarts", Value::Int(0)),
            ("has_pid", Value::Bool(true)),
        ])
    );
}

#[test]
fn names_resolve_for_sends_and_are_released_when_the_process_ends() {
    let holder = r#"
local process = require("process")
return { main = function()
  local ok, err = process.registry.register("keeper")
  assert(ok, err)
  local again, taken = process.registry.register("keeper")
  assert(not again and taken:find("already registered"), taken)
  local m = process.inbox():receive()
  return m:payload():data()
end }"#;
    let sender = r#"
local process = require("process")
return { main = function()
  local pid = process.registry.lookup("keeper")
  local ok, err = process.send("keeper", "note", "by name")
  return { ok = ok, same = pid ~= nil, missing = process.registry.lookup("nobody") == nil }
end }"#;
    let entries = lua("holder", holder) + &lua("sender", sender);
    let rt = runtime(&entries);
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:holder", HOST, vec![]).unwrap();
    // The holder registers before it waits; its lookup is what tells us it has.
    let deadline = std::time::Instant::now() + WAIT;
    while rt.lookup("keeper").is_none() {
        assert!(std::time::Instant::now() < deadline, "never registered");
        std::thread::yield_now();
    }
    assert_eq!(rt.lookup("keeper"), Some(pid.clone()));
    assert!(rt
        .register("keeper", &pid)
        .unwrap_err()
        .to_string()
        .contains("already registered"));
    let r = run_to_exit(&rt, "t:sender", vec![]);
    assert_eq!(
        r.value,
        Value::map([
            ("ok", Value::Bool(true)),
            ("same", Value::Bool(true)),
            ("missing", Value::Bool(true)),
        ])
    );
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.value, Value::String("by name".into()));
    assert_eq!(rt.lookup("keeper"), None, "released at exit");
    assert!(rt.send_to("keeper", "t", Value::Null).is_err());
}

#[test]
fn listen_takes_one_topic_and_the_inbox_keeps_the_rest_and_exec_returns_a_result() {
    let script = r#"
local process = require("process")
return { main = function()
  local me = process.pid()
  local jobs = process.listen("job")
  process.send(me, "other", 1)
  process.send(me, "job", 2)
  process.send(me, "other", 3)
  local first_job = jobs:receive() -- a listen channel gives payloads, as Wippy's
  local inbox = process.inbox()
  local a, b = inbox:receive():payload():data(), inbox:receive():payload():data()
  local value, err = process.exec("t:worker", "t:host", 6, 7)
  local none, failure = process.exec("t:div", "t:host", 0)
  return { job = first_job, a = a, b = b, value = value, failed = none == nil and failure ~= nil }
end }"#;
    let entries = guest("worker", "worker.wasm", "compute", "")
        + &guest("div", "misbehave.wasm", "div", "")
        + &lua("listener", script);
    let rt = runtime(&entries);
    let r = run_to_exit(&rt, "t:listener", vec![]);
    assert_eq!(r.error(), None);
    assert_eq!(
        r.value,
        Value::map([
            ("job", Value::Int(2)),
            ("a", Value::Int(1)),
            ("b", Value::Int(3)),
            ("value", Value::Int(42)),
            ("failed", Value::Bool(true)),
        ])
    );
}

#[test]
fn restarts_with_no_delay_run_until_max_attempts_on_the_real_clock() {
    for attempts in [1, 2, 50] {
        no_delay_restarts(attempts);
    }
}

fn no_delay_restarts(attempts: u32) {
    let entries = guest("div", "misbehave.wasm", "div", "")
        + &service(
            "svc",
            "div",
            &format!("      restart:\n        initial_delay: \"0\"\n        jitter: 0\n        max_attempts: {attempts}\n"),
        )
        .replace("lifecycle:\n", "input: [0]\n    lifecycle:\n");
    let rt = runtime(&entries);
    rt.start_service("t:svc").unwrap();
    let feed = rt.service_changes();
    let deadline = std::time::Instant::now() + WAIT;
    while rt.service("t:svc").map(|s| s.state) != Some(ServiceState::Failed) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            rt.service("t:svc")
        );
        let _ = feed.recv_timeout(Duration::from_millis(50));
    }
    assert_eq!(rt.service("t:svc").unwrap().restarts, attempts);
}
