//! Loading binaries: read through an `fs.directory`, verify the hash, tell core module
//! from component, compile (cached on disk) and check imports against the entry.

pub mod cache;
pub mod compile;
pub mod fsroot;
pub mod hash;
pub mod imports;
pub mod kind;

pub use cache::{CacheStats, CompileCache};
pub use compile::Code;
pub use hash::ExpectedHash;
pub use kind::BinaryKind;
