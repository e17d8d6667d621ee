//! The `workspace` state store: state, write-ahead log and lock as Databricks workspace files,
//! so every CI runner of an environment shares one state. The lock is a file created with
//! `overwrite=false` (create-only: the workspace refuses a second one), naming its holder; a lock
//! whose holder died is broken only with `lode force-unlock ID`. Workspace files have no append,
//! so the log is rewritten whole on each record (it stays small: two lines per change).

use base64::Engine;
use serde_json::{Value, json};

use super::backend::{HeldLock, LockInfo, StateError, StateStore};
use crate::provider::databricks::client::{ApiError, DatabricksClient, Idempotency};

/// State documents in a workspace folder.
pub struct WorkspaceStore {
    client: std::sync::Arc<DatabricksClient>,
    folder: String,
}

fn storage(operation: &'static str, location: &str) -> impl FnOnce(ApiError) -> StateError {
    let location = location.to_string();
    move |error| StateError::Storage {
        operation,
        location,
        message: error.to_string(),
    }
}

impl WorkspaceStore {
    pub fn new(client: std::sync::Arc<DatabricksClient>, folder: &str) -> WorkspaceStore {
        WorkspaceStore {
            client,
            folder: folder.trim_end_matches('/').to_string(),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.folder)
    }

    fn import(&self, name: &str, bytes: &[u8], overwrite: bool) -> Result<(), ApiError> {
        let _: Value = self.client.post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": self.folder}),
            Idempotency::Idempotent,
        )?;
        let body = json!({
            "path": self.path(name),
            "content": base64::engine::general_purpose::STANDARD.encode(bytes),
            "format": "AUTO",
            "overwrite": overwrite,
        });
        let idempotency = if overwrite {
            Idempotency::Idempotent
        } else {
            Idempotency::NotIdempotent
        };
        let _: Value = self
            .client
            .post("/api/2.0/workspace/import", &body, idempotency)?;
        Ok(())
    }

    fn export(&self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let exported: Option<Value> = self.client.get_optional(
            "/api/2.0/workspace/export",
            &[("path", self.path(name)), ("format", "AUTO".into())],
        )?;
        Ok(exported.and_then(|e| {
            e.get("content")
                .and_then(Value::as_str)
                .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        }))
    }

    fn delete(&self, name: &str) -> Result<(), ApiError> {
        let result: Result<Value, ApiError> = self.client.post(
            "/api/2.0/workspace/delete",
            &json!({"path": self.path(name), "recursive": false}),
            Idempotency::Idempotent,
        );
        match result {
            Err(error) if error.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// A create-only lock file, deleted on drop if it is still ours.
struct WorkspaceLock {
    client: std::sync::Arc<DatabricksClient>,
    folder: String,
    id: String,
}

impl HeldLock for WorkspaceLock {}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        let store = WorkspaceStore::new(self.client.clone(), &self.folder);
        let ours = store
            .export("lock")
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
            .is_some_and(|info| info.id == self.id);
        if ours {
            let _ = store.delete("lock");
        }
    }
}

impl StateStore for WorkspaceStore {
    fn location(&self) -> String {
        format!("{} (workspace {})", self.folder, self.client.host())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.export(name).map_err(storage("read", &self.path(name)))
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.import(name, bytes, true)
            .map_err(storage("write", &self.path(name)))
    }

    fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        // Workspace files cannot be appended to: read, extend, rewrite. Always re-read (never a
        // copy held by this process), so an entry another lode wrote meanwhile (`lode verify`
        // and `lode snapshot` journal without the lock) is kept. Two appends at the same
        // instant can still race; the journal is a record, not the state.
        let mut content = self.read(name)?.unwrap_or_default();
        content.extend_from_slice(bytes);
        self.replace(name, &content)
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        self.delete(name)
            .map_err(storage("remove", &self.path(name)))?;
        Ok(())
    }

    fn lock(&self, environment: &str, info: &LockInfo) -> Result<Box<dyn HeldLock>, StateError> {
        let bytes = serde_json::to_vec(info).expect("lock info serialises");
        match self.import("lock", &bytes, false) {
            Ok(()) => Ok(Box::new(WorkspaceLock {
                client: self.client.clone(),
                folder: self.folder.clone(),
                id: info.id.clone(),
            })),
            Err(error) if error.status() == Some(409) => {
                let holder = self
                    .lock_holder()?
                    .map(|h| h.describe())
                    .unwrap_or_else(|| "another lode run".to_string());
                Err(StateError::Locked {
                    environment: environment.to_string(),
                    holder,
                })
            }
            Err(error) => Err(storage("lock", &self.path("lock"))(error)),
        }
    }

    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        let bytes = self
            .export("lock")
            .map_err(storage("read", &self.path("lock")))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    fn force_unlock(&self, environment: &str, id: &str) -> Result<(), StateError> {
        match self.lock_holder()? {
            None => Ok(()),
            Some(info) if info.id == id => self
                .delete("lock")
                .map_err(storage("remove", &self.path("lock"))),
            Some(info) => Err(StateError::WrongLockId {
                environment: environment.to_string(),
                given: id.to_string(),
                actual: info.id,
            }),
        }
    }
}
