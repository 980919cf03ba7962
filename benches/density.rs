//! Density: how much memory a parked process costs, and how fast a host fills up.
//! Spawns 10k, then 100k, sleepers (each parked in a WASI sleep) on one worker and reads
//! the resident set size before and after. `cargo bench --bench density`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use wippy_wasm::Mailbox;
use wippy_wasm::Value;

/// A one-worker host whose process cap is raised to the size being measured.
const HOST: &str = "b:dense";

fn fill(n: usize) {
    let dense = format!(
        "  - name: dense\n    kind: process.host\n    host:\n      workers: 1\n      max_processes: {n}\n"
    );
    let made = try_runtime(
        &(guest("sleeper", "sleeper.wasm", "nap", "    imports: [wasi1]\n") + &dense),
        1,
        |o| {
            // A sleeper needs a few pages; a small reservation keeps n slots in the
            // address space (the default 4 GiB each would need n × 4 GiB).
            o.max_instances(n as u32 + 16)
                .max_memory_bytes(1 << 20)
                .max_wasm_stack(256 << 10);
        },
    );
    let (rt, _d, _c) = match made {
        Ok(made) => made,
        Err(e) => {
            let maps = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap_or_default();
            println!(
                "density n={n}: cannot create a pool of {n} slots: {e} (vm.max_map_count = {}; each slot's stack guard page is a mapping)",
                maps.trim()
            );
            return;
        }
    };
    let me = Mailbox::new();
    let before = rss_bytes();
    let maps_before = mappings();
    let start = Instant::now();
    let mut last = None;
    for _ in 0..n {
        last = Some(
            rt.spawn_monitored(&me, "b:sleeper", HOST, vec![Value::Int(3_600_000)])
                .unwrap(),
        );
    }
    let spawned = start.elapsed();
    // One worker, FIFO: when the last process has taken its first Step, all have parked
    // (or failed, which the mailbox tells).
    let last = last.unwrap();
    loop {
        let stepped = rt.stats(&last).is_none_or(|s| s.steps() > 0);
        if stepped {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let filled = start.elapsed();
    let after = rss_bytes();
    let maps_after = mappings();
    let mut failed = 0;
    let mut first_error = None;
    while let Some(e) = me.receive(Duration::ZERO) {
        failed += 1;
        first_error.get_or_insert(e.result.error().unwrap_or_default());
    }
    let parked = rt.live(HOST);
    println!(
        "density n={n}: parked {parked}, failed {failed}; RSS {:.1} MiB -> {:.1} MiB, {:.1} KiB per parked process; spawn calls {:.0}/s, all parked after {:.2} s ({:.0} processes/s)",
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        (after.saturating_sub(before)) as f64 / 1024.0 / parked.max(1) as f64,
        n as f64 / spawned.as_secs_f64(),
        filled.as_secs_f64(),
        n as f64 / filled.as_secs_f64(),
    );
    println!(
        "  memory mappings {maps_before} -> {maps_after}: {:.1} per parked process (vm.max_map_count caps the total)",
        maps_after.saturating_sub(maps_before) as f64 / parked.max(1) as f64
    );
    if let Some(e) = first_error {
        println!("  first failure: {e}");
    }
    let stop = Instant::now();
    rt.shutdown();
    println!(
        "  shutdown of {parked} parked processes: {:.2} s",
        stop.elapsed().as_secs_f64()
    );
}

/// This process's memory mappings (lines of `/proc/self/maps`).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects sizes ("10000").
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    for n in sizes {
        fill(n);
    }
}
