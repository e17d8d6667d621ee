//! State: what `lode` last applied in one environment. Each entry holds the object's id, the
//! last applied spec (secrets masked), a keyed fingerprint of the live object after the apply,
//! its dependencies and its protection flags. Protection lives here, not only in manifests, so
//! a revert that removes a manifest cannot remove its protection. Writes go through a
//! write-ahead log and atomic compaction ([`backend`]) on a local folder ([`local`]) or on
//! Databricks workspace files shared by CI runners ([`workspace`]).

pub mod backend;
pub mod local;
pub mod workspace;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::{Address, Lifecycle};

pub use backend::{
    Journal, JournalEntry, LockGuard, Outcome, RecordOrigin, Recovery, SkippedRecord, StateBackend,
    StateError, StateWriter,
};
pub use local::LocalStore;

pub const STATE_FORMAT_VERSION: u32 = 1;

/// The state of one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Identifies this state's history; a plan made against another lineage is refused.
    pub lineage: String,
    /// Incremented by every apply that changes state.
    pub serial: u64,
    pub environment: String,
    /// The manifest revision last applied.
    #[serde(default)]
    pub revision: Option<String>,
    #[serde(default)]
    pub resources: BTreeMap<Address, StateEntry>,
}

/// One managed object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The last applied spec, canonical, secrets masked.
    pub spec: Value,
    /// Keyed digest of the live object right after the last apply (drift detection).
    pub fingerprint: String,
    #[serde(default)]
    pub depends_on: Vec<Address>,
    #[serde(default)]
    pub lifecycle: Lifecycle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Values recorded at the last apply for later use, e.g. a table's Delta version before its
    /// data changed (what `RESTORE TABLE ... VERSION AS OF` needs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Value>,
    /// Keyed fingerprints of write-only fields as last applied (the live system masks them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write_only: BTreeMap<String, String>,
    /// JSON pointers into `spec` whose values are secrets (stored masked).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
}

impl State {
    pub fn new(environment: &str) -> State {
        State {
            format_version: STATE_FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            environment: environment.to_string(),
            revision: None,
            resources: BTreeMap::new(),
        }
    }

    /// A digest of a live spec keyed by this state's lineage, so a stored fingerprint says
    /// nothing about a secret to anyone who reads the state file.
    pub fn fingerprint(&self, spec: &Value) -> String {
        keyed_fingerprint(&self.lineage, spec)
    }
}

/// [`State::fingerprint`] for a state of lineage `lineage`, for who has the lineage but not the
/// state at hand (the executor's steps, which share the state behind a lock).
pub fn keyed_fingerprint(lineage: &str, spec: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(lineage.as_bytes());
    hasher.update([0]);
    hasher.update(crate::engine::canonical::canonical_json(spec).as_bytes());
    hex::encode(hasher.finalize())
}
