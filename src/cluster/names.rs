//! Cluster-wide names: a JetStream key-value bucket holds `name -> pid`. Registering is a
//! create-if-absent, so of two nodes that register one name at once exactly one wins.
//! Every node keeps a replica of the bucket from a watch, so a lookup is local and never
//! waits on the network; a name registered on another node is seen here once the watch
//! delivers it (usually within a millisecond on one machine).

use std::collections::HashMap;

use crate::kernel::pid::Pid;

/// The bucket's name.
pub(crate) const BUCKET: &str = "wippy_names";

/// A name as a bucket key. Keys allow only `A-Z a-z 0-9 - _ = /` and dots between
/// tokens, so a name made only of those keeps its text (`n.`), any other is hex (`x.`).
pub(crate) fn key_for(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'/'));
    if plain {
        format!("n.{name}")
    } else {
        let mut key = String::with_capacity(2 + name.len() * 2);
        key.push_str("x.");
        for b in name.bytes() {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }
}

/// The name a key stands for; `None` for a key this runtime did not write.
pub(crate) fn name_of(key: &str) -> Option<String> {
    if let Some(name) = key.strip_prefix("n.") {
        return Some(name.to_owned());
    }
    let hex = key.strip_prefix("x.")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// A bucket value: the holder's PID and the run of its node (`{b@app:h|7}#1234`), so the
/// next run of that node can tell a name left by an earlier run.
pub(crate) fn value_of(pid: &Pid, instance: u64) -> String {
    format!("{pid}#{instance}")
}

/// The PID and run in a bucket value; `None` for a value this runtime did not write.
pub(crate) fn parse_value(value: &[u8]) -> Option<(Pid, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (pid, instance) = text.rsplit_once('#')?;
    Some((Pid::parse(pid)?, instance.parse().ok()?))
}

/// One name in the bucket, as last seen.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Held {
    pub pid: Pid,
    /// The bucket's revision of it: a delete names it, so it cannot remove a newer owner.
    pub revision: u64,
}

/// This node's copy of the bucket.
#[derive(Default)]
pub(crate) struct Replica {
    by_name: HashMap<String, Held>,
}

impl Replica {
    /// A put (`Some`) or a delete (`None`) seen in the bucket. An older revision than
    /// the one held is ignored (this node's own create is applied before its echo).
    pub fn apply(&mut self, name: String, held: Option<Held>, revision: u64) {
        match held {
            Some(held) => {
                let newer = self
                    .by_name
                    .get(&name)
                    .is_none_or(|h| h.revision <= held.revision);
                if newer {
                    self.by_name.insert(name, held);
                }
            }
            None => {
                if self
                    .by_name
                    .get(&name)
                    .is_some_and(|h| h.revision <= revision)
                {
                    self.by_name.remove(&name);
                }
            }
        }
    }

    pub fn lookup(&self, name: &str) -> Option<&Held> {
        self.by_name.get(name)
    }

    /// The names held by processes of `node`.
    pub fn of_node(&self, node: &str) -> Vec<(String, Held)> {
        self.by_name
            .iter()
            .filter(|(_, h)| h.pid.node.as_deref() == Some(node))
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_survives_the_trip_through_a_key() {
        for name in [
            "worker",
            "a-b_c=d/e",
            "with space",
            "dots.in.it",
            "ünï",
            "{x}",
            ">",
            "*",
        ] {
            let key = key_for(name);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric()
                        || matches!(b, b'-' | b'_' | b'=' | b'/' | b'.')),
                "{key}"
            );
            assert_eq!(name_of(&key).as_deref(), Some(name));
        }
        assert_eq!(key_for("worker"), "n.worker");
        let pid = Pid::parse("{b@app:h|7}").unwrap();
        assert_eq!(parse_value(value_of(&pid, 42).as_bytes()), Some((pid, 42)));
        assert_eq!(parse_value(b"{b@app:h|7}"), None);
        assert_eq!(name_of("x.zz"), None);
        assert_eq!(name_of("other"), None);
    }

    #[test]
    fn an_old_revision_never_replaces_or_removes_a_newer_owner() {
        let pid = |n| Pid::parse(&format!("{{b@app:h|{n}}}")).unwrap();
        let mut replica = Replica::default();
        replica.apply(
            "w".into(),
            Some(Held {
                pid: pid(2),
                revision: 5,
            }),
            5,
        );
        replica.apply(
            "w".into(),
            Some(Held {
                pid: pid(1),
                revision: 3,
            }),
            3,
        );
        assert_eq!(replica.lookup("w").unwrap().pid, pid(2));
        replica.apply("w".into(), None, 4);
        assert!(replica.lookup("w").is_some());
        replica.apply("w".into(), None, 6);
        assert!(replica.lookup("w").is_none());
        assert!(replica.of_node("b").is_empty());
    }
}
