//! Unity Catalog (catalogs, schemas, tables), SQL warehouses, the SQL Statement Execution API
//! and table quality monitors. Tables and schemas come from the Delta-backed `SqlEngine`, so what
//! a statement creates is what the catalog API lists. Statement failures are HTTP 200 with
//! `status.state = FAILED`, as on Databricks.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::sql::{ColumnDef, ResultSet, SchemaMeta, TableMeta};
use super::{ApiError, ApiResult, Body, Params, Shared, hex_id, now_ms};

/// The one SQL warehouse every emulated workspace has.
pub const WAREHOUSE_ID: &str = "lode0emulator000";
/// Rows per result chunk.
const CHUNK_ROWS: usize = 1000;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/2.1/unity-catalog/catalogs", get(list_catalogs))
        .route(
            "/api/2.1/unity-catalog/schemas",
            get(list_schemas).post(create_schema),
        )
        .route(
            "/api/2.1/unity-catalog/schemas/{full_name}",
            get(get_schema).patch(update_schema).delete(delete_schema),
        )
        .route("/api/2.1/unity-catalog/tables", get(list_tables))
        .route(
            "/api/2.1/unity-catalog/tables/{full_name}",
            get(get_table).delete(delete_table),
        )
        .route(
            "/api/2.1/unity-catalog/tables/{full_name}/exists",
            get(table_exists),
        )
        .route(
            "/api/2.1/unity-catalog/tables/{full_name}/monitor",
            get(get_monitor)
                .post(create_monitor)
                .put(update_monitor)
                .delete(delete_monitor),
        )
        .route(
            "/api/2.1/unity-catalog/tables/{full_name}/monitor/refreshes",
            get(list_refreshes).post(run_refresh),
        )
        .route("/api/2.0/sql/warehouses", get(list_warehouses))
        .route("/api/2.0/sql/warehouses/{id}", get(get_warehouse))
        .route("/api/2.0/sql/statements", post(execute_statement))
        .route("/api/2.0/sql/statements/", post(execute_statement))
        .route("/api/2.0/sql/statements/{id}", get(get_statement))
        .route(
            "/api/2.0/sql/statements/{id}/result/chunks/{chunk}",
            get(get_chunk),
        )
        .route(
            "/api/2.0/sql/statements/{id}/cancel",
            post(cancel_statement),
        )
}

fn split_two(full_name: &str) -> ApiResult<(&str, &str)> {
    full_name
        .split_once('.')
        .filter(|(c, s)| !c.is_empty() && !s.is_empty() && !s.contains('.'))
        .ok_or_else(|| ApiError::invalid(format!("Invalid schema full name: {full_name}")))
}

fn split_three(full_name: &str) -> ApiResult<(&str, &str, &str)> {
    let parts: Vec<&str> = full_name.split('.').collect();
    match parts.as_slice() {
        [c, s, t] if !c.is_empty() && !s.is_empty() && !t.is_empty() => Ok((c, s, t)),
        _ => Err(ApiError::invalid(format!(
            "Invalid table full name: {full_name}"
        ))),
    }
}

/// Databricks' `type_name` for a column's `type_text`.
pub fn type_name(type_text: &str) -> &'static str {
    let lower = type_text.to_ascii_lowercase();
    match lower.split('(').next().unwrap_or("").trim() {
        "string" | "varchar" | "char" => "STRING",
        "int" | "integer" => "INT",
        "bigint" | "long" => "LONG",
        "smallint" | "short" => "SHORT",
        "tinyint" | "byte" => "BYTE",
        "double" => "DOUBLE",
        "float" | "real" => "FLOAT",
        "boolean" => "BOOLEAN",
        "date" => "DATE",
        "timestamp" => "TIMESTAMP",
        "timestamp_ntz" => "TIMESTAMP_NTZ",
        "decimal" => "DECIMAL",
        "binary" => "BINARY",
        _ => "STRING",
    }
}

fn columns_json(columns: &[ColumnDef]) -> Value {
    Value::Array(
        columns
            .iter()
            .enumerate()
            .map(|(position, c)| {
                let mut column = json!({
                    "name": c.name,
                    "type_text": c.type_text,
                    "type_name": type_name(&c.type_text),
                    "type_json": json!({"name": c.name, "type": c.type_text, "nullable": c.nullable, "metadata": {}}).to_string(),
                    "position": position,
                    "nullable": c.nullable,
                });
                if let Some(comment) = &c.comment {
                    column["comment"] = json!(comment);
                }
                column
            })
            .collect(),
    )
}

/// TableInfo as the Unity Catalog API returns it.
fn table_json(table: &TableMeta, omit_columns: bool) -> Value {
    let mut info = json!({
        "name": table.name,
        "catalog_name": table.catalog,
        "schema_name": table.schema,
        "full_name": format!("{}.{}.{}", table.catalog, table.schema, table.name),
        "table_type": table.table_type,
        "data_source_format": "DELTA",
        "storage_location": table.storage_location,
        "table_id": table.table_id,
        "owner": "lode@localhost",
        "created_at": table.created_at,
        "created_by": "lode@localhost",
        "updated_at": table.updated_at,
        "updated_by": "lode@localhost",
        "properties": table.properties,
    });
    if !omit_columns {
        info["columns"] = columns_json(&table.columns);
    }
    if let Some(comment) = &table.comment {
        info["comment"] = json!(comment);
    }
    if let Some(pipeline_id) = &table.pipeline_id {
        info["pipeline_id"] = json!(pipeline_id);
    }
    info
}

fn schema_json(schema: &SchemaMeta) -> Value {
    let mut info = json!({
        "name": schema.name,
        "catalog_name": schema.catalog,
        "full_name": format!("{}.{}", schema.catalog, schema.name),
        "owner": "lode@localhost",
        "created_at": schema.created_at,
        "created_by": "lode@localhost",
        "properties": schema.properties,
    });
    if let Some(comment) = &schema.comment {
        info["comment"] = json!(comment);
    }
    info
}

async fn list_catalogs(State(workspace): State<Shared>) -> ApiResult<Json<Value>> {
    let catalogs = workspace.sql.list_catalogs().await?;
    let items: Vec<Value> = catalogs
        .iter()
        .map(|c| json!({"name": c.name, "comment": c.comment, "owner": "lode@localhost", "catalog_type": "MANAGED_CATALOG"}))
        .collect();
    Ok(Json(json!({"catalogs": items})))
}

#[derive(Deserialize)]
struct ListSchemas {
    catalog_name: String,
}

async fn list_schemas(
    State(workspace): State<Shared>,
    Params(query): Params<ListSchemas>,
) -> ApiResult<Json<Value>> {
    let schemas = workspace.sql.list_schemas(&query.catalog_name).await?;
    Ok(Json(
        json!({"schemas": schemas.iter().map(schema_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CreateSchema {
    name: String,
    catalog_name: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

async fn create_schema(
    State(workspace): State<Shared>,
    Body(request): Body<CreateSchema>,
) -> ApiResult<Json<Value>> {
    let schema = workspace
        .sql
        .create_schema(
            &request.catalog_name,
            &request.name,
            request.comment.as_deref(),
            &request.properties,
        )
        .await?;
    Ok(Json(schema_json(&schema)))
}

async fn get_schema(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (catalog, name) = split_two(&full_name)?;
    let schema = workspace
        .sql
        .get_schema(catalog, name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Schema '{full_name}' does not exist.")))?;
    Ok(Json(schema_json(&schema)))
}

#[derive(Deserialize)]
struct UpdateSchema {
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    properties: Option<BTreeMap<String, String>>,
}

async fn update_schema(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
    Body(request): Body<UpdateSchema>,
) -> ApiResult<Json<Value>> {
    let (catalog, name) = split_two(&full_name)?;
    let schema = workspace
        .sql
        .update_schema(
            catalog,
            name,
            request.comment.as_deref(),
            request.properties.as_ref(),
        )
        .await?;
    Ok(Json(schema_json(&schema)))
}

#[derive(Deserialize)]
struct Force {
    #[serde(default)]
    force: bool,
}

async fn delete_schema(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
    Params(query): Params<Force>,
) -> ApiResult<Json<Value>> {
    let (catalog, name) = split_two(&full_name)?;
    workspace
        .sql
        .drop_schema(catalog, name, query.force)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ListTables {
    catalog_name: String,
    schema_name: String,
    #[serde(default)]
    max_results: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    omit_columns: bool,
}

async fn list_tables(
    State(workspace): State<Shared>,
    Params(query): Params<ListTables>,
) -> ApiResult<Json<Value>> {
    if workspace
        .sql
        .get_schema(&query.catalog_name, &query.schema_name)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "Schema '{}.{}' does not exist.",
            query.catalog_name, query.schema_name
        )));
    }
    let tables = workspace
        .sql
        .list_tables(&query.catalog_name, &query.schema_name)
        .await?;
    let start: usize = query
        .page_token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = query.max_results.filter(|m| *m > 0).unwrap_or(usize::MAX);
    let page: Vec<Value> = tables
        .iter()
        .skip(start)
        .take(size)
        .map(|t| table_json(t, query.omit_columns))
        .collect();
    let mut body = json!({"tables": page});
    if start.saturating_add(size) < tables.len() {
        body["next_page_token"] = json!((start + size).to_string());
    }
    Ok(Json(body))
}

async fn find_table(workspace: &Shared, full_name: &str) -> ApiResult<TableMeta> {
    let (catalog, schema, table) = split_three(full_name)?;
    workspace
        .sql
        .get_table(catalog, schema, table)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "TABLE_DOES_NOT_EXIST",
                format!("Table '{full_name}' does not exist."),
            )
        })
}

async fn get_table(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(table_json(
        &find_table(&workspace, &full_name).await?,
        false,
    )))
}

async fn table_exists(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (catalog, schema, table) = split_three(&full_name)?;
    let exists = workspace
        .sql
        .get_table(catalog, schema, table)
        .await?
        .is_some();
    Ok(Json(json!({"table_exists": exists})))
}

async fn delete_table(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let table = find_table(&workspace, &full_name).await?;
    workspace
        .sql
        .drop_table(&table.catalog, &table.schema, &table.name)
        .await?;
    Ok(Json(json!({})))
}

fn warehouse_json() -> Value {
    json!({
        "id": WAREHOUSE_ID,
        "name": "lode emulated serverless warehouse",
        "cluster_size": "2X-Small",
        "min_num_clusters": 1,
        "max_num_clusters": 1,
        "auto_stop_mins": 10,
        "enable_serverless_compute": true,
        "warehouse_type": "PRO",
        "state": "RUNNING",
        "num_clusters": 1,
        "creator_name": "lode@localhost",
        "odbc_params": {"hostname": "127.0.0.1", "path": format!("/sql/1.0/warehouses/{WAREHOUSE_ID}"), "protocol": "https", "port": 443},
    })
}

async fn list_warehouses() -> Json<Value> {
    Json(json!({"warehouses": [warehouse_json()]}))
}

async fn get_warehouse(Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if id != WAREHOUSE_ID {
        return Err(ApiError::not_found(format!(
            "Warehouse {id} does not exist."
        )));
    }
    Ok(Json(warehouse_json()))
}

#[derive(Deserialize)]
struct StatementParameter {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct StatementRequest {
    statement: String,
    warehouse_id: String,
    #[serde(default)]
    catalog: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    parameters: Vec<StatementParameter>,
    #[serde(default)]
    wait_timeout: Option<String>,
    #[serde(default)]
    row_limit: Option<usize>,
}

/// The result manifest and chunks of a successful statement.
fn succeeded(id: &str, result: ResultSet, row_limit: Option<usize>) -> Value {
    let mut rows = result.rows;
    let truncated = row_limit.is_some_and(|limit| rows.len() > limit);
    if let Some(limit) = row_limit {
        rows.truncate(limit);
    }
    let chunks: Vec<Vec<Vec<Option<String>>>> = if rows.is_empty() {
        vec![Vec::new()]
    } else {
        rows.chunks(CHUNK_ROWS).map(|c| c.to_vec()).collect()
    };
    let columns: Vec<Value> = result
        .columns
        .iter()
        .enumerate()
        .map(|(position, c)| json!({"name": c.name, "position": position, "type_name": c.type_name, "type_text": c.type_text}))
        .collect();
    let mut offset = 0;
    let chunk_list: Vec<Value> = chunks
        .iter()
        .enumerate()
        .map(|(index, chunk)| {
            let info =
                json!({"chunk_index": index, "row_offset": offset, "row_count": chunk.len()});
            offset += chunk.len();
            info
        })
        .collect();
    json!({
        "statement_id": id,
        "status": {"state": "SUCCEEDED"},
        "manifest": {
            "format": "JSON_ARRAY",
            "schema": {"column_count": columns.len(), "columns": columns},
            "total_chunk_count": chunks.len(),
            "total_row_count": rows.len(),
            "truncated": truncated,
            "chunks": chunk_list,
        },
        "chunks": chunks,
    })
}

/// The response for chunk `index` of a stored statement (inline result with a link onwards).
fn chunk_response(stored: &Value, index: usize) -> Option<Value> {
    let chunks = stored.get("chunks")?.as_array()?;
    let data = chunks.get(index)?;
    let offset: usize = chunks[..index]
        .iter()
        .map(|c| c.as_array().map(Vec::len).unwrap_or(0))
        .sum();
    let mut result = json!({
        "chunk_index": index,
        "row_offset": offset,
        "row_count": data.as_array().map(Vec::len).unwrap_or(0),
        "data_array": data,
    });
    if index + 1 < chunks.len() {
        result["next_chunk_index"] = json!(index + 1);
        result["next_chunk_internal_link"] = json!(format!(
            "/api/2.0/sql/statements/{}/result/chunks/{}",
            stored["statement_id"].as_str().unwrap_or(""),
            index + 1
        ));
    }
    Some(result)
}

/// What a client sees for a stored statement.
fn statement_view(stored: &Value) -> Value {
    let mut view = stored.clone();
    let object = view.as_object_mut().expect("statements are objects");
    object.remove("chunks");
    if stored["status"]["state"] == "SUCCEEDED" {
        object.insert(
            "result".into(),
            chunk_response(stored, 0).unwrap_or(json!({})),
        );
    }
    view
}

async fn execute_statement(
    State(workspace): State<Shared>,
    Body(request): Body<StatementRequest>,
) -> ApiResult<Json<Value>> {
    if request.warehouse_id != WAREHOUSE_ID {
        return Err(ApiError::not_found(format!(
            "Warehouse {} does not exist.",
            request.warehouse_id
        )));
    }
    if request.statement.len() > 16 * 1024 * 1024 {
        return Err(ApiError::invalid("statement is larger than 16 MiB"));
    }
    let wait = request.wait_timeout.as_deref().unwrap_or("10s");
    let valid_wait = wait == "0s"
        || wait
            .strip_suffix('s')
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (5..=50).contains(&n));
    if !valid_wait {
        return Err(ApiError::invalid(format!(
            "wait_timeout must be 0s or between 5s and 50s, got {wait}"
        )));
    }
    let id = format!("01f0{}", &hex_id()[4..]);
    let parameters: Vec<(String, Option<String>)> = request
        .parameters
        .into_iter()
        .map(|p| (p.name, p.value))
        .collect();
    let outcome = workspace
        .sql
        .execute(
            &request.statement,
            request.catalog.as_deref(),
            request.schema.as_deref(),
            &parameters,
        )
        .await;
    let stored = match outcome {
        Ok(result) => succeeded(&id, result, request.row_limit),
        Err(error) => json!({
            "statement_id": id,
            "status": {
                "state": "FAILED",
                "error": {"error_code": "BAD_REQUEST", "message": error.to_string()},
                "sql_state": error.sql_state,
            },
        }),
    };
    workspace
        .statements
        .lock()
        .expect("statements lock")
        .insert(id.clone(), stored.clone());
    if wait == "0s" {
        // Asynchronous mode: the caller polls; the first answer is always PENDING.
        return Ok(Json(
            json!({"statement_id": id, "status": {"state": "PENDING"}}),
        ));
    }
    Ok(Json(statement_view(&stored)))
}

fn stored_statement(workspace: &Shared, id: &str) -> ApiResult<Value> {
    workspace
        .statements
        .lock()
        .expect("statements lock")
        .get(id)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Statement {id} does not exist or its result has expired."
            ))
        })
}

async fn get_statement(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(statement_view(&stored_statement(&workspace, &id)?)))
}

async fn get_chunk(
    State(workspace): State<Shared>,
    Path((id, chunk)): Path<(String, usize)>,
) -> ApiResult<Json<Value>> {
    let stored = stored_statement(&workspace, &id)?;
    chunk_response(&stored, chunk)
        .map(Json)
        .ok_or_else(|| ApiError::invalid(format!("Chunk index {chunk} is out of range.")))
}

async fn cancel_statement(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    stored_statement(&workspace, &id)?;
    Ok(Json(json!({})))
}

/// The monitor fields a request may set (the rest are computed).
const MONITOR_FIELDS: [&str; 10] = [
    "output_schema_name",
    "assets_dir",
    "time_series",
    "snapshot",
    "inference_log",
    "schedule",
    "baseline_table_name",
    "custom_metrics",
    "slicing_exprs",
    "notifications",
];

fn validate_monitor(request: &Value) -> ApiResult<()> {
    let profiles = ["time_series", "snapshot", "inference_log"]
        .iter()
        .filter(|p| request.get(**p).is_some())
        .count();
    if profiles != 1 {
        return Err(ApiError::invalid(
            "Exactly one of time_series, snapshot or inference_log must be set.",
        ));
    }
    if request
        .get("output_schema_name")
        .and_then(Value::as_str)
        .is_none_or(|s| s.split('.').count() != 2)
    {
        return Err(ApiError::invalid(
            "output_schema_name must be a two-level name: catalog.schema.",
        ));
    }
    if let Some(series) = request.get("time_series")
        && series
            .get("timestamp_col")
            .and_then(Value::as_str)
            .is_none()
    {
        return Err(ApiError::invalid("time_series.timestamp_col is required."));
    }
    Ok(())
}

/// What GET returns: pending for a moment after a change, then active.
fn monitor_view(stored: &Value) -> Value {
    let mut view = stored.clone();
    let changed = stored
        .get("_changed_at")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let status = if now_ms() - changed < 200 {
        "MONITOR_STATUS_PENDING"
    } else {
        "MONITOR_STATUS_ACTIVE"
    };
    let object = view.as_object_mut().expect("monitors are objects");
    object.remove("_changed_at");
    object.insert("status".into(), json!(status));
    view
}

async fn get_monitor(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    find_table(&workspace, &full_name).await?;
    workspace
        .monitors
        .get(&full_name)
        .map(|m| Json(monitor_view(&m)))
        .ok_or_else(|| {
            ApiError::not_found(format!("Monitor for table '{full_name}' does not exist."))
        })
}

async fn write_monitor(
    workspace: &Shared,
    full_name: &str,
    request: &Value,
    creating: bool,
) -> ApiResult<Value> {
    find_table(workspace, full_name).await?;
    validate_monitor(request)?;
    let output = request["output_schema_name"].as_str().unwrap_or_default();
    let (catalog, schema) = split_two(output)?;
    if workspace.sql.get_schema(catalog, schema).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "Schema '{output}' does not exist."
        )));
    }
    let existing = workspace.monitors.get(full_name);
    if creating && existing.is_some() {
        return Err(ApiError::exists(format!(
            "Monitor for table '{full_name}' already exists."
        )));
    }
    if !creating && existing.is_none() {
        return Err(ApiError::not_found(format!(
            "Monitor for table '{full_name}' does not exist."
        )));
    }
    if creating && request.get("assets_dir").and_then(Value::as_str).is_none() {
        return Err(ApiError::invalid("assets_dir is required."));
    }
    let table = full_name.rsplit('.').next().unwrap_or(full_name);
    let mut stored = json!({
        "table_name": full_name,
        "profile_metrics_table_name": format!("{output}.{table}_profile_metrics"),
        "drift_metrics_table_name": format!("{output}.{table}_drift_metrics"),
        "dashboard_id": existing.as_ref().and_then(|e| e.get("dashboard_id").cloned()).unwrap_or_else(|| json!(hex_id())),
        "monitor_version": existing.as_ref().and_then(|e| e["monitor_version"].as_i64()).map(|v| v + 1).unwrap_or(1),
        "_changed_at": now_ms(),
    });
    for field in MONITOR_FIELDS {
        if let Some(value) = request.get(field) {
            stored[field] = value.clone();
        }
    }
    // assets_dir is fixed at creation; an update cannot move it.
    if let Some(existing) = &existing {
        stored["assets_dir"] = existing["assets_dir"].clone();
    }
    if let Some(schedule) = stored.get_mut("schedule").and_then(Value::as_object_mut) {
        schedule.entry("pause_status").or_insert(json!("UNPAUSED"));
    }
    workspace
        .monitors
        .update(|monitors| monitors.insert(full_name.to_string(), stored.clone()))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(monitor_view(&stored))
}

async fn create_monitor(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
    Body(request): Body<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        write_monitor(&workspace, &full_name, &request, true).await?,
    ))
}

async fn update_monitor(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
    Body(request): Body<Value>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        write_monitor(&workspace, &full_name, &request, false).await?,
    ))
}

async fn delete_monitor(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let removed = workspace
        .monitors
        .update(|monitors| monitors.remove(&full_name))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    match removed {
        Some(_) => Ok(Json(json!({}))),
        None => Err(ApiError::not_found(format!(
            "Monitor for table '{full_name}' does not exist."
        ))),
    }
}

async fn run_refresh(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    if workspace.monitors.get(&full_name).is_none() {
        return Err(ApiError::not_found(format!(
            "Monitor for table '{full_name}' does not exist."
        )));
    }
    let now = now_ms();
    Ok(Json(
        json!({"refresh_id": now, "state": "SUCCESS", "start_time_ms": now, "end_time_ms": now, "trigger": "MANUAL"}),
    ))
}

async fn list_refreshes(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    if workspace.monitors.get(&full_name).is_none() {
        return Err(ApiError::not_found(format!(
            "Monitor for table '{full_name}' does not exist."
        )));
    }
    Ok(Json(json!({"refreshes": []})))
}
