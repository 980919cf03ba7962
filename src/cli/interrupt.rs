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

/// What a first press does.
enum State {
    /// Loading (or done): stop at once, with a message.
    Idle,
    /// A process is being spawned: remember the press; `watch` acts on it, so the process
    /// still Closes.
    Starting,
    /// A process runs: terminate it (it Closes, then wippy exits 130).
    Running(RuntimeHandle, Pid),
    /// The application mode runs: tell it to stop its services.
    Serving(std::sync::mpsc::Sender<()>),
}

static STATE: Mutex<State> = Mutex::new(State::Idle);

/// Installs the handler; call once, first thing.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if PRESSES.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(INTERRUPTED.into());
        }
        match &*STATE.lock().unwrap() {
            State::Running(runtime, pid) => {
                runtime.terminate(pid);
            }
            State::Serving(stop) => {
                let _ = stop.send(());
            }
            State::Starting => {}
            State::Idle => {
                eprintln!("wippy: interrupted");
                std::process::exit(INTERRUPTED.into());
            }
        }
    });
}

/// The application mode starts: the first press (or SIGTERM) arrives on the returned
/// channel.
pub fn serve() -> std::sync::mpsc::Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    if pressed() {
        let _ = tx.send(());
    }
    *STATE.lock().unwrap() = State::Serving(tx);
    rx
}

/// A process is about to be spawned: a press now is held for [`watch`].
pub fn starting() {
    *STATE.lock().unwrap() = State::Starting;
}

/// From now on a press terminates `pid` (at once, if one came while it was spawned).
pub fn watch(runtime: RuntimeHandle, pid: Pid) {
    let mut state = STATE.lock().unwrap();
    if pressed() {
        runtime.terminate(&pid);
    }
    *state = State::Running(runtime, pid);
}

/// The process has ended: a first press from now on stops at once.
pub fn done() {
    *STATE.lock().unwrap() = State::Idle;
}

/// True once Ctrl-C (or SIGTERM, SIGHUP) has come.
pub fn pressed() -> bool {
    PRESSES.load(Ordering::SeqCst) > 0
}
