//! A host: worker threads, each running its own executor, and the table of the host's
//! live processes. A spawn lands on a worker and stays there: an idle worker if there is
//! one; else the spawning process's own worker, when the spawn comes from one of the
//! host's workers and that worker is not much busier than the least-loaded one (no thread
//! hop, and workers that spawn scale); else the least-loaded worker.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::SystemTime;

use atomic_waker::AtomicWaker;
use futures_lite::FutureExt;

use super::event::{Event, EventKind, Mailbox, MailboxFull, Message, MAILBOX_BYTES};
use super::exit::{ExitReason, ExitResult};
use super::pid::Pid;
use super::process::{Body, KillSwitch, ProcessCtx, RunSettings};
use super::stats::{Phase, ProcessStats};
use super::table::Table;
use crate::executor::{ClockKind, Executor, Trace};
use crate::registry::EntryId;

type Job = Box<dyn FnOnce(&Executor) + Send>;

thread_local! {
    /// The inbox of the worker running on this thread, if it is one (its address: it
    /// identifies the worker, and is never dereferenced).
    static CURRENT_WORKER: std::cell::Cell<*const Inbox> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// How many more live processes a spawning worker may hold than the least-loaded one and
/// still take its own spawns: a quarter more, and at least [`LOCAL_SLACK_MIN`]. Beyond
/// that, spawns spread out, so one parent's children still use every worker.
fn local_slack(least: usize) -> usize {
    (least / 4).max(LOCAL_SLACK_MIN)
}

const LOCAL_SLACK_MIN: usize = 8;

#[derive(Default)]
struct Inbox {
    jobs: Mutex<VecDeque<Job>>,
    waker: AtomicWaker,
    closed: AtomicBool,
}

impl Inbox {
    fn push(&self, job: Job) {
        self.jobs.lock().unwrap().push_back(job);
        self.wake();
    }

    fn wake(&self) {
        self.waker.wake();
    }
}

struct Worker {
    inbox: Arc<Inbox>,
    live: Arc<AtomicUsize>,
    trace: Trace,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Signalled when the thread's loop has ended (so shutdown can wait with a deadline).
    exited: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

/// Caps a host applies to its processes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostLimits {
    /// Live processes at most (`host.max_processes`).
    pub max_processes: usize,
    /// Unread messages per process (`host.mailbox_size`).
    pub mailbox_size: usize,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self {
            max_processes: DEFAULT_MAX_PROCESSES,
            mailbox_size: super::event::DEFAULT_MAILBOX_CAPACITY,
        }
    }
}

/// Live processes per host when `host.max_processes` is not set: the engine's default
/// pool slots, so Lua processes (which take no slot) are capped like wasm ones.
pub(crate) const DEFAULT_MAX_PROCESSES: usize = 10_000;

/// A spawn refused because the host already runs `host.max_processes` processes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("process host {host} is full: it runs {cap} processes, its limit (host.max_processes)")]
pub struct HostFull {
    /// The host's entry ID.
    pub host: String,
    /// Its `host.max_processes`.
    pub cap: usize,
}

/// What the host knows of a live process.
struct Record {
    kill: Arc<KillSwitch>,
    stats: Arc<ProcessStats>,
    monitors: Vec<Mailbox>,
    links: Vec<Mailbox>,
    /// Processes this one is linked to: they hear of its abnormal exit.
    linked: Vec<Pid>,
    inbox: Option<Mailbox>,
}

/// Who hears about a process's end.
#[derive(Default, Clone)]
pub(crate) struct Watchers {
    pub monitor: Option<Mailbox>,
    pub link: Option<Mailbox>,
    /// The linking process, when the link is between two processes.
    pub linked_pid: Option<Pid>,
}

impl Watchers {
    pub fn monitor(mailbox: &Mailbox) -> Self {
        Self {
            monitor: Some(mailbox.clone()),
            ..Self::default()
        }
    }

    pub fn link(mailbox: &Mailbox) -> Self {
        Self {
            link: Some(mailbox.clone()),
            ..Self::default()
        }
    }
}

/// Why a message was not delivered. Nothing is queued when a send fails.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The process has ended (or never existed).
    #[error("process not found: {0}")]
    NoProcess(String),
    /// The process reads no messages (a wasm entry without `wippy:actor` in its
    /// imports).
    #[error("process {0} has no inbox: it reads no messages (a wasm entry does only if its imports list wippy:actor)")]
    NoInbox(String),
    /// Its mailbox holds `host.mailbox_size` unread messages.
    #[error("mailbox of process {pid} is full: {capacity} messages are waiting to be read (host.mailbox_size)")]
    MailboxFull {
        /// The receiver.
        pid: String,
        /// Its mailbox's capacity, in messages.
        capacity: usize,
    },
    /// The process is on another cluster node, and the message could not go there.
    #[error("{0}")]
    Remote(String),
    /// Its unread messages hold the most bytes a mailbox may hold.
    #[error("mailbox of process {pid} is full: its unread messages hold {mib} MiB")]
    MailboxBytesFull {
        /// The receiver.
        pid: String,
        /// The byte cap, in MiB.
        mib: usize,
    },
}

pub(crate) struct Host {
    pub id: Arc<EntryId>,
    workers: Vec<Worker>,
    next: AtomicU64,
    table: Table<Record>,
    settings: Arc<RunSettings>,
    limits: HostLimits,
}

impl Host {
    /// Starts the worker threads. Fails if any of them cannot start its executor (no
    /// thread, no poller): a host never runs with a dead worker that still gets spawns.
    pub fn start(
        id: EntryId,
        workers: usize,
        settings: Arc<RunSettings>,
        clock: ClockKind,
        limits: HostLimits,
    ) -> std::io::Result<Arc<Host>> {
        let mut started = Vec::new();
        for i in 0..workers.max(1) {
            match start_worker(&id, i, clock, settings.trace) {
                Ok(worker) => started.push(worker),
                Err(e) => {
                    // The ones already running stop (they have no process yet).
                    for w in &started {
                        w.inbox.closed.store(true, Ordering::Release);
                        w.inbox.wake();
                    }
                    for w in &started {
                        if let Some(thread) = w.thread.lock().unwrap().take() {
                            let _ = thread.join();
                        }
                    }
                    return Err(e);
                }
            }
        }
        let workers = started;
        Ok(Arc::new(Host {
            id: Arc::new(id),
            workers,
            next: AtomicU64::new(1),
            table: Table::default(),
            settings,
            limits,
        }))
    }

    /// Starts `body` as a new process. `finished` runs on the worker after the process
    /// has been removed from the table, with the pids it was linked to.
    pub fn spawn(
        self: &Arc<Self>,
        body: Body,
        watchers: Watchers,
        inbox: Option<bool>,
        finished: impl FnOnce(&Pid, &ExitResult, Vec<Pid>) + Send + 'static,
    ) -> Result<Pid, HostFull> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let pid = Pid {
            node: self.settings.node.clone(),
            host: self.id.clone(),
            n,
        };
        let kill = Arc::new(KillSwitch::new(inbox.unwrap_or(false)));
        let stats = Arc::new(ProcessStats::default());
        let inbox = inbox.map(|_| Mailbox::bounded(self.limits.mailbox_size));
        let record = Record {
            kill: kill.clone(),
            stats: stats.clone(),
            monitors: watchers.monitor.into_iter().collect(),
            links: watchers.link.into_iter().collect(),
            linked: watchers.linked_pid.into_iter().collect(),
            inbox: inbox.clone(),
        };
        // Under the table's lock, so a shutdown either sees this process or we see it.
        let cap = self.limits.max_processes;
        let worker = self
            .table
            .insert(n, record, cap, || {
                (!self.is_closed()).then(|| {
                    let worker = self.pick_worker();
                    worker.live.fetch_add(1, Ordering::Relaxed);
                    worker
                })
            })
            .map_err(|_| HostFull {
                host: self.id.to_string(),
                cap,
            })?;
        let Some(worker) = worker else {
            let result = ExitResult::from(ExitReason::Shutdown);
            let linked = self.finish(&pid, &result);
            finished(&pid, &result, linked);
            return Ok(pid);
        };
        let (live, worker_inbox) = (worker.live.clone(), worker.inbox.clone());
        let host = self.clone();
        let ctx = ProcessCtx {
            pid: pid.clone(),
            kill,
            stats,
            settings: self.settings.clone(),
            inbox,
        };
        worker.inbox.push(Box::new(move |ex: &Executor| {
            ex.spawn(n, async move {
                let pid = ctx.pid.clone();
                let result = std::panic::AssertUnwindSafe(body(ctx))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| ExitReason::Panicked.into());
                let linked = host.finish(&pid, &result);
                finished(&pid, &result, linked);
                live.fetch_sub(1, Ordering::Release);
                // Only a closing worker waits for its last process to end.
                if worker_inbox.closed.load(Ordering::Acquire) {
                    worker_inbox.wake();
                }
            })
            .detach();
        }));
        Ok(pid)
    }

    /// The worker a new process goes to (see the module doc).
    fn pick_worker(&self) -> &Worker {
        let here = CURRENT_WORKER.with(|c| c.get());
        let mut least = (&self.workers[0], usize::MAX);
        let mut local = None;
        for w in &self.workers {
            let load = w.live.load(Ordering::Relaxed);
            if load < least.1 {
                least = (w, load);
            }
            if Arc::as_ptr(&w.inbox) == here {
                local = Some((w, load));
            }
        }
        match local {
            // An idle worker takes the spawn: a few CPU-bound children still spread.
            Some((local, load)) if least.1 > 0 && load <= least.1 + local_slack(least.1) => local,
            _ => least.0,
        }
    }

    /// Removes the process and tells its monitors (EXIT) and, on failure, its links.
    /// Returns the processes it was linked to, for the caller to tell across hosts (on
    /// failure) or to forget (on a normal end).
    fn finish(&self, pid: &Pid, result: &ExitResult) -> Vec<Pid> {
        let Some(record) = self.table.remove(pid.n) else {
            return Vec::new();
        };
        record.stats.set_phase(Phase::Closed);
        let stats = Some(record.stats.snapshot());
        let event = |kind| Event {
            kind,
            from: pid.clone(),
            at: SystemTime::now(),
            result: result.clone(),
            stats,
        };
        for m in &record.monitors {
            m.deliver(event(EventKind::Exit));
        }
        if !result.is_ok() {
            for l in &record.links {
                l.deliver(event(EventKind::LinkDown));
            }
        }
        record.linked
    }

    fn with_record<R>(&self, pid: &Pid, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        self.table.with(pid.n, f)
    }

    /// Ends the process with `reason` as its error. False if it had already ended.
    pub fn kill(&self, pid: &Pid, reason: ExitReason) -> bool {
        self.with_record(pid, |r| r.kill.kill(reason)).is_some()
    }

    /// Delivers CANCEL to a process that reads events; one that cannot (wasm) is
    /// terminated with the reason, since it has no other way to hear it.
    pub fn cancel(&self, pid: &Pid, from: &Pid, reason: &str) -> bool {
        self.with_record(pid, |r| match &r.inbox {
            Some(inbox) => inbox.deliver(Event {
                kind: EventKind::Cancel,
                from: from.clone(),
                at: SystemTime::now(),
                result: ExitReason::Cancelled {
                    reason: reason.to_owned(),
                }
                .into(),
                stats: None,
            }),
            None => r.kill.kill(ExitReason::Cancelled {
                reason: reason.to_owned(),
            }),
        })
        .is_some()
    }

    /// A process `pid` is linked to failed: one that traps links gets LINK_DOWN, any
    /// other is terminated (it cannot carry on without its partner).
    pub fn link_down(&self, pid: &Pid, from: &Pid, result: &ExitResult) {
        self.with_record(pid, |r| match &r.inbox {
            Some(inbox) if r.kill.traps_links() => inbox.deliver(Event {
                kind: EventKind::LinkDown,
                from: from.clone(),
                at: SystemTime::now(),
                result: result.clone(),
                stats: None,
            }),
            _ => r.kill.kill(ExitReason::LinkFailed { pid: from.clone() }),
        });
    }

    pub fn send(&self, pid: &Pid, message: Message) -> Result<(), SendError> {
        match self.with_record(pid, |r| r.inbox.clone()) {
            None => Err(SendError::NoProcess(pid.to_string())),
            Some(None) => Err(SendError::NoInbox(pid.to_string())),
            Some(Some(inbox)) => inbox.post(message).map_err(|full| match full {
                MailboxFull::Messages { capacity } => SendError::MailboxFull {
                    pid: pid.to_string(),
                    capacity,
                },
                MailboxFull::Bytes => SendError::MailboxBytesFull {
                    pid: pid.to_string(),
                    mib: MAILBOX_BYTES >> 20,
                },
            }),
        }
    }

    pub fn watch(&self, pid: &Pid, watchers: Watchers) -> bool {
        self.with_record(pid, |r| {
            r.monitors.extend(watchers.monitor);
            r.links.extend(watchers.link);
            r.linked.extend(watchers.linked_pid);
        })
        .is_some()
    }

    pub fn unmonitor(&self, pid: &Pid, mailbox: &Mailbox) -> bool {
        self.with_record(pid, |r| r.monitors.retain(|m| !m.same(mailbox)))
            .is_some()
    }

    pub fn unlink(&self, pid: &Pid, mailbox: &Mailbox, linked_pid: Option<&Pid>) -> bool {
        self.with_record(pid, |r| {
            r.links.retain(|m| !m.same(mailbox));
            r.linked.retain(|p| Some(p) != linked_pid);
        })
        .is_some()
    }

    /// Steps taken, fuel used, peak memory and CPU nanoseconds of a live process.
    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.with_record(pid, |r| r.stats.clone())
    }

    pub fn live(&self) -> usize {
        self.table.len()
    }

    /// The PID labels worker `i` has run, in order (recorded when tracing is on).
    pub fn trace(&self, worker: usize) -> Vec<u64> {
        self.workers
            .get(worker)
            .map(|w| w.trace.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// Shut down: every worker is closed together, under the table lock.
    fn is_closed(&self) -> bool {
        self.workers[0].inbox.closed.load(Ordering::Acquire)
    }

    /// Terminates every process, lets each Close (monitors get their EXIT), and joins
    /// the worker threads. Spawns after this are terminated at once. A worker whose
    /// processes have not all closed by `deadline` (a script stuck in one long native
    /// call) is abandoned, with a log line naming what still runs: shutdown never hangs.
    pub fn shutdown(&self, deadline: std::time::Instant) {
        {
            let table = self.table.lock_all();
            for w in &self.workers {
                w.inbox.closed.store(true, Ordering::Release);
            }
            for r in table.iter().flat_map(|shard| shard.values()) {
                r.kill.kill(ExitReason::Shutdown);
            }
        }
        for w in &self.workers {
            w.inbox.wake();
        }
        for w in &self.workers {
            let Some(thread) = w.thread.lock().unwrap().take() else {
                continue;
            };
            if thread.thread().id() == std::thread::current().id() {
                continue;
            }
            let exited = w.exited.lock().unwrap().take();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match exited.map(|rx| rx.recv_timeout(left)) {
                Some(Err(std::sync::mpsc::RecvTimeoutError::Timeout)) => {
                    let stuck: Vec<String> = self
                        .table
                        .numbers()
                        .into_iter()
                        .map(|n| {
                            Pid {
                                node: self.settings.node.clone(),
                                host: self.id.clone(),
                                n,
                            }
                            .to_string()
                        })
                        .collect();
                    tracing::warn!(
                        "host {}: shutdown deadline passed; abandoning worker {} with processes still running: {}",
                        self.id,
                        thread.thread().name().unwrap_or("?"),
                        stuck.join(", ")
                    );
                }
                _ => {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn start_worker(
    host: &EntryId,
    i: usize,
    clock: ClockKind,
    tracing: bool,
) -> std::io::Result<Worker> {
    let inbox = Arc::new(Inbox::default());
    let live = Arc::new(AtomicUsize::new(0));
    let trace = Trace::default();
    let (thread_inbox, thread_live, thread_trace) = (inbox.clone(), live.clone(), trace.clone());
    let (started_tx, started) = std::sync::mpsc::channel();
    let (exited_tx, exited) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(format!("wippy-{host}-{i}"))
        .spawn(move || {
            let ex = match Executor::new(clock) {
                Ok(ex) => {
                    let _ = started_tx.send(Ok(()));
                    ex
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                    return;
                }
            };
            worker_main(
                &ex,
                thread_inbox,
                thread_live,
                tracing.then_some(thread_trace),
            );
            let _ = exited_tx.send(());
        })?;
    match started.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(std::io::Error::new(
                e.kind(),
                format!("host {host}: worker {i} cannot start its executor: {e}"),
            ));
        }
        Err(_) => {
            return Err(std::io::Error::other(format!(
                "host {host}: worker {i} ended while starting"
            )))
        }
    }
    Ok(Worker {
        inbox,
        live,
        trace,
        thread: Mutex::new(Some(thread)),
        exited: Mutex::new(Some(exited)),
    })
}

fn worker_main(ex: &Executor, inbox: Arc<Inbox>, live: Arc<AtomicUsize>, trace: Option<Trace>) {
    if let Some(trace) = trace {
        ex.record_trace(trace);
    }
    CURRENT_WORKER.with(|c| c.set(Arc::as_ptr(&inbox)));
    let ex_ref = ex;
    // Swapped with the shared queue on each wake, so taking the jobs allocates nothing.
    let mut jobs: VecDeque<Job> = VecDeque::new();
    ex.block_on(poll_fn(|cx| {
        inbox.waker.register(cx.waker());
        std::mem::swap(&mut *inbox.jobs.lock().unwrap(), &mut jobs);
        for job in jobs.drain(..) {
            job(ex_ref);
        }
        // Closed: finish once every process on this worker has closed.
        if inbox.closed.load(Ordering::Acquire) && live.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }));
}
