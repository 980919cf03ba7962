//! Deadlines of sleeps polled off any executor (an embedder awaiting a timed
//! `Mailbox::next_event` on its own async runtime): one shared thread keeps them all,
//! instead of a thread per sleep, and a dropped sleep leaves at once.

use std::sync::{Condvar, Mutex, OnceLock};
use std::task::Waker;
use std::time::Instant;

use super::timer::{Key, Timers};

struct Shared {
    timers: Mutex<Timers>,
    changed: Condvar,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<&'static Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            timers: Mutex::new(Timers::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("wippy-timers".into())
            .spawn(move || run(shared))
            .expect("the off-executor timer thread starts");
        shared
    })
}

/// Wakes each sleep whose deadline has passed; waits for the next deadline or a change.
fn run(shared: &Shared) {
    let mut timers = shared.timers.lock().unwrap();
    loop {
        let now = Instant::now();
        let due = timers.take_due(now);
        if !due.is_empty() {
            drop(timers);
            due.into_iter().for_each(Waker::wake);
            timers = shared.timers.lock().unwrap();
            continue;
        }
        timers = match timers.next_deadline() {
            Some(next) => {
                let wait = next.saturating_duration_since(now);
                shared.changed.wait_timeout(timers, wait).unwrap().0
            }
            None => shared.changed.wait(timers).unwrap(),
        };
    }
}

/// Wakes `waker` at `deadline`.
pub(super) fn insert(deadline: Instant, waker: Waker) -> Key {
    let shared = shared();
    let key = shared.timers.lock().unwrap().insert(deadline, waker);
    shared.changed.notify_one();
    key
}

/// The sleep was polled again, maybe by another task.
pub(super) fn update(key: Key, waker: &Waker) {
    shared().timers.lock().unwrap().update(key, waker);
}

/// The sleep completed or was dropped.
pub(super) fn remove(key: Key) {
    shared().timers.lock().unwrap().remove(key);
}

/// Deadlines kept that fall after `after` (for tests).
#[cfg(test)]
pub(super) fn pending_after(after: Instant) -> usize {
    shared().timers.lock().unwrap().count_after(after)
}
