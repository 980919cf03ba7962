//! What each process's wasmtime `Store` holds: its WASI context and its memory limiter.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

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

/// Caps linear memory at `limits.memory_bytes`, and remembers the peak for stats. A grow
/// past the cap traps with an error that says so, instead of `memory.grow` returning -1
/// (which most guests turn into an opaque abort).
pub struct MemoryLimiter {
    pub limit: usize,
    /// Where the peak is kept, readable while the process runs.
    pub stats: std::sync::Arc<super::process::ProcessStats>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(wasmtime::Error::msg(format!(
                "memory limit exceeded: the guest asked for {desired} bytes, the limit is {} (limits.memory_bytes)",
                self.limit
            )));
        }
        self.stats
            .peak_memory
            .fetch_max(desired as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
