//! What every service is doing ([`ServiceStatus`]), and the feed of its changes
//! ([`ServiceChange`]): the embedding API reads the first, the application mode prints
//! the second, and both go to the log.

use std::collections::HashMap;
use std::fmt;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::kernel::pid::Pid;
use crate::registry::EntryId;

/// Where a service is in its life (SPEC §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceState {
    /// Its process is being started, or it waits out the backoff before a restart.
    Starting,
    /// Its process runs.
    Running,
    /// It was asked to stop: its process got CANCEL and has `stop_timeout` to end.
    Stopping,
    /// It was stopped (or its host shut down).
    Stopped,
    /// Its process returned normally: it is not restarted.
    Exited,
    /// Its process failed more times in a row than `restart.max_attempts` allows.
    Failed,
}

impl ServiceState {
    /// Stopped, Exited or Failed: nothing runs and nothing will restart it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Stopped | Self::Exited | Self::Failed)
    }

    /// Its name in log lines and Lua: `starting`, `running`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Exited => "exited",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service as it is now.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServiceStatus {
    /// Its state.
    pub state: ServiceState,
    /// Its process, while one runs.
    pub pid: Option<Pid>,
    /// Restarts since it was started (they go on after the counter of failures in a row
    /// is reset by `stable_threshold`).
    pub restarts: u32,
    /// How its last process failed, if one did.
    pub error: Option<String>,
}

/// One change of a service's state, as the application mode prints it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ServiceChange {
    /// The `process.service` entry.
    pub service: EntryId,
    /// Its new state.
    pub state: ServiceState,
    /// Its process (Running: the new one; Exited, Failed, Stopped: the one that ended).
    pub pid: Option<Pid>,
    /// How the process failed: set on a restart (state Starting) and on Failed.
    pub error: Option<String>,
    /// Starting after a failure: the backoff delay before the restart.
    pub restart_in: Option<Duration>,
    /// Restarts so far.
    pub restarts: u32,
    /// When, on the clock of the worker that supervises it (virtual under a virtual
    /// clock, so tests can measure backoff exactly).
    pub at: Instant,
}

impl fmt::Display for ServiceChange {
    /// One line: `service app:db: running {app:processes|3}`, `service app:db: failed
    /// (<error>); restart 2 in 2s`, `service app:db: failed: gave up after ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service {}: ", self.service)?;
        match (&self.error, self.restart_in) {
            (Some(e), Some(delay)) => {
                return write!(
                    f,
                    "failed ({e}); restart {} in {delay:?}",
                    self.restarts + 1
                )
            }
            _ => write!(f, "{}", self.state)?,
        }
        if let Some(pid) = self
            .pid
            .as_ref()
            .filter(|_| self.state == ServiceState::Running)
        {
            write!(f, " {pid}")?;
        }
        match &self.error {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
struct Shared {
    statuses: HashMap<EntryId, ServiceStatus>,
    feeds: Vec<Sender<ServiceChange>>,
}

/// Every service's status, and who listens for changes.
#[derive(Default)]
pub(crate) struct Board {
    shared: Mutex<Shared>,
    changed: Condvar,
}

impl Board {
    pub fn record(&self, change: ServiceChange) {
        // Info, not warn: the application mode prints every change itself.
        tracing::info!("{change}");
        let mut shared = self.shared.lock().unwrap();
        let restarts = change.restarts;
        let status = shared
            .statuses
            .entry(change.service.clone())
            .or_insert(ServiceStatus {
                state: change.state,
                pid: None,
                restarts,
                error: None,
            });
        status.state = change.state;
        status.restarts = restarts;
        status.pid = match change.state {
            ServiceState::Running | ServiceState::Stopping => change.pid.clone(),
            _ => None,
        };
        if change.error.is_some() {
            status.error = change.error.clone();
        }
        shared
            .feeds
            .retain(|feed| feed.send(change.clone()).is_ok());
        drop(shared);
        self.changed.notify_all();
    }

    pub fn status(&self, id: &EntryId) -> Option<ServiceStatus> {
        self.shared.lock().unwrap().statuses.get(id).cloned()
    }

    pub fn all(&self) -> Vec<(EntryId, ServiceStatus)> {
        let mut all: Vec<_> = self
            .shared
            .lock()
            .unwrap()
            .statuses
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// A feed of every change from now on.
    pub fn subscribe(&self) -> Receiver<ServiceChange> {
        let (tx, rx) = channel();
        self.shared.lock().unwrap().feeds.push(tx);
        rx
    }

    /// Blocks until `id`'s state satisfies `done` or `timeout` passes; returns the state.
    pub fn wait(
        &self,
        id: &EntryId,
        timeout: Duration,
        done: impl Fn(ServiceState) -> bool,
    ) -> Option<ServiceState> {
        let deadline = Instant::now().checked_add(timeout);
        let mut shared = self.shared.lock().unwrap();
        loop {
            let state = shared.statuses.get(id).map(|s| s.state);
            if state.is_some_and(&done) {
                return state;
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return state;
            }
            shared = match left {
                Some(left) => self.changed.wait_timeout(shared, left).unwrap().0,
                None => self.changed.wait(shared).unwrap(),
            };
        }
    }
}
