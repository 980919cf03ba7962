//! The kernel on its own, with a made-up process kind: no wasmtime, no Lua.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::event::{EventKind, Mailbox};
use super::exit::{ExitReason, ExitResult};
use super::host::Watchers;
use super::kind::Spawnable;
use super::output::GuestLog;
use super::process::{Args, Body};
use super::{Kernel, KernelOptions, SpawnError};
use crate::executor::{sleep, ClockKind};
use crate::registry::{Diagnostics, EntryId, Registry};
use crate::value::Value;

/// A kind whose processes run a closure.
struct Fake<F>(F);

impl<F> Spawnable for Fake<F>
where
    F: Fn(Args) -> Body + Send + Sync,
{
    fn body(self: Arc<Self>, args: Args) -> Body {
        (self.0)(args)
    }

    fn reads_events(&self) -> bool {
        false
    }
}

fn kernel(entries: Vec<(&str, Arc<dyn Spawnable>)>, shutdown_timeout: Duration) -> Arc<Kernel> {
    let yaml = "version: \"1.0\"\nnamespace: t\nentries:\n  - name: host\n    kind: process.host\n    host:\n      workers: 1\n";
    let mut diags = Diagnostics::default();
    let files = [(PathBuf::from("_index.yaml"), yaml.to_owned())];
    let registry = Registry::from_texts(Path::new("/nowhere"), &files, &mut diags);
    assert!(diags.problems.is_empty(), "{:?}", diags.problems);
    let options = KernelOptions {
        fuel_slice: 1,
        preemption: crate::registry::Preemption::Fuel,
        clock: ClockKind::Virtual,
        trace: false,
        network: false,
        blocking_files: false,
        log: GuestLog::default(),
        shutdown_timeout,
        node: None,
    };
    let entries = entries
        .into_iter()
        .map(|(id, s)| (EntryId::parse(id).unwrap(), s))
        .collect();
    Kernel::start(&registry, entries, options).unwrap()
}

#[test]
fn a_made_up_kind_runs_and_its_end_reaches_monitors() {
    let double: Arc<dyn Spawnable> = Arc::new(Fake(|args: Args| -> Body {
        Box::new(move |_ctx| {
            Box::pin(async move {
                sleep(Duration::from_secs(60)).await; // virtual: instant
                match args.values.first() {
                    Some(Value::Int(n)) => ExitResult::ok(Value::Int(n * 2)),
                    _ => ExitReason::failed("no number").into(),
                }
            })
        })
    }));
    let k = kernel(vec![("t:double", double)], Duration::from_secs(5));
    let me = Mailbox::new();
    let pid = k
        .spawn(
            "t:double",
            "t:host",
            vec![Value::Int(21)].into(),
            Watchers::monitor(&me),
        )
        .unwrap();
    let exit = me.receive(Duration::from_secs(60)).expect("EXIT");
    assert_eq!((exit.kind, exit.from), (EventKind::Exit, pid));
    assert_eq!(exit.result, ExitResult::ok(Value::Int(42)));

    k.spawn("t:double", "t:host", Args::default(), Watchers::link(&me))
        .unwrap();
    let down = me.receive(Duration::from_secs(60)).expect("LINK_DOWN");
    assert_eq!(down.kind, EventKind::LinkDown);
    assert_eq!(down.result.error().as_deref(), Some("no number"));

    assert_eq!(
        k.spawn("t:nothing", "t:host", Args::default(), Watchers::default()),
        Err(SpawnError::UnknownEntry("t:nothing".into()))
    );
    k.shutdown();
}

/// A process stuck in one long native call cannot be preempted or killed (modelled by a
/// body that blocks its worker thread for two seconds); shutdown still returns once its
/// deadline passes, abandoning it.
#[test]
fn shutdown_returns_by_its_deadline_with_an_unkillable_process_running() {
    let (entered, inside) = std::sync::mpsc::channel::<()>();
    let entered = std::sync::Mutex::new(entered);
    let finished = Arc::new(AtomicBool::new(false));
    let body_finished = finished.clone();
    let stuck: Arc<dyn Spawnable> = Arc::new(Fake(move |_args: Args| -> Body {
        let (entered, finished) = (entered.lock().unwrap().clone(), body_finished.clone());
        Box::new(move |_ctx| {
            Box::pin(async move {
                entered.send(()).unwrap();
                std::thread::sleep(Duration::from_secs(2));
                finished.store(true, Ordering::SeqCst);
                ExitResult::ok(Value::Null)
            })
        })
    }));
    let k = kernel(vec![("t:stuck", stuck)], Duration::from_millis(200));
    k.spawn("t:stuck", "t:host", Args::default(), Watchers::default())
        .unwrap();
    inside.recv_timeout(Duration::from_secs(60)).unwrap();
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        k.shutdown();
        done.send(()).unwrap();
    });
    dropped
        .recv_timeout(Duration::from_secs(60))
        .expect("shutdown returned");
    assert!(
        !finished.load(Ordering::SeqCst),
        "shutdown returned while the stuck process was still running"
    );
}
