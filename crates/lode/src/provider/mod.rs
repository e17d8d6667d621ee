//! Providers: the only code that touches live systems. A provider reads the live objects the
//! engine asks about (in batches) and creates, updates or deletes one object when the executor
//! tells it to. It speaks canonical spec JSON in the same shape as the manifests, so the engine
//! can diff without knowing any system's wire format; it knows nothing about rendering.

pub mod concurrent;
pub mod databricks;
pub mod ignition;
pub mod retry;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use std::sync::Arc;

use crate::manifest::{Address, Kind};

/// A live object as a provider read it, in the manifests' canonical spec shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveObject {
    pub spec: Value,
    /// A server-assigned id, for kinds that have one.
    pub id: Option<String>,
    /// Values other resources may reference (`${ref.kind.name.field}`) besides spec fields,
    /// e.g. a table's `full_name` or a file's `url`.
    pub outputs: BTreeMap<String, Value>,
}

impl LiveObject {
    /// A live object with no id and no outputs beyond its spec.
    pub fn plain(spec: Value) -> LiveObject {
        LiveObject {
            spec,
            id: None,
            outputs: BTreeMap::new(),
        }
    }

    /// The value of `field` for references: an output, `id`, or a spec field.
    pub fn field(&self, field: &str) -> Option<Value> {
        if let Some(value) = self.outputs.get(field) {
            return Some(value.clone());
        }
        if field == "id" {
            return self.id.clone().map(Value::String);
        }
        self.spec.get(field).cloned()
    }
}

/// One object to read: its address and the spec that says where it lives (the last applied
/// spec when there is one, since that is where the object actually is).
#[derive(Debug, Clone)]
pub struct RefreshRequest {
    pub address: Address,
    pub spec: Value,
    /// The server id recorded in state, for kinds that have one.
    pub id: Option<String>,
    /// The object as the last apply read it back, when state holds it whole (no masked
    /// secrets). A provider that can tell from one cheap listing that the object has not
    /// changed since (its update or modification time) returns this instead of reading the
    /// object, so a plan costs what changed rather than what exists.
    pub last_read: Option<LiveObject>,
}

/// One create or update of a batch (see `Provider::write_batch`).
pub struct BatchWrite<'a> {
    pub address: &'a Address,
    pub desired: &'a Value,
    /// What is live, for an update; `None` for a create.
    pub live: Option<&'a LiveObject>,
    pub options: &'a ChangeOptions,
}

/// The results of a batch written as one group: the same outcome for every item.
pub fn group_results(
    items: &[BatchWrite<'_>],
    written: Result<(), ProviderError>,
) -> Vec<Result<LiveObject, ProviderError>> {
    match written {
        Ok(()) => items
            .iter()
            .map(|i| Ok(LiveObject::plain(i.desired.clone())))
            .collect(),
        Err(error) => {
            let message = error.to_string();
            items
                .iter()
                .map(|_| Err(ProviderError::Refused(message.clone())))
                .collect()
        }
    }
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not what the gateway writes: {message}")]
    UnreadableLive { path: PathBuf, message: String },
    #[error("{0}")]
    Refused(String),
    /// The Databricks API answered with an error (its status and error code kept, so the
    /// CLI can tell bad credentials from a rate limit).
    #[error(transparent)]
    Databricks(#[from] databricks::client::ApiError),
    /// The Ignition gateway answered with an error.
    #[error(transparent)]
    Gateway(#[from] ignition::client::GatewayError),
    #[error("no provider handles {0} in this environment")]
    NotConfigured(Kind),
}

/// The live output of a pipeline holding its last update's `{update_id, state}`: the planner
/// runs a pipeline whose last update FAILED again.
pub const PIPELINE_LAST_UPDATE: &str = "last_update";

/// What the user allowed for this apply (from the plan), for providers whose calls can destroy
/// data or recompute it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeOptions {
    /// Deleting a pipeline also deletes its datasets (`cascade=true`).
    #[serde(default)]
    pub allow_data_loss: bool,
    /// Pipeline updates may run as full refreshes.
    #[serde(default)]
    pub allow_full_refresh: bool,
    /// Protected objects may be deleted. Only the planner reads it (to block or not); it is
    /// recorded so that a saved plan can be derived again exactly.
    #[serde(default)]
    pub allow_delete_protected: bool,
    /// Steps that change table data are blocked. Only the planner reads it, as above.
    #[serde(default)]
    pub no_data: bool,
}

/// What putting an object's data back to a snapshot's marker would do, shown (and confirmed)
/// before anything is written: for a table, the Delta versions and what is undone.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DataRestore {
    pub address: Address,
    /// The table's full name.
    pub table: String,
    /// The version live now.
    pub from_version: i64,
    /// The version the snapshot recorded.
    pub to_version: i64,
    /// Commits after `to_version` that the restore undoes.
    pub commits_undone: i64,
    /// Rows now and at `to_version`, when they could be counted.
    pub rows_now: Option<u64>,
    pub rows_then: Option<u64>,
}

/// A change a provider cannot make through its transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limitation {
    pub kind: Kind,
    pub operation: Operation,
    pub reason: String,
    /// What would make it possible.
    pub alternative: String,
}

/// What a change does to a live object, as far as limitations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// What every system's provider can do.
pub trait Provider: Send + Sync {
    /// Changes this provider cannot make; plans show them as blocked.
    fn limitations(&self) -> Vec<Limitation> {
        Vec::new()
    }

    /// A marker of the object's data for a snapshot (a table's Delta version), if it has data.
    fn capture_data(
        &self,
        _address: &Address,
        _live: &LiveObject,
    ) -> Result<Option<Value>, ProviderError> {
        Ok(None)
    }

    /// What `restore_data` would do, without doing it; `None` when the data is already at the
    /// marker (or the object has no data).
    fn preview_data_restore(
        &self,
        _address: &Address,
        _live: &LiveObject,
        _data: &Value,
    ) -> Result<Option<DataRestore>, ProviderError> {
        Ok(None)
    }

    /// Puts the object's data back to what `data` (from `capture_data`) marks; says what it did.
    fn restore_data(
        &self,
        _address: &Address,
        _live: &LiveObject,
        _data: &Value,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// Whether the live system is reachable and accepts our credentials: a line for people.
    fn check_connection(&self) -> Result<String, ProviderError> {
        Ok("reachable".to_string())
    }

    /// The emergency stop for this object (stop a pipeline, disable a timer or a connector);
    /// says what it did, `None` when the object has nothing to stop.
    fn stop(
        &self,
        _address: &Address,
        _live: &LiveObject,
    ) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// How many creates and updates of `kind` this provider writes in one `write_batch` (1: one
    /// at a time). Batching pays a gateway's scan lock, scan, file rewrite or tag import once
    /// per batch instead of once per object.
    fn batch_size(&self, _kind: Kind) -> usize {
        1
    }

    /// Creates (`live` is `None`) or updates several objects of one kind; one result per item,
    /// in order. The default writes them one by one.
    fn write_batch(&self, items: &[BatchWrite<'_>]) -> Vec<Result<LiveObject, ProviderError>> {
        items
            .iter()
            .map(|item| match item.live {
                None => self.create(item.address, item.desired, item.options),
                Some(live) => self.update(item.address, item.desired, live, item.options),
            })
            .collect()
    }

    /// Finishes what an interrupted apply may have left half done on the live system (a held
    /// gateway scan lock, files written but not yet read by the gateway). Called under the
    /// lock, before planning, when the write-ahead log shows an apply was interrupted; must be
    /// safe to repeat. Says what it did.
    fn recover_interrupted(&self) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }

    /// `ignition`, `databricks`: matches `Kind::system`.
    fn system(&self) -> &'static str;

    /// Reads the given objects; an object that does not exist is absent from the result.
    fn refresh(
        &self,
        requests: &[RefreshRequest],
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError>;

    /// Creates the object (or overwrites a leftover at its place) and returns what is live.
    fn create(
        &self,
        address: &Address,
        desired: &Value,
        options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError>;

    /// Changes the object in place; `live` is the spec it was read with.
    fn update(
        &self,
        address: &Address,
        desired: &Value,
        live: &LiveObject,
        options: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError>;

    /// Deletes the object that `live` describes.
    fn delete(
        &self,
        address: &Address,
        live: &LiveObject,
        options: &ChangeOptions,
    ) -> Result<(), ProviderError>;
}

/// The providers of one environment, by system, with the clients other parts share.
pub struct Providers {
    providers: Vec<Box<dyn Provider>>,
    /// The Databricks client, shared with a `workspace` state backend.
    databricks_client: Option<std::sync::Arc<databricks::client::DatabricksClient>>,
    /// The SQL warehouse set for the environment or by its auth profile (verify runs on it too).
    databricks_warehouse_id: Option<String>,
    /// The Ignition gateway's HTTP client, when the environment has one (verify reads tags).
    ignition_gateway: Option<Arc<ignition::client::GatewayClient>>,
}

/// The clients an environment's providers were built with, for the parts that talk to the
/// same systems outside a provider (state in workspace files, verification checks).
#[derive(Default)]
pub struct SharedClients {
    pub databricks: Option<Arc<databricks::client::DatabricksClient>>,
    pub databricks_warehouse_id: Option<String>,
    pub ignition_gateway: Option<Arc<ignition::client::GatewayClient>>,
}

impl Providers {
    /// Providers built by the application layer, with the clients they share.
    pub fn new(providers: Vec<Box<dyn Provider>>, shared: SharedClients) -> Providers {
        Providers {
            providers,
            databricks_client: shared.databricks,
            databricks_warehouse_id: shared.databricks_warehouse_id,
            ignition_gateway: shared.ignition_gateway,
        }
    }

    /// Providers without shared clients (tests, fakes).
    pub fn from_list(providers: Vec<Box<dyn Provider>>) -> Providers {
        Providers::new(providers, SharedClients::default())
    }

    /// A snapshot data marker for `live` (see `Provider::capture_data`).
    pub fn capture_data(
        &self,
        address: &Address,
        live: &LiveObject,
    ) -> Result<Option<Value>, ProviderError> {
        self.for_kind(address.kind)?.capture_data(address, live)
    }

    /// What restoring data marked by a snapshot would do (see `Provider::preview_data_restore`).
    pub fn preview_data_restore(
        &self,
        address: &Address,
        live: &LiveObject,
        data: &Value,
    ) -> Result<Option<DataRestore>, ProviderError> {
        self.for_kind(address.kind)?
            .preview_data_restore(address, live, data)
    }

    /// Restores data marked by a snapshot (see `Provider::restore_data`).
    pub fn restore_data(
        &self,
        address: &Address,
        live: &LiveObject,
        data: &Value,
    ) -> Result<Option<String>, ProviderError> {
        self.for_kind(address.kind)?
            .restore_data(address, live, data)
    }

    /// The systems this environment has providers for, in order.
    pub fn systems(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.system()).collect()
    }

    /// The connection check of one system (see `Provider::check_connection`).
    pub fn check_system(&self, system: &str) -> Result<String, ProviderError> {
        match self.providers.iter().find(|p| p.system() == system) {
            Some(provider) => provider.check_connection(),
            None => Err(ProviderError::Refused(format!(
                "no provider for {system} in this environment"
            ))),
        }
    }

    /// Each provider's system and its connection check.
    pub fn check_connections(&self) -> Vec<(&'static str, Result<String, ProviderError>)> {
        self.providers
            .iter()
            .map(|p| (p.system(), p.check_connection()))
            .collect()
    }

    /// The emergency stop of one object (see `Provider::stop`).
    pub fn stop(
        &self,
        address: &Address,
        live: &LiveObject,
    ) -> Result<Option<String>, ProviderError> {
        self.for_kind(address.kind)?.stop(address, live)
    }

    /// Every provider's `recover_interrupted`: what each did.
    pub fn recover_interrupted(&self) -> Result<Vec<String>, ProviderError> {
        let mut done = Vec::new();
        for provider in &self.providers {
            done.extend(provider.recover_interrupted()?);
        }
        Ok(done)
    }

    /// What the providers cannot do, for the planner.
    pub fn limitations(&self) -> Vec<Limitation> {
        self.providers
            .iter()
            .flat_map(|p| p.limitations())
            .collect()
    }

    /// The environment's Databricks client, if it has one.
    pub fn databricks_client(
        &self,
    ) -> Option<std::sync::Arc<databricks::client::DatabricksClient>> {
        self.databricks_client.clone()
    }

    /// The SQL warehouse configured for the environment (its file, else its auth profile).
    pub fn databricks_warehouse_id(&self) -> Option<String> {
        self.databricks_warehouse_id.clone()
    }

    /// The environment's Ignition gateway client, if it has one (a URL or the emulator).
    pub fn ignition_gateway(&self) -> Option<Arc<ignition::client::GatewayClient>> {
        self.ignition_gateway.clone()
    }

    /// The provider for a kind.
    pub fn for_kind(&self, kind: Kind) -> Result<&dyn Provider, ProviderError> {
        self.providers
            .iter()
            .find(|p| p.system() == kind.system())
            .map(|p| p.as_ref())
            .ok_or(ProviderError::NotConfigured(kind))
    }

    /// Reads every requested object, one batch per provider.
    pub fn refresh(
        &self,
        requests: Vec<RefreshRequest>,
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        let mut by_system: BTreeMap<&'static str, Vec<RefreshRequest>> = BTreeMap::new();
        for request in requests {
            by_system
                .entry(request.address.kind.system())
                .or_default()
                .push(request);
        }
        // Each system is read on its own thread: Databricks and the gateway answer in parallel.
        let systems: Vec<Vec<RefreshRequest>> = by_system.into_values().collect();
        let results = concurrent::map_bounded(&systems, systems.len(), |requests| {
            self.for_kind(requests[0].address.kind)?.refresh(requests)
        });
        let mut live = BTreeMap::new();
        for result in results {
            live.extend(result?);
        }
        Ok(live)
    }
}
