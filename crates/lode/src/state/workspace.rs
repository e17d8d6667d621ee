//! The `workspace` state store: state, write-ahead log and lock as Databricks workspace files,
//! so every CI runner of an environment shares one state. The lock is a file created with
//! `overwrite=false` (create-only: the workspace refuses a second one), naming its holder; a lock
//! whose holder died is broken only with `lode force-unlock ID`. Workspace files have no append:
//! the write-ahead log (written under the lock) is rewritten whole on each record (it stays
//! small: two lines per change), and the journal, which runs write without the lock, keeps one
//! create-only file per entry so that no entry can be lost to a concurrent writer.

use base64::Engine;
use serde_json::{Value, json};

use super::backend::{
    HeldLock, LockInfo, LogRecord, RecordOrigin, StateError, StateStore, lines_of,
};
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
        let path = self.path(name);
        let parent = path
            .rsplit_once('/')
            .map_or(self.folder.as_str(), |(p, _)| p);
        let _: Value = self.client.post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": parent}),
            Idempotency::Idempotent,
        )?;
        let body = json!({
            "path": path,
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

impl WorkspaceStore {
    /// The records of `log`, oldest first: the journal written before records were files
    /// (line by line), then one file per record, whose keys sort in time order. With `limit`,
    /// only the newest that many, so only their files are read (one request each).
    fn read_records(&self, log: &str, limit: Option<usize>) -> Result<Vec<LogRecord>, StateError> {
        let folder = records_folder(log);
        let mut names: Vec<String> = self
            .list(&folder)?
            .into_iter()
            .filter(|n| n.ends_with(".json"))
            .map(|n| format!("{folder}/{n}"))
            .collect();
        let older_wanted = match limit {
            Some(limit) => {
                names.drain(..names.len().saturating_sub(limit));
                limit - names.len()
            }
            None => usize::MAX,
        };
        let mut records = Vec::new();
        if older_wanted > 0 {
            let older = self
                .read(log)?
                .map(|b| lines_of(&self.document_location(log), &b))
                .unwrap_or_default();
            let skip = older.len().saturating_sub(older_wanted);
            records.extend(older.into_iter().skip(skip));
        }
        let read = crate::provider::concurrent::map_bounded(&names, 8, |name| self.read(name));
        for (name, record) in names.iter().zip(read) {
            // A record deleted between the listing and its read is simply gone.
            if let Some(bytes) = record? {
                records.push(LogRecord {
                    bytes,
                    origin: RecordOrigin {
                        document: self.document_location(name),
                        line: None,
                    },
                });
            }
        }
        Ok(records)
    }
}

/// The folder of a log kept as one file per record: `journal.jsonl` → `journal`.
fn records_folder(log: &str) -> String {
    log.strip_suffix(".jsonl").unwrap_or(log).to_string()
}

/// Whether a create-only import failed because the file is there: the workspace answers
/// `RESOURCE_ALREADY_EXISTS` with 409 for a file and 400 for a notebook, so the code decides,
/// not the status.
fn lock_exists(error: &ApiError) -> bool {
    error.error_code() == Some("RESOURCE_ALREADY_EXISTS") || error.status() == Some(409)
}

impl WorkspaceStore {
    /// The error for a lock someone else holds, naming the holder and its lock id (the id is
    /// what `lode force-unlock ID` needs). A lock file that cannot be read still says so.
    fn locked(&self, environment: &str) -> StateError {
        let holder = match self.lock_holder() {
            Ok(Some(holder)) => holder.describe(),
            Ok(None) => {
                "another lode run (its lock file vanished meanwhile; try again)".to_string()
            }
            Err(error) => format!("another lode run (its lock file could not be read: {error})"),
        };
        StateError::Locked {
            environment: environment.to_string(),
            holder,
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

    fn document_location(&self, name: &str) -> String {
        format!("{} (workspace {})", self.path(name), self.client.host())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError> {
        self.export(name).map_err(storage("read", &self.path(name)))
    }

    fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.import(name, bytes, true)
            .map_err(storage("write", &self.path(name)))
    }

    fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        // Workspace files cannot be appended to: read, extend, rewrite. Only the write-ahead
        // log is appended this way, and only under the lock; logs written without the lock
        // (the journal) use `add_record`.
        let mut content = self.read(name)?.unwrap_or_default();
        content.extend_from_slice(bytes);
        self.replace(name, &content)
    }

    fn add_record(&self, log: &str, key: &str, bytes: &[u8]) -> Result<(), StateError> {
        // One file per record, created only if absent: two runners journaling at the same
        // instant write two files, and neither can overwrite the other's (issue #13).
        let name = format!("{}/{key}.json", records_folder(log));
        self.import(&name, bytes, false)
            .map_err(storage("write", &self.path(&name)))
    }

    fn list(&self, folder: &str) -> Result<Vec<String>, StateError> {
        let listed: Option<Value> = self
            .client
            .get_optional("/api/2.0/workspace/list", &[("path", self.path(folder))])
            .map_err(storage("list", &self.path(folder)))?;
        let mut names: Vec<String> = listed
            .as_ref()
            .and_then(|l| l.get("objects"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|o| o.get("object_type").and_then(Value::as_str) != Some("DIRECTORY"))
            .filter_map(|o| o.get("path").and_then(Value::as_str))
            .filter_map(|p| p.rsplit('/').next())
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    fn recent_records(&self, log: &str, count: usize) -> Result<Vec<LogRecord>, StateError> {
        self.read_records(log, Some(count))
    }

    fn records(&self, log: &str) -> Result<Vec<LogRecord>, StateError> {
        self.read_records(log, None)
    }

    fn remove(&self, name: &str) -> Result<(), StateError> {
        self.delete(name)
            .map_err(storage("remove", &self.path(name)))?;
        Ok(())
    }

    fn lock(&self, environment: &str, info: &LockInfo) -> Result<Box<dyn HeldLock>, StateError> {
        let bytes = serde_json::to_vec(info).expect("lock info serialises");
        // A create whose answer was lost is read back below; if it did not happen, it is sent
        // once more.
        for attempt in 1..=2 {
            match self.import("lock", &bytes, false) {
                Ok(()) => {}
                // A second attempt can find the file the first one wrote after all: the
                // read-back below tells ours from someone else's.
                Err(error) if lock_exists(&error) && attempt == 1 => {
                    return Err(self.locked(environment));
                }
                Err(error) if lock_exists(&error) => {}
                Err(error) if error.outcome_unknown() => {}
                Err(error) => return Err(storage("lock", &self.path("lock"))(error)),
            }
            // Read the lock back, as the Databricks CLI's locker does: a create-only write is
            // ours only if the file holds our id.
            match self.lock_holder()? {
                Some(holder) if holder.id == info.id => {
                    return Ok(Box::new(WorkspaceLock {
                        client: self.client.clone(),
                        folder: self.folder.clone(),
                        id: info.id.clone(),
                    }));
                }
                Some(holder) => {
                    return Err(StateError::Locked {
                        environment: environment.to_string(),
                        holder: holder.describe(),
                    });
                }
                None if attempt == 1 => continue,
                None => break,
            }
        }
        Err(StateError::Storage {
            operation: "lock",
            location: self.path("lock"),
            message: "the lock file was written but cannot be read back".to_string(),
        })
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

#[cfg(test)]
mod tests {
    //! The workspace lock against a scripted workspace that answers as real ones do (issue
    //! #13 item 8): a held lock is recognised by its error code whatever the status, its id is
    //! always in the message, and a create whose answer was lost is settled by reading back.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use base64::Engine;
    use serde_json::{Value, json};

    use super::WorkspaceStore;
    use crate::provider::databricks::auth::{Credentials, ResolvedAuth};
    use crate::provider::databricks::client::{ClientOptions, DatabricksClient};
    use crate::provider::databricks::test_server::{Reply, Seen, TestServer};
    use crate::state::backend::{LockInfo, StateError, StateStore};

    fn store(server: &TestServer) -> WorkspaceStore {
        let client = DatabricksClient::new(
            ResolvedAuth {
                host: server.base.clone(),
                credentials: Credentials::Pat {
                    token: "dapi-test".into(),
                },
                warehouse_id: None,
                source: "test".into(),
            },
            ClientOptions {
                rate_limit_per_second: 0.0,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        WorkspaceStore::new(Arc::new(client), "/Workspace/Shared/.lode/p/dev")
    }

    fn other_holder() -> LockInfo {
        LockInfo {
            id: "3f1c-held-by-ci".into(),
            holder: "ci@runner-7".into(),
            host: "runner-7".into(),
            pid: 4242,
            command: "lode apply".into(),
            created: "2026-12-07T03:00:00Z".into(),
        }
    }

    fn export_of(info: &LockInfo) -> Reply {
        let content =
            base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(info).unwrap());
        Reply::json(200, json!({"content": content, "file_type": ""}))
    }

    /// A workspace whose lock file is held by `other_holder`, refusing a create-only import
    /// with `status`.
    fn held_lock_answering(status: u16) -> TestServer {
        TestServer::start(move |seen: &Seen| match seen.path.as_str() {
            "/api/2.0/workspace/mkdirs" => Reply::json(200, json!({})),
            "/api/2.0/workspace/import" => Reply::json(
                status,
                json!({"error_code": "RESOURCE_ALREADY_EXISTS",
                       "message": "Path (/Workspace/Shared/.lode/p/dev/lock) already exists."}),
            ),
            "/api/2.0/workspace/export" => export_of(&other_holder()),
            other => panic!("unexpected request {other}"),
        })
    }

    fn assert_locked_by_other(result: Result<Box<dyn super::HeldLock>, StateError>) {
        match result {
            Err(StateError::Locked { holder, .. }) => {
                assert!(holder.contains("lock id 3f1c-held-by-ci"), "{holder}");
                assert!(holder.contains("ci@runner-7"), "{holder}");
            }
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("expected Locked, got the lock"),
        }
    }

    /// A workspace whose folder holds `files` (name under the state folder → content); every
    /// other document is missing.
    fn workspace_with(files: Vec<(&'static str, Vec<u8>)>) -> TestServer {
        const FOLDER: &str = "/Workspace/Shared/.lode/p/dev";
        let query_path = |seen: &Seen| {
            seen.query
                .split('&')
                .find_map(|pair| pair.strip_prefix("path="))
                .map(|p| p.replace("%2F", "/"))
                .unwrap_or_default()
        };
        TestServer::start(move |seen: &Seen| {
            let path = query_path(seen);
            match seen.path.as_str() {
                "/api/2.0/workspace/list" => {
                    let objects: Vec<Value> = files
                        .iter()
                        .map(|(name, _)| format!("{FOLDER}/{name}"))
                        .filter(|p| p.rsplit_once('/').is_some_and(|(f, _)| f == path))
                        .map(|p| json!({"path": p, "object_type": "FILE"}))
                        .collect();
                    Reply::json(200, json!({"objects": objects}))
                }
                "/api/2.0/workspace/export" => {
                    match files
                        .iter()
                        .find(|(name, _)| format!("{FOLDER}/{name}") == path)
                    {
                        Some((_, content)) => Reply::json(
                            200,
                            json!({"content": base64::engine::general_purpose::STANDARD.encode(content)}),
                        ),
                        None => Reply::json(404, json!({"error_code": "RESOURCE_DOES_NOT_EXIST"})),
                    }
                }
                other => panic!("unexpected request {other}"),
            }
        })
    }

    fn journal_record(id: &str) -> Vec<u8> {
        json!({"id": id, "operation": "apply", "started": "2026-12-01T08:00:00Z",
               "who": "ci@runner", "command": "lode apply", "outcome": "succeeded"})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn issue_14_a_damaged_journal_file_in_the_workspace_is_skipped_and_named() {
        let mut torn = journal_record("b");
        torn.truncate(30);
        let server = workspace_with(vec![
            ("journal/00001-a.json", journal_record("a")),
            ("journal/00002-b.json", torn),
            ("journal/00003-c.json", journal_record("c")),
        ]);
        let backend = crate::state::StateBackend::new(Box::new(store(&server)), "dev");
        let journal = backend.journal().unwrap();
        let ids: Vec<&str> = journal.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(journal.skipped.len(), 1, "{:?}", journal.skipped);
        let named = journal.skipped[0].to_string();
        assert!(
            named.starts_with("/Workspace/Shared/.lode/p/dev/journal/00002-b.json (workspace "),
            "{named}"
        );
        assert!(named.contains("it is not a whole record"), "{named}");
        // The newest records alone (what `lode status` reads) skip it the same way.
        let recent = backend.recent_journal(2).unwrap();
        assert_eq!(recent.entries.len(), 1);
        assert_eq!(recent.skipped.len(), 1);
    }

    #[test]
    fn issue_14_a_workspace_state_of_an_unknown_format_version_is_refused() {
        let state = json!({"format_version": 999, "lineage": "l", "serial": 3,
                           "environment": "dev", "resources": {}});
        let server = workspace_with(vec![("state.json", state.to_string().into_bytes())]);
        let backend = crate::state::StateBackend::new(Box::new(store(&server)), "dev");
        match backend.load() {
            Err(StateError::UnsupportedFormat {
                location,
                found: 999,
                supported: 1,
            }) => assert!(
                location.starts_with("/Workspace/Shared/.lode/p/dev/state.json"),
                "{location}"
            ),
            other => panic!("expected UnsupportedFormat, got {other:?}"),
        }
    }

    #[test]
    fn issue_13_a_held_lock_answered_with_400_is_recognised_with_its_id() {
        let server = held_lock_answering(400);
        assert_locked_by_other(store(&server).lock("dev", &LockInfo::current("lode apply")));
    }

    #[test]
    fn issue_13_a_held_lock_answered_with_409_is_recognised_with_its_id() {
        let server = held_lock_answering(409);
        assert_locked_by_other(store(&server).lock("dev", &LockInfo::current("lode apply")));
    }

    #[test]
    fn issue_13_a_lock_is_ours_only_when_it_reads_back_with_our_id() {
        // The import "succeeds", but the file holds another run's id (a workspace that let two
        // create-only writes through): not our lock.
        let server = TestServer::start(|seen: &Seen| match seen.path.as_str() {
            "/api/2.0/workspace/mkdirs" | "/api/2.0/workspace/import" => {
                Reply::json(200, json!({}))
            }
            "/api/2.0/workspace/export" => export_of(&other_holder()),
            other => panic!("unexpected request {other}"),
        });
        assert_locked_by_other(store(&server).lock("dev", &LockInfo::current("lode apply")));
    }

    #[test]
    fn issue_13_a_lock_create_whose_answer_was_lost_is_settled_by_reading_it_back() {
        let ours = LockInfo::current("lode apply");
        let written = Arc::new(std::sync::Mutex::new(None::<Value>));
        let dropped = Arc::new(AtomicBool::new(false));
        let (w, d) = (written.clone(), dropped.clone());
        let server = TestServer::start(move |seen: &Seen| match seen.path.as_str() {
            "/api/2.0/workspace/mkdirs" => Reply::json(200, json!({})),
            "/api/2.0/workspace/import" => {
                // The file is written, then the connection drops before the answer.
                *w.lock().unwrap() = Some(seen.json());
                d.store(true, Ordering::SeqCst);
                Reply::Drop
            }
            "/api/2.0/workspace/export" => match &*w.lock().unwrap() {
                Some(import) => Reply::json(200, json!({"content": import["content"]})),
                None => Reply::json(404, json!({"error_code": "RESOURCE_DOES_NOT_EXIST"})),
            },
            "/api/2.0/workspace/delete" => Reply::json(200, json!({})),
            other => panic!("unexpected request {other}"),
        });
        let lock = store(&server).lock("dev", &ours);
        assert!(dropped.load(Ordering::SeqCst));
        assert!(lock.is_ok(), "the lock read back as ours: {:?}", lock.err());
        let imports = server
            .seen()
            .iter()
            .filter(|s| s.path == "/api/2.0/workspace/import")
            .count();
        assert_eq!(imports, 1, "a create that happened is not sent again");
    }
}
