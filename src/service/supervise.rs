//! The supervisor: one process per running service, on the service's host. It starts the
//! service's process monitored, waits for its EXIT or for a CANCEL of its own, and
//! restarts it with backoff after a failure. Its waits are executor waits (a receive with
//! a timeout), so under a virtual clock the backoff is exact and costs no real time.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::status::{Board, ServiceChange, ServiceState};
use crate::executor;
use crate::kernel::event::{EventKind, Mailbox};
use crate::kernel::exit::{ExitReason, ExitResult};
use crate::kernel::host::Watchers;
use crate::kernel::pid::Pid;
use crate::kernel::process::{Args, ProcessCtx};
use crate::kernel::Kernel;
use crate::registry::{EntryId, ServiceLifecycle};
use crate::value::Value;

/// What a supervisor needs to know about its service.
pub(crate) struct Spec {
    pub id: EntryId,
    pub process: String,
    pub host: String,
    pub input: Vec<Value>,
    pub lifecycle: ServiceLifecycle,
}

/// How a wait for the child ended.
enum Woke {
    ChildEnded(ExitResult),
    Cancelled,
    /// The backoff delay passed.
    TimedOut,
}

/// Waits on the supervisor's inbox for the child's EXIT (when `child` is set), a CANCEL,
/// or `timeout`.
async fn wait(inbox: &Mailbox, child: Option<&Pid>, timeout: Option<Duration>) -> Woke {
    let deadline = timeout.and_then(|t| executor::now().checked_add(t));
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(executor::now()));
        let Some(event) = inbox.next_event(left).await else {
            return Woke::TimedOut;
        };
        match event.kind {
            EventKind::Exit if Some(&event.from) == child => return Woke::ChildEnded(event.result),
            EventKind::Cancel => return Woke::Cancelled,
            // An EXIT of an earlier child, a LINK_DOWN: nothing to act on.
            _ => {}
        }
    }
}

/// The state the service is left in if the supervisor is dropped mid-way (its host shut
/// down, or someone terminated it): the child is terminated and the service Stopped.
struct Watch<'a> {
    spec: &'a Spec,
    board: &'a Board,
    kernel: &'a Weak<Kernel>,
    child: Option<Pid>,
    restarts: u32,
    finished: bool,
}

impl Watch<'_> {
    fn record(
        &self,
        state: ServiceState,
        pid: Option<Pid>,
        error: Option<String>,
        restart_in: Option<Duration>,
    ) {
        self.board.record(ServiceChange {
            service: self.spec.id.clone(),
            state,
            pid,
            error,
            restart_in,
            restarts: self.restarts,
            at: executor::now(),
        });
    }

    fn finish(&mut self, state: ServiceState, pid: Option<Pid>, error: Option<String>) {
        self.finished = true;
        self.record(state, pid, error, None);
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if let (Some(child), Some(kernel)) = (self.child.take(), self.kernel.upgrade()) {
            kernel.terminate(&child);
        }
        if !self.finished {
            self.record(ServiceState::Stopped, None, None, None);
        }
    }
}

pub(crate) async fn supervise(
    spec: Arc<Spec>,
    kernel: Weak<Kernel>,
    board: Arc<Board>,
    ctx: ProcessCtx,
) -> ExitResult {
    let inbox = ctx
        .inbox
        .clone()
        .expect("a supervisor is spawned with an inbox");
    let policy = &spec.lifecycle.restart;
    let mut watch = Watch {
        spec: &spec,
        board: &board,
        kernel: &kernel,
        child: None,
        restarts: 0,
        finished: false,
    };
    // Failures in a row: what the backoff and `max_attempts` count.
    let mut failures = 0u32;
    loop {
        let Some(k) = kernel.upgrade() else {
            return ExitReason::Shutdown.into();
        };
        let started = executor::now();
        let args = Args::from(spec.input.clone());
        let spawned = k.spawn(&spec.process, &spec.host, args, Watchers::monitor(&inbox));
        drop(k);
        let result = match spawned {
            Ok(child) => {
                watch.child = Some(child.clone());
                watch.record(ServiceState::Running, Some(child.clone()), None, None);
                match wait(&inbox, Some(&child), None).await {
                    Woke::ChildEnded(result) => {
                        watch.child = None;
                        if result.is_ok() {
                            watch.finish(ServiceState::Exited, Some(child), None);
                            return ExitResult::ok(Value::Null);
                        }
                        result
                    }
                    _ => {
                        stop_child(&mut watch, &inbox, &ctx.pid, child).await;
                        return ExitResult::ok(Value::Null);
                    }
                }
            }
            Err(e) => ExitReason::failed(e.to_string()).into(),
        };
        if executor::now().saturating_duration_since(started) >= spec.lifecycle.stable_threshold {
            failures = 0;
        }
        failures += 1;
        let error = result.error().unwrap_or_else(|| "failed".to_owned());
        if policy.max_attempts > 0 && failures > policy.max_attempts {
            let error = format!(
                "gave up after {} restart{} in a row: {error}",
                policy.max_attempts,
                if policy.max_attempts == 1 { "" } else { "s" }
            );
            watch.finish(ServiceState::Failed, None, Some(error.clone()));
            return ExitReason::failed(error).into();
        }
        let delay = policy.delay(failures, fastrand::f64());
        watch.record(ServiceState::Starting, None, Some(error), Some(delay));
        if let Woke::Cancelled = wait(&inbox, None, Some(delay)).await {
            watch.finish(ServiceState::Stopped, None, None);
            return ExitResult::ok(Value::Null);
        }
        watch.restarts += 1;
    }
}

/// Stopping: CANCEL to the child, then terminate it if it has not ended within
/// `stop_timeout`; Stopped once it has.
async fn stop_child(watch: &mut Watch<'_>, inbox: &Mailbox, me: &Pid, child: Pid) {
    watch.record(ServiceState::Stopping, Some(child.clone()), None, None);
    let Some(kernel) = watch.kernel.upgrade() else {
        return;
    };
    kernel.cancel(&child, Some(me), "service stopping");
    let timeout = watch.spec.lifecycle.stop_timeout;
    drop(kernel);
    let mut ended = wait_exit(inbox, &child, Some(timeout)).await;
    if ended.is_none() {
        if let Some(kernel) = watch.kernel.upgrade() {
            kernel.terminate(&child);
        }
        ended = wait_exit(inbox, &child, None).await;
    }
    watch.child = None;
    let error = ended.and_then(|r| match r.reason {
        ExitReason::Cancelled { .. } => None,
        _ => r.error(),
    });
    watch.finish(ServiceState::Stopped, Some(child), error);
}

/// The child's EXIT, ignoring further CANCELs; `None` once `timeout` passes.
async fn wait_exit(inbox: &Mailbox, child: &Pid, timeout: Option<Duration>) -> Option<ExitResult> {
    let deadline: Option<Instant> = timeout.and_then(|t| executor::now().checked_add(t));
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(executor::now()));
        let event = inbox.next_event(left).await?;
        if event.kind == EventKind::Exit && &event.from == child {
            return Some(event.result);
        }
    }
}
