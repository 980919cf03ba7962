//! Process IDs.

use std::fmt;
use std::sync::Arc;

use crate::registry::EntryId;

/// A process ID, written `{host|n}`: unique for the runtime's lifetime.
///
/// ```
/// use wippy_wasm::Pid;
///
/// let pid = Pid::parse("{app:processes|7}").unwrap();
/// assert_eq!(pid.host(), "app:processes");
/// assert_eq!(pid.number(), 7);
/// assert_eq!(pid.to_string(), "{app:processes|7}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pid {
    pub(crate) host: Arc<EntryId>,
    pub(crate) n: u64,
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}|{}}}", self.host, self.n)
    }
}

impl Pid {
    /// Parses `{host|n}` (the braces are optional).
    pub fn parse(text: &str) -> Option<Pid> {
        let inner = text.trim();
        let inner = inner
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(inner);
        let (host, n) = inner.rsplit_once('|')?;
        Some(Pid {
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
}
