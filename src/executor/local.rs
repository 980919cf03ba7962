//! The executor state of the current thread: its clock, its timers, and what it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::timer::Timers;

/// Which clock the executor keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    /// The system's monotonic clock.
    Real,
    /// Starts at the real "now" and moves only when every task is parked on a timer:
    /// then it jumps to the next deadline, so sleeps take no real time and are exact.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wippy_wasm::{ClockKind, Mailbox, Project, Runtime, Value};
    ///
    /// let yaml = r#"
    /// version: "1.0"
    /// namespace: app
    /// entries:
    ///   - name: workers
    ///     kind: process.host
    ///   - name: nap
    ///     kind: process.lua
    ///     source: |
    ///       local time = require("time")
    ///       return { main = function()
    ///         local start = time.now()
    ///         time.sleep(time.seconds(3600))
    ///         return (time.now() - start):seconds()
    ///       end }
    ///     method: main
    /// "#;
    /// let rt = Runtime::builder()
    ///     .clock(ClockKind::Virtual)
    ///     .build(&Project::in_memory(".").with_index("_index.yaml", yaml))
    ///     .unwrap();
    /// let me = Mailbox::new();
    /// rt.spawn_monitored(&me, "app:nap", "app:workers", vec![]).unwrap();
    /// // An hour of virtual time passes at once, and exactly.
    /// let exit = me.receive(Duration::from_secs(10)).expect("EXIT");
    /// assert_eq!(exit.result.value, Value::Float(3600.0));
    /// ```
    Virtual,
    /// Virtual, and each task run also costs this much time: a model of a fuel slice, so
    /// tests can assert how late a timer fires while compute-bound tasks keep running.
    Stepped(Duration),
}

impl ClockKind {
    pub(super) fn is_virtual(self) -> bool {
        !matches!(self, ClockKind::Real)
    }
}

/// Labels of the tasks an executor ran, in order (see [`Executor::record_trace`]).
pub type Trace = Arc<Mutex<Vec<u64>>>;

pub(super) struct Local {
    pub(super) clock: ClockKind,
    pub(super) virtual_now: Cell<Instant>,
    pub(super) timers: RefCell<Timers>,
    /// Tasks run so far, for tests that assert interleavings (see [`Executor::trace`]).
    pub(super) trace: RefCell<Option<Trace>>,
    /// The label of the task being run, recorded in the trace.
    pub(super) running_label: Cell<u64>,
}

thread_local! {
    pub(super) static CURRENT: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
    /// Set while this thread fires due timers: the tasks they wake go to the front.
    pub(super) static TIMER_WAKE: Cell<bool> = const { Cell::new(false) };
}

/// Makes `local` the current thread's executor until the guard drops.
pub(super) fn enter(local: Rc<Local>) -> EnterGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(local));
    EnterGuard(prev)
}

pub(super) struct EnterGuard(Option<Rc<Local>>);

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.0.take());
    }
}

impl Local {
    pub(super) fn now(&self) -> Instant {
        match self.clock {
            ClockKind::Real => Instant::now(),
            _ => self.virtual_now.get(),
        }
    }

    pub(super) fn timer_due(&self) -> bool {
        let next = self.timers.borrow().next_deadline();
        next.is_some_and(|d| d <= self.now())
    }

    /// Wakes every task whose deadline has passed; they go to the front of the queue,
    /// earliest deadline first.
    pub(super) fn fire_timers(&self) {
        let now = self.now();
        let due = self.timers.borrow_mut().take_due(now);
        TIMER_WAKE.with(|t| t.set(true));
        // Pushed to the front one by one: wake the latest first so the earliest runs first.
        for waker in due.into_iter().rev() {
            waker.wake();
        }
        TIMER_WAKE.with(|t| t.set(false));
    }
}

/// Runs `f` with the current thread's executor state. Panics outside an executor.
fn with_current<R>(f: impl FnOnce(&Local) -> R) -> R {
    CURRENT.with(|c| {
        let local = c.borrow();
        let local = local
            .as_ref()
            .expect("wippy executor futures must run on a wippy executor");
        f(local)
    })
}

/// The current executor's clock reading (virtual or real).
pub fn now() -> Instant {
    with_current(|l| l.now())
}

/// A fixed instant before any executor's clock starts: the zero of guest monotonic time.
pub fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// [`now`], or the real clock when this thread runs no executor.
pub fn try_now() -> Instant {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(|l| l.now()))
        .ok()
        .flatten()
        .unwrap_or_else(Instant::now)
}
