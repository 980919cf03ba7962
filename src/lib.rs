//! wippy-wasm: WebAssembly modules and components as lightweight, supervised processes.
//!
//! Start with [`runtime::Runtime`]: load a project, spawn processes, receive their events.

pub mod binary;
pub mod engine;
pub mod executor;
pub mod lua;
pub mod project;
pub mod registry;
pub mod runtime;
pub mod value;

pub use runtime::event;
