//! What every process has, whatever its kind: the switch that stops it ([`KillSwitch`]),
//! the context its host gives it ([`ProcessCtx`]), and [`race`], which runs a body's
//! future as Steps raced against termination and the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;

use super::event::Mailbox;
use super::exit::{ExitReason, ExitResult, Limit};
use super::output::GuestLog;
use super::pid::Pid;
use super::stats::{Phase, ProcessStats};
use crate::executor;
use crate::value::Value;

/// What a process runs: built on the spawning thread, turned into a future on its worker.
pub(crate) type Body =
    Box<dyn FnOnce(ProcessCtx) -> Pin<Box<dyn Future<Output = ExitResult>>> + Send>;

/// What a running process gets from its host.
pub(crate) struct ProcessCtx {
    pub pid: Pid,
    pub kill: Arc<KillSwitch>,
    pub stats: Arc<ProcessStats>,
    pub settings: Arc<RunSettings>,
    /// Events and messages addressed to this process (only kinds that read them get one).
    pub inbox: Option<Mailbox>,
}

/// Cross-thread request to stop: set the flag and the reason, wake the task. It also
/// holds whether a linked process's failure stops this one or arrives as LINK_DOWN
/// (`trap_links`), which the process may change while it runs.
#[derive(Default)]
pub(crate) struct KillSwitch {
    killed: AtomicBool,
    reason: Mutex<Option<ExitReason>>,
    waker: AtomicWaker,
    trap_links: AtomicBool,
}

impl KillSwitch {
    pub fn new(trap_links: bool) -> Self {
        Self {
            trap_links: AtomicBool::new(trap_links),
            ..Self::default()
        }
    }

    pub fn traps_links(&self) -> bool {
        self.trap_links.load(Ordering::Acquire)
    }

    pub fn set_trap_links(&self, on: bool) {
        self.trap_links.store(on, Ordering::Release);
    }

    /// The first reason given wins; later kills only wake.
    pub fn kill(&self, reason: ExitReason) {
        self.reason.lock().unwrap().get_or_insert(reason);
        self.killed.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn reason(&self) -> ExitReason {
        self.reason
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(ExitReason::Terminated)
    }
}

/// Settings a host applies to every process it runs.
#[derive(Clone, Debug)]
pub(crate) struct RunSettings {
    pub fuel_slice: u64,
    /// How the host's wasm processes are preempted (`host.preemption`).
    pub preemption: crate::registry::Preemption,
    /// The terminal host: guests use the terminal's stdin, stdout and stderr.
    pub inherit_stdio: bool,
    /// Record which process each worker ran, in order (for tests).
    pub trace: bool,
    /// Guests that declare sockets reach the host's network (`RuntimeBuilder::network`).
    pub network: bool,
    /// File operations run on the worker's thread (`RuntimeBuilder::blocking_files`).
    pub blocking_files: bool,
    /// Where guest output goes when stdio is not inherited.
    pub log: GuestLog,
    /// This runtime's cluster node, when it is one: its PIDs carry it.
    pub node: Option<Arc<str>>,
}

/// Runs `call` as a process body: termination and the deadline are checked before every
/// Step, and the Steps are counted.
pub(crate) async fn race(
    call: Pin<Box<dyn Future<Output = ExitResult> + '_>>,
    ctx: &ProcessCtx,
    max_execution_ms: Option<i64>,
) -> ExitResult {
    let max_execution = Duration::from_millis(max_execution_ms.unwrap_or(0).max(0) as u64);
    let deadline = max_execution_ms.map(|_| executor::sleep(max_execution));
    Race {
        call,
        max_execution,
        kill: ctx.kill.clone(),
        deadline,
        stats: ctx.stats.clone(),
    }
    .await
}

/// A process's input: the method's arguments, and for a command-line run, the words
/// typed after the command name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Args {
    pub values: Vec<Value>,
    /// Set by the CLI: these become the guest's WASI argv when its entry sets none, and
    /// are dropped as parameters when the method takes none (`_start`, `run`).
    pub words: Option<Vec<String>>,
    /// The guest's `argv[0]`, when not its entry's name (a file run names the file).
    pub program: Option<String>,
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Self {
            values,
            words: None,
            program: None,
        }
    }
}

impl Args {
    /// The values to convert for a method with `params` parameters.
    pub(crate) fn for_params(&self, params: usize) -> &[Value] {
        match (&self.words, params) {
            (Some(_), 0) => &[],
            _ => &self.values,
        }
    }
}

/// The call, raced against termination and the deadline.
struct Race<'a> {
    call: Pin<Box<dyn Future<Output = ExitResult> + 'a>>,
    kill: Arc<KillSwitch>,
    deadline: Option<executor::Sleep>,
    max_execution: Duration,
    stats: Arc<ProcessStats>,
}

impl Future for Race<'_> {
    type Output = ExitResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ExitResult> {
        // Lock-free, and it clones the waker only when it changed.
        self.kill.waker.register(cx.waker());
        if self.kill.is_killed() {
            return Poll::Ready(self.kill.reason().into());
        }
        if let Some(deadline) = self.deadline.as_mut() {
            if Pin::new(deadline).poll(cx).is_ready() {
                let limit = Limit::ExecutionTime {
                    limit: self.max_execution,
                };
                return Poll::Ready(ExitReason::LimitReached { stage: None, limit }.into());
            }
        }
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        self.stats.set_phase(Phase::Running);
        let started = Instant::now();
        let polled = self.call.as_mut().poll(cx);
        self.stats
            .cpu_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.stats.set_phase(match polled {
            Poll::Pending => Phase::Waiting,
            Poll::Ready(_) => Phase::Closed,
        });
        polled
    }
}
