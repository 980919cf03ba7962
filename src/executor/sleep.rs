//! The [`Sleep`] future that parks a task on its executor's timers, and saturating
//! deadlines.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::local::{try_now, CURRENT};
use super::remote_timer;
use super::timer::Key;

/// Later than any deadline a process can mean: ~100 years from now. Deadlines that
/// would overflow `Instant` (a guest's `u64::MAX` nanoseconds, `Duration::MAX`) saturate
/// to it instead of panicking.
pub fn far_future() -> Instant {
    let now = try_now();
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
/// (a caller's own `block_on`), it falls back to the real clock and one shared timer
/// thread (`remote_timer`).
pub struct Sleep {
    deadline: Instant,
    timer: Option<Key>,
    /// Its place in the shared timer thread, when polled off any executor.
    off_executor: Option<Key>,
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
    sleep_until(deadline_after(try_now(), duration))
}

impl Sleep {
    #[cfg(test)]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Off any executor (an embedder's own runtime): the real clock, and the one shared
    /// timer thread.
    fn poll_off_executor(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(key) = self.off_executor.take() {
                remote_timer::remove(key);
            }
            return Poll::Ready(());
        }
        match self.off_executor {
            Some(key) => remote_timer::update(key, cx.waker()),
            None => {
                self.off_executor = Some(remote_timer::insert(self.deadline, cx.waker().clone()))
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
        if let Some(key) = self.off_executor {
            remote_timer::remove(key);
        }
    }
}
