//! Wippy's channels: `channel.new([capacity])` with `:send`, `:receive`, `:close`,
//! `channel.select{...}` over `:case_receive()` and `:case_send(v)` cases, and the
//! receive-only channels the runtime hands out (the process's inbox, events and topics,
//! `time.after`, tickers and timers). Every wait parks only the coroutine that waits: the
//! process's other coroutines (`coroutine.spawn`) and processes keep running.
//!
//! One process is one task, so a channel needs no lock: a state change wakes that task,
//! and every waiting coroutine looks again.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mlua::{AnyUserData, Lua, MetaMethod, Table, UserData, UserDataMethods, Value as LuaValue};

use super::message::event_table;
use super::message::LuaMessage;
use super::time_values::{duration, LuaTime};
use crate::executor::{self, Sleep};
use crate::kernel::event::{Mailbox, Topics};

/// A channel as scripts hold it: every copy is the same channel.
#[derive(Clone)]
pub struct Channel(Rc<Source>);

/// Where a channel's values come from.
pub enum Source {
    /// `channel.new`: values other coroutines of the process send.
    Local(RefCell<Local>),
    /// The process's mailbox, read as events, as its inbox, or one topic.
    Mailbox { inbox: Mailbox, reads: Reads },
    /// `time.after`, `time.ticker`, `time.timer`: the executor's clock.
    Clock(RefCell<Clock>),
}

/// What a mailbox channel reads.
#[derive(Clone)]
pub enum Reads {
    /// Events (EXIT, LINK_DOWN, CANCEL) as tables.
    Events,
    /// Messages no `process.listen` took, as message objects.
    Inbox(Rc<RefCell<Vec<String>>>),
    /// `process.listen(topic)`: one topic's payloads, as values (or message objects).
    Topic { topic: String, messages: bool },
}

/// Values a process's channels may hold in their buffers at once, all channels together:
/// they live outside the Lua state's memory limit (a buffered integer is Rust memory only).
pub const MAX_BUFFERED: usize = 1 << 20;

/// A `channel.new` channel's state.
pub struct Local {
    capacity: usize,
    /// Values buffered in all of the process's channels (see [`MAX_BUFFERED`]).
    held: Rc<Cell<usize>>,
    buffer: VecDeque<LuaValue>,
    /// Senders that found no room, oldest first.
    senders: VecDeque<Rc<Slot>>,
    /// Receivers parked on this channel (a parked receiver makes room for one value).
    receivers: usize,
    closed: bool,
    wakers: Vec<Waker>,
}

/// A blocked send: its value until a receiver takes it.
struct Slot {
    value: RefCell<Option<LuaValue>>,
    taken: Cell<bool>,
}

/// A clock channel's state: the next moment it delivers, and its period if it repeats.
pub struct Clock {
    next: Option<Instant>,
    period: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
}

const SEND_ON_CLOSED: &str = "send on closed channel";

impl Drop for Local {
    fn drop(&mut self) {
        self.held.set(self.held.get() - self.buffer.len());
    }
}

impl Local {
    fn push(&mut self, v: LuaValue) {
        self.held.set(self.held.get() + 1);
        self.buffer.push_back(v);
    }

    fn pop(&mut self) -> Option<LuaValue> {
        let v = self.buffer.pop_front()?;
        self.held.set(self.held.get() - 1);
        Some(v)
    }

    fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }

    fn wait(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Moves blocked senders' values into the room a receive just made.
    fn refill(&mut self) {
        while self.buffer.len() < self.capacity {
            let Some(slot) = self.senders.pop_front() else {
                break;
            };
            if let Some(v) = slot.value.borrow_mut().take() {
                self.push(v);
            }
            slot.taken.set(true);
        }
    }

    fn poll_receive(&mut self, waker: &Waker) -> Poll<Option<LuaValue>> {
        if let Some(v) = self.pop() {
            self.refill();
            self.wake_all();
            return Poll::Ready(Some(v));
        }
        if let Some(slot) = self.senders.pop_front() {
            let v = slot.value.borrow_mut().take();
            slot.taken.set(true);
            self.wake_all();
            return Poll::Ready(v);
        }
        if self.closed {
            return Poll::Ready(None);
        }
        self.wait(waker);
        Poll::Pending
    }

    /// A send that does not wait: room in the buffer, or a parked receiver to take it.
    fn try_send(&mut self, v: LuaValue) -> Result<Option<LuaValue>, mlua::Error> {
        if self.closed {
            return Err(mlua::Error::runtime(SEND_ON_CLOSED));
        }
        if self.senders.is_empty() && self.buffer.len() < self.capacity + self.receivers {
            if self.held.get() >= MAX_BUFFERED {
                return Err(mlua::Error::runtime(format!(
                    "channel send: this process's channels already hold {MAX_BUFFERED} values"
                )));
            }
            self.push(v);
            self.wake_all();
            return Ok(None);
        }
        Ok(Some(v))
    }

    fn close(&mut self) {
        self.closed = true;
        self.wake_all();
    }
}

impl Clock {
    fn poll_fire(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let Some(next) = self.next else {
            return Poll::Pending; // stopped, or a timer that has fired: never again
        };
        let now = executor::now();
        let due = now >= next || {
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(executor::sleep_until(next)));
            sleep.as_mut().poll(cx).is_ready()
        };
        if !due {
            return Poll::Pending;
        }
        self.sleep = None;
        // A ticker that fell behind delivers one tick and skips the missed ones, as Go's.
        self.next = self.period.and_then(|period| {
            // Skipped ticks are counted, not looped over: a 1 ns ticker read a second
            // late would otherwise loop a billion times inside one Step.
            let period = period.as_nanos();
            let behind = now.saturating_duration_since(next).as_nanos() / period;
            let skip = u64::try_from((behind + 1) * period).ok()?;
            next.checked_add(Duration::from_nanos(skip))
        });
        Poll::Ready(executor::now())
    }

    /// Stops it; true if it had not fired yet (or, for a ticker, was running).
    pub fn stop(&mut self) -> bool {
        self.sleep = None;
        self.next.take().is_some()
    }

    pub fn reset(&mut self, d: Duration) -> mlua::Result<()> {
        self.sleep = None;
        self.next = Some(super::time_values::deadline(d)?);
        Ok(())
    }
}

/// Counts a receiver as parked on a local channel while it exists.
struct Parked(Rc<Source>);

impl Drop for Parked {
    fn drop(&mut self) {
        if let Source::Local(local) = &*self.0 {
            local.borrow_mut().receivers -= 1;
        }
    }
}

impl Channel {
    pub fn local(capacity: usize, held: Rc<Cell<usize>>) -> Self {
        Self(Rc::new(Source::Local(RefCell::new(Local {
            capacity,
            held,
            buffer: VecDeque::new(),
            senders: VecDeque::new(),
            receivers: 0,
            closed: false,
            wakers: Vec::new(),
        }))))
    }

    pub fn mailbox(inbox: Mailbox, reads: Reads) -> Self {
        Self(Rc::new(Source::Mailbox { inbox, reads }))
    }

    pub fn clock(first: Instant, period: Option<Duration>) -> Self {
        Self(Rc::new(Source::Clock(RefCell::new(Clock {
            next: Some(first),
            period,
            sleep: None,
        }))))
    }

    pub fn source(&self) -> &Source {
        &self.0
    }

    fn park(&self) -> Option<Parked> {
        match &*self.0 {
            Source::Local(local) => {
                local.borrow_mut().receivers += 1;
                Some(Parked(self.0.clone()))
            }
            _ => None,
        }
    }

    /// The next value: `Some(v)`, `None` once closed and drained, or Pending (and `cx`
    /// woken when that may change).
    fn poll_receive(
        &self,
        lua: &Lua,
        cx: &mut Context<'_>,
    ) -> Poll<mlua::Result<Option<LuaValue>>> {
        let ready = |v: mlua::Result<LuaValue>| Poll::Ready(v.map(Some));
        match &*self.0 {
            Source::Local(local) => local.borrow_mut().poll_receive(cx.waker()).map(Ok),
            Source::Clock(clock) => match clock.borrow_mut().poll_fire(cx) {
                Poll::Ready(at) => {
                    ready(lua.create_userdata(LuaTime::at(at)).map(LuaValue::UserData))
                }
                Poll::Pending => Poll::Pending,
            },
            Source::Mailbox { inbox, reads } => match reads {
                Reads::Events => match inbox.poll_event(cx.waker()) {
                    Some(e) => ready(event_table(lua, &e).map(LuaValue::Table)),
                    None => Poll::Pending,
                },
                Reads::Inbox(listened) => {
                    let topics = match listened.borrow().as_slice() {
                        [] => Topics::All,
                        topics => Topics::Except(topics.to_vec()),
                    };
                    match inbox.poll_message(&topics, cx.waker()) {
                        Some(m) => ready(
                            lua.create_userdata(LuaMessage::from(m))
                                .map(LuaValue::UserData),
                        ),
                        None => Poll::Pending,
                    }
                }
                Reads::Topic { topic, messages } => {
                    match inbox.poll_message(&Topics::Only(topic.clone()), cx.waker()) {
                        Some(m) if *messages => ready(
                            lua.create_userdata(LuaMessage::from(m))
                                .map(LuaValue::UserData),
                        ),
                        Some(m) => ready(super::convert::to_lua(lua, &m.payload)),
                        None => Poll::Pending,
                    }
                }
            },
        }
    }

    /// Waits for the next value, up to `timeout` (the seed's `receive(timeout)`):
    /// `Ok(None)` when closed, `Err(())` on timeout.
    pub async fn receive(
        &self,
        lua: &Lua,
        timeout: Option<Duration>,
    ) -> mlua::Result<Result<Option<LuaValue>, ()>> {
        let mut sleep = timeout.map(|t| Box::pin(executor::sleep(t)));
        let mut parked = None;
        poll_fn(|cx| {
            if let Poll::Ready(v) = self.poll_receive(lua, cx) {
                return Poll::Ready(v.map(Ok));
            }
            if let Some(sleep) = &mut sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Ok(Err(())));
                }
            }
            if parked.is_none() {
                parked = self.park();
            }
            Poll::Pending
        })
        .await
    }

    async fn send(&self, v: LuaValue) -> mlua::Result<()> {
        let Source::Local(local) = &*self.0 else {
            return Err(mlua::Error::runtime(
                "cannot send on this channel: it is receive-only (the runtime delivers to it)",
            ));
        };
        let Some(v) = local.borrow_mut().try_send(v)? else {
            return Ok(());
        };
        let slot = Rc::new(Slot {
            value: RefCell::new(Some(v)),
            taken: Cell::new(false),
        });
        local.borrow_mut().senders.push_back(slot.clone());
        local.borrow_mut().wake_all();
        // If this coroutine is dropped while waiting, its value must not be delivered.
        let _withdraw = Withdraw(&self.0, &slot);
        poll_fn(|cx| {
            if slot.taken.get() {
                return Poll::Ready(Ok(()));
            }
            let mut local = local.borrow_mut();
            if local.closed {
                return Poll::Ready(Err(mlua::Error::runtime(SEND_ON_CLOSED)));
            }
            local.wait(cx.waker());
            Poll::Pending
        })
        .await
    }
}

/// Removes a blocked send's slot from its channel when the send ends or is dropped.
struct Withdraw<'a>(&'a Rc<Source>, &'a Rc<Slot>);

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if let Source::Local(local) = &**self.0 {
            local
                .borrow_mut()
                .senders
                .retain(|s| !Rc::ptr_eq(s, self.1));
        }
    }
}

/// A timeout argument of the seed's `receive(timeout)`.
pub fn timeout_arg(v: Option<LuaValue>) -> mlua::Result<Option<Duration>> {
    match v {
        None | Some(LuaValue::Nil) => Ok(None),
        Some(v) => {
            let d = duration(&v)?;
            super::time_values::deadline(d)?;
            Ok(Some(d))
        }
    }
}

impl UserData for Channel {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // `ch:receive()` -> `v, true`, or `nil, false` once closed and drained. With a
        // timeout (the seed's form) -> `nil` when it passes.
        methods.add_async_method(
            "receive",
            |lua, this, timeout: Option<LuaValue>| async move {
                let timeout = timeout_arg(timeout)?;
                Ok(match this.receive(&lua, timeout).await? {
                    Ok(Some(v)) => (v, Some(true)),
                    Ok(None) => (LuaValue::Nil, Some(false)),
                    Err(()) => (LuaValue::Nil, None),
                })
            },
        );
        methods.add_async_method("send", |_, this, v: LuaValue| async move {
            this.send(v).await.map(|()| true)
        });
        methods.add_method("close", |_, this, ()| {
            if let Source::Local(local) = &*this.0 {
                local.borrow_mut().close();
            }
            Ok(())
        });
        methods.add_function("case_receive", |lua, ch: AnyUserData| {
            ch.borrow::<Channel>()?;
            lua.create_userdata(Case {
                channel: ch,
                send: None,
            })
        });
        methods.add_function("case_send", |lua, (ch, v): (AnyUserData, LuaValue)| {
            ch.borrow::<Channel>()?;
            lua.create_userdata(Case {
                channel: ch,
                send: Some(v),
            })
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(match &*this.0 {
                Source::Local(_) => "channel",
                Source::Mailbox { .. } => "channel (process)",
                Source::Clock(_) => "channel (clock)",
            })
        });
    }
}

/// One case of a `channel.select`.
pub struct Case {
    channel: AnyUserData,
    send: Option<LuaValue>,
}

impl UserData for Case {}

/// `channel.select{cases..., default = true}`: the first ready case in list order, as
/// `{channel = ch, value = v, ok = bool}`, or `{default = true, ok = true}` when none is
/// ready and there is a default; otherwise waits for one.
async fn select(lua: Lua, cases: Table) -> mlua::Result<Table> {
    let mut chosen = Vec::new();
    for case in cases.sequence_values::<AnyUserData>() {
        let case = case.map_err(|_| {
            mlua::Error::runtime(
                "channel.select: every case must come from case_receive or case_send",
            )
        })?;
        let case = case.borrow::<Case>().map_err(|_| {
            mlua::Error::runtime(
                "channel.select: every case must come from case_receive or case_send",
            )
        })?;
        let channel = case.channel.borrow::<Channel>()?.clone();
        chosen.push((case.channel.clone(), channel, case.send.clone()));
    }
    let default = matches!(cases.get::<LuaValue>("default")?, LuaValue::Boolean(true));
    if chosen.is_empty() && !default {
        return Err(mlua::Error::runtime(
            "channel.select: no cases (a select with no case and no default would wait forever)",
        ));
    }
    let mut parked = Vec::new();
    let (ud, value, ok) = poll_fn(|cx| {
        for (ud, channel, send) in &chosen {
            match send {
                None => match channel.poll_receive(&lua, cx) {
                    Poll::Ready(Ok(Some(v))) => {
                        return Poll::Ready(Ok((Some(ud.clone()), v, true)))
                    }
                    Poll::Ready(Ok(None)) => {
                        return Poll::Ready(Ok((Some(ud.clone()), LuaValue::Nil, false)))
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                },
                Some(v) => {
                    let Source::Local(local) = channel.source() else {
                        return Poll::Ready(Err(mlua::Error::runtime(
                            "channel.select: case_send on a receive-only channel",
                        )));
                    };
                    let mut local = local.borrow_mut();
                    match local.try_send(v.clone()) {
                        Ok(None) => {
                            return Poll::Ready(Ok((Some(ud.clone()), LuaValue::Nil, true)))
                        }
                        Ok(Some(_)) => local.wait(cx.waker()),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }
        if default {
            return Poll::Ready(Ok((None, LuaValue::Nil, true)));
        }
        if parked.is_empty() {
            parked = chosen
                .iter()
                .filter(|(_, _, send)| send.is_none())
                .filter_map(|(_, channel, _)| channel.park())
                .collect();
        }
        Poll::Pending
    })
    .await?;
    drop(parked);
    let result = lua.create_table()?;
    match ud {
        Some(ud) => {
            result.set("channel", ud)?;
            result.set("value", value)?;
        }
        None => result.set("default", true)?,
    }
    result.set("ok", ok)?;
    Ok(result)
}

/// Registers the channel type (its async methods capture `coroutine.yield` now), and
/// returns the process's count of buffered values, which every channel shares.
pub fn register_type(lua: &Lua) -> mlua::Result<Rc<Cell<usize>>> {
    let held = Rc::new(Cell::new(0));
    lua.create_userdata(Channel::local(0, held.clone()))?;
    Ok(held)
}

/// The `channel` module; `held` counts the values all the process's channels buffer.
pub fn module(lua: &Lua, held: Rc<Cell<usize>>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "new",
        lua.create_function(move |_, capacity: Option<i64>| {
            let capacity = match capacity {
                None => 0,
                Some(n) if (0..=MAX_BUFFERED as i64).contains(&n) => n as usize,
                Some(n) => {
                    return Err(mlua::Error::runtime(format!(
                        "channel.new: capacity {n} is outside 0..{MAX_BUFFERED}"
                    )))
                }
            };
            Ok(Channel::local(capacity, held.clone()))
        })?,
    )?;
    t.set("select", lua.create_async_function(select)?)?;
    Ok(t)
}
