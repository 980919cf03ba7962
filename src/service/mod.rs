//! `process.service` entries (SPEC §8): a service runs one process of any kind under a
//! supervisor that restarts it with backoff when it fails. [`Services`] starts them in
//! `requires` order (the application mode starts every `auto_start` one) and stops them
//! in reverse.
//!
//! Each running service is supervised by a process of its own on the service's host
//! (`supervise.rs`): the supervisor waits on its inbox like any process, so restarts
//! cost no thread, follow the host's clock (exact under virtual time), and end with the
//! host. The kernel knows nothing of services: it runs the supervisor as a body.

mod status;
mod supervise;

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use status::Board;
pub use status::{ServiceChange, ServiceState, ServiceStatus};
use supervise::{supervise, Spec};

use crate::kernel::host::Watchers;
use crate::kernel::pid::Pid;
use crate::kernel::process::ProcessCtx;
use crate::kernel::{Kernel, SpawnError};
use crate::registry::{EntryConfig, EntryId, Registry};
use crate::value::Value;

/// Why a service did not start.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// No `process.service` entry has this ID.
    #[error("service not found: {0}")]
    Unknown(String),
    /// Its supervisor could not be spawned (its host is full or shutting down).
    #[error("service {service}: cannot start its supervisor: {error}")]
    Spawn {
        /// The service.
        service: String,
        /// Why.
        error: SpawnError,
    },
    /// It was not Running within `start_timeout`.
    #[error("service {service} did not start within {timeout:?} (it is {state})")]
    StartTimeout {
        /// The service.
        service: String,
        /// Its `start_timeout`.
        timeout: Duration,
        /// Its state then.
        state: ServiceState,
    },
}

/// The project's services, and the supervisors of those that run.
pub(crate) struct Services {
    kernel: Weak<Kernel>,
    specs: HashMap<EntryId, Arc<Spec>>,
    /// Declaration order, for a stable start order.
    declared: Vec<EntryId>,
    board: Arc<Board>,
    /// Supervisors of started services, in the order they started.
    started: Mutex<Vec<(EntryId, Pid)>>,
}

impl Services {
    pub fn new(registry: &Registry, kernel: &Arc<Kernel>) -> Self {
        let mut specs = HashMap::new();
        let mut declared = Vec::new();
        for entry in registry.entries() {
            let EntryConfig::Service(s) = &entry.config else {
                continue;
            };
            declared.push(entry.id.clone());
            specs.insert(
                entry.id.clone(),
                Arc::new(Spec {
                    id: entry.id.clone(),
                    process: s.process.to_string(),
                    host: s.host.to_string(),
                    input: s.input.iter().map(Value::from_yaml).collect(),
                    lifecycle: s.lifecycle.clone(),
                }),
            );
        }
        Self {
            kernel: Arc::downgrade(kernel),
            specs,
            declared,
            board: Arc::default(),
            started: Mutex::default(),
        }
    }

    /// Every service with `auto_start`, with what they require, in `requires` order.
    pub fn auto_started(&self) -> Vec<EntryId> {
        let roots: Vec<&EntryId> = self
            .declared
            .iter()
            .filter(|id| self.specs[*id].lifecycle.auto_start)
            .collect();
        self.start_order(roots)
    }

    /// `roots` and the services they require, each after what it requires. The registry
    /// refused cycles at load, so this terminates; `seen` guards anyway.
    fn start_order(&self, roots: Vec<&EntryId>) -> Vec<EntryId> {
        fn visit(
            services: &Services,
            id: &EntryId,
            seen: &mut Vec<EntryId>,
            order: &mut Vec<EntryId>,
        ) {
            if seen.contains(id) {
                return;
            }
            seen.push(id.clone());
            let Some(spec) = services.specs.get(id) else {
                // A host or an inert entry: hosts run from the start.
                return;
            };
            for dep in &spec.lifecycle.requires {
                visit(services, dep, seen, order);
            }
            order.push(id.clone());
        }
        let (mut seen, mut order) = (Vec::new(), Vec::new());
        for id in roots {
            visit(self, id, &mut seen, &mut order);
        }
        order
    }

    /// Starts `id` after the services it requires, waiting for each to be Running (up
    /// to its `start_timeout`). Services already running are left alone. Returns the
    /// services started, in order.
    pub fn start(&self, id: &EntryId) -> Result<Vec<EntryId>, ServiceError> {
        if !self.specs.contains_key(id) {
            return Err(ServiceError::Unknown(id.to_string()));
        }
        let order = self.start_order(vec![id]);
        self.start_in_order(&order)?;
        Ok(order)
    }

    /// Starts every service in `order`, which must put requirements first.
    pub fn start_in_order(&self, order: &[EntryId]) -> Result<(), ServiceError> {
        for id in order {
            self.start_one(id)?;
        }
        Ok(())
    }

    fn start_one(&self, id: &EntryId) -> Result<(), ServiceError> {
        let spec = self
            .specs
            .get(id)
            .ok_or_else(|| ServiceError::Unknown(id.to_string()))?
            .clone();
        {
            let mut started = self.started.lock().unwrap();
            let running = started.iter().any(|(s, _)| s == id)
                && self.board.status(id).is_some_and(|s| !s.state.is_final());
            if running {
                return Ok(());
            }
            started.retain(|(s, _)| s != id);
            // Starting before the supervisor exists, so the wait below cannot read the
            // state an earlier run of the service left.
            self.board.record(ServiceChange {
                service: id.clone(),
                state: ServiceState::Starting,
                pid: None,
                error: None,
                restart_in: None,
                restarts: 0,
                at: crate::executor::try_now(),
            });
            let kernel = self.kernel.upgrade().ok_or_else(|| ServiceError::Spawn {
                service: id.to_string(),
                error: SpawnError::UnknownHost(spec.host.clone()),
            })?;
            let (weak, board, body_spec) = (self.kernel.clone(), self.board.clone(), spec.clone());
            let body = Box::new(move |ctx: ProcessCtx| {
                Box::pin(supervise(body_spec, weak, board, ctx))
                    as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>
            });
            let pid = match kernel.spawn_body(&spec.host, body, Some(true), Watchers::default()) {
                Ok(pid) => pid,
                Err(error) => {
                    self.board.record(ServiceChange {
                        service: id.clone(),
                        state: ServiceState::Failed,
                        pid: None,
                        error: Some(format!("cannot start its supervisor: {error}")),
                        restart_in: None,
                        restarts: 0,
                        at: crate::executor::try_now(),
                    });
                    return Err(ServiceError::Spawn {
                        service: id.to_string(),
                        error,
                    });
                }
            };
            started.push((id.clone(), pid));
        }
        let timeout = spec.lifecycle.start_timeout;
        let state = self
            .board
            .wait(id, timeout, |s| s != ServiceState::Starting);
        match state {
            Some(ServiceState::Starting) | None => Err(ServiceError::StartTimeout {
                service: id.to_string(),
                timeout,
                state: state.unwrap_or(ServiceState::Starting),
            }),
            Some(_) => Ok(()),
        }
    }

    /// Stops `id`: CANCEL to its process, terminate after `stop_timeout`; waits until it
    /// is Stopped (or had already ended). False if it was never started.
    pub fn stop(&self, id: &EntryId) -> bool {
        let supervisor = self
            .started
            .lock()
            .unwrap()
            .iter()
            .find(|(s, _)| s == id)
            .map(|(_, pid)| pid.clone());
        let (Some(supervisor), Some(kernel)) = (supervisor, self.kernel.upgrade()) else {
            return false;
        };
        let stop_timeout = self.specs[id].lifecycle.stop_timeout;
        if kernel.cancel(&supervisor, None, "service stopping") {
            // The supervisor terminates its process after `stop_timeout` on its own clock;
            // this is only the backstop should the supervisor itself be stuck.
            let backstop = stop_timeout.saturating_mul(2) + Duration::from_secs(5);
            if self
                .board
                .wait(id, backstop, ServiceState::is_final)
                .is_none_or(|s| !s.is_final())
            {
                kernel.terminate(&supervisor);
                self.board
                    .wait(id, Duration::from_secs(5), ServiceState::is_final);
            }
        }
        true
    }

    /// Stops every started service, the last started first.
    pub fn stop_all(&self) {
        let started: Vec<EntryId> = self
            .started
            .lock()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        for id in started.iter().rev() {
            self.stop(id);
        }
    }

    pub fn status(&self, id: &EntryId) -> Option<ServiceStatus> {
        self.board.status(id)
    }

    pub fn all(&self) -> Vec<(EntryId, ServiceStatus)> {
        self.board.all()
    }

    pub fn subscribe(&self) -> Receiver<ServiceChange> {
        self.board.subscribe()
    }
}
