//! The timer set and the [`Sleep`] future that parks a task on it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::CURRENT;

/// Pending deadlines, ordered. A cancelled timer (its [`Sleep`] dropped early: an early
/// exit, a timed receive that got its message) leaves the set at once, so memory follows
/// the live timers, not the churn.
#[derive(Default)]
pub(super) struct Timers {
    pending: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

type Key = (Instant, u64);

impl Timers {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> Key {
        let key = (deadline, self.next_id);
        self.next_id += 1;
        self.pending.insert(key, waker);
        key
    }

    fn update(&mut self, key: Key, waker: &Waker) {
        if let Some(w) = self.pending.get_mut(&key) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
        }
    }

    fn remove(&mut self, key: Key) {
        self.pending.remove(&key);
    }

    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|((at, _), _)| *at)
    }

    pub(super) fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let mut due = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

/// Later than any deadline a process can mean: ~100 years from now. Deadlines that
/// would overflow `Instant` (a guest's `u64::MAX` nanoseconds, `Duration::MAX`) saturate
/// to it instead of panicking.
pub fn far_future() -> Instant {
    let now = super::try_now();
    now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600))
        .unwrap_or(now)
}

/// `now + duration`, saturating at [`far_future`].
pub fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .map(|at| at.min(far_future()))
        .unwrap_or_else(far_future)
}

/// Completes at `deadline` on the current executor's clock. Polled off an executor
/// (a caller's own `block_on`), it falls back to the real clock and a helper thread.
pub struct Sleep {
    deadline: Instant,
    timer: Option<Key>,
    off_executor: Option<std::sync::Arc<std::sync::Mutex<Waker>>>,
}

pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
        off_executor: None,
    }
}

/// Sleeps `duration` on the current clock; a duration too long for `Instant` sleeps
/// until [`far_future`].
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(super::try_now(), duration))
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    fn poll_off_executor(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.off_executor {
            Some(waker) => waker.lock().unwrap().clone_from(cx.waker()),
            None => {
                let waker = std::sync::Arc::new(std::sync::Mutex::new(cx.waker().clone()));
                self.off_executor = Some(waker.clone());
                let deadline = self.deadline;
                std::thread::spawn(move || {
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    waker.lock().unwrap().wake_by_ref();
                });
            }
        }
        Poll::Pending
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let on_executor = CURRENT
            .try_with(|c| {
                let current = c.borrow();
                let local = current.as_ref()?;
                if local.now() >= this.deadline {
                    if let Some(key) = this.timer.take() {
                        local.timers.borrow_mut().remove(key);
                    }
                    return Some(Poll::Ready(()));
                }
                let mut timers = local.timers.borrow_mut();
                match this.timer {
                    Some(key) => timers.update(key, cx.waker()),
                    None => this.timer = Some(timers.insert(this.deadline, cx.waker().clone())),
                }
                Some(Poll::Pending)
            })
            .ok()
            .flatten();
        match on_executor {
            Some(poll) => poll,
            None => this.poll_off_executor(cx),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.timer {
            // A Sleep dropped off its executor thread has nothing to clean up there.
            let _ = CURRENT.try_with(|c| {
                if let Some(local) = c.borrow().as_ref() {
                    local.timers.borrow_mut().remove(key);
                }
            });
        }
    }
}
