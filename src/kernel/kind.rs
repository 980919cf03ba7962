//! The seam between the kernel and the kinds of process it runs (wasm, Lua, ...): a kind
//! checks and prepares its entries when a project loads, and the kernel spawns what it
//! prepared without knowing what it is.

use std::sync::Arc;

use super::process::{Args, Body};
use crate::registry::{Diagnostics, EntryId, Registry};

/// A kind of process entry (`process.wasm`, `process.lua`, ...).
///
/// `wippy check` and every runtime load go through [`ProcessKind::load`], so the two
/// cannot disagree about a project: whatever a kind would refuse at spawn time it must
/// report here, with the entry's location.
pub(crate) trait ProcessKind: Send + Sync {
    /// Checks and prepares this kind's entries in `registry`, reporting every problem
    /// (and warning) in `diags`. Entries outside `only` (when given) need not be made
    /// spawnable, but should still be checked as far as is cheap. Returns what can be
    /// spawned, by entry.
    fn load(&self, registry: &Registry, only: Option<&[EntryId]>, diags: &mut Diagnostics)
        -> Ready;
}

/// What a kind prepared, by entry.
pub(crate) type Ready = Vec<(EntryId, Arc<dyn Spawnable>)>;

/// One prepared entry: what the kernel needs to start its processes.
pub(crate) trait Spawnable: Send + Sync {
    /// The body of a new process (built on the spawning thread, run on its worker).
    fn body(self: Arc<Self>, args: Args) -> Body;

    /// Whether its processes read events and messages: they get an inbox, and CANCEL and
    /// LINK_DOWN are delivered to it instead of ending them.
    fn reads_events(&self) -> bool;

    /// Whether a linked process's failure arrives as LINK_DOWN (true) or ends the process
    /// (false, Wippy's default for Lua, until it sets `trap_links`). Only for kinds that
    /// read events; the others always end.
    fn traps_links(&self) -> bool {
        true
    }
}
