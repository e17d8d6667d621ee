//! The Pipelines API (Lakeflow declarative pipelines): create, edit (full replace), get, list,
//! delete (with or without cascading to the pipeline's datasets), updates that move through real
//! states over time, stop, and events. When an update reaches table setup, the datasets its SQL
//! sources declare with explicit columns (`CREATE OR REFRESH STREAMING TABLE x (...)`,
//! `CREATE MATERIALIZED VIEW x (...)`) are created, so monitors and Genie spaces can use them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::sync::Arc;

use super::pipeline_refresh::{self, Target};
use super::pipeline_sql::{DatasetDefinition, DatasetKind, split_definitions};
use super::sql::{ColumnDef, TableType};
use super::{ApiError, ApiResult, Body, Params, Shared, now_ms};

/// Milliseconds an update spends in each state before the next (QUEUED, INITIALIZING,
/// SETTING_UP_TABLES, RUNNING), so clients see real transitions.
const STEP_MS: i64 = 150;

/// One update of a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateRecord {
    pub update_id: String,
    pub creation_time: i64,
    pub full_refresh: bool,
    pub cause: String,
    /// Set when the update ended early (stopped or failed).
    #[serde(default)]
    pub final_state: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub datasets_created: bool,
}

/// One pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineRecord {
    pub spec: Value,
    pub created_at: i64,
    pub last_modified: i64,
    #[serde(default)]
    pub updates: Vec<UpdateRecord>,
    #[serde(default)]
    pub events: Vec<Value>,
    /// Full names of the datasets the pipeline published (dropped by a cascading delete).
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Versions of the tables outside the pipeline that its last refresh read (what a
    /// continuous pipeline watches for new commits).
    #[serde(default)]
    pub source_versions: std::collections::BTreeMap<String, u64>,
}

impl UpdateRecord {
    /// The state now, from the time since creation (or how it ended).
    fn state(&self, continuous: bool) -> &str {
        if let Some(state) = &self.final_state {
            return state;
        }
        let elapsed = now_ms() - self.creation_time;
        match elapsed / STEP_MS {
            0 => "QUEUED",
            1 => "INITIALIZING",
            2 => "SETTING_UP_TABLES",
            3 => "RUNNING",
            _ if continuous => "RUNNING",
            _ => "COMPLETED",
        }
    }
}

fn is_terminal(state: &str) -> bool {
    matches!(state, "COMPLETED" | "FAILED" | "CANCELED")
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/2.0/pipelines", get(list).post(create))
        .route(
            "/api/2.0/pipelines/{id}",
            get(get_pipeline).put(edit).delete(delete),
        )
        .route(
            "/api/2.0/pipelines/{id}/updates",
            get(list_updates).post(start_update),
        )
        .route(
            "/api/2.0/pipelines/{id}/updates/{update_id}",
            get(get_update),
        )
        .route("/api/2.0/pipelines/{id}/stop", post(stop))
        .route("/api/2.0/pipelines/{id}/events", get(events))
}

/// Fields a request may carry that are not part of the stored spec.
const INPUT_ONLY: [&str; 5] = [
    "allow_duplicate_names",
    "dry_run",
    "run_as",
    "expected_last_modified",
    "pipeline_id",
];

pub use lode_wire::databricks_values::{PIPELINE_CHANNELS, PIPELINE_EDITIONS};
/// `cause` of an update (reference §1, Update cause).
const UPDATE_CAUSES: [&str; 7] = [
    "API_CALL",
    "JOB_TASK",
    "RETRY_ON_FAILURE",
    "SCHEMA_CHANGE",
    "SERVICE_UPGRADE",
    "USER_ACTION",
    "INFRASTRUCTURE_MAINTENANCE",
];
/// A pipeline carries at most this many tags (reference §1: `tags{} (max 25)`).
const MAX_TAGS: usize = 25;

/// Checks a create or edit body (a PipelineSpec plus the request-only fields, reference §1):
/// JSON types, a name, exactly one of schema or target (without dots), the enums, each
/// library naming exactly one kind of source, at most 25 tags. Unknown fields pass, as they
/// do on Databricks.
fn validate_spec(spec: &Value) -> ApiResult<()> {
    use super::catalog::request::{Fields, not_one_of};
    let fields = Fields::of(spec)?;
    for field in [
        "name",
        "catalog",
        "schema",
        "target",
        "storage",
        "root_path",
        "channel",
        "edition",
        "serverless_compute_id",
        "budget_policy_id",
        "usage_policy_id",
        "id",
    ] {
        fields.string(field)?;
    }
    for field in [
        "continuous",
        "development",
        "photon",
        "serverless",
        "allow_duplicate_names",
        "dry_run",
    ] {
        fields.boolean(field)?;
    }
    fields.integer("expected_last_modified")?;
    fields.string_map("configuration")?;
    for field in ["clusters", "notifications"] {
        fields.object_list(field)?;
    }
    for field in [
        "trigger",
        "filters",
        "environment",
        "event_log",
        "deployment",
        "run_as",
    ] {
        fields.object(field)?;
    }
    let name = fields.string("name")?.unwrap_or("");
    if name.trim().is_empty() {
        return Err(ApiError::invalid("Pipeline name must be specified."));
    }
    for (field, allowed) in [
        ("channel", &PIPELINE_CHANNELS[..]),
        ("edition", &PIPELINE_EDITIONS[..]),
    ] {
        if let Some(value) = fields.string(field)?
            && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value))
        {
            return Err(not_one_of(field, value, allowed));
        }
    }
    let schema = fields.string("schema")?;
    let target = fields.string("target")?;
    if schema.is_some() && target.is_some() {
        return Err(ApiError::invalid(
            "Exactly one of schema or target must be specified.",
        ));
    }
    if let Some(target) = schema.or(target)
        && target.contains('.')
    {
        return Err(ApiError::invalid(format!(
            "'{target}' is not a valid name."
        )));
    }
    if fields.get("catalog").is_some() && schema.is_none() && target.is_none() {
        return Err(ApiError::invalid(
            "A schema must be specified when a catalog is set.",
        ));
    }
    let libraries = fields.object_list("libraries")?;
    for (index, library) in libraries.into_iter().flatten().enumerate() {
        let label = format!("libraries[{index}]");
        let library = Fields::nested(library, &label)?;
        let kinds: Vec<&str> = ["notebook", "file", "glob", "jar", "whl", "maven"]
            .into_iter()
            .filter(|k| library.get(k).is_some())
            .collect();
        if kinds.len() != 1 {
            return Err(ApiError::invalid(
                "Each library must have exactly one of notebook, file, glob, jar, whl or maven.",
            ));
        }
        match kinds[0] {
            kind @ ("notebook" | "file") => {
                let source_label = library.label(kind);
                let source = Fields::nested(library.get(kind).expect("present"), &source_label)?;
                source.required_string("path")?;
            }
            "glob" => {
                let glob_label = library.label("glob");
                let glob = Fields::nested(library.get("glob").expect("present"), &glob_label)?;
                glob.required_string("include")?;
            }
            "maven" => {
                library.object("maven")?;
            }
            other => {
                library.string(other)?;
            }
        }
    }
    if let Some(tags) = fields.string_map("tags")?
        && tags.len() > MAX_TAGS
    {
        return Err(ApiError::invalid("A pipeline may have at most 25 tags."));
    }
    Ok(())
}

/// Pipeline ids are UUIDs (`3f1c...-...`, reference §1/§11). A path id that is not one is
/// refused with 400 before any lookup; an unknown well-formed one is 404. **Unverified**: the
/// reference records neither the status nor the message for an ill-formed id.
pub fn check_pipeline_id(id: &str) -> ApiResult<()> {
    if id.len() == 36 && uuid::Uuid::parse_str(id).is_ok() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "Invalid pipeline id '{id}': expected a UUID."
        )))
    }
}

/// Checks a start-update body (reference §1): JSON types, and `cause` from the enum.
fn validate_update(body: &Value) -> ApiResult<(bool, Option<String>)> {
    use super::catalog::request::Fields;
    let fields = Fields::of(body)?;
    let full_refresh = fields.boolean("full_refresh")?.unwrap_or(false);
    fields.boolean("validate_only")?;
    for field in [
        "full_refresh_selection",
        "refresh_selection",
        "refresh_flow_selection",
        "reset_checkpoint_selection",
    ] {
        fields.string_list(field)?;
    }
    fields.object("parameters")?;
    let cause = fields.one_of("cause", &UPDATE_CAUSES)?;
    Ok((full_refresh, cause.map(str::to_string)))
}

/// The stored spec: the request minus input-only fields, with server defaults filled in.
fn stored_spec(request: &Value, id: &str) -> Value {
    let mut spec = request.clone();
    let object = spec.as_object_mut().expect("pipeline specs are objects");
    for field in INPUT_ONLY {
        object.remove(field);
    }
    object.insert("id".into(), json!(id));
    if !object.contains_key("catalog") && !object.contains_key("storage") {
        object.insert("storage".into(), json!(format!("dbfs:/pipelines/{id}")));
    }
    spec
}

fn find(workspace: &Shared, id: &str) -> ApiResult<PipelineRecord> {
    check_pipeline_id(id)?;
    workspace
        .pipelines
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("Pipeline {id} does not exist.")))
}

/// What `look` reads from the pipeline's record, without copying the record and its events.
fn peek<R>(workspace: &Shared, id: &str, look: impl FnOnce(&PipelineRecord) -> R) -> ApiResult<R> {
    check_pipeline_id(id)?;
    workspace
        .pipelines
        .peek(id, look)
        .ok_or_else(|| ApiError::not_found(format!("Pipeline {id} does not exist.")))
}

/// Whether an update of the pipeline has yet to set up its tables (see [`advance_held`]).
fn setting_up(record: &PipelineRecord) -> bool {
    let continuous = continuous(record);
    record
        .updates
        .iter()
        .any(|u| !is_terminal(u.state(continuous)) && !u.datasets_created)
}

/// The most events a pipeline keeps, newest first when listed. The service keeps its event log
/// in a table; the emulator keeps it in the pipeline's record, which is rewritten on every
/// change, so a continuous pipeline (a few events a second) would otherwise grow it without
/// end. The updates' own states are kept separately, whatever their age.
const EVENTS_KEPT: usize = 2_000;

fn save(workspace: &Shared, id: &str, mut record: PipelineRecord) -> ApiResult<()> {
    if record.events.len() > EVENTS_KEPT {
        let drop = record.events.len() - EVENTS_KEPT;
        record.events.drain(..drop);
    }
    workspace
        .pipelines
        .update(|pipelines| pipelines.insert(id.to_string(), record))
        .map(|_| ())
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn continuous(record: &PipelineRecord) -> bool {
    record
        .spec
        .get("continuous")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// One lock per pipeline: whoever moves a pipeline's updates forward (a request, the background
/// follower) or changes its record holds it, so an update's SQL runs once and no change is lost.
#[derive(Default)]
pub struct RunLocks(
    std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
);

impl RunLocks {
    async fn hold(&self, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .0
            .lock()
            .expect("pipeline locks")
            .entry(id.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}

/// Moves updates forward (see [`advance_held`]) under the pipeline's lock.
async fn advance(workspace: &Shared, id: &str) -> ApiResult<PipelineRecord> {
    let _held = workspace.pipeline_runs.hold(id).await;
    advance_held(workspace, id).await
}

/// Moves updates forward: once an update reaches table setup, its SQL runs (declared datasets
/// published, every dataset refreshed in dependency order); an error fails the update. The
/// caller holds the pipeline's lock.
async fn advance_held(workspace: &Shared, id: &str) -> ApiResult<PipelineRecord> {
    let mut record = find(workspace, id)?;
    let continuous = continuous(&record);
    let mut changed = false;
    for index in 0..record.updates.len() {
        let state = record.updates[index].state(continuous).to_string();
        let past_setup = matches!(
            state.as_str(),
            "SETTING_UP_TABLES" | "RUNNING" | "COMPLETED"
        );
        if past_setup
            && !record.updates[index].datasets_created
            && record.updates[index].final_state.is_none()
        {
            let update_id = record.updates[index].update_id.clone();
            let full_refresh = record.updates[index].full_refresh;
            if let Err(message) =
                run_update(workspace, id, &mut record, &update_id, full_refresh, true).await
            {
                record.updates[index].final_state = Some("FAILED".into());
                record.updates[index].error = Some(message.clone());
                record.events.push(event(&update_id, "ERROR", &message));
            }
            record.updates[index].datasets_created = true;
            changed = true;
        }
    }
    if changed {
        save(workspace, id, record.clone())?;
    }
    Ok(record)
}

/// Runs the pipeline's SQL for one update and records what it did in `record` (events, published
/// datasets, the versions of the source tables read). `publish` also creates the declared
/// datasets first (the start of an update; a continuous update's later refreshes skip it).
async fn run_update(
    workspace: &Shared,
    id: &str,
    record: &mut PipelineRecord,
    update_id: &str,
    full_refresh: bool,
    publish: bool,
) -> Result<(), String> {
    let spec = record.spec.clone();
    let catalog = spec
        .get("catalog")
        .and_then(Value::as_str)
        .unwrap_or("hive_metastore");
    let schema = spec
        .get("schema")
        .or_else(|| spec.get("target"))
        .and_then(Value::as_str)
        .ok_or("The pipeline has no schema to publish its datasets to.")?;
    let target = Target {
        catalog,
        schema,
        pipeline_id: id,
    };
    let mut definitions = Vec::new();
    for (path, source) in library_sources(workspace, &spec)? {
        definitions.extend(split_definitions(&path, &source)?);
    }
    if publish {
        let created = create_datasets(workspace, id, &target, &definitions).await?;
        for name in &created {
            if !record.datasets.contains(name) {
                record.datasets.push(name.clone());
            }
        }
        record.events.push(event(
            update_id,
            "INFO",
            &format!("Datasets ready: {}", created.join(", ")),
        ));
    }
    let run = pipeline_refresh::run(workspace, &target, definitions, full_refresh).await?;
    for flow in &run.flows {
        if !record.datasets.contains(&flow.dataset) {
            record.datasets.push(flow.dataset.clone());
        }
        record
            .events
            .push(pipeline_refresh::flow_event(id, update_id, flow));
    }
    record.source_versions = run.source_versions;
    Ok(())
}

/// How often the background follower looks at the pipelines: well under the second within
/// which a continuous pipeline reacts to a new source commit, without spinning.
const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// The emulator's background work for pipelines, until the workspace is gone: moves active
/// updates forward (so an update runs its SQL whether or not anyone polls it), and makes a
/// continuous pipeline process each new commit of its source tables: inside its running update,
/// or in a new update when none is active and the last one was not stopped by the user.
pub async fn follow(workspace: std::sync::Weak<super::Workspace>) {
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(workspace) = workspace.upgrade() else {
            return;
        };
        // Records are peeked at, not copied: this runs five times a second, and a running
        // continuous pipeline's record holds thousands of events.
        for id in workspace.pipelines.ids() {
            let Ok((is_continuous, needs_setup)) =
                peek(&workspace, &id, |r| (continuous(r), setting_up(r)))
            else {
                continue;
            };
            if needs_setup {
                let _ = advance(&workspace, &id).await;
            }
            if is_continuous && let Err(e) = follow_sources(&workspace, &id).await {
                tracing::warn!(pipeline = %id, "following the sources failed: {}", e.message);
            }
        }
    }
}

/// One look at a continuous pipeline's source tables (see [`follow`]).
async fn follow_sources(workspace: &Shared, id: &str) -> ApiResult<()> {
    let _held = workspace.pipeline_runs.hold(id).await;
    if peek(workspace, id, setting_up)? {
        advance_held(workspace, id).await?;
    }
    // The record itself is copied only once a source has moved (a refresh is due).
    let sources = peek(workspace, id, |r| r.source_versions.clone())?;
    if sources.is_empty() {
        return Ok(());
    }
    let mut moved = false;
    for (name, seen) in &sources {
        let parts: Vec<&str> = name.splitn(3, '.').collect();
        if let [c, s, t] = parts.as_slice()
            && let Some(now) = workspace.sql.table_version(c, s, t).await?
            && now != *seen
        {
            moved = true;
        }
    }
    if !moved {
        return Ok(());
    }
    let mut record = find(workspace, id)?;
    let continuous = continuous(&record);
    let running = record
        .updates
        .iter()
        .rposition(|u| u.state(continuous) == "RUNNING" && u.datasets_created);
    match running {
        Some(index) => {
            let update_id = record.updates[index].update_id.clone();
            if let Err(message) =
                run_update(workspace, id, &mut record, &update_id, false, false).await
            {
                record.updates[index].final_state = Some("FAILED".into());
                record.updates[index].error = Some(message.clone());
                record.events.push(event(&update_id, "ERROR", &message));
            }
        }
        None => {
            let active = record
                .updates
                .iter()
                .any(|u| !is_terminal(u.state(continuous)));
            let stopped = record
                .updates
                .last()
                .is_some_and(|u| u.state(continuous) == "CANCELED");
            if active || stopped {
                return Ok(());
            }
            let update_id = uuid::Uuid::new_v4().to_string();
            record.events.push(event(
                &update_id,
                "INFO",
                "Update created: a source table of the continuous pipeline changed",
            ));
            record.updates.push(UpdateRecord {
                update_id,
                creation_time: now_ms(),
                full_refresh: false,
                cause: "API_CALL".into(),
                final_state: None,
                error: None,
                datasets_created: false,
            });
        }
    }
    save(workspace, id, record)
}

fn event(update_id: &str, level: &str, message: &str) -> Value {
    json!({
        "id": super::hex_id(),
        "event_type": if level == "ERROR" { "update_failed" } else { "flow_progress" },
        "level": level,
        "message": message,
        "timestamp": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "origin": {"update_id": update_id},
    })
}

/// The SQL sources of a pipeline's libraries: files, notebooks and globs in the workspace.
fn library_sources(workspace: &Shared, spec: &Value) -> Result<Vec<(String, String)>, String> {
    let mut sources = Vec::new();
    for library in spec
        .get("libraries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = library
            .pointer("/file/path")
            .or_else(|| library.pointer("/notebook/path"))
            .and_then(Value::as_str);
        if let Some(path) = path {
            let normalized = super::workspace::normalize_path(path).map_err(|e| e.message)?;
            let (_, bytes) = workspace
                .files
                .read(&normalized)
                .map_err(|_| format!("The library file {path} does not exist."))?;
            sources.push((
                path.to_string(),
                String::from_utf8_lossy(&bytes).to_string(),
            ));
            continue;
        }
        if let Some(include) = library.pointer("/glob/include").and_then(Value::as_str) {
            let folder = include.trim_end_matches("**").trim_end_matches('/');
            let folder = super::workspace::normalize_path(folder).map_err(|e| e.message)?;
            let mut queue = vec![folder.clone()];
            while let Some(dir) = queue.pop() {
                for object in workspace
                    .files
                    .list(&dir)
                    .map_err(|_| format!("The glob folder {include} does not exist."))?
                {
                    if object.object_type == "DIRECTORY" {
                        queue.push(object.path);
                    } else if let Ok((_, bytes)) = workspace.files.read(&object.path) {
                        sources.push((object.path, String::from_utf8_lossy(&bytes).to_string()));
                    }
                }
            }
        }
    }
    Ok(sources)
}

/// Publishes the datasets declared with a column list before any query runs (so monitors and
/// Genie spaces can use them): a new table, a materialized view recreated with new columns, a
/// streaming table that gains new columns and keeps its rows.
async fn create_datasets(
    workspace: &Shared,
    id: &str,
    target: &Target<'_>,
    definitions: &[DatasetDefinition],
) -> Result<Vec<String>, String> {
    let mut created = Vec::new();
    for dataset in definitions.iter().filter(|d| !d.columns.is_empty()) {
        let path = dataset.location();
        {
            let (c, s, t) = target
                .resolve(&dataset.name)
                .map_err(|e| format!("{path}: {e}"))?;
            let (c, s, t) = (c.as_str(), s.as_str(), t.as_str());
            let table_type = match dataset.kind {
                DatasetKind::StreamingTable => TableType::StreamingTable,
                DatasetKind::MaterializedView => TableType::MaterializedView,
            };
            // An update publishes the declared schema: a materialized view is recomputed with its
            // new columns; a streaming table gains new columns and keeps its rows.
            if let Some(existing) = workspace
                .sql
                .get_table(c, s, t)
                .await
                .map_err(|e| format!("{path}: {e}"))?
            {
                let names = |columns: &[ColumnDef]| {
                    columns
                        .iter()
                        .map(|c| (c.name.clone(), c.type_text.clone()))
                        .collect::<Vec<_>>()
                };
                if names(&existing.columns) != names(&dataset.columns) {
                    match table_type {
                        TableType::MaterializedView => {
                            workspace
                                .sql
                                .drop_table(c, s, t)
                                .await
                                .map_err(|e| format!("{path}: {e}"))?;
                        }
                        _ => {
                            let added: Vec<String> = dataset
                                .columns
                                .iter()
                                .filter(|d| !existing.columns.iter().any(|e| e.name == d.name))
                                .map(|d| format!("`{}` {}", d.name, d.type_text))
                                .collect();
                            if !added.is_empty() {
                                let statement = format!(
                                    "ALTER TABLE `{c}`.`{s}`.`{t}` ADD COLUMNS ({})",
                                    added.join(", ")
                                );
                                workspace
                                    .sql
                                    .execute(&statement, None, None, &[])
                                    .await
                                    .map_err(|e| format!("{path}: {e}"))?;
                            }
                        }
                    }
                }
            }
            workspace
                .sql
                .ensure_dataset(
                    c,
                    s,
                    t,
                    table_type,
                    &dataset.columns,
                    dataset.comment.as_deref(),
                    id,
                )
                .await
                .map_err(|e| format!("{path}: {e}"))?;
            created.push(format!("{c}.{s}.{t}"));
        }
    }
    Ok(created)
}

/// GetPipelineResponse.
fn pipeline_json(id: &str, record: &PipelineRecord) -> Value {
    let continuous = continuous(record);
    let active = record
        .updates
        .iter()
        .any(|u| !is_terminal(u.state(continuous)));
    let failed = record
        .updates
        .last()
        .is_some_and(|u| u.state(continuous) == "FAILED");
    let latest: Vec<Value> = record
        .updates
        .iter()
        .rev()
        .take(5)
        .map(|u| json!({"update_id": u.update_id, "state": u.state(continuous), "creation_time": timestamp(u.creation_time)}))
        .collect();
    let mut body = json!({
        "pipeline_id": id,
        "name": record.spec["name"],
        "spec": record.spec,
        "state": if active { "RUNNING" } else if failed { "FAILED" } else { "IDLE" },
        "health": if failed { "UNHEALTHY" } else { "HEALTHY" },
        "creator_user_name": "lode@localhost",
        "run_as_user_name": "lode@localhost",
        "last_modified": record.last_modified,
    });
    if !latest.is_empty() {
        body["latest_updates"] = json!(latest);
    }
    body
}

fn timestamp(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn create(
    State(workspace): State<Shared>,
    Body(request): Body<Value>,
) -> ApiResult<Json<Value>> {
    validate_spec(&request)?;
    let allow_duplicates = request
        .get("allow_duplicate_names")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let name = request["name"].as_str().unwrap_or_default();
    if !allow_duplicates
        && workspace
            .pipelines
            .all()
            .iter()
            .any(|(_, p)| p.spec["name"] == name)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_CONFLICT",
            format!(
                "Pipeline with name '{name}' already exists. Set allow_duplicate_names to create another."
            ),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let spec = stored_spec(&request, &id);
    if request
        .get("dry_run")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Ok(Json(json!({"effective_settings": spec})));
    }
    let now = now_ms();
    save(
        &workspace,
        &id,
        PipelineRecord {
            spec: spec.clone(),
            created_at: now,
            last_modified: now,
            updates: Vec::new(),
            events: Vec::new(),
            datasets: Vec::new(),
            source_versions: Default::default(),
        },
    )?;
    Ok(Json(json!({"pipeline_id": id, "effective_settings": spec})))
}

async fn get_pipeline(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = advance(&workspace, &id).await?;
    Ok(Json(pipeline_json(&id, &record)))
}

async fn edit(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    Body(request): Body<Value>,
) -> ApiResult<Json<Value>> {
    let _held = workspace.pipeline_runs.hold(&id).await;
    let mut record = find(&workspace, &id)?;
    validate_spec(&request)?;
    if let Some(expected) =
        super::catalog::request::Fields::of(&request)?.integer("expected_last_modified")?
        && expected != record.last_modified
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ABORTED",
            format!(
                "The pipeline settings were modified since {expected} (now {}).",
                record.last_modified
            ),
        ));
    }
    let mut spec = stored_spec(&request, &id);
    // The storage location is fixed when the pipeline is created.
    if let Some(storage) = record.spec.get("storage") {
        if spec.get("storage").is_some_and(|s| s != storage) && request.get("storage").is_some() {
            return Err(ApiError::invalid(
                "The storage location of a pipeline cannot be changed.",
            ));
        }
        spec["storage"] = storage.clone();
    }
    record.spec = spec;
    record.last_modified = now_ms();
    save(&workspace, &id, record)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct DeleteQuery {
    #[serde(default)]
    cascade: Option<bool>,
}

async fn delete(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    Params(query): Params<DeleteQuery>,
) -> ApiResult<Json<Value>> {
    let _held = workspace.pipeline_runs.hold(&id).await;
    let record = find(&workspace, &id)?;
    if query.cascade.unwrap_or(true) {
        // Cascading deletes the pipeline's datasets with it, as Databricks does by default —
        // wherever they were published.
        for full_name in &record.datasets {
            let parts: Vec<&str> = full_name.split('.').collect();
            if let [catalog, schema, table] = parts.as_slice()
                && let Some(meta) = workspace.sql.get_table(catalog, schema, table).await?
                && meta.pipeline_id.as_deref() == Some(id.as_str())
            {
                workspace.sql.drop_table(catalog, schema, table).await?;
            }
        }
    }
    workspace
        .pipelines
        .update(|pipelines| pipelines.remove(&id))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    max_results: Option<String>,
    #[serde(default)]
    page_token: Option<String>,
}

async fn list(
    State(workspace): State<Shared>,
    Params(query): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    // Reference §1: default 25, at most 100.
    let max = match query.max_results.as_deref() {
        None => 25,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|m| (1..=100).contains(m))
            .ok_or_else(|| ApiError::invalid("max_results must be between 1 and 100."))?,
    };
    // Updates progress with time whoever looks: a list shows (and publishes) what completed.
    for (id, _) in workspace.pipelines.all() {
        advance(&workspace, &id).await?;
    }
    let pattern = match query.filter.as_deref() {
        None => None,
        Some(filter) => {
            let like = filter
                .trim()
                .strip_prefix("name LIKE")
                .map(|p| p.trim().trim_matches('\'').to_string())
                .ok_or_else(|| ApiError::invalid(format!("Unsupported filter: {filter}")))?;
            Some(like)
        }
    };
    let matches = |name: &str| match &pattern {
        None => true,
        Some(p) => {
            let inner = p.trim_matches('%');
            match (p.starts_with('%'), p.ends_with('%')) {
                (true, true) => name.contains(inner),
                (true, false) => name.ends_with(inner),
                (false, true) => name.starts_with(inner),
                (false, false) => name == inner,
            }
        }
    };
    let all: Vec<(String, PipelineRecord)> = workspace
        .pipelines
        .all()
        .into_iter()
        .filter(|(_, p)| matches(p.spec["name"].as_str().unwrap_or("")))
        .collect();
    let start: usize = query
        .page_token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let statuses: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|(id, record)| {
            let full = pipeline_json(id, record);
            json!({
                "pipeline_id": id,
                "name": full["name"],
                "state": full["state"],
                "creator_user_name": full["creator_user_name"],
                "run_as_user_name": full["run_as_user_name"],
                "latest_updates": full.get("latest_updates").cloned().unwrap_or(json!([])),
            })
        })
        .collect();
    let mut body = json!({"statuses": statuses});
    if start + max < all.len() {
        body["next_page_token"] = json!((start + max).to_string());
    }
    Ok(Json(body))
}

async fn start_update(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    // The body is optional: an empty POST starts a default update. A malformed one is refused
    // before anything about the pipeline is looked at.
    let (full_refresh, cause) = if body.iter().all(|b| b.is_ascii_whitespace()) {
        (false, None)
    } else {
        let body: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                super::catalog::request::MALFORMED_REQUEST,
                e.to_string(),
            )
        })?;
        validate_update(&body)?
    };
    let _held = workspace.pipeline_runs.hold(&id).await;
    let mut record = advance_held(&workspace, &id).await?;
    let continuous = continuous(&record);
    if record
        .updates
        .iter()
        .any(|u| !is_terminal(u.state(continuous)))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_CONFLICT",
            format!(
                "An active update exists for pipeline {id}; stop it or wait until it finishes."
            ),
        ));
    }
    let update_id = uuid::Uuid::new_v4().to_string();
    record
        .events
        .push(event(&update_id, "INFO", "Update created"));
    record.updates.push(UpdateRecord {
        update_id: update_id.clone(),
        creation_time: now_ms(),
        full_refresh,
        cause: cause.unwrap_or_else(|| "API_CALL".into()),
        final_state: None,
        error: None,
        datasets_created: false,
    });
    save(&workspace, &id, record)?;
    Ok(Json(json!({"update_id": update_id})))
}

fn update_json(id: &str, record: &PipelineRecord, update: &UpdateRecord) -> Value {
    json!({
        "pipeline_id": id,
        "update_id": update.update_id,
        "state": update.state(continuous(record)),
        "cause": update.cause,
        "creation_time": update.creation_time,
        "full_refresh": update.full_refresh,
        "config": record.spec,
    })
}

async fn get_update(
    State(workspace): State<Shared>,
    Path((id, update_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let record = advance(&workspace, &id).await?;
    let update = record
        .updates
        .iter()
        .find(|u| u.update_id == update_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Update {update_id} does not exist for pipeline {id}."
            ))
        })?;
    Ok(Json(json!({"update": update_json(&id, &record, update)})))
}

async fn list_updates(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let record = advance(&workspace, &id).await?;
    let updates: Vec<Value> = record
        .updates
        .iter()
        .rev()
        .map(|u| update_json(&id, &record, u))
        .collect();
    Ok(Json(json!({"updates": updates})))
}

async fn stop(State(workspace): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let _held = workspace.pipeline_runs.hold(&id).await;
    let mut record = advance_held(&workspace, &id).await?;
    let continuous = continuous(&record);
    let mut stopped = Vec::new();
    for update in &mut record.updates {
        if !is_terminal(update.state(continuous)) {
            update.final_state = Some("CANCELED".into());
            stopped.push(update.update_id.clone());
        }
    }
    for update_id in stopped {
        record
            .events
            .push(event(&update_id, "INFO", "Update stopped by user"));
    }
    save(&workspace, &id, record)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct EventsQuery {
    filter: Option<String>,
    max_results: Option<usize>,
}

/// The events API's `filter`, in the forms clients use: `level='ERROR'`, `level in ('ERROR',
/// 'WARN')` and `event_type='flow_progress'`, joined by `AND`. Anything else is refused, as
/// the service refuses what it cannot parse.
fn event_filter(filter: &str) -> ApiResult<Vec<(String, Vec<String>)>> {
    let mut terms = Vec::new();
    for term in filter.split(" AND ").map(str::trim) {
        let unsupported = || ApiError::invalid(format!("Unsupported filter: {filter}"));
        let (field, values) = if let Some((field, value)) = term.split_once('=') {
            (
                field.trim(),
                vec![value.trim().trim_matches('\'').to_string()],
            )
        } else {
            let lower = term.to_ascii_lowercase();
            let at = lower.find(" in ").ok_or_else(unsupported)?;
            let list = term[at + 4..]
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(unsupported)?;
            (
                term[..at].trim(),
                list.split(',')
                    .map(|v| v.trim().trim_matches('\'').to_string())
                    .collect(),
            )
        };
        if !matches!(field, "level" | "event_type") {
            return Err(unsupported());
        }
        terms.push((field.to_string(), values));
    }
    Ok(terms)
}

async fn events(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
    Params(query): Params<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let terms = match query.filter.as_deref() {
        Some(filter) => event_filter(filter)?,
        None => Vec::new(),
    };
    let max_results = query.max_results.unwrap_or(100);
    if !(1..=250).contains(&max_results) {
        return Err(ApiError::invalid("max_results must be between 1 and 250."));
    }
    let record = advance(&workspace, &id).await?;
    let events: Vec<Value> = record
        .events
        .iter()
        .rev()
        .filter(|e| {
            terms.iter().all(|(field, values)| {
                e[field.as_str()]
                    .as_str()
                    .is_some_and(|v| values.iter().any(|want| want == v))
            })
        })
        .take(max_results)
        .cloned()
        .collect();
    Ok(Json(json!({"events": events})))
}
