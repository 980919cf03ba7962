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
pub(crate) mod remote;
pub(crate) mod spawn_error;
pub(crate) mod stats;
pub(crate) mod table;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use event::{Mailbox, Message};
use exit::{ExitReason, ExitResult};
use host::{Host, HostLimits, SendError, Watchers};
use kind::{Ready, Spawnable};
use names::{NameError, Names};
use output::GuestLog;
use pid::Pid;
use process::Body;
use process::{Args, RunSettings};
use remote::{NameClaim, Remote, RemoteSpawn};
use stats::ProcessStats;

pub use spawn_error::SpawnError;

use crate::executor::ClockKind;
use crate::registry::{EntryConfig, EntryId, Registry};
use crate::value::Value;

/// How the kernel runs processes (the parts of the runtime's options it needs).
#[derive(Clone, Debug)]
pub(crate) struct KernelOptions {
    pub fuel_slice: u64,
    /// The preemption of hosts that do not choose.
    pub preemption: crate::registry::Preemption,
    pub clock: ClockKind,
    pub trace: bool,
    pub network: bool,
    pub blocking_files: bool,
    pub log: GuestLog,
    pub shutdown_timeout: Duration,
    /// The cluster node this runtime is, if any.
    pub node: Option<Arc<str>>,
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
    /// This runtime's cluster node, if it is one.
    node: Option<Arc<str>>,
    /// The other nodes, once the cluster is joined.
    remote: OnceLock<Arc<dyn Remote>>,
    me: Weak<Kernel>,
}

/// A registration: done here, or claimed in the cluster and answered later.
pub(crate) enum Registration {
    Done(Result<(), NameError>),
    Pending(NameClaim),
}

impl Registration {
    /// Waits for the answer (for callers on a thread of their own, not a worker).
    pub fn wait(self) -> Result<(), NameError> {
        match self {
            Registration::Done(result) => result,
            Registration::Pending(claim) => futures_lite::future::block_on(claim),
        }
    }

    /// Answers now with the local result; a cluster claim goes on in the background on
    /// `kernel`'s cluster thread, and if another node holds the name, the local name is
    /// dropped (with a warning). For callers that cannot wait (a wasm host function).
    pub fn detach(self, kernel: &Kernel) -> Result<(), NameError> {
        match self {
            Registration::Done(result) => result,
            Registration::Pending(claim) => {
                if let Some(remote) = kernel.remote.get() {
                    remote.detach(Box::pin(async move {
                        if let Err(e) = claim.await {
                            tracing::warn!("{e}");
                        }
                    }));
                }
                Ok(())
            }
        }
    }

    pub async fn answer(self) -> Result<(), NameError> {
        match self {
            Registration::Done(result) => result,
            Registration::Pending(claim) => claim.await,
        }
    }
}

/// Where a spawn runs: here (already started) or on another node (started when it
/// answers).
pub(crate) enum Spawned {
    Here(Result<Pid, SpawnError>),
    There(RemoteSpawn),
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
                blocking_files: options.blocking_files,
                log: options.log.clone(),
                node: options.node.clone(),
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
            node: options.node.clone(),
            remote: OnceLock::new(),
            me: me.clone(),
        }))
    }

    pub fn host(&self, id: &str) -> Option<&Arc<Host>> {
        self.hosts_by_name.get(id)
    }

    /// The local host `pid` runs on; `None` for a process of another node.
    pub fn host_of(&self, pid: &Pid) -> Option<&Arc<Host>> {
        if !self.is_local(pid) {
            return None;
        }
        self.hosts.get(&pid.host)
    }

    /// Joins the cluster: from now on, PIDs of other nodes are reached through `remote`.
    pub fn attach_remote(&self, remote: Arc<dyn Remote>) {
        let _ = self.remote.set(remote);
    }

    fn is_local(&self, pid: &Pid) -> bool {
        match (&pid.node, &self.node) {
            (None, _) => true,
            (Some(theirs), Some(ours)) => theirs == ours,
            (Some(_), None) => false,
        }
    }

    /// The cluster, for a PID of another node.
    fn remote_for(&self, pid: &Pid) -> Option<&Arc<dyn Remote>> {
        if self.is_local(pid) {
            return None;
        }
        self.remote.get()
    }

    /// Parses a PID as written; one written without a node is this node's.
    pub fn parse_pid(&self, text: &str) -> Option<Pid> {
        let mut pid = Pid::parse(text)?;
        if pid.node.is_none() {
            pid.node = self.node.clone();
        }
        Some(pid)
    }

    /// Starts a process of `entry` on `host`, here, or on another node when `host` is
    /// written `node@host`.
    pub fn spawn_anywhere(
        &self,
        entry: &str,
        host: &str,
        args: Args,
        watchers: Watchers,
    ) -> Spawned {
        match host.split_once('@') {
            Some((node, host)) if Some(node) != self.node.as_deref() => match self.remote.get() {
                Some(remote) => Spawned::There(remote.spawn(node, entry, host, args, watchers)),
                None => Spawned::Here(Err(SpawnError::Remote(format!(
                    "cannot spawn on node {node}: this runtime is not a cluster node (configure a cluster.nats entry or pass --nats)"
                )))),
            },
            _ => Spawned::Here(self.spawn(entry, host, args, watchers)),
        }
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
        let host = match host.split_once('@') {
            Some((node, host)) if Some(node) == self.node.as_deref() => host,
            Some((node, _)) => {
                return Err(SpawnError::Remote(format!(
                    "cannot spawn on node {node} from here: a spawn on another node waits for its answer, which only Lua's process.spawn does"
                )))
            }
            None => host,
        };
        let host = self
            .host(host)
            .ok_or_else(|| SpawnError::UnknownHost(host.to_owned()))?;
        let me = self.me.clone();
        Ok(
            host.spawn(body, watchers, inbox, move |pid, result, linked| {
                if let Some(kernel) = me.upgrade() {
                    kernel.names.release(pid);
                    if !result.is_ok() {
                        kernel.tell_linked(pid, result, &linked);
                    }
                    if let Some(remote) = kernel.remote.get() {
                        remote.forget(pid, &linked, result.is_ok());
                    }
                }
            })?,
        )
    }

    fn tell_linked(&self, from: &Pid, result: &ExitResult, linked: &[Pid]) {
        for pid in linked {
            if let Some(remote) = self.remote_for(pid) {
                remote.link_down(pid, from, result);
            } else if let Some(host) = self.host_of(pid) {
                host.link_down(pid, from, result);
            }
        }
    }

    /// Gives `name` to the live local process `pid`; in a cluster, the name is claimed
    /// cluster-wide, which is answered later (and undone here if another node holds it).
    pub fn register(&self, name: &str, pid: &Pid) -> Registration {
        if let Err(e) = self.names.register(name, pid, || self.stats(pid).is_some()) {
            return Registration::Done(Err(e));
        }
        let Some(remote) = self.remote.get() else {
            return Registration::Done(Ok(()));
        };
        let claim = remote.claim(name, pid);
        let me = self.me.clone();
        let name = name.to_owned();
        Registration::Pending(Box::pin(async move {
            let claimed = claim.await;
            if claimed.is_err() {
                if let Some(kernel) = me.upgrade() {
                    kernel.names.unregister(&name);
                }
            }
            claimed
        }))
    }

    /// The process holding `name`: here, else anywhere in the cluster.
    pub fn lookup(&self, name: &str) -> Option<Pid> {
        self.names
            .lookup(name)
            .or_else(|| self.remote.get()?.lookup(name))
    }

    pub fn unregister(&self, name: &str) -> bool {
        let here = self.names.unregister(name);
        match self.remote.get() {
            Some(remote) => remote.unclaim(name) || here,
            None => here,
        }
    }

    /// A destination as written: a PID (`{host|n}`) or a registered name.
    pub fn resolve(&self, target: &str) -> Option<Pid> {
        if target.starts_with('{') {
            self.parse_pid(target)
        } else {
            self.lookup(target)
        }
    }

    pub fn terminate(&self, pid: &Pid) -> bool {
        if let Some(remote) = self.remote_for(pid) {
            return remote.terminate(pid);
        }
        self.host_of(pid)
            .is_some_and(|h| h.kill(pid, ExitReason::Terminated))
    }

    /// `from` is the cancelling process, if a process asked.
    pub fn cancel(&self, pid: &Pid, from: Option<&Pid>, reason: &str) -> bool {
        if let Some(remote) = self.remote_for(pid) {
            return remote.cancel(pid, from.unwrap_or(pid), reason);
        }
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
        if let Some(remote) = self.remote_for(pid) {
            let message = Message {
                from: from.cloned(),
                topic: topic.to_owned(),
                payload,
            };
            return remote.send(pid, message);
        }
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
        if let Some(remote) = self.remote_for(pid) {
            return remote.watch(pid, watchers);
        }
        let remote_link = match (&watchers.linked_pid, self.remote.get()) {
            (Some(linked), Some(remote)) if !self.is_local(linked) => {
                Some((remote, linked.clone()))
            }
            _ => None,
        };
        let watched = self.host_of(pid).is_some_and(|h| h.watch(pid, watchers));
        if let (true, Some((remote, linked))) = (watched, remote_link) {
            remote.track_link(pid, &linked);
        }
        watched
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
        if let Some(remote) = self.remote_for(pid) {
            return remote.unwatch(pid, mailbox, false, None);
        }
        self.host_of(pid).is_some_and(|h| h.unmonitor(pid, mailbox))
    }

    pub fn unlink(&self, pid: &Pid, mailbox: &Mailbox, linked_pid: Option<&Pid>) -> bool {
        if let Some(remote) = self.remote_for(pid) {
            return remote.unwatch(pid, mailbox, true, linked_pid);
        }
        if let (Some(linked), Some(remote)) = (linked_pid, self.remote.get()) {
            if !self.is_local(linked) {
                remote.untrack_link(pid, linked);
            }
        }
        self.host_of(pid)
            .is_some_and(|h| h.unlink(pid, mailbox, linked_pid))
    }

    /// A process of another node linked to the local `pid` failed (or its node went
    /// down).
    pub fn link_down(&self, pid: &Pid, from: &Pid, result: &ExitResult) {
        if let Some(host) = self.host_of(pid) {
            host.link_down(pid, from, result);
        }
    }

    /// Live processes per host, by host ID.
    pub fn load(&self) -> std::collections::BTreeMap<String, usize> {
        self.hosts_by_name
            .iter()
            .map(|(name, host)| (name.clone(), host.live()))
            .collect()
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
