//! The event bus: Wippy's `events` (`events.send(system, kind, path, data)`,
//! `events.subscribe(system[, kind])`). Events are fire-and-forget broadcasts, apart from
//! process messages: each subscription has a mailbox of its own, bounded, and an event
//! for a full one is dropped (with a warning) rather than blocking the sender or growing
//! without limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::event::{Mailbox, Message};
use crate::value::Value;

/// Events a subscription holds unread before new ones are dropped.
pub(crate) const SUBSCRIPTION_CAPACITY: usize = 4096;

/// The topic of the messages a subscription's mailbox receives.
pub(crate) const EVENT_TOPIC: &str = "event";

/// Which events a subscription takes: `system` exact, `"prefix.*"`, or `"*"`; `kind`
/// exact or any.
struct Filter {
    system: String,
    kind: Option<String>,
}

impl Filter {
    fn admits(&self, system: &str, kind: &str) -> bool {
        let system_ok = match self.system.strip_suffix('*') {
            Some(prefix) => system.starts_with(prefix),
            None => self.system == system,
        };
        system_ok && self.kind.as_deref().is_none_or(|k| k == kind)
    }
}

#[derive(Default)]
pub(crate) struct Bus {
    next: AtomicU64,
    subscriptions: Mutex<Vec<(u64, Filter, Mailbox)>>,
}

/// One event, as subscribers receive it.
pub(crate) struct BusEvent<'a> {
    pub system: &'a str,
    pub kind: &'a str,
    pub path: &'a str,
    pub data: Value,
}

impl Bus {
    /// A new subscription: its id (for [`Bus::unsubscribe`]) and the mailbox its events
    /// arrive in, as messages of topic [`EVENT_TOPIC`].
    pub fn subscribe(&self, system: &str, kind: Option<&str>) -> (u64, Mailbox) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mailbox = Mailbox::bounded(SUBSCRIPTION_CAPACITY);
        let filter = Filter {
            system: system.to_owned(),
            kind: kind.map(str::to_owned),
        };
        self.subscriptions
            .lock()
            .unwrap()
            .push((id, filter, mailbox.clone()));
        (id, mailbox)
    }

    pub fn unsubscribe(&self, id: u64) {
        self.subscriptions
            .lock()
            .unwrap()
            .retain(|(i, _, _)| *i != id);
    }

    /// Delivers `event` to every subscription that admits it; how many took it.
    pub fn send(&self, event: BusEvent<'_>) -> usize {
        let payload = Value::map([
            ("system", Value::String(event.system.to_owned())),
            ("kind", Value::String(event.kind.to_owned())),
            ("path", Value::String(event.path.to_owned())),
            ("data", event.data),
        ]);
        let subscriptions = self.subscriptions.lock().unwrap();
        let mut delivered = 0;
        for (id, filter, mailbox) in subscriptions.iter() {
            if !filter.admits(event.system, event.kind) {
                continue;
            }
            let message = Message {
                from: None,
                topic: EVENT_TOPIC.to_owned(),
                payload: payload.clone(),
            };
            match mailbox.post(message) {
                Ok(()) => delivered += 1,
                Err(full) => tracing::warn!(
                    "event {}/{} dropped for subscription {id}: its mailbox is full ({full:?})",
                    event.system,
                    event.kind
                ),
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_systems_exactly_by_prefix_or_all() {
        let f = |system: &str, kind: Option<&str>| Filter {
            system: system.into(),
            kind: kind.map(Into::into),
        };
        assert!(f("users", None).admits("users", "created"));
        assert!(!f("users", None).admits("users2", "created"));
        assert!(f("app.*", None).admits("app.orders", "x"));
        assert!(!f("app.*", None).admits("other", "x"));
        assert!(f("*", None).admits("anything", "x"));
        assert!(f("users", Some("created")).admits("users", "created"));
        assert!(!f("users", Some("created")).admits("users", "deleted"));
    }

    #[test]
    fn a_full_subscription_drops_new_events_and_keeps_the_old() {
        let bus = Bus::default();
        let (_, mailbox) = bus.subscribe("s", None);
        let event = |n| BusEvent {
            system: "s",
            kind: "k",
            path: "/",
            data: Value::Int(n),
        };
        for n in 0..SUBSCRIPTION_CAPACITY as i64 {
            assert_eq!(bus.send(event(n)), 1);
        }
        assert_eq!(bus.send(event(-1)), 0);
        assert_eq!(mailbox.pending().1, SUBSCRIPTION_CAPACITY);
        let first = mailbox.receive_message(std::time::Duration::ZERO).unwrap();
        let Value::Map(first) = first.payload else {
            panic!("an event is a map")
        };
        assert_eq!(first.get("data"), Some(&Value::Int(0)));
    }

    #[test]
    fn an_unsubscribed_mailbox_gets_nothing() {
        let bus = Bus::default();
        let (id, mailbox) = bus.subscribe("s", None);
        bus.unsubscribe(id);
        let sent = bus.send(BusEvent {
            system: "s",
            kind: "k",
            path: "/",
            data: Value::Null,
        });
        assert_eq!((sent, mailbox.pending()), (0, (0, 0)));
    }
}
