//! One process: a task that owns its `Store` and drives one call.
//!
//! - **Init**: instantiate from the pre-linked entry in a pooled slot; convert arguments.
//! - **Step**: every poll of the call future is one Step, bounded by the fuel slice: a
//!   compute-bound guest yields when its slice is used, a guest blocked in a host call
//!   parks until its event is ready.
//! - **Close**: dropping the task's future drops the `Store`, which releases the
//!   instance, its memory, stack and WASI handles, on every path.
//!
//! Termination and the execution deadline race the call: whichever is ready first wins,
//! and they are checked before each Step, so both take effect within one slice.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::event::ExitResult;
use super::prepared::{Pre, Prepared};
use super::state::{MemoryLimiter, ProcessState, Wasi};
use super::wasi::build_wasi;
use crate::executor;
use crate::value::{self, Value};

/// Counters readable while the process runs, and reported when it ends.
#[derive(Debug, Default)]
pub struct ProcessStats {
    pub steps: AtomicU64,
    pub fuel_used: AtomicU64,
    pub peak_memory: AtomicU64,
    pub cpu_nanos: AtomicU64,
}

/// Cross-thread request to stop: set the flag, wake the task.
#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl KillSwitch {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// Settings a host applies to every process it runs.
#[derive(Clone, Copy, Debug)]
pub struct RunSettings {
    pub fuel_slice: u64,
    pub inherit_stdio: bool,
}

/// Runs one process to its end and returns how it ended. Never panics on guest input.
pub async fn run(
    prepared: Arc<Prepared>,
    env: Arc<super::wasi::EnvSource>,
    args: Vec<Value>,
    kill: Arc<KillSwitch>,
    stats: Arc<ProcessStats>,
    settings: RunSettings,
) -> ExitResult {
    let limits = &prepared.config.limits;
    let deadline = limits
        .max_execution_ms
        .map(|ms| executor::now() + Duration::from_millis(ms.max(0) as u64));
    let call = Box::pin(init_and_call(
        prepared.clone(),
        env,
        args,
        stats.clone(),
        settings,
    ));
    Race {
        call,
        kill,
        deadline: deadline.map(executor::sleep_until),
        stats,
    }
    .await
}

async fn init_and_call(
    prepared: Arc<Prepared>,
    env: Arc<super::wasi::EnvSource>,
    args: Vec<Value>,
    stats: Arc<ProcessStats>,
    settings: RunSettings,
) -> ExitResult {
    let method = &prepared.config.method;
    let fail = |cause: String| {
        ExitResult::failed(format!("failed to call wasm method: {method}: {cause}"))
    };
    let wasi = if prepared.wasi {
        match build_wasi(
            &prepared,
            &env,
            matches!(prepared.pre, Pre::Component { .. }),
            settings.inherit_stdio,
        ) {
            Ok(w) => w,
            Err(e) => return ExitResult::failed(e),
        }
    } else {
        Wasi::None
    };
    let limits = &prepared.config.limits;
    let state = ProcessState {
        wasi,
        memory: MemoryLimiter {
            limit: limits
                .memory_bytes
                .map(|b| b as usize)
                .unwrap_or(DEFAULT_MEMORY_LIMIT),
            peak: 0,
        },
    };
    let engine = match &prepared.pre {
        Pre::Core { pre, .. } => pre.module().engine().clone(),
        Pre::Component { pre, .. } => pre.component().engine().clone(),
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.memory);
    let budget = limits.fuel.unwrap_or(u64::MAX);
    if let Err(e) = store
        .set_fuel(budget)
        .and_then(|_| store.fuel_async_yield_interval(Some(settings.fuel_slice)))
    {
        return ExitResult::failed(format!("cannot configure the process: {e}"));
    }

    let result = match &prepared.pre {
        Pre::Core { pre, reactor } => {
            let instance = match pre.instantiate_async(&mut store).await {
                Ok(i) => i,
                Err(e) => return ExitResult::failed(describe("failed to instantiate", &e)),
            };
            if *reactor {
                if let Some(init) = instance.get_func(&mut store, "_initialize") {
                    if let Err(e) = init.call_async(&mut store, &[], &mut []).await {
                        return fail(describe_trap(&e, budget));
                    }
                }
            }
            let func = instance
                .get_func(&mut store, method)
                .expect("checked at load: the method is an exported function");
            let ty = func.ty(&store);
            let params = match value::to_core_params(&args, &ty.params().collect::<Vec<_>>()) {
                Ok(p) => p,
                Err(e) => return ExitResult::failed(e),
            };
            let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
            match func.call_async(&mut store, &params, &mut results).await {
                Ok(()) => ExitResult::ok(value::from_core_results(&results)),
                Err(e) => fail(describe_trap(&e, budget)),
            }
        }
        Pre::Component { pre, export } => {
            let instance = match pre.instantiate_async(&mut store).await {
                Ok(i) => i,
                Err(e) => return ExitResult::failed(describe("failed to instantiate", &e)),
            };
            let func = instance
                .get_func(&mut store, export)
                .expect("checked at load: the method is an exported function");
            let ty = func.ty(&store);
            let params = match value::to_component_params(&args, ty.params()) {
                Ok(p) => p,
                Err(e) => return ExitResult::failed(e),
            };
            let mut results = vec![wasmtime::component::Val::Bool(false); ty.results().len()];
            match func.call_async(&mut store, &params, &mut results).await {
                Ok(()) => ExitResult::ok(value::from_component_results(&results)),
                Err(e) => fail(describe_trap(&e, budget)),
            }
        }
    };
    stats.fuel_used.store(
        budget.saturating_sub(store.get_fuel().unwrap_or(budget)),
        Ordering::Relaxed,
    );
    stats
        .peak_memory
        .store(store.data().memory.peak as u64, Ordering::Relaxed);
    result
}

/// When `limits.memory_bytes` is not set: enough for real programs, small enough that one
/// runaway guest cannot take the host's memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

fn describe(what: &str, e: &wasmtime::Error) -> String {
    format!("{what}: {e:#}")
}

/// A trap's cause in one line: wasmtime's Display of a trap is a whole backtrace.
fn describe_trap(e: &wasmtime::Error, budget: u64) -> String {
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return format!("exit code {}", exit.0);
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::OutOfFuel => {
                format!("fuel limit exceeded: the process used its {budget} fuel (limits.fuel)")
            }
            wasmtime::Trap::StackOverflow => "stack overflow".to_owned(),
            other => format!("wasm trap: {other}"),
        };
    }
    // Errors raised by our own limiter (memory) come through as the root cause.
    format!("{}", e.root_cause())
}

/// The call, raced against termination and the deadline.
struct Race {
    call: Pin<Box<dyn Future<Output = ExitResult>>>,
    kill: Arc<KillSwitch>,
    deadline: Option<executor::Sleep>,
    stats: Arc<ProcessStats>,
}

impl Future for Race {
    type Output = ExitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitResult> {
        *self.kill.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.kill.killed.load(Ordering::Acquire) {
            return Poll::Ready(ExitResult::failed("process terminated"));
        }
        if let Some(deadline) = self.deadline.as_mut() {
            if Pin::new(deadline).poll(cx).is_ready() {
                return Poll::Ready(ExitResult::failed("execution time limit exceeded"));
            }
        }
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let polled = self.call.as_mut().poll(cx);
        self.stats
            .cpu_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        polled
    }
}
