//! The kernel: hosts and their workers, the process table, process controls (terminate,
//! cancel), mailboxes, events, messages and links. It runs processes of every kind through
//! [`kind::Spawnable`] and names none of them; it does not know wasmtime.

pub(crate) mod bus;
pub(crate) mod event;
pub(crate) mod exit;
pub(crate) mod fd_limit;
pub(crate) mod host;
pub(crate) mod kind;
pub(crate) mod names;
pub(crate) mod output;
pub(crate) mod pid;
pub(crate) mod process;
pub(crate) mod stats;
pub(crate) mod table;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use event::{Mailbox, Message};
use exit::{ExitReason, ExitResult};
use host::{Host, HostFull, HostLimits, SendError, Watchers};
use kind::{Ready, Spawnable};
use names::{NameError, Names};
use output::GuestLog;
use pid::Pid;
use process::Body;
use process::{Args, RunSettings};
use stats::ProcessStats;

use crate::executor::ClockKind;
use crate::registry::{EntryConfig, EntryId, Registry};
use crate::value::Value;

/// Why a spawn was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// No spawnable entry has this ID (or it was left out with
    /// [`RuntimeBuilder::only`](crate::RuntimeBuilder::only)).
    #[error("process entry not found: {0}")]
    UnknownEntry(String),
    /// No `process.host` or `terminal.host` has this ID.
    #[error("process host not found: {0}")]
    UnknownHost(String),
    /// The host runs as many processes as `host.max_processes` allows.
    #[error("{0}")]
    HostFull(#[from] HostFull),
}

/// How the kernel runs processes (the parts of the runtime's options it needs).
#[derive(Clone, Debug)]
pub(crate) struct KernelOptions {
    pub fuel_slice: u64,
    /// The preemption of hosts that do not choose.
    pub preemption: crate::registry::Preemption,
    pub clock: ClockKind,
    pub trace: bool,
    pub network: bool,
    pub log: GuestLog,
    pub shutdown_timeout: Duration,
}

pub(crate) struct Kernel {
    /// Spawnable entries by their full ID text, so a spawn looks its entry up without
    /// parsing or allocating.
    entries: HashMap<String, Arc<dyn Spawnable>>,
    hosts: HashMap<EntryId, Arc<Host>>,
    hosts_by_name: HashMap<String, Arc<Host>>,
    names: Names,
    /// `events.send` / `events.subscribe`.
    pub bus: bus::Bus,
    shutdown_timeout: Duration,
    me: Weak<Kernel>,
}

impl Kernel {
    /// Starts a host for every `process.host` and `terminal.host` in `registry`; `entries`
    /// are what the process kinds prepared.
    pub fn start(
        registry: &Registry,
        entries: Ready,
        options: KernelOptions,
    ) -> Result<Arc<Kernel>, String> {
        let mut hosts = HashMap::new();
        for entry in registry.entries() {
            let (workers, inherit_stdio, limits, preemption) = match &entry.config {
                EntryConfig::ProcessHost(h) => {
                    let default = HostLimits::default();
                    let workers = h.workers.unwrap_or_else(|| {
                        std::thread::available_parallelism()
                            .map(|n| n.get())
                            .unwrap_or(1)
                    });
                    let limits = HostLimits {
                        max_processes: h
                            .max_processes
                            .map_or(default.max_processes, |n| n as usize),
                        mailbox_size: h.mailbox_size.map_or(default.mailbox_size, |n| n as usize),
                    };
                    let preemption = h.preemption.unwrap_or(options.preemption);
                    (workers, false, limits, preemption)
                }
                EntryConfig::TerminalHost(_) => {
                    (1, true, HostLimits::default(), options.preemption)
                }
                _ => continue,
            };
            let settings = Arc::new(RunSettings {
                fuel_slice: options.fuel_slice,
                preemption,
                inherit_stdio,
                trace: options.trace,
                network: options.network,
                log: options.log.clone(),
            });
            match Host::start(entry.id.clone(), workers, settings, options.clock, limits) {
                Ok(host) => {
                    hosts.insert(entry.id.clone(), host);
                }
                Err(e) => {
                    // The hosts already running stop: nothing may outlive a failed start.
                    for host in hosts.values() {
                        host.shutdown(Instant::now() + options.shutdown_timeout);
                    }
                    return Err(format!("cannot start host {}: {e}", entry.id));
                }
            }
        }
        let hosts_by_name = hosts
            .iter()
            .map(|(id, host)| (id.to_string(), host.clone()))
            .collect();
        let entries = entries
            .into_iter()
            .map(|(id, spawnable)| (id.to_string(), spawnable))
            .collect();
        Ok(Arc::new_cyclic(|me| Kernel {
            entries,
            hosts,
            hosts_by_name,
            names: Names::default(),
            bus: bus::Bus::default(),
            shutdown_timeout: options.shutdown_timeout,
            me: me.clone(),
        }))
    }

    pub fn host(&self, id: &str) -> Option<&Arc<Host>> {
        self.hosts_by_name.get(id)
    }

    pub fn host_of(&self, pid: &Pid) -> Option<&Arc<Host>> {
        self.hosts.get(&pid.host)
    }

    /// Starts a process of `entry` on `host`; `watchers` hear of its end.
    pub fn spawn(
        &self,
        entry: &str,
        host: &str,
        args: Args,
        watchers: Watchers,
    ) -> Result<Pid, SpawnError> {
        let spawnable = self
            .entries
            .get(entry)
            .ok_or_else(|| SpawnError::UnknownEntry(entry.to_owned()))?;
        let inbox = spawnable.reads_events().then(|| spawnable.traps_links());
        self.spawn_body(host, spawnable.clone().body(args), inbox, watchers)
    }

    /// Starts `body` as a process on `host`: for what runs as a process without being an
    /// entry of its own (a service's supervisor). `inbox`: none, or one and whether
    /// linked failures arrive in it (`trap_links`).
    pub fn spawn_body(
        &self,
        host: &str,
        body: Body,
        inbox: Option<bool>,
        watchers: Watchers,
    ) -> Result<Pid, SpawnError> {
        let host = self
            .host(host)
            .ok_or_else(|| SpawnError::UnknownHost(host.to_owned()))?;
        let me = self.me.clone();
        Ok(
            host.spawn(body, watchers, inbox, move |pid, result, linked| {
                if let Some(kernel) = me.upgrade() {
                    kernel.names.release(pid);
                    kernel.tell_linked(pid, result, &linked);
                }
            })?,
        )
    }

    fn tell_linked(&self, from: &Pid, result: &ExitResult, linked: &[Pid]) {
        for pid in linked {
            if let Some(host) = self.host_of(pid) {
                host.link_down(pid, from, result);
            }
        }
    }

    /// Gives `name` to the live process `pid`.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), NameError> {
        self.names.register(name, pid, || self.stats(pid).is_some())
    }

    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.names.lookup(name)
    }

    pub fn unregister(&self, name: &str) -> bool {
        self.names.unregister(name)
    }

    /// A destination as written: a PID (`{host|n}`) or a registered name.
    pub fn resolve(&self, target: &str) -> Option<Pid> {
        if target.starts_with('{') {
            Pid::parse(target)
        } else {
            self.names.lookup(target)
        }
    }

    pub fn terminate(&self, pid: &Pid) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.kill(pid, ExitReason::Terminated))
    }

    /// `from` is the cancelling process, if a process asked.
    pub fn cancel(&self, pid: &Pid, from: Option<&Pid>, reason: &str) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.cancel(pid, from.unwrap_or(pid), reason))
    }

    pub fn send(
        &self,
        pid: &Pid,
        from: Option<&Pid>,
        topic: &str,
        payload: Value,
    ) -> Result<(), SendError> {
        let host = self
            .host_of(pid)
            .ok_or_else(|| SendError::NoProcess(pid.to_string()))?;
        host.send(
            pid,
            Message {
                from: from.cloned(),
                topic: topic.to_owned(),
                payload,
            },
        )
    }

    pub fn watch(&self, pid: &Pid, watchers: Watchers) -> bool {
        self.host_of(pid).is_some_and(|h| h.watch(pid, watchers))
    }

    /// When `pid` fails, the process `linked` hears of it (one half of a link).
    pub fn watch_linked(&self, pid: &Pid, linked: &Pid) -> bool {
        self.watch(
            pid,
            Watchers {
                linked_pid: Some(linked.clone()),
                ..Watchers::default()
            },
        )
    }

    /// Links two processes both ways: whichever fails, the other hears of it. False if
    /// `other` has already ended.
    pub fn link(&self, me: &Pid, other: &Pid) -> bool {
        let linked = self.watch_linked(other, me);
        if linked {
            self.watch_linked(me, other);
        }
        linked
    }

    pub fn unmonitor(&self, pid: &Pid, mailbox: &Mailbox) -> bool {
        self.host_of(pid).is_some_and(|h| h.unmonitor(pid, mailbox))
    }

    pub fn unlink(&self, pid: &Pid, mailbox: &Mailbox, linked_pid: Option<&Pid>) -> bool {
        self.host_of(pid)
            .is_some_and(|h| h.unlink(pid, mailbox, linked_pid))
    }

    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.host_of(pid)?.stats(pid)
    }

    /// Terminates every process on every host and waits (up to the shutdown timeout) for
    /// each to Close.
    pub fn shutdown(&self) {
        let deadline = Instant::now() + self.shutdown_timeout;
        for host in self.hosts.values() {
            host.shutdown(deadline);
        }
    }
}

#[cfg(test)]
mod tests;
