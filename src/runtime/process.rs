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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::Store;

use super::event::{ExitResult, Pid};
use super::host::ProcessCtx;
use super::prepared::{Pre, Prepared};
use super::state::{MemoryLimiter, ProcessState, Wasi};
use super::wasi::build_wasi;
use crate::executor;
use crate::value::{self, Value};

/// Counters readable while the process runs, and reported in its EXIT event.
#[derive(Debug)]
pub struct ProcessStats {
    pub steps: AtomicU64,
    /// Set when the call returns or traps (a terminated call is not asked).
    pub fuel_used: AtomicU64,
    /// Largest linear memory, in bytes, updated as it grows.
    pub peak_memory: AtomicU64,
    /// Time spent inside Steps.
    pub cpu_nanos: AtomicU64,
    phase: AtomicU8,
    started: Instant,
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Spawned, not yet run.
    Init,
    /// Inside a Step.
    Running,
    /// Between Steps: yielded at the end of a slice, or parked on a timer or I/O.
    Waiting,
    Closed,
}

/// The counters at one moment (in EXIT events, at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub steps: u64,
    pub fuel_used: u64,
    pub peak_memory: u64,
    pub cpu: Duration,
    pub wall: Duration,
}

impl Default for ProcessStats {
    fn default() -> Self {
        Self {
            steps: AtomicU64::new(0),
            fuel_used: AtomicU64::new(0),
            peak_memory: AtomicU64::new(0),
            cpu_nanos: AtomicU64::new(0),
            phase: AtomicU8::new(Phase::Init as u8),
            started: Instant::now(),
        }
    }
}

impl ProcessStats {
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Init,
            1 => Phase::Running,
            2 => Phase::Waiting,
            _ => Phase::Closed,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            steps: self.steps.load(Ordering::Relaxed),
            fuel_used: self.fuel_used.load(Ordering::Relaxed),
            peak_memory: self.peak_memory.load(Ordering::Relaxed),
            cpu: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed)),
            wall: self.started.elapsed(),
        }
    }
}

/// Cross-thread request to stop: set the flag and the reason, wake the task.
#[derive(Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    reason: Mutex<Option<String>>,
    waker: Mutex<Option<Waker>>,
}

impl KillSwitch {
    /// The first reason given wins; later kills only wake.
    pub fn kill(&self, reason: &str) {
        self.reason
            .lock()
            .unwrap()
            .get_or_insert_with(|| reason.to_owned());
        self.killed.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn reason(&self) -> String {
        self.reason
            .lock()
            .unwrap()
            .clone()
            .unwrap_or_else(|| "process terminated".to_owned())
    }
}

/// Settings a host applies to every process it runs.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub fuel_slice: u64,
    /// The terminal host: guests use the terminal's stdin, stdout and stderr.
    pub inherit_stdio: bool,
    /// Record which process each worker ran, in order (for tests).
    pub trace: bool,
    /// Where guest output goes when stdio is not inherited.
    pub log: super::log::GuestLog,
}

/// Runs one wasm process to its end and returns how it ended. Never panics on guest
/// input.
pub async fn run(
    prepared: Arc<Prepared>,
    env: Arc<super::wasi::EnvSource>,
    args: Args,
    ctx: ProcessCtx,
) -> ExitResult {
    let call = Box::pin(init_and_call(
        prepared.clone(),
        env,
        args,
        ctx.stats.clone(),
        ctx.settings.clone(),
        ctx.pid.clone(),
    ));
    race(call, &ctx, prepared.config.limits.max_execution_ms).await
}

/// Runs `call` as a process body: termination and the deadline are checked before every
/// Step, and the Steps are counted.
pub async fn race(
    call: Pin<Box<dyn Future<Output = ExitResult> + '_>>,
    ctx: &ProcessCtx,
    max_execution_ms: Option<i64>,
) -> ExitResult {
    let deadline =
        max_execution_ms.map(|ms| executor::sleep(Duration::from_millis(ms.max(0) as u64)));
    Race {
        call,
        kill: ctx.kill.clone(),
        deadline,
        stats: ctx.stats.clone(),
    }
    .await
}

/// A process's input: the method's arguments, and for a command-line run, the words
/// typed after the command name.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub values: Vec<Value>,
    /// Set by the CLI: these become the guest's WASI argv when its entry sets none, and
    /// are dropped as parameters when the method takes none (`_start`, `run`).
    pub words: Option<Vec<String>>,
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Self {
            values,
            words: None,
        }
    }
}

impl Args {
    /// The values to convert for a method with `params` parameters.
    fn for_params(&self, params: usize) -> &[Value] {
        match (&self.words, params) {
            (Some(_), 0) => &[],
            _ => &self.values,
        }
    }
}

async fn init_and_call(
    prepared: Arc<Prepared>,
    env: Arc<super::wasi::EnvSource>,
    args: Args,
    stats: Arc<ProcessStats>,
    settings: RunSettings,
    pid: Pid,
) -> ExitResult {
    let method = &prepared.config.method;
    let budget = prepared.config.limits.fuel.unwrap_or(u64::MAX);
    let wasi = if prepared.wasi {
        match build_wasi(
            &prepared,
            &env,
            matches!(prepared.pre, Pre::Component { .. }),
            &settings,
            &pid,
            args.words.as_deref(),
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
            stats: stats.clone(),
            refused: None,
            total: 0,
        },
        http: prepared
            .http
            .then(|| Box::new(wasmtime_wasi_http::WasiHttpCtx::new())),
    };
    let engine = match &prepared.pre {
        Pre::Core { pre, .. } => pre.module().engine().clone(),
        Pre::Component { pre, .. } => pre.component().engine().clone(),
    };
    let max_open = super::wasi::max_open_files(limits);
    let fail = |e: &wasmtime::Error, memory: &MemoryLimiter| {
        with_memory_note(failure(method, e, budget, max_open), memory)
    };
    let failed_to_instantiate = |e: &wasmtime::Error, memory: &MemoryLimiter| {
        let failed = ExitResult::failed(format!(
            "failed to instantiate: {}",
            describe_trap(e, budget, max_open)
        ));
        with_memory_note(failed, memory)
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.memory);
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
                Err(e) => return failed_to_instantiate(&e, &store.data().memory),
            };
            if *reactor {
                if let Some(init) = instance.get_func(&mut store, "_initialize") {
                    if let Err(e) = init.call_async(&mut store, &[], &mut []).await {
                        return fail(&e, &store.data().memory);
                    }
                }
            }
            let func = instance
                .get_func(&mut store, method)
                .expect("checked at load: the method is an exported function");
            let ty = func.ty(&store);
            let param_types: Vec<_> = ty.params().collect();
            let values = args.for_params(param_types.len());
            let params = match value::to_core_params(values, &param_types) {
                Ok(p) => p,
                Err(e) => return ExitResult::failed(e),
            };
            let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
            match func.call_async(&mut store, &params, &mut results).await {
                Ok(()) => ExitResult::ok(value::from_core_results(&results)),
                Err(e) => fail(&e, &store.data().memory),
            }
        }
        Pre::Component { pre, export } => {
            let instance = match pre.instantiate_async(&mut store).await {
                Ok(i) => i,
                Err(e) => return failed_to_instantiate(&e, &store.data().memory),
            };
            let func = instance
                .get_func(&mut store, export)
                .expect("checked at load: the method is an exported function");
            let ty = func.ty(&store);
            let values = args.for_params(ty.params().len());
            let params = match value::to_component_params(values, ty.params()) {
                Ok(p) => p,
                Err(e) => return ExitResult::failed(e),
            };
            let mut results = vec![wasmtime::component::Val::Bool(false); ty.results().len()];
            match func.call_async(&mut store, &params, &mut results).await {
                Ok(()) => ExitResult::ok(value::from_component_results(&results)),
                Err(e) => fail(&e, &store.data().memory),
            }
        }
    };
    stats.fuel_used.store(
        budget.saturating_sub(store.get_fuel().unwrap_or(budget)),
        Ordering::Relaxed,
    );
    result
}

/// When `limits.memory_bytes` is not set: enough for real programs, small enough that one
/// runaway guest cannot take the host's memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// How a call that returned an error ended: a WASI exit, or a failure.
fn failure(method: &str, e: &wasmtime::Error, budget: u64, max_open: usize) -> ExitResult {
    match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        Some(exit) => ExitResult::exited(exit.0, method),
        None => ExitResult::failed(format!(
            "failed to call wasm method: {method}: {}",
            describe_trap(e, budget, max_open)
        )),
    }
}

/// A process that fails after one of its memory grows was refused (`memory.grow`
/// returned -1) most likely failed for that: its error says so, with the limit.
fn with_memory_note(mut result: ExitResult, memory: &MemoryLimiter) -> ExitResult {
    if let (Some(error), Some(note)) = (result.error.as_mut(), memory.note()) {
        error.push_str(" (");
        error.push_str(&note);
        error.push(')');
    }
    result
}

/// A trap's cause in one line: wasmtime's Display of a trap is a whole backtrace.
fn describe_trap(e: &wasmtime::Error, budget: u64, max_open: usize) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::OutOfFuel => {
                format!("fuel limit exceeded: the process used its {budget} fuel (limits.fuel)")
            }
            wasmtime::Trap::StackOverflow => "stack overflow".to_owned(),
            // wasmtime's Display of a trap already starts with "wasm trap: ".
            other => other.to_string(),
        };
    }
    if let Some(wasmtime::component::ResourceTableError::Full) =
        e.root_cause()
            .downcast_ref::<wasmtime::component::ResourceTableError>()
    {
        return format!(
            "too many open handles: the process holds its limit of {max_open} (limits.max_open_files)"
        );
    }
    format!("{}", e.root_cause())
}

/// The call, raced against termination and the deadline.
struct Race<'a> {
    call: Pin<Box<dyn Future<Output = ExitResult> + 'a>>,
    kill: Arc<KillSwitch>,
    deadline: Option<executor::Sleep>,
    stats: Arc<ProcessStats>,
}

impl Future for Race<'_> {
    type Output = ExitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitResult> {
        {
            // The same waker every Step, usually: clone it only when it changed.
            let mut waker = self.kill.waker.lock().unwrap();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        if self.kill.killed.load(Ordering::Acquire) {
            return Poll::Ready(ExitResult::failed(self.kill.reason()));
        }
        if let Some(deadline) = self.deadline.as_mut() {
            if Pin::new(deadline).poll(cx).is_ready() {
                return Poll::Ready(ExitResult::failed("execution time limit exceeded"));
            }
        }
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        self.stats.set_phase(Phase::Running);
        let started = Instant::now();
        let polled = self.call.as_mut().poll(cx);
        self.stats
            .cpu_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.stats.set_phase(match polled {
            Poll::Pending => Phase::Waiting,
            Poll::Ready(_) => Phase::Closed,
        });
        polled
    }
}
