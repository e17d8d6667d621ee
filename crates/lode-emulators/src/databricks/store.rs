//! A small persistent map for the emulator's non-table objects (pipelines, Genie spaces,
//! monitors, statements): kept in memory, written to one JSON file atomically after every change,
//! so the emulator survives restarts and a crash never leaves a half-written file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Objects by id, persisted to `path`.
pub struct JsonStore<T> {
    path: PathBuf,
    items: Mutex<BTreeMap<String, T>>,
}

impl<T: Serialize + DeserializeOwned + Clone> JsonStore<T> {
    pub fn open(path: PathBuf) -> std::io::Result<JsonStore<T>> {
        let items = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(JsonStore {
            path,
            items: Mutex::new(items),
        })
    }

    pub fn get(&self, id: &str) -> Option<T> {
        self.items.lock().expect("store lock").get(id).cloned()
    }

    /// What `look` reads from one object, without copying the object (a continuous pipeline's
    /// record, thousands of events, is looked at several times a second).
    pub fn peek<R>(&self, id: &str, look: impl FnOnce(&T) -> R) -> Option<R> {
        self.items.lock().expect("store lock").get(id).map(look)
    }

    pub fn ids(&self) -> Vec<String> {
        self.items
            .lock()
            .expect("store lock")
            .keys()
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<(String, T)> {
        self.items
            .lock()
            .expect("store lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Changes the map under its lock and persists it; returns what `change` returned.
    pub fn update<R>(
        &self,
        change: impl FnOnce(&mut BTreeMap<String, T>) -> R,
    ) -> std::io::Result<R> {
        let mut items = self.items.lock().expect("store lock");
        let result = change(&mut items);
        let bytes = serde_json::to_vec_pretty(&*items).expect("store items serialise");
        let dir = self.path.parent().expect("stores live in a folder");
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        temp.write_all(&bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(result)
    }
}
