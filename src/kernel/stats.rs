//! A process's counters: live ([`ProcessStats`]) and at one moment ([`StatsSnapshot`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// A live process's counters, readable from any thread while it runs ([`Runtime::stats`])
/// and reported at its end in the EXIT event ([`StatsSnapshot`]).
///
/// [`Runtime::stats`]: crate::Runtime::stats
#[derive(Debug)]
pub struct ProcessStats {
    pub(crate) steps: AtomicU64,
    /// Set when the call returns or traps (a terminated call is not asked).
    pub(crate) fuel_used: AtomicU64,
    /// Largest linear memory, in bytes, updated as it grows.
    pub(crate) peak_memory: AtomicU64,
    /// Time spent inside Steps.
    pub(crate) cpu_nanos: AtomicU64,
    phase: AtomicU8,
    started: Instant,
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Spawned, not yet run.
    Init,
    /// Inside a Step.
    Running,
    /// Between Steps: yielded at the end of a slice, or parked on a timer or I/O.
    Waiting,
    /// Ended.
    Closed,
}

/// A process's counters at one moment (in EXIT events: at its end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Steps taken: polls of its future, each bounded by a fuel or instruction slice.
    pub steps: u64,
    /// Fuel its wasm call used (0 for other kinds, and for a call that was terminated).
    pub fuel_used: u64,
    /// Its largest linear memory, in bytes.
    pub peak_memory: u64,
    /// Time spent inside its Steps.
    pub cpu: Duration,
    /// Time since it was spawned.
    pub wall: Duration,
}

impl Default for ProcessStats {
    fn default() -> Self {
        Self {
            steps: AtomicU64::new(0),
            fuel_used: AtomicU64::new(0),
            peak_memory: AtomicU64::new(0),
            cpu_nanos: AtomicU64::new(0),
            phase: AtomicU8::new(Phase::Init as u8),
            started: Instant::now(),
        }
    }
}

impl ProcessStats {
    /// Where the process is now.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Init,
            1 => Phase::Running,
            2 => Phase::Waiting,
            _ => Phase::Closed,
        }
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps.load(Ordering::Relaxed)
    }

    /// Its largest linear memory so far, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.peak_memory.load(Ordering::Relaxed)
    }

    /// All counters at once.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            steps: self.steps(),
            fuel_used: self.fuel_used.load(Ordering::Relaxed),
            peak_memory: self.peak_memory(),
            cpu: Duration::from_nanos(self.cpu_nanos.load(Ordering::Relaxed)),
            wall: self.started.elapsed(),
        }
    }
}
