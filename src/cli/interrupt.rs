//! Ctrl-C, SIGTERM and SIGHUP (`ctrlc`, with its `termination` feature), handled from the
//! moment `wippy` starts: while a project loads (a long compile), the first press stops
//! with a message; once a process runs, it terminates that process, which then Closes
//! cleanly; a second press always exits at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use wippy_wasm::{Pid, RuntimeHandle};

/// The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const INTERRUPTED: u8 = 130;

static PRESSES: AtomicUsize = AtomicUsize::new(0);
static RUNNING: Mutex<Option<(RuntimeHandle, Pid)>> = Mutex::new(None);

/// Installs the handler; call once, first thing.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(INTERRUPTED.into());
        }
        match RUNNING.lock().unwrap().as_ref() {
            Some((runtime, pid)) => {
                runtime.terminate(pid);
            }
            None => {
                eprintln!("wippy: interrupted");
                std::process::exit(INTERRUPTED.into());
            }
        }
    });
}

/// From now on a press terminates `pid` (at once, if one came while it was spawned).
pub fn watch(runtime: RuntimeHandle, pid: Pid) {
    let mut running = RUNNING.lock().unwrap();
    if pressed() {
        runtime.terminate(&pid);
    }
    *running = Some((runtime, pid));
}

/// True once Ctrl-C (or SIGTERM, SIGHUP) has come.
pub fn pressed() -> bool {
    PRESSES.load(Ordering::SeqCst) > 0
}
