//! The timer heap and the [`Sleep`] future that parks a task on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::with_current;

#[derive(Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: HashMap<u64, Waker>,
    next_id: u64,
}

impl Timers {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.heap.push(Reverse((deadline, id)));
        self.wakers.insert(id, waker);
        id
    }

    fn update(&mut self, id: u64, waker: &Waker) {
        if let Some(w) = self.wakers.get_mut(&id) {
            w.clone_from(waker);
        }
    }

    fn remove(&mut self, id: u64) {
        // The heap entry stays until it comes due and finds no waker: cheaper than a
        // search, and bounded by the number of live timers plus cancelled ones.
        self.wakers.remove(&id);
    }

    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if self.wakers.contains_key(&id) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    pub(super) fn take_due(&mut self, now: Instant) -> Vec<Waker> {
        let mut due = Vec::new();
        while let Some(Reverse((deadline, id))) = self.heap.peek().copied() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(w) = self.wakers.remove(&id) {
                due.push(w);
            }
        }
        due
    }
}

/// Completes at `deadline` on the current executor's clock.
pub struct Sleep {
    deadline: Instant,
    timer: Option<u64>,
}

pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(with_current(|l| l.now()) + duration)
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        with_current(|local| {
            if local.now() >= deadline {
                if let Some(id) = self.timer.take() {
                    local.timers.borrow_mut().remove(id);
                }
                return Poll::Ready(());
            }
            let mut timers = local.timers.borrow_mut();
            match self.timer {
                Some(id) => timers.update(id, cx.waker()),
                None => self.timer = Some(timers.insert(deadline, cx.waker().clone())),
            }
            Poll::Pending
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer {
            // A Sleep dropped off its executor thread has nothing to clean up there.
            let _ = super::CURRENT.try_with(|c| {
                if let Some(local) = c.borrow().as_ref() {
                    local.timers.borrow_mut().remove(id);
                }
            });
        }
    }
}
