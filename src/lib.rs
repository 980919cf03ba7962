//! wippy-wasm: WebAssembly modules and components as lightweight, supervised processes.

pub mod binary;
pub mod engine;
pub mod project;
pub mod registry;
