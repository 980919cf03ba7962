//! `wippy check`: load a project the way `run` would, and say what is wrong with it.

use std::path::Path;
use std::process::ExitCode;

use wippy_wasm::binary::CompileCache;
use wippy_wasm::engine::{self, EngineOptions};
use wippy_wasm::project::Project;

pub fn run(project: &Path) -> ExitCode {
    // Checking instantiates nothing, so one pool slot is enough; the code-generation
    // settings (and so the cache key) are the same as for `run`.
    let options = EngineOptions {
        max_instances: 1,
        ..EngineOptions::default()
    };
    let engine = match engine::build(&options) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let cache = CompileCache::new(&engine, options.cache_dir.clone());
    let (result, warnings) = Project::load_with_warnings(project, &engine, &cache);
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    match result {
        Ok(p) => {
            println!("ok: {} entries", p.registry.entries().len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for p in &errors.problems {
                eprintln!("error: {p}");
            }
            let n = errors.problems.len();
            eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
            ExitCode::FAILURE
        }
    }
}
