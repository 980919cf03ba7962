//! PIDs, the events processes send to their monitors and links (SPEC §4), messages, and
//! the [`Mailbox`] both arrive in.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use super::exit::ExitResult;
use super::stats::StatsSnapshot;
use crate::executor;
use crate::value::Value;

use super::pid::Pid;

/// What an [`Event`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `pid.exit`: a monitored process ended.
    Exit,
    /// `pid.link.down`: a linked process ended abnormally.
    LinkDown,
    /// `pid.cancel`: someone asked this process to stop.
    Cancel,
}

impl EventKind {
    /// Its topic name in Wippy (`pid.exit`, `pid.link.down`, `pid.cancel`).
    pub fn topic(self) -> &'static str {
        match self {
            EventKind::Exit => "pid.exit",
            EventKind::LinkDown => "pid.link.down",
            EventKind::Cancel => "pid.cancel",
        }
    }
}

/// Something that happened to a process that a mailbox watches (SPEC §4).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The process it happened to (for CANCEL: the one asking).
    pub from: Pid,
    /// When.
    pub at: SystemTime,
    /// For EXIT and LINK_DOWN, how `from` ended; for CANCEL, [`ExitReason::Cancelled`]
    /// with the reason.
    ///
    /// [`ExitReason::Cancelled`]: crate::ExitReason::Cancelled
    pub result: ExitResult,
    /// For EXIT and LINK_DOWN: what the process used (Steps, fuel, memory, time).
    pub stats: Option<StatsSnapshot>,
}

/// A message sent with `send(pid, topic, payload)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The sending process, or `None` when the embedding program sent it.
    pub from: Option<Pid>,
    /// What it is about, chosen by the sender.
    pub topic: String,
    /// Its content.
    pub payload: Value,
}

#[derive(Default)]
struct Queues {
    events: VecDeque<Event>,
    /// Each message with its approximate size.
    messages: VecDeque<(Message, usize)>,
    /// The sizes of `messages`, added up.
    bytes: usize,
    /// Tasks parked in an async receive, woken on any delivery.
    wakers: Vec<Waker>,
    /// Threads blocked in `receive`: the condvar is signalled only when there are some
    /// (a notify is a syscall even with nobody waiting).
    blocked: usize,
}

/// Where a forwarding mailbox sends what is delivered to it.
pub(crate) type Forward = Box<dyn Fn(Event) + Send + Sync>;

#[derive(Default)]
struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    /// Most messages waiting at once (`None`: unbounded, for the embedder's own mailboxes).
    capacity: Option<usize>,
    /// Events go here instead of the queue: a watcher on another cluster node.
    forward: Option<Forward>,
}

/// A message was refused: the receiver's mailbox holds `capacity` unread messages, or
/// unread messages of `MAILBOX_BYTES` in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxFull {
    Messages { capacity: usize },
    Bytes,
}

/// Messages a process's mailbox holds before sends to it fail (`host.mailbox_size`).
pub(crate) const DEFAULT_MAILBOX_CAPACITY: usize = 4096;

/// Bytes of unread messages (payloads and topics, roughly: [`Value::approx_size`]) a
/// bounded mailbox holds before sends to it fail: a count alone would let 4096 messages
/// of 100 MB each in.
pub(crate) const MAILBOX_BYTES: usize = 256 << 20;

/// Where events and messages land: two queues that a thread can block on
/// ([`Mailbox::receive`]) or a process can await ([`Mailbox::next_event`]). Cheap to clone;
/// all clones share the queues.
#[derive(Clone, Default)]
pub struct Mailbox(Arc<Shared>);

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mailbox")
    }
}

/// Polls of the queue before a blocking receive sleeps (see `Mailbox::wait`).
const SPIN_ROUNDS: u32 = 16;

/// Which messages a receive takes: Lua's `process.listen(topic)` reads one topic, and
/// its inbox then reads every other.
#[derive(Clone, Debug, Default)]
pub enum Topics {
    /// Every message.
    #[default]
    All,
    /// Only messages of this topic.
    Only(String),
    /// Every message except those of these topics.
    Except(Vec<String>),
}

impl Topics {
    fn admits(&self, topic: &str) -> bool {
        match self {
            Topics::All => true,
            Topics::Only(t) => t == topic,
            Topics::Except(ts) => !ts.iter().any(|t| t == topic),
        }
    }
}

/// An event or a message, whichever comes first (events before messages): what a wasm
/// actor's `receive` takes.
pub(crate) enum Delivery {
    Event(Event),
    Message(Message),
}

impl Queue for Delivery {
    fn pop(q: &mut Queues, topics: &Topics) -> Option<Self> {
        match Event::pop(q, topics) {
            Some(e) => Some(Delivery::Event(e)),
            None => Message::pop(q, topics).map(Delivery::Message),
        }
    }
}

/// Which queue a receive reads.
trait Queue: Sized {
    fn pop(q: &mut Queues, topics: &Topics) -> Option<Self>;
}

impl Queue for Event {
    fn pop(q: &mut Queues, _: &Topics) -> Option<Self> {
        q.events.pop_front()
    }
}

impl Queue for Message {
    fn pop(q: &mut Queues, topics: &Topics) -> Option<Self> {
        let at = match topics {
            Topics::All => (!q.messages.is_empty()).then_some(0)?,
            _ => q
                .messages
                .iter()
                .position(|(m, _)| topics.admits(&m.topic))?,
        };
        let (message, size) = q.messages.remove(at)?;
        q.bytes -= size;
        Some(message)
    }
}

impl Mailbox {
    /// An unbounded mailbox (the embedding program's own).
    pub fn new() -> Self {
        Self::default()
    }

    /// A mailbox that holds at most `capacity` unread messages, and at most
    /// [`MAILBOX_BYTES`] of them: a send beyond either fails at the sender
    /// ([`MailboxFull`]), so a flood cannot grow the host's memory.
    pub(crate) fn bounded(capacity: usize) -> Self {
        Self(Arc::new(Shared {
            capacity: Some(capacity),
            ..Shared::default()
        }))
    }

    /// A mailbox that queues nothing: each event delivered to it is handed to `forward`
    /// (a watcher on another node, reached through the cluster).
    pub(crate) fn forwarding(forward: Forward) -> Self {
        Self(Arc::new(Shared {
            forward: Some(forward),
            ..Shared::default()
        }))
    }

    /// Runs `put` under the lock and wakes the receivers if it added something.
    fn push(&self, put: impl FnOnce(&mut Queues) -> bool) -> bool {
        let (wakers, blocked) = {
            let mut q = self.0.queues.lock().unwrap();
            if !put(&mut q) {
                return false;
            }
            (std::mem::take(&mut q.wakers), q.blocked)
        };
        if blocked > 0 {
            self.0.ready.notify_all();
        }
        for w in wakers {
            w.wake();
        }
        true
    }

    pub(crate) fn deliver(&self, event: Event) {
        if let Some(forward) = &self.0.forward {
            return forward(event);
        }
        self.push(|q| {
            // CANCEL asks once: a second request while one is unread adds nothing, so
            // repeated cancels cannot flood the queue.
            let repeated = event.kind == EventKind::Cancel
                && q.events.iter().any(|e| e.kind == EventKind::Cancel);
            if !repeated {
                q.events.push_back(event)
            }
            !repeated
        });
    }

    pub(crate) fn post(&self, message: Message) -> Result<(), MailboxFull> {
        let capacity = self.0.capacity;
        // Only bounded mailboxes count bytes: an unbounded one skips the walk.
        let size = match capacity {
            Some(_) => message.topic.len() + message.payload.approx_size(),
            None => 0,
        };
        let mut refused = None;
        self.push(|q| {
            if let Some(capacity) = capacity {
                if q.messages.len() >= capacity {
                    refused = Some(MailboxFull::Messages { capacity });
                } else if q.bytes + size > MAILBOX_BYTES {
                    refused = Some(MailboxFull::Bytes);
                }
            }
            if refused.is_some() {
                return false;
            }
            q.bytes += size;
            q.messages.push_back((message, size));
            true
        });
        refused.map_or(Ok(()), Err)
    }

    fn wait<T: Queue>(&self, timeout: Duration) -> Option<T> {
        // A timeout too long for the clock (`Duration::MAX`) waits forever.
        let deadline = Instant::now().checked_add(timeout);
        // Events usually follow each other closely (a batch of spawns ending): spin, then
        // yield, a little before sleeping on the condvar, whose wake is two syscalls and
        // a context switch (crossbeam's backoff does the same).
        for round in 0..SPIN_ROUNDS {
            if let Some(item) = T::pop(&mut self.0.queues.lock().unwrap(), &Topics::All) {
                return Some(item);
            }
            if round < 6 {
                for _ in 0..1 << round {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        let mut queues = self.0.queues.lock().unwrap();
        loop {
            if let Some(item) = T::pop(&mut queues, &Topics::All) {
                return Some(item);
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left.is_some_and(|left| left.is_zero()) {
                return None;
            }
            queues.blocked += 1;
            queues = match left {
                None => self.0.ready.wait(queues).unwrap(),
                Some(left) => self.0.ready.wait_timeout(queues, left).unwrap().0,
            };
            queues.blocked -= 1;
        }
    }

    /// The next event, blocking this thread up to `timeout`; `None` when it passes.
    pub fn receive(&self, timeout: Duration) -> Option<Event> {
        self.wait(timeout)
    }

    /// The next message, blocking this thread up to `timeout`; `None` when it passes.
    pub fn receive_message(&self, timeout: Duration) -> Option<Message> {
        self.wait(timeout)
    }

    /// The next event for a process on an executor: parks only that process, and
    /// resolves to `None` once `timeout` has passed on the executor's clock.
    pub fn next_event(&self, timeout: Option<Duration>) -> Receive<Event> {
        Receive::new(self.clone(), timeout)
    }

    /// Like [`Mailbox::next_event`], for messages.
    pub fn next_message(&self, timeout: Option<Duration>) -> Receive<Message> {
        Receive::new(self.clone(), timeout)
    }

    /// Takes the next event if one is waiting; if not, `waker` is woken at the next
    /// delivery (what a Lua `select` over the events channel polls).
    pub(crate) fn poll_event(&self, waker: &Waker) -> Option<Event> {
        self.take_or_wake(&Topics::All, waker)
    }

    /// Like [`Mailbox::poll_event`], for the messages `topics` admits.
    pub(crate) fn poll_message(&self, topics: &Topics, waker: &Waker) -> Option<Message> {
        self.take_or_wake(topics, waker)
    }

    fn take_or_wake<T: Queue>(&self, topics: &Topics, waker: &Waker) -> Option<T> {
        let mut q = self.0.queues.lock().unwrap();
        let item = T::pop(&mut q, topics);
        if item.is_none() && !q.wakers.iter().any(|w| w.will_wake(waker)) {
            q.wakers.push(waker.clone());
        }
        item
    }

    /// The next event or message (events first), if one is waiting.
    pub(crate) fn try_delivery(&self) -> Option<Delivery> {
        Delivery::pop(&mut self.0.queues.lock().unwrap(), &Topics::All)
    }

    /// Whether an event or a message is waiting; if not, `waker` is woken at the next
    /// delivery (what a `subscribe` pollable waits on).
    pub(crate) fn has_waiting(&self, waker: &Waker) -> bool {
        let mut q = self.0.queues.lock().unwrap();
        if !q.events.is_empty() || !q.messages.is_empty() {
            return true;
        }
        if !q.wakers.iter().any(|w| w.will_wake(waker)) {
            q.wakers.push(waker.clone());
        }
        false
    }

    /// The next event or message (events first), parking the process up to `timeout`.
    pub(crate) fn next_delivery(&self, timeout: Option<Duration>) -> Receive<Delivery> {
        Receive::new(self.clone(), timeout)
    }

    /// Events and messages waiting, without taking them.
    pub fn pending(&self) -> (usize, usize) {
        let q = self.0.queues.lock().unwrap();
        (q.events.len(), q.messages.len())
    }

    pub(crate) fn same(&self, other: &Mailbox) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// An async receive: resolves to the next item, or to `None` when its timeout has passed
/// (see [`Mailbox::next_event`]).
pub struct Receive<T> {
    mailbox: Mailbox,
    topics: Topics,
    timeout: Option<Duration>,
    sleep: Option<executor::Sleep>,
    _item: std::marker::PhantomData<fn() -> T>,
}

impl<T> Receive<T> {
    fn new(mailbox: Mailbox, timeout: Option<Duration>) -> Self {
        Self {
            mailbox,
            topics: Topics::All,
            timeout,
            sleep: None,
            _item: std::marker::PhantomData,
        }
    }
}

impl<T: Queue> Future for Receive<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        {
            let mut q = self.mailbox.0.queues.lock().unwrap();
            if let Some(item) = T::pop(&mut q, &self.topics) {
                return Poll::Ready(Some(item));
            }
            if !q.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                q.wakers.push(cx.waker().clone());
            }
        }
        if let Some(timeout) = self.timeout {
            let sleep = self.sleep.get_or_insert_with(|| executor::sleep(timeout));
            if Pin::new(sleep).poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::EntryId;

    fn pid(n: u64) -> Pid {
        Pid {
            node: None,
            host: Arc::new(EntryId::parse("a:h").unwrap()),
            n,
        }
    }

    fn cancel() -> Event {
        Event {
            kind: EventKind::Cancel,
            from: pid(1),
            at: SystemTime::now(),
            result: super::super::exit::ExitReason::Cancelled {
                reason: "stop".into(),
            }
            .into(),
            stats: None,
        }
    }

    #[test]
    fn repeated_cancels_while_one_is_unread_add_nothing() {
        let inbox = Mailbox::bounded(8);
        for _ in 0..10_000 {
            inbox.deliver(cancel());
        }
        assert_eq!(inbox.pending(), (1, 0));
        inbox.receive(Duration::ZERO).unwrap();
        inbox.deliver(cancel());
        assert_eq!(inbox.pending(), (1, 0));
    }

    #[test]
    fn a_bounded_mailbox_refuses_past_its_capacity_and_keeps_what_it_has() {
        let inbox = Mailbox::bounded(2);
        let message = |n| Message {
            from: None,
            topic: "t".into(),
            payload: Value::Int(n),
        };
        inbox.post(message(1)).unwrap();
        inbox.post(message(2)).unwrap();
        assert_eq!(
            inbox.post(message(3)),
            Err(MailboxFull::Messages { capacity: 2 })
        );
        assert_eq!(
            inbox.receive_message(Duration::ZERO).unwrap().payload,
            Value::Int(1)
        );
        inbox.post(message(4)).unwrap();
        assert_eq!(inbox.pending(), (0, 2));
    }

    #[test]
    fn a_bounded_mailbox_also_counts_bytes() {
        let inbox = Mailbox::bounded(4096);
        let big = |n| Message {
            from: None,
            topic: "t".into(),
            payload: Value::Bytes(vec![n; 100 << 20]),
        };
        inbox.post(big(1)).unwrap();
        inbox.post(big(2)).unwrap();
        assert_eq!(inbox.post(big(3)), Err(MailboxFull::Bytes));
        inbox.receive_message(Duration::ZERO).unwrap();
        inbox.post(big(4)).unwrap();
    }

    #[test]
    fn an_async_receive_times_out_on_virtual_time_or_gets_what_arrives() {
        use crate::executor::{sleep, ClockKind, Executor};
        let ex = Executor::new(ClockKind::Virtual).unwrap();
        let start = ex.now();
        let mailbox = Mailbox::new();
        let nothing = ex.block_on(mailbox.next_event(Some(Duration::from_millis(50))));
        assert!(nothing.is_none());
        assert_eq!(ex.now() - start, Duration::from_millis(50));
        let sender = mailbox.clone();
        let pid = Pid::parse("{a:h|3}").unwrap();
        ex.spawn(1, async move {
            sleep(Duration::from_millis(5)).await;
            sender.deliver(Event {
                kind: EventKind::Exit,
                from: pid,
                at: std::time::SystemTime::now(),
                result: ExitResult::ok(Value::Int(1)),
                stats: None,
            });
        })
        .detach();
        let got = ex.block_on(mailbox.next_event(Some(Duration::from_secs(1))));
        assert_eq!(got.unwrap().from.n, 3);
        assert_eq!(ex.now() - start, Duration::from_millis(55));
    }
}
