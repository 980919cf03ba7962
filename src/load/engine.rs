//! The wasmtime [`Engine`]s a runtime uses (one per preemption mode, pooled or on
//! demand), and the knobs that shape them.

use std::path::PathBuf;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::registry::Preemption;

/// Engine-wide settings. Everything here is fixed when the runtime starts, and all of it
/// feeds the compile-cache key (through wasmtime's compatibility hash).
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Pooling-allocator slots: the most instances alive at once across the runtime, per
    /// preemption mode in use; WASI 0.3 components have a pool of a quarter of this more.
    pub max_instances: u32,
    /// Hard cap (and virtual reservation) for each linear memory. 4 GiB lets wasmtime
    /// elide bounds checks on 32-bit memories; the per-process `limits.memory_bytes`
    /// then caps what is actually used.
    pub max_memory_bytes: u64,
    /// Largest wasm stack any process may use (`limits.max_stack_bytes` caps below it).
    pub max_wasm_stack: usize,
    /// Where compiled artifacts are cached; `None` disables the on-disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Instances come from the pool (`true`), or are allocated on demand, as `wasmtime
    /// run` does: for a runtime that runs one program, a pool buys nothing.
    pub pooling: bool,
    /// The preemption of hosts that do not choose (`host.preemption`).
    pub preemption: Preemption,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            max_instances: 10_000,
            max_memory_bytes: 4 << 30,
            max_wasm_stack: 1 << 20,
            cache_dir: default_cache_dir(),
            pooling: true,
            preemption: Preemption::Fuel,
        }
    }
}

/// `$WIPPY_CACHE_DIR`, else `$XDG_CACHE_HOME/wippy-wasm`, else `~/.cache/wippy-wasm`.
pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WIPPY_CACHE_DIR") {
        return Some(dir.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wippy-wasm"))
}

/// Bytes of each pooled memory and table kept resident across reuse (see `build`).
pub(crate) const KEEP_RESIDENT: usize = 128 << 10;

/// The engine for `options` and `preemption`; fails if wasmtime refuses them (a pool
/// larger than the address space).
pub fn build(options: &EngineOptions, preemption: Preemption) -> Result<Engine, String> {
    configure(options, preemption, false)
}

/// The engine for components that use component-model async (WASI 0.3 programs), with
/// concurrency support, which makes every component call dearer (~3x a small spawn), so
/// only the entries that need it get it. Its pool has a quarter of `max_instances` slots
/// (at least one): a second pool reserves its address space a second time, and WASI 0.3
/// programs are the few.
pub fn build_concurrent(options: &EngineOptions, preemption: Preemption) -> Result<Engine, String> {
    let quarter = EngineOptions {
        max_instances: (options.max_instances / 4).max(1),
        ..options.clone()
    };
    configure(&quarter, preemption, true)
}

/// Builds an engine: fuel metering (slices and CPU quotas) or epoch interruption, as
/// `preemption` says (code compiled for one does not run on the other), exceptions on (many
/// toolchains emit them), the component model, with its async ABI only when `concurrent`
/// (without it a rejected call cannot poison an instance, and spawns are ~3x cheaper), and
/// the pooling allocator when `options.pooling`.
fn configure(
    options: &EngineOptions,
    preemption: Preemption,
    concurrent: bool,
) -> Result<Engine, String> {
    let mut pool = PoolingAllocationConfig::new();
    let n = options.max_instances.max(1);
    // The per-component maxima equal the totals: the pool then refuses at load (not at
    // every spawn) a component that could never fit, and it goes to the on-demand engine.
    pool.total_core_instances(n)
        .total_component_instances(n)
        .total_memories(n)
        .total_tables(n)
        .total_stacks(n)
        .max_core_instances_per_component(n)
        .max_memories_per_component(n)
        .max_tables_per_component(n)
        .max_memory_size(options.max_memory_bytes as usize)
        // Reset the first pages of a freed slot with memset instead of madvise: with
        // worker threads on several cores every madvise is a TLB shootdown to all of
        // them (measured: ~30% of a component spawn), and small guests fit entirely.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);

    let mut config = Config::new();
    config
        .consume_fuel(preemption == Preemption::Fuel)
        .epoch_interruption(preemption == Preemption::Epoch)
        .wasm_exceptions(true)
        .wasm_component_model(true)
        .concurrency_support(concurrent)
        .wasm_component_model_async(concurrent)
        .max_wasm_stack(options.max_wasm_stack)
        // The fiber stack must hold the wasm stack plus host frames.
        .async_stack_size(options.max_wasm_stack.saturating_add(512 << 10))
        .memory_reservation(options.max_memory_bytes)
        .allocation_strategy(if options.pooling {
            InstanceAllocationStrategy::Pooling(pool)
        } else {
            InstanceAllocationStrategy::OnDemand
        });
    Engine::new(&config).map_err(|e| format!("cannot create the wasm engine: {e}"))
}
