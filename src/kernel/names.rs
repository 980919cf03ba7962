//! Process names (`register`, `lookup`, `unregister`): a name belongs to one live process
//! and is released when that process ends, so a lookup never returns a dead PID for long.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use super::pid::Pid;

/// The longest name accepted, in bytes (Wippy's PID limit: a name stands where a PID may).
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// Why a name was not registered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// Another process holds the name.
    #[error("name {name:?} is already registered to {holder}")]
    Taken {
        /// The name asked for.
        name: String,
        /// The process that holds it.
        holder: String,
    },
    /// The process has ended (or never existed).
    #[error("process not found: {0}")]
    NoProcess(String),
    /// The cluster's name bucket could not be reached or refused the claim.
    #[error("cannot register name {name:?} in the cluster: {reason}")]
    Cluster {
        /// The name asked for.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// Empty, longer than 1024 bytes, or shaped like a PID (`{...}`).
    #[error("invalid name {0:?}: a name is 1-1024 bytes and does not start with '{{'")]
    Invalid(String),
}

#[derive(Default)]
struct Table {
    by_name: HashMap<String, Pid>,
    by_pid: HashMap<Pid, Vec<String>>,
}

#[derive(Default)]
pub(crate) struct Names {
    table: Mutex<Table>,
    /// Names held, plus registrations under way. Every process end releases its names,
    /// and most processes hold none: while this is 0, a release takes no lock (one lock
    /// shared by every worker, taken at every exit, was a cost of spawning on several
    /// workers at once). Sound because `register`'s `alive` looks at the host's table
    /// under the lock its exit path removes the process under: a registration counts
    /// itself, then asks `alive`; a release runs after that removal. If the count came
    /// first, the removal's lock orders it before the release, which then sees it; if the
    /// removal came first, `alive` sees the process gone and the registration fails.
    named: AtomicUsize,
}

impl Names {
    /// Gives `name` to `pid` if it is free; `alive` is asked under the table's lock, so a
    /// name cannot be registered to a process that has already been released. `alive` must
    /// read the host's table under the lock that removes the process at its end (see
    /// `named`).
    pub fn register(
        &self,
        name: &str,
        pid: &Pid,
        alive: impl FnOnce() -> bool,
    ) -> Result<(), NameError> {
        if name.is_empty() || name.len() > MAX_NAME_BYTES || name.starts_with('{') {
            return Err(NameError::Invalid(name.to_owned()));
        }
        let mut t = self.table.lock().unwrap();
        if let Some(holder) = t.by_name.get(name) {
            return Err(NameError::Taken {
                name: name.to_owned(),
                holder: holder.to_string(),
            });
        }
        self.named.fetch_add(1, SeqCst);
        if !alive() {
            self.named.fetch_sub(1, SeqCst);
            return Err(NameError::NoProcess(pid.to_string()));
        }
        t.by_name.insert(name.to_owned(), pid.clone());
        t.by_pid
            .entry(pid.clone())
            .or_default()
            .push(name.to_owned());
        Ok(())
    }

    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.table.lock().unwrap().by_name.get(name).cloned()
    }

    /// Frees `name`; false if nobody held it.
    pub fn unregister(&self, name: &str) -> bool {
        let mut t = self.table.lock().unwrap();
        let Some(pid) = t.by_name.remove(name) else {
            return false;
        };
        self.named.fetch_sub(1, SeqCst);
        if let Some(names) = t.by_pid.get_mut(&pid) {
            names.retain(|n| n != name);
            if names.is_empty() {
                t.by_pid.remove(&pid);
            }
        }
        true
    }

    /// Frees every name `pid` held (it has ended).
    pub fn release(&self, pid: &Pid) {
        if self.named.load(SeqCst) == 0 {
            return;
        }
        let mut t = self.table.lock().unwrap();
        if let Some(names) = t.by_pid.remove(pid) {
            self.named.fetch_sub(names.len(), SeqCst);
            for name in names {
                t.by_name.remove(&name);
            }
        }
    }
}
