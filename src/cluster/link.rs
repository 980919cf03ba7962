//! The connection to NATS: one thread with a small tokio runtime, which `async-nats`
//! needs. Frames to send go through one queue, so they leave in the order they were
//! queued; frames and heartbeats that arrive are handed to the [`Node`] on this thread.
//! Nothing here blocks the caller: a full queue is an error, not a wait.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_lite::StreamExt;
use tokio::sync::mpsc;

/// Frames waiting to leave before sends fail (a long disconnect, a flood).
const QUEUE: usize = 65_536;

/// How long a connection attempt may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long leaving waits for the last frames to reach the server.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The subject a node's frames go to.
pub(crate) fn node_subject(node: &str) -> String {
    format!("wippy.node.{node}")
}

/// The subject every heartbeat goes to.
pub(crate) const HEARTBEAT_SUBJECT: &str = "wippy.heartbeat";

/// What the link calls back, on its own thread.
pub(crate) trait Node: Send + Sync + 'static {
    /// A frame arrived on this node's subject.
    fn frame(self: Arc<Self>, bytes: &[u8]);
    /// A heartbeat arrived (this node's own among them).
    fn heartbeat(&self, bytes: &[u8]);
    /// This node's heartbeat, to publish now.
    fn beat(&self) -> Vec<u8>;
    /// Called every quarter heartbeat: time to check on the other nodes.
    fn tick(&self);
    /// A name in the bucket was put (`Some(value)`) or deleted (`None`).
    fn name_changed(&self, key: &str, value: Option<&[u8]>, revision: u64);
}

/// How to reach and log in to the servers.
#[derive(Clone, Debug)]
pub(crate) struct Connect {
    pub urls: Vec<String>,
    pub node: String,
    pub token: Option<String>,
    pub user: Option<(String, String)>,
    pub heartbeat: Duration,
}

enum Out {
    Frame(String, Bytes),
    /// Publish these, flush, then stop.
    Leave(Vec<(String, Bytes)>, std::sync::mpsc::Sender<()>),
}

pub(crate) struct Link {
    tx: mpsc::Sender<Out>,
    /// The largest message the server takes (its `max_payload`).
    pub max_payload: usize,
    /// The names bucket.
    pub names: async_nats::jetstream::kv::Store,
    /// The link's runtime, for the requests that wait on an answer (name claims).
    pub runtime: tokio::runtime::Handle,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the link's thread hands back once connected.
struct Connected {
    max_payload: usize,
    names: async_nats::jetstream::kv::Store,
    runtime: tokio::runtime::Handle,
}

impl Link {
    /// Connects (waiting up to 5 s) and starts the thread. An error names the servers
    /// and what went wrong.
    pub fn start(connect: Connect, node: Weak<dyn Node>) -> Result<Link, String> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let name = format!("wippy-nats-{}", connect.node);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start the NATS thread: {e}")));
                        return;
                    }
                };
                runtime.block_on(run(connect, node, rx, ready_tx));
            })
            .map_err(|e| format!("cannot start the NATS thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(connected)) => Ok(Link {
                tx,
                max_payload: connected.max_payload,
                names: connected.names,
                runtime: connected.runtime,
                thread: Mutex::new(Some(thread)),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the NATS thread ended before connecting".into())
            }
        }
    }

    /// Queues a frame for `subject`. Fails when the queue is full.
    pub fn publish(&self, subject: String, bytes: Vec<u8>) -> Result<(), String> {
        self.tx
            .try_send(Out::Frame(subject, Bytes::from(bytes)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => format!(
                    "the cluster link is backed up: {QUEUE} frames are waiting to reach the NATS server"
                ),
                mpsc::error::TrySendError::Closed(_) => "the cluster link is closed".to_owned(),
            })
    }

    /// Sends the last frames, waits (up to 2 s) until the server has them, and stops.
    pub fn leave(&self, last: Vec<(String, Vec<u8>)>) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let last = last.into_iter().map(|(s, b)| (s, Bytes::from(b))).collect();
        if self.tx.try_send(Out::Leave(last, done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(LEAVE_TIMEOUT * 2);
        }
        if let Some(thread) = self.thread.lock().unwrap().take() {
            let _ = thread.join();
        }
    }
}

async fn run(
    connect: Connect,
    node: Weak<dyn Node>,
    mut rx: mpsc::Receiver<Out>,
    ready: std::sync::mpsc::Sender<Result<Connected, String>>,
) {
    let servers = connect.urls.join(", ");
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("wippy node {}", connect.node))
        .connection_timeout(CONNECT_TIMEOUT)
        .event_callback(|event| async move {
            tracing::info!(target: "wippy::cluster", "NATS: {event}");
        });
    if let Some(token) = connect.token.clone() {
        options = options.token(token);
    }
    if let Some((user, password)) = connect.user.clone() {
        options = options.user_and_password(user, password);
    }
    let addrs: Result<Vec<async_nats::ServerAddr>, _> =
        connect.urls.iter().map(|u| u.parse()).collect();
    let addrs = match addrs {
        Ok(a) => a,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "invalid NATS server address in {servers}: {e}"
            )));
            return;
        }
    };
    let client = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect(addrs)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            let _ = ready.send(Err(format!("cannot connect to NATS at {servers}: {e}")));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err(format!(
                "cannot connect to NATS at {servers}: no answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            )));
            return;
        }
    };
    let subscribed = async {
        let frames = client.subscribe(node_subject(&connect.node)).await?;
        let beats = client.subscribe(HEARTBEAT_SUBJECT).await?;
        client.flush().await.map_err(async_nats::Error::from)?;
        Ok::<_, async_nats::Error>((frames, beats))
    };
    let (frames, beats) = match subscribed.await {
        Ok(subs) => subs,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot subscribe on NATS at {servers}: {e}")));
            return;
        }
    };
    let jetstream = async_nats::jetstream::new(client.clone());
    let bucket = async_nats::jetstream::kv::Config {
        bucket: super::names::BUCKET.to_owned(),
        history: 1,
        ..Default::default()
    };
    let names = match jetstream.create_or_update_key_value(bucket).await {
        Ok(store) => store,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "cannot open the names bucket on NATS at {servers} (cluster-wide names need JetStream: start nats-server with -js): {e}"
            )));
            return;
        }
    };
    let mut name_changes = match names.watch_with_history(">").await {
        Ok(watch) => watch,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "cannot watch the names bucket on NATS at {servers}: {e}"
            )));
            return;
        }
    };
    let _ = ready.send(Ok(Connected {
        max_payload: client.server_info().max_payload,
        names,
        runtime: tokio::runtime::Handle::current(),
    }));
    let node_for_names = node.clone();
    let receive_names = async move {
        while let Some(entry) = name_changes.next().await {
            let Ok(entry) = entry else { continue };
            let Some(node) = node_for_names.upgrade() else {
                break;
            };
            let value = match entry.operation {
                async_nats::jetstream::kv::Operation::Put => Some(&entry.value[..]),
                _ => None,
            };
            node.name_changed(&entry.key, value, entry.revision);
        }
        // A watch that ends (the bucket gone) must not end the link.
        if node_for_names.upgrade().is_some() {
            tracing::warn!(target: "wippy::cluster", "the names watch ended: names registered on other nodes are no longer seen here");
            std::future::pending::<()>().await;
        }
    };

    let receive_frames = hand_over(frames, node.clone(), |node, bytes| node.frame(bytes));
    let receive_beats = hand_over(beats, node.clone(), |node, bytes| node.heartbeat(bytes));
    let beat_client = client.clone();
    let node_for_timer = node.clone();
    let every = connect.heartbeat;
    let beat_and_check = async move {
        let mut ticks = tokio::time::interval(every / 4);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n: u64 = 0;
        loop {
            ticks.tick().await;
            let Some(node) = node_for_timer.upgrade() else {
                break;
            };
            if n.is_multiple_of(4) {
                let beat = node.beat();
                let _ = beat_client.publish(HEARTBEAT_SUBJECT, beat.into()).await;
            }
            node.tick();
            n += 1;
        }
    };
    let send = async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Frame(subject, bytes) => {
                    if let Err(e) = client.publish(subject, bytes).await {
                        tracing::warn!(target: "wippy::cluster", "a frame was not sent: {e}");
                    }
                }
                Out::Leave(last, done) => {
                    for (subject, bytes) in last {
                        let _ = client.publish(subject, bytes).await;
                    }
                    let _ = tokio::time::timeout(LEAVE_TIMEOUT, client.flush()).await;
                    let _ = done.send(());
                    return;
                }
            }
        }
    };
    // Leaving (or every sender gone) ends the link; the receivers end with it.
    futures_lite::future::or(
        send,
        futures_lite::future::or(
            receive_frames,
            futures_lite::future::or(
                receive_beats,
                futures_lite::future::or(beat_and_check, receive_names),
            ),
        ),
    )
    .await;
}

/// Hands each message of `subscription` to `node` with `hand`, until the subscription or
/// the node is gone.
async fn hand_over(
    mut subscription: async_nats::Subscriber,
    node: Weak<dyn Node>,
    hand: impl Fn(Arc<dyn Node>, &[u8]),
) {
    while let Some(message) = subscription.next().await {
        match node.upgrade() {
            Some(node) => hand(node, &message.payload),
            None => break,
        }
    }
}

/// A [`Node`] that is only ever held weakly by the link, for [`Link::start`].
pub(crate) fn weak_node<N: Node>(node: &Arc<N>) -> Weak<dyn Node> {
    let weak: Weak<N> = Arc::downgrade(node);
    weak
}
