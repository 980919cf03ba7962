//! Checks a binary's own imports against the interfaces its entry declared.
//!
//! Decision: `wasi:io` covers all of `wasi:io/*`, `poll` included. Wippy asks for
//! `wasi:poll` separately and its own examples forget it, so we accept `wasi:poll` as a
//! spelling of `wasi:io/poll` and never require it on top of `wasi:io`.

use wasmtime::Engine;

use super::compile::Code;
use crate::registry::import_base;

/// The declared `imports` of an entry, normalized (version suffixes dropped).
pub struct Declared(Vec<String>);

impl Declared {
    pub fn new(imports: &[String]) -> Self {
        Self(imports.iter().map(|i| import_base(i).to_owned()).collect())
    }

    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|d| d == name)
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
                    _ => false,
                };
                if !ok {
                    let hint = match m {
                        "wasi_snapshot_preview1" | "wasi_unstable" => {
                            "add `wasi1` to the entry's imports".to_owned()
                        }
                        _ => format!("no host interface provides module {m:?}"),
                    };
                    missing.push(format!("unsatisfied import {m}::{n}: {hint}"));
                }
            }
        }
        Code::Component(component) => {
            for (name, _) in component.component_type().imports(engine) {
                if !declared.covers_interface(name) {
                    let base = import_base(name);
                    let package = base.split('/').next().unwrap_or(base);
                    let hint = if package.starts_with("wasi:") {
                        format!("add `{package}` to the entry's imports")
                    } else {
                        format!("no host interface provides {package:?}")
                    };
                    missing.push(format!("unsatisfied import {name}: {hint}"));
                }
            }
        }
    }
    missing
}
