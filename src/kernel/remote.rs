//! Processes on other cluster nodes, as the kernel sees them: a [`Remote`] that a cluster
//! transport implements. The kernel routes every call on a PID whose node is not its own
//! here, and names no transport.

use std::future::Future;
use std::pin::Pin;

use super::event::Message;
use super::exit::ExitResult;
use super::host::{SendError, Watchers};
use super::names::NameError;
use super::pid::Pid;
use super::process::Args;
use super::spawn_error::SpawnError;

/// A spawn on another node, answered when that node replies (or is declared down).
pub(crate) type RemoteSpawn = Pin<Box<dyn Future<Output = Result<Pid, SpawnError>> + Send>>;

/// A cluster-wide name claim, answered when the bucket has it (or refused it).
pub(crate) type NameClaim = Pin<Box<dyn Future<Output = Result<(), NameError>> + Send>>;

/// The other nodes of a cluster. Every call returns at once: nothing here waits on the
/// network (a spawn returns a future). Delivery is at most once.
pub(crate) trait Remote: Send + Sync {
    /// Sends `message` to `pid` on its node. Fails when that node is known to be down or
    /// the message is larger than the cluster carries.
    fn send(&self, pid: &Pid, message: Message) -> Result<(), SendError>;
    /// `watchers` hear of the end of `pid` (on another node). True: the request went out
    /// (a process that has already ended is then reported to them as ended).
    fn watch(&self, pid: &Pid, watchers: Watchers) -> bool;
    /// Undoes a watch of `pid` by `mailbox` (its monitor, or with `link` its link) and the
    /// link of `linked_pid` to it.
    fn unwatch(
        &self,
        pid: &Pid,
        mailbox: &super::event::Mailbox,
        link: bool,
        linked_pid: Option<&Pid>,
    ) -> bool;
    /// The local process `local` is linked to `remote`: when `remote`'s node goes down,
    /// `local` hears LINK_DOWN.
    fn track_link(&self, local: &Pid, remote: &Pid);
    /// Undoes [`Remote::track_link`].
    fn untrack_link(&self, local: &Pid, remote: &Pid);
    /// The local process `pid` has ended (`normal`: without failing), linked to `linked`:
    /// forget what was kept for it, free its names, and tell the nodes that will hear
    /// nothing from it (a normal end tells no link).
    fn forget(&self, pid: &Pid, linked: &[Pid], normal: bool);
    /// Tells `pid` (remote) that the local process `from`, linked to it, failed.
    fn link_down(&self, pid: &Pid, from: &Pid, result: &ExitResult);
    /// Terminates `pid`.
    fn terminate(&self, pid: &Pid) -> bool;
    /// Asks `pid` to stop, as `from`.
    fn cancel(&self, pid: &Pid, from: &Pid, reason: &str) -> bool;
    /// Claims `name` for the local `pid` cluster-wide.
    fn claim(&self, name: &str, pid: &Pid) -> NameClaim;
    /// The process holding `name` anywhere in the cluster, as last seen here.
    fn lookup(&self, name: &str) -> Option<Pid>;
    /// Runs `task` on the cluster's own thread (a claim nobody waits for).
    fn detach(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>);
    /// Frees `name`, if a local process holds it.
    fn unclaim(&self, name: &str) -> bool;
    /// Starts `entry` on `host` of `node`; `watchers` (local) hear of its end.
    fn spawn(
        &self,
        node: &str,
        entry: &str,
        host: &str,
        args: Args,
        watchers: Watchers,
    ) -> RemoteSpawn;
}
