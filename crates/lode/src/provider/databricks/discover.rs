//! Discovery of a workspace's live objects for `lode import`: schemas of every catalog (but the
//! platform's own) or of the selected `catalog.schema`s, their tables and the monitors on them,
//! the pipelines publishing to them, the Genie spaces, and the workspace files in the folders
//! those use (plus `--workspace-folder`). Specs come from the readers `refresh` uses, so a
//! manifest written from one plans as a no-op. What lode cannot own is reported with the
//! reason: a pipeline's datasets, views and external tables, monitors' metric tables, lode's
//! own seed staging tables, column types lode cannot compare, files that are not text.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::client::ApiError;
use super::provider::{DatabricksProvider, text};
use super::{files, genie, monitors, pipelines, tables};
use crate::manifest::source::MAX_FILE_BYTES;
use crate::manifest::table_data::is_known_type;
use crate::manifest::{Kind, normalize_workspace_path};
use crate::provider::concurrent::{READ_CONCURRENCY, map_bounded};
use crate::provider::{Discovered, DiscoveryScope, LiveObject, ProviderError};

/// Catalogs of the platform, never imported.
const PLATFORM_CATALOGS: [&str; 4] = [
    "system",
    "samples",
    "hive_metastore",
    "__databricks_internal",
];
/// Schemas of the platform in every catalog.
const PLATFORM_SCHEMAS: [&str; 1] = ["information_schema"];
/// The prefix of the staging tables lode's large seeds fill (tables.rs).
const SEED_STAGING_PREFIX: &str = "__lode_seed_";

/// The workspace folders an object's files live in: a pipeline's source folders and root
/// path, a Genie space's folder (normalised, without `/Workspace`).
pub(crate) fn folders_of(kind: Kind, spec: &Value) -> Vec<String> {
    let mut folders = Vec::new();
    match kind {
        Kind::Pipeline => {
            for library in spec
                .get("libraries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for pointer in ["/file/path", "/notebook/path"] {
                    if let Some((folder, _)) = library
                        .pointer(pointer)
                        .and_then(Value::as_str)
                        .map(normalize_workspace_path)
                        .as_deref()
                        .and_then(|path| path.rsplit_once('/'))
                    {
                        folders.push(folder.to_string());
                    }
                }
                if let Some(include) = library.pointer("/glob/include").and_then(Value::as_str) {
                    let folder = include.trim_end_matches("**").trim_end_matches('/');
                    folders.push(normalize_workspace_path(folder));
                }
            }
            if let Some(root) = spec.get("root_path").and_then(Value::as_str) {
                folders.push(normalize_workspace_path(root));
            }
        }
        Kind::GenieSpace => {
            if let Some(parent) = spec.get("parent_path").and_then(Value::as_str) {
                folders.push(normalize_workspace_path(parent));
            }
        }
        _ => {}
    }
    folders.retain(|folder| folder.starts_with('/') && folder.len() > 1);
    folders
}

fn under(path: &str, folder: &str) -> bool {
    path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

pub(super) fn discover(
    provider: &DatabricksProvider,
    scope: &DiscoveryScope,
) -> Result<Vec<Discovered>, ProviderError> {
    if !scope.may_select_system("databricks") {
        return Ok(Vec::new());
    }
    let schema_scope = scope.schema_scope();
    let mut found = Vec::new();
    // Monitors are read for their own sake, to know their metric tables (never imported) and
    // their dashboard folders (never scanned).
    let wants_files = scope.may_select(Kind::WorkspaceFile);
    let wants_tables =
        scope.may_select(Kind::Table) || scope.may_select(Kind::QualityMonitor) || wants_files;
    let schemas = if scope.may_select(Kind::Schema) || wants_tables {
        list_schemas(provider, schema_scope.as_ref())?
    } else {
        Vec::new()
    };
    if scope.may_select(Kind::Schema) {
        found.extend(schemas.iter().map(|info| schema(provider, info)));
    }
    let table_infos = if wants_tables {
        list_tables(provider, &schemas)?
    } else {
        Vec::new()
    };
    let monitor_infos = read_monitors(provider, &table_infos)?;
    if scope.may_select(Kind::Table) {
        let metric_tables: BTreeMap<&str, &str> = monitor_infos
            .iter()
            .flat_map(|info| {
                ["profile_metrics_table_name", "drift_metrics_table_name"]
                    .into_iter()
                    .filter_map(|field| info.get(field).and_then(Value::as_str))
                    .map(|metrics| (metrics, text(info, "table_name")))
            })
            .collect();
        found.extend(
            table_infos
                .iter()
                .map(|info| table(provider, info, &metric_tables)),
        );
    }
    if scope.may_select(Kind::QualityMonitor) {
        found.extend(monitor_infos.iter().map(monitor));
    }
    let pipelines = if scope.may_select(Kind::Pipeline) || wants_files {
        discover_pipelines(provider, schema_scope.as_ref())?
    } else {
        Vec::new()
    };
    let spaces = if scope.may_select(Kind::GenieSpace) || wants_files {
        discover_spaces(provider, schema_scope.as_ref())?
    } else {
        Vec::new()
    };
    if wants_files {
        let mut folders: Vec<String> = scope
            .workspace_folders
            .iter()
            .map(|folder| normalize_workspace_path(folder))
            .collect();
        for object in pipelines.iter().chain(&spaces) {
            folders.extend(folders_of(object.kind, &object.live.spec));
        }
        let mut excluded: Vec<String> = scope
            .exclude_folders
            .iter()
            .map(|folder| normalize_workspace_path(folder))
            .collect();
        excluded.extend(
            monitor_infos
                .iter()
                .map(|info| normalize_workspace_path(text(info, "assets_dir")))
                .filter(|folder| folder.len() > 1),
        );
        found.extend(workspace_files(provider, &folders, &excluded)?);
    }
    if scope.may_select(Kind::Pipeline) {
        found.extend(pipelines);
    }
    if scope.may_select(Kind::GenieSpace) {
        found.extend(spaces);
    }
    Ok(found)
}

/// Whether a name is one `lode` accepts for a catalog, schema or table.
fn is_identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The schemas in scope: of the selected `catalog.schema`s, or of every catalog but the
/// platform's, without `information_schema`.
fn list_schemas(
    provider: &DatabricksProvider,
    schema_scope: Option<&BTreeSet<(String, String)>>,
) -> Result<Vec<Value>, ProviderError> {
    let catalogs: Vec<String> = match schema_scope {
        Some(selected) => selected
            .iter()
            .map(|(catalog, _)| catalog.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        None => provider
            .client
            .list_all::<Value>("/api/2.1/unity-catalog/catalogs", &[], "catalogs")?
            .iter()
            .map(|catalog| text(catalog, "name").to_string())
            .filter(|name| !name.is_empty() && !PLATFORM_CATALOGS.contains(&name.as_str()))
            .collect(),
    };
    let listed = map_bounded(&catalogs, READ_CONCURRENCY, |catalog| {
        match provider.client.list_all::<Value>(
            "/api/2.1/unity-catalog/schemas",
            &[("catalog_name", catalog.clone())],
            "schemas",
        ) {
            Err(error) if error.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    });
    let mut schemas = Vec::new();
    for result in listed {
        schemas.extend(result?.into_iter().filter(|info| {
            let key = (
                text(info, "catalog_name").to_string(),
                text(info, "name").to_string(),
            );
            !PLATFORM_SCHEMAS.contains(&key.1.as_str())
                && schema_scope.is_none_or(|selected| selected.contains(&key))
        }));
    }
    Ok(schemas)
}

fn schema(provider: &DatabricksProvider, info: &Value) -> Discovered {
    let spec = tables::schema_spec(info);
    let refusal = [text(info, "catalog_name"), text(info, "name")]
        .into_iter()
        .find(|name| !is_identifier(name))
        .map(|name| format!("`{name}` is not a name lode accepts (letters, digits and `_`)"));
    Discovered::checked(
        Kind::Schema,
        text(info, "name"),
        tables::schema_object(provider, spec),
    )
    .refuse(refusal)
}

/// Every table of the schemas, one listing per schema.
fn list_tables(
    provider: &DatabricksProvider,
    schemas: &[Value],
) -> Result<Vec<Value>, ProviderError> {
    let listed = map_bounded(schemas, READ_CONCURRENCY, |info| {
        let query = [
            ("catalog_name", text(info, "catalog_name").to_string()),
            ("schema_name", text(info, "name").to_string()),
        ];
        match provider
            .client
            .list_all::<Value>("/api/2.1/unity-catalog/tables", &query, "tables")
        {
            Err(error) if error.is_not_found() => Ok(Vec::new()),
            other => other,
        }
    });
    let mut found = Vec::new();
    for result in listed {
        found.extend(result?);
    }
    Ok(found)
}

/// The monitor on each table that has one; views have none.
fn read_monitors(
    provider: &DatabricksProvider,
    table_infos: &[Value],
) -> Result<Vec<Value>, ProviderError> {
    let monitored: Vec<&Value> = table_infos
        .iter()
        .filter(|info| !matches!(text(info, "table_type"), "VIEW" | "METRIC_VIEW"))
        .collect();
    let read = map_bounded(&monitored, READ_CONCURRENCY, |info| {
        let found: Result<Option<Value>, ApiError> = provider
            .client
            .get_optional(&monitors::path(text(info, "full_name")), &[]);
        match found {
            Err(error) if error.error_code() == Some("TABLE_DOES_NOT_EXIST") => Ok(None),
            other => other,
        }
    });
    let mut found = Vec::new();
    for result in read {
        found.extend(result?);
    }
    Ok(found)
}

/// A table, or why lode cannot own it.
fn table(
    provider: &DatabricksProvider,
    info: &Value,
    metric_tables: &BTreeMap<&str, &str>,
) -> Discovered {
    let mut spec = tables::table_spec(info, &json!({}));
    let key = primary_key(info);
    if !key.is_empty() {
        spec["primary_key"] = json!(key);
    }
    let name = text(info, "name");
    let full_name = text(info, "full_name");
    let table_type = text(info, "table_type");
    let refusal = if name.starts_with(SEED_STAGING_PREFIX) {
        Some("a staging table of lode's seed rows, left by an interrupted apply".to_string())
    } else if let Some(monitored) = metric_tables.get(full_name) {
        Some(format!(
            "a metric table of the monitor on {monitored}: the monitor writes it"
        ))
    } else if let Some(pipeline) = info.get("pipeline_id").and_then(Value::as_str) {
        Some(format!(
            "a dataset of pipeline {pipeline}: the pipeline defines it"
        ))
    } else if table_type != "MANAGED" {
        Some(format!(
            "a {table_type} table: lode creates MANAGED Delta tables only"
        ))
    } else if info
        .get("data_source_format")
        .and_then(Value::as_str)
        .is_some_and(|format| format != "DELTA")
    {
        Some(format!(
            "a {} table: lode creates Delta tables only",
            text(info, "data_source_format")
        ))
    } else {
        table_refusal(&spec, &key)
    };
    Discovered::checked(
        Kind::Table,
        name,
        tables::table_object(provider, spec, info),
    )
    .refuse(refusal)
}

/// The key columns of a table's PRIMARY KEY constraint, in order.
fn primary_key(info: &Value) -> Vec<String> {
    info.get("table_constraints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|constraint| constraint.pointer("/primary_key_constraint/child_columns"))
        .flat_map(|columns| columns.as_array().into_iter().flatten())
        .filter_map(|column| column.as_str().map(str::to_string))
        .collect()
}

/// What the manifest loader would refuse in a table's spec.
fn table_refusal(spec: &Value, key: &[String]) -> Option<String> {
    if let Some(name) = ["catalog", "schema", "name"]
        .into_iter()
        .map(|field| text(spec, field))
        .find(|name| !is_identifier(name))
    {
        return Some(format!(
            "`{name}` is not a name lode accepts (letters, digits and `_`)"
        ));
    }
    let columns: Vec<&Value> = spec
        .get("columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if columns.is_empty() {
        return Some("it has no columns".into());
    }
    if let Some(column) = columns.iter().find(|c| !is_known_type(text(c, "type"))) {
        return Some(format!(
            "column `{}` has the type `{}`, which lode cannot compare",
            text(column, "name"),
            text(column, "type")
        ));
    }
    key.iter()
        .find_map(|k| match columns.iter().find(|c| text(c, "name") == k) {
            None => Some(format!(
                "its primary key names `{k}`, which is not a column"
            )),
            Some(column) if column.get("nullable") != Some(&Value::Bool(false)) => Some(format!(
                "its primary key column `{k}` is nullable, where lode's keys are NOT NULL"
            )),
            Some(_) => None,
        })
}

fn monitor(info: &Value) -> Discovered {
    let live = monitors::object(info);
    let table = text(info, "table_name");
    let hint = table.rsplit('.').next().unwrap_or(table);
    let refusal = if info.get("inference_log").is_some() {
        Some("an inference-log profile, which lode does not model".to_string())
    } else if live.spec.get("time_series").is_none() && live.spec.get("snapshot").is_none() {
        Some("it has neither a time-series nor a snapshot profile".to_string())
    } else {
        None
    };
    let mut lossy = Vec::new();
    for field in [
        "custom_metrics",
        "notifications",
        "baseline_table_name",
        "data_classification_config",
    ] {
        let set = match info.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::String(text)) => !text.is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            Some(Value::Object(map)) => !map.is_empty(),
            Some(_) => true,
        };
        if set {
            lossy.push(format!("`{field}`"));
        }
    }
    if info
        .pointer("/schedule/pause_status")
        .and_then(Value::as_str)
        == Some("PAUSED")
    {
        lossy.push("the schedule is paused".to_string());
    }
    Discovered::checked(Kind::QualityMonitor, hint, live)
        .refuse(refusal)
        .with_lossy(lossy)
}

/// Every pipeline publishing to a schema in scope, read whole (the list has no spec).
fn discover_pipelines(
    provider: &DatabricksProvider,
    schema_scope: Option<&BTreeSet<(String, String)>>,
) -> Result<Vec<Discovered>, ProviderError> {
    let statuses: Vec<Value> = provider.client.list_all(
        "/api/2.0/pipelines",
        &[("max_results", "100".into())],
        "statuses",
    )?;
    let ids: Vec<String> = statuses
        .iter()
        .map(|status| text(status, "pipeline_id").to_string())
        .filter(|id| !id.is_empty())
        .collect();
    let read = map_bounded(&ids, READ_CONCURRENCY, |id| pipelines::get(provider, id));
    let mut found = Vec::new();
    for (id, info) in ids.iter().zip(read) {
        // Deleted between the listing and the read: nothing to import.
        let Some(info) = info? else { continue };
        let spec = info.get("spec").cloned().unwrap_or(json!({}));
        let target = (
            text(&spec, "catalog").to_string(),
            text(&spec, "schema").to_string(),
        );
        if let Some(selected) = schema_scope
            && !selected.contains(&target)
        {
            continue;
        }
        found.push(pipeline(provider, id, &info, &spec));
    }
    Ok(found)
}

/// A pipeline as `refresh` reads it when the manifest sets no node types and no storage of
/// its own (the server's `dbfs:/pipelines/<id>` is not the manifest's business).
fn pipeline(provider: &DatabricksProvider, id: &str, info: &Value, spec: &Value) -> Discovered {
    let mut wanted = json!({});
    if let Some(clusters) = spec.get("clusters").and_then(Value::as_array) {
        wanted["clusters"] = json!(vec![json!({}); clusters.len()]);
    }
    if let Some(storage) = spec
        .get("storage")
        .and_then(Value::as_str)
        .filter(|storage| *storage != format!("dbfs:/pipelines/{id}"))
    {
        wanted["storage"] = json!(storage);
    }
    let live = pipelines::object(provider, id, info, &wanted);
    let lossy: Vec<String> = spec
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, value)| {
            let meaningful = match value {
                Value::Null | Value::Bool(false) => false,
                Value::String(text) => !text.is_empty(),
                Value::Array(items) => !items.is_empty(),
                Value::Object(map) => !map.is_empty(),
                _ => true,
            };
            *field != "id" && !pipelines::is_managed_field(field) && meaningful
        })
        .map(|(field, value)| format!("`{field}`: {value}"))
        .collect();
    let refusal = pipeline_refusal(&live.spec);
    Discovered::checked(Kind::Pipeline, text(spec, "name"), live)
        .refuse(refusal)
        .with_lossy(lossy)
}

/// What the manifest loader would refuse in a pipeline's spec.
fn pipeline_refusal(spec: &Value) -> Option<String> {
    if spec.get("catalog").is_none() || spec.get("schema").is_none() {
        return Some(
            "it publishes to the Hive metastore: lode manages Unity Catalog pipelines (catalog and schema)"
                .into(),
        );
    }
    if let Some(name) = ["catalog", "schema"]
        .into_iter()
        .map(|field| text(spec, field))
        .find(|name| !is_identifier(name))
    {
        return Some(format!(
            "`{name}` is not a name lode accepts (letters, digits and `_`)"
        ));
    }
    let libraries: Vec<&Value> = spec
        .get("libraries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    if libraries.is_empty() {
        return Some("it has no libraries".into());
    }
    if libraries
        .iter()
        .any(|library| library.as_object().is_none_or(|kinds| kinds.len() != 1))
    {
        return Some("a library has more than one of notebook, file, glob, jar, whl, maven".into());
    }
    for (field, allowed) in [
        (
            "channel",
            &lode_wire::databricks_values::PIPELINE_CHANNELS[..],
        ),
        (
            "edition",
            &lode_wire::databricks_values::PIPELINE_EDITIONS[..],
        ),
    ] {
        let value = text(spec, field);
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
            return Some(format!("its {field} `{value}` is not one lode accepts"));
        }
    }
    match spec.get("tags").and_then(Value::as_object) {
        Some(tags) if tags.len() > 24 => {
            Some("it has more than 24 tags, and lode needs one more".into())
        }
        _ => None,
    }
}

/// Every Genie space; with selected schemas, those answering from one of their tables.
fn discover_spaces(
    provider: &DatabricksProvider,
    schema_scope: Option<&BTreeSet<(String, String)>>,
) -> Result<Vec<Discovered>, ProviderError> {
    let listed: Vec<Value> = provider
        .client
        .list_all("/api/2.0/genie/spaces", &[], "spaces")?;
    let ids: Vec<String> = listed
        .iter()
        .map(|space| text(space, "space_id").to_string())
        .filter(|id| !id.is_empty())
        .collect();
    let read = map_bounded(&ids, READ_CONCURRENCY, |id| genie::get(provider, id));
    // The environment's warehouse is the manifests' default: a space on it does not name it.
    let default_warehouse = provider.warehouse_id().ok();
    let mut found = Vec::new();
    for (id, info) in ids.iter().zip(read) {
        let Some(info) = info? else { continue };
        let on_default = default_warehouse.as_deref() == Some(text(&info, "warehouse_id"));
        let wanted = if on_default {
            json!({})
        } else {
            json!({"warehouse_id": true})
        };
        let live = genie::object(provider, id, &info, &wanted);
        let tables: Vec<&str> = live
            .spec
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(selected) = schema_scope
            && !tables.iter().any(|table| {
                let mut parts = table.split('.');
                let (catalog, schema) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                selected.contains(&(catalog.to_string(), schema.to_string()))
            })
        {
            continue;
        }
        let refusal = match tables.len() {
            0 => Some("it answers from no table".to_string()),
            count if count > 30 => Some(format!("it has {count} tables, lode allows 30")),
            _ => None,
        };
        let document: Value = info
            .get("serialized_space")
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(json!({}));
        let title = text(&live.spec, "title").to_string();
        found.push(
            Discovered::checked(Kind::GenieSpace, title, live)
                .refuse(refusal)
                .with_lossy(genie::unmodelled(&document)),
        );
    }
    Ok(found)
}

/// The files under `folders` (each listed recursively, one call per folder), skipping
/// `excluded` folders; objects that are not files are reported, not imported.
fn workspace_files(
    provider: &DatabricksProvider,
    folders: &[String],
    excluded: &[String],
) -> Result<Vec<Discovered>, ProviderError> {
    let is_excluded = |path: &str| excluded.iter().any(|folder| under(path, folder));
    let mut pending: Vec<String> = folders.to_vec();
    let mut visited = BTreeSet::new();
    let mut objects: BTreeMap<String, Value> = BTreeMap::new();
    while let Some(folder) = pending.pop() {
        if is_excluded(&folder) || !visited.insert(folder.clone()) {
            continue;
        }
        let listed: Option<Value> = provider
            .client
            .get_optional("/api/2.0/workspace/list", &[("path", folder.clone())])?;
        for object in listed
            .as_ref()
            .and_then(|l| l.get("objects"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = normalize_workspace_path(text(object, "path"));
            if path.is_empty() || is_excluded(&path) {
                continue;
            }
            if text(object, "object_type") == "DIRECTORY" {
                pending.push(path);
            } else {
                objects.insert(path, object.clone());
            }
        }
    }
    let objects: Vec<(String, Value)> = objects.into_iter().collect();
    let read = map_bounded(&objects, READ_CONCURRENCY, |(path, object)| {
        workspace_file(provider, path, object)
    });
    read.into_iter().filter_map(Result::transpose).collect()
}

/// A listed workspace object as a file, or why it cannot be one; `None` when it vanished.
fn workspace_file(
    provider: &DatabricksProvider,
    path: &str,
    object: &Value,
) -> Result<Option<Discovered>, ProviderError> {
    let refused = |reason: String| Discovered {
        kind: Kind::WorkspaceFile,
        name_hint: path.to_string(),
        live: LiveObject::plain(json!({"path": path})),
        lossy: Vec::new(),
        unsupported: Some(reason),
    };
    let object_type = text(object, "object_type");
    if object_type != "FILE" {
        return Ok(Some(refused(format!(
            "a {object_type}: lode manages workspace files only"
        ))));
    }
    let too_big = |size: u64| {
        format!("{size} bytes: lode's payload files are at most {MAX_FILE_BYTES} bytes")
    };
    if let Some(size) = object
        .get("size")
        .and_then(Value::as_u64)
        .filter(|size| *size > MAX_FILE_BYTES as u64)
    {
        return Ok(Some(refused(too_big(size))));
    }
    let Some(bytes) = files::export(provider, path)? else {
        return Ok(None);
    };
    if bytes.len() > MAX_FILE_BYTES {
        return Ok(Some(refused(too_big(bytes.len() as u64))));
    }
    let Ok(content) = String::from_utf8(bytes) else {
        return Ok(Some(refused("it is not UTF-8 text".into())));
    };
    let mut live = files::object(provider, path, content);
    // Recorded as `refresh` records it: the next plan tells from a listing that it is unchanged.
    if let Some(modified) = object.get("modified_at") {
        live.outputs.insert("modified_at".into(), modified.clone());
    }
    Ok(Some(Discovered::checked(Kind::WorkspaceFile, path, live)))
}

#[cfg(test)]
mod tests;
