//! The wasm process kind (`process.wasm`): at load, each entry's binary is verified,
//! compiled (through `load`), linked and pre-instantiated (`prepared`); at spawn, a
//! process instantiates in a pooled slot and drives one `call_async` (`body`), with its
//! WASI context (`wasi`), its clocks on our executor (`clocks`), its store data and memory
//! limiter (`state`), and its output tagged by PID (`output`).

mod actor;
mod actor_component;
mod actor_core;
mod body;
mod clocks;
#[allow(missing_docs)]
pub mod convert;
mod guest_memory;
mod output;
mod prepared;
mod state;
mod wasi;

use std::sync::{Arc, OnceLock, Weak};

use wasmtime::Engine;

use crate::kernel::kind::{ProcessKind, Ready, Spawnable};
use crate::kernel::process::{Args, Body};
use crate::kernel::Kernel;
use crate::load::engine::EngineOptions;
use crate::load::{CompileCache, Engines};
use crate::registry::{Diagnostics, EntryConfig, EntryId, Location, Registry, WasmEntry};
use prepared::Prepared;
use wasi::EnvSource;

/// The wasm kind: one engine and compile cache for every entry, and an on-demand engine,
/// made when first needed, for binaries the pool cannot hold.
pub(crate) struct WasmKind {
    /// The kernel actors spawn and send through: set once it has started.
    kernel: Arc<OnceLock<Weak<Kernel>>>,
    engine: Engine,
    on_demand: OnceLock<Result<Engine, String>>,
    options: EngineOptions,
    cache: CompileCache,
}

impl WasmKind {
    pub fn new(options: &EngineOptions) -> Result<Self, String> {
        let engine = crate::load::engine::build(options)?;
        let cache = CompileCache::new(&engine, options.cache_dir.clone());
        Ok(Self {
            kernel: Arc::default(),
            engine,
            on_demand: OnceLock::new(),
            options: options.clone(),
            cache,
        })
    }

    fn on_demand(&self) -> Result<Engine, String> {
        self.on_demand
            .get_or_init(|| {
                let options = EngineOptions {
                    pooling: false,
                    ..self.options.clone()
                };
                crate::load::engine::build(&options)
            })
            .clone()
    }

    /// Gives actor processes the kernel they run on.
    pub fn attach(&self, kernel: &Arc<Kernel>) {
        let _ = self.kernel.set(Arc::downgrade(kernel));
    }

    pub fn cache(&self) -> &CompileCache {
        &self.cache
    }
}

impl ProcessKind for WasmKind {
    fn load(
        &self,
        registry: &Registry,
        only: Option<&[EntryId]>,
        diags: &mut Diagnostics,
    ) -> Ready {
        init_directories(registry, diags);
        let engines = Engines {
            primary: &self.engine,
            fallback: &|| self.on_demand(),
        };
        let programs = crate::load::programs(registry, &engines, &self.cache, only, diags);
        let env = Arc::new(EnvSource::from_registry(registry));
        let mut spawnable: Ready = Vec::new();
        for (entry, wasm) in registry.wasm_entries() {
            if let Some(problem) = stack_limit_problem(wasm, self.options.max_wasm_stack) {
                let at = Location::entry(&entry.file, &entry.id);
                diags.problem(at.with_field("limits.max_stack_bytes"), problem);
                continue;
            }
            let Some(program) = programs.get(&entry.id) else {
                continue; // not selected, or refused
            };
            match prepared::prepare(program.code.engine(), program, wasm) {
                Ok(prepared) => spawnable.push((
                    entry.id.clone(),
                    Arc::new(WasmEntryReady {
                        prepared: Arc::new(prepared),
                        env: env.clone(),
                        kernel: self.kernel.clone(),
                    }),
                )),
                Err(message) => diags.problem(
                    Location::entry(&entry.file, &entry.id).with_field("method"),
                    message,
                ),
            }
        }
        spawnable
    }
}

/// A linked wasm entry and the environment its processes read.
struct WasmEntryReady {
    prepared: Arc<Prepared>,
    env: Arc<EnvSource>,
    kernel: Arc<OnceLock<Weak<Kernel>>>,
}

impl Spawnable for WasmEntryReady {
    fn body(self: Arc<Self>, args: Args) -> Body {
        Box::new(move |ctx| {
            let kernel = self.kernel.get().cloned().unwrap_or_default();
            Box::pin(body::run(
                self.prepared.clone(),
                self.env.clone(),
                args,
                ctx,
                kernel,
            ))
        })
    }

    fn reads_events(&self) -> bool {
        self.prepared.actor
    }
}

/// Creates every `fs.directory` marked `auto_init` that does not exist yet: the one
/// binaries are read from, and the ones guests mount alike.
fn init_directories(registry: &Registry, diags: &mut Diagnostics) {
    for entry in registry.entries() {
        let EntryConfig::FsDirectory(fs) = &entry.config else {
            continue;
        };
        if fs.auto_init && !fs.directory.exists() {
            if let Err(e) = std::fs::create_dir_all(&fs.directory) {
                diags.problem(
                    Location::entry(&entry.file, &entry.id).with_field("directory"),
                    format!("cannot create {}: {e}", fs.directory.display()),
                );
            }
        }
    }
}

/// wasmtime's wasm stack limit is engine-wide: every process gets the same stack. A
/// `max_stack_bytes` at or above it is honoured (no process can use more); one below it
/// cannot be, and is refused rather than silently ignored.
fn stack_limit_problem(wasm: &WasmEntry, engine_stack: usize) -> Option<String> {
    let asked = wasm.limits.max_stack_bytes?;
    (asked < engine_stack as u64).then(|| {
        format!(
            "{asked} is below the runtime's wasm stack of {engine_stack} bytes; the stack limit is the same for every process, so lower it for the whole runtime (RuntimeBuilder::max_wasm_stack) instead"
        )
    })
}
