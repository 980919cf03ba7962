//! `wippy check`: load a project the way `run` would, and say what is wrong with it.

use std::path::Path;
use std::process::ExitCode;

use wippy_wasm::{Project, Runtime};

pub fn run(project: &Path) -> ExitCode {
    let checked = Runtime::builder().check(&Project::folder(project));
    for w in &checked.warnings {
        eprintln!("warning: {w}");
    }
    if checked.is_ok() {
        super::run::say(&format!("ok: {} entries", checked.entries));
        return ExitCode::SUCCESS;
    }
    for p in &checked.problems {
        eprintln!("error: {p}");
    }
    let n = checked.problems.len();
    eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
    ExitCode::FAILURE
}
