//! What each process's wasmtime `Store` holds: its WASI context and its memory limiter.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kernel::exit::Limit;
use crate::kernel::stats::ProcessStats;

pub enum Wasi {
    None,
    P1(Box<WasiP1Ctx>),
    P2 {
        ctx: Box<WasiCtx>,
        table: ResourceTable,
    },
}

pub struct ProcessState {
    pub wasi: Wasi,
    pub memory: MemoryLimiter,
    /// Only for entries that declared `wasi:http`.
    pub http: Option<Box<WasiHttpCtx>>,
    /// Only for entries that declared `wippy:actor`.
    pub actor: Option<Box<super::actor::Actor>>,
}

impl WasiHttpView for ProcessState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        match (&mut self.wasi, &mut self.http) {
            (Wasi::P2 { table, .. }, Some(ctx)) => WasiHttpCtxView {
                ctx,
                table,
                hooks: Default::default(),
            },
            // wasi:http is linked only for entries that declared it, whose state has both.
            _ => unreachable!("wasi:http called on a process without an HTTP context"),
        }
    }
}

impl WasiView for ProcessState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        match &mut self.wasi {
            Wasi::P2 { ctx, table } => WasiCtxView { ctx, table },
            // The component linker only exists for entries whose state is built as P2.
            _ => unreachable!("preview-2 WASI called on a process without a preview-2 context"),
        }
    }
}

impl ProcessState {
    pub fn table(&mut self) -> &mut ResourceTable {
        match &mut self.wasi {
            Wasi::P2 { table, .. } => table,
            _ => unreachable!("preview-2 resources used by a process without a preview-2 context"),
        }
    }

    pub fn p1(&mut self) -> &mut WasiP1Ctx {
        match &mut self.wasi {
            Wasi::P1(ctx) => ctx,
            _ => unreachable!("preview-1 WASI called on a process without a preview-1 context"),
        }
    }
}

/// Caps the linear memory of the whole process (every memory of every core instance
/// inside it: a component can hold hundreds) at `limits.memory_bytes`, and remembers the
/// peak for stats. A grow
/// past the cap fails the way the wasm spec says, `memory.grow` returns -1, so a guest
/// that copes with out-of-memory (C's `malloc` returning NULL) keeps running; the refusal
/// is remembered so that if the process then fails, its error says the limit was hit.
pub struct MemoryLimiter {
    pub limit: usize,
    /// Where the peak is kept, readable while the process runs.
    pub stats: std::sync::Arc<ProcessStats>,
    /// The last grow refused for the limit: the total the guest would have had.
    pub refused: Option<usize>,
    /// Bytes of linear memory the process holds, all memories together.
    pub total: usize,
}

impl MemoryLimiter {
    /// What to add to a failure's error when the guest had hit its memory limit.
    pub fn refusal(&self) -> Option<Limit> {
        self.refused.map(|asked| Limit::Memory {
            asked,
            limit: self.limit,
        })
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the memory's own declared maximum: refuse here. Saying yes leaves wasmtime
        // to fail the grow with an error, which (with RUST_BACKTRACE set) captures a
        // backtrace per grow: a grow loop then ran for a minute in one Step.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let total = (self.total - current.min(self.total)).saturating_add(desired);
        if total > self.limit {
            self.refused = Some(total);
            return Ok(false);
        }
        self.total = total;
        self.stats
            .peak_memory
            .fetch_max(total as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000 && maximum.is_none_or(|max| desired <= max))
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryLimiter;
    use wasmtime::ResourceLimiter;

    #[test]
    fn the_memory_limit_counts_every_memory_of_the_process_together() {
        let mut limiter = MemoryLimiter {
            limit: 10 << 20,
            stats: Default::default(),
            refused: None,
            total: 0,
        };
        // Two memories (two core instances of a component) of 4 MiB each fit...
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        // ...growing either past the 10 MiB the process has in all does not.
        assert!(!limiter.memory_growing(4 << 20, 7 << 20, None).unwrap());
        assert_eq!(limiter.refused, Some(11 << 20));
        assert!(limiter.memory_growing(4 << 20, 6 << 20, None).unwrap());
        assert_eq!(limiter.total, 10 << 20);
        // A memory's own declared maximum is refused by us, without an error.
        assert!(!limiter.memory_growing(0, 2, Some(1)).unwrap());
    }
}
