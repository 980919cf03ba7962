//! The `wippy` binary itself (SPEC §6), run as a user would run it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::*;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn wippy() -> (Command, tempfile::TempDir) {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wippy"));
    cmd.env("WIPPY_CACHE_DIR", cache.path())
        .env_remove("OUTPUT_FORMAT");
    (cmd, cache)
}

fn done(out: Output) -> Run {
    Run {
        status: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `wippy <args...>`, with a private compile cache.
fn cli(args: &[&str]) -> Run {
    let (mut cmd, _cache) = wippy();
    done(cmd.args(args).output().unwrap())
}

/// A committed guest's path, as an argument.
fn guest_file(name: &str) -> String {
    guests().join(name).display().to_string()
}

/// `wippy --project <project> <args...>`.
fn run_in(project: &std::path::Path, args: &[&str]) -> Run {
    let (mut cmd, _cache) = wippy();
    done(
        cmd.arg("--project")
            .arg(project)
            .args(args)
            .output()
            .unwrap(),
    )
}

fn examples(args: &[&str]) -> Run {
    run_in(&repo().join("examples"), args)
}

#[test]
fn run_list_prints_every_command_sorted() {
    let r = examples(&["run", "list"]);
    assert_eq!(r.status, 0);
    assert_eq!(
        r.stdout,
        "Available commands:\n\n  compute     Multiply two integers in WASM (myns:compute_worker)\n  dispatch    A Lua dispatcher feeds jobs to a pool of wasm workers by messages (actors:dispatch)\n  fanout      Fan out N wasm workers from Lua and gather their results (myns:fanout)\n  greet       Greet someone via WASM (myns:greet)\n  pingpong    Two C wasm processes exchange N messages in order (actors:pingpong)\n  probe       Show what a WASI guest sees (myns:probe)\n  spawn_demo  Spawn compute_worker from Lua and print its result (myns:spawn_demo)\n\nRun with: wippy run <command>\n"
    );
}

#[test]
fn exit_status_follows_the_return_value_and_the_wasi_exit_code() {
    let r = examples(&["run", "compute", "6", "7"]);
    assert_eq!((r.status, r.stdout.as_str()), (42, ""));
    let r = examples(&["run", "greet", "Ada"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "Hello, Ada!\n"));
    let r = examples(&["run", "probe", "exit", "3"]);
    assert_eq!((r.status, r.stdout.as_str()), (3, "exiting 3\n"));
    // An integer that is no exit status is printed, said so, and exits 1: never 0, never
    // wrapped around.
    let r = examples(&["run", "compute", "-2", "3"]);
    assert_eq!((r.status, r.stdout.as_str()), (1, "-6\n"));
    assert!(
        r.stderr
            .contains("the result -6 is not an exit status (0-255)"),
        "{}",
        r.stderr
    );
    let r = examples(&["run", "compute", "1000", "1000"]);
    assert_eq!((r.status, r.stdout.as_str()), (1, "1000000\n"));
    // A failure prints the error and exits 1.
    let r = examples(&["run", "compute", "six", "7"]);
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr.trim_end(),
        "Error: parameter 0: expected i32, got string \"six\""
    );

    // true / false / nothing, through a component's bool.
    let index = format!(
        "{}  - name: terminal\n    kind: terminal.host\n  - name: procs\n    kind: process.host\n{}",
        "",
        guest(
            "even",
            "types.wasm",
            "even",
            "    meta:\n      command: {name: even}\n"
        )
    );
    let dir = project(&[("_index.yaml", &index_with(&index))]);
    assert_eq!(run_in(dir.path(), &["run", "even", "4"]).status, 0);
    assert_eq!(run_in(dir.path(), &["run", "even", "3"]).status, 1);
}

#[test]
fn args_reach_the_guest_as_argv_and_env_comes_from_the_registry() {
    let r = examples(&["run", "probe", "args", "one", "--two"]);
    assert_eq!(r.stdout, "arg probe\narg args\narg one\narg --two\n");
    let (mut cmd, _c) = wippy();
    let r = done(
        cmd.args([
            "--project",
            "examples",
            "run",
            "probe",
            "env",
            "OUTPUT_FORMAT",
        ])
        .current_dir(repo())
        .env("OUTPUT_FORMAT", "json")
        .output()
        .unwrap(),
    );
    assert_eq!(r.stdout, "env OUTPUT_FORMAT=json\n");
    // The entry's default when the OS has none.
    let r = examples(&["run", "probe", "env", "OUTPUT_FORMAT"]);
    assert_eq!(r.stdout, "env OUTPUT_FORMAT=text\n");
}

#[test]
fn an_unknown_command_says_so_and_suggests_the_nearest() {
    let r = examples(&["run", "gret"]);
    assert_eq!(r.status, 1);
    assert_eq!(
        r.stderr,
        "Error: command \"gret\" not found. Use 'wippy run list' to see available commands\nDid you mean \"greet\"?\n"
    );
    let r = examples(&["run", "deploy"]);
    assert!(!r.stderr.contains("Did you mean"));
}

#[test]
fn a_missing_host_is_named_with_the_yaml_to_add() {
    let cmd = guest(
        "w",
        "worker.wasm",
        "compute",
        "    meta:\n      command: {name: w}\n",
    );
    let no_terminal = project(&[(
        "_index.yaml",
        &index_with(&format!("  - name: procs\n    kind: process.host\n{cmd}")),
    )]);
    let r = run_in(no_terminal.path(), &["run", "w", "1", "2"]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("has none") && r.stderr.contains("kind: terminal.host"),
        "{}",
        r.stderr
    );
    // As in Wippy, a terminal host is enough.
    let only_terminal = project(&[(
        "_index.yaml",
        &index_with(&format!("  - name: term\n    kind: terminal.host\n{cmd}")),
    )]);
    let r = run_in(only_terminal.path(), &["run", "w", "6", "7"]);
    assert_eq!(r.status, 42, "{}", r.stderr);
}

#[test]
fn exec_runs_an_entry_by_id_on_the_terminal_host_or_the_one_named() {
    let entries = guest("w", "worker.wasm", "compute", "")
        + "  - name: hello\n    kind: process.lua\n    source: \"return { main = function(who) print('hello ' .. who) end }\"\n";
    let one_terminal = project(&[(
        "_index.yaml",
        &index_with(&format!(
            "  - name: term\n    kind: terminal.host\n{entries}"
        )),
    )]);
    let r = run_in(one_terminal.path(), &["run", "-x", "t:w", "6", "7"]);
    assert_eq!(r.status, 42, "{}", r.stderr);
    let r = run_in(one_terminal.path(), &["run", "--exec", "t:hello", "Ada"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "hello Ada\n"),
        "{}",
        r.stderr
    );
    let r = run_in(one_terminal.path(), &["run", "-x", "t:nothing"]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("entry not found: t:nothing"),
        "{}",
        r.stderr
    );

    let two_terminals = project(&[(
        "_index.yaml",
        &index_with(&format!(
            "  - name: a\n    kind: terminal.host\n  - name: b\n    kind: terminal.host\n{entries}"
        )),
    )]);
    let r = run_in(two_terminals.path(), &["run", "-x", "t:w", "6", "7"]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("--host") && r.stderr.contains("t:a") && r.stderr.contains("t:b"),
        "{}",
        r.stderr
    );
    let r = run_in(
        two_terminals.path(),
        &["run", "-x", "t:w", "--host", "t:b", "6", "7"],
    );
    assert_eq!(r.status, 42, "{}", r.stderr);
    // Wippy's forms: `host/entry`, and a bare name when only one entry has it.
    let r = run_in(two_terminals.path(), &["run", "-x", "t:a/t:w", "6", "7"]);
    assert_eq!(r.status, 42, "{}", r.stderr);
    let r = run_in(two_terminals.path(), &["run", "-x", "t:a/hello", "Bo"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "hello Bo\n"),
        "{}",
        r.stderr
    );
    let r = run_in(
        two_terminals.path(),
        &["run", "-x", "t:a/t:w", "--host", "t:b"],
    );
    assert_eq!(r.status, 2);
    assert!(
        r.stderr.contains("names a host, and so does --host"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_file_runs_directly_with_dir_env_and_invoke() {
    let data = tempfile::tempdir().unwrap();
    let probe = guest_file("wasi_probe.wasm");
    let dir = format!("--dir={}::/data", data.path().display());
    let r = cli(&[
        "run",
        &dir,
        "--env",
        "GREETING=hi",
        &probe,
        "files",
        "/data",
    ]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("write ok\nread hello\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("rename ok\nunlink ok\n"), "{}", r.stdout);

    let r = cli(&["run", "--env", "GREETING=hi", &probe, "env", "GREETING"]);
    assert_eq!(r.stdout, "env GREETING=hi\n");

    // --invoke prints the value and exits 0, as `wasmtime run` does.
    let worker = guest_file("worker.wasm");
    let r = cli(&["run", "--invoke", "compute", &worker, "6", "7"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "42\n"));
    // A component's run export by default is wasi:cli/run; a custom export by --invoke.
    let r = cli(&[
        "run",
        "--invoke",
        "greet",
        &guest_file("component.wasm"),
        "Bo",
    ]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "Hello, Bo!\n"));
    let r = cli(&["run", "--invoke", "nope", &worker]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("method not found") && r.stderr.contains("--invoke"),
        "{}",
        r.stderr
    );
    // A WASI 0.3 component runs as `wasmtime run` runs it: its async `wasi:cli/run`
    // (newer than the 0.2 one a component may also export), ok exits 0, err exits 1.
    let p3 = guest_file("p3_sleeper.wasm");
    // (Real time: ok needs 250 ms <= elapsed < 450 ms, a 200 ms margin for a busy host.)
    let r = cli(&["run", &p3, "200", "250"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", "")
    );
    let r = cli(&["run", &p3, "200", "later"]);
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (1, "", "")
    );
    // Sockets are linked always, as in wasmtime; the host's network only with
    // `-S inherit-network`: without it the bind is refused and `run` returns err.
    let net = guest_file("p3_net.wasm");
    assert_eq!(cli(&["run", &net]).status, 1);
    assert_eq!(cli(&["run", "-S", "inherit-network", &net]).status, 0);
    // Limits.
    let misbehave = guest_file("misbehave.wasm");
    let r = cli(&["run", "--invoke", "spin", "--fuel", "100000", &misbehave]);
    assert_eq!(r.status, 134);
    assert!(r.stderr.contains("fuel limit exceeded"), "{}", r.stderr);
}

#[test]
fn bad_files_and_flags_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let r = cli(&["run", &text.display().to_string()]);
    assert_eq!(r.status, 1);
    assert!(
        r.stderr.contains("not a WebAssembly binary"),
        "{}",
        r.stderr
    );
    let r = cli(&["run", "missing.wasm"]);
    assert_eq!(r.stderr, "Error: file not found: missing.wasm\n");
    let r = cli(&["run", "--env", "NOEQUALS", "x.wasm"]);
    assert_eq!(r.status, 2, "clap's usage error");
    assert!(r.stderr.contains("expected NAME=VALUE"), "{}", r.stderr);
    let probe = guest_file("wasi_probe.wasm");
    let r = cli(&["run", "--dir", "/definitely/not/here", &probe]);
    assert!(r.stderr.contains("is not a directory"), "{}", r.stderr);
}

#[test]
fn version_help_and_check() {
    let r = cli(&["--version"]);
    assert_eq!(r.stdout, format!("wippy {}\n", env!("CARGO_PKG_VERSION")));
    let r = cli(&["run", "--help"]);
    assert!(r.stdout.contains("--invoke") && r.stdout.contains("Examples:"));
    let r = examples(&["check"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("ok: "));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_process_cleanly_with_status_130() {
    stops_cleanly_on("INT");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_process_cleanly_like_ctrl_c() {
    stops_cleanly_on("TERM");
}

#[cfg(unix)]
fn stops_cleanly_on(signal: &str) {
    let (mut cmd, _c) = wippy();
    let mut child = cmd
        .args(["--project", "examples", "run", "probe", "sleep", "600000"])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the guest is really asleep (it says so first).
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "sleeping 600000\n");
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("interrupted; process {myns:terminal|1} closed"),
        "{stderr}"
    );
}

#[test]
fn lua_commands_run_from_the_cli() {
    let r = examples(&["run", "spawn_demo"]);
    assert_eq!((r.status, r.stdout.as_str()), (42, "42\n"), "{}", r.stderr);
    let r = examples(&["run", "fanout", "50"]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "50 workers, sum 2550, 0 failed\n"),
        "{}",
        r.stderr
    );
}

/// What the default pool cannot hold, file mode runs (it allocates on demand, as
/// `wasmtime run` does): two memories, a table of 47,157 elements.
#[test]
fn file_mode_runs_modules_larger_than_a_pool_slot() {
    let outsized = guest_file("outsized.wasm");
    let r = cli(&["run", "--invoke", "two_memories", &outsized]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "7\n"), "{}", r.stderr);
    let r = cli(&["run", "--invoke", "big_table", &outsized]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "[7, 47157]\n"),
        "{}",
        r.stderr
    );
}

/// `wippy run FILE.wasm` exits as `wasmtime run` does: 134 for a trap (and for running
/// out of fuel, which wasmtime reports as one), the guest's exit code, `argv[0]` the file
/// as named, and nothing of ours on stdout.
#[test]
fn file_mode_exits_like_wasmtime_run() {
    let misbehave = guest_file("misbehave.wasm");
    let r = cli(&["run", "--invoke", "unreachable", &misbehave]);
    assert_eq!((r.status, r.stdout.as_str()), (134, ""), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("Error: failed to call wasm method: unreachable: wasm trap:"),
        "{}",
        r.stderr
    );
    let r = cli(&["run", "--invoke", "spin", "--fuel", "100000", &misbehave]);
    assert_eq!(r.status, 134, "{}", r.stderr);

    let probe = guest_file("wasi_probe.wasm");
    let r = cli(&["run", &probe, "exit", "3"]);
    assert_eq!((r.status, r.stdout.as_str()), (3, "exiting 3\n"));
    let r = cli(&["run", &probe, "args", "x"]);
    assert_eq!(r.stdout, format!("arg {probe}\narg args\narg x\n"));
    assert_eq!(r.stderr, "");
}

/// `wippy run` with no command in `project`: reads its stdout until `ready` returns true
/// for a line, sends SIGTERM, and returns how it ended.
fn application(project: &std::path::Path, ready: impl Fn(&str) -> bool) -> Run {
    let (mut cmd, _cache) = wippy();
    let mut child = cmd
        .arg("--project")
        .arg(project)
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "wippy ended before it was ready; it printed:\n{seen}"
        );
        seen.push_str(&line);
        if ready(line.trim_end()) {
            break;
        }
    }
    // SAFETY: kill(2) on the child's pid, which is ours and still running.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().expect("exited, not killed"),
        stdout: seen + &rest,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const POLITE_SERVICE: &str = r#"
local process = require("process")
return { main = function()
  while true do
    local e = process.events():receive()
    if e.kind == process.event.CANCEL then return end
  end
end }"#;

fn lua_entry(name: &str, source: &str) -> String {
    let body: String = source.lines().map(|l| format!("      {l}\n")).collect();
    format!("  - name: {name}\n    kind: process.lua\n    source: |\n{body}")
}

#[test]
fn the_application_mode_starts_services_in_order_and_stops_them_on_sigterm() {
    let index = format!(
        "version: \"1.0\"\nnamespace: t\nentries:\n  - name: host\n    kind: process.host\n{}{}{}",
        lua_entry("polite", POLITE_SERVICE),
        "  - name: db\n    kind: process.service\n    process: polite\n    host: host\n    lifecycle:\n      auto_start: true\n",
        "  - name: api\n    kind: process.service\n    process: polite\n    host: host\n    lifecycle:\n      auto_start: true\n      requires: [db]\n",
    );
    let dir = project(&[("_index.yaml", &index)]);
    let run = application(dir.path(), |l| l.contains("services started"));
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    let at = |needle: &str| {
        run.stdout
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", run.stdout))
    };
    assert!(at("service t:db: running") < at("service t:api: running"));
    assert!(at("service t:api: stopped") < at("service t:db: stopped"));
    assert!(at("service t:db: stopped") < at("wippy: every process closed"));
}

#[test]
fn the_application_mode_exits_1_when_a_service_ended_failed() {
    let index = format!(
        "version: \"1.0\"\nnamespace: t\nentries:\n  - name: host\n    kind: process.host\n{}{}",
        lua_entry("crash", "return { main = function() error('on purpose') end }"),
        "  - name: svc\n    kind: process.service\n    process: crash\n    host: host\n    lifecycle:\n      auto_start: true\n      restart:\n        initial_delay: 1ms\n        max_attempts: 2\n",
    );
    let dir = project(&[("_index.yaml", &index)]);
    let run = application(dir.path(), |l| l.contains("gave up"));
    assert_eq!(run.status, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("service t:svc: failed (") && run.stdout.contains("on purpose"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("service t:svc: failed: gave up after 2 restarts in a row"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("restart 2 in"), "{}", run.stdout);
    assert!(
        run.stderr.contains("failed services: t:svc"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_actor_examples_run_as_commands() {
    let run = examples(&["run", "pingpong", "2000"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("2000 of 2000 round trips came back in order"),
        "{}",
        run.stdout
    );
    let run = examples(&["run", "dispatch", "100", "4"]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    // 1² + 2² + ... + 100²
    assert_eq!(
        run.stdout.trim(),
        "100 jobs on 4 wasm workers: the squares add up to 338350"
    );
}

#[test]
fn the_supervised_example_service_comes_back_after_its_failure() {
    // Ready once it runs for the second time: it failed and came back.
    let runs = std::cell::Cell::new(0);
    let run = application(&repo().join("examples"), |l| {
        if l.starts_with("service actors:flaky_service: running") {
            runs.set(runs.get() + 1);
        }
        runs.get() == 2
    });
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "service actors:flaky_service: failed (failed to call wasm method: flaky: wasm trap"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("restart 1 in 1s"), "{}", run.stdout);
    assert!(
        run.stdout.contains("service actors:flaky_service: stopped"),
        "{}",
        run.stdout
    );
}

#[test]
fn wippys_hello_world_style_runs_typed_lua_with_io_on_the_terminal() {
    let script = "local io = require(\"io\")\n\nlocal function main(): integer\n    io.write(\"name? \")\n    local name: string? = io.readline()\n    io.print(\"hello\", name, #io.args())\n    return 0\nend\n\nreturn { main = main }\n";
    let index = "version: \"1.0\"\nnamespace: app\nentries:\n  - name: terminal\n    kind: terminal.host\n  - name: hello\n    kind: process.lua\n    source: file://hello.lua\n    method: main\n    modules: [io]\n";
    let dir = project(&[("src/_index.yaml", index), ("src/hello.lua", script)]);
    let (mut cmd, _cache) = wippy();
    let mut child = cmd
        .arg("--project")
        .arg(dir.path())
        .args(["run", "-x", "app:hello", "a", "b"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"Ada\n").unwrap();
    let r = done(child.wait_with_output().unwrap());
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "name? hello\tAda\t2\n");
}

/// A Wippy-style project under `tests/projects/`.
fn wippy_project(name: &str) -> std::path::PathBuf {
    repo().join("tests/projects").join(name)
}

/// `wippy run -x <id>` from inside `project`, as Wippy's READMEs run their examples.
fn exec_from(project: &std::path::Path, id: &str, env: &[(&str, &str)]) -> Run {
    let (mut cmd, _cache) = wippy();
    cmd.current_dir(project)
        .args(["run", "-x", id])
        .env_remove("PORT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    done(cmd.output().unwrap())
}

#[test]
fn wippy_style_projects_run_from_their_folders_as_their_readmes_say() {
    let run = exec_from(&wippy_project("worker-pool"), "app:pool", &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let squares: String = (1..=6)
        .map(|i| format!("Job #{i}: {i}^2 = {}\n", i * i))
        .collect();
    assert_eq!(run.stdout, squares + "All jobs done.\n");

    let run = exec_from(&wippy_project("func-call"), "app:cli", &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "double(21) = 42\ngreet('Alice') = Hello, Alice!\ngreet('') fails: true\n"
    );

    let run = exec_from(
        &wippy_project("env-variables"),
        "app:cli",
        &[("PORT", "9090")],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "APP_NAME    = Wippy Env Demo\nPORT        = 9090\nLOG_LEVEL   = info\n\
         LOG_LEVEL   = debug (after env.set)\n\
         Cannot set APP_VERSION: PERMISSION_DENIED: env variable \"APP_VERSION\" is read-only\n"
    );
    let run = exec_from(&wippy_project("env-variables"), "app:cli", &[]);
    assert!(
        run.stdout.contains("PORT        = 8080\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_wippy_style_event_bus_counts_what_its_publisher_sends() {
    let run = application(&wippy_project("event-bus"), |l| {
        l.starts_with("service app:publisher.service: exited")
    });
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(r#"INFO   [COUNTER] Final counts  {"user.created":2,"user.login":1}"#),
        "{}",
        run.stderr
    );
}
