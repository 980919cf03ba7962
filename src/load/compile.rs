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

/// Compiles `bytes` (already hash-verified as `sha`), using and filling the cache.
pub fn compile(
    engine: &Engine,
    cache: &CompileCache,
    bytes: &[u8],
    sha: &[u8; 32],
    kind: BinaryKind,
) -> Result<Code, String> {
    let path = cache.path_for(sha, kind);
    if let Some(path) = &path {
        if let Some(payload) = cache.read(path) {
            // SAFETY: the payload was written by `CompileCache::write` from
            // `serialize()` of this engine configuration, and its sha256 envelope
            // checked out, so these are wasmtime's own bytes, unmodified. wasmtime
            // re-checks version and engine compatibility itself.
            let loaded = unsafe {
                match kind {
                    BinaryKind::CoreModule => Module::deserialize(engine, &payload).map(Code::Core),
                    BinaryKind::Component => {
                        Component::deserialize(engine, &payload).map(Code::Component)
                    }
                }
            };
            match loaded {
                Ok(code) => {
                    cache.record_hit();
                    return Ok(code);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "compile cache entry refused by wasmtime ({e}); rebuilding it");
                    cache.record_rejected();
                }
            }
        }
    }
    let compiled = match kind {
        BinaryKind::CoreModule => Module::new(engine, bytes).map(Code::Core),
        BinaryKind::Component => Component::new(engine, bytes).map(Code::Component),
    }
    .map_err(|e| format!("invalid {}: {e:#}", kind.name()))?;
    if let Some(path) = &path {
        let serialized = match &compiled {
            Code::Core(m) => m.serialize(),
            Code::Component(c) => c.serialize(),
        };
        match serialized {
            Ok(payload) => cache.write(path, &payload),
            Err(e) => tracing::warn!("cannot serialize compiled code for the cache: {e}"),
        }
    }
    Ok(compiled)
}
