//! `wippy run <command> [args...]`, `wippy run list` and `wippy run FILE.wasm` (SPEC §6).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use wippy_wasm::registry::{EntryConfig, Registry};
use wippy_wasm::{
    ExitReason, ExitResult, Limit, Mailbox, Runtime, RuntimeBuilder, RuntimeError, Value,
};

use super::{adhoc, interrupt, FileFlags};

pub fn run(project: &Path, name: &str, args: &[String], flags: &FileFlags) -> ExitCode {
    if name.ends_with(".wasm") || (name.contains('/') && Path::new(name).is_file()) {
        return run_file(Path::new(name), args, flags);
    }
    if flags.any() {
        eprintln!("Error: --dir, --env, --invoke, -W, -S and the limit flags apply to running a .wasm file, not the command {name:?}");
        return ExitCode::from(2);
    }
    if name == "list" {
        return list(project);
    }
    let registry = match Registry::load(project) {
        Ok(r) => r,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let commands = registry.commands();
    let Some((_, entry)) = commands.iter().find(|(c, _)| c.name == name) else {
        eprintln!(
            "Error: command \"{name}\" not found. Use 'wippy run list' to see available commands"
        );
        if let Some(near) = closest(name, commands.iter().map(|(c, _)| c.name.as_str())) {
            eprintln!("Did you mean \"{near}\"?");
        }
        // A folder the scan skipped may be where the command was.
        for w in registry
            .warnings()
            .iter()
            .filter(|w| w.location.entry.is_none())
        {
            eprintln!("warning: {w}");
        }
        return ExitCode::FAILURE;
    };
    let Some(terminal) = host_of_kind(&registry, "terminal.host") else {
        eprintln!("Error: commands run on a terminal.host, and this project has none. Add one to an _index.yaml:\n\n  - name: terminal\n    kind: terminal.host\n");
        return ExitCode::FAILURE;
    };
    run_entry(project, entry, &terminal, args, false)
}

/// `wippy run -x ns:entry [--host H] [args...]` (Wippy's `--exec`): runs a process entry
/// by ID, with or without `meta.command`, on `host`, or on the project's terminal host
/// when it has exactly one.
pub fn exec(project: &Path, id: &str, host: Option<&str>, args: &[String]) -> ExitCode {
    // Wippy's `-x host/entry` (`app:processes/app:worker`) names the host in the ID.
    let (id, host) = match (id.split_once('/'), host) {
        (Some((in_id, entry)), None) => (entry, Some(in_id)),
        (Some(_), Some(_)) => {
            eprintln!("Error: -x {id} names a host, and so does --host: give one of them");
            return ExitCode::from(2);
        }
        (None, host) => (id, host),
    };
    let registry = match Registry::load(project) {
        Ok(r) => r,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runs = |e: &&wippy_wasm::registry::Entry| {
        matches!(e.config, EntryConfig::Wasm(_) | EntryConfig::Lua(_))
    };
    // A bare name (`-x hello`) is the one process entry of that name in any namespace.
    let entry = match wippy_wasm::EntryId::parse(id) {
        Some(full) => registry.get(&full).filter(runs),
        None => {
            let named: Vec<_> = registry
                .entries()
                .iter()
                .filter(|e| e.id.name() == id)
                .filter(runs)
                .collect();
            match named.as_slice() {
                [one] => Some(*one),
                [] => None,
                many => {
                    let ids: Vec<String> = many.iter().map(|e| e.id.to_string()).collect();
                    eprintln!(
                        "Error: several entries are named {id} ({}): give the full ID",
                        ids.join(", ")
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let Some(entry) = entry else {
        eprintln!("Error: process entry not found: {id} (-x takes the ID of a process.wasm or process.lua entry, e.g. app:hello)");
        return ExitCode::FAILURE;
    };
    let host = match host {
        Some(h) => h.to_owned(),
        None => {
            let terminals: Vec<String> = registry
                .entries()
                .iter()
                .filter(|e| e.kind == "terminal.host")
                .map(|e| e.id.to_string())
                .collect();
            match terminals.as_slice() {
                [one] => one.clone(),
                [] => {
                    eprintln!("Error: -x runs on a terminal.host, and this project has none: add one, or name a process.host with --host");
                    return ExitCode::FAILURE;
                }
                many => {
                    eprintln!("Error: the project has several terminal hosts ({}): choose one with --host", many.join(", "));
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    let services = registry
        .entries()
        .iter()
        .any(|e| matches!(&e.config, EntryConfig::Service(s) if s.lifecycle.auto_start));
    run_entry(project, entry, &host, args, services)
}

/// Loads what `entry` needs and runs it on `host` until it ends.
fn run_entry(
    project: &Path,
    entry: &wippy_wasm::registry::Entry,
    host: &str,
    args: &[String],
    with_services: bool,
) -> ExitCode {
    // A wasm command without the actor interface runs only itself: compile nothing
    // else. A Lua command or a wasm actor may spawn any entry, and services run beside
    // a `-x` command, so then everything is made ready.
    let mut builder = builder(COMMAND_SLOTS);
    if let EntryConfig::Wasm(w) = &entry.config {
        let actor = w
            .imports
            .iter()
            .any(|i| wippy_wasm::registry::import_base(i) == "wippy:actor");
        if !actor && !with_services {
            builder.only([entry.id.to_string()]);
        }
    }
    let runtime = match builder.load(project) {
        Ok(rt) => rt,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // As Wippy's `-x`: the application's auto-start services run beside the command (a
    // client next to the server it talks to), and stop when it ends.
    if with_services {
        if let Err(e) = runtime.start_services() {
            eprintln!("Error: {e}");
            runtime.shutdown();
            return ExitCode::FAILURE;
        }
    }
    let result = execute(&runtime, &entry.id.to_string(), host, None, args);
    runtime.stop_services();
    runtime.shutdown();
    exit_status(result, Rules::Command)
}

/// A pool of `slots` instances: each slot costs start-up time (its stack guard page is
/// an mprotect call), so the CLI sizes the pool to what it runs.
fn builder(slots: u32) -> RuntimeBuilder {
    let mut builder = Runtime::builder();
    builder.max_instances(slots);
    super::cluster_flags(&mut builder);
    builder
}

/// A command may be Lua fanning out to many workers at once.
const COMMAND_SLOTS: u32 = 256;

fn run_file(file: &Path, args: &[String], flags: &FileFlags) -> ExitCode {
    if !file.is_file() {
        eprintln!("Error: file not found: {}", file.display());
        return ExitCode::FAILURE;
    }
    let mut flags = flags.clone();
    if let Err(e) = super::wasmtime_flags::apply(&mut flags) {
        eprintln!("Error: {e}");
        return ExitCode::from(2);
    }
    let mut args = args.to_vec();
    if let Some((name, call_args)) = flags
        .invoke
        .as_deref()
        .and_then(super::wasmtime_flags::invoke_call)
    {
        flags.invoke = Some(name);
        args.splice(0..0, call_args);
    }
    let (args, flags) = (&args[..], &flags);
    let project = match adhoc::project_for(file, flags) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A file is one process (a wasm guest cannot spawn): no pool, as with `wasmtime run`,
    // so nothing it declares (memories, tables, a component's instances) meets a pool limit.
    let mut builder = Runtime::builder();
    // The cheaper preemption, as `wasmtime run` has none at all; a fuel budget needs fuel.
    let preemption = if flags.fuel.is_some() {
        wippy_wasm::Preemption::Fuel
    } else {
        wippy_wasm::Preemption::Epoch
    };
    builder
        .pooling(false)
        .preemption(preemption)
        .network(flags.network)
        .blocking_files(true);
    let runtime = match builder.build(&project.project) {
        Ok(rt) => rt,
        Err(RuntimeError::Load(errors)) => {
            for p in &errors.problems {
                let hint = if p.message.starts_with("method not found") {
                    " (choose the function with --invoke NAME)"
                } else {
                    ""
                };
                eprintln!("Error: {}: {}{hint}", file.display(), p.message);
            }
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // argv[0] is the file as the user named it, as `wasmtime run` passes it.
    let program = file.display().to_string();
    let result = execute(&runtime, project.entry, project.host, Some(&program), args);
    runtime.shutdown();
    exit_status(
        result,
        Rules::File {
            invoked: flags.invoke.is_some(),
        },
    )
}

/// Runs `entry` on the terminal host until it ends. The first Ctrl-C (or SIGTERM, or
/// SIGHUP: `ctrlc`'s `termination` feature) terminates it (its Close runs, then we exit
/// 130); a second exits at once.
fn execute(
    runtime: &Runtime,
    entry: &str,
    host: &str,
    program: Option<&str>,
    words: &[String],
) -> Result<ExitResult, u8> {
    let mailbox = Mailbox::new();
    interrupt::starting();
    let spawned = match program {
        Some(program) => runtime.spawn_program(&mailbox, entry, host, program, words),
        None => runtime.spawn_command(&mailbox, entry, host, words),
    };
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => {
            interrupt::done();
            return Ok(ExitReason::failed(e.to_string()).into());
        }
    };
    interrupt::watch(runtime.handle(), pid.clone());
    let exit = loop {
        if let Some(event) = mailbox.receive(Duration::from_secs(3600)) {
            break event;
        }
    };
    interrupt::done();
    if interrupt::pressed() {
        eprintln!("wippy: interrupted; process {pid} closed");
        return Err(interrupt::INTERRUPTED);
    }
    Ok(exit.result)
}

fn host_of_kind(registry: &Registry, kind: &str) -> Option<String> {
    registry
        .entries()
        .iter()
        .find(|e| e.kind == kind)
        .map(|e| e.id.to_string())
}

/// How a run's end becomes wippy's exit status.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// A registry command: SPEC §6.
    Command,
    /// `wippy run FILE.wasm`: as `wasmtime run` does it. `invoked`: `--invoke` named the
    /// function.
    File { invoked: bool },
}

/// The exit status of a run.
///
/// Both: a WASI exit code is the status (its low 8 bits, as the OS takes it).
///
/// A registry command (SPEC §6): a failure prints the error and exits 1; a string is
/// printed and exits 0; an integer N in 0-255 exits N; any other integer is printed, with a
/// note that it is not an exit status, and exits 1 (never 0, and never wrapped around);
/// false exits 1; true or nothing exits 0; any other value is printed and exits 0.
///
/// A file (`wasmtime run`'s rules): a trap, or a limit that ends the guest like one (fuel,
/// the deadline), prints the error and exits 134; any other failure exits 1; a component's
/// `wasi:cli/run` result exits 0 for `ok` and 1 for `err`, printing nothing; with
/// `--invoke`, the result is printed (if there is one) and the status is 0.
fn exit_status(result: Result<ExitResult, u8>, rules: Rules) -> ExitCode {
    let result = match result {
        Ok(r) => r,
        Err(code) => return ExitCode::from(code),
    };
    if let Some(code) = result.exit_code() {
        return ExitCode::from(code as u8);
    }
    if let Some(error) = result.error() {
        eprintln!("Error: {error}");
        // wasmtime reports running out of fuel and an epoch deadline as traps; a full
        // handle table is an error there, not a trap.
        let trapped = result.reason.is_trap()
            || matches!(
                result.reason.limit(),
                Some(Limit::Fuel { .. } | Limit::ExecutionTime { .. })
            );
        return match (rules, trapped) {
            (Rules::File { .. }, true) => ExitCode::from(TRAPPED),
            _ => ExitCode::FAILURE,
        };
    }
    match rules {
        Rules::File { invoked: true } => {
            if result.value != Value::Null {
                print_quietly(&result.value);
            }
            ExitCode::SUCCESS
        }
        Rules::File { invoked: false } => match &result.value {
            Value::Map(m) if m.len() == 1 && m.contains_key("err") => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        },
        Rules::Command => match result.value {
            Value::Null | Value::Bool(true) => ExitCode::SUCCESS,
            Value::Bool(false) => ExitCode::FAILURE,
            Value::Int(n) => match u8::try_from(n) {
                Ok(status) => ExitCode::from(status),
                Err(_) => {
                    print_quietly(&Value::Int(n));
                    eprintln!("wippy: the result {n} is not an exit status (0-255); exiting 1");
                    ExitCode::FAILURE
                }
            },
            other => {
                print_quietly(&other);
                ExitCode::SUCCESS
            }
        },
    }
}

/// The status `wasmtime run` exits with when the guest traps (128 + SIGABRT).
const TRAPPED: u8 = 134;

/// Prints a result on stdout; a reader that went away (`| head`) is not an error of ours.
fn print_quietly(value: &Value) {
    say(&value.to_string());
}

/// Writes a line on stdout, ignoring a closed pipe (`println!` panics on one).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// The command name nearest to `name`, if one is close enough to be a likely typo.
fn closest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|n| (strsim::levenshtein(name, n), n))
        .filter(|(d, n)| *d <= (n.len().max(name.len()) / 3).max(1))
        .min()
        .map(|(_, n)| n)
}

fn list(project: &Path) -> ExitCode {
    let registry = match Registry::load(project) {
        Ok(r) => r,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let commands: Vec<_> = registry
        .commands()
        .into_iter()
        .filter(|(_, e)| matches!(e.config, EntryConfig::Wasm(_) | EntryConfig::Lua(_)))
        .collect();
    if commands.is_empty() {
        say("No commands found.");
        say("Make an entry a command with:\n\n  meta:\n    command:\n      name: hello\n      short: Say hello");
        return ExitCode::SUCCESS;
    }
    say("Available commands:\n");
    let width = commands
        .iter()
        .map(|(c, _)| c.name.len())
        .max()
        .unwrap_or(0);
    for (cmd, entry) in &commands {
        match cmd.short.as_deref() {
            Some(short) => say(&format!("  {:width$}  {short} ({})", cmd.name, entry.id)),
            None => say(&format!("  {:width$}  ({})", cmd.name, entry.id)),
        }
    }
    say("\nRun with: wippy run <command>");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_name_is_suggested_and_a_far_one_is_not() {
        let names = ["compute", "greet", "probe"];
        assert_eq!(closest("greeet", names.into_iter()), Some("greet"));
        assert_eq!(closest("compte", names.into_iter()), Some("compute"));
        assert_eq!(closest("deploy", names.into_iter()), None);
    }
}
