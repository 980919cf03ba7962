//! `env.variable` values and the storages behind them (`env.storage.os`, `static`,
//! `memory`, `file`, `router`): what wasm guests get in `wasi.env` (read once at load)
//! and what Lua's `env.get` / `env.set` read and write while the runtime runs.
//!
//! A key is found as Wippy finds it: a variable's `variable:` name, else an entry ID,
//! else the caller's namespace and the key. A storage with no value for it gives the
//! variable's `default`. Writes go to writable storages only (memory, file; a router's
//! first), and never to a `read_only` variable.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use crate::registry::{EntryConfig, EntryId, EnvStorage, EnvVariable, Registry};

/// Why a read or a write failed; the text starts with Wippy's error kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("NOT_FOUND: no env.variable {0:?}")]
    NoVariable(String),
    #[error("NOT_FOUND: env variable {0:?} has no value and no default")]
    NoValue(String),
    #[error("PERMISSION_DENIED: env variable {0:?} is read-only")]
    ReadOnly(String),
    #[error("PERMISSION_DENIED: storage {storage} of env variable {name:?} is read-only")]
    ReadOnlyStorage { name: String, storage: String },
    #[error("INVALID: the value of env variable {0:?} has a line break")]
    LineBreak(String),
    #[error("INTERNAL: env storage {storage}: {message}")]
    Storage { storage: String, message: String },
}

pub(crate) struct EnvStore {
    variables: BTreeMap<EntryId, EnvVariable>,
    storages: HashMap<EntryId, EnvStorage>,
    /// Memory storages' values, as written since load.
    memory: Mutex<HashMap<EntryId, BTreeMap<String, String>>>,
    /// Serialises file storages' read-modify-write.
    files: Mutex<()>,
}

/// Routers may name routers: a chain deeper than this is a cycle.
const MAX_ROUTE: usize = 16;

impl EnvStore {
    pub fn from_registry(registry: &Registry) -> Self {
        let mut variables = BTreeMap::new();
        let mut storages = HashMap::new();
        let mut memory = HashMap::new();
        for entry in registry.entries() {
            match &entry.config {
                EntryConfig::EnvVariable(v) => {
                    variables.insert(entry.id.clone(), v.clone());
                }
                EntryConfig::EnvStorage(s) => {
                    if let EnvStorage::Memory(values) = s {
                        memory.insert(entry.id.clone(), values.clone());
                    }
                    storages.insert(entry.id.clone(), s.clone());
                }
                _ => {}
            }
        }
        Self {
            variables,
            storages,
            memory: Mutex::new(memory),
            files: Mutex::new(()),
        }
    }

    /// The value of the variable entry `id`: its storage's, else its default.
    pub fn value(&self, id: &EntryId) -> Option<String> {
        let v = self.variables.get(id)?;
        self.stored(v.storage.as_ref(), &v.variable, 0)
            .ok()
            .flatten()
            .filter(|s| !s.is_empty())
            .or_else(|| v.default.clone())
    }

    /// The variable entry a script's `key` names (see the module docs).
    fn resolve(&self, key: &str, namespace: &str) -> Option<&EntryId> {
        if let Some((id, _)) = self.variables.iter().find(|(_, v)| v.variable == key) {
            return Some(id);
        }
        let id = EntryId::parse(key).or_else(|| EntryId::parse(&format!("{namespace}:{key}")))?;
        self.variables.get_key_value(&id).map(|(id, _)| id)
    }

    pub fn get(&self, key: &str, namespace: &str) -> Result<String, EnvError> {
        let id = self
            .resolve(key, namespace)
            .ok_or_else(|| EnvError::NoVariable(key.to_owned()))?;
        self.value(id)
            .ok_or_else(|| EnvError::NoValue(key.to_owned()))
    }

    pub fn set(&self, key: &str, namespace: &str, value: &str) -> Result<(), EnvError> {
        let id = self
            .resolve(key, namespace)
            .ok_or_else(|| EnvError::NoVariable(key.to_owned()))?;
        let v = &self.variables[id];
        if v.read_only {
            return Err(EnvError::ReadOnly(key.to_owned()));
        }
        // A line break would add keys to a file storage (`x\nOTHER=1`).
        if value.contains(['\n', '\r']) {
            return Err(EnvError::LineBreak(key.to_owned()));
        }
        self.store(v.storage.as_ref(), &v.variable, value, 0)
    }

    /// Every variable that has a value, by its `variable:` name.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.variables
            .iter()
            .filter_map(|(id, v)| Some((v.variable.clone(), self.value(id)?)))
            .collect()
    }

    fn stored(
        &self,
        storage: Option<&EntryId>,
        name: &str,
        depth: usize,
    ) -> Result<Option<String>, EnvError> {
        let Some(id) = storage else {
            return Ok(std::env::var(name).ok());
        };
        let failed = |message: String| EnvError::Storage {
            storage: id.to_string(),
            message,
        };
        match self.storages.get(id) {
            None => Ok(None),
            Some(EnvStorage::Os) => Ok(std::env::var(name).ok()),
            Some(EnvStorage::Static(values)) => Ok(values.get(name).cloned()),
            Some(EnvStorage::Memory(_)) => Ok(self
                .memory
                .lock()
                .unwrap()
                .get(id)
                .and_then(|m| m.get(name).cloned())),
            Some(EnvStorage::File {
                path,
                auto_create,
                mode,
            }) => {
                let _one = self.files.lock().unwrap();
                Ok(read_file(path, *auto_create, *mode)
                    .map_err(failed)?
                    .remove(name))
            }
            Some(EnvStorage::Router(chain)) => {
                if depth >= MAX_ROUTE {
                    return Err(failed("routers route to each other in a cycle".into()));
                }
                for next in chain {
                    if let Some(v) = self.stored(Some(next), name, depth + 1)? {
                        return Ok(Some(v));
                    }
                }
                Ok(None)
            }
        }
    }

    fn store(
        &self,
        storage: Option<&EntryId>,
        name: &str,
        value: &str,
        depth: usize,
    ) -> Result<(), EnvError> {
        let read_only = |storage: &str| EnvError::ReadOnlyStorage {
            name: name.to_owned(),
            storage: storage.to_owned(),
        };
        let Some(id) = storage else {
            return Err(read_only("the OS environment"));
        };
        let failed = |message: String| EnvError::Storage {
            storage: id.to_string(),
            message,
        };
        match self.storages.get(id) {
            Some(EnvStorage::Memory(_)) => {
                self.memory
                    .lock()
                    .unwrap()
                    .entry(id.clone())
                    .or_default()
                    .insert(name.to_owned(), value.to_owned());
                Ok(())
            }
            Some(EnvStorage::File {
                path,
                auto_create,
                mode,
            }) => {
                let _one = self.files.lock().unwrap();
                let mut values = read_file(path, *auto_create, *mode).map_err(failed)?;
                values.insert(name.to_owned(), value.to_owned());
                write_file(path, &values, *mode).map_err(failed)
            }
            Some(EnvStorage::Router(chain)) if depth < MAX_ROUTE => match chain.first() {
                Some(first) => self.store(Some(first), name, value, depth + 1),
                None => Err(read_only(&id.to_string())),
            },
            _ => Err(read_only(&id.to_string())),
        }
    }
}

/// A `KEY=VALUE` file: blank lines and `#` comments skipped, values optionally quoted.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_owned(), unquoted.to_owned())
        })
        .collect()
}

fn read_file(
    path: &Path,
    auto_create: bool,
    mode: u32,
) -> Result<BTreeMap<String, String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_env_file(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && auto_create => {
            write_file(path, &BTreeMap::new(), mode)?;
            Ok(BTreeMap::new())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write_file(path: &Path, values: &BTreeMap<String, String>, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let failed = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_skip_comments_and_unquote() {
        let got = parse_env_file("# c\n\nA=1\nB = \"two words\"\nexport C='x=y'\nbroken\n");
        let want: BTreeMap<String, String> = [("A", "1"), ("B", "two words"), ("C", "x=y")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(got, want);
    }
}
