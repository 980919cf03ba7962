//! Criterion benchmarks: every figure beside a baseline measured in the same run.
//! `cargo bench --bench runtime`; the table in BENCHMARKS.md comes from `benches/run.sh`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use futures_lite::future::block_on;
use wasmtime::{Config, Engine, Linker, Module, Store, Val};
use wippy_wasm::testing::{build_engine, EngineOptions};
use wippy_wasm::Mailbox;
use wippy_wasm::Value;

const HOST: &str = "b:host";
/// Processes per measured batch: spawns are pipelined, as a real spawner would.
const BATCH: u64 = 500;

/// Spawns `BATCH` processes through the public API and waits for every EXIT; returns the
/// time per process.
fn spawn_batches(rt: &wippy_wasm::Runtime, entry: &str, args: &[Value], iters: u64) -> Duration {
    let me = Mailbox::new();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        for _ in 0..n {
            rt.spawn_monitored(&me, entry, HOST, args.to_vec()).unwrap();
        }
        for _ in 0..n {
            let e = me.receive(Duration::from_secs(60)).unwrap();
            assert!(e.result.error().is_none(), "{:?}", e.result);
        }
        left -= n;
    }
    start.elapsed()
}

/// Spawns one process at a time and waits for its EXIT (for calls long enough that
/// pipelining would not change the figure).
fn spawn_each(rt: &wippy_wasm::Runtime, entry: &str, args: &[Value], iters: u64) -> Duration {
    let me = Mailbox::new();
    let start = Instant::now();
    for _ in 0..iters {
        rt.spawn_monitored(&me, entry, HOST, args.to_vec()).unwrap();
        me.receive(Duration::from_secs(60)).unwrap();
    }
    start.elapsed()
}

/// A store set up as our runtime sets up a process's: unlimited fuel, yielding every
/// default slice.
fn sliced_store(engine: &Engine) -> Store<()> {
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).unwrap();
    store
        .fuel_async_yield_interval(Some(wippy_wasm::DEFAULT_FUEL_SLICE))
        .unwrap();
    store
}

/// The engine our runtime builds, for the "bare wasmtime" baselines: same pooling, same
/// fuel, same settings; only our layers are missing.
fn our_engine() -> Engine {
    build_engine(
        &EngineOptions {
            max_instances: 2_000,
            cache_dir: None,
            ..EngineOptions::default()
        },
        wippy_wasm::Preemption::Fuel,
    )
    .unwrap()
}

fn spawn_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("1_spawn_exit_core");
    let engine = our_engine();
    let module = Module::from_file(&engine, guests().join("worker.wasm")).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    g.bench_function("bare_wasmtime_dynamic", |b| {
        b.iter(|| {
            block_on(async {
                let mut store = sliced_store(&engine);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let f = instance.get_func(&mut store, "compute").unwrap();
                let mut out = [Val::I32(0)];
                f.call_async(&mut store, &[Val::I32(6), Val::I32(7)], &mut out)
                    .await
                    .unwrap();
                out[0].unwrap_i32()
            })
        })
    });
    g.bench_function("bare_wasmtime_typed", |b| {
        b.iter(|| {
            block_on(async {
                let mut store = sliced_store(&engine);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let f = instance
                    .get_typed_func::<(i32, i32), i32>(&mut store, "compute")
                    .unwrap();
                f.call_async(&mut store, (6, 7)).await.unwrap()
            })
        })
    });
    g.bench_function("std_mpsc_round_trip_floor", |b| {
        b.iter_custom(mpsc_round_trips)
    });
    let fan_dir = tempfile::tempdir().unwrap();
    let entries = guest("worker", "worker.wasm", "compute", "") + &fan_entry(fan_dir.path());
    let (rt, _d, _c) = runtime(&entries, 1, |_| {});
    g.bench_function("wippy_spawn_monitored", |b| {
        b.iter_custom(|iters| {
            spawn_batches(&rt, "b:worker", &[Value::Int(6), Value::Int(7)], iters)
        })
    });
    g.bench_function("wippy_in_worker_from_a_wasm_parent", |b| {
        b.iter_custom(|iters| {
            let me = Mailbox::new();
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(1000);
                rt.spawn_monitored(&me, "b:fan", HOST, vec![Value::Int(n as i64)])
                    .unwrap();
                let exit = me.receive(Duration::from_secs(60)).unwrap();
                assert_eq!(exit.result.value, Value::Int(n as i64), "{:?}", exit.result);
                left -= n;
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn spawn_component(c: &mut Criterion) {
    use wasmtime::component::{Component, Linker as CLinker, Val as CVal};
    let mut g = c.benchmark_group("2_spawn_exit_component");
    let engine = our_engine();
    let component = Component::from_file(&engine, guests().join("component.wasm")).unwrap();
    let pre = CLinker::<()>::new(&engine)
        .instantiate_pre(&component)
        .unwrap();
    let export = component.get_export_index(None, "greet").unwrap();
    g.bench_function("bare_wasmtime", |b| {
        b.iter(|| {
            block_on(async {
                let mut store = sliced_store(&engine);
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let f = instance.get_func(&mut store, export).unwrap();
                let mut out = [CVal::Bool(false)];
                f.call_async(&mut store, &[CVal::String("x".into())], &mut out)
                    .await
                    .unwrap();
                out
            })
        })
    });
    let (rt, _d, _c) = runtime(&guest("greet", "component.wasm", "greet", ""), 1, |_| {});
    g.bench_function("wippy_spawn_monitored", |b| {
        b.iter_custom(|iters| spawn_batches(&rt, "b:greet", &[Value::String("x".into())], iters))
    });
    g.finish();
}

/// Store data for the preview-3 baseline: what wasmtime-wasi needs, nothing of ours.
struct BareWasi {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for BareWasi {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// A WASI 0.3 component (async `run`, no arguments: it returns at once) on the
/// concurrent engine our runtime gives such components, against the same engine in bare
/// wasmtime.
fn spawn_p3_component(c: &mut Criterion) {
    use wasmtime::component::{Component, Linker as CLinker, Val as CVal};
    let mut g = c.benchmark_group("2b_spawn_exit_p3_component");
    let engine = wippy_wasm::testing::build_concurrent_engine(
        &EngineOptions {
            max_instances: 2_000,
            cache_dir: None,
            ..EngineOptions::default()
        },
        wippy_wasm::Preemption::Fuel,
    )
    .unwrap();
    let component = Component::from_file(&engine, guests().join("p3_sleeper.wasm")).unwrap();
    let mut linker = CLinker::<BareWasi>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi::p3::add_to_linker(&mut linker).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    let run = component
        .get_export_index(None, "wasi:cli/run@0.3.0")
        .unwrap();
    let run = component.get_export_index(Some(&run), "run").unwrap();
    g.bench_function("bare_wasmtime", |b| {
        b.iter(|| {
            block_on(async {
                let data = BareWasi {
                    ctx: wasmtime_wasi::WasiCtx::builder().build(),
                    table: wasmtime::component::ResourceTable::new(),
                };
                let mut store = Store::new(&engine, data);
                store.set_fuel(u64::MAX).unwrap();
                store
                    .fuel_async_yield_interval(Some(wippy_wasm::DEFAULT_FUEL_SLICE))
                    .unwrap();
                let instance = pre.instantiate_async(&mut store).await.unwrap();
                let f = instance.get_func(&mut store, run).unwrap();
                let mut out = [CVal::Bool(false)];
                f.call_async(&mut store, &[], &mut out).await.unwrap();
                out
            })
        })
    });
    let entry = guest(
        "p3",
        "p3_sleeper.wasm",
        "wasi:cli/run#run",
        "    imports: [wasi:cli, wasi:clocks]\n",
    );
    // A concurrent pool of 1,000 slots: room for a batch of 500 with slots still draining.
    let (rt, _d, _c) = runtime(&entry, 1, |o| {
        o.max_instances(4_000);
    });
    g.bench_function("wippy_spawn_monitored", |b| {
        b.iter_custom(|iters| spawn_batches(&rt, "b:p3", &[], iters))
    });
    g.finish();
}

/// Two guests that each burn `BURN` iterations, yielding every slice: ours interleaves
/// them on one worker; the baseline runs the same calls back to back under `block_on`,
/// which re-polls at once after each yield.
fn step_switch(c: &mut Criterion) {
    const BURN: i64 = 20_000_000;
    let mut g = c.benchmark_group("3_step_switch");
    g.sample_size(10);
    let engine = our_engine();
    let module = Module::from_file(&engine, guests().join("misbehave.wasm")).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    g.bench_function("block_on_two_calls", |b| {
        b.iter(|| {
            for _ in 0..2 {
                block_on(async {
                    let mut store = sliced_store(&engine);
                    let instance = pre.instantiate_async(&mut store).await.unwrap();
                    let f = instance.get_func(&mut store, "burn").unwrap();
                    let mut out = [Val::I32(0)];
                    f.call_async(&mut store, &[Val::I32(BURN as i32)], &mut out)
                        .await
                        .unwrap();
                })
            }
        })
    });
    let (rt, _d, _c) = runtime(&guest("burn", "misbehave.wasm", "burn", ""), 1, |_| {});
    g.bench_function("wippy_two_processes_one_worker", |b| {
        b.iter_custom(|iters| {
            let me = Mailbox::new();
            let start = Instant::now();
            for _ in 0..iters {
                for _ in 0..2 {
                    rt.spawn_monitored(&me, "b:burn", HOST, vec![Value::Int(BURN)])
                        .unwrap();
                }
                me.receive(Duration::from_secs(60)).unwrap();
                me.receive(Duration::from_secs(60)).unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

/// Compute kernels (C, wasi-libc) at the default fuel slice, against plain wasmtime
/// with no fuel at all.
/// Instantiates a kernels module in `store` (set up by the caller), runs its
/// `_initialize`, then `name(n)`, synchronously: the plain-wasmtime baselines.
fn call_kernel(mut store: Store<()>, module: &Module, name: &str, n: i64) -> i32 {
    let instance = wasmtime::Instance::new(&mut store, module, &[]).unwrap();
    let init = instance
        .get_typed_func::<(), ()>(&mut store, "_initialize")
        .unwrap();
    init.call(&mut store, ()).unwrap();
    let f = instance
        .get_typed_func::<i32, i32>(&mut store, name)
        .unwrap();
    f.call(&mut store, n as i32).unwrap()
}

fn fuel_overhead(c: &mut Criterion) {
    let kernels: [(&str, i64); 4] = [
        ("sieve", 2_000_000),
        ("matmul", 120),
        ("fnv", 10_000_000),
        ("fib", 27),
    ];
    let plain = Engine::new(&Config::new()).unwrap();
    let module = Module::from_file(&plain, guests().join("kernels.wasm")).unwrap();
    // The same, metered: how much of the overhead is fuel itself.
    let metered = Engine::new(Config::new().consume_fuel(true)).unwrap();
    let metered_module = Module::from_file(&metered, guests().join("kernels.wasm")).unwrap();
    // The same with epoch checks (the deadline never reached): what epoch costs alone.
    let checked = Engine::new(Config::new().epoch_interruption(true)).unwrap();
    let checked_module = Module::from_file(&checked, guests().join("kernels.wasm")).unwrap();
    // Our engine (pooling, fuel, yields every 100k) driven by `block_on`: the engine's
    // share of the overhead, without our scheduler or the cross-thread round trip.
    let ours = our_engine();
    let ours_module = Module::from_file(&ours, guests().join("kernels.wasm")).unwrap();
    let ours_pre = Linker::<()>::new(&ours)
        .instantiate_pre(&ours_module)
        .unwrap();
    let mut entries = String::new();
    for (name, _) in kernels {
        entries += &guest(name, "kernels.wasm", name, "");
    }
    let (rt, _d, _c) = runtime(&entries, 1, |_| {});
    // The same host with epoch preemption: no metering, a Step ends at a 1 ms tick.
    let (epoch_rt, _ed, _ec) = runtime(&entries, 1, |o| {
        o.preemption(wippy_wasm::Preemption::Epoch);
    });
    for (name, n) in kernels {
        let mut g = c.benchmark_group(format!("4_fuel_overhead_{name}"));
        g.sample_size(10);
        g.bench_function("plain_wasmtime_no_fuel", |b| {
            b.iter(|| call_kernel(Store::new(&plain, ()), &module, name, n))
        });
        g.bench_function("plain_wasmtime_fuel_no_yield", |b| {
            b.iter(|| {
                let mut store = Store::new(&metered, ());
                store.set_fuel(u64::MAX).unwrap();
                call_kernel(store, &metered_module, name, n)
            })
        });
        g.bench_function("plain_wasmtime_epoch_checks_no_yield", |b| {
            b.iter(|| {
                let mut store = Store::new(&checked, ());
                store.set_epoch_deadline(u64::MAX);
                call_kernel(store, &checked_module, name, n)
            })
        });
        g.bench_function("our_engine_block_on", |b| {
            b.iter(|| {
                block_on(async {
                    let mut store = sliced_store(&ours);
                    let instance = ours_pre.instantiate_async(&mut store).await.unwrap();
                    let init = instance.get_func(&mut store, "_initialize").unwrap();
                    init.call_async(&mut store, &[], &mut []).await.unwrap();
                    let f = instance.get_func(&mut store, name).unwrap();
                    let mut out = [Val::I32(0)];
                    f.call_async(&mut store, &[Val::I32(n as i32)], &mut out)
                        .await
                        .unwrap();
                    out[0].unwrap_i32()
                })
            })
        });
        let entry = format!("b:{name}");
        g.bench_function("wippy_default_slice", |b| {
            b.iter_custom(|iters| spawn_each(&rt, &entry, &[Value::Int(n)], iters))
        });
        g.bench_function("wippy_epoch_host", |b| {
            b.iter_custom(|iters| spawn_each(&epoch_rt, &entry, &[Value::Int(n)], iters))
        });
        g.finish();
    }
}

/// The slice size trade-off: overhead on a kernel at several slices (latency is the
/// slice's duration, which the lateness bench measures).
fn slice_sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("4b_slice_sweep_sieve");
    g.sample_size(10);
    for slice in [10_000u64, 100_000, 1_000_000, 10_000_000] {
        let (rt, _d, _c) = runtime(&guest("sieve", "kernels.wasm", "sieve", ""), 1, |o| {
            o.fuel_slice(slice);
        });
        g.bench_function(format!("slice_{slice}"), |b| {
            b.iter_custom(|iters| spawn_each(&rt, "b:sieve", &[Value::Int(2_000_000)], iters))
        });
    }
    g.finish();
}

/// Spawn throughput of a trivial process with one worker, then two.
fn workers(c: &mut Criterion) {
    let mut g = c.benchmark_group("8_spawn_throughput_workers");
    let fan_dir = tempfile::tempdir().unwrap();
    let entries = guest("worker", "worker.wasm", "compute", "") + &fan_entry(fan_dir.path());
    for workers in [1, 2] {
        let (rt, _d, _c) = runtime(&entries, workers, |_| {});
        g.bench_function(format!("workers_{workers}"), |b| {
            b.iter_custom(|iters| {
                spawn_batches(&rt, "b:worker", &[Value::Int(6), Value::Int(7)], iters)
            })
        });
    }
    // Spawns issued from processes, one fan-out parent per worker, each spawning and
    // gathering its children on the host: no single spawner thread.
    let scale: Vec<usize> = std::env::var("WIPPY_BENCH_WORKERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2]);
    for &workers in &scale {
        let (rt, _d, _c) = runtime(&entries, workers, |_| {});
        g.bench_function(format!("in_workers_{workers}"), |b| {
            b.iter_custom(|iters| fan_out_from(&rt, workers as u64, iters))
        });
    }
    // The engine's own scaling, the ceiling of ours: bare wasmtime instantiate + call +
    // drop on N threads at once, one shared engine and `InstancePre`; then one engine (so
    // a pool and a type registry) per thread, each with a small pool so that many fit in
    // the address space.
    let shared = bare_worker(2_000);
    for &threads in &scale {
        let pres = vec![&shared.1; threads];
        g.bench_function(format!("bare_wasmtime_threads_{threads}"), |b| {
            b.iter_custom(|iters| bare_on_threads(&pres, iters))
        });
    }
    for &threads in &scale {
        let own: Vec<_> = (0..threads).map(|_| bare_worker(64)).collect();
        let pres: Vec<_> = own.iter().map(|(_, pre)| pre).collect();
        g.bench_function(format!("bare_wasmtime_engine_per_thread_{threads}"), |b| {
            b.iter_custom(|iters| bare_on_threads(&pres, iters))
        });
    }
    g.finish();
}

/// Our engine with `slots` pool slots, and `worker.wasm` pre-linked on it.
fn bare_worker(slots: u32) -> (Engine, wasmtime::InstancePre<()>) {
    let engine = build_engine(
        &EngineOptions {
            max_instances: slots,
            cache_dir: None,
            ..EngineOptions::default()
        },
        wippy_wasm::Preemption::Fuel,
    )
    .unwrap();
    let module = Module::from_file(&engine, guests().join("worker.wasm")).unwrap();
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module).unwrap();
    (engine, pre)
}

/// `iters` instantiate + `compute(6, 7)` + drop, spread over one thread per `pres`;
/// returns the time for all of them.
fn bare_on_threads(pres: &[&wasmtime::InstancePre<()>], iters: u64) -> Duration {
    let each = iters.div_ceil(pres.len() as u64);
    let start = Instant::now();
    std::thread::scope(|s| {
        for pre in pres {
            s.spawn(move || {
                for _ in 0..each {
                    block_on(async {
                        let mut store = sliced_store(pre.module().engine());
                        let instance = pre.instantiate_async(&mut store).await.unwrap();
                        let f = instance
                            .get_typed_func::<(i32, i32), i32>(&mut store, "compute")
                            .unwrap();
                        f.call_async(&mut store, (6, 7)).await.unwrap()
                    });
                }
            });
        }
    });
    start.elapsed() * iters as u32 / (each * pres.len() as u64) as u32
}

/// The `b:fan` entry (the `FAN` module, written into `dir`).
fn fan_entry(dir: &std::path::Path) -> String {
    let fan = wat::parse_str(FAN).unwrap();
    std::fs::write(dir.join("fan.wasm"), &fan).unwrap();
    format!(
        "  - name: gen\n    kind: fs.directory\n    directory: {}\n  - name: fan\n    kind: process.wasm\n    fs: b:gen\n    path: fan.wasm\n    hash: sha256:{}\n    method: fan\n    imports: [wippy:actor]\n",
        dir.display(),
        wippy_wasm::testing::to_hex(&wippy_wasm::testing::sha256(&fan))
    )
}

/// `iters` spawn → EXITs issued by `parents` fan-out processes at once (at most 1,000
/// children each per round); returns the time for all of them.
fn fan_out_from(rt: &wippy_wasm::Runtime, parents: u64, iters: u64) -> Duration {
    let me = Mailbox::new();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let round = left.min(1000 * parents);
        let each = round.div_ceil(parents);
        let mut spawned = 0;
        let mut fans = 0;
        while spawned < round {
            let n = each.min(round - spawned);
            rt.spawn_monitored(&me, "b:fan", HOST, vec![Value::Int(n as i64)])
                .unwrap();
            spawned += n;
            fans += 1;
        }
        for _ in 0..fans {
            let exit = me.receive(Duration::from_secs(60)).unwrap();
            assert!(exit.result.is_ok(), "{:?}", exit.result);
        }
        left -= round;
    }
    start.elapsed()
}

/// `iters` round trips between the C `ping` and `pong` actors on `rt`; the two spawns
/// and the introduction are inside the timing, which `iters` in the thousands amortizes.
fn ping_pong(rt: &wippy_wasm::Runtime, iters: u64) -> Duration {
    let me = Mailbox::new();
    let start = Instant::now();
    let pong = rt.spawn_monitored(&me, "b:pong", HOST, vec![]).unwrap();
    let ping = rt
        .spawn_monitored(&me, "b:ping", HOST, vec![Value::Int(iters as i64)])
        .unwrap();
    rt.send(&ping, "peer", Value::String(pong.to_string()))
        .unwrap();
    for _ in 0..2 {
        let e = me.receive(Duration::from_secs(600)).unwrap();
        assert_eq!(e.result.value, Value::Int(iters as i64), "{:?}", e.result);
    }
    start.elapsed()
}

/// `iters` round trips between two threads over two `std::sync::mpsc` channels: the
/// floor of anything that hands work to another thread and waits for the answer.
fn mpsc_round_trips(iters: u64) -> Duration {
    let (to_pong, pong_in) = std::sync::mpsc::channel::<u64>();
    let (to_ping, ping_in) = std::sync::mpsc::channel::<u64>();
    let pong = std::thread::spawn(move || {
        while let Ok(n) = pong_in.recv() {
            if to_ping.send(n).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..iters {
        to_pong.send(i).unwrap();
        assert_eq!(ping_in.recv().unwrap(), i);
    }
    let elapsed = start.elapsed();
    drop(to_pong);
    pong.join().unwrap();
    elapsed
}

/// A wasm parent that spawns `n` `b:worker` children (`compute(6, 7)`) monitored on its
/// own host and waits for their `n` EXITs: spawns from inside a process, no thread hop.
const FAN: &str = r#"(module
  (import "wippy_actor" "spawn" (func $spawn (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wippy_actor" "receive" (func $receive (param i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "b:worker")
  (data (i32.const 16) "b:host")
  (data (i32.const 32) "[6,7]")
  (func (export "fan") (param $n i64) (result i64) (local $i i64)
    (block $spawned (loop $spawn
      (br_if $spawned (i64.ge_u (local.get $i) (local.get $n)))
      (if (i32.lt_s (call $spawn (i32.const 0) (i32.const 8) (i32.const 16) (i32.const 6)
                               (i32.const 32) (i32.const 5) (i32.const 1) (i32.const 64) (i32.const 1024))
                    (i32.const 0))
        (then (return (i64.const -1))))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $spawn)))
    (local.set $i (i64.const 0))
    (block $gathered (loop $wait
      (br_if $gathered (i64.ge_u (local.get $i) (local.get $n)))
      (drop (call $receive (i64.const -1)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $wait)))
    (local.get $n)))"#;

fn message_round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("9_message_round_trip");
    g.bench_function("std_mpsc_two_threads", |b| b.iter_custom(mpsc_round_trips));
    let actors = guest(
        "pong",
        "actors.wasm",
        "pong",
        "    imports: [wippy:actor]\n",
    ) + &guest(
        "ping",
        "actors.wasm",
        "ping",
        "    imports: [wippy:actor]\n",
    );
    for workers in [1, 2] {
        let (rt, _d, _c) = runtime(&actors, workers, |_| {});
        g.bench_function(format!("wippy_wasm_actors_workers_{workers}"), |b| {
            b.iter_custom(|iters| {
                ping_pong(&rt, iters.max(1000)) * iters as u32 / iters.max(1000) as u32
            })
        });
    }
    g.finish();
}

/// A supervised restart (the failed process's EXIT, the supervisor's decision with a zero
/// delay, the respawn, the new process failing) beside a plain spawn of the same failing
/// process and its EXIT.
fn supervised_restart(c: &mut Criterion) {
    let mut g = c.benchmark_group("10_supervised_restart");
    let div = guest("div", "misbehave.wasm", "div", "");
    let (rt, _d, _c) = runtime(&div, 1, |_| {});
    g.bench_function("spawn_failing_process", |b| {
        b.iter_custom(|iters| spawn_each(&rt, "b:div", &[Value::Int(0)], iters))
    });
    g.bench_function("wippy_restart", |b| {
        b.iter_custom(|iters| {
            let service = format!(
                "  - name: svc\n    kind: process.service\n    process: div\n    host: host\n    input: [0]\n    lifecycle:\n      restart:\n        initial_delay: \"0\"\n        jitter: 0\n        max_attempts: {iters}\n"
            );
            let (rt, _d, _c) = runtime(&(div.clone() + &service), 1, |_| {});
            let start = Instant::now();
            rt.start_service("b:svc").unwrap();
            let feed = rt.service_changes();
            while rt.service("b:svc").map(|s| s.state) != Some(wippy_wasm::ServiceState::Failed) {
                let _ = feed.recv_timeout(Duration::from_millis(50));
            }
            start.elapsed()
        })
    });
    g.finish();
}

/// A Lua process that returns at once: ours (a state with the sandbox, the modules, the
/// driver and the hook, spawned on a worker) against bare mlua in the same run (a state
/// with the same standard libraries, the same script loaded and called, dropped).
fn lua_spawn(c: &mut Criterion) {
    const SCRIPT: &str = "return { main = function() return 1 end }";
    let mut g = c.benchmark_group("11_lua_spawn_exit");
    g.bench_function("bare_mlua_state_load_call", |b| {
        b.iter(|| {
            use mlua::{Lua, LuaOptions};
            let lua =
                Lua::new_with(wippy_wasm::testing::lua_std_libs(), LuaOptions::new()).unwrap();
            let module: mlua::Table = lua.load(SCRIPT).eval().unwrap();
            let main: mlua::Function = module.get("main").unwrap();
            assert_eq!(main.call::<i64>(()).unwrap(), 1);
        })
    });
    let entry = format!("  - name: child\n    kind: process.lua\n    source: \"{SCRIPT}\"\n");
    let (rt, _d, _c) = runtime(&entry, 1, |_| {});
    g.bench_function("wippy_lua_process_1_worker", |b| {
        b.iter_custom(|iters| spawn_batches(&rt, "b:child", &[], iters))
    });
    g.finish();
}

criterion_group!(
    benches,
    lua_spawn,
    message_round_trip,
    supervised_restart,
    spawn_core,
    spawn_component,
    spawn_p3_component,
    step_switch,
    fuel_overhead,
    slice_sweep,
    workers
);
criterion_main!(benches);
