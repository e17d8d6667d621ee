//! Snapshots: the live state of resources at a moment, as readable files, so an environment can
//! be put back exactly — including changes made outside git, and table data (through the Delta
//! version each table had). Secrets are never written.
//!
//! Snapshots live with the state. With local state they are the folder
//! `snapshots/<env>/<id>/` of the manifest root: `index.json` lists what is in it; each
//! resource is `resources/<kind>/<name>.json` with its spec (secrets masked), server id and
//! outputs, and the data marker its provider captured (a table's Delta version). With state in
//! the workspace (shared by CI runners, whose checkouts are wiped) they are documents of that
//! state store: `snapshots/<id>/resources/<kind>/<name>.json` per resource (each within the
//! workspace's 10 MB import limit) and `snapshots/<id>.index.json`, written last, which is
//! what `lode snapshots` lists; the same retention applies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::Address;
use crate::provider::LiveObject;
use crate::redact::{Redactor, mask_pointers, sensitive_pointers};
use crate::state::StateError;
use crate::state::backend::StateStore;

/// What a snapshot holds, as listed by `lode snapshots`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotIndex {
    pub id: String,
    pub created: String,
    pub environment: String,
    #[serde(default)]
    pub revision: Option<String>,
    /// Why it was taken: `before apply`, `on demand`, ...
    pub reason: String,
    pub resources: Vec<Address>,
}

/// One resource in a snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotResource {
    pub address: Address,
    pub spec: Value,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// JSON pointers of masked (secret) values in `spec`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Provider data marker, e.g. `{"delta_version": 7}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// The snapshots of an environment as listed.
#[derive(Debug, Default)]
pub struct Listed {
    /// Oldest first.
    pub indexes: Vec<SnapshotIndex>,
    /// Why each snapshot whose index could not be read is not in `indexes`.
    pub broken: Vec<SnapshotError>,
}

/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a lode snapshot: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("there is no snapshot `{id}` of environment `{environment}`")]
    NotFound { environment: String, id: String },
    #[error("snapshots in the state store: {0}")]
    Store(#[from] StateError),
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.to_path_buf();
    move |source| SnapshotError::Io {
        operation,
        path,
        source,
    }
}

/// The snapshots of one environment.
pub struct Snapshots {
    place: Place,
    environment: String,
}

/// Where an environment's snapshots are kept.
enum Place {
    /// `snapshots/<env>/` of the manifest root (local state).
    Folder(PathBuf),
    /// The `snapshots/` documents of the state store (state in the workspace).
    Store(std::sync::Arc<dyn StateStore>),
}

/// Where a resource of snapshot `id` is kept in a state store.
fn stored_resource(id: &str, address: &Address) -> String {
    format!("{STORE_FOLDER}/{id}/{}", resource_file(address))
}

const STORE_FOLDER: &str = "snapshots";
const INDEX_SUFFIX: &str = ".index.json";

fn resource_file(address: &Address) -> String {
    // Tag paths and view paths hold `/`; keep them readable as folders.
    format!("resources/{}/{}.json", address.kind, address.name)
}

impl Snapshots {
    /// `root` is the manifest root; its `snapshots/` folder is never read as manifests.
    pub fn new(root: &Path, environment: &str) -> Snapshots {
        Snapshots {
            place: Place::Folder(root.join("snapshots").join(environment)),
            environment: environment.to_string(),
        }
    }

    /// Snapshots kept in the environment's state store (state in the workspace).
    pub fn in_store(store: std::sync::Arc<dyn StateStore>, environment: &str) -> Snapshots {
        Snapshots {
            place: Place::Store(store),
            environment: environment.to_string(),
        }
    }

    /// Writes a snapshot of `objects` (with their data markers) and returns its index.
    pub fn capture(
        &self,
        reason: &str,
        revision: Option<String>,
        objects: &BTreeMap<Address, (LiveObject, Option<Value>)>,
        secrets: &[String],
        secret_places: &BTreeMap<Address, Vec<String>>,
    ) -> Result<SnapshotIndex, SnapshotError> {
        let created = crate::engine::now_rfc3339();
        // Sortable ids: the time, then a short random part for two in one second.
        let id = format!(
            "{}-{}",
            created.replace([':', '-'], "").trim_end_matches('Z'),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let redactor = Redactor::new(secrets);
        let mut resources = Vec::new();
        for (address, (live, data)) in objects {
            // Masked by value where lode knows it, and by place where the manifests or the
            // state say a secret lives: a live object can still hold a secret's previous value,
            // which lode no longer knows.
            let mut sensitive = sensitive_pointers(&live.spec, secrets);
            for pointer in secret_places.get(address).into_iter().flatten() {
                if live.spec.pointer(pointer).is_some() && !sensitive.contains(pointer) {
                    sensitive.push(pointer.clone());
                }
            }
            sensitive.sort();
            let resource = SnapshotResource {
                address: address.clone(),
                spec: redactor.value(&mask_pointers(&live.spec, &sensitive)),
                id: live.id.clone(),
                outputs: live
                    .outputs
                    .iter()
                    .map(|(k, v)| (k.clone(), redactor.value(v)))
                    .collect(),
                sensitive,
                data: data.clone(),
            };
            resources.push(resource);
        }
        let index = SnapshotIndex {
            id,
            created,
            environment: self.environment.clone(),
            revision,
            reason: reason.to_string(),
            resources: objects.keys().cloned().collect(),
        };
        match &self.place {
            Place::Folder(dir) => {
                let folder = dir.join(&index.id);
                std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
                self.ignore_in_git(dir)?;
                for resource in &resources {
                    let path = folder.join(resource_file(&resource.address));
                    std::fs::create_dir_all(path.parent().expect("files have folders"))
                        .map_err(io("create", &path))?;
                    write_json(&path, resource)?;
                }
                // The index last: a snapshot is listed only once it is whole.
                write_json(&folder.join("index.json"), &index)?;
            }
            Place::Store(store) => {
                // One document per resource: each stays within the store's size limit (10 MB
                // for a workspace import) however large the estate.
                for resource in &resources {
                    store.replace(
                        &stored_resource(&index.id, &resource.address),
                        &to_json_bytes(resource),
                    )?;
                }
                // The index last: a snapshot is listed only once it is whole.
                store.replace(
                    &format!("{STORE_FOLDER}/{}{INDEX_SUFFIX}", index.id),
                    &to_json_bytes(&index),
                )?;
            }
        }
        Ok(index)
    }

    fn ignore_in_git(&self, dir: &Path) -> Result<(), SnapshotError> {
        let Some(root) = dir.parent() else {
            return Ok(());
        };
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(
                &ignore,
                "# lode's snapshots are local data, not source.\n*\n",
            )
            .map_err(io("write", &ignore))?;
        }
        Ok(())
    }

    /// Every snapshot, oldest first. A snapshot whose index cannot be read is left out and
    /// named in `broken`; it hides none of the others.
    pub fn list(&self) -> Result<Listed, SnapshotError> {
        let mut listed = Listed::default();
        let mut keep = |index: Result<SnapshotIndex, SnapshotError>, path: PathBuf| match index {
            // An index names its own snapshot; one whose id is a path (a tampered or foreign
            // file) is never trusted to say what to read or remove.
            Ok(index) if !valid_id(&index.id) => listed.broken.push(SnapshotError::Corrupt {
                path,
                message: format!(
                    "its id `{}` is not a plain name (a snapshot id is never a path)",
                    index.id
                ),
            }),
            Ok(index) => listed.indexes.push(index),
            Err(error) => listed.broken.push(error),
        };
        match &self.place {
            Place::Folder(dir) => {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    return Ok(Listed::default());
                };
                for entry in entries.filter_map(Result::ok) {
                    let path = entry.path().join("index.json");
                    if path.is_file() {
                        keep(read_json::<SnapshotIndex>(&path), path);
                    }
                }
            }
            Place::Store(store) => {
                for name in store.list(STORE_FOLDER)? {
                    if name.ends_with(INDEX_SUFFIX) {
                        let document = format!("{STORE_FOLDER}/{name}");
                        // A store that does not answer is an error; a document that does not
                        // parse is one broken snapshot.
                        if let Some(bytes) = store.read(&document)? {
                            let location = store.document_location(&document);
                            keep(parse_json(&location, &bytes), PathBuf::from(&location));
                        }
                    }
                }
            }
        }
        listed.indexes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }

    /// One snapshot's index and resources.
    pub fn load(&self, id: &str) -> Result<(SnapshotIndex, Vec<SnapshotResource>), SnapshotError> {
        let not_found = || SnapshotError::NotFound {
            environment: self.environment.clone(),
            id: id.to_string(),
        };
        if !valid_id(id) {
            return Err(not_found());
        }
        let dir = match &self.place {
            Place::Folder(dir) => dir,
            Place::Store(store) => {
                let document = format!("{STORE_FOLDER}/{id}{INDEX_SUFFIX}");
                let bytes = store.read(&document)?.ok_or_else(not_found)?;
                let index: SnapshotIndex = parse_json(&document, &bytes)?;
                let read = crate::provider::concurrent::map_bounded(&index.resources, 8, |a| {
                    let document = stored_resource(&index.id, a);
                    match store.read(&document)? {
                        Some(bytes) => parse_json::<SnapshotResource>(&document, &bytes),
                        None => Err(SnapshotError::Corrupt {
                            path: PathBuf::from(&document),
                            message: "the snapshot lists it, but it is missing".to_string(),
                        }),
                    }
                });
                let resources = read.into_iter().collect::<Result<Vec<_>, _>>()?;
                return Ok((index, resources));
            }
        };
        let folder = dir.join(id);
        let index_path = folder.join("index.json");
        if !index_path.is_file() {
            return Err(SnapshotError::NotFound {
                environment: self.environment.clone(),
                id: id.to_string(),
            });
        }
        let index: SnapshotIndex = read_json(&index_path)?;
        let resources = index
            .resources
            .iter()
            .map(|address| read_json::<SnapshotResource>(&folder.join(resource_file(address))))
            .collect::<Result<_, _>>()?;
        Ok((index, resources))
    }

    /// Removes the oldest snapshots beyond `keep`; returns how many went.
    pub fn prune(&self, keep: usize) -> Result<usize, SnapshotError> {
        // A snapshot whose index cannot be read is never removed: a person decides.
        let all = self.list()?.indexes;
        let excess = all.len().saturating_sub(keep);
        for index in &all[..excess] {
            match &self.place {
                Place::Folder(dir) => {
                    let folder = dir.join(&index.id);
                    std::fs::remove_dir_all(&folder).map_err(io("remove", &folder))?;
                }
                Place::Store(store) => {
                    // The index first: a snapshot half removed is no longer listed.
                    store.remove(&format!("{STORE_FOLDER}/{}{INDEX_SUFFIX}", index.id))?;
                    for address in &index.resources {
                        store.remove(&stored_resource(&index.id, address))?;
                    }
                }
            }
        }
        Ok(excess)
    }
}

/// An id names a snapshot, never a path.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | 'T' | '.'))
}

fn to_json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("snapshots serialise");
    bytes.push(b'\n');
    bytes
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SnapshotError> {
    std::fs::write(path, to_json_bytes(value)).map_err(io("write", path))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    document: &str,
    bytes: &[u8],
) -> Result<T, SnapshotError> {
    serde_json::from_slice(bytes).map_err(|e| SnapshotError::Corrupt {
        path: PathBuf::from(document),
        message: e.to_string(),
    })
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SnapshotError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
