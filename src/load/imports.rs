//! Checks a binary's own imports against the interfaces its entry declared.
//!
//! Decision: `wasi:io` covers all of `wasi:io/*`, `poll` included. Wippy asks for
//! `wasi:poll` separately and its own examples forget it, so we accept `wasi:poll` as a
//! spelling of `wasi:io/poll` and never require it on top of `wasi:io`.

use wasmtime::Engine;

use super::compile::Code;
use crate::registry::import_base;

/// The declared `imports` of an entry, normalized (version suffixes dropped).
pub struct Declared {
    names: Vec<String>,
    /// `allow_unknown_imports`: imports from modules no host provides are linked as
    /// traps instead of failing the load.
    allow_unknown: bool,
}

impl Declared {
    pub fn new(imports: &[String]) -> Self {
        Self {
            names: imports.iter().map(|i| import_base(i).to_owned()).collect(),
            allow_unknown: false,
        }
    }

    pub fn allowing_unknown(mut self, allow: bool) -> Self {
        self.allow_unknown = allow;
        self
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|d| d == name)
    }

    pub fn sockets(&self) -> bool {
        self.has("wasi:sockets")
    }

    pub fn http(&self) -> bool {
        self.has("wasi:http")
    }

    /// `wippy:actor`: the actor interface (module `wippy_actor` for core modules).
    pub fn actor(&self) -> bool {
        self.has("wippy:actor")
    }

    pub fn preview1(&self) -> bool {
        self.has("wasi1") || self.has("wasi_snapshot_preview1")
    }

    /// Whether a component import such as `wasi:io/poll@0.2.0` is covered.
    fn covers_interface(&self, import: &str) -> bool {
        let base = import_base(import);
        let package = base.split('/').next().unwrap_or(base);
        self.has(package) || (base == "wasi:io/poll" && self.has("wasi:poll"))
    }
}

/// What a binary imports that its entry did not declare.
#[derive(Default)]
pub struct Undeclared {
    /// Refused: a WASI or `wippy:actor` interface not declared (they stay gated), or, with
    /// `allow_unknown_imports: false`, anything no host provides. A message each.
    pub refused: Vec<String>,
    /// Imports no host provides, linked as functions that trap when called (Wippy's
    /// behaviour, and ours unless `allow_unknown_imports: false`).
    pub stubbed: Vec<String>,
}

/// Sorts every import of `code` that `declared` does not provide.
pub fn undeclared(engine: &Engine, code: &Code, declared: &Declared) -> Undeclared {
    let mut out = Undeclared::default();
    match code {
        Code::Core(module) => {
            for import in module.imports() {
                let (m, n) = (import.module(), import.name());
                let gated = match m {
                    "wasi_snapshot_preview1" | "wasi_unstable" => Some(declared.preview1()),
                    "wippy_actor" => Some(declared.actor()),
                    _ => None,
                };
                match gated {
                    Some(true) => {}
                    Some(false) => {
                        let hint = if m == "wippy_actor" {
                            "add `wippy:actor` to the entry's imports"
                        } else {
                            "add `wasi1` to the entry's imports"
                        };
                        out.refused.push(format!("unsatisfied import {m}::{n}: {hint}"));
                    }
                    None if declared.allow_unknown => out.stubbed.push(format!("{m}::{n}")),
                    None => out.refused.push(format!("unsatisfied import {m}::{n}: no host interface provides module {m:?} (set `allow_unknown_imports: true` to make its functions trap when called)")),
                }
            }
        }
        Code::Component { component, .. } => {
            for (name, item) in component.component_type().imports(engine) {
                if declared.covers_interface(name) || only_types(engine, &item.ty) {
                    continue;
                }
                let base = import_base(name);
                let package = base.split('/').next().unwrap_or(base);
                let gated = package.starts_with("wasi:") || package == "wippy:actor";
                if gated {
                    out.refused.push(format!(
                        "unsatisfied import {name}: add `{package}` to the entry's imports"
                    ));
                } else if declared.allow_unknown {
                    out.stubbed.push(name.to_owned());
                } else {
                    out.refused.push(format!("unsatisfied import {name}: no host interface provides {package:?} (set `allow_unknown_imports: true` to make its functions trap when called)"));
                }
            }
        }
    }
    out
}

/// An imported interface that holds only types (WIT `use`s often import one): there is
/// nothing to link, so nothing is missing.
fn only_types(engine: &Engine, item: &wasmtime::component::types::ComponentItem) -> bool {
    use wasmtime::component::types::ComponentItem;
    match item {
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .all(|(_, export)| matches!(export.ty, ComponentItem::Type(_))),
        ComponentItem::Type(_) => true,
        _ => false,
    }
}

/// Our `wasi:io` covers `wasi:io/poll`; Wippy's runtime wants `wasi:poll` as well. A
/// guest that polls, declared without `wasi:poll`, runs here but not there: say so.
pub fn wippy_poll_warning(engine: &Engine, code: &Code, declared: &Declared) -> Option<String> {
    let Code::Component { component, .. } = code else {
        return None;
    };
    let polls = component
        .component_type()
        .imports(engine)
        .any(|(name, _)| import_base(name) == "wasi:io/poll");
    (polls && declared.has("wasi:io") && !declared.has("wasi:poll")).then(|| {
        "the guest imports wasi:io/poll, which `wasi:io` covers here; Wippy's own runtime also needs `wasi:poll` in imports".to_owned()
    })
}
