//! Process IDs.

use std::fmt;
use std::sync::Arc;

use crate::registry::{valid_node_name, EntryId};

/// A process ID, written `{host|n}`, or `{node@host|n}` when the runtime is a node of a
/// cluster: unique for the runtime's lifetime.
///
/// ```
/// use wippy_wasm::Pid;
///
/// let pid = Pid::parse("{app:processes|7}").unwrap();
/// assert_eq!(pid.host(), "app:processes");
/// assert_eq!(pid.number(), 7);
/// assert_eq!(pid.node(), None);
/// assert_eq!(pid.to_string(), "{app:processes|7}");
///
/// let remote = Pid::parse("{east@app:processes|7}").unwrap();
/// assert_eq!(remote.node(), Some("east"));
/// assert_eq!(remote.to_string(), "{east@app:processes|7}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    /// The node it runs on; `None` outside a cluster (always this runtime).
    pub(crate) node: Option<Arc<str>>,
    pub(crate) host: Arc<EntryId>,
    pub(crate) n: u64,
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(node) => write!(f, "{{{node}@{}|{}}}", self.host, self.n),
            None => write!(f, "{{{}|{}}}", self.host, self.n),
        }
    }
}

impl Pid {
    /// Parses `{host|n}` or `{node@host|n}` (the braces are optional).
    pub fn parse(text: &str) -> Option<Pid> {
        let inner = text.trim();
        let inner = inner
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(inner);
        let (host, n) = inner.rsplit_once('|')?;
        let (node, host) = match host.split_once('@') {
            Some((node, host)) if valid_node_name(node) => (Some(Arc::from(node)), host),
            Some(_) => return None,
            None => (None, host),
        };
        Some(Pid {
            node,
            host: Arc::new(EntryId::parse(host)?),
            n: n.parse().ok()?,
        })
    }

    /// The entry ID of the host it runs on.
    pub fn host(&self) -> String {
        self.host.to_string()
    }

    /// Its number on that host.
    pub fn number(&self) -> u64 {
        self.n
    }

    /// The cluster node it runs on, when the runtime is a node of one.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }
}
