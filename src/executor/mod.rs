//! A single-threaded cooperative executor: the scheduler every worker thread runs.
//!
//! - **Run queue**: FIFO. Each round runs exactly the tasks queued when the round began,
//!   so tasks that yield (a guest whose fuel slice ran out) interleave round-robin.
//!   Timers jump the queue: a deadline that passes during a Step ends the round there,
//!   and the tasks it wakes run next, so a sleeper is late by at most one Step.
//! - **Timers**: an ordered set of deadlines on this thread ([`sleep_until`]); a
//!   cancelled sleep leaves it at once.
//! - **Wakes from other threads** (blocking file I/O, control commands) push onto a
//!   locked queue and [`polling::Poller::notify`] the thread if it is parked.
//! - **Clock**: real, or virtual for tests: when nothing is runnable, a virtual clock
//!   jumps to the next deadline instead of waiting, so time-based tests are exact.
//! - **Panics** in a task are caught at the task boundary and reported to whoever awaits
//!   it; the loop and every other task keep running.
//!
//! Tasks are `!Send` (`spawn_local`): a process never migrates off its worker.

mod local;
mod remote_timer;
mod sleep;
mod timer;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_task::{Runnable, Task};

use timer::Timers;

pub use local::{epoch, now, try_now, ClockKind, Trace};
pub use sleep::{deadline_after, sleep, sleep_until, Sleep};

use local::{EnterGuard, Local, TIMER_WAKE};

/// The part other threads may touch: the queue of woken tasks and the poller to wake us.
struct Remote {
    queue: Mutex<VecDeque<Runnable<u64>>>,
    poller: polling::Poller,
}

/// The executor of the current thread.
pub struct Executor {
    remote: Arc<Remote>,
    local: Rc<Local>,
    /// The round being run: swapped with the (empty) queue each round, so neither is
    /// reallocated on the Step path.
    batch: RefCell<VecDeque<Runnable<u64>>>,
    /// Where a park's wait puts its events (none: we only use `notify`), kept so a park
    /// allocates nothing.
    events: RefCell<polling::Events>,
}

/// A handle other threads use to run a closure-free wake: it only unparks the executor.
#[derive(Clone)]
pub struct Notifier(Arc<Remote>);

impl Notifier {
    pub fn notify(&self) {
        let _ = self.0.poller.notify();
    }
}

impl Executor {
    pub fn new(clock: ClockKind) -> std::io::Result<Self> {
        let _ = epoch();
        let now = Instant::now();
        Ok(Self {
            remote: Arc::new(Remote {
                queue: Mutex::new(VecDeque::new()),
                poller: polling::Poller::new()?,
            }),
            local: Rc::new(Local {
                clock,
                virtual_now: Cell::new(now),
                timers: RefCell::new(Timers::default()),
                trace: RefCell::new(None),
                running_label: Cell::new(0),
            }),
            batch: RefCell::new(VecDeque::new()),
            events: RefCell::new(polling::Events::with_capacity(NonZeroUsize::MIN)),
        })
    }

    pub fn notifier(&self) -> Notifier {
        Notifier(self.remote.clone())
    }

    /// Spawns a task on this executor. `label` names it in the trace (a PID number).
    /// The task's output, or its panic, comes back through the returned [`Task`].
    pub fn spawn<F>(&self, label: u64, future: F) -> Task<F::Output, u64>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let remote = self.remote.clone();
        let schedule = move |runnable: Runnable<u64>| {
            let mut queue = remote.queue.lock().unwrap();
            if TIMER_WAKE.with(Cell::get) {
                queue.push_front(runnable);
            } else {
                queue.push_back(runnable);
            }
            drop(queue);
            let _ = remote.poller.notify();
        };
        let (runnable, task) = async_task::Builder::new()
            .metadata(label)
            .propagate_panic(true)
            .spawn_local(|_| future, schedule);
        runnable.schedule();
        task
    }

    /// Starts recording the label of every task run, in order, into `trace` (which
    /// other threads may read).
    pub fn record_trace(&self, trace: Trace) {
        *self.local.trace.borrow_mut() = Some(trace);
    }

    /// The labels recorded since [`Executor::record_trace`].
    #[cfg(test)]
    pub fn trace(&self) -> Vec<u64> {
        self.local
            .trace
            .borrow()
            .as_ref()
            .map(|t| t.lock().unwrap().clone())
            .unwrap_or_default()
    }

    #[cfg(test)]
    pub fn now(&self) -> Instant {
        self.local.now()
    }

    /// Timers waiting on this executor (cancelled ones are gone at once).
    #[cfg(test)]
    pub fn pending_timers(&self) -> usize {
        self.local.timers.borrow().len()
    }

    /// Runs until `done` is ready, running every other task meanwhile.
    pub fn block_on<T>(&self, done: impl Future<Output = T>) -> T {
        let _guard = self.enter();
        let woken = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let waker = waker_fn(woken.clone(), self.notifier());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut done = std::pin::pin!(done);
        loop {
            if woken.swap(false, std::sync::atomic::Ordering::AcqRel) {
                if let std::task::Poll::Ready(v) = done.as_mut().poll(&mut cx) {
                    return v;
                }
            }
            self.turn(&woken);
        }
    }

    /// One round: run what is queued, fire due timers, and park if nothing is runnable
    /// (unless `woken`: the `block_on` future has more to do at once, such as spawns
    /// waiting in a worker's inbox).
    fn turn(&self, woken: &std::sync::atomic::AtomicBool) {
        use std::sync::atomic::Ordering::Acquire;
        let mut batch = self.batch.borrow_mut();
        std::mem::swap(&mut *self.remote.queue.lock().unwrap(), &mut *batch);
        let ran = !batch.is_empty();
        while let Some(runnable) = batch.pop_front() {
            let label = *runnable.metadata();
            self.local.running_label.set(label);
            if let Some(trace) = self.local.trace.borrow().as_ref() {
                trace.lock().unwrap().push(label);
            }
            if let ClockKind::Stepped(cost) = self.local.clock {
                self.local
                    .virtual_now
                    .set(self.local.virtual_now.get() + cost);
            }
            // A panicking task is caught inside async-task (`propagate_panic`); this
            // guard only protects the loop from a panic in a waker or drop.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| runnable.run()));
            // A timer that came due during this Step cuts the round short: the rest of
            // the round goes back to the front of the queue, and the tasks the timer
            // wakes go before it. A sleeper is then late by at most the one Step that
            // was running when its deadline passed, not by a whole round.
            if !batch.is_empty() && self.local.timer_due() {
                let mut q = self.remote.queue.lock().unwrap();
                while let Some(rest) = batch.pop_back() {
                    q.push_front(rest);
                }
                drop(q);
                break;
            }
        }
        drop(batch);
        self.local.fire_timers();
        if ran || woken.load(Acquire) || !self.remote.queue.lock().unwrap().is_empty() {
            return;
        }
        let next = self.local.timers.borrow().next_deadline();
        match (self.local.clock.is_virtual(), next) {
            (true, Some(deadline)) => {
                // Nothing can run before the next deadline: jump to it. Still give
                // cross-thread wakes (already queued) a chance first.
                self.park(Some(Duration::ZERO));
                // Nor a wake of the `block_on` future: a spawn that arrived meanwhile
                // starts before the clock moves.
                if self.remote.queue.lock().unwrap().is_empty() && !woken.load(Acquire) {
                    self.local.virtual_now.set(deadline.max(self.local.now()));
                }
            }
            (_, next) => {
                self.park(next.map(|d| d.saturating_duration_since(self.local.now())));
            }
        }
    }

    /// Sleeps until another thread notifies us or `timeout` passes.
    fn park(&self, timeout: Option<Duration>) {
        let mut events = self.events.borrow_mut();
        events.clear();
        let _ = self.remote.poller.wait(&mut events, timeout);
    }

    fn enter(&self) -> EnterGuard {
        local::enter(self.local.clone())
    }
}

/// A waker that sets a flag and unparks the executor: used for the future passed to
/// `block_on`, which lives outside the task queue.
fn waker_fn(flag: Arc<std::sync::atomic::AtomicBool>, notifier: Notifier) -> std::task::Waker {
    struct Flag(Arc<std::sync::atomic::AtomicBool>, Notifier);
    impl std::task::Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::Release);
            self.1.notify();
        }
    }
    std::task::Waker::from(Arc::new(Flag(flag, notifier)))
}

#[cfg(test)]
mod tests;
