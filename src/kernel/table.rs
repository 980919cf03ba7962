//! A host's table of live processes, by PID number, in shards: every spawn and every exit
//! writes it, from every worker of the host at once, so one lock would have the workers
//! queue on it and pass its cache line back and forth. PID numbers are given out in
//! order, so consecutive processes fall in different shards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;

/// One shard, alone on its cache line.
#[repr(align(64))]
#[derive(Default)]
struct Shard<R>(Mutex<HashMap<u64, R>>);

pub(crate) struct Table<R> {
    shards: Box<[Shard<R>]>,
    len: AtomicUsize,
}

impl<R> Default for Table<R> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard(Mutex::default())).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

impl<R> Table<R> {
    fn shard(&self, n: u64) -> MutexGuard<'_, HashMap<u64, R>> {
        self.shards[(n % SHARDS as u64) as usize].0.lock().unwrap()
    }

    /// Adds `record` under `n` unless the table already holds `cap`; then runs `then`
    /// while `n`'s shard is still locked (see [`Table::lock_all`]).
    pub fn insert<T>(
        &self,
        n: u64,
        record: R,
        cap: usize,
        then: impl FnOnce() -> T,
    ) -> Result<T, R> {
        let mut shard = self.shard(n);
        if self.len.fetch_add(1, Ordering::AcqRel) >= cap {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return Err(record);
        }
        shard.insert(n, record);
        Ok(then())
    }

    pub fn remove(&self, n: u64) -> Option<R> {
        let removed = self.shard(n).remove(&n);
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::AcqRel);
        }
        removed
    }

    pub fn with<T>(&self, n: u64, f: impl FnOnce(&mut R) -> T) -> Option<T> {
        self.shard(n).get_mut(&n).map(f)
    }

    /// Live processes. While an insert is refused for the cap it may read one more for a
    /// moment, and an insert is counted just before its record is in its shard.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Every shard locked, in order: while held, no insert's `then` runs, so what is done
    /// under it is seen by every later insert, and every earlier one is in the table.
    pub fn lock_all(&self) -> Vec<MutexGuard<'_, HashMap<u64, R>>> {
        self.shards.iter().map(|s| s.0.lock().unwrap()).collect()
    }

    /// The numbers of the live processes, in no order.
    pub fn numbers(&self) -> Vec<u64> {
        self.lock_all()
            .iter()
            .flat_map(|shard| shard.keys().copied().collect::<Vec<_>>())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_across_shards_and_removal_frees_a_place() {
        let table = Table::default();
        for n in 0..3 {
            assert!(table.insert(n, n, 3, || ()).is_ok());
        }
        assert_eq!(table.insert(3, 3, 3, || ()), Err(3));
        assert_eq!(table.len(), 3);
        assert_eq!(table.remove(1), Some(1));
        assert_eq!(table.remove(1), None);
        assert!(table.insert(200, 200, 3, || ()).is_ok());
        assert_eq!(table.with(200, |r| *r), Some(200));
        let mut numbers = table.numbers();
        numbers.sort();
        assert_eq!(numbers, vec![0, 2, 200]);
    }
}
