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

/// Every import of `code` that `declared` does not provide, as a message each.
pub fn unsatisfied(engine: &Engine, code: &Code, declared: &Declared) -> Vec<String> {
    let mut missing = Vec::new();
    match code {
        Code::Core(module) => {
            for import in module.imports() {
                let (m, n) = (import.module(), import.name());
                let ok = match m {
                    "wasi_snapshot_preview1" | "wasi_unstable" => declared.preview1(),
                    "wippy_actor" => declared.actor(),
                    _ => declared.allow_unknown,
                };
                if !ok {
                    let hint = match m {
                        "wasi_snapshot_preview1" | "wasi_unstable" => {
                            "add `wasi1` to the entry's imports".to_owned()
                        }
                        "wippy_actor" => "add `wippy:actor` to the entry's imports".to_owned(),
                        _ => format!("no host interface provides module {m:?} (set `allow_unknown_imports: true` to make its functions trap when called)"),
                    };
                    missing.push(format!("unsatisfied import {m}::{n}: {hint}"));
                }
            }
        }
        Code::Component(component) => {
            for (name, _) in component.component_type().imports(engine) {
                let allowed_unknown = declared.allow_unknown && !name.starts_with("wasi:");
                if !(declared.covers_interface(name) || allowed_unknown) {
                    let base = import_base(name);
                    let package = base.split('/').next().unwrap_or(base);
                    let hint = if package.starts_with("wasi:") {
                        format!("add `{package}` to the entry's imports")
                    } else {
                        format!("no host interface provides {package:?} (set `allow_unknown_imports: true` to make its functions trap when called)")
                    };
                    missing.push(format!("unsatisfied import {name}: {hint}"));
                }
            }
        }
    }
    missing
}

/// Our `wasi:io` covers `wasi:io/poll`; Wippy's runtime wants `wasi:poll` as well. A
/// guest that polls, declared without `wasi:poll`, runs here but not there: say so.
pub fn wippy_poll_warning(engine: &Engine, code: &Code, declared: &Declared) -> Option<String> {
    let Code::Component(component) = code else {
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
