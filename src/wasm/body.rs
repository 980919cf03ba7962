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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use wasmtime::Store;

use super::actor::Actor;
use super::convert;
use super::prepared::{Pre, Prepared};
use super::state::{MemoryLimiter, ProcessState, Wasi};
use super::wasi::{build_wasi, EnvSource};
use crate::kernel::exit::{ExitReason, ExitResult, Limit, Stage, TrapKind};
use crate::kernel::pid::Pid;
use crate::kernel::process::{race, Args, ProcessCtx, RunSettings};
use crate::kernel::stats::ProcessStats;
use crate::kernel::Kernel;
use crate::registry::Preemption;

/// Runs one wasm process to its end and returns how it ended. Never panics on guest
/// input.
///
/// A plain function that returns the future, not an `async fn`: an `async fn`'s state
/// kept its arguments beside what it awaits (1,624 bytes, now 272), and every parked
/// process holds that state for its whole life.
pub fn run(
    prepared: Arc<Prepared>,
    env: Arc<EnvSource>,
    args: Args,
    ctx: ProcessCtx,
    kernel: Weak<Kernel>,
) -> impl Future<Output = ExitResult> {
    let actor = match (prepared.actor, &ctx.inbox) {
        (true, Some(inbox)) => Some(Box::new(Actor::new(kernel, ctx.pid.clone(), inbox.clone()))),
        _ => None,
    };
    let limit = prepared.config.limits.max_execution_ms;
    let concurrent = matches!(
        prepared.pre,
        Pre::Component {
            concurrent: true,
            ..
        }
    );
    let call = Box::pin(init_and_call(
        prepared,
        env,
        args,
        ctx.stats.clone(),
        ctx.settings.clone(),
        ctx.pid.clone(),
        actor,
    ));
    async move {
        if concurrent {
            race(Box::pin(InTokio(call)), &ctx, limit).await
        } else {
            race(call, &ctx, limit).await
        }
    }
}

/// Polls a call inside wasmtime-wasi's ambient tokio runtime. Its preview-3 host functions
/// (files on tokio's blocking pool, sockets on its reactor) need a tokio context on the
/// thread that polls them; their completions wake the process like any cross-thread wake.
struct InTokio<F>(F);

impl<F: Future + Unpin> Future for InTokio<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| Pin::new(&mut self.0).poll(cx))
    }
}

async fn init_and_call(
    prepared: Arc<Prepared>,
    env: Arc<EnvSource>,
    args: Args,
    stats: Arc<ProcessStats>,
    settings: Arc<RunSettings>,
    pid: Pid,
    actor: Option<Box<Actor>>,
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
            &args,
        ) {
            Ok(w) => w,
            Err(e) => return ExitReason::failed(e).into(),
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
        actor,
    };
    let engine = match &prepared.pre {
        Pre::Core { pre, .. } => pre.module().engine().clone(),
        Pre::Component { pre, .. } => pre.component().engine().clone(),
    };
    let max_open = super::wasi::max_open_files(limits);
    let fail = |e: &wasmtime::Error, memory: &MemoryLimiter| {
        let reason = match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => ExitReason::Exited {
                code: exit.0,
                method: method.clone(),
            },
            None => describe(e, Stage::call(method), budget, max_open),
        };
        with_memory_note(reason, memory)
    };
    let failed_to_instantiate = |e: &wasmtime::Error, memory: &MemoryLimiter| {
        with_memory_note(describe(e, Stage::Instantiate, budget, max_open), memory)
    };
    let mut store = Store::new(&engine, state);
    store.limiter(|s| &mut s.memory);
    // Component-model async handles (streams, futures, waitable sets, pending subtasks:
    // each wait a timer of ours) live in wasmtime's tables outside the memory limit; a
    // WASI 0.3 process holds as many as its entry's open-handle cap.
    if let Pre::Component {
        concurrent: true, ..
    } = prepared.pre
    {
        store.set_max_component_handles(max_open);
    }
    let sliced = match settings.preemption {
        Preemption::Fuel => store
            .set_fuel(budget)
            .and_then(|_| store.fuel_async_yield_interval(Some(settings.fuel_slice))),
        // Fuel is not metered here: a quota cannot be kept, so it is refused, not ignored.
        Preemption::Epoch if limits.fuel.is_some() => {
            return ExitReason::failed(
                "limits.fuel needs a host with host.preemption: fuel (an epoch host does not count fuel)",
            )
            .into();
        }
        Preemption::Epoch => {
            store.epoch_deadline_async_yield_and_update(1);
            Ok(())
        }
    };
    if let Err(e) = sliced {
        return ExitReason::failed(format!("cannot configure the process: {e}")).into();
    }

    // In a block of its own so that every way out, an early failure included, reaches the
    // fuel count below.
    let result = async {
        match &prepared.pre {
            Pre::Core { pre, reactor } => {
                // Boxed: instantiation's future (~1.1 KiB) lives only until the call
                // starts; inline, every parked process would keep room for it. Boxing
                // both instantiations and the component call took this function's state
                // from 5,664 bytes to 1,200.
                let instance = match Box::pin(pre.instantiate_async(&mut store)).await {
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
                let params = match convert::to_core_params(values, &param_types) {
                    Ok(p) => p,
                    Err(e) => return ExitReason::failed(e).into(),
                };
                let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
                match func.call_async(&mut store, &params, &mut results).await {
                    Ok(()) => ExitResult::ok(convert::from_core_results(&results)),
                    Err(e) => fail(&e, &store.data().memory),
                }
            }
            Pre::Component { pre, export, .. } => {
                let instance = match Box::pin(pre.instantiate_async(&mut store)).await {
                    Ok(i) => i,
                    Err(e) => return failed_to_instantiate(&e, &store.data().memory),
                };
                let func = instance
                    .get_func(&mut store, export)
                    .expect("checked at load: the method is an exported function");
                let ty = func.ty(&store);
                let values = args.for_params(ty.params().len());
                let params = match convert::to_component_params(values, ty.params()) {
                    Ok(p) => p,
                    Err(e) => return ExitReason::failed(e).into(),
                };
                let mut results = vec![wasmtime::component::Val::Bool(false); ty.results().len()];
                // Boxed (~1.4 KiB): inline, it would size the state of core processes too.
                match Box::pin(func.call_async(&mut store, &params, &mut results)).await {
                    Ok(()) => ExitResult::ok(convert::from_component_results(&results)),
                    Err(e) => fail(&e, &store.data().memory),
                }
            }
        }
    }
    .await;
    stats.fuel_used.store(
        // Nothing is counted on an epoch host: `get_fuel` fails there.
        budget.saturating_sub(store.get_fuel().unwrap_or(budget)),
        Ordering::Relaxed,
    );
    result
}

/// When `limits.memory_bytes` is not set: enough for real programs, small enough that one
/// runaway guest cannot take the host's memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// A failure's reason, with a refused memory grow (`memory.grow` returned -1) noted: a
/// process that fails after one most likely failed for it, so its error says so.
fn with_memory_note(reason: ExitReason, memory: &MemoryLimiter) -> ExitResult {
    ExitResult {
        limit_hit: memory.refusal(),
        ..reason.into()
    }
}

/// What an error from wasmtime means, in one line: wasmtime's Display of a trap is a
/// whole backtrace.
fn describe(e: &wasmtime::Error, stage: Stage, budget: u64, max_open: usize) -> ExitReason {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        if *trap == wasmtime::Trap::OutOfFuel {
            let limit = Limit::Fuel { budget };
            return ExitReason::LimitReached {
                stage: Some(stage),
                limit,
            };
        }
        let message = match trap {
            wasmtime::Trap::StackOverflow => "stack overflow".to_owned(),
            // wasmtime's Display of a trap already starts with "wasm trap: ".
            other => other.to_string(),
        };
        return ExitReason::Trapped {
            stage,
            trap: trap_kind(*trap),
            message,
        };
    }
    if let Some(wasmtime::component::ResourceTableError::Full) =
        e.root_cause()
            .downcast_ref::<wasmtime::component::ResourceTableError>()
    {
        let limit = Limit::OpenHandles { max: max_open };
        return ExitReason::LimitReached {
            stage: Some(stage),
            limit,
        };
    }
    ExitReason::Failed {
        stage: Some(stage),
        message: e.root_cause().to_string(),
    }
}

fn trap_kind(trap: wasmtime::Trap) -> TrapKind {
    use wasmtime::Trap;
    match trap {
        Trap::StackOverflow => TrapKind::StackOverflow,
        Trap::MemoryOutOfBounds | Trap::HeapMisaligned => TrapKind::MemoryOutOfBounds,
        Trap::TableOutOfBounds => TrapKind::TableOutOfBounds,
        Trap::IndirectCallToNull => TrapKind::IndirectCallToNull,
        Trap::BadSignature => TrapKind::BadSignature,
        Trap::IntegerOverflow => TrapKind::IntegerOverflow,
        Trap::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        Trap::BadConversionToInteger => TrapKind::BadConversionToInteger,
        Trap::UnreachableCodeReached => TrapKind::Unreachable,
        Trap::NullReference => TrapKind::NullReference,
        _ => TrapKind::Other,
    }
}
