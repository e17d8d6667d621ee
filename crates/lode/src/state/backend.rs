//! The state backend: state, write-ahead log and lock of one environment, on any `StateStore`
//! (a local folder, or Databricks workspace files shared by CI runners). Before and after every
//! mutating call the executor appends a durable log record, so a crash loses nothing that reached
//! a live system; compaction replaces the state document atomically and then drops the log. A
//! log left by a crash is replayed on the next load. Logs are read record by record: a record
//! that does not parse is skipped and named (document and line), never allowed to hide the
//! records after it.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{STATE_FORMAT_VERSION, State, StateEntry};
use crate::manifest::Address;

/// Why state could not be read, locked or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{operation} {location}: {message}")]
    Storage {
        operation: &'static str,
        location: String,
        message: String,
    },
    #[error("{location} is corrupt: {message}")]
    Corrupt { location: String, message: String },
    #[error(
        "{location} has format_version {found}; this lode reads format_version {supported} only"
    )]
    UnsupportedFormat {
        location: String,
        found: u32,
        supported: u32,
    },
    /// The write-ahead log cannot be replayed: its first record, which says which state it
    /// belongs to, does not parse.
    #[error("{origin} does not parse ({message}): the write-ahead log cannot be replayed")]
    UnreadableLog {
        origin: RecordOrigin,
        message: String,
    },
    #[error("the state of environment `{environment}` is locked by {holder}")]
    Locked { environment: String, holder: String },
    #[error(
        "the lock of environment `{environment}` has id {actual}, not {given}; nothing was unlocked"
    )]
    WrongLockId {
        environment: String,
        given: String,
        actual: String,
    },
}

/// Where state documents live. Names are `state.json`, `wal.jsonl` and `lock`.
pub trait StateStore: Send + Sync {
    /// Where, for messages (a folder or a workspace path).
    fn location(&self) -> String;
    /// Where document `name` is, for messages.
    fn document_location(&self, name: &str) -> String {
        format!("{}/{name}", self.location())
    }
    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StateError>;
    /// Replaces a document atomically and durably.
    fn replace(&self, name: &str, bytes: &[u8]) -> Result<(), StateError>;
    /// Appends to a document durably.
    fn append(&self, name: &str, bytes: &[u8]) -> Result<(), StateError>;
    /// Adds one record (`key` sorts records in time order and is unique) to the append-only
    /// log `log`, such that no concurrent writer can lose it. A store whose append is atomic
    /// appends a line; one that cannot append keeps each record as its own document.
    fn add_record(&self, log: &str, _key: &str, bytes: &[u8]) -> Result<(), StateError> {
        let mut line = bytes.to_vec();
        line.push(b'\n');
        self.append(log, &line)
    }
    /// The newest `count` records of `log`, oldest first.
    fn recent_records(&self, log: &str, count: usize) -> Result<Vec<LogRecord>, StateError> {
        let mut records = self.records(log)?;
        let skip = records.len().saturating_sub(count);
        records.drain(..skip);
        Ok(records)
    }
    /// Every record of `log`, oldest first, each with where it was read; whether it parses is
    /// the reader's business.
    fn records(&self, log: &str) -> Result<Vec<LogRecord>, StateError> {
        Ok(self
            .read(log)?
            .map(|bytes| lines_of(&self.document_location(log), &bytes))
            .unwrap_or_default())
    }
    fn remove(&self, name: &str) -> Result<(), StateError>;
    /// The names of the documents directly in `folder` (a relative folder such as
    /// `snapshots`); empty when there is no such folder.
    fn list(&self, folder: &str) -> Result<Vec<String>, StateError>;
    /// Takes the lock for `info` or reports who holds it. The lock is released when the
    /// returned value is dropped.
    fn lock(&self, environment: &str, info: &LockInfo) -> Result<Box<dyn HeldLock>, StateError>;
    /// The holder of the lock, if any.
    fn lock_holder(&self) -> Result<Option<LockInfo>, StateError>;
    /// Removes a lock left by a holder that is gone, if its id is `id`.
    fn force_unlock(&self, environment: &str, id: &str) -> Result<(), StateError>;
}

/// A lock held until dropped.
pub trait HeldLock: Send {}

/// Where a log record was read: a line of a log document, or a document of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOrigin {
    pub document: String,
    /// 1-based; `None` when the record is the whole document.
    pub line: Option<usize>,
}

impl std::fmt::Display for RecordOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} of {}", self.document),
            None => f.write_str(&self.document),
        }
    }
}

/// One record of an append-only log, as stored.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub bytes: Vec<u8>,
    pub origin: RecordOrigin,
}

/// The non-empty lines of log document `document`, numbered as an editor numbers them.
pub fn lines_of(document: &str, bytes: &[u8]) -> Vec<LogRecord> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(index, line)| LogRecord {
            bytes: line.to_vec(),
            origin: RecordOrigin {
                document: document.to_string(),
                line: Some(index + 1),
            },
        })
        .collect()
}

/// A log record that was skipped or only partly read, and why.
#[derive(Debug, Clone)]
pub struct SkippedRecord {
    pub origin: RecordOrigin,
    pub why: String,
}

impl std::fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.why)
    }
}

/// A record parsed from its bytes. A line that does not parse may be a torn write (a crash or
/// a full disk mid-append) with the next record appended right after it on the same line: the
/// whole record at its end is kept, and `torn` says so.
struct Parsed<T> {
    value: T,
    torn: bool,
}

fn parse_record<T: DeserializeOwned>(bytes: &[u8]) -> Result<Parsed<T>, String> {
    let whole = match serde_json::from_slice::<T>(bytes) {
        Ok(value) => return Ok(Parsed { value, torn: false }),
        Err(error) => error,
    };
    let after_torn_write = (1..bytes.len())
        .filter(|&at| bytes[at] == b'{')
        .find_map(|at| serde_json::from_slice::<T>(&bytes[at..]).ok());
    if let Some(value) = after_torn_write {
        return Ok(Parsed { value, torn: true });
    }
    Err(match std::str::from_utf8(bytes) {
        Err(_) => "it is not UTF-8 text".to_string(),
        Ok(_) => format!("it is not a whole record ({whole})"),
    })
}

/// Parses every record it can, naming each one it cannot.
fn parse_records<T: DeserializeOwned>(records: Vec<LogRecord>) -> (Vec<T>, Vec<SkippedRecord>) {
    let mut values = Vec::new();
    let mut skipped = Vec::new();
    for record in records {
        match parse_record::<T>(&record.bytes) {
            Ok(parsed) => {
                if parsed.torn {
                    skipped.push(SkippedRecord {
                        origin: record.origin,
                        why: "it begins with a torn record (an interrupted write), skipped; the \
                              record after it on the same line is kept"
                            .to_string(),
                    });
                }
                values.push(parsed.value);
            }
            Err(why) => skipped.push(SkippedRecord {
                origin: record.origin,
                why: format!("{why}; skipped"),
            }),
        }
    }
    (values, skipped)
}

/// Who holds a lock, written into the lock document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    #[serde(default)]
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub created: String,
}

impl LockInfo {
    pub fn current(command: &str) -> LockInfo {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            holder: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            command: command.to_string(),
            created: crate::engine::now_rfc3339(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} (pid {}, `{}`, since {}, lock id {})",
            self.holder, self.pid, self.command, self.created, self.id
        )
    }
}

/// Holds the environment lock until dropped.
pub struct LockGuard {
    _held: Box<dyn HeldLock>,
    pub info: LockInfo,
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

/// What was recovered from a write-ahead log left by an interrupted apply.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Calls that began but never reported back: their outcome is unknown until refreshed.
    pub interrupted: Vec<(Address, String)>,
    pub replayed: usize,
    /// A write-ahead log was there: the last apply did not finish.
    pub found_log: bool,
    /// Records of the log that did not parse and were skipped (not its torn last line, which
    /// is what any crash mid-append leaves).
    pub skipped: Vec<SkippedRecord>,
}

impl Recovery {
    /// Whether an apply ended without committing (its write-ahead log was found).
    pub fn was_interrupted(&self) -> bool {
        self.found_log
    }
}

const STATE: &str = "state.json";
const WAL: &str = "wal.jsonl";
const JOURNAL: &str = "journal.jsonl";
const STOPPED: &str = "stopped.json";

/// One record of the journal: who did what, when, to which revision, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub id: String,
    /// `apply`, `rollback`, `restore`, `stop`, `resume`, `verify`, `snapshot`, `destroy`.
    pub operation: String,
    pub started: String,
    #[serde(default)]
    pub duration_ms: u64,
    /// `user@host`.
    pub who: String,
    pub command: String,
    #[serde(default)]
    pub revision: Option<String>,
    /// The plan's summary line, when there was a plan.
    #[serde(default)]
    pub summary: Option<String>,
    pub outcome: Outcome,
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Free-form details: failed steps, check results, what was stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// How a journaled operation ended. Stored as its lower-case name; an outcome this lode does
/// not know (a newer lode wrote it) reads as `unknown` instead of failing the whole journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Succeeded,
    Failed,
    /// A guard held back some of the changes; what ran, worked.
    Blocked,
    /// An emergency stop halted it before some of its steps.
    Halted,
    /// Ctrl-C stopped it before some of its steps; the running ones finished and are recorded.
    Interrupted,
    #[serde(other)]
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Blocked => "blocked",
            Outcome::Halted => "halted",
            Outcome::Interrupted => "interrupted",
            Outcome::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `{:<10}` in tables: pad like a string.
        f.pad(self.as_str())
    }
}

impl JournalEntry {
    /// A record started now by this process.
    pub fn begin(operation: &str, command: &str) -> JournalEntry {
        let lock = LockInfo::current(command);
        JournalEntry {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_string(),
            started: crate::engine::now_rfc3339(),
            duration_ms: 0,
            who: lock.holder,
            command: command.to_string(),
            revision: None,
            summary: None,
            outcome: Outcome::Succeeded,
            snapshot: None,
            details: Vec::new(),
        }
    }
}

/// The journal as read: the entries, and the records that could not be read.
#[derive(Debug, Default)]
pub struct Journal {
    pub entries: Vec<JournalEntry>,
    pub skipped: Vec<SkippedRecord>,
}

/// The state of one environment in one store.
pub struct StateBackend {
    store: std::sync::Arc<dyn StateStore>,
    environment: String,
}

impl StateBackend {
    pub fn new(store: Box<dyn StateStore>, environment: &str) -> StateBackend {
        StateBackend {
            store: std::sync::Arc::from(store),
            environment: environment.to_string(),
        }
    }

    /// The store itself, for what lives beside the state (snapshots of a shared state).
    pub fn store(&self) -> std::sync::Arc<dyn StateStore> {
        self.store.clone()
    }

    pub fn location(&self) -> String {
        self.store.location()
    }

    /// Reads the state, replaying a write-ahead log left by an interrupted apply.
    pub fn load(&self) -> Result<(State, Recovery), StateError> {
        let mut state = match self.store.read(STATE)? {
            Some(bytes) => parse_state(&self.store.document_location(STATE), &bytes)?,
            None => State::new(&self.environment),
        };
        let recovery = match self.store.read(WAL)? {
            Some(log) => replay(&self.store.document_location(WAL), &log, &mut state)?,
            None => Recovery::default(),
        };
        Ok((state, recovery))
    }

    /// Takes the environment's lock or fails at once naming its holder.
    pub fn lock(&self, command: &str) -> Result<LockGuard, StateError> {
        let info = LockInfo::current(command);
        let held = self.store.lock(&self.environment, &info)?;
        Ok(LockGuard { _held: held, info })
    }

    pub fn lock_holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.store.lock_holder()
    }

    pub fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.store.force_unlock(&self.environment, id)
    }

    /// Starts writing: a fresh write-ahead log on top of `state`.
    pub fn writer<'a>(
        &'a self,
        state: State,
        _lock: &LockGuard,
    ) -> Result<StateWriter<'a>, StateError> {
        // A log left by a crash has been replayed into `state` by `load`; start over.
        let open = WalRecord::Open {
            lineage: state.lineage.clone(),
            serial: state.serial,
        };
        self.store.replace(WAL, &record_line(&open))?;
        Ok(StateWriter {
            state,
            store: self.store.as_ref(),
            seq: 0,
        })
    }

    /// Appends one record to the environment's journal (every apply, rollback, restore, stop).
    pub fn append_journal(&self, entry: &JournalEntry) -> Result<(), StateError> {
        let record = serde_json::to_vec(entry).expect("journal entries serialise");
        // Sorts in the order records are written (as lines of a local journal do), then is
        // unique by the entry's id. `started` would not do: an entry begun before the ones it
        // waits for (a rollback around its restore) is written after them.
        let written = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let key = format!("{written:020}-{}", entry.id);
        self.store.add_record(JOURNAL, &key, &record)
    }

    /// The newest `count` journal records, oldest first (cheap on a store that keeps one
    /// document per entry).
    pub fn recent_journal(&self, count: usize) -> Result<Journal, StateError> {
        let (entries, skipped) = parse_records(self.store.recent_records(JOURNAL, count)?);
        Ok(Journal { entries, skipped })
    }

    /// The journal, oldest first. A record that does not parse (a torn or damaged line, a
    /// damaged file) is skipped and named in `skipped`; the records after it are read.
    pub fn journal(&self) -> Result<Journal, StateError> {
        let (entries, skipped) = parse_records(self.store.records(JOURNAL)?);
        Ok(Journal { entries, skipped })
    }

    /// The emergency stop in force, if any.
    pub fn stopped(&self) -> Result<Option<JournalEntry>, StateError> {
        Ok(self
            .store
            .read(STOPPED)?
            .and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Records (`Some`) or lifts (`None`) the emergency stop.
    pub fn set_stopped(&self, stop: Option<&JournalEntry>) -> Result<(), StateError> {
        match stop {
            Some(entry) => self.store.replace(
                STOPPED,
                &serde_json::to_vec_pretty(entry).expect("journal entries serialise"),
            ),
            None => self.store.remove(STOPPED),
        }
    }

    /// Writes state outside an apply (`lode state rm`); the caller holds the lock.
    pub fn save(&self, state: &mut State, _lock: &LockGuard) -> Result<(), StateError> {
        state.serial += 1;
        self.store.replace(STATE, &state_bytes(state))
    }

    /// Compacts the write-ahead log of an interrupted apply once recovery has finished its
    /// steps in `state`: the state is written (serial + 1) atomically, then the log dropped,
    /// as a finished apply's commit does.
    pub fn commit_recovered(&self, state: &mut State, lock: &LockGuard) -> Result<(), StateError> {
        self.save(state, lock)?;
        self.store.remove(WAL)
    }
}

/// Parses a state document, refusing a format this lode does not know before reading the
/// rest: a newer lode may have changed what the fields mean.
fn parse_state(location: &str, bytes: &[u8]) -> Result<State, StateError> {
    #[derive(Deserialize)]
    struct Versioned {
        format_version: Option<u32>,
    }
    let corrupt = |e: serde_json::Error| StateError::Corrupt {
        location: location.to_string(),
        message: e.to_string(),
    };
    let versioned = serde_json::from_slice::<Versioned>(bytes).map_err(corrupt)?;
    if let Some(found) = versioned.format_version
        && found != STATE_FORMAT_VERSION
    {
        return Err(StateError::UnsupportedFormat {
            location: location.to_string(),
            found,
            supported: STATE_FORMAT_VERSION,
        });
    }
    serde_json::from_slice::<State>(bytes).map_err(corrupt)
}

fn state_bytes(state: &State) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(state).expect("state serialises");
    bytes.push(b'\n');
    bytes
}

fn record_line(record: &WalRecord) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("WAL records serialise");
    line.push(b'\n');
    line
}

/// Replays the write-ahead log `document` onto `state`.
///
/// A record that does not parse in the middle of the log (a damaged line, or a write torn by a
/// full disk while other steps went on appending) is skipped with a warning and the records
/// after it are replayed: they are real calls whose outcome must not be lost. That is safe
/// because what a lost record said is read again from the live systems: a lost `begin` leaves
/// its `end` to record the outcome, and a lost `end` leaves its step interrupted, which
/// recovery settles by reading the live object. Only the first record cannot be done without:
/// it says which state the log applies on top of, so an unreadable one is refused.
fn replay(document: &str, log: &[u8], state: &mut State) -> Result<Recovery, StateError> {
    let mut recovery = Recovery {
        found_log: true,
        ..Recovery::default()
    };
    let mut pending: Vec<(u64, Address, String)> = Vec::new();
    let lines = lines_of(document, log);
    let count = lines.len();
    for (index, line) in lines.into_iter().enumerate() {
        let record = match parse_record::<WalRecord>(&line.bytes) {
            Ok(parsed) => {
                if parsed.torn {
                    recovery.skipped.push(SkippedRecord {
                        origin: line.origin,
                        why: "it begins with a torn record (an interrupted write), skipped; \
                              the record after it on the same line is replayed"
                            .to_string(),
                    });
                }
                parsed.value
            }
            Err(message) if index == 0 => {
                return Err(StateError::UnreadableLog {
                    origin: line.origin,
                    message,
                });
            }
            // A torn last line is what a crash mid-append leaves; everything before it counts.
            Err(_) if index + 1 == count => break,
            Err(why) => {
                recovery.skipped.push(SkippedRecord {
                    origin: line.origin,
                    why: format!(
                        "{why}; skipped, the records after it are replayed, and a step it \
                         leaves without an outcome is read again from the live system"
                    ),
                });
                continue;
            }
        };
        match record {
            WalRecord::Open { lineage, serial } => {
                let fresh = state.serial == 0 && state.resources.is_empty();
                if index == 0 && !fresh && (lineage != state.lineage || serial != state.serial) {
                    // Compaction finished but the log was not removed: it is already in state.
                    return Ok(recovery);
                }
                if fresh {
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

/// Records an apply: every call is logged before and after it happens.
pub struct StateWriter<'a> {
    pub state: State,
    store: &'a dyn StateStore,
    seq: u64,
}

impl std::fmt::Debug for StateWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateWriter")
            .field("serial", &self.state.serial)
            .field("seq", &self.seq)
            .finish()
    }
}

impl StateWriter<'_> {
    fn append(&mut self, record: &WalRecord) -> Result<(), StateError> {
        self.store.append(WAL, &record_line(record))
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
        self.store.replace(STATE, &state_bytes(&self.state))?;
        self.store.remove(WAL)?;
        Ok(self.state)
    }
}
