//! Compiling a verified binary, through the on-disk cache.

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::cache::CompileCache;
use super::kind::BinaryKind;

/// Compiled code for one binary, shared by every entry that uses the same file.
#[derive(Clone)]
pub enum Code {
    Core(Module),
    Component {
        component: Component,
        /// Loaded into the concurrent engine: it uses component-model async (WASI 0.3),
        /// so it is linked with preview 3 and its calls run on wasmtime's concurrent path.
        concurrent: bool,
    },
}

impl Code {
    /// The engine it was loaded into: instances and linkers for it must use this one.
    pub fn engine(&self) -> &Engine {
        match self {
            Code::Core(m) => m.engine(),
            Code::Component { component, .. } => component.engine(),
        }
    }
}

/// One engine configuration a binary may be loaded into: a primary engine (pooled, unless
/// the runtime asked for none), an on-demand one with the same code-generation settings
/// (so the same compiled bytes) for binaries whose memories, tables or instances do not
/// fit a pool slot, and the compile cache of that code.
pub trait EngineSet: Sync {
    /// The engine binaries go to first.
    fn primary(&self) -> &Engine;
    /// Made on first need: most projects never need it.
    fn on_demand(&self) -> Result<Engine, String>;
    /// Where code compiled for this configuration is cached.
    fn cache(&self) -> &CompileCache;
    /// Its engines have concurrency support (component-model async).
    fn concurrent(&self) -> bool;
}

/// The engine configurations a binary may be loaded into.
pub struct Engines<'a> {
    /// The runtime's engines.
    pub plain: &'a dyn EngineSet,
    /// The engines with concurrency support, for components that use component-model async
    /// or import WASI 0.3 (their code differs, and so does their cache). Made on first
    /// need.
    pub concurrent: &'a (dyn Fn() -> Result<&'a dyn EngineSet, String> + Sync),
}

/// Compiles `bytes` (already hash-verified as `sha`), using and filling the cache.
///
/// A component that needs concurrency support ([`super::concurrency::needed`]) goes to
/// the concurrent engines, everything else to the plain ones. The code is compiled without
/// an allocator (`precompile`) and cached at once, then loaded into the set's primary
/// engine; one that refuses it for its pool's limits (two memories, a table of 47,000
/// elements, many core instances) gets it loaded into the set's on-demand engine instead.
/// So nothing `wasmtime run` accepts is refused for the pool, and a refusal never throws a
/// minute of compiling away.
pub fn compile(
    engines: &Engines<'_>,
    bytes: &[u8],
    sha: &[u8; 32],
    kind: BinaryKind,
) -> Result<Code, String> {
    if kind == BinaryKind::Component && super::concurrency::needed(bytes) {
        let set = (engines.concurrent)()?;
        return compile_into(set, bytes, sha, kind);
    }
    compile_into(engines.plain, bytes, sha, kind)
}

/// Compiles for `set` through its cache, and loads the code into one of its engines.
fn compile_into(
    set: &dyn EngineSet,
    bytes: &[u8],
    sha: &[u8; 32],
    kind: BinaryKind,
) -> Result<Code, String> {
    let cache = set.cache();
    let entry = cache.entry_for(sha, kind);
    if let Some(payload) = entry.as_ref().and_then(|e| cache.read(e)) {
        match load_anywhere(set, &payload, kind) {
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
        BinaryKind::CoreModule => set.primary().precompile_module(bytes),
        BinaryKind::Component => set.primary().precompile_component(bytes),
    }
    .map_err(|e| format!("invalid {}: {e:#}", kind.name()))?;
    if let Some(entry) = &entry {
        cache.write(entry, &compiled);
    }
    load_anywhere(set, &compiled, kind).map_err(|e| format!("invalid {}: {e:#}", kind.name()))
}

/// Loads compiled bytes into the set's primary engine, or into its on-demand one if the
/// primary's pool cannot hold them. The primary's refusal is the error if both refuse.
fn load_anywhere(set: &dyn EngineSet, payload: &[u8], kind: BinaryKind) -> wasmtime::Result<Code> {
    let concurrent = set.concurrent();
    let refused = match load(set.primary(), payload, kind, concurrent) {
        Ok(code) => return Ok(code),
        Err(refused) => refused,
    };
    match set.on_demand() {
        Ok(on_demand) => load(&on_demand, payload, kind, concurrent).map_err(|_| refused),
        Err(_) => Err(refused),
    }
}

/// Loads compiled bytes into `engine` (`concurrent`: the engine has concurrency support).
fn load(
    engine: &Engine,
    payload: &[u8],
    kind: BinaryKind,
    concurrent: bool,
) -> wasmtime::Result<Code> {
    // SAFETY: `payload` was produced by `precompile_*` of an engine with these
    // code-generation settings: just now, or (from the cache) in an earlier run, the cache's
    // envelope showing the file undamaged and written for this binary and engine. (It is
    // no defence against someone who can write the cache folder: see `cache`.) wasmtime
    // re-checks the version and compatibility itself.
    unsafe {
        match kind {
            BinaryKind::CoreModule => Module::deserialize(engine, payload).map(Code::Core),
            BinaryKind::Component => {
                Component::deserialize(engine, payload).map(|component| Code::Component {
                    component,
                    concurrent,
                })
            }
        }
    }
}
