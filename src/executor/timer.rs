//! The timer set: pending deadlines, ordered, each with the waker of the task it parks.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

/// Pending deadlines, ordered. A cancelled timer (its [`Sleep`] dropped early: an early
/// exit, a timed receive that got its message) leaves the set at once, so memory follows
/// the live timers, not the churn.
#[derive(Default)]
pub(super) struct Timers {
    pending: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
}

/// A timer in the set: its deadline, and a number that keeps equal deadlines apart.
pub(super) type Key = (Instant, u64);

impl Timers {
    pub(super) fn insert(&mut self, deadline: Instant, waker: Waker) -> Key {
        let key = (deadline, self.next_id);
        self.next_id += 1;
        self.pending.insert(key, waker);
        key
    }

    pub(super) fn update(&mut self, key: Key, waker: &Waker) {
        if let Some(w) = self.pending.get_mut(&key) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
        }
    }

    pub(super) fn remove(&mut self, key: Key) {
        self.pending.remove(&key);
    }

    #[cfg(test)]
    pub(super) fn count_after(&self, after: Instant) -> usize {
        self.pending.keys().filter(|(at, _)| *at > after).count()
    }

    #[cfg(test)]
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
