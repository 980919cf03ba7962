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
mod engines;
mod epoch;
mod guest_memory;
mod output;
mod prepared;
mod state;
mod wasi;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use crate::kernel::exit::ExitReason;
use crate::kernel::kind::{ProcessKind, Ready, Spawnable};
use crate::kernel::process::{Args, Body};
use crate::kernel::Kernel;
use crate::load::cache::CacheStats;
use crate::load::engine::EngineOptions;
use crate::load::Engines;
use crate::registry::{
    Diagnostics, EntryConfig, EntryId, Location, Preemption, Registry, WasmEntry,
};
use engines::ModeEngines;
use prepared::Prepared;
use wasi::EnvSource;

/// The wasm kind: per preemption mode in use, engines and a compile cache for every
/// entry; the clock of epoch preemption.
pub(crate) struct WasmKind {
    /// The kernel actors spawn and send through: set once it has started.
    kernel: Arc<OnceLock<Weak<Kernel>>>,
    /// By [`mode_index`]; made when a host first needs the mode.
    modes: [OnceLock<Result<ModeEngines, String>>; 2],
    options: EngineOptions,
    ticker: Arc<epoch::Ticker>,
}

fn mode_index(p: Preemption) -> usize {
    match p {
        Preemption::Fuel => 0,
        Preemption::Epoch => 1,
    }
}

impl WasmKind {
    pub fn new(options: &EngineOptions) -> Result<Self, String> {
        let kind = Self {
            kernel: Arc::default(),
            modes: Default::default(),
            options: options.clone(),
            ticker: Arc::default(),
        };
        // The default mode at once, so a bad engine setting fails the build, not a load.
        kind.mode(options.preemption)?;
        Ok(kind)
    }

    fn mode(&self, preemption: Preemption) -> Result<&ModeEngines, String> {
        self.modes[mode_index(preemption)]
            .get_or_init(|| ModeEngines::new(&self.options, preemption, &self.ticker))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Gives actor processes the kernel they run on.
    pub fn attach(&self, kernel: &Arc<Kernel>) {
        let _ = self.kernel.set(Arc::downgrade(kernel));
    }

    /// What the compile caches counted: every preemption mode in use, plain and
    /// concurrent.
    pub fn cache_stats(&self) -> CacheStats {
        self.modes
            .iter()
            .filter_map(|m| m.get().and_then(|m| m.as_ref().ok()))
            .map(ModeEngines::cache_stats)
            .sum()
    }

    /// The preemption modes the registry's hosts use, the default first.
    fn modes_in_use(&self, registry: &Registry) -> Vec<Preemption> {
        let default = self.options.preemption;
        let mut used = vec![default];
        for entry in registry.entries() {
            if let EntryConfig::ProcessHost(h) = &entry.config {
                let mode = h.preemption.unwrap_or(default);
                if !used.contains(&mode) {
                    used.push(mode);
                }
            }
        }
        used
    }
}

impl ProcessKind for WasmKind {
    /// Every binary is verified and compiled once per preemption mode in use; problems
    /// are reported from the first mode only (the others would repeat them).
    fn load(
        &self,
        registry: &Registry,
        only: Option<&[EntryId]>,
        diags: &mut Diagnostics,
    ) -> Ready {
        init_directories(registry, diags);
        let env = Arc::new(EnvSource::from_registry(registry));
        let mut prepared: HashMap<EntryId, [Option<Arc<Prepared>>; 2]> = HashMap::new();
        let mut repeated = Diagnostics::default();
        for (n, preemption) in self.modes_in_use(registry).into_iter().enumerate() {
            let diags: &mut Diagnostics = if n == 0 { &mut *diags } else { &mut repeated };
            let mode = match self.mode(preemption) {
                Ok(mode) => mode,
                Err(message) => {
                    diags.problem(Location::file(registry.root()), message);
                    continue;
                }
            };
            let concurrent = || {
                mode.concurrent()
                    .map(|set| set as &dyn crate::load::EngineSet)
            };
            let engines = Engines {
                plain: &mode.plain,
                concurrent: &concurrent,
            };
            let programs = crate::load::programs(registry, &engines, only, diags);
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
                    Ok(ready) => {
                        let slots = prepared.entry(entry.id.clone()).or_default();
                        slots[mode_index(preemption)] = Some(Arc::new(ready));
                    }
                    Err(message) => diags.problem(
                        Location::entry(&entry.file, &entry.id).with_field("method"),
                        message,
                    ),
                }
            }
            if n == 0 && prepared.is_empty() {
                break; // nothing loaded: no other mode would differ
            }
        }
        let mut spawnable: Ready = Vec::new();
        for (entry, _) in registry.wasm_entries() {
            let Some(slots) = prepared.remove(&entry.id) else {
                continue;
            };
            if slots[mode_index(self.options.preemption)].is_none() {
                continue; // refused in the mode whose problems were reported
            }
            spawnable.push((
                entry.id.clone(),
                Arc::new(WasmEntryReady {
                    prepared: slots,
                    env: env.clone(),
                    kernel: self.kernel.clone(),
                }),
            ));
        }
        spawnable
    }
}

/// A linked wasm entry (per preemption mode) and the environment its processes read.
struct WasmEntryReady {
    prepared: [Option<Arc<Prepared>>; 2],
    env: Arc<EnvSource>,
    kernel: Arc<OnceLock<Weak<Kernel>>>,
}

impl Spawnable for WasmEntryReady {
    fn body(self: Arc<Self>, args: Args) -> Body {
        Box::new(move |ctx| {
            let kernel = self.kernel.get().cloned().unwrap_or_default();
            let preemption = ctx.settings.preemption;
            let Some(prepared) = self.prepared[mode_index(preemption)].clone() else {
                return Box::pin(async move {
                    ExitReason::failed(format!(
                        "this entry was not compiled for hosts with host.preemption: {}",
                        preemption.name()
                    ))
                    .into()
                });
            };
            Box::pin(body::run(prepared, self.env.clone(), args, ctx, kernel))
        })
    }

    fn reads_events(&self) -> bool {
        self.prepared.iter().flatten().any(|p| p.actor)
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
