//! Caps and deadlines: a full host, a full mailbox and a stuck process each fail with a
//! clear error at the caller, and nothing hangs.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::Mailbox;
use wippy_wasm::Value;
use wippy_wasm::{Runtime, SendError, SpawnError};

const WAIT: Duration = Duration::from_secs(60);

fn sleeper() -> String {
    guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n")
}

/// A Lua process that waits for one message for up to an hour and returns its payload.
fn waiter() -> String {
    "  - name: waiter\n    kind: process.lua\n    source: |\n      local process = require(\"process\")\n      return { main = function()\n        local m = process.inbox():receive(time.seconds(3600))\n        return m and m:payload():data()\n      end }\n".to_owned()
}

/// A project whose host is `host_fields` (YAML under `host:`), and a runtime on it.
fn with_host(host_fields: &str, entries: &str) -> (Runtime, tempfile::TempDir, tempfile::TempDir) {
    let index = index_with(&format!(
        "  - name: host\n    kind: process.host\n    host:\n      workers: 1\n{host_fields}{entries}"
    ));
    let project = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let rt = options(&cache, 32)
        .load(project.path())
        .unwrap_or_else(|e| panic!("{e}"));
    (rt, project, cache)
}

#[test]
fn max_processes_refuses_the_sixth_spawn_naming_the_host_and_the_cap() {
    let (rt, _p, _c) = with_host("      max_processes: 5\n", &sleeper());
    let me = Mailbox::new();
    let pids: Vec<_> = (0..5)
        .map(|_| {
            rt.spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(3_600_000)])
                .unwrap()
        })
        .collect();
    let refused = rt
        .spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(1)])
        .unwrap_err();
    assert!(matches!(refused, SpawnError::HostFull(_)));
    assert_eq!(
        refused.to_string(),
        "process host t:host is full: it runs 5 processes, its limit (host.max_processes)"
    );
    // A slot frees when a process ends.
    rt.terminate(&pids[0]);
    me.receive(WAIT).unwrap();
    rt.spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(1)])
        .unwrap();
}

#[test]
fn a_cap_of_zero_is_a_load_error() {
    let index = index_with(
        "  - name: host\n    kind: process.host\n    host:\n      max_processes: 0\n      mailbox_size: 0\n",
    );
    let project = project(&[("_index.yaml", &index)]);
    let cache = tempfile::tempdir().unwrap();
    let error = options(&cache, 8)
        .load(project.path())
        .err()
        .expect("refused")
        .to_string();
    assert!(
        error.contains("host.max_processes must be at least 1"),
        "{error}"
    );
    assert!(
        error.contains("host.mailbox_size must be at least 1"),
        "{error}"
    );
}

#[test]
fn a_send_to_a_full_mailbox_fails_at_the_sender_and_nothing_is_dropped() {
    let (rt, _p, _c) = with_host("      mailbox_size: 3\n", &waiter());
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:waiter", HOST, vec![]).unwrap();
    // The waiter takes one message and ends; until it runs, the mailbox fills up.
    let mut sent = 0;
    let refused = loop {
        match rt.send(&pid, "t", Value::Int(sent)) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 1000, "the mailbox is bounded");
    };
    assert!(matches!(
        refused,
        SendError::MailboxFull { capacity: 3, .. }
    ));
    assert!(
        refused
            .to_string()
            .ends_with("is full: 3 messages are waiting to be read (host.mailbox_size)"),
        "{refused}"
    );
    // The first message is the one the waiter got: none was silently dropped.
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.value, Value::Int(0));
}

#[test]
fn a_receive_without_a_deadline_does_not_overflow() {
    let (rt, _p, _c) = with_host("", &sleeper());
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:sleeper", HOST, vec![Value::Int(1)])
        .unwrap();
    // On another thread, so a regression fails the test after a minute instead of
    // hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(me.receive(Duration::MAX));
    });
    let exit = rx
        .recv_timeout(WAIT)
        .expect("the receive returns")
        .expect("the EXIT arrives");
    assert_eq!(exit.result.error(), None);
}

#[test]
fn an_async_receive_off_any_executor_times_out_on_the_real_clock() {
    let me = Mailbox::new();
    let got = futures_lite::future::block_on(me.next_event(Some(Duration::from_millis(10))));
    assert!(got.is_none());
}
