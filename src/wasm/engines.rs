//! The wasm kind's engines. Per preemption mode in use: a plain set, and, made when the
//! first component that uses component-model async (a WASI 0.3 program) loads, a
//! concurrent set. Each set is a pooled engine (unless the runtime asked for none), an
//! on-demand engine made on first need for binaries a pool slot cannot hold, and the
//! compile cache of its code: fuel and epoch code differ, and so do plain and concurrent.

use std::sync::{Arc, OnceLock};

use wasmtime::Engine;

use super::epoch;
use crate::load::engine::{self, EngineOptions};
use crate::load::CompileCache;
use crate::registry::Preemption;

/// One engine configuration: see the module doc.
pub struct EngineSet {
    engine: Engine,
    on_demand: OnceLock<Result<Engine, String>>,
    cache: CompileCache,
    options: EngineOptions,
    preemption: Preemption,
    concurrent: bool,
    ticker: Arc<epoch::Ticker>,
}

impl EngineSet {
    fn new(
        options: &EngineOptions,
        preemption: Preemption,
        concurrent: bool,
        ticker: &Arc<epoch::Ticker>,
    ) -> Result<Self, String> {
        let engine = build(options, preemption, concurrent, ticker)?;
        let cache = CompileCache::new(&engine, options.cache_dir.clone());
        Ok(Self {
            engine,
            on_demand: OnceLock::new(),
            cache,
            options: options.clone(),
            preemption,
            concurrent,
            ticker: ticker.clone(),
        })
    }

    /// The compile cache of this configuration.
    pub fn compile_cache(&self) -> &CompileCache {
        &self.cache
    }
}

impl crate::load::EngineSet for EngineSet {
    fn primary(&self) -> &Engine {
        &self.engine
    }

    fn on_demand(&self) -> Result<Engine, String> {
        self.on_demand
            .get_or_init(|| {
                let options = EngineOptions {
                    pooling: false,
                    ..self.options.clone()
                };
                build(&options, self.preemption, self.concurrent, &self.ticker)
            })
            .clone()
    }

    fn cache(&self) -> &CompileCache {
        &self.cache
    }
}

/// Builds an engine; an epoch engine is ticked by the runtime's epoch clock from now on.
fn build(
    options: &EngineOptions,
    preemption: Preemption,
    concurrent: bool,
    ticker: &epoch::Ticker,
) -> Result<Engine, String> {
    let engine = if concurrent {
        engine::build_concurrent(options, preemption)?
    } else {
        engine::build(options, preemption)?
    };
    if preemption == Preemption::Epoch {
        ticker.add(&engine);
    }
    Ok(engine)
}

/// The engines of one preemption mode.
pub struct ModeEngines {
    /// For everything but components that use component-model async.
    pub plain: EngineSet,
    concurrent: OnceLock<Result<EngineSet, String>>,
    options: EngineOptions,
    preemption: Preemption,
    ticker: Arc<epoch::Ticker>,
}

impl ModeEngines {
    pub fn new(
        options: &EngineOptions,
        preemption: Preemption,
        ticker: &Arc<epoch::Ticker>,
    ) -> Result<Self, String> {
        Ok(Self {
            plain: EngineSet::new(options, preemption, false, ticker)?,
            concurrent: OnceLock::new(),
            options: options.clone(),
            preemption,
            ticker: ticker.clone(),
        })
    }

    /// The concurrent set, made on first call.
    pub fn concurrent(&self) -> Result<&EngineSet, String> {
        self.concurrent
            .get_or_init(|| EngineSet::new(&self.options, self.preemption, true, &self.ticker))
            .as_ref()
            .map_err(Clone::clone)
    }
}
