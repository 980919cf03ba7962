//! Timer lateness: sleepers on a worker that also runs compute-bound guests. Each sleeper
//! reports how long it really slept (the guest reads the monotonic clock around its
//! WASI sleep); lateness is that minus what it asked for. `cargo bench --bench lateness`.

mod common;

use std::time::Duration;

use common::*;
use wippy_wasm::Mailbox;
use wippy_wasm::Value;

const HOST: &str = "b:host";

fn main() {
    let entries = guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n")
        + &guest("spin", "misbehave.wasm", "spin", "");
    let (rt, _d, _c) = runtime(&entries, 1, |_| {});
    let spinners: Vec<_> = (0..2)
        .map(|_| rt.spawn("b:spin", HOST, vec![]).unwrap())
        .collect();
    let me = Mailbox::new();
    let mut late_us = Vec::new();
    for round in 0..5 {
        let mut asked = std::collections::HashMap::new();
        for i in 0..200u64 {
            let ms = 1 + (i * 7 + round) % 50;
            let pid = rt
                .spawn_monitored(&me, "b:sleeper", HOST, vec![Value::Int(ms as i64)])
                .unwrap();
            asked.insert(pid, ms);
        }
        for _ in 0..200 {
            let e = me.receive(Duration::from_secs(60)).unwrap();
            let Value::Int(ns) = e.result.value else {
                panic!("{:?}", e.result)
            };
            let wanted = asked[&e.from] * 1_000_000;
            late_us.push((ns as u64).saturating_sub(wanted) as f64 / 1000.0);
        }
    }
    late_us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| late_us[((late_us.len() - 1) as f64 * p) as usize];
    let slice_us = spinners
        .iter()
        .map(|p| {
            let s = rt.stats(p).unwrap();
            let cpu = s.snapshot().cpu.as_nanos() as f64;
            let steps = s.steps().max(1) as f64;
            cpu / steps / 1000.0
        })
        .sum::<f64>()
        / spinners.len() as f64;
    println!(
        "lateness of {} sleeps beside 2 spinners on one worker: p50 {:.0} us, p99 {:.0} us, max {:.0} us; one spinner slice (100k fuel) takes {:.0} us",
        late_us.len(),
        pct(0.5),
        pct(0.99),
        late_us[late_us.len() - 1],
        slice_us
    );
    for p in &spinners {
        rt.terminate(p);
    }
}
