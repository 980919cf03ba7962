//! Per-entry work done once at load: link (`InstancePre`) and resolve the export, so a
//! spawn only instantiates and calls.

use std::sync::Arc;

use wasmtime::component::{self, ComponentExportIndex};
use wasmtime::{Engine, InstancePre, Linker};

use super::clocks;
use super::state::ProcessState;
use crate::load::imports::Declared;
use crate::load::Code;
use crate::load::Program;
use crate::registry::{EntryId, WasmEntry};

pub enum Pre {
    Core {
        pre: InstancePre<ProcessState>,
        /// Reactors (`_initialize`) are initialized before `method` is called.
        reactor: bool,
    },
    Component {
        pre: component::InstancePre<ProcessState>,
        export: ComponentExportIndex,
        /// It uses component-model async (WASI 0.3): linked with preview 3 as well, and
        /// its host calls need a tokio context (see `body`).
        concurrent: bool,
    },
}

/// Everything a spawn of one entry needs.
pub struct Prepared {
    pub id: EntryId,
    pub config: WasmEntry,
    pub pre: Pre,
    pub wasi: bool,
    /// The entry declared `wasi:http`: its processes get an HTTP context.
    pub http: bool,
    /// The entry declared `wippy:actor`: its processes get an inbox and the actor
    /// functions.
    pub actor: bool,
}

pub fn prepare(
    engine: &Engine,
    program: &Arc<Program>,
    config: &WasmEntry,
) -> Result<Prepared, String> {
    let declared = Declared::new(&config.imports);
    let method = &config.method;
    let (pre, wasi) = match &program.code {
        Code::Core(module) => {
            let mut linker: Linker<ProcessState> = Linker::new(engine);
            let wasi = declared.preview1();
            if wasi {
                wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut ProcessState| s.p1())
                    .and_then(|_| clocks::shadow_p1(&mut linker))
                    .map_err(|e| format!("cannot link WASI preview 1: {e}"))?;
            }
            if declared.actor() {
                super::actor_core::add_to_linker(&mut linker)
                    .map_err(|e| format!("cannot link wippy:actor: {e}"))?;
            }
            if program.stubbed {
                linker
                    .define_unknown_imports_as_traps(module)
                    .map_err(|e| format!("cannot link unknown imports as traps: {e}"))?;
            }
            if module
                .get_export(method)
                .and_then(|e| e.func().cloned())
                .is_none()
            {
                return Err(format!(
                    "method not found: {method} is not an exported function"
                ));
            }
            let reactor = module.get_export("_initialize").is_some();
            let pre = linker
                .instantiate_pre(module)
                .map_err(|e| format!("cannot link: {e:#}"))?;
            (Pre::Core { pre, reactor }, wasi)
        }
        Code::Component {
            component: comp,
            concurrent,
        } => {
            let mut linker: component::Linker<ProcessState> = component::Linker::new(engine);
            let wasi = comp.component_type().imports(engine).len() > 0;
            if wasi {
                wasmtime_wasi::p2::add_to_linker_async(&mut linker)
                    .and_then(|_| clocks::shadow_p2(&mut linker))
                    .map_err(|e| format!("cannot link WASI preview 2: {e}"))?;
            }
            // WASI 0.3 programs also import 0.2 interfaces (their standard library's), so
            // they get both.
            if wasi && *concurrent {
                wasmtime_wasi::p3::add_to_linker(&mut linker)
                    .and_then(|_| clocks::shadow_p3(&mut linker))
                    .map_err(|e| format!("cannot link WASI preview 3: {e}"))?;
            }
            if declared.actor() {
                super::actor_component::add_to_linker(&mut linker)
                    .map_err(|e| format!("cannot link wippy:actor: {e}"))?;
            }
            if declared.http() {
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
                    .map_err(|e| format!("cannot link wasi:http: {e}"))?;
                if *concurrent {
                    wasmtime_wasi_http::p3::add_to_linker(&mut linker)
                        .map_err(|e| format!("cannot link wasi:http 0.3: {e}"))?;
                }
            }
            if program.stubbed {
                linker
                    .define_unknown_imports_as_traps(comp)
                    .map_err(|e| format!("cannot link unknown imports as traps: {e}"))?;
            }
            let export = component_export(engine, comp, method)?;
            let pre = linker
                .instantiate_pre(comp)
                .map_err(|e| format!("cannot link: {e:#}"))?;
            let concurrent = *concurrent;
            (
                Pre::Component {
                    pre,
                    export,
                    concurrent,
                },
                wasi,
            )
        }
    };
    Ok(Prepared {
        id: program.entry.clone(),
        config: config.clone(),
        pre,
        wasi,
        http: declared.http(),
        actor: declared.actor(),
    })
}

/// `func` or `ns:pkg/iface@ver#func` (the version may be omitted or semver-compatible).
fn component_export(
    engine: &Engine,
    comp: &component::Component,
    method: &str,
) -> Result<ComponentExportIndex, String> {
    let not_found = || format!("method not found: {method} is not exported by the component");
    match method.split_once('#') {
        None => comp.get_export_index(None, method).ok_or_else(not_found),
        Some((iface, func)) => {
            // Without a version, take the newest export of the interface: a WASI 0.3
            // program exports `wasi:cli/run` at 0.2 as a stub, and at 0.3 for real.
            let versioned = (!iface.contains('@'))
                .then(|| {
                    comp.component_type()
                        .exports(engine)
                        .map(|(name, _)| name)
                        .filter(|name| name.split('@').next() == Some(iface))
                        .max_by_key(|name| version_key(name))
                        .map(str::to_owned)
                })
                .flatten();
            let iface = versioned.as_deref().unwrap_or(iface);
            let iface_idx = comp.get_export_index(None, iface).ok_or_else(not_found)?;
            comp.get_export_index(Some(&iface_idx), func)
                .ok_or_else(not_found)
        }
    }
}

/// The numeric parts of an export's `@x.y.z` version, to order them (a pre-release such as
/// `0.3.0-rc-2026-03-15` orders with its release).
fn version_key(name: &str) -> Vec<u64> {
    let version = name.split_once('@').map_or("", |(_, v)| v);
    let release = version.split('-').next().unwrap_or("");
    release.split('.').map(|n| n.parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::version_key;

    #[test]
    fn the_newest_export_version_orders_last() {
        let mut names = [
            "wasi:cli/run@0.3.0",
            "wasi:cli/run@0.2.0",
            "wasi:cli/run@0.10.1",
            "wasi:cli/run@0.3.0-rc-2026-03-15",
        ];
        names.sort_by_key(|n| version_key(n));
        assert_eq!(names[3], "wasi:cli/run@0.10.1");
        assert_eq!(names[0], "wasi:cli/run@0.2.0");
        assert_eq!(version_key("wasi:cli/run"), vec![0]);
    }
}
