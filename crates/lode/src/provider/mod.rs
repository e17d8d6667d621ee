//! Providers: the only code that touches live systems. A provider reads the live objects the
//! engine asks about (in batches), finds every live object in a scope for `lode import`
//! (`discover`, scoped by `--select` selectors parsed here), and creates, updates or deletes one
//! object when the executor tells it to. It speaks canonical spec JSON in the same shape as the
//! manifests, so the engine can diff without knowing any system's wire format; it knows
//! nothing about rendering.

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

/// What `lode import` asks a provider for: every live object it can find in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryScope {
    /// Parsed `--select` values (an object any of them matches is selected); empty: everything.
    pub selectors: Vec<Selector>,
    /// Workspace folders to scan for files (`--workspace-folder`), besides the folders
    /// discovery derives from pipelines and Genie spaces.
    pub workspace_folders: Vec<String>,
    /// Workspace folders never scanned: lode's state folder, monitors' dashboard folders.
    pub exclude_folders: Vec<String>,
}

/// One live object discovery found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    pub kind: Kind,
    /// What its name comes from: the tag, UDT or view path, the project name, a script's
    /// resource folder, a session event, a table or schema name, a pipeline's display name, a
    /// Genie space's title, a monitored table's name, a workspace file's path.
    pub name_hint: String,
    /// The canonical spec shape `refresh` returns for the kind, with what the *system* fills
    /// in (server defaults, ids, lode's markers) dropped; ids and outputs as `refresh` has them.
    pub live: LiveObject,
    /// Live settings lode does not model: an update by lode resets them (warned).
    pub lossy: Vec<String>,
    /// Why the object cannot be a manifest (reported, never written).
    pub unsupported: Option<String>,
}

impl Discovered {
    /// A discovered object whose spec is checked against its kind's typed spec.
    pub fn checked(kind: Kind, name_hint: impl Into<String>, live: LiveObject) -> Discovered {
        let unsupported = spec_misfit(kind, &live.spec);
        Discovered {
            kind,
            name_hint: name_hint.into(),
            live,
            lossy: Vec::new(),
            unsupported,
        }
    }

    /// Marks it unsupported for `reason`, unless it already is (the first reason stands).
    pub fn refuse(mut self, reason: Option<String>) -> Discovered {
        if self.unsupported.is_none() {
            self.unsupported = reason;
        }
        self
    }

    /// Adds live settings lode does not model.
    pub fn with_lossy(mut self, lossy: Vec<String>) -> Discovered {
        self.lossy.extend(lossy);
        self
    }
}

/// The `--select` forms, for error messages.
pub const SELECTOR_FORMS: &str = "a system (`ignition`, `databricks`), a kind (`tag`), an address \
prefix (`tag/Mining/Equipment`, `udt/Area`), a tag folder (`[default]Mining/Equipment`), \
`project:NAME` or `schema:CATALOG.SCHEMA`";

/// One `--select` value: which live objects `lode import` (and `lode pull`) work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `ignition` or `databricks`: every kind of that system.
    System(&'static str),
    /// `tag`: every object of the kind.
    Kind(Kind),
    /// `tag/Mining/Equipment`: the object named so and everything under it (as `--target`).
    Address { kind: Kind, prefix: String },
    /// `[default]Mining/Equipment`: the provider's tags and UDTs at or under the folder
    /// (`[default]_types_/Area` names UDT folders; `[default]` the whole provider).
    TagFolder { provider: String, folder: String },
    /// `project:NAME`: the Ignition project and its resources.
    Project(String),
    /// `schema:CATALOG.SCHEMA`: the schema and what lives in it (tables, pipelines publishing
    /// to it, monitors and Genie spaces on its tables, and their workspace files).
    Schema { catalog: String, schema: String },
}

/// Why a `--select` value is not a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSelectorError {
    #[error("`--select` needs a value; the forms are: {forms}", forms = SELECTOR_FORMS)]
    Empty,
    #[error("`--select {text}`: `{kind}` is not a kind (kinds are: {kinds}); the forms are: {forms}", forms = SELECTOR_FORMS)]
    UnknownKind {
        text: String,
        kind: String,
        kinds: String,
    },
    #[error("`--select {0}`: a tag folder is `[provider]Folder/Sub`, with the provider's name in the brackets; the forms are: {forms}", forms = SELECTOR_FORMS)]
    TagFolder(String),
    #[error("`--select {0}`: `project:` needs the project's name, e.g. `project:mining_demo`")]
    Project(String),
    #[error("`--select {0}`: `schema:` needs CATALOG.SCHEMA, e.g. `schema:main.mining_demo`")]
    Schema(String),
    #[error("`--select {0}` is not a selector; the forms are: {forms}", forms = SELECTOR_FORMS)]
    Unknown(String),
}

/// Kinds that live inside an Ignition project.
fn is_project_resource(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::GatewayScript
            | Kind::PerspectiveView
            | Kind::PageConfig
            | Kind::SessionProps
            | Kind::SessionEvent
    )
}

/// Whether `path` is `folder` or under it (every path is under the empty folder).
fn path_under(path: &str, folder: &str) -> bool {
    folder.is_empty()
        || path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn spec_text<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}

impl std::str::FromStr for Selector {
    type Err = ParseSelectorError;

    fn from_str(text: &str) -> Result<Selector, ParseSelectorError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ParseSelectorError::Empty);
        }
        if let Some(system) = ["ignition", "databricks"].into_iter().find(|s| *s == text) {
            return Ok(Selector::System(system));
        }
        if let Some(kind) = Kind::parse(text) {
            return Ok(Selector::Kind(kind));
        }
        if let Some(name) = text.strip_prefix("project:") {
            let name = name.trim();
            if name.is_empty() {
                return Err(ParseSelectorError::Project(text.to_string()));
            }
            return Ok(Selector::Project(name.to_string()));
        }
        if let Some(qualified) = text.strip_prefix("schema:") {
            return match qualified.trim().split('.').collect::<Vec<_>>().as_slice() {
                [catalog, schema] if !catalog.is_empty() && !schema.is_empty() => {
                    Ok(Selector::Schema {
                        catalog: catalog.to_string(),
                        schema: schema.to_string(),
                    })
                }
                _ => Err(ParseSelectorError::Schema(text.to_string())),
            };
        }
        if let Some(rest) = text.strip_prefix('[') {
            return match rest.split_once(']') {
                Some((provider, folder)) if !provider.trim().is_empty() => {
                    Ok(Selector::TagFolder {
                        provider: provider.trim().to_string(),
                        folder: folder.trim_matches('/').to_string(),
                    })
                }
                _ => Err(ParseSelectorError::TagFolder(text.to_string())),
            };
        }
        if let Some((kind, prefix)) = text.split_once('/') {
            let parsed = Kind::parse(kind).ok_or_else(|| ParseSelectorError::UnknownKind {
                text: text.to_string(),
                kind: kind.to_string(),
                kinds: crate::manifest::kind_list(),
            })?;
            let prefix = prefix.trim_end_matches('/');
            if prefix.is_empty() {
                return Ok(Selector::Kind(parsed));
            }
            return Ok(Selector::Address {
                kind: parsed,
                prefix: prefix.to_string(),
            });
        }
        Err(ParseSelectorError::Unknown(text.to_string()))
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::System(system) => f.write_str(system),
            Selector::Kind(kind) => write!(f, "{kind}"),
            Selector::Address { kind, prefix } => write!(f, "{kind}/{prefix}"),
            Selector::TagFolder { provider, folder } => write!(f, "[{provider}]{folder}"),
            Selector::Project(name) => write!(f, "project:{name}"),
            Selector::Schema { catalog, schema } => write!(f, "schema:{catalog}.{schema}"),
        }
    }
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, ParseSelectorError> {
        text.parse()
    }

    /// Whether it selects the object of `kind` named `name` (its address name, or before
    /// naming its discovery `name_hint`) whose canonical spec is `spec`.
    pub fn matches(&self, kind: Kind, name: &str, spec: &Value) -> bool {
        match self {
            Selector::System(system) => kind.system() == *system,
            Selector::Kind(selected) => kind == *selected,
            Selector::Address {
                kind: selected,
                prefix,
            } => kind == *selected && path_under(name, prefix),
            Selector::TagFolder { provider, folder } => {
                let live_provider = match spec_text(spec, "provider") {
                    "" => "default",
                    named => named,
                };
                if !matches!(kind, Kind::Tag | Kind::Udt) || live_provider != provider {
                    return false;
                }
                match folder.strip_prefix("_types_") {
                    Some(types) if types.is_empty() || types.starts_with('/') => {
                        kind == Kind::Udt && path_under(name, types.trim_start_matches('/'))
                    }
                    _ => path_under(name, folder),
                }
            }
            Selector::Project(project) => {
                (kind == Kind::Project && name == project)
                    || (is_project_resource(kind) && spec_text(spec, "project") == project)
            }
            Selector::Schema { catalog, schema } => {
                let in_schema = |table: &str| {
                    table
                        .strip_prefix(&format!("{catalog}.{schema}."))
                        .is_some_and(|rest| !rest.is_empty() && !rest.contains('.'))
                };
                match kind {
                    Kind::Schema => {
                        spec_text(spec, "catalog") == catalog && spec_text(spec, "name") == schema
                    }
                    Kind::Table | Kind::Pipeline => {
                        spec_text(spec, "catalog") == catalog && spec_text(spec, "schema") == schema
                    }
                    Kind::QualityMonitor => in_schema(spec_text(spec, "table")),
                    Kind::GenieSpace => spec
                        .get("tables")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .any(in_schema),
                    _ => false,
                }
            }
        }
    }

    /// Whether it could select an object of `kind`; providers skip reading what none could.
    fn may_match_kind(&self, kind: Kind) -> bool {
        match self {
            Selector::System(system) => kind.system() == *system,
            Selector::Kind(selected) | Selector::Address { kind: selected, .. } => {
                kind == *selected
            }
            Selector::TagFolder { .. } => matches!(kind, Kind::Tag | Kind::Udt),
            Selector::Project(_) => kind == Kind::Project || is_project_resource(kind),
            // Workspace files go with the pipelines and Genie spaces of the schema.
            Selector::Schema { .. } => kind.system() == "databricks",
        }
    }
}

impl DiscoveryScope {
    /// Whether the selectors pick the object (every object when there are none).
    pub fn selects(&self, kind: Kind, name: &str, spec: &Value) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(kind, name, spec))
    }

    /// Which of `discovered` the selectors pick, by `name_hint` (the address name of kinds
    /// named by their path: tag, udt, perspective_view, project, schema, table). A workspace
    /// file is also picked with a picked pipeline or Genie space whose folders hold it (its
    /// sources and root path, the space's folder): that is why discovery scanned them.
    pub fn picks(&self, discovered: &[Discovered]) -> Vec<bool> {
        let mut picked: Vec<bool> = discovered
            .iter()
            .map(|d| self.selects(d.kind, &d.name_hint, &d.live.spec))
            .collect();
        let folders: Vec<String> = discovered
            .iter()
            .zip(&picked)
            .filter(|(_, picked)| **picked)
            .flat_map(|(d, _)| databricks::discover::folders_of(d.kind, &d.live.spec))
            .collect();
        for (d, picked) in discovered.iter().zip(picked.iter_mut()) {
            if d.kind == Kind::WorkspaceFile && !*picked {
                let path = spec_text(&d.live.spec, "path");
                *picked = folders.iter().any(|folder| path_under(path, folder));
            }
        }
        picked
    }

    /// Whether a selector could pick anything of `system`.
    pub fn may_select_system(&self, system: &str) -> bool {
        Kind::ALL
            .iter()
            .any(|kind| kind.system() == system && self.may_select(*kind))
    }

    /// Whether a selector could pick an object of `kind`.
    pub fn may_select(&self, kind: Kind) -> bool {
        self.selectors.is_empty() || self.selectors.iter().any(|s| s.may_match_kind(kind))
    }

    /// Whether a selector could pick the Ignition project `project` or one of its resources.
    pub fn may_select_project(&self, project: &str) -> bool {
        self.selectors.is_empty()
            || self.selectors.iter().any(|selector| match selector {
                Selector::System(system) => *system == "ignition",
                Selector::Kind(kind) => *kind == Kind::Project || is_project_resource(*kind),
                Selector::Address { kind, prefix } => {
                    is_project_resource(*kind)
                        || (*kind == Kind::Project && path_under(project, prefix))
                }
                Selector::Project(name) => name == project,
                Selector::TagFolder { .. } | Selector::Schema { .. } => false,
            })
    }

    /// Whether a selector could pick a tag or UDT of the tag provider `provider`.
    pub fn may_select_tag_provider(&self, provider: &str) -> bool {
        self.selectors.is_empty()
            || self.selectors.iter().any(|selector| match selector {
                Selector::System(system) => *system == "ignition",
                Selector::Kind(kind) | Selector::Address { kind, .. } => {
                    matches!(kind, Kind::Tag | Kind::Udt)
                }
                Selector::TagFolder { provider: p, .. } => p == provider,
                Selector::Project(_) | Selector::Schema { .. } => false,
            })
    }

    /// The `catalog.schema`s Databricks discovery is limited to; `None`: every schema (no
    /// selector, or one that picks Databricks objects outside any schema).
    pub fn schema_scope(&self) -> Option<std::collections::BTreeSet<(String, String)>> {
        let mut schemas = std::collections::BTreeSet::new();
        for selector in &self.selectors {
            match selector {
                Selector::Schema { catalog, schema } => {
                    schemas.insert((catalog.clone(), schema.clone()));
                }
                other
                    if Kind::ALL
                        .iter()
                        .any(|k| k.system() == "databricks" && other.may_match_kind(*k)) =>
                {
                    return None;
                }
                _ => {}
            }
        }
        if self.selectors.is_empty() {
            None
        } else {
            Some(schemas)
        }
    }
}

/// Why a discovered spec cannot be a manifest of `kind`: a key or value its typed spec (all
/// `deny_unknown_fields`) refuses. Writing it without that key would make the next apply
/// remove the setting, so such an object is reported instead of written.
pub fn spec_misfit(kind: Kind, spec: &Value) -> Option<String> {
    use crate::manifest::kinds::*;
    fn fits<T: serde::de::DeserializeOwned>(value: Value) -> Result<(), serde_json::Error> {
        serde_json::from_value::<T>(value).map(|_| ())
    }
    let mut value = spec.clone();
    // Payload fields hold the payload in the canonical spec and a file name in a manifest.
    let payload = |value: &mut Value, canonical: &str, manifest: &str| {
        if let Some(object) = value.as_object_mut() {
            object.remove(canonical);
            object.insert(manifest.to_string(), Value::String("payload".into()));
        }
    };
    let result = match kind {
        Kind::Project => fits::<ProjectSpec>(value),
        Kind::Udt => fits::<UdtSpec>(value),
        Kind::Tag => fits::<TagConfig>(value),
        Kind::GatewayScript => fits::<GatewayScriptSpec>(value),
        Kind::PerspectiveView => {
            payload(&mut value, "view", "view");
            fits::<PerspectiveViewSpec>(value)
        }
        Kind::PageConfig => fits::<PageConfigSpec>(value),
        Kind::SessionProps => fits::<SessionPropsSpec>(value),
        Kind::SessionEvent => fits::<SessionEventSpec>(value),
        Kind::ZerobusConnection => fits::<ZerobusConnectionSpec>(value),
        Kind::Schema => fits::<SchemaSpec>(value),
        Kind::Table => {
            if let Some(object) = value.as_object_mut() {
                object.remove("rows");
            }
            fits::<TableSpec>(value)
        }
        Kind::Pipeline => fits::<PipelineSpec>(value),
        Kind::GenieSpace => fits::<GenieSpaceSpec>(value),
        Kind::QualityMonitor => fits::<QualityMonitorSpec>(value),
        Kind::WorkspaceFile => {
            payload(&mut value, "content", "source");
            fits::<WorkspaceFileSpec>(value)
        }
    };
    let error = result.err()?.to_string();
    Some(match error.strip_prefix("unknown field `") {
        Some(rest) => {
            let key = rest.split('`').next().unwrap_or(rest);
            format!(
                "it has `{key}`, which lode's {kind} spec does not have: a manifest without it would make the next apply remove it"
            )
        }
        None => format!("it does not fit lode's {kind} spec: {error}"),
    })
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

    /// Every live object in scope, for `lode import`: specs in the shape `refresh` returns,
    /// so that a manifest written from one plans as a no-op. The scope lets a provider skip
    /// reads no selector needs; it may return more than the selectors pick.
    fn discover(&self, _scope: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
        Ok(Vec::new())
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

    /// Every provider's discovery (see `Provider::discover`), one thread per system as in
    /// `refresh`; systems no selector could pick are not asked. Sorted by kind, then name.
    pub fn discover(&self, scope: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
        let asked: Vec<&dyn Provider> = self
            .providers
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| scope.may_select_system(p.system()))
            .collect();
        let results =
            concurrent::map_bounded(&asked, asked.len(), |provider| provider.discover(scope));
        let mut found = Vec::new();
        for result in results {
            found.extend(result?);
        }
        found.sort_by(|a, b| (a.kind, &a.name_hint).cmp(&(b.kind, &b.name_hint)));
        Ok(found)
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    fn parse(text: &str) -> Selector {
        Selector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn issue_17_selectors_parse_every_form_and_print_as_written() {
        let cases = [
            ("ignition", Selector::System("ignition")),
            ("databricks", Selector::System("databricks")),
            ("tag", Selector::Kind(Kind::Tag)),
            ("genie_space", Selector::Kind(Kind::GenieSpace)),
            (
                "tag/Mining/Equipment",
                Selector::Address {
                    kind: Kind::Tag,
                    prefix: "Mining/Equipment".into(),
                },
            ),
            (
                "[default]Mining/Equipment",
                Selector::TagFolder {
                    provider: "default".into(),
                    folder: "Mining/Equipment".into(),
                },
            ),
            (
                "[edge]",
                Selector::TagFolder {
                    provider: "edge".into(),
                    folder: String::new(),
                },
            ),
            (
                "project:mining_demo",
                Selector::Project("mining_demo".into()),
            ),
            (
                "schema:main.mining_demo",
                Selector::Schema {
                    catalog: "main".into(),
                    schema: "mining_demo".into(),
                },
            ),
        ];
        for (text, selector) in cases {
            assert_eq!(parse(text), selector, "{text}");
            assert_eq!(selector.to_string(), text);
        }
        // Trailing slashes are what `--target` forgives too.
        assert_eq!(parse("udt/"), Selector::Kind(Kind::Udt));
        assert_eq!(
            parse("udt/Area/"),
            Selector::Address {
                kind: Kind::Udt,
                prefix: "Area".into()
            }
        );
        assert_eq!(
            parse("[default]/Mining/"),
            Selector::TagFolder {
                provider: "default".into(),
                folder: "Mining".into()
            }
        );
    }

    #[test]
    fn issue_17_a_selector_that_is_none_says_which_forms_there_are() {
        let error = |text: &str| Selector::parse(text).unwrap_err();
        assert_eq!(error("  "), ParseSelectorError::Empty);
        assert!(matches!(
            error("tags/Mining"),
            ParseSelectorError::UnknownKind { .. }
        ));
        assert!(
            error("tags/Mining")
                .to_string()
                .contains("kinds are: schema, table")
        );
        assert_eq!(
            error("[]Mining"),
            ParseSelectorError::TagFolder("[]Mining".into())
        );
        assert_eq!(
            error("[default"),
            ParseSelectorError::TagFolder("[default".into())
        );
        assert_eq!(
            error("project:"),
            ParseSelectorError::Project("project:".into())
        );
        for text in ["schema:main", "schema:main.a.b", "schema:.a"] {
            assert_eq!(error(text), ParseSelectorError::Schema(text.into()));
        }
        let unknown = error("everything");
        assert_eq!(unknown, ParseSelectorError::Unknown("everything".into()));
        let message = unknown.to_string();
        for form in [
            "`ignition`",
            "`tag`",
            "`tag/Mining/Equipment`",
            "`[default]Mining/Equipment`",
            "`project:NAME`",
            "`schema:CATALOG.SCHEMA`",
        ] {
            assert!(message.contains(form), "{message}");
        }
    }

    #[test]
    fn issue_17_selectors_match_what_they_name() {
        let tag = json!({"provider": "default", "tagType": "AtomicTag"});
        let udt = json!({"provider": "default", "tags": []});
        let view = json!({"project": "mining_demo", "view_path": "Overview"});
        let table = json!({"catalog": "main", "schema": "mining_demo", "name": "t"});
        let matches = |selector: &str, kind: Kind, name: &str, spec: &Value| {
            parse(selector).matches(kind, name, spec)
        };
        assert!(matches("ignition", Kind::Tag, "A", &tag));
        assert!(!matches("databricks", Kind::Tag, "A", &tag));
        assert!(matches("tag", Kind::Tag, "A", &tag));
        assert!(!matches("tag", Kind::Udt, "A", &udt));
        assert!(matches(
            "tag/Mining/Equipment",
            Kind::Tag,
            "Mining/Equipment",
            &tag
        ));
        assert!(matches(
            "tag/Mining/Equipment",
            Kind::Tag,
            "Mining/Equipment/CR_002",
            &tag
        ));
        assert!(!matches(
            "tag/Mining/Equipment",
            Kind::Tag,
            "Mining/EquipmentX",
            &tag
        ));
        assert!(matches(
            "[default]Mining",
            Kind::Tag,
            "Mining/Equipment/CR_002",
            &tag
        ));
        assert!(!matches(
            "[edge]Mining",
            Kind::Tag,
            "Mining/Equipment/CR_002",
            &tag
        ));
        // A tag spec without `provider` is in the default provider, as manifests default it.
        assert!(matches(
            "[default]",
            Kind::Tag,
            "A",
            &json!({"tagType": "Folder"})
        ));
        assert!(matches(
            "[default]_types_/Area",
            Kind::Udt,
            "Area/Conveyor",
            &udt
        ));
        assert!(!matches(
            "[default]_types_/Area",
            Kind::Tag,
            "Area/Conveyor",
            &tag
        ));
        assert!(matches("[default]_types_", Kind::Udt, "Crusher", &udt));
        assert!(!matches("[default]Mining", Kind::Udt, "Crusher", &udt));
        assert!(matches(
            "project:mining_demo",
            Kind::Project,
            "mining_demo",
            &json!({})
        ));
        assert!(matches(
            "project:mining_demo",
            Kind::PerspectiveView,
            "Overview",
            &view
        ));
        assert!(!matches(
            "project:other",
            Kind::PerspectiveView,
            "Overview",
            &view
        ));
        assert!(!matches("project:mining_demo", Kind::Tag, "A", &tag));
        assert!(matches("schema:main.mining_demo", Kind::Table, "t", &table));
        assert!(!matches("schema:main.other", Kind::Table, "t", &table));
        assert!(matches(
            "schema:main.mining_demo",
            Kind::Schema,
            "mining_demo",
            &json!({"catalog": "main", "name": "mining_demo"})
        ));
        assert!(matches(
            "schema:main.mining_demo",
            Kind::QualityMonitor,
            "t",
            &json!({"table": "main.mining_demo.t"})
        ));
        assert!(!matches(
            "schema:main.mining",
            Kind::QualityMonitor,
            "t",
            &json!({"table": "main.mining_demo.t"})
        ));
        assert!(matches(
            "schema:main.mining_demo",
            Kind::GenieSpace,
            "ops",
            &json!({"tables": ["main.other.a", "main.mining_demo.t"]})
        ));
    }

    #[test]
    fn issue_17_the_scope_says_what_providers_may_skip() {
        let scope = |selectors: &[&str]| DiscoveryScope {
            selectors: selectors.iter().map(|s| parse(s)).collect(),
            ..DiscoveryScope::default()
        };
        let everything = scope(&[]);
        assert!(Kind::ALL.iter().all(|kind| everything.may_select(*kind)));
        assert_eq!(everything.schema_scope(), None);
        assert!(everything.may_select_project("any") && everything.may_select_tag_provider("any"));

        let tags = scope(&["[default]Mining"]);
        assert!(tags.may_select_system("ignition") && !tags.may_select_system("databricks"));
        assert!(tags.may_select(Kind::Udt) && !tags.may_select(Kind::Project));
        assert!(tags.may_select_tag_provider("default") && !tags.may_select_tag_provider("edge"));
        assert!(!tags.may_select_project("mining_demo"));
        assert_eq!(tags.schema_scope(), Some(Default::default()));

        let project = scope(&["project:mining_demo"]);
        assert!(project.may_select_project("mining_demo") && !project.may_select_project("x"));
        assert!(project.may_select(Kind::SessionEvent) && !project.may_select(Kind::Tag));
        let views = scope(&["perspective_view/Overview"]);
        assert!(views.may_select_project("any project may hold it"));
        let named = scope(&["project/mining_demo"]);
        assert!(named.may_select_project("mining_demo") && !named.may_select_project("other"));

        let schema = scope(&["schema:main.mining_demo"]);
        assert!(schema.may_select(Kind::WorkspaceFile) && !schema.may_select(Kind::Tag));
        assert_eq!(
            schema.schema_scope(),
            Some([("main".to_string(), "mining_demo".to_string())].into())
        );
        // A Databricks selector outside any schema widens the listing to every schema.
        assert_eq!(scope(&["schema:main.a", "pipeline"]).schema_scope(), None);
        assert_eq!(
            scope(&["schema:main.a", "tag"]).schema_scope(),
            Some([("main".to_string(), "a".to_string())].into())
        );
    }

    #[test]
    fn issue_17_a_spec_that_does_not_fit_its_kind_names_the_key() {
        let tag = json!({"provider": "default", "tagType": "AtomicTag", "historyMaxAge": 3});
        let reason = spec_misfit(Kind::Tag, &tag).unwrap();
        assert!(
            reason.starts_with("it has `historyMaxAge`, which lode's tag spec"),
            "{reason}"
        );
        let member = json!({"provider": "default", "tags": [{"name": "A", "deadbandMode": "Off"}]});
        assert!(
            spec_misfit(Kind::Udt, &member)
                .unwrap()
                .contains("`deadbandMode`")
        );
        // Payloads are inline in a canonical spec and files in a manifest: both fit.
        let view = json!({"project": "p", "view_path": "v", "view": {"root": {"type": "x"}}});
        assert_eq!(spec_misfit(Kind::PerspectiveView, &view), None);
        let file = json!({"path": "/Shared/a.sql", "content": "select 1"});
        assert_eq!(spec_misfit(Kind::WorkspaceFile, &file), None);
        let rows = json!({"catalog": "c", "schema": "s", "name": "t", "columns": [], "properties": {}, "rows": []});
        assert_eq!(spec_misfit(Kind::Table, &rows), None);
        let wrong = json!({"title": 3});
        assert!(
            spec_misfit(Kind::Project, &wrong)
                .unwrap()
                .starts_with("it does not fit lode's project spec")
        );
    }

    struct Fake {
        system: &'static str,
        found: Vec<Discovered>,
        asked: std::sync::Arc<AtomicUsize>,
    }

    impl Provider for Fake {
        fn discover(&self, _: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Ok(self.found.clone())
        }
        fn system(&self) -> &'static str {
            self.system
        }
        fn refresh(
            &self,
            _: &[RefreshRequest],
        ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
            Ok(BTreeMap::new())
        }
        fn create(
            &self,
            _: &Address,
            desired: &Value,
            _: &ChangeOptions,
        ) -> Result<LiveObject, ProviderError> {
            Ok(LiveObject::plain(desired.clone()))
        }
        fn update(
            &self,
            _: &Address,
            desired: &Value,
            _: &LiveObject,
            _: &ChangeOptions,
        ) -> Result<LiveObject, ProviderError> {
            Ok(LiveObject::plain(desired.clone()))
        }
        fn delete(
            &self,
            _: &Address,
            _: &LiveObject,
            _: &ChangeOptions,
        ) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    fn found(kind: Kind, name: &str) -> Discovered {
        Discovered::checked(kind, name, LiveObject::plain(json!({})))
    }

    #[test]
    fn issue_17_providers_discover_each_selected_system_once_and_sort_what_they_find() {
        let gateway_asked = std::sync::Arc::new(AtomicUsize::new(0));
        let workspace_asked = std::sync::Arc::new(AtomicUsize::new(0));
        let providers = Providers::from_list(vec![
            Box::new(Fake {
                system: "ignition",
                found: vec![
                    found(Kind::Tag, "B"),
                    found(Kind::Project, "p"),
                    found(Kind::Tag, "A"),
                ],
                asked: gateway_asked.clone(),
            }),
            Box::new(Fake {
                system: "databricks",
                found: vec![found(Kind::Table, "t")],
                asked: workspace_asked.clone(),
            }),
        ]);
        let all = providers.discover(&DiscoveryScope::default()).unwrap();
        assert_eq!(
            all.iter()
                .map(|d| (d.kind, d.name_hint.as_str()))
                .collect::<Vec<_>>(),
            [
                (Kind::Table, "t"),
                (Kind::Project, "p"),
                (Kind::Tag, "A"),
                (Kind::Tag, "B")
            ]
        );
        assert_eq!(gateway_asked.load(Ordering::SeqCst), 1);
        assert_eq!(workspace_asked.load(Ordering::SeqCst), 1);
        // A selector of one system: the other is not asked.
        let tags_only = DiscoveryScope {
            selectors: vec![parse("tag")],
            ..DiscoveryScope::default()
        };
        assert_eq!(providers.discover(&tags_only).unwrap().len(), 3);
        assert_eq!(gateway_asked.load(Ordering::SeqCst), 2);
        assert_eq!(workspace_asked.load(Ordering::SeqCst), 1);
    }
}
