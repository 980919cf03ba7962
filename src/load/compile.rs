//! Compiling a verified binary, through the on-disk cache.

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::cache::CompileCache;
use super::kind::BinaryKind;

/// Compiled code for one binary, shared by every entry that uses the same file.
#[derive(Clone)]
pub enum Code {
    Core(Module),
    Component(Component),
}

impl Code {
    /// The engine it was loaded into: instances and linkers for it must use this one.
    pub fn engine(&self) -> &Engine {
        match self {
            Code::Core(m) => m.engine(),
            Code::Component(c) => c.engine(),
        }
    }
}

/// The engines a binary may be loaded into: the pooled one, and an on-demand one (same
/// code-generation settings, so the same compiled bytes) for binaries whose memories,
/// tables or instances do not fit a pool slot.
pub struct Engines<'a> {
    /// The runtime's engine (pooled, unless the runtime asked for none).
    pub primary: &'a Engine,
    /// Made on first need: most projects never need it.
    pub fallback: &'a (dyn Fn() -> Result<Engine, String> + Sync),
}

/// Compiles `bytes` (already hash-verified as `sha`), using and filling the cache.
///
/// The code is compiled without an allocator (`precompile`) and cached at once, then
/// loaded into the primary engine; one that refuses it for its pool's limits (two
/// memories, a table of 47,000 elements, many core instances) gets it loaded into the
/// on-demand engine instead. So nothing `wasmtime run` accepts is refused for the pool,
/// and a refusal never throws a minute of compiling away.
pub fn compile(
    engines: &Engines<'_>,
    cache: &CompileCache,
    bytes: &[u8],
    sha: &[u8; 32],
    kind: BinaryKind,
) -> Result<Code, String> {
    let entry = cache.entry_for(sha, kind);
    if let Some(payload) = entry.as_ref().and_then(|e| cache.read(e)) {
        match load_anywhere(engines, &payload, kind) {
            Ok(code) => {
                cache.record_hit();
                return Ok(code);
            }
            // A sound envelope wasmtime still refuses (another wasmtime's file, say):
            // compile afresh and overwrite it.
            Err(e) => {
                tracing::warn!("compile cache entry refused by wasmtime ({e}); rebuilding it");
                cache.record_rejected();
            }
        }
    }
    let compiled = match kind {
        BinaryKind::CoreModule => engines.primary.precompile_module(bytes),
        BinaryKind::Component => engines.primary.precompile_component(bytes),
    }
    .map_err(|e| format!("invalid {}: {e:#}", kind.name()))?;
    if let Some(entry) = &entry {
        cache.write(entry, &compiled);
    }
    load_anywhere(engines, &compiled, kind).map_err(|e| format!("invalid {}: {e:#}", kind.name()))
}

/// Loads compiled bytes into the primary engine, or into the on-demand one if the
/// primary's pool cannot hold them. The primary's refusal is the error if both refuse.
fn load_anywhere(
    engines: &Engines<'_>,
    payload: &[u8],
    kind: BinaryKind,
) -> wasmtime::Result<Code> {
    let refused = match load(engines.primary, payload, kind) {
        Ok(code) => return Ok(code),
        Err(refused) => refused,
    };
    match (engines.fallback)() {
        Ok(on_demand) => load(&on_demand, payload, kind).map_err(|_| refused),
        Err(_) => Err(refused),
    }
}

/// Loads compiled bytes into `engine`.
fn load(engine: &Engine, payload: &[u8], kind: BinaryKind) -> wasmtime::Result<Code> {
    // SAFETY: `payload` was produced by `precompile_*` of an engine with these
    // code-generation settings: just now, or (from the cache) in an earlier run, the cache's
    // envelope showing the file undamaged and written for this binary and engine. (It is
    // no defence against someone who can write the cache folder: see `cache`.) wasmtime
    // re-checks the version and compatibility itself.
    unsafe {
        match kind {
            BinaryKind::CoreModule => Module::deserialize(engine, payload).map(Code::Core),
            BinaryKind::Component => Component::deserialize(engine, payload).map(Code::Component),
        }
    }
}
