//! Why a spawn was refused.

use super::host::HostFull;

/// Why a spawn was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// No spawnable entry has this ID (or it was left out with
    /// [`RuntimeBuilder::only`](crate::RuntimeBuilder::only)).
    #[error("process entry not found: {0}")]
    UnknownEntry(String),
    /// No `process.host` or `terminal.host` has this ID.
    #[error("process host not found: {0}")]
    UnknownHost(String),
    /// The spawn was for another cluster node, and it failed there or on the way.
    #[error("{0}")]
    Remote(String),
    /// The host runs as many processes as `host.max_processes` allows.
    #[error("{0}")]
    HostFull(#[from] HostFull),
}
