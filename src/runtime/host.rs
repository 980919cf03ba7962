//! A host: worker threads, each running its own executor. A spawn lands on the
//! least-loaded worker and stays there.

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::SystemTime;

use futures_lite::FutureExt;

use super::event::{Event, EventKind, ExitResult, Mailbox, Pid};
use super::process::{self, KillSwitch, ProcessStats, RunSettings};
use super::{prepared::Prepared, wasi::EnvSource};
use crate::executor::{ClockKind, Executor};
use crate::registry::EntryId;
use crate::value::Value;

type Job = Box<dyn FnOnce(&Executor) + Send>;

#[derive(Default)]
struct Inbox {
    jobs: Mutex<VecDeque<Job>>,
    waker: Mutex<Option<Waker>>,
    closed: AtomicBool,
}

impl Inbox {
    fn push(&self, job: Job) {
        self.jobs.lock().unwrap().push_back(job);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
}

struct Worker {
    inbox: Arc<Inbox>,
    live: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the host knows of a live process.
struct Record {
    kill: Arc<KillSwitch>,
    stats: Arc<ProcessStats>,
    monitors: Vec<Mailbox>,
    links: Vec<Mailbox>,
}

pub struct Host {
    pub id: Arc<EntryId>,
    workers: Vec<Worker>,
    next: AtomicU64,
    table: Mutex<HashMap<u64, Record>>,
    settings: RunSettings,
}

/// Who hears about a process's end.
#[derive(Default, Clone)]
pub struct Watchers {
    pub monitor: Option<Mailbox>,
    pub link: Option<Mailbox>,
}

impl Watchers {
    pub fn monitor(mailbox: &Mailbox) -> Self {
        Self {
            monitor: Some(mailbox.clone()),
            link: None,
        }
    }

    pub fn link(mailbox: &Mailbox) -> Self {
        Self {
            monitor: None,
            link: Some(mailbox.clone()),
        }
    }
}

impl Host {
    pub fn start(
        id: EntryId,
        workers: usize,
        settings: RunSettings,
        clock: ClockKind,
    ) -> std::io::Result<Arc<Host>> {
        let workers = (0..workers.max(1))
            .map(|i| {
                let inbox = Arc::new(Inbox::default());
                let live = Arc::new(AtomicUsize::new(0));
                let (thread_inbox, thread_live) = (inbox.clone(), live.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("wippy-{id}-{i}"))
                    .spawn(move || worker_main(thread_inbox, thread_live, clock))?;
                Ok(Worker {
                    inbox,
                    live,
                    thread: Some(thread),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Arc::new(Host {
            id: Arc::new(id),
            workers,
            next: AtomicU64::new(1),
            table: Mutex::new(HashMap::new()),
            settings,
        }))
    }

    pub fn spawn(
        self: &Arc<Self>,
        prepared: Arc<Prepared>,
        env: Arc<EnvSource>,
        args: Vec<Value>,
        watchers: Watchers,
    ) -> Pid {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let pid = Pid {
            host: self.id.clone(),
            n,
        };
        let kill = Arc::new(KillSwitch::default());
        let stats = Arc::new(ProcessStats::default());
        self.table.lock().unwrap().insert(
            n,
            Record {
                kill: kill.clone(),
                stats: stats.clone(),
                monitors: watchers.monitor.into_iter().collect(),
                links: watchers.link.into_iter().collect(),
            },
        );
        let worker = self
            .workers
            .iter()
            .min_by_key(|w| w.live.load(Ordering::Relaxed))
            .expect("a host has at least one worker");
        worker.live.fetch_add(1, Ordering::Relaxed);
        let live = worker.live.clone();
        let inbox = worker.inbox.clone();
        let host = self.clone();
        let settings = self.settings;
        let pid_for_task = pid.clone();
        worker.inbox.push(Box::new(move |ex: &Executor| {
            ex.spawn(n, async move {
                let result = std::panic::AssertUnwindSafe(process::run(
                    prepared, env, args, kill, stats, settings,
                ))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| ExitResult::failed("host error: a host function panicked"));
                host.finish(&pid_for_task, result);
                live.fetch_sub(1, Ordering::Release);
                if let Some(w) = inbox.waker.lock().unwrap().take() {
                    w.wake();
                }
            })
            .detach();
        }));
        pid
    }

    /// Removes the process and tells its monitors (EXIT) and, on failure, its links.
    fn finish(&self, pid: &Pid, result: ExitResult) {
        let Some(record) = self.table.lock().unwrap().remove(&pid.n) else {
            return;
        };
        let event = |kind| Event {
            kind,
            from: pid.clone(),
            at: SystemTime::now(),
            result: result.clone(),
        };
        for m in &record.monitors {
            m.deliver(event(EventKind::Exit));
        }
        if result.error.is_some() {
            for l in &record.links {
                l.deliver(event(EventKind::LinkDown));
            }
        }
    }

    pub fn terminate(&self, pid: &Pid) -> bool {
        match self.table.lock().unwrap().get(&pid.n) {
            Some(r) => {
                r.kill.kill();
                true
            }
            None => false,
        }
    }

    pub fn watch(&self, pid: &Pid, watchers: Watchers) -> bool {
        match self.table.lock().unwrap().get_mut(&pid.n) {
            Some(r) => {
                r.monitors.extend(watchers.monitor);
                r.links.extend(watchers.link);
                true
            }
            None => false,
        }
    }

    pub fn unwatch(&self, pid: &Pid, mailbox: &Mailbox) {
        if let Some(r) = self.table.lock().unwrap().get_mut(&pid.n) {
            r.monitors.retain(|m| !m.same(mailbox));
            r.links.retain(|m| !m.same(mailbox));
        }
    }

    /// Steps taken, fuel used, peak memory and CPU nanoseconds of a live process.
    pub fn stats(&self, pid: &Pid) -> Option<Arc<ProcessStats>> {
        self.table
            .lock()
            .unwrap()
            .get(&pid.n)
            .map(|r| r.stats.clone())
    }

    pub fn live(&self) -> usize {
        self.table.lock().unwrap().len()
    }

    /// Terminates every process, lets each Close, and joins the worker threads.
    pub fn shutdown(&mut self) {
        for r in self.table.lock().unwrap().values() {
            r.kill.kill();
        }
        for w in &mut self.workers {
            w.inbox.closed.store(true, Ordering::Release);
            w.inbox.push(Box::new(|_| {}));
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker_main(inbox: Arc<Inbox>, live: Arc<AtomicUsize>, clock: ClockKind) {
    let ex = Executor::new(clock).expect("cannot create the worker's poller");
    let ex_ref = &ex;
    ex.block_on(poll_fn(|cx| {
        *inbox.waker.lock().unwrap() = Some(cx.waker().clone());
        let jobs: Vec<Job> = inbox.jobs.lock().unwrap().drain(..).collect();
        for job in jobs {
            job(ex_ref);
        }
        // Closed: finish once every process on this worker has closed.
        if inbox.closed.load(Ordering::Acquire) && live.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }));
}
