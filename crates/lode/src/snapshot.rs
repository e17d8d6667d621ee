//! Snapshots: the live state of resources at a moment, as readable files, so an environment can
//! be put back exactly — including changes made outside git, and table data (through the Delta
//! version each table had). `snapshots/<env>/<id>/index.json` lists what is in it; each resource
//! is `resources/<kind>/<name>.json` with its spec (secrets masked), server id and outputs, and
//! the data marker its provider captured (a table's Delta version). Secrets are never written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::Address;
use crate::provider::LiveObject;
use crate::redact::{Redactor, mask_pointers, sensitive_pointers};

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
    dir: PathBuf,
    environment: String,
}

fn resource_file(address: &Address) -> String {
    // Tag paths and view paths hold `/`; keep them readable as folders.
    format!("resources/{}/{}.json", address.kind, address.name)
}

impl Snapshots {
    /// `root` is the manifest root; its `snapshots/` folder is never read as manifests.
    pub fn new(root: &Path, environment: &str) -> Snapshots {
        Snapshots {
            dir: root.join("snapshots").join(environment),
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
        let folder = self.dir.join(&id);
        std::fs::create_dir_all(&folder).map_err(io("create", &folder))?;
        self.ignore_in_git()?;
        let redactor = Redactor::new(secrets);
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
            let path = folder.join(resource_file(address));
            std::fs::create_dir_all(path.parent().expect("files have folders"))
                .map_err(io("create", &path))?;
            write_json(&path, &resource)?;
        }
        let index = SnapshotIndex {
            id,
            created,
            environment: self.environment.clone(),
            revision,
            reason: reason.to_string(),
            resources: objects.keys().cloned().collect(),
        };
        write_json(&folder.join("index.json"), &index)?;
        Ok(index)
    }

    fn ignore_in_git(&self) -> Result<(), SnapshotError> {
        let Some(root) = self.dir.parent() else {
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

    /// Every snapshot, oldest first.
    pub fn list(&self) -> Result<Vec<SnapshotIndex>, SnapshotError> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut indexes = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path().join("index.json");
            if path.is_file() {
                indexes.push(read_json::<SnapshotIndex>(&path)?);
            }
        }
        indexes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(indexes)
    }

    /// One snapshot's index and resources.
    pub fn load(&self, id: &str) -> Result<(SnapshotIndex, Vec<SnapshotResource>), SnapshotError> {
        let folder = self.dir.join(id);
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
        let all = self.list()?;
        let excess = all.len().saturating_sub(keep);
        for index in &all[..excess] {
            let folder = self.dir.join(&index.id);
            std::fs::remove_dir_all(&folder).map_err(io("remove", &folder))?;
        }
        Ok(excess)
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), SnapshotError> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("snapshots serialise");
    bytes.push(b'\n');
    std::fs::write(path, bytes).map_err(io("write", path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SnapshotError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
