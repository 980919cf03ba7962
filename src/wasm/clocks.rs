//! WASI sleeps on our executor's timers.
//!
//! wasmtime-wasi's own sleeps wait on tokio timers, which need a tokio reactor and ignore
//! our virtual clock. We shadow the entry points guests sleep through, preview-1
//! `poll_oneoff`, preview-2 `monotonic-clock.subscribe-*` and preview-3 `wait-for`/
//! `wait-until`, with versions that park the process on [`executor::sleep_until`], and
//! give guests a monotonic clock that reads the executor's clock. A sleeping guest then
//! parks only its own process, and tests can run it on virtual time.

use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{Caller, Linker};
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};
use wasmtime_wasi::HostMonotonicClock;

use super::guest_memory;
use super::state::ProcessState;
use crate::executor;

/// The monotonic clock guests read: the executor's (virtual in tests), in nanoseconds
/// since [`executor::epoch`].
pub struct ExecutorClock;

impl HostMonotonicClock for ExecutorClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        to_nanos(executor::try_now())
    }
}

fn to_nanos(at: Instant) -> u64 {
    at.saturating_duration_since(executor::epoch()).as_nanos() as u64
}

fn from_nanos(ns: u64) -> Instant {
    after_nanos(executor::epoch(), ns)
}

/// `ns` nanoseconds after `at`, saturating (a guest's `u64::MAX` cannot overflow).
fn after_nanos(at: Instant, ns: u64) -> Instant {
    executor::deadline_after(at, Duration::from_nanos(ns))
}

/// The preview-2 package our linker defines (wasmtime-wasi 48's WIT).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

struct Deadline(Instant);

#[async_trait::async_trait]
impl Pollable for Deadline {
    async fn ready(&mut self) {
        executor::sleep_until(self.0).await
    }
}

fn subscribe_at(table: &mut ResourceTable, at: Instant) -> wasmtime::Result<Resource<DynPollable>> {
    let deadline = table.push(Deadline(at))?;
    subscribe(table, deadline)
}

/// Replaces `subscribe-duration` and `subscribe-instant` in a component linker.
pub fn shadow_p2(linker: &mut wasmtime::component::Linker<ProcessState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, ProcessState>, (ns,): (u64,)| {
            let at = after_nanos(executor::try_now(), ns);
            Ok((subscribe_at(store.data_mut().table(), at)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, ProcessState>, (ns,): (u64,)| {
            Ok((subscribe_at(store.data_mut().table(), from_nanos(ns))?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The preview-3 package our linker defines (wasmtime-wasi 48's WIT).
const MONOTONIC_CLOCK_P3: &str = "wasi:clocks/monotonic-clock@0.3.0";

/// Replaces preview 3's `wait-for` and `wait-until` (async functions, which wasmtime-wasi
/// waits out on tokio timers) in a component linker of the concurrent engine.
pub fn shadow_p3(linker: &mut wasmtime::component::Linker<ProcessState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK_P3)?;
    clock.func_wrap_concurrent("wait-for", |_, (ns,): (u64,)| {
        let at = after_nanos(executor::try_now(), ns);
        Box::pin(async move {
            executor::sleep_until(at).await;
            Ok(())
        })
    })?;
    clock.func_wrap_concurrent("wait-until", |_, (ns,): (u64,)| {
        let at = from_nanos(ns);
        Box::pin(async move {
            executor::sleep_until(at).await;
            Ok(())
        })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

// Preview-1 ABI (wasi_snapshot_preview1 witx): sizes and offsets.
const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;
const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;

/// One decoded subscription: a clock due at an instant, or an fd (read or write).
enum Subscription {
    Clock { userdata: u64, due: Instant },
    Fd { userdata: u64, kind: u8 },
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn decode(bytes: &[u8], now: Instant) -> Result<Subscription, i32> {
    let userdata = read_u64(bytes, 0);
    match bytes[8] {
        EVENTTYPE_CLOCK => {
            let id = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
            let timeout = read_u64(bytes, 24);
            let absolute =
                u16::from_le_bytes(bytes[40..42].try_into().unwrap()) & SUBCLOCKFLAGS_ABSTIME != 0;
            let due = match (id, absolute) {
                (CLOCK_MONOTONIC, true) => from_nanos(timeout),
                (CLOCK_REALTIME, true) => {
                    let wall = SystemTime::now()
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos() as u64;
                    after_nanos(now, timeout.saturating_sub(wall))
                }
                (CLOCK_MONOTONIC | CLOCK_REALTIME, false) => after_nanos(now, timeout),
                _ => return Err(ERRNO_INVAL),
            };
            Ok(Subscription::Clock { userdata, due })
        }
        kind @ (1 | 2) => Ok(Subscription::Fd { userdata, kind }),
        _ => Err(ERRNO_INVAL),
    }
}

fn event(userdata: u64, kind: u8, nbytes: u64) -> [u8; EVENT_SIZE] {
    let mut e = [0u8; EVENT_SIZE];
    e[0..8].copy_from_slice(&userdata.to_le_bytes());
    e[8..10].copy_from_slice(&(ERRNO_SUCCESS as u16).to_le_bytes());
    e[10] = kind;
    e[16..24].copy_from_slice(&nbytes.to_le_bytes());
    e
}

/// `poll_oneoff`: clock subscriptions wait on our timers. Fd subscriptions report ready
/// at once (regular files and our stdio streams never block a poll); a guest that then
/// reads parks in the read itself.
async fn poll_oneoff(
    caller: &mut Caller<'_, ProcessState>,
    subs: u32,
    out: u32,
    count: u32,
    nevents: u32,
) -> wasmtime::Result<i32> {
    let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
        return Ok(ERRNO_FAULT);
    };
    if count == 0 {
        return Ok(ERRNO_INVAL);
    }
    // Every range is checked against the memory before anything is allocated or copied:
    // `count` comes from the guest, and `count * 48` bytes of it must exist.
    let size = memory.data_size(&*caller);
    if guest_memory::array(size, subs, count, SUBSCRIPTION_SIZE).is_none()
        || guest_memory::array(size, out, count, EVENT_SIZE).is_none()
        || guest_memory::array(size, nevents, 1, 4).is_none()
    {
        return Ok(ERRNO_FAULT);
    }
    let mut raw = vec![0u8; count as usize * SUBSCRIPTION_SIZE];
    if memory.read(&*caller, subs as usize, &mut raw).is_err() {
        return Ok(ERRNO_FAULT);
    }
    let now = executor::now();
    let mut decoded = Vec::with_capacity(count as usize);
    for chunk in raw.chunks_exact(SUBSCRIPTION_SIZE) {
        match decode(chunk, now) {
            Ok(s) => decoded.push(s),
            Err(errno) => return Ok(errno),
        }
    }
    let any_fd = decoded.iter().any(|s| matches!(s, Subscription::Fd { .. }));
    if !any_fd {
        let first = decoded
            .iter()
            .filter_map(|s| match s {
                Subscription::Clock { due, .. } => Some(*due),
                _ => None,
            })
            .min()
            .expect("count > 0 and every subscription is a clock");
        executor::sleep_until(first).await;
    }
    let now = executor::now();
    let mut events = Vec::new();
    for s in &decoded {
        match *s {
            Subscription::Clock { userdata, due } if due <= now => {
                events.extend_from_slice(&event(userdata, EVENTTYPE_CLOCK, 0))
            }
            Subscription::Fd { userdata, kind } => {
                events.extend_from_slice(&event(userdata, kind, 1))
            }
            _ => {}
        }
    }
    let n = (events.len() / EVENT_SIZE) as u32;
    if memory.write(&mut *caller, out as usize, &events).is_err()
        || memory
            .write(&mut *caller, nevents as usize, &n.to_le_bytes())
            .is_err()
    {
        return Ok(ERRNO_FAULT);
    }
    Ok(ERRNO_SUCCESS)
}

/// Replaces preview-1 `poll_oneoff` in a core linker.
pub fn shadow_p1(linker: &mut Linker<ProcessState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.func_wrap_async(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        |mut caller: Caller<'_, ProcessState>,
         (subs, out, count, nevents): (u32, u32, u32, u32)| {
            Box::new(async move { poll_oneoff(&mut caller, subs, out, count, nevents).await })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
