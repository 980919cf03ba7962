//! The clock of epoch preemption: one thread per runtime that advances the epoch of
//! every epoch engine each [`TICK`]. A process on an epoch host yields at the first loop
//! head or call after a tick (`epoch_deadline_async_yield_and_update(1)`), so a Step
//! lasts at most about one tick.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::Engine;

/// How long a Step of a busy guest lasts on an epoch host, about.
pub const TICK: Duration = Duration::from_millis(1);

pub struct Ticker {
    engines: Arc<Mutex<Vec<Engine>>>,
    stop: Arc<AtomicBool>,
    started: std::sync::Once,
}

impl Default for Ticker {
    fn default() -> Self {
        Self {
            engines: Arc::default(),
            stop: Arc::default(),
            started: std::sync::Once::new(),
        }
    }
}

impl Ticker {
    /// Ticks `engine` from now on (the thread starts with the first engine).
    pub fn add(&self, engine: &Engine) {
        self.engines.lock().unwrap().push(engine.clone());
        self.started.call_once(|| {
            let (engines, stop) = (self.engines.clone(), self.stop.clone());
            std::thread::Builder::new()
                .name("wippy-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(TICK);
                        for engine in engines.lock().unwrap().iter() {
                            engine.increment_epoch();
                        }
                    }
                })
                .expect("a thread for the epoch clock");
        });
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
