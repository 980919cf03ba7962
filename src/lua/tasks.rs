//! `coroutine.spawn(f)`: Wippy's coroutines that run beside the process's main function,
//! in the same Lua state, interleaved at their waits (a channel, a receive, a sleep) and
//! at preemptions, never in parallel. Each runs on a driver thread of its own, as main
//! does; the process's one task polls them all. An error in any of them fails the
//! process; when main returns, the others are dropped (Wippy kills them).
//!
//! A Step is still one slice: a pass over the coroutines stops at the first one the hook
//! preempted, and the next pass starts after it, so busy coroutines take turns.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use mlua::{Function, Lua, Value as LuaValue};

/// What the preemption hook and the trampolines share.
#[derive(Default)]
pub struct Preemption {
    /// The `lua_State`s of the threads mlua drives (the main coroutine's and one per
    /// `coroutine.spawn`): never yielded by the hook.
    pub drivers: RefCell<Vec<usize>>,
    /// Threads the hook yielded whose resumer has not looked yet (at most one per level of
    /// coroutine nesting).
    pub preempted: RefCell<Vec<usize>>,
    /// Set when the hook ends a slice: the process's scheduler then ends the Step.
    pub slice_over: Cell<bool>,
}

impl Preemption {
    /// Whether the hook preempted `thread` (a `lua_State` address) since the last look.
    pub fn take(&self, thread: usize) -> bool {
        let mut preempted = self.preempted.borrow_mut();
        let before = preempted.len();
        preempted.retain(|t| *t != thread);
        preempted.len() != before
    }
}

/// Forgets a driver thread when its run ends (or is dropped with the process).
pub struct DriverGuard(pub Rc<Preemption>, pub usize);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        self.0.drivers.borrow_mut().retain(|t| *t != self.1);
    }
}

/// The most coroutines a process may have running beside main.
pub const MAX_SPAWNED: usize = 10_000;

/// A run of main or of a spawned coroutine: its results, or its error message.
pub type Run<'a> = Pin<Box<dyn Future<Output = mlua::Result<Result<Vec<LuaValue>, String>>> + 'a>>;

/// Functions `coroutine.spawn` was given that have not started yet, and how many
/// spawned coroutines are running.
#[derive(Default)]
pub struct Spawned {
    queue: RefCell<Vec<Function>>,
    running: Cell<usize>,
}

/// `coroutine.spawn` for `lua`, queueing into `spawned`.
pub fn spawn_function(lua: &Lua, spawned: Rc<Spawned>) -> mlua::Result<Function> {
    lua.create_function(move |_, f: Function| {
        let mut queue = spawned.queue.borrow_mut();
        if queue.len() + spawned.running.get() >= MAX_SPAWNED {
            return Err(mlua::Error::runtime(format!(
                "coroutine.spawn: this process already runs {MAX_SPAWNED} coroutines beside main"
            )));
        }
        queue.push(f);
        Ok(())
    })
}

/// Runs `main` with the coroutines it spawns (started by `start`) until main ends or
/// one of them fails.
pub async fn with_spawned<'a>(
    preemption: &Preemption,
    spawned: &Spawned,
    main: Run<'a>,
    start: impl Fn(Function) -> Run<'a>,
) -> mlua::Result<Result<Vec<LuaValue>, String>> {
    let mut runs: Vec<Run<'a>> = vec![main];
    let mut next = 0;
    poll_fn(move |cx| loop {
        let started: Vec<Function> = std::mem::take(&mut *spawned.queue.borrow_mut());
        runs.extend(started.into_iter().map(&start));
        let count = runs.len();
        let mut finished = Vec::new();
        let mut preempted = false;
        for step in 0..count {
            let i = (next + step) % count;
            preemption.slice_over.set(false);
            match runs[i].as_mut().poll(cx) {
                Poll::Ready(out) if i == 0 => return Poll::Ready(out),
                Poll::Ready(Ok(Ok(_))) => finished.push(i),
                Poll::Ready(failed) => return Poll::Ready(failed),
                Poll::Pending => {}
            }
            if preemption.slice_over.replace(false) {
                next = i + 1;
                preempted = true;
                break;
            }
        }
        finished.sort_unstable();
        for i in finished.into_iter().rev() {
            drop(runs.remove(i));
        }
        spawned.running.set(runs.len() - 1);
        if preempted || spawned.queue.borrow().is_empty() {
            return Poll::Pending;
        }
    })
    .await
}

/// Polls `run` (one driven thread: the chunk, main or a spawned coroutine) so that no
/// wake is lost to a preemption. The hook may preempt the thread between an async host
/// call's poll that found nothing (its waker registered) and the yield of mlua's
/// "pending" marker. A wake that comes before the next poll is spent on that poll, which
/// only yields the marker without polling the call again: the process would park with no
/// waker registered (a Lua process waiting in `receive` hung in about one of seven
/// 1,000-message bursts from another worker). So the first poll that parks after a
/// preempted one asks to be polled once more.
pub async fn no_lost_wake<T>(preemption: &Preemption, run: impl Future<Output = T>) -> T {
    let mut run = std::pin::pin!(run);
    let mut after_preemption = false;
    poll_fn(|cx| {
        // Read, not taken: `with_spawned` takes the flag after this poll returns.
        let before = preemption.slice_over.replace(false);
        let polled = run.as_mut().poll(cx);
        let preempted = preemption.slice_over.get();
        preemption.slice_over.set(before || preempted);
        if polled.is_pending() {
            if preempted {
                after_preemption = true;
            } else if std::mem::take(&mut after_preemption) {
                cx.waker().wake_by_ref();
            }
        }
        polled
    })
    .await
}
