//! Which components need the concurrent engines: those that import a WASI 0.3 interface
//! (linked only there: its async functions need concurrency support), and those that use
//! component-model async themselves (an async lift or lower, a callback, or any async
//! built-in: tasks, waitables, streams, futures, contexts, backpressure). Decided from
//! the binary before compiling, so each component is compiled once, by the engines that
//! will run it.

use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};

/// True if `component` needs concurrency support. A binary that does not parse is left to
/// the plain engines, whose compiler says what is wrong with it.
pub fn needed(component: &[u8]) -> bool {
    for payload in Parser::new(0).parse_all(component) {
        let Ok(payload) = payload else {
            return false;
        };
        match payload {
            Payload::ComponentImportSection(imports) => {
                for import in imports.into_iter().flatten() {
                    if is_wasi_0_3(import.name.name) {
                        return true;
                    }
                }
            }
            Payload::ComponentCanonicalSection(functions) => {
                for function in functions.into_iter().flatten() {
                    if is_async(&function) {
                        return true;
                    }
                }
            }
            _ => {}
        }
    }
    false
}

/// `wasi:cli/exit@0.3.0`, `wasi:clocks/types@0.3.0-rc-2026-03-15`, ...
fn is_wasi_0_3(name: &str) -> bool {
    name.starts_with("wasi:")
        && name
            .split_once('@')
            .is_some_and(|(_, version)| version.starts_with("0.3."))
}

fn is_async(function: &CanonicalFunction) -> bool {
    match function {
        CanonicalFunction::Lift { options, .. } | CanonicalFunction::Lower { options, .. } => {
            options
                .iter()
                .any(|o| matches!(o, CanonicalOption::Async | CanonicalOption::Callback(_)))
        }
        CanonicalFunction::ResourceNew { .. }
        | CanonicalFunction::ResourceDrop { .. }
        | CanonicalFunction::ResourceRep { .. }
        | CanonicalFunction::ThreadSpawnRef { .. }
        | CanonicalFunction::ThreadSpawnIndirect { .. }
        | CanonicalFunction::ThreadAvailableParallelism => false,
        // Everything else is a built-in of component-model async.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guest(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("wasm/bin")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn wasi_0_3_programs_need_it_and_preview_2_components_do_not() {
        assert!(needed(&guest("p3_sleeper.wasm")));
        assert!(needed(&guest("p3_net.wasm")));
        assert!(!needed(&guest("component.wasm")));
        assert!(!needed(&guest("sleeper_component.wasm")));
        assert!(!needed(b"not a component"));
    }

    #[test]
    fn a_wasi_0_3_import_is_told_by_its_version() {
        assert!(is_wasi_0_3("wasi:cli/exit@0.3.0"));
        assert!(is_wasi_0_3("wasi:clocks/types@0.3.0-rc-2026-03-15"));
        assert!(!is_wasi_0_3("wasi:cli/exit@0.2.12"));
        assert!(!is_wasi_0_3("wippy:actor/process@0.3.0"));
        assert!(!is_wasi_0_3("wasi:cli/exit"));
    }
}
