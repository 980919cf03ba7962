//! The failure detector: which nodes are alive, from their heartbeats. A node silent for
//! [`MISSED`] heartbeats is declared down; the check runs every quarter heartbeat, so a
//! dead node is declared down between 3 and 3.25 heartbeats after its last one. Time is
//! passed in, so the rules are tested without waiting.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Heartbeats a node may miss before it is declared down.
pub(crate) const MISSED: u32 = 3;

struct Peer {
    /// The run of the node heard last (`None`: addressed, not heard yet).
    instance: Option<u64>,
    last_heard: Instant,
    /// Live processes per host, from its last heartbeat.
    load: BTreeMap<String, usize>,
    down: bool,
}

pub(crate) struct Peers {
    nodes: HashMap<String, Peer>,
    silence: Duration,
}

impl Peers {
    pub fn new(heartbeat: Duration) -> Self {
        Self {
            nodes: HashMap::new(),
            silence: heartbeat * MISSED,
        }
    }

    /// A heartbeat from run `instance` of `node`. A node declared down that is heard
    /// again is a new member: what watched it before was already told it was down. True
    /// when this is a new run of a node that was up (restarted faster than the silence
    /// that would declare it down): its old run's processes are gone, so it counts as
    /// having gone down first.
    pub fn heard(
        &mut self,
        node: &str,
        instance: u64,
        load: BTreeMap<String, usize>,
        now: Instant,
    ) -> bool {
        let peer = self.nodes.entry(node.to_owned()).or_insert_with(|| Peer {
            instance: None,
            last_heard: now,
            load: BTreeMap::new(),
            down: false,
        });
        let restarted = !peer.down && peer.instance.is_some_and(|i| i != instance);
        peer.instance = Some(instance);
        peer.last_heard = now;
        peer.load = load;
        peer.down = false;
        restarted
    }

    /// A frame from run `instance` of `node`: true when it is a new run of a node that was
    /// up (see [`Peers::heard`]). A node not heard yet is recorded with this run.
    pub fn note_instance(&mut self, node: &str, instance: u64) -> bool {
        match self.nodes.get_mut(node) {
            Some(peer) => {
                let restarted = !peer.down && peer.instance.is_some_and(|i| i != instance);
                peer.instance = Some(instance);
                restarted
            }
            None => false,
        }
    }

    /// `node` is addressed before it was heard: it has the same time to speak as a node
    /// that just fell silent, then it is declared down (so a watch of a node that never
    /// existed still ends).
    pub fn expect(&mut self, node: &str, now: Instant) {
        self.nodes.entry(node.to_owned()).or_insert_with(|| Peer {
            instance: None,
            last_heard: now,
            load: BTreeMap::new(),
            down: false,
        });
    }

    /// `node` said it is leaving: down at once.
    pub fn left(&mut self, node: &str) -> bool {
        match self.nodes.get_mut(node) {
            Some(peer) if !peer.down => {
                peer.down = true;
                true
            }
            _ => false,
        }
    }

    /// The nodes silent for too long, each reported once.
    pub fn check(&mut self, now: Instant) -> Vec<String> {
        let mut down = Vec::new();
        for (name, peer) in &mut self.nodes {
            if !peer.down && now.saturating_duration_since(peer.last_heard) > self.silence {
                peer.down = true;
                down.push(name.clone());
            }
        }
        down.sort();
        down
    }

    /// `node`'s live processes on `host`, from its last heartbeat.
    pub fn load_of(&self, node: &str, host: &str) -> usize {
        self.nodes
            .get(node)
            .and_then(|p| p.load.get(host).copied())
            .unwrap_or(0)
    }

    /// A process was just placed on `host` of `node`: counted in its load until its next
    /// heartbeat says how many it runs.
    pub fn placed(&mut self, node: &str, host: &str) {
        if let Some(peer) = self.nodes.get_mut(node) {
            *peer.load.entry(host.to_owned()).or_default() += 1;
        }
    }

    /// Every node heard of, up or down.
    pub fn names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    pub fn is_down(&self, node: &str) -> bool {
        self.nodes.get(node).is_some_and(|p| p.down)
    }

    /// The live node running `host` with the fewest processes on it (ties: by name).
    pub fn least_loaded(&self, host: &str) -> Option<&str> {
        self.nodes
            .iter()
            .filter(|(_, p)| !p.down)
            .filter_map(|(name, p)| Some((p.load.get(host)?, name)))
            .min()
            .map(|(_, name)| name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_millis(100);

    #[test]
    fn a_silent_node_is_down_after_three_heartbeats_and_reported_once() {
        let t0 = Instant::now();
        let mut peers = Peers::new(BEAT);
        peers.heard("b", 1, BTreeMap::new(), t0);
        assert!(peers.check(t0 + BEAT * 3).is_empty());
        assert_eq!(peers.check(t0 + BEAT * 3 + Duration::from_millis(1)), ["b"]);
        assert!(peers.is_down("b"));
        assert!(peers.check(t0 + BEAT * 10).is_empty());
    }

    #[test]
    fn heartbeats_keep_a_node_up_and_bring_a_down_one_back() {
        let t0 = Instant::now();
        let mut peers = Peers::new(BEAT);
        for i in 0..10 {
            assert!(!peers.heard("b", 1, BTreeMap::new(), t0 + BEAT * i));
            assert!(peers.check(t0 + BEAT * i + BEAT * 2).is_empty());
        }
        assert!(peers.left("b"));
        assert!(!peers.left("b"));
        assert!(peers.is_down("b"));
        assert!(!peers.heard("b", 2, BTreeMap::new(), t0 + BEAT * 20));
        assert!(!peers.is_down("b"));
        // A new run heard while the old one was still up: the old one went down.
        assert!(peers.heard("b", 3, BTreeMap::new(), t0 + BEAT * 21));
        assert!(!peers.is_down("b"));
    }

    #[test]
    fn a_node_never_heard_is_down_after_the_same_silence() {
        let t0 = Instant::now();
        let mut peers = Peers::new(BEAT);
        peers.expect("ghost", t0);
        assert!(!peers.is_down("ghost"));
        assert_eq!(peers.check(t0 + BEAT * 4), ["ghost"]);
    }

    #[test]
    fn placement_picks_the_least_loaded_live_node_that_runs_the_host() {
        let t0 = Instant::now();
        let mut peers = Peers::new(BEAT);
        let load = |n| BTreeMap::from([("app:workers".to_owned(), n)]);
        peers.heard("b", 1, load(5), t0);
        peers.heard("c", 1, load(2), t0);
        peers.heard("d", 1, BTreeMap::new(), t0);
        assert_eq!(peers.least_loaded("app:workers"), Some("c"));
        // Spawns placed between heartbeats count: c (2) takes three, then b and c alternate.
        let mut chosen = Vec::new();
        for _ in 0..5 {
            let node = peers.least_loaded("app:workers").unwrap().to_owned();
            peers.placed(&node, "app:workers");
            chosen.push(node);
        }
        assert_eq!(chosen, ["c", "c", "c", "b", "c"]);
        peers.heard("c", 1, load(2), t0);
        assert_eq!(peers.load_of("c", "app:workers"), 2);
        peers.left("c");
        assert_eq!(peers.least_loaded("app:workers"), Some("b"));
        assert_eq!(peers.least_loaded("app:other"), None);
    }
}
