//! The wasm kind's engines. Per preemption mode in use: a plain set, and, made when the
//! first component that needs it loads (`load::concurrency`: a WASI 0.3 program), a
//! concurrent set. Each set is a pooled engine (unless the runtime asked for none), an
//! on-demand engine made on first need for binaries a pool slot cannot hold, and the
//! compile cache of its code: fuel and epoch code differ, and so do plain and concurrent.

use std::sync::{Arc, OnceLock};

use wasmtime::Engine;

use super::epoch;
use crate::load::cache::CacheStats;
use crate::load::engine::{self, EngineOptions};
use crate::load::CompileCache;
use crate::registry::Preemption;

/// One engine configuration (plain or concurrent): see the module doc.
pub struct ConfigEngines {
    engine: Engine,
    on_demand: OnceLock<Result<Engine, String>>,
    cache: CompileCache,
    options: EngineOptions,
    preemption: Preemption,
    concurrent: bool,
    ticker: Arc<epoch::Ticker>,
}

impl ConfigEngines {
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
}

impl crate::load::EngineSet for ConfigEngines {
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

    fn concurrent(&self) -> bool {
        self.concurrent
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
    pub plain: ConfigEngines,
    concurrent: OnceLock<Result<ConfigEngines, String>>,
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
            plain: ConfigEngines::new(options, preemption, false, ticker)?,
            concurrent: OnceLock::new(),
            options: options.clone(),
            preemption,
            ticker: ticker.clone(),
        })
    }

    /// The concurrent set, made on first call.
    pub fn concurrent(&self) -> Result<&ConfigEngines, String> {
        self.concurrent
            .get_or_init(|| ConfigEngines::new(&self.options, self.preemption, true, &self.ticker))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// What the caches of this mode's sets counted.
    pub fn cache_stats(&self) -> CacheStats {
        let concurrent = self.concurrent.get().and_then(|c| c.as_ref().ok());
        [Some(&self.plain), concurrent]
            .into_iter()
            .flatten()
            .map(|set| set.cache.stats.snapshot())
            .sum()
    }
}
