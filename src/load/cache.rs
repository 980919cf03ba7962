//! On-disk cache of compiled artifacts.
//!
//! Key: the binary's sha256, wasmtime's engine-compatibility hash (version, target and
//! every setting that changes generated code) and the binary kind. A cache file is an
//! envelope: magic, the sha256 of the key and the payload together, the payload's length,
//! then wasmtime's serialized artifact. Deserializing is `unsafe` in wasmtime (it trusts
//! the bytes), so a file whose envelope does not check out is never handed to it: it is
//! recompiled and rewritten. Binding the key into the digest means a sound file for one
//! binary, copied under another binary's name, is refused too. The envelope detects damage
//! and mix-ups, not a forger: whoever can write the cache folder can write a matching
//! digest, so the folder must be as private as the binaries (it is created 0700).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use wasmtime::Engine;

use super::hash::to_hex;
use super::kind::BinaryKind;

const MAGIC: &[u8; 8] = b"WIPPYCC\x02";
const HEADER_LEN: usize = 8 + 32 + 8;

/// What the compile cache did: binaries found compiled, compiled anew, and cached files
/// refused (corrupt, truncated or foreign) and rebuilt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Binaries loaded from the cache.
    pub hits: u64,
    /// Binaries compiled.
    pub misses: u64,
    /// Cache files refused and rebuilt.
    pub rejected: u64,
}

impl std::iter::Sum for CacheStats {
    fn sum<I: Iterator<Item = Self>>(stats: I) -> Self {
        stats.fold(Self::default(), |a, b| Self {
            hits: a.hits + b.hits,
            misses: a.misses + b.misses,
            rejected: a.rejected + b.rejected,
        })
    }
}

/// The cache's live counters.
#[derive(Debug, Default)]
pub(crate) struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Files found but refused (corrupt, truncated, foreign) and rebuilt.
    pub rejected: AtomicU64,
}

impl CacheCounters {
    pub fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits(),
            misses: self.misses(),
            rejected: self.rejected(),
        }
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// One binary's place in the cache: its file and the key its envelope is bound to.
pub(crate) struct CacheEntry {
    path: PathBuf,
    key: [u8; 32],
}

pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    engine_hash: [u8; 32],
    pub stats: CacheCounters,
}

/// Feeds `Hash` output into sha256, so the engine's compatibility hash becomes bytes.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
}

impl CompileCache {
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.write(env!("CARGO_PKG_VERSION").as_bytes());
        Self {
            dir,
            engine_hash: hasher.0.finalize().into(),
            stats: CacheCounters::default(),
        }
    }

    /// Where the compiled code of a binary lives in the cache, with its key (`None`: the
    /// cache is off).
    pub fn entry_for(&self, binary_sha: &[u8; 32], kind: BinaryKind) -> Option<CacheEntry> {
        let dir = self.dir.as_ref()?;
        let mut key = Sha256::new();
        key.update(binary_sha);
        key.update(self.engine_hash);
        key.update(kind.name());
        let key: [u8; 32] = key.finalize().into();
        Some(CacheEntry {
            path: dir.join(format!("{}.cwasm", to_hex(&key))),
            key,
        })
    }

    /// The cached artifact's payload, if a sound one exists.
    pub fn read(&self, entry: &CacheEntry) -> Option<Vec<u8>> {
        let bytes = match std::fs::read(&entry.path) {
            Ok(b) => b,
            Err(_) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match unwrap_envelope(&entry.key, bytes) {
            Some(payload) => Some(payload),
            None => {
                tracing::warn!(path = %entry.path.display(), "compile cache file is corrupt or not this binary's; rebuilding it");
                self.stats.rejected.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn record_hit(&self) {
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a file whose envelope was sound but that wasmtime still refused.
    pub fn record_rejected(&self) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes atomically (temp file + rename) so readers never see half a file. A cache
    /// that cannot be written is only a slower start, so failures are logged, not raised.
    pub fn write(&self, entry: &CacheEntry, payload: &[u8]) {
        let path = &entry.path;
        let result = (|| -> std::io::Result<()> {
            let dir = path.parent().expect("cache paths have a folder");
            // Private: a cache file becomes native code (see the module doc).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.write_all(MAGIC)?;
            tmp.write_all(&digest(&entry.key, payload))?;
            tmp.write_all(&(payload.len() as u64).to_le_bytes())?;
            tmp.write_all(payload)?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), "cannot write compile cache: {e}");
        }
    }
}

/// sha256 of the key and the payload together.
fn digest(key: &[u8; 32], payload: &[u8]) -> [u8; 32] {
    let mut d = Sha256::new();
    d.update(key);
    d.update(payload);
    d.finalize().into()
}

fn unwrap_envelope(key: &[u8; 32], mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let expected: [u8; 32] = bytes[8..40].try_into().ok()?;
    let len = u64::from_le_bytes(bytes[40..48].try_into().ok()?) as usize;
    if bytes.len() - HEADER_LEN != len || digest(key, &bytes[HEADER_LEN..]) != expected {
        return None;
    }
    bytes.drain(..HEADER_LEN);
    Some(bytes)
}
