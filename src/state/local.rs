//! The local state backend: `state.json`, `wal.jsonl` and `lock` in one folder per environment
//! (default `.lode/<env>/` in the manifest root). Before and after every mutating call the
//! executor appends a write-ahead log line and fsyncs it, so a crash loses nothing that reached a
//! live system; compaction writes the new state to a temp file, fsyncs and renames it, then drops
//! the log. The lock is an OS file lock (released by the kernel if the holder dies) on a file
//! that names its holder, so a second apply fails at once and says who has it.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{State, StateEntry};
use crate::manifest::Address;

/// Why state could not be read, locked or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("the state of environment `{environment}` is locked by {holder}")]
    Locked { environment: String, holder: String },
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io {
        operation,
        path,
        source,
    }
}

/// One line of the write-ahead log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
enum WalRecord {
    /// First line: the state this log applies on top of.
    Open { lineage: String, serial: u64 },
    /// About to call the live system.
    Begin {
        seq: u64,
        address: Address,
        action: String,
    },
    /// The call returned: the entry to store (`None` removes it), or the failure.
    End {
        seq: u64,
        address: Address,
        #[serde(default)]
        entry: Option<Box<StateEntry>>,
        #[serde(default)]
        failed: Option<String>,
    },
}

/// A local state folder.
pub struct LocalBackend {
    dir: PathBuf,
    environment: String,
}

/// What was recovered from a write-ahead log left by an interrupted apply.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Calls that began but never reported back: their outcome is unknown until refreshed.
    pub interrupted: Vec<(Address, String)>,
    pub replayed: usize,
}

impl LocalBackend {
    pub fn new(dir: PathBuf, environment: &str) -> LocalBackend {
        LocalBackend {
            dir,
            environment: environment.to_string(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn wal_path(&self) -> PathBuf {
        self.dir.join("wal.jsonl")
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        // Keep lode's data out of the user's commits.
        if let Some(lode_dir) = self
            .dir
            .ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == ".lode"))
        {
            let ignore = lode_dir.join(".gitignore");
            if !ignore.exists() {
                std::fs::write(&ignore, "*\n").map_err(io("write", &ignore))?;
            }
        }
        Ok(())
    }

    /// Reads the state, replaying a write-ahead log left by an interrupted apply.
    pub fn load(&self) -> Result<(State, Recovery), StateError> {
        let path = self.state_path();
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<State>(&bytes).map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::new(&self.environment),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let recovery = self.replay(&mut state)?;
        Ok((state, recovery))
    }

    fn replay(&self, state: &mut State) -> Result<Recovery, StateError> {
        let path = self.wal_path();
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovery::default()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let mut recovery = Recovery::default();
        let mut pending: Vec<(u64, Address, String)> = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io("read", &path))?;
            // A torn last line is what a crash mid-append leaves; everything before it counts.
            let Ok(record) = serde_json::from_str::<WalRecord>(&line) else {
                break;
            };
            match record {
                WalRecord::Open { lineage, serial } => {
                    if index == 0
                        && (lineage != state.lineage && state.serial > 0 || serial != state.serial)
                    {
                        // Compaction finished but the log was not removed: it is already in state.
                        return Ok(recovery);
                    }
                    if state.serial == 0 && state.resources.is_empty() {
                        state.lineage = lineage;
                    }
                }
                WalRecord::Begin {
                    seq,
                    address,
                    action,
                } => pending.push((seq, address, action)),
                WalRecord::End {
                    seq,
                    address,
                    entry,
                    failed,
                } => {
                    pending.retain(|(s, _, _)| *s != seq);
                    if failed.is_none() {
                        match entry {
                            Some(entry) => {
                                state.resources.insert(address, *entry);
                            }
                            None => {
                                state.resources.remove(&address);
                            }
                        }
                        recovery.replayed += 1;
                    }
                }
            }
        }
        recovery.interrupted = pending
            .into_iter()
            .map(|(_, a, action)| (a, action))
            .collect();
        Ok(recovery)
    }

    /// Takes the environment's lock or fails at once naming its holder.
    pub fn lock(&self, command: &str) -> Result<LockGuard, StateError> {
        self.ensure_dir()?;
        let path = self.dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = serde_json::from_str::<LockInfo>(&holder)
                    .map(|info| info.describe())
                    .unwrap_or_else(|_| "another lode process".to_string());
                return Err(StateError::Locked {
                    environment: self.environment.clone(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", &path)(e)),
        }
        let info = LockInfo::current(command);
        file.set_len(0).map_err(io("write", &path))?;
        file.rewind().map_err(io("write", &path))?;
        file.write_all(
            serde_json::to_string(&info)
                .expect("lock info serialises")
                .as_bytes(),
        )
        .map_err(io("write", &path))?;
        file.sync_all().map_err(io("fsync", &path))?;
        Ok(LockGuard { file, info })
    }

    /// Starts writing: opens a fresh write-ahead log on top of `state`.
    pub fn writer(&self, state: State, _lock: &LockGuard) -> Result<StateWriter, StateError> {
        self.ensure_dir()?;
        let path = self.wal_path();
        let wal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io("open", &path))?;
        // A log left by a crash has been replayed into `state` by `load`; start over.
        wal.set_len(0).map_err(io("truncate", &path))?;
        let mut writer = StateWriter {
            state,
            wal,
            wal_path: path,
            state_path: self.state_path(),
            seq: 0,
        };
        let open = WalRecord::Open {
            lineage: writer.state.lineage.clone(),
            serial: writer.state.serial,
        };
        writer.append(&open)?;
        Ok(writer)
    }
}

/// Who holds a lock, written into the lock file.
#[derive(Debug, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    pub pid: u32,
    pub command: String,
    pub created: String,
}

impl LockInfo {
    fn current(command: &str) -> LockInfo {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            holder: format!("{user}@{host}"),
            pid: std::process::id(),
            command: command.to_string(),
            created: crate::engine::now_rfc3339(),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} (pid {}, `{}`, since {}, lock id {})",
            self.holder, self.pid, self.command, self.created, self.id
        )
    }
}

/// Holds the environment lock until dropped.
pub struct LockGuard {
    file: File,
    pub info: LockInfo,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Records an apply: every call is logged before and after it happens.
#[derive(Debug)]
pub struct StateWriter {
    pub state: State,
    wal: File,
    wal_path: PathBuf,
    state_path: PathBuf,
    seq: u64,
}

impl StateWriter {
    fn append(&mut self, record: &WalRecord) -> Result<(), StateError> {
        let mut line = serde_json::to_string(record).expect("WAL records serialise");
        line.push('\n');
        self.wal
            .write_all(line.as_bytes())
            .map_err(io("write", &self.wal_path))?;
        self.wal.sync_data().map_err(io("fsync", &self.wal_path))
    }

    /// Logs that `address` is about to change; returns the sequence number for `finish`.
    pub fn begin(&mut self, address: &Address, action: &str) -> Result<u64, StateError> {
        self.seq += 1;
        let record = WalRecord::Begin {
            seq: self.seq,
            address: address.clone(),
            action: action.to_string(),
        };
        self.append(&record)?;
        Ok(self.seq)
    }

    /// Logs the outcome of call `seq` and applies it to the in-memory state.
    /// `Ok(Some(entry))` stores the entry, `Ok(None)` removes it, `Err` leaves state as it was.
    pub fn finish(
        &mut self,
        seq: u64,
        address: &Address,
        outcome: Result<Option<StateEntry>, String>,
    ) -> Result<(), StateError> {
        let record = match &outcome {
            Ok(entry) => WalRecord::End {
                seq,
                address: address.clone(),
                entry: entry.clone().map(Box::new),
                failed: None,
            },
            Err(message) => WalRecord::End {
                seq,
                address: address.clone(),
                entry: None,
                failed: Some(message.clone()),
            },
        };
        self.append(&record)?;
        match outcome {
            Ok(Some(entry)) => {
                self.state.resources.insert(address.clone(), entry);
            }
            Ok(None) => {
                self.state.resources.remove(address);
            }
            Err(_) => {}
        }
        Ok(())
    }

    /// Writes the state (serial + 1) atomically and durably, then drops the log.
    pub fn commit(mut self, revision: Option<String>) -> Result<State, StateError> {
        self.state.serial += 1;
        self.state.revision = revision;
        write_state(&self.state_path, &self.state)?;
        std::fs::remove_file(&self.wal_path).map_err(io("remove", &self.wal_path))?;
        Ok(self.state)
    }
}

/// temp file + fsync + rename + fsync of the folder.
pub fn write_state(path: &Path, state: &State) -> Result<(), StateError> {
    let dir = path.parent().expect("state lives in a folder");
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io("create temp file in", dir))?;
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serialises");
    bytes.push(b'\n');
    temp.write_all(&bytes).map_err(io("write", path))?;
    temp.as_file().sync_all().map_err(io("fsync", path))?;
    temp.persist(path).map_err(|e| StateError::Io {
        operation: "rename into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

impl LocalBackend {
    /// Writes state outside an apply (`lode state rm`); the caller holds the lock.
    pub fn save(&self, state: &mut State, _lock: &LockGuard) -> Result<(), StateError> {
        state.serial += 1;
        write_state(&self.state_path(), state)
    }
}
