//! A runtime as a node of a cluster: processes on other nodes are addressed, watched,
//! linked, messaged and spawned as if they were local, through NATS. This module
//! implements the kernel's [`Remote`]; the kernel names neither NATS nor this module.
//!
//! - [`link`]: the NATS connection, on its own thread.
//! - [`wire`]: what nodes say to each other.
//! - [`peers`]: which nodes are alive (the failure detector).
//!
//! Delivery is at most once, as in Erlang: a message to a process that has ended, or
//! that is lost while a node is cut off from the server, is dropped without an error to
//! the sender. What a program can rely on: messages from one process to another arrive in
//! the order they were sent, and every monitor of a remote process hears of its end,
//! either from its node or, when that node stops answering, as `node down: <node>`.

pub(crate) mod link;
pub(crate) mod names;
pub(crate) mod peers;
pub(crate) mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use crate::kernel::event::{Event, EventKind, Mailbox, Message};
use crate::kernel::exit::{ExitReason, ExitResult};
use crate::kernel::host::{SendError, Watchers};
use crate::kernel::names::NameError;
use crate::kernel::pid::Pid;
use crate::kernel::process::Args;
use crate::kernel::remote::{NameClaim, Remote, RemoteSpawn};
use crate::kernel::{Kernel, SpawnError};

use link::{node_subject, Connect, Link, Node};
use peers::Peers;
use wire::{Frame, Heartbeat, WireResult, WireValue};

/// How to join a cluster: [`RuntimeBuilder::cluster`](crate::RuntimeBuilder::cluster),
/// or a `cluster.nats` registry entry.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// NATS server addresses (`nats://127.0.0.1:4222`).
    pub urls: Vec<String>,
    /// This node's name: 1 to 64 letters, digits, `-` or `_`. Unset: the machine's host
    /// name.
    pub node: Option<String>,
    /// How often this node says it is alive; silent for 3 of them, it is declared down.
    pub heartbeat: Duration,
    /// A token for the servers.
    pub token: Option<String>,
    /// A user and password for the servers.
    pub user: Option<(String, String)>,
}

impl ClusterOptions {
    /// Join through the NATS servers at `urls`, with a 1 s heartbeat.
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self {
            urls: urls.into_iter().map(Into::into).collect(),
            node: None,
            heartbeat: Duration::from_secs(1),
            token: None,
            user: None,
        }
    }

    /// The node's name, or the machine's host name made a valid one.
    pub(crate) fn node_name(&self) -> String {
        if let Some(node) = &self.node {
            return node.clone();
        }
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
        // or truncates.
        let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
        let raw = if ok {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            String::new()
        };
        let name: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        if name.is_empty() {
            "node".into()
        } else {
            name
        }
    }
}

/// Placement: `*@host` spawns on the least-loaded live node that runs `host`.
pub(crate) const ANY_NODE: &str = "*";

/// This node in the cluster. Dropping it does not leave: [`Cluster::leave`] does.
pub(crate) struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    me: Weak<Inner>,
    node: Arc<str>,
    kernel: Weak<Kernel>,
    link: OnceLock<Link>,
    state: Mutex<State>,
    /// Distinguishes this run from another node started with the same name.
    instance: u64,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Watches this node's mailboxes hold on other nodes' processes, by id.
    watching: HashMap<u64, Watching>,
    /// Local processes linked to processes of other nodes.
    links: HashMap<Pid, Vec<Pid>>,
    /// Forwarders this node holds for other nodes' watchers: (node, id) -> watched pid.
    forwarders: HashMap<(Arc<str>, u64), (Pid, Mailbox)>,
    /// The forwarders of each local process (some may have fired or been undone since),
    /// so its end can tell the watchers' nodes what will never fire.
    forwarded: HashMap<Pid, Vec<(Arc<str>, u64)>>,
    /// Spawns waiting for their node's answer, by request id.
    pending: HashMap<u64, Pending>,
    peers: Option<Peers>,
    /// The names bucket, as last seen.
    names: names::Replica,
    /// Names claimed by local processes, to free at their end.
    claimed: HashMap<Pid, Vec<String>>,
}

struct Watching {
    node: Arc<str>,
    /// `None` until the spawn that made it is answered.
    pid: Option<Pid>,
    mailbox: Mailbox,
    link_down: bool,
}

struct Pending {
    node: Arc<str>,
    since: Instant,
    watches: Vec<u64>,
    /// The spawning process, when the child is linked to it.
    linked: Option<Pid>,
    reply: tokio::sync::oneshot::Sender<Result<Pid, SpawnError>>,
}

/// How long a spawn waits for its node's answer, when the node still heartbeats.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    node: String,
    instance: u64,
    frame: Frame,
}

impl Cluster {
    /// Connects to the servers and starts answering as `node`.
    pub fn join(
        kernel: &Arc<Kernel>,
        options: &ClusterOptions,
        node: Arc<str>,
    ) -> Result<Cluster, String> {
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            node: node.clone(),
            kernel: Arc::downgrade(kernel),
            link: OnceLock::new(),
            state: Mutex::new(State {
                peers: Some(Peers::new(options.heartbeat)),
                // Not from 0: a frame from a previous run of a node that restarted
                // quickly must not match a watch of this run.
                next_id: fastrand::u64(..u64::MAX / 2),
                ..State::default()
            }),
            instance: fastrand::u64(..),
        });
        let link = Link::start(
            Connect {
                urls: options.urls.clone(),
                node: node.to_string(),
                token: options.token.clone(),
                user: options.user.clone(),
                heartbeat: options.heartbeat,
            },
            link::weak_node(&inner),
        )?;
        let _ = inner.link.set(link);
        Ok(Cluster { inner })
    }

    /// The kernel's view of the other nodes.
    pub fn remote(&self) -> Arc<dyn Remote> {
        self.inner.clone()
    }

    /// Tells every known node this one is leaving (its watchers then hear `node down`
    /// at once instead of after the silence), and closes the connection. Call after the
    /// kernel has shut down, so the EXITs of this node's processes went out first.
    pub fn leave(&self) {
        let peers: Vec<String> = {
            let state = self.inner.state.lock().unwrap();
            state.peers.as_ref().map(|p| p.names()).unwrap_or_default()
        };
        let last = peers
            .iter()
            .filter(|p| **p != *self.inner.node)
            .filter_map(|p| Some((node_subject(p), self.inner.encode(Frame::Bye)?)))
            .collect();
        if let Some(link) = self.inner.link.get() {
            link.leave(last);
        }
    }
}

impl Inner {
    fn kernel(&self) -> Option<Arc<Kernel>> {
        self.kernel.upgrade()
    }

    fn encode(&self, frame: Frame) -> Option<Vec<u8>> {
        let envelope = Envelope {
            node: self.node.to_string(),
            instance: self.instance,
            frame,
        };
        serde_json::to_vec(&envelope).ok()
    }

    /// Sends `frame` to `node`; the error says why it could not go.
    fn post(&self, node: &str, frame: Frame) -> Result<(), String> {
        let Some(link) = self.link.get() else {
            return Err("the cluster link is not connected".into());
        };
        let bytes = self
            .encode(frame)
            .ok_or_else(|| "a frame could not be encoded".to_owned())?;
        if bytes.len() > link.max_payload {
            return Err(format!(
                "the message is {} bytes; the cluster carries at most {} (the NATS server's max_payload)",
                bytes.len(),
                link.max_payload
            ));
        }
        link.publish(node_subject(node), bytes)
    }

    fn node_of<'p>(&self, pid: &'p Pid) -> &'p str {
        pid.node.as_deref().unwrap_or_default()
    }

    fn is_down(&self, node: &str) -> bool {
        let state = self.state.lock().unwrap();
        state.peers.as_ref().is_some_and(|p| p.is_down(node))
    }

    /// Watch ids for a local watcher's mailboxes on `node`, recorded before the request
    /// goes out (so an answer that overtakes it still finds its mailbox); `None` when the
    /// node is down. Checked and recorded under one lock, so a node declared down meanwhile
    /// cannot leave a watch behind that nothing will answer.
    fn watch_ids(
        state: &mut State,
        node: &str,
        pid: Option<&Pid>,
        watchers: &Watchers,
    ) -> Option<(Option<u64>, Option<u64>)> {
        if let Some(peers) = state.peers.as_mut() {
            if peers.is_down(node) {
                return None;
            }
            peers.expect(node, Instant::now());
        }
        let node: Arc<str> = Arc::from(node);
        let mut add = |mailbox: &Option<Mailbox>, link_down: bool| {
            let mailbox = mailbox.as_ref()?;
            state.next_id += 1;
            let id = state.next_id;
            state.watching.insert(
                id,
                Watching {
                    node: node.clone(),
                    pid: pid.cloned(),
                    mailbox: mailbox.clone(),
                    link_down,
                },
            );
            Some(id)
        };
        let monitor = add(&watchers.monitor, false);
        let link = add(&watchers.link, true);
        Some((monitor, link))
    }

    /// The watchers a watch request from `node` asks for: forwarding mailboxes that send
    /// the event back, recorded so they can be undone.
    fn forwarders(
        self: &Arc<Self>,
        node: &Arc<str>,
        pid: &Pid,
        monitor: Option<u64>,
        link: Option<u64>,
        linked: Option<&str>,
    ) -> Watchers {
        let kernel = self.kernel();
        let linked_pid = linked
            .and_then(|text| kernel.as_ref()?.parse_pid(text))
            .filter(|p| p.node.as_deref() == Some(&**node));
        let make = |id: Option<u64>| {
            let id = id?;
            let me = Arc::downgrade(self);
            let to = node.clone();
            let mailbox = Mailbox::forwarding(Box::new(move |event: Event| {
                if let Some(me) = me.upgrade() {
                    me.state
                        .lock()
                        .unwrap()
                        .forwarders
                        .remove(&(to.clone(), id));
                    let frame = Frame::Event {
                        id,
                        link_down: event.kind == EventKind::LinkDown,
                        from: event.from.to_string(),
                        result: WireResult::from_result(&event.result),
                    };
                    let _ = me.post(&to, frame);
                }
            }));
            let mut state = self.state.lock().unwrap();
            state
                .forwarders
                .insert((node.clone(), id), (pid.clone(), mailbox.clone()));
            // The spawn path indexes its child once it exists.
            if pid.n != 0 {
                state
                    .forwarded
                    .entry(pid.clone())
                    .or_default()
                    .push((node.clone(), id));
            }
            Some(mailbox)
        };
        Watchers {
            monitor: make(monitor),
            link: make(link),
            linked_pid,
        }
    }

    /// A watch or spawn from `node` found no process: its watchers hear so at once.
    fn report_missing(&self, node: &Arc<str>, pid_text: &str, watchers: &Watchers) {
        let result = ExitResult::from(ExitReason::failed(format!("process not found: {pid_text}")));
        let mut state = self.state.lock().unwrap();
        let ids: Vec<(u64, bool)> = state
            .forwarders
            .iter()
            .filter(|(_, (_, m))| {
                [&watchers.monitor, &watchers.link]
                    .into_iter()
                    .flatten()
                    .any(|w| w.same(m))
            })
            .map(|((_, id), (_, m))| (*id, watchers.link.as_ref().is_some_and(|l| l.same(m))))
            .collect();
        for (id, _) in &ids {
            state.forwarders.remove(&(node.clone(), *id));
        }
        drop(state);
        for (id, link_down) in ids {
            let _ = self.post(
                node,
                Frame::Event {
                    id,
                    link_down,
                    from: pid_text.to_owned(),
                    result: WireResult::from_result(&result),
                },
            );
        }
        if let Some(linked) = &watchers.linked_pid {
            let _ = self.post(
                node,
                Frame::LinkDown {
                    pid: linked.to_string(),
                    from: pid_text.to_owned(),
                    result: WireResult::from_result(&result),
                },
            );
        }
    }

    fn handle(self: &Arc<Self>, envelope: Envelope) {
        let Some(kernel) = self.kernel() else { return };
        let from: Arc<str> = Arc::from(envelope.node.as_str());
        // A frame from a new run of a node that was up: its old run is gone, and what
        // watched it must hear so before this run's frames are acted on.
        let restarted = {
            let mut state = self.state.lock().unwrap();
            state
                .peers
                .as_mut()
                .is_some_and(|p| p.note_instance(&from, envelope.instance))
        };
        if restarted {
            tracing::warn!(target: "wippy::cluster", "node {from} restarted");
            self.node_down(&from, false);
        }
        let from_there = |pid: &Pid| pid.node.as_deref() == Some(&*from);
        match envelope.frame {
            Frame::Send {
                to,
                from: sender,
                topic,
                payload,
            } => {
                let Some(to) = kernel.parse_pid(&to) else {
                    return;
                };
                let sender = sender.and_then(|s| kernel.parse_pid(&s));
                if !self.is_mine(&to) {
                    return;
                }
                // At most once: a send to a process that has ended is dropped.
                let _ = kernel.send(&to, sender.as_ref(), &topic, payload.into_value());
            }
            Frame::Watch {
                pid,
                monitor,
                link,
                linked,
            } => {
                let Some(target) = kernel.parse_pid(&pid).filter(|p| self.is_mine(p)) else {
                    return;
                };
                let watchers = self.forwarders(&from, &target, monitor, link, linked.as_deref());
                if !kernel.watch(&target, watchers.clone()) {
                    self.report_missing(&from, &pid, &watchers);
                }
            }
            Frame::Unwatch { pid, id, linked } => {
                let Some(target) = kernel.parse_pid(&pid).filter(|p| self.is_mine(p)) else {
                    return;
                };
                if let Some(id) = id {
                    let removed = self
                        .state
                        .lock()
                        .unwrap()
                        .forwarders
                        .remove(&(from.clone(), id));
                    if let Some((_, mailbox)) = removed {
                        kernel.unmonitor(&target, &mailbox);
                        kernel.unlink(&target, &mailbox, None);
                    }
                }
                if let Some(linked) = linked.and_then(|l| kernel.parse_pid(&l)) {
                    kernel.unlink(&target, &Mailbox::new(), Some(&linked));
                }
            }
            Frame::Event {
                id,
                link_down,
                from: who,
                result,
            } => {
                let Some(who) = kernel.parse_pid(&who).filter(from_there) else {
                    return;
                };
                let watching = {
                    let mut state = self.state.lock().unwrap();
                    match state.watching.get(&id) {
                        Some(w) if *w.node == *from => state.watching.remove(&id),
                        _ => None,
                    }
                };
                let Some(watching) = watching else { return };
                watching.mailbox.deliver(Event {
                    kind: if link_down {
                        EventKind::LinkDown
                    } else {
                        EventKind::Exit
                    },
                    from: who,
                    at: SystemTime::now(),
                    result: result.into_result(),
                    stats: None,
                });
            }
            Frame::LinkDown {
                pid,
                from: who,
                result,
            } => {
                let (Some(pid), Some(who)) = (kernel.parse_pid(&pid), kernel.parse_pid(&who))
                else {
                    return;
                };
                // Only a pair that is linked: a LinkDown that crossed an unlink, or one
                // for a process never linked, kills nothing.
                if self.is_mine(&pid) && from_there(&who) && self.untrack(&pid, &who) {
                    kernel.link_down(&pid, &who, &result.into_result());
                }
            }
            Frame::Terminate { pid } => {
                if let Some(pid) = kernel.parse_pid(&pid).filter(|p| self.is_mine(p)) {
                    kernel.terminate(&pid);
                }
            }
            Frame::Cancel {
                pid,
                from: who,
                reason,
            } => {
                let pid = kernel.parse_pid(&pid).filter(|p| self.is_mine(p));
                if let (Some(pid), Some(who)) = (pid, kernel.parse_pid(&who)) {
                    kernel.cancel(&pid, Some(&who), &reason);
                }
            }
            Frame::Spawn {
                request,
                entry,
                host,
                args,
                monitor,
                link,
                linked,
            } => {
                let values: Vec<_> = args.into_iter().map(WireValue::into_value).collect();
                // The pid is not known before the spawn: forwarders are made for a
                // placeholder and pointed at the child after.
                let placeholder = Pid {
                    node: Some(self.node.clone()),
                    host: Arc::new(crate::registry::EntryId::parse("wippy:spawning").unwrap()),
                    n: 0,
                };
                let watchers =
                    self.forwarders(&from, &placeholder, monitor, link, linked.as_deref());
                let result = kernel.spawn(&entry, &host, Args::from(values), watchers.clone());
                {
                    let mut state = self.state.lock().unwrap();
                    for id in [monitor, link].into_iter().flatten() {
                        let key = (from.clone(), id);
                        if let (Some((pid, _)), Ok(child)) =
                            (state.forwarders.get_mut(&key), &result)
                        {
                            *pid = child.clone();
                            state.forwarded.entry(child.clone()).or_default().push(key);
                        }
                    }
                    if result.is_err() {
                        for id in [monitor, link].into_iter().flatten() {
                            state.forwarders.remove(&(from.clone(), id));
                        }
                    }
                }
                if let (Ok(child), Some(linked)) = (&result, &watchers.linked_pid) {
                    self.track_link(child, linked);
                }
                let result = result.map(|pid| pid.to_string()).map_err(|e| e.to_string());
                let _ = self.post(&from, Frame::Spawned { request, result });
            }
            Frame::Spawned { request, result } => {
                let pending = self.state.lock().unwrap().pending.remove(&request);
                let result = match result {
                    Ok(text) => kernel.parse_pid(&text).filter(from_there).ok_or_else(|| {
                        SpawnError::Remote(format!(
                            "node {from} answered a spawn with {text:?}, not a pid of its own"
                        ))
                    }),
                    Err(e) => Err(SpawnError::Remote(format!("on node {from}: {e}"))),
                };
                let Some(pending) = pending else {
                    // Answered after the spawner gave up (timeout, node declared down): the
                    // child would run with nobody to watch it.
                    if let Ok(child) = &result {
                        let _ = self.post(
                            &from,
                            Frame::Terminate {
                                pid: child.to_string(),
                            },
                        );
                    }
                    return;
                };
                {
                    let mut state = self.state.lock().unwrap();
                    for id in &pending.watches {
                        match &result {
                            Ok(child) => {
                                if let Some(w) = state.watching.get_mut(id) {
                                    w.pid = Some(child.clone());
                                }
                            }
                            Err(_) => {
                                state.watching.remove(id);
                            }
                        }
                    }
                }
                if let (Ok(child), Some(spawner)) = (&result, &pending.linked) {
                    // Now, not when the spawner's script runs again: a node declared down
                    // in between must still reach the link.
                    self.track_link(spawner, child);
                }
                if let Err(Ok(child)) = pending.reply.send(result) {
                    // The spawning process ended while it waited.
                    let _ = self.post(
                        &from,
                        Frame::Terminate {
                            pid: child.to_string(),
                        },
                    );
                }
            }
            Frame::Unlinked { pid, from: who } => {
                let (Some(pid), Some(who)) = (kernel.parse_pid(&pid), kernel.parse_pid(&who))
                else {
                    return;
                };
                if from_there(&who) {
                    self.untrack(&pid, &who);
                }
            }
            Frame::Forget { ids } => {
                let mut state = self.state.lock().unwrap();
                for id in ids {
                    if state.watching.get(&id).is_some_and(|w| *w.node == *from) {
                        state.watching.remove(&id);
                    }
                }
            }
            Frame::Bye => {
                let left = {
                    let mut state = self.state.lock().unwrap();
                    state.peers.as_mut().is_some_and(|p| p.left(&from))
                };
                if left {
                    self.node_down(&from, true);
                }
            }
        }
    }

    /// Forgets the link of `local` to `remote`; true if they were linked.
    fn untrack(&self, local: &Pid, remote: &Pid) -> bool {
        let mut state = self.state.lock().unwrap();
        let Some(remotes) = state.links.get_mut(local) else {
            return false;
        };
        let before = remotes.len();
        remotes.retain(|r| r != remote);
        let removed = remotes.len() != before;
        if remotes.is_empty() {
            state.links.remove(local);
        }
        removed
    }

    fn is_mine(&self, pid: &Pid) -> bool {
        pid.node.as_deref() == Some(&*self.node)
    }

    /// `node` is declared down: everything that waits on it hears so, and what it held
    /// here is undone.
    fn node_down(&self, node: &str, left: bool) {
        if left {
            tracing::info!(target: "wippy::cluster", "node {node} left");
        } else {
            tracing::warn!(target: "wippy::cluster", "node down: {node} (no heartbeat for {} heartbeats)", peers::MISSED);
        }
        let Some(kernel) = self.kernel() else { return };
        let result = ExitResult::from(ExitReason::NodeDown {
            node: node.to_owned(),
        });
        let (watching, links, forwarders, pending) = {
            let mut state = self.state.lock().unwrap();
            let watching: Vec<Watching> = state
                .watching
                .extract_if(|_, w| &*w.node == node)
                .map(|(_, w)| w)
                .collect();
            let mut links = Vec::new();
            state.links.retain(|local, remotes| {
                remotes.retain(|r| {
                    let on_it = r.node.as_deref() == Some(node);
                    if on_it {
                        links.push((local.clone(), r.clone()));
                    }
                    !on_it
                });
                !remotes.is_empty()
            });
            let forwarders: Vec<(Pid, Mailbox)> = state
                .forwarders
                .extract_if(|(n, _), _| &**n == node)
                .map(|(_, f)| f)
                .collect();
            let pending: Vec<Pending> = state
                .pending
                .extract_if(|_, p| &*p.node == node)
                .map(|(_, p)| p)
                .collect();
            (watching, links, forwarders, pending)
        };
        for w in watching {
            // A watch whose spawn was never answered belongs to a spawn that fails.
            let Some(pid) = w.pid else { continue };
            w.mailbox.deliver(Event {
                kind: if w.link_down {
                    EventKind::LinkDown
                } else {
                    EventKind::Exit
                },
                from: pid,
                at: SystemTime::now(),
                result: result.clone(),
                stats: None,
            });
        }
        for (local, remote) in links {
            kernel.link_down(&local, &remote, &result);
        }
        for (pid, mailbox) in forwarders {
            kernel.unmonitor(&pid, &mailbox);
            kernel.unlink(&pid, &mailbox, None);
        }
        for p in pending {
            let _ = p
                .reply
                .send(Err(SpawnError::Remote(format!("node down: {node}"))));
        }
        let held = {
            let mut state = self.state.lock().unwrap();
            let held = state.names.of_node(node);
            for (name, h) in &held {
                state.names.apply(name.clone(), None, h.revision);
            }
            held
        };
        // Every live node deletes them; the revision makes the deletes after the first
        // (and any after a new owner took the name) do nothing.
        for (name, h) in held {
            self.delete_name(&name, h.revision);
        }
    }

    /// Deletes `name` from the bucket if it is still at `revision`.
    fn delete_name(&self, name: &str, revision: u64) {
        let Some(link) = self.link.get() else { return };
        let store = link.names.clone();
        let key = names::key_for(name);
        link.runtime.spawn(async move {
            let _ = store.delete_expect_revision(key, Some(revision)).await;
        });
    }
}

impl Node for Inner {
    fn frame(self: Arc<Self>, bytes: &[u8]) {
        match serde_json::from_slice::<Envelope>(bytes) {
            Ok(envelope) => self.handle(envelope),
            Err(e) => {
                tracing::warn!(target: "wippy::cluster", "a frame that does not parse was dropped: {e}")
            }
        }
    }

    fn heartbeat(&self, bytes: &[u8]) {
        let Ok(beat) = serde_json::from_slice::<Heartbeat>(bytes) else {
            tracing::warn!(target: "wippy::cluster", "a heartbeat that does not parse was dropped");
            return;
        };
        if beat.node == *self.node {
            if beat.instance != self.instance {
                tracing::error!(target: "wippy::cluster", "another node runs with this node's name ({}): messages for it go to both", self.node);
            }
            return;
        }
        let restarted = {
            let mut state = self.state.lock().unwrap();
            state
                .peers
                .as_mut()
                .is_some_and(|p| p.heard(&beat.node, beat.instance, beat.load, Instant::now()))
        };
        if restarted {
            tracing::warn!(target: "wippy::cluster", "node {} restarted", beat.node);
            self.node_down(&beat.node, false);
        }
    }

    fn beat(&self) -> Vec<u8> {
        let load = self.kernel().map(|k| k.load()).unwrap_or_default();
        serde_json::to_vec(&Heartbeat {
            node: self.node.to_string(),
            instance: self.instance,
            load,
        })
        .unwrap_or_default()
    }

    fn name_changed(&self, key: &str, value: Option<&[u8]>, revision: u64) {
        let Some(name) = names::name_of(key) else {
            return;
        };
        let parsed = value.and_then(names::parse_value);
        if let Some((pid, instance)) = &parsed {
            // Held by a process of an earlier run of this node (stopped without
            // leaving, or the whole cluster stopped): nobody else would free it.
            if self.is_mine(pid) && *instance != self.instance {
                self.delete_name(&name, revision);
                return;
            }
        }
        let held = parsed.map(|(pid, _)| names::Held { pid, revision });
        self.state.lock().unwrap().names.apply(name, held, revision);
    }

    fn tick(&self) {
        let now = Instant::now();
        let (down, late) = {
            let mut state = self.state.lock().unwrap();
            let down = state
                .peers
                .as_mut()
                .map(|p| p.check(now))
                .unwrap_or_default();
            let late: Vec<u64> = state
                .pending
                .iter()
                .filter(|(_, p)| now.duration_since(p.since) > SPAWN_TIMEOUT)
                .map(|(id, _)| *id)
                .collect();
            let late: Vec<Pending> = late
                .iter()
                .filter_map(|id| state.pending.remove(id))
                .collect();
            for p in &late {
                for id in &p.watches {
                    state.watching.remove(id);
                }
            }
            (down, late)
        };
        for p in late {
            let _ = p.reply.send(Err(SpawnError::Remote(format!(
                "node {} did not answer the spawn within {} s",
                p.node,
                SPAWN_TIMEOUT.as_secs()
            ))));
        }
        for node in down {
            self.node_down(&node, false);
        }
    }
}

impl Remote for Inner {
    fn send(&self, pid: &Pid, message: Message) -> Result<(), SendError> {
        let node = self.node_of(pid);
        if self.is_down(node) {
            return Err(SendError::Remote(format!(
                "cannot send to {pid}: node down: {node}"
            )));
        }
        let payload = WireValue::from_value(message.payload).ok_or_else(|| {
            SendError::Remote(format!(
                "cannot send to {pid}: the payload nests deeper than {} levels",
                wire::MAX_DEPTH
            ))
        })?;
        let frame = Frame::Send {
            to: pid.to_string(),
            from: message.from.map(|p| p.to_string()),
            topic: message.topic,
            payload,
        };
        self.post(node, frame)
            .map_err(|e| SendError::Remote(format!("cannot send to {pid}: {e}")))
    }

    fn watch(&self, pid: &Pid, watchers: Watchers) -> bool {
        let node = self.node_of(pid);
        let ids = Self::watch_ids(&mut self.state.lock().unwrap(), node, Some(pid), &watchers);
        let Some((monitor, link)) = ids else {
            return false;
        };
        if let Some(linked) = &watchers.linked_pid {
            self.track_link(linked, pid);
        }
        let frame = Frame::Watch {
            pid: pid.to_string(),
            monitor,
            link,
            linked: watchers.linked_pid.map(|p| p.to_string()),
        };
        if self.post(node, frame).is_err() {
            let mut state = self.state.lock().unwrap();
            for id in [monitor, link].into_iter().flatten() {
                state.watching.remove(&id);
            }
            return false;
        }
        true
    }

    fn unwatch(&self, pid: &Pid, mailbox: &Mailbox, link: bool, linked_pid: Option<&Pid>) -> bool {
        let node = self.node_of(pid);
        let ids: Vec<u64> = {
            let mut state = self.state.lock().unwrap();
            let ids: Vec<u64> = state
                .watching
                .iter()
                .filter(|(_, w)| {
                    w.pid.as_ref() == Some(pid) && w.mailbox.same(mailbox) && w.link_down == link
                })
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                state.watching.remove(id);
            }
            ids
        };
        if let Some(linked) = linked_pid {
            self.untrack_link(linked, pid);
        }
        let mut sent = false;
        for id in &ids {
            sent |= self
                .post(
                    node,
                    Frame::Unwatch {
                        pid: pid.to_string(),
                        id: Some(*id),
                        linked: None,
                    },
                )
                .is_ok();
        }
        if let Some(linked) = linked_pid {
            sent |= self
                .post(
                    node,
                    Frame::Unwatch {
                        pid: pid.to_string(),
                        id: None,
                        linked: Some(linked.to_string()),
                    },
                )
                .is_ok();
        }
        sent
    }

    fn track_link(&self, local: &Pid, remote: &Pid) {
        let mut state = self.state.lock().unwrap();
        let down = state
            .peers
            .as_ref()
            .is_some_and(|p| p.is_down(remote.node.as_deref().unwrap_or_default()));
        if down {
            return;
        }
        let remotes = state.links.entry(local.clone()).or_default();
        if !remotes.contains(remote) {
            remotes.push(remote.clone());
        }
    }

    fn untrack_link(&self, local: &Pid, remote: &Pid) {
        self.untrack(local, remote);
    }

    fn forget(&self, pid: &Pid, linked: &[Pid], normal: bool) {
        let (freed, unfired) = {
            let mut state = self.state.lock().unwrap();
            if !state.links.is_empty() {
                state.links.remove(pid);
            }
            // Forwarders that did not fire (a link, and the process ended normally):
            // their watchers' nodes forget those watches.
            let mut unfired: HashMap<Arc<str>, Vec<u64>> = HashMap::new();
            if let Some(keys) = state.forwarded.remove(pid) {
                for key in keys {
                    if state.forwarders.remove(&key).is_some() {
                        unfired.entry(key.0).or_default().push(key.1);
                    }
                }
            }
            let names = match state.claimed.is_empty() {
                true => Vec::new(),
                false => state.claimed.remove(pid).unwrap_or_default(),
            };
            let freed: Vec<(String, u64)> = names
                .into_iter()
                .filter_map(|name| {
                    let held = state.names.lookup(&name).filter(|h| h.pid == *pid)?.clone();
                    state.names.apply(name.clone(), None, held.revision);
                    Some((name, held.revision))
                })
                .collect();
            (freed, unfired)
        };
        for (name, revision) in freed {
            self.delete_name(&name, revision);
        }
        for (node, ids) in unfired {
            let _ = self.post(&node, Frame::Forget { ids });
        }
        // A normal end tells no link; the other side forgets the pair instead.
        if normal {
            for other in linked.iter().filter(|p| !self.is_mine(p)) {
                let node = self.node_of(other);
                let frame = Frame::Unlinked {
                    pid: other.to_string(),
                    from: pid.to_string(),
                };
                let _ = self.post(node, frame);
            }
        }
    }

    fn claim(&self, name: &str, pid: &Pid) -> NameClaim {
        let Some(link) = self.link.get() else {
            let name = name.to_owned();
            return Box::pin(async move {
                Err(NameError::Cluster {
                    name,
                    reason: "the cluster link is not connected".into(),
                })
            });
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let store = link.names.clone();
        let me = self.me.clone();
        let instance = self.instance;
        let (name, pid) = (name.to_owned(), pid.clone());
        link.runtime.spawn(async move {
            let key = names::key_for(&name);
            let value = names::value_of(&pid, instance);
            let result = match store.create(&key, value.into()).await {
                Ok(revision) => {
                    let alive = me.upgrade().is_some_and(|me| {
                        let alive = me.kernel().is_some_and(|k| k.stats(&pid).is_some());
                        if alive {
                            let mut state = me.state.lock().unwrap();
                            let held = names::Held {
                                pid: pid.clone(),
                                revision,
                            };
                            state.names.apply(name.clone(), Some(held), revision);
                            state
                                .claimed
                                .entry(pid.clone())
                                .or_default()
                                .push(name.clone());
                        }
                        alive
                    });
                    if alive {
                        Ok(())
                    } else {
                        // The process ended while its claim was under way: its exit
                        // could not free a name it did not hold yet.
                        let _ = store.delete_expect_revision(&key, Some(revision)).await;
                        Err(NameError::NoProcess(pid.to_string()))
                    }
                }
                Err(e) if e.kind() == async_nats::jetstream::kv::CreateErrorKind::AlreadyExists => {
                    let holder = match store.get(&key).await {
                        Ok(Some(value)) => names::parse_value(&value)
                            .map(|(pid, _)| pid.to_string())
                            .unwrap_or_else(|| "a process of another node".to_owned()),
                        _ => "a process of another node".to_owned(),
                    };
                    Err(NameError::Taken { name, holder })
                }
                Err(e) => Err(NameError::Cluster {
                    name,
                    reason: e.to_string(),
                }),
            };
            let _ = reply.send(result);
        });
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(NameError::Cluster {
                    name: String::new(),
                    reason: "the cluster link closed".into(),
                })
            })
        })
    }

    fn detach(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        if let Some(link) = self.link.get() {
            link.runtime.spawn(task);
        }
    }

    fn lookup(&self, name: &str) -> Option<Pid> {
        let state = self.state.lock().unwrap();
        state.names.lookup(name).map(|h| h.pid.clone())
    }

    fn unclaim(&self, name: &str) -> bool {
        let held = {
            let mut state = self.state.lock().unwrap();
            let Some(held) = state.names.lookup(name).cloned() else {
                return false;
            };
            if !self.is_mine(&held.pid) {
                return false;
            }
            state.names.apply(name.to_owned(), None, held.revision);
            if let Some(names) = state.claimed.get_mut(&held.pid) {
                names.retain(|n| n != name);
            }
            held
        };
        self.delete_name(name, held.revision);
        true
    }

    fn link_down(&self, pid: &Pid, from: &Pid, result: &ExitResult) {
        let node = self.node_of(pid);
        if self.is_down(node) {
            return;
        }
        let _ = self.post(
            node,
            Frame::LinkDown {
                pid: pid.to_string(),
                from: from.to_string(),
                result: WireResult::from_result(result),
            },
        );
    }

    fn terminate(&self, pid: &Pid) -> bool {
        let node = self.node_of(pid);
        !self.is_down(node)
            && self
                .post(
                    node,
                    Frame::Terminate {
                        pid: pid.to_string(),
                    },
                )
                .is_ok()
    }

    fn cancel(&self, pid: &Pid, from: &Pid, reason: &str) -> bool {
        let node = self.node_of(pid);
        !self.is_down(node)
            && self
                .post(
                    node,
                    Frame::Cancel {
                        pid: pid.to_string(),
                        from: from.to_string(),
                        reason: reason.to_owned(),
                    },
                )
                .is_ok()
    }

    fn spawn(
        &self,
        node: &str,
        entry: &str,
        host: &str,
        args: Args,
        watchers: Watchers,
    ) -> RemoteSpawn {
        let ready = |r: Result<Pid, SpawnError>| -> RemoteSpawn { Box::pin(async move { r }) };
        let node = if node == ANY_NODE {
            match self.place(host) {
                Some(node) => node,
                None => {
                    return ready(Err(SpawnError::Remote(format!(
                        "no live node runs host {host}"
                    ))))
                }
            }
        } else {
            node.to_owned()
        };
        if *node == *self.node {
            let Some(kernel) = self.kernel() else {
                return ready(Err(SpawnError::Remote(
                    "the runtime is shutting down".into(),
                )));
            };
            return ready(kernel.spawn(entry, host, args, watchers));
        }
        let Some(args) = args
            .values
            .into_iter()
            .map(WireValue::from_value)
            .collect::<Option<Vec<_>>>()
        else {
            return ready(Err(SpawnError::Remote(format!(
                "cannot spawn on node {node}: an argument nests deeper than {} levels",
                wire::MAX_DEPTH
            ))));
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ids = {
            let mut state = self.state.lock().unwrap();
            Self::watch_ids(&mut state, &node, None, &watchers).map(|(monitor, link)| {
                state.next_id += 1;
                let request = state.next_id;
                state.pending.insert(
                    request,
                    Pending {
                        node: Arc::from(node.as_str()),
                        since: Instant::now(),
                        watches: [monitor, link].into_iter().flatten().collect(),
                        linked: watchers.linked_pid.clone(),
                        reply,
                    },
                );
                (request, monitor, link)
            })
        };
        let Some((request, monitor, link)) = ids else {
            return ready(Err(SpawnError::Remote(format!("node down: {node}"))));
        };
        let frame = Frame::Spawn {
            request,
            entry: entry.to_owned(),
            host: host.to_owned(),
            args,
            monitor,
            link,
            linked: watchers.linked_pid.map(|p| p.to_string()),
        };
        if let Err(e) = self.post(&node, frame) {
            let mut state = self.state.lock().unwrap();
            if let Some(p) = state.pending.remove(&request) {
                for id in p.watches {
                    state.watching.remove(&id);
                }
            }
            return ready(Err(SpawnError::Remote(format!(
                "cannot spawn on node {node}: {e}"
            ))));
        }
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(SpawnError::Remote(
                    "the cluster link closed before the spawn was answered".into(),
                ))
            })
        })
    }
}

impl Inner {
    /// The node for `*@host`: the least-loaded live node that runs `host`, this one
    /// included.
    fn place(&self, host: &str) -> Option<String> {
        let here = self.kernel().and_then(|k| k.load().get(host).copied());
        let mut state = self.state.lock().unwrap();
        let peers = state.peers.as_mut()?;
        let there = peers
            .least_loaded(host)
            .map(|n| (peers.load_of(n, host), n.to_owned()));
        let chosen = match (here, there) {
            (Some(mine), Some((theirs, node))) if theirs < mine => node,
            (Some(_), _) => return Some(self.node.to_string()),
            (None, Some((_, node))) => node,
            (None, None) => return None,
        };
        // Counted at once: a heartbeat is up to a second old, and without this every
        // spawn until the next one would go to the same node.
        peers.placed(&chosen, host);
        Some(chosen)
    }
}
