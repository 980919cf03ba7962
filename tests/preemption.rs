//! `host.preemption: epoch` (issue 16): busy guests on an epoch host are preempted by a
//! clock tick instead of fuel, the same entries run on fuel and epoch hosts side by side,
//! and what only fuel can do (`limits.fuel`) is refused on an epoch host, not ignored.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::{Mailbox, Value};

const EPOCH: &str = "t:epoch";

fn with_epoch_host(entries: &str) -> TestRuntime {
    runtime(&format!(
        "  - name: epoch\n    kind: process.host\n    host:\n      workers: 1\n      preemption: epoch\n{entries}"
    ))
}

fn misbehave(name: &str, method: &str, extra: &str) -> String {
    guest(name, "misbehave.wasm", method, extra)
}

#[test]
fn a_spinner_on_an_epoch_host_is_preempted_and_terminable() {
    let rt = with_epoch_host(&(misbehave("spin", "spin", "") + &misbehave("burn", "burn", "")));
    let spinner = rt.spawn("t:spin", EPOCH, vec![]).unwrap();
    // It yields at clock ticks: its Steps add up while it runs.
    wait_for_steps(&rt, &spinner, 3);
    // Another process on the same single worker still runs to its end beside it.
    let me = Mailbox::new();
    rt.spawn_monitored(&me, "t:burn", EPOCH, vec![Value::Int(5_000_000)])
        .unwrap();
    let exit = me.receive(Duration::from_secs(60)).unwrap();
    assert_eq!(exit.result.value, Value::Int(5_000_000));
    let watch = Mailbox::new();
    assert!(rt.monitor(&watch, &spinner));
    assert!(rt.terminate(&spinner));
    let end = watch.receive(Duration::from_secs(60)).unwrap();
    assert_eq!(end.result.error().as_deref(), Some("process terminated"));
}

#[test]
fn one_entry_runs_on_fuel_and_epoch_hosts_and_fuel_quotas_need_fuel() {
    let rt = with_epoch_host(
        &(misbehave("burn", "burn", "")
            + &misbehave("quota", "spin", "    limits:\n      fuel: 1000000\n")),
    );
    let on = |host: &str, entry: &str, args: Vec<Value>| {
        let me = Mailbox::new();
        rt.spawn_monitored(&me, entry, host, args).unwrap();
        me.receive(Duration::from_secs(60)).unwrap().result
    };
    assert_eq!(
        on(HOST, "t:burn", vec![Value::Int(1000)]).value,
        Value::Int(1000)
    );
    assert_eq!(
        on(EPOCH, "t:burn", vec![Value::Int(1000)]).value,
        Value::Int(1000)
    );
    let fuel = on(HOST, "t:quota", vec![]);
    assert!(
        fuel.error().unwrap_or_default().contains("fuel"),
        "{fuel:?}"
    );
    let refused = on(EPOCH, "t:quota", vec![]);
    assert_eq!(
        refused.error().as_deref(),
        Some("limits.fuel needs a host with host.preemption: fuel (an epoch host does not count fuel)")
    );
}

#[test]
fn an_unknown_preemption_is_a_load_error_naming_the_field() {
    let err = load_error(&index_with(
        "  - name: h\n    kind: process.host\n    host:\n      preemption: interrupts\n",
    ));
    assert!(
        err.contains("host.preemption")
            && err.contains("must be fuel or epoch, not \"interrupts\""),
        "{err}"
    );
}
