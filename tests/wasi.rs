//! WASI (SPEC §5): preview-1 modules and preview-2 components, configured from the
//! registry, with blocking calls that park only their own process.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use wippy_wasm::ClockKind;
use wippy_wasm::Mailbox;
use wippy_wasm::Value;
use wippy_wasm::{Captured, GuestLog, Stream};

const WAIT: Duration = Duration::from_secs(30);

/// A `wasi_probe` entry: `args` are its argv (YAML list items), `wasi` more `wasi:` keys.
fn probe(name: &str, args: &str, wasi: &str) -> String {
    guest(
        name,
        "wasi_probe.wasm",
        "_start",
        &format!("    imports: [wasi1]\n    wasi:\n      args: [{args}]\n{wasi}"),
    )
}

/// A runtime whose guest output is captured, and the captured lines.
fn captured(entries: &str) -> (TestRuntime, Captured) {
    let (log, lines) = GuestLog::capture();
    (
        runtime_with(entries, |o| {
            o.guest_output(log);
        }),
        lines,
    )
}

/// Runs `entry` and returns its stdout lines (without the PID tag) and how it ended.
fn stdout_of(
    rt: &TestRuntime,
    lines: &Captured,
    entry: &str,
) -> (Vec<String>, wippy_wasm::ExitResult) {
    let result = run_to_exit(rt, entry, vec![]);
    let out = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, stream, _)| *stream == Stream::Stdout)
        .map(|(_, _, l)| l.clone())
        .collect();
    lines.lock().unwrap().clear();
    (out, result)
}

#[test]
fn argv_env_and_cwd_come_from_the_entry() {
    let env = "  - name: vars\n    kind: env.storage.static\n    values:\n      GREETING: hi there\n  - name: greeting\n    kind: env.variable\n    variable: GREETING\n    storage: vars\n  - name: absent\n    kind: env.variable\n    variable: NOPE_NOT_SET\n    storage: vars\n";
    let entries = env.to_owned()
        + &probe("args", "args, \"two words\", x", "")
        + &probe(
            "env",
            "env, GREETING",
            "      env:\n        - {id: greeting, name: GREETING}\n        - {id: absent, name: OPTIONAL}\n",
        )
        + &probe("host_env", "env, HOME", "")
        + &probe(
            "required",
            "env, X",
            "      env:\n        - {id: absent, name: X, required: true}\n",
        )
        + &probe("cwd", "env, PWD", "      cwd: /data\n      mounts:\n        - {fs: bin, guest: /data, read_only: true}\n");
    let (rt, lines) = captured(&entries);
    assert_eq!(
        stdout_of(&rt, &lines, "t:args").0,
        ["arg args", "arg args", "arg two words", "arg x"]
    );
    assert_eq!(stdout_of(&rt, &lines, "t:env").0, ["env GREETING=hi there"]);
    // Nothing of the host's environment leaks in.
    assert_eq!(stdout_of(&rt, &lines, "t:host_env").0, ["env HOME=<unset>"]);
    let (_, failed) = stdout_of(&rt, &lines, "t:required");
    assert_eq!(
        failed.error().as_deref(),
        Some("required wasi env variable not found: t:absent")
    );
    // wasi-libc's preview-1 getcwd() always starts at "/": the cwd reaches preview-1
    // guests as PWD (and preview-2 ones as `initial-cwd`).
    assert_eq!(stdout_of(&rt, &lines, "t:cwd").0, ["env PWD=/data"]);
}

#[test]
fn files_inside_a_mount_work_read_only_refuses_writes_and_escapes_fail() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("seed.txt"), "seeded").unwrap();
    let outside = data.path().parent().unwrap().join("wippy-outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    let fs = format!(
        "  - name: data\n    kind: fs.directory\n    directory: {}\n",
        data.path().display()
    );
    let rw = "      mounts:\n        - {fs: data, guest: /data}\n";
    let ro = "      mounts:\n        - {fs: data, guest: /data, read_only: true}\n";
    let entries = fs
        + &probe("files", "files, /data", rw)
        + &probe("read_only", "write, /data/new.txt", ro)
        + &probe("read_ro", "read, /data/seed.txt", ro)
        + &probe("dotdot", "read, /data/../wippy-outside.txt", rw)
        + &probe("absolute", "read, /etc/passwd", rw)
        + &probe("symlink", "read, /data/link.txt", rw);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, data.path().join("link.txt")).unwrap();
    let (rt, lines) = captured(&entries);

    let (out, result) = stdout_of(&rt, &lines, "t:files");
    assert_eq!(result.error(), None, "{out:?}");
    assert_eq!(out[..2], ["write ok", "read hello"]);
    assert!(out.contains(&"entry a.txt".to_owned()), "{out:?}");
    assert!(out.contains(&"entry seed.txt".to_owned()), "{out:?}");
    assert_eq!(out[out.len() - 2..], ["rename ok", "unlink ok"]);
    assert!(!data.path().join("a.txt").exists() && !data.path().join("b.txt").exists());

    let (out, _) = stdout_of(&rt, &lines, "t:read_only");
    assert!(out[0].starts_with("write failed:"), "{out:?}");
    assert!(!data.path().join("new.txt").exists());
    assert_eq!(stdout_of(&rt, &lines, "t:read_ro").0, ["read seeded"]);
    for escape in ["t:dotdot", "t:absolute", "t:symlink"] {
        let (out, _) = stdout_of(&rt, &lines, escape);
        assert!(out[0].starts_with("read failed:"), "{escape}: {out:?}");
    }
    std::fs::remove_file(outside).unwrap();
}

#[test]
fn ten_sleepers_on_one_worker_wake_together_in_virtual_time() {
    let entries = guest(
        "sleeper",
        "sleeper.wasm",
        "wake_at",
        "    imports: [wasi1]\n",
    ) + &guest("nap", "sleeper.wasm", "nap", "    imports: [wasi1]\n")
        // Spawned from one Step of a process on the same worker, the ten land before the
        // virtual clock can move (spawned from this thread, the clock could jump between
        // two of them).
        + "  - name: spawner\n    kind: process.lua\n    method: main\n    source: |\n      local process = require(\"process\")\n      return { main = function()\n        for _ = 1, 10 do process.spawn_monitored(\"t:sleeper\", \"t:host\", 100) end\n        local woke = {}\n        for i = 1, 10 do woke[i] = process.receive().value end\n        return woke\n      end }\n";
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let Value::List(woke) = run_to_exit(&rt, "t:spawner", vec![]).value else {
        panic!("the spawner returns a list")
    };
    assert_eq!(woke.len(), 10);
    // Slept side by side: one jump of the clock wakes all ten. Sleeping one after
    // another would spread them 100 ms apart.
    assert!(woke.iter().all(|w| *w == woke[0]), "{woke:?}");
    // And each slept exactly its 100 ms of virtual time.
    assert_eq!(
        run_to_exit(&rt, "t:nap", vec![Value::Int(100)]).value,
        Value::Int(100_000_000)
    );
}

#[test]
fn a_preview2_component_sleeps_on_our_timers() {
    let imports = "    imports: [wasi:cli, wasi:io, wasi:clocks, wasi:filesystem, wasi:random]\n";
    let rt = runtime_with(
        &guest("nap", "sleeper_component.wasm", "nap", imports),
        |o| {
            o.clock(ClockKind::Virtual);
        },
    );
    // Virtual time: exactly the requested 250 ms, at once in real time.
    assert_eq!(
        run_to_exit(&rt, "t:nap", vec![Value::Int(250)]),
        wippy_wasm::ExitResult::ok(Value::Int(250_000_000))
    );
}

/// A `p3_sleeper` entry (WASI 0.3, component-model async): it sleeps once per argument of
/// `args` (milliseconds), all at once, and returns ok only if the time that passed is the
/// longest sleep and less than the sum.
fn p3_sleeper(name: &str, args: &str) -> String {
    guest(
        name,
        "p3_sleeper.wasm",
        "wasi:cli/run#run",
        &format!("    imports: [wasi:cli, wasi:clocks]\n    wasi:\n      args: [{args}]\n"),
    )
}

#[test]
fn a_preview3_component_waits_on_our_timers_several_at_once() {
    let entries = p3_sleeper("two", "\"100\", \"250\"")
        + &p3_sleeper("one", "\"40\"")
        + &p3_sleeper("bad", "\"100\", soon");
    let rt = runtime_with(&entries, |o| {
        o.clock(ClockKind::Virtual);
    });
    let ok = wippy_wasm::ExitResult::ok(Value::map([("ok", Value::Null)]));
    // On virtual time both bounds are exact: 250 ms passed, not 350 (one after another)
    // and not 0 (a sleep that did not park).
    assert_eq!(run_to_exit(&rt, "t:two", vec![]), ok);
    assert_eq!(run_to_exit(&rt, "t:one", vec![]), ok);
    // The guest's own failure path: an argument that is not a number.
    assert_eq!(
        run_to_exit(&rt, "t:bad", vec![]),
        wippy_wasm::ExitResult::ok(Value::map([("err", Value::Null)]))
    );
}

#[test]
fn a_preview3_wait_of_the_longest_duration_parks_and_ends_when_terminated() {
    // 2^64 - 1 ns, a guest's hostile duration: the host's deadline saturates, the
    // process parks (it does not spin, overflow or wake at once), and terminate ends it.
    let rt = runtime(&(p3_sleeper("forever", "forever") + &p3_sleeper("quick", "\"10\"")));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:forever", HOST, vec![]).unwrap();
    wait_for_steps(&rt, &pid, 1);
    // A neighbour still runs and ends meanwhile.
    assert_eq!(
        run_to_exit(&rt, "t:quick", vec![]),
        wippy_wasm::ExitResult::ok(Value::map([("ok", Value::Null)]))
    );
    assert!(me.receive(Duration::ZERO).is_none(), "still parked");
    assert!(rt.terminate(&pid));
    let exit = me.receive(WAIT).unwrap();
    assert!(exit.result.reason.is_terminated(), "{:?}", exit.result);
}

#[test]
fn a_preview3_component_parks_without_holding_its_neighbours() {
    let p2 = guest(
        "nap",
        "sleeper_component.wasm",
        "nap",
        "    imports: [wasi:cli, wasi:io, wasi:clocks, wasi:filesystem, wasi:random]\n",
    );
    // Both spawned in one Step of a Lua parent: spawned one by one from this thread, the
    // virtual clock could jump past the first one's wait before the second arrived.
    let parent = r#"  - name: both
    kind: process.lua
    source: |
      local process = require("process")
      return { main = function()
        local p3 = process.spawn_monitored("t:p3", "t:host")
        local p2 = process.spawn_monitored("t:nap", "t:host", 100)
        local name = { [p3] = "p3", [p2] = "p2" }
        local first, second = process.receive(), process.receive()
        return name[first.from] .. " then " .. name[second.from]
      end }
"#;
    let rt = runtime_with(&(p3_sleeper("p3", "\"500\"") + &p2 + parent), |o| {
        o.clock(ClockKind::Virtual);
    });
    // The preview-2 sleeper, spawned second with the shorter sleep, ends first: the
    // preview-3 process parked in its wait instead of blocking the worker.
    assert_eq!(
        run_to_exit(&rt, "t:both", vec![]),
        wippy_wasm::ExitResult::ok(Value::String("p2 then p3".into()))
    );
}

#[test]
fn declared_sockets_reach_the_network_unless_the_runtime_keeps_it_off() {
    let net = |imports: &str| {
        guest(
            "net",
            "p3_net.wasm",
            "wasi:cli/run#run",
            &format!("    imports: [{imports}]\n"),
        )
    };
    let ok = wippy_wasm::ExitResult::ok(Value::map([("ok", Value::Null)]));
    let refused = wippy_wasm::ExitResult::ok(Value::map([("err", Value::Null)]));
    // Declared: the guest binds a TCP socket on 127.0.0.1.
    let rt = runtime(&net("wasi:cli, wasi:sockets"));
    assert_eq!(run_to_exit(&rt, "t:net", vec![]), ok);
    // Declared, but the runtime keeps the network off: the socket is made, the bind refused.
    let rt = runtime_with(&net("wasi:cli, wasi:sockets"), |o| {
        o.network(false);
    });
    assert_eq!(run_to_exit(&rt, "t:net", vec![]), refused);
    // Not declared: refused at load, naming what to add.
    let err = load_error(&index_with(&net("wasi:cli")));
    assert!(
        err.contains("unsatisfied import wasi:sockets/types@0.3.0")
            && err.contains("add `wasi:sockets`"),
        "{err}"
    );
}

#[test]
fn guest_output_under_a_process_host_is_line_buffered_and_tagged() {
    let (rt, lines) = captured(&probe("hello", "args, a", ""));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:hello", HOST, vec![]).unwrap();
    me.receive(WAIT).unwrap();
    let got = lines.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got
        .iter()
        .all(|(p, s, _)| *p == pid && *s == Stream::Stdout));
    assert_eq!(got[2].2, "arg a");
}

/// A one-shot HTTP server on 127.0.0.1: answers each connection with `body`, or, when
/// `body` is None, reads the request and never answers.
fn server(body: Option<&'static str>) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hello", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        match body {
            Some(body) => {
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            // Hold the connection until the client goes away.
            None => while conn.read(&mut buf).is_ok_and(|n| n > 0) {},
        }
    });
    (url, handle)
}

fn http_worker(url: &str) -> String {
    format!(
        "  - name: vars\n    kind: env.storage.static\n    values:\n      API_URL: \"{url}\"\n  - name: api_url\n    kind: env.variable\n    variable: API_URL\n    storage: vars\n{}",
        guest(
            "http",
            "http_worker.wasm",
            "run",
            "    imports: [wasi:cli, wasi:io, wasi:clocks, wasi:filesystem, wasi:random, wasi:http]\n    wasi:\n      env:\n        - {id: api_url, name: API_URL, required: true}\n",
        )
    )
}

#[test]
fn a_component_gets_a_body_over_wasi_http() {
    let (url, server) = server(Some("hello from the test server"));
    let rt = runtime(&http_worker(&url));
    let result = run_to_exit(&rt, "t:http", vec![]);
    assert_eq!(result.error(), None);
    assert_eq!(
        result.value,
        Value::Map(
            [(
                "ok".to_owned(),
                Value::String("hello from the test server".into())
            )]
            .into()
        )
    );
    server.join().unwrap();
}

#[test]
fn a_process_parked_on_http_is_terminated_promptly_and_released() {
    let (url, server) = server(None);
    let rt = runtime(&http_worker(&url));
    let me = Mailbox::new();
    let pid = rt.spawn_monitored(&me, "t:http", HOST, vec![]).unwrap();
    // Parked: it has run, and it is still alive waiting for the response.
    wait_for_steps(&rt, &pid, 1);
    assert!(me.receive(Duration::from_millis(100)).is_none());
    assert!(rt.terminate(&pid));
    let exit = me.receive(WAIT).unwrap();
    assert_eq!(exit.result.error().as_deref(), Some("process terminated"));
    assert_eq!(rt.live(HOST), 0);
    // Close dropped the connection: the server's read ends.
    server.join().unwrap();
}

#[test]
fn an_interface_the_entry_did_not_declare_fails_the_load() {
    // The http worker without wasi:http declared.
    let missing = guest(
        "http",
        "http_worker.wasm",
        "run",
        "    imports: [wasi:cli, wasi:io, wasi:clocks, wasi:filesystem, wasi:random]\n",
    );
    let err = load_error(&index_with(&missing));
    assert!(err.contains("entry t:http"), "{err}");
    assert!(
        err.contains(
            "unsatisfied import wasi:http/types@0.2.12: add `wasi:http` to the entry's imports"
        ),
        "{err}"
    );
}

#[test]
fn a_foreign_import_is_linked_as_a_trap_with_a_warning_unless_refused() {
    // Wippy's default: no `allow_unknown_imports` needed.
    let allow = "";
    let rt = runtime(
        &(guest("fine", "foreign.wasm", "fine", allow)
            + &guest("uses", "foreign.wasm", "uses_host", allow)),
    );
    assert_eq!(run_to_exit(&rt, "t:fine", vec![]).value, Value::Int(7));
    let err = run_to_exit(&rt, "t:uses", vec![]).error().unwrap();
    assert!(
        err.starts_with("failed to call wasm method: uses_host: "),
        "{err}"
    );

    let dir = project(&[(
        "_index.yaml",
        &index_with(&guest("lenient", "foreign.wasm", "fine", "")),
    )]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    assert!(checked.is_ok(), "{:?}", checked.problems);
    assert!(
        checked.warnings.iter().any(|w| w.to_string().contains(
            "no host provides env::host_only: linked as functions that trap when called"
        )),
        "{:?}",
        checked.warnings
    );

    let strict = "    allow_unknown_imports: false\n";
    let err = load_error(&index_with(&guest(
        "strict",
        "foreign.wasm",
        "fine",
        strict,
    )));
    assert!(err.contains("unsatisfied import env::host_only"), "{err}");
    assert!(err.contains("allow_unknown_imports: true"), "{err}");
}

#[test]
fn a_polling_guest_declared_without_wasi_poll_loads_with_a_wippy_compatibility_warning() {
    let entry = guest(
        "nap",
        "sleeper_component.wasm",
        "nap",
        "    imports: [wasi:cli, wasi:io, wasi:clocks, wasi:filesystem, wasi:random]\n",
    );
    let dir = project(&[("_index.yaml", &index_with(&entry))]);
    let cache = tempfile::tempdir().unwrap();
    let checked = check_with_cache(dir.path(), cache.path());
    assert!(checked.is_ok(), "{:?}", checked.problems);
    let text: Vec<String> = checked.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        text.iter().any(|w| w.contains("entry t:nap")
            && w.contains("field imports")
            && w.contains("also needs `wasi:poll`")),
        "{text:?}"
    );
}
