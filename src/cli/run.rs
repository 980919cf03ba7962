//! `wippy run <command> [args...]` and `wippy run list` (SPEC §6).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use wippy_wasm::event::Mailbox;
use wippy_wasm::registry::{EntryConfig, Registry};
use wippy_wasm::runtime::{Runtime, RuntimeOptions};
use wippy_wasm::value::Value;

pub fn run(project: &Path, name: &str, args: &[String]) -> ExitCode {
    if name == "list" {
        return list(project);
    }
    let options = RuntimeOptions {
        engine: wippy_wasm::engine::EngineOptions {
            max_instances: 1_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let runtime = match Runtime::load(project, options) {
        Ok(rt) => rt,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let registry = &runtime.project().registry;
    let Some((_, entry)) = registry
        .commands()
        .into_iter()
        .find(|(c, _)| c.name == name)
    else {
        eprintln!(
            "Error: command \"{name}\" not found. Use 'wippy run list' to see available commands"
        );
        return ExitCode::FAILURE;
    };
    let Some(terminal) = host_of_kind(registry, "terminal.host") else {
        eprintln!("Error: commands need a terminal.host, and this project has none. Add:\n\n  - name: terminal\n    kind: terminal.host\n");
        return ExitCode::FAILURE;
    };
    if host_of_kind(registry, "process.host").is_none() {
        eprintln!("Error: commands need a process.host, and this project has none. Add:\n\n  - name: processes\n    kind: process.host\n");
        return ExitCode::FAILURE;
    }
    let args = args.iter().map(|a| Value::String(a.clone())).collect();
    let mailbox = Mailbox::new();
    if let Err(e) = runtime.spawn_monitored(&mailbox, &entry.id.to_string(), &terminal, args) {
        eprintln!("Error: {e}");
        return ExitCode::FAILURE;
    }
    let exit = loop {
        if let Some(event) = mailbox.receive(Duration::from_secs(3600)) {
            break event;
        }
    };
    runtime.shutdown();
    exit_status(exit.result)
}

fn host_of_kind(registry: &Registry, kind: &str) -> Option<String> {
    registry
        .entries()
        .iter()
        .find(|e| e.kind == kind)
        .map(|e| e.id.to_string())
}

/// SPEC §6: a string is printed and exits 0, an integer N exits N, false exits 1,
/// true or nothing exits 0; a failure prints the error and exits 1.
fn exit_status(result: wippy_wasm::event::ExitResult) -> ExitCode {
    if let Some(code) = result.exit_code {
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if let Some(error) = result.error {
        eprintln!("Error: {error}");
        return ExitCode::FAILURE;
    }
    match result.value {
        Value::Null | Value::Bool(true) => ExitCode::SUCCESS,
        Value::Bool(false) => ExitCode::FAILURE,
        Value::Int(n) => ExitCode::from(n.clamp(0, 255) as u8),
        other => {
            println!("{other}");
            ExitCode::SUCCESS
        }
    }
}

fn list(project: &Path) -> ExitCode {
    let registry = match Registry::load(project) {
        Ok(r) => r,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let commands = registry.commands();
    if commands.is_empty() {
        println!("No commands found.");
        println!("Make an entry a command with:\n\n  meta:\n    command:\n      name: hello\n      short: Say hello");
        return ExitCode::SUCCESS;
    }
    println!("Available commands:");
    println!();
    let width = commands
        .iter()
        .map(|(c, _)| c.name.len())
        .max()
        .unwrap_or(0);
    for (cmd, entry) in &commands {
        let short = cmd.short.as_deref().unwrap_or("");
        let kind_ok = matches!(entry.config, EntryConfig::Wasm(_) | EntryConfig::Lua(_));
        if kind_ok {
            println!("  {:width$}  {short} ({})", cmd.name, entry.id);
        }
    }
    println!();
    println!("Run with: wippy run <command>");
    ExitCode::SUCCESS
}
