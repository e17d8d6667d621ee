//! Unity Catalog (catalogs, schemas, tables), SQL warehouses, the SQL Statement Execution API
//! and table quality monitors. Tables and schemas come from the Delta-backed `SqlEngine`, so what
//! a statement creates is what the catalog API lists. Statement failures are HTTP 200 with
//! `status.state = FAILED`, as on Databricks; a request over the API's limits (16 MiB of
//! statement text, 256 parameters) is refused with an HTTP error before anything runs, and
//! results come back in chunks of a few megabytes.

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
/// About how much JSON_ARRAY text one result chunk carries. Databricks cuts INLINE results by
/// size, not by a row count, into chunks of megabytes (a `LIMIT 64000` read came back as a first
/// chunk of about 32K rows, databricks/databricks-jdbc#1071; a recorded multi-chunk result had
/// 20 MB chunks, databricks/databricks-jdbc#181). The exact size is not documented.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

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
    // Reference `databricks-api.md` §Unity Catalog: TableInfo's `table_constraints[]`, each
    // with one of `primary_key_constraint` / `foreign_key_constraint`; absent when empty. An
    // unnamed key gets a generated name; `<table>_pk` is Spark's rule (`PrimaryKeyConstraint`),
    // **unverified** against a workspace.
    if let Some(key) = &table.primary_key {
        let name = key
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_pk", table.name));
        info["table_constraints"] = json!([{
            "primary_key_constraint": {"name": name, "child_columns": key.columns}
        }]);
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
    #[serde(default)]
    catalog_name: Option<String>,
}

/// A query parameter the route cannot do without.
fn required_param(value: Option<String>, name: &str) -> ApiResult<String> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| request::missing(name))
}

async fn list_schemas(
    State(workspace): State<Shared>,
    Params(query): Params<ListSchemas>,
) -> ApiResult<Json<Value>> {
    let catalog_name = required_param(query.catalog_name, "catalog_name")?;
    let schemas = workspace.sql.list_schemas(&catalog_name).await?;
    Ok(Json(
        json!({"schemas": schemas.iter().map(schema_json).collect::<Vec<_>>()}),
    ))
}

async fn create_schema(
    State(workspace): State<Shared>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let fields = request::Fields::of(&body)?;
    let name = fields.required_string("name")?;
    let catalog_name = fields.required_string("catalog_name")?;
    let comment = fields.string("comment")?;
    fields.string("storage_root")?;
    let properties: BTreeMap<String, String> = fields
        .string_map("properties")?
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let schema = workspace
        .sql
        .create_schema(catalog_name, name, comment, &properties)
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

async fn update_schema(
    State(workspace): State<Shared>,
    Path(full_name): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let (catalog, name) = split_two(&full_name)?;
    let fields = request::Fields::of(&body)?;
    let comment = fields.string("comment")?;
    fields.string("new_name")?;
    let properties: Option<BTreeMap<String, String>> =
        fields.string_map("properties")?.map(|object| {
            object
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        });
    let schema = workspace
        .sql
        .update_schema(catalog, name, comment, properties.as_ref())
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
    #[serde(default)]
    catalog_name: Option<String>,
    #[serde(default)]
    schema_name: Option<String>,
    #[serde(default)]
    max_results: Option<String>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    omit_columns: bool,
}

async fn list_tables(
    State(workspace): State<Shared>,
    Params(query): Params<ListTables>,
) -> ApiResult<Json<Value>> {
    let catalog_name = required_param(query.catalog_name, "catalog_name")?;
    let schema_name = required_param(query.schema_name, "schema_name")?;
    // 0 means the server's page size and unset means everything; below 0 is refused (the
    // SDK's documentation of `max_results`, not in reference/: unverified wording).
    let max_results = match query.max_results.as_deref() {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => {
                return Err(ApiError::invalid(format!(
                    "max_results must be a non-negative integer, got '{text}'"
                )));
            }
        },
    };
    if workspace
        .sql
        .get_schema(&catalog_name, &schema_name)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!(
            "Schema '{catalog_name}.{schema_name}' does not exist."
        )));
    }
    let tables = workspace
        .sql
        .list_tables(&catalog_name, &schema_name)
        .await?;
    let start: usize = query
        .page_token
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = max_results.filter(|m| *m > 0).unwrap_or(usize::MAX);
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

/// `wait_timeout`: `0s` (asynchronous) or `5s` to `50s` (reference `databricks-api.md` §2).
pub fn valid_wait_timeout(wait: &str) -> bool {
    wait == "0s"
        || wait
            .strip_suffix('s')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (5..=50).contains(&n))
}

/// The enums of a statement request (reference `databricks-api.md` §2).
const ON_WAIT_TIMEOUT: [&str; 2] = ["CONTINUE", "CANCEL"];
const DISPOSITIONS: [&str; 2] = ["INLINE", "EXTERNAL_LINKS"];
const FORMATS: [&str; 3] = ["JSON_ARRAY", "ARROW_STREAM", "CSV"];
/// The largest statement text the API takes: "The maximum query text size is 16 MiB" (the
/// SDKs' docstring of `ExecuteStatementRequest.statement`; reference §2).
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024 * 1024;
/// The most parameters one statement may bind. Databricks SQL answers more with "Parameterized
/// query has too many parameters: 339 parameters were given but the limit is 256." (quoted in
/// airbytehq/airbyte#46931 and databricks/databricks-sql-python#300, from the JDBC and Python
/// connectors; the statement API shares the warehouse's limit).
pub const MAX_STATEMENT_PARAMETERS: usize = 256;

/// A statement request that passed validation.
struct StatementRequest {
    statement: String,
    warehouse_id: String,
    catalog: Option<String>,
    schema: Option<String>,
    parameters: Vec<(String, Option<String>)>,
    wait_timeout: String,
    row_limit: Option<usize>,
}

/// Checks a `POST /api/2.0/sql/statements` body the way the API accepts or refuses it before
/// running anything (a refusal here is an HTTP error; a statement that fails is HTTP 200).
fn statement_request(body: &Value) -> ApiResult<StatementRequest> {
    use request::{Fields, missing, wrong_type};
    let fields = Fields::of(body)?;
    let statement = fields.required_string("statement")?;
    let warehouse_id = fields.required_string("warehouse_id")?;
    let catalog = fields.string("catalog")?;
    let schema = fields.string("schema")?;
    let wait = fields.string("wait_timeout")?.unwrap_or("10s");
    if !valid_wait_timeout(wait) {
        return Err(ApiError::invalid(format!(
            "wait_timeout must be 0s or between 5s and 50s, got {wait}"
        )));
    }
    fields.one_of("on_wait_timeout", &ON_WAIT_TIMEOUT)?;
    let disposition = fields
        .one_of("disposition", &DISPOSITIONS)?
        .unwrap_or("INLINE");
    let format = fields.one_of("format", &FORMATS)?.unwrap_or("JSON_ARRAY");
    if disposition == "INLINE" && format != "JSON_ARRAY" {
        // Reference §2: ARROW_STREAM and CSV only with EXTERNAL_LINKS. Unverified wording.
        return Err(ApiError::invalid(format!(
            "The {format} format is not supported with the INLINE disposition; use EXTERNAL_LINKS."
        )));
    }
    if disposition == "EXTERNAL_LINKS" {
        // A valid request the emulator cannot serve: not the client's fault, so not a 400.
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "The emulator serves statement results INLINE only (disposition EXTERNAL_LINKS is not emulated).",
        ));
    }
    let mut limits = [None, None];
    for (slot, field) in limits.iter_mut().zip(["row_limit", "byte_limit"]) {
        if let Some(limit) = fields.integer(field)? {
            if limit < 0 {
                return Err(ApiError::invalid(format!(
                    "{field} must be a non-negative integer, got {limit}"
                )));
            }
            *slot = Some(limit as usize);
        }
    }
    let given: &[Value] = fields
        .object_list("parameters")?
        .map(Vec::as_slice)
        .unwrap_or_default();
    if given.len() > MAX_STATEMENT_PARAMETERS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!(
                "Parameterized query has too many parameters: {} parameters were given but the limit is {MAX_STATEMENT_PARAMETERS}.",
                given.len()
            ),
        ));
    }
    let mut parameters = Vec::new();
    for (index, item) in given.iter().enumerate() {
        let label = format!("parameters[{index}]");
        let parameter = Fields::nested(item, &label)?;
        let name = parameter.string("name")?;
        let name = name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing(&parameter.label("name")))?;
        // Values travel as strings (or null, which binds NULL); `type` names the SQL type.
        let value = match parameter.get("value") {
            None => None,
            Some(Value::String(value)) => Some(value.clone()),
            Some(_) => return Err(wrong_type(&parameter.label("value"), "a string")),
        };
        parameter.string("type")?;
        parameters.push((name.to_string(), value));
    }
    if statement.len() > MAX_STATEMENT_BYTES {
        // The limit is documented, its error is not: a 400 like the API's other refused fields.
        return Err(ApiError::invalid(format!(
            "The statement is {} bytes; the maximum query text size is 16 MiB ({MAX_STATEMENT_BYTES} bytes).",
            statement.len()
        )));
    }
    Ok(StatementRequest {
        statement: statement.to_string(),
        warehouse_id: warehouse_id.to_string(),
        catalog: catalog.map(str::to_string),
        schema: schema.map(str::to_string),
        parameters,
        wait_timeout: wait.to_string(),
        row_limit: limits[0],
    })
}

/// The result manifest and chunks of a successful statement.
fn succeeded(id: &str, result: ResultSet, row_limit: Option<usize>) -> Value {
    let mut rows = result.rows;
    let truncated = row_limit.is_some_and(|limit| rows.len() > limit);
    if let Some(limit) = row_limit {
        rows.truncate(limit);
    }
    let row_count = rows.len();
    let chunks: Vec<Vec<Vec<Option<String>>>> = if rows.is_empty() {
        vec![Vec::new()]
    } else {
        chunks_of_about(rows, CHUNK_BYTES)
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
            "total_row_count": row_count,
            "truncated": truncated,
            "chunks": chunk_list,
        },
        "chunks": chunks,
    })
}

/// Consecutive runs of `rows` of about `bytes` of JSON text each (a run ends at the first row
/// that takes it past `bytes`; every run has at least one row).
fn chunks_of_about(rows: Vec<Vec<Option<String>>>, bytes: usize) -> Vec<Vec<Vec<Option<String>>>> {
    let mut chunks = Vec::new();
    let mut chunk = Vec::new();
    let mut size = 0;
    for row in rows {
        // `"cell",` per value, `null,` per NULL, `[],` per row.
        size += 3 + row
            .iter()
            .map(|cell| cell.as_ref().map_or(5, |text| text.len() + 3))
            .sum::<usize>();
        chunk.push(row);
        if size >= bytes {
            chunks.push(std::mem::take(&mut chunk));
            size = 0;
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk);
    }
    chunks
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

/// What a client sees for a stored statement: everything but the stored chunks (copied field
/// by field, as a large result's chunks are megabytes), with the first chunk as `result`.
fn statement_view(stored: &Value) -> Value {
    let mut view: serde_json::Map<String, Value> = stored
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, _)| *field != "chunks")
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    if stored["status"]["state"] == "SUCCEEDED" {
        view.insert(
            "result".into(),
            chunk_response(stored, 0).unwrap_or(json!({})),
        );
    }
    Value::Object(view)
}

async fn execute_statement(
    State(workspace): State<Shared>,
    Body(body): Body<Value>,
) -> ApiResult<Json<Value>> {
    let request = statement_request(&body)?;
    if request.warehouse_id != WAREHOUSE_ID {
        return Err(ApiError::not_found(format!(
            "Warehouse {} does not exist.",
            request.warehouse_id
        )));
    }
    let wait = request.wait_timeout.as_str();
    let (id, view) = run_statement(
        &workspace,
        &request.statement,
        request.catalog.as_deref(),
        request.schema.as_deref(),
        &request.parameters,
        request.row_limit,
    )
    .await;
    match wait {
        // Asynchronous mode: the caller polls; the first answer is always PENDING.
        "0s" => Ok(Json(
            json!({"statement_id": id, "status": {"state": "PENDING"}}),
        )),
        _ => Ok(Json(view)),
    }
}

/// Runs a statement on the warehouse and keeps its result under a new statement id, as the
/// Statement Execution API does: the id and the StatementResponse (state, manifest, first
/// chunk). Genie runs its queries through here, so their results are statements too.
pub(crate) async fn run_statement(
    workspace: &Shared,
    statement: &str,
    catalog: Option<&str>,
    schema: Option<&str>,
    parameters: &[(String, Option<String>)],
    row_limit: Option<usize>,
) -> (String, Value) {
    let id = format!("01f0{}", &hex_id()[4..]);
    let started = std::time::Instant::now();
    let outcome = workspace
        .sql
        .execute(statement, catalog, schema, parameters)
        .await;
    tracing::debug!(
        statement = %statement.chars().take(60).collect::<String>(),
        bytes = statement.len(),
        ms = started.elapsed().as_millis() as u64,
        "statement executed"
    );
    let stored = match outcome {
        Ok(result) => succeeded(&id, result, row_limit),
        Err(error) => json!({
            "statement_id": id,
            "status": {
                "state": "FAILED",
                "error": {"error_code": "BAD_REQUEST", "message": error.to_string()},
                "sql_state": error.sql_state,
            },
        }),
    };
    let view = statement_view(&stored);
    workspace
        .statements
        .lock()
        .expect("statements lock")
        .insert(id.clone(), stored);
    (id, view)
}

/// The StatementResponse of a statement run earlier, as `GET /api/2.0/sql/statements/{id}`
/// answers it.
pub(crate) fn statement_response(workspace: &Shared, id: &str) -> ApiResult<Value> {
    stored_statement(workspace, id, statement_view)
}

/// `read` applied to a stored statement, under the lock (a result is not copied to be read).
fn stored_statement<T>(
    workspace: &Shared,
    id: &str,
    read: impl FnOnce(&Value) -> T,
) -> ApiResult<T> {
    workspace
        .statements
        .lock()
        .expect("statements lock")
        .get(id)
        .map(read)
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
    Ok(Json(stored_statement(&workspace, &id, statement_view)?))
}

async fn get_chunk(
    State(workspace): State<Shared>,
    Path((id, chunk)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    // Parsed here, not by the path extractor, so a bad index gets a Databricks error body.
    let chunk: usize = chunk.parse().map_err(|_| {
        ApiError::invalid(format!(
            "chunk_index must be a non-negative integer, got '{chunk}'"
        ))
    })?;
    stored_statement(&workspace, &id, |stored| chunk_response(stored, chunk))?
        .map(Json)
        .ok_or_else(|| ApiError::invalid(format!("Chunk index {chunk} is out of range.")))
}

async fn cancel_statement(
    State(workspace): State<Shared>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    stored_statement(&workspace, &id, |_| ())?;
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

pub use lode_wire::databricks_values::MONITOR_GRANULARITIES;
/// `inference_log.problem_type` (reference §5).
const PROBLEM_TYPES: [&str; 2] = ["PROBLEM_TYPE_CLASSIFICATION", "PROBLEM_TYPE_REGRESSION"];

fn check_granularities(profile: &request::Fields) -> ApiResult<()> {
    let granularities = profile.string_list("granularities")?.unwrap_or_default();
    if granularities.is_empty() {
        return Err(request::missing(&profile.label("granularities")));
    }
    for granularity in granularities {
        if !MONITOR_GRANULARITIES.contains(&granularity) {
            return Err(request::not_one_of(
                &profile.label("granularities"),
                granularity,
                &MONITOR_GRANULARITIES,
            ));
        }
    }
    Ok(())
}

/// Checks a monitor create (`creating`) or update body (reference `databricks-api.md` §5):
/// `output_schema_name` (`catalog.schema`) always, an absolute `assets_dir` on create, exactly
/// one profile with its required fields, and a schedule with its cron expression and time zone.
fn validate_monitor(request: &Value, creating: bool) -> ApiResult<()> {
    use request::Fields;
    let fields = Fields::of(request)?;
    let output = fields.required_string("output_schema_name")?;
    if output.split('.').count() != 2 || output.split('.').any(str::is_empty) {
        return Err(ApiError::invalid(
            "output_schema_name must be a two-level name: catalog.schema.",
        ));
    }
    if creating {
        let assets = fields.required_string("assets_dir")?;
        if !assets.starts_with('/') {
            return Err(ApiError::invalid(format!(
                "assets_dir must be an absolute workspace path, got '{assets}'."
            )));
        }
    } else {
        fields.string("assets_dir")?;
    }
    let profiles = ["time_series", "snapshot", "inference_log"]
        .iter()
        .filter(|p| fields.get(p).is_some())
        .count();
    if profiles != 1 {
        return Err(ApiError::invalid(
            "Exactly one of time_series, snapshot or inference_log must be set.",
        ));
    }
    if let Some(series) = fields.get("time_series") {
        let series = Fields::nested(series, "time_series")?;
        series.required_string("timestamp_col")?;
        check_granularities(&series)?;
    }
    if let Some(snapshot) = fields.get("snapshot") {
        Fields::nested(snapshot, "snapshot")?;
    }
    if let Some(log) = fields.get("inference_log") {
        let log = Fields::nested(log, "inference_log")?;
        let problem = log.required_string("problem_type")?;
        if !PROBLEM_TYPES.contains(&problem) {
            return Err(request::not_one_of(
                &log.label("problem_type"),
                problem,
                &PROBLEM_TYPES,
            ));
        }
        for field in ["timestamp_col", "prediction_col", "model_id_col"] {
            log.required_string(field)?;
        }
        for field in ["label_col", "prediction_proba_col"] {
            log.string(field)?;
        }
        check_granularities(&log)?;
    }
    if let Some(schedule) = fields.get("schedule") {
        let schedule = Fields::nested(schedule, "schedule")?;
        schedule.required_string("quartz_cron_expression")?;
        schedule.required_string("timezone_id")?;
    }
    fields.string_list("slicing_exprs")?;
    fields.object_list("custom_metrics")?;
    fields.object("notifications")?;
    fields.object("data_classification_config")?;
    for field in ["baseline_table_name", "warehouse_id", "dashboard_id"] {
        fields.string(field)?;
    }
    fields.boolean("skip_builtin_dashboard")?;
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
    validate_monitor(request, creating)?;
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

pub mod request {
    //! Request-body checks shared by the Databricks routes (pipelines, Genie, workspace, Unity
    //! Catalog, SQL statements, monitors), so a malformed request gets a Databricks error body
    //! with the same code and wording from every route: a body or field of the wrong JSON type
    //! is 400 `MALFORMED_REQUEST`; a missing required field, an unknown enum value or a value
    //! out of range is 400 `INVALID_PARAMETER_VALUE`. A JSON `null` counts as absent, as in
    //! proto3 JSON. It lives here, not in `mod.rs`, only because of who owns which file; it can
    //! move there unchanged.
    //!
    //! The codes follow the reference (`databricks-api.md` §6: 400 = `INVALID_PARAMETER_VALUE`,
    //! and the SDKs' `MALFORMED_REQUEST` for unreadable requests). The message wordings are
    //! **unverified**: `reference/` records none of them, so each is written once, in the
    //! functions below, to be corrected in one place against a real workspace.

    use axum::http::StatusCode;
    use serde_json::{Map, Value};

    use super::super::{ApiError, ApiResult};

    /// The error code for a request Databricks cannot read (bad JSON, wrong JSON types).
    pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";

    /// A required field is absent, null or empty. Unverified wording (as Databricks' Jobs API
    /// words it, from memory; not in `reference/`).
    pub fn missing(field: &str) -> ApiError {
        ApiError::invalid(format!("Missing required field: {field}"))
    }

    /// The body is JSON but not an object. Unverified wording.
    pub fn not_an_object() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            MALFORMED_REQUEST,
            "Invalid JSON given in the body of the request - expected a map",
        )
    }

    /// A field of the wrong JSON type. Unverified wording.
    pub fn wrong_type(field: &str, expected: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            MALFORMED_REQUEST,
            format!("Invalid JSON given in the body of the request - '{field}' must be {expected}"),
        )
    }

    /// A value outside an enum. Unverified wording.
    pub fn not_one_of(field: &str, value: &str, allowed: &[&str]) -> ApiError {
        ApiError::invalid(format!(
            "Invalid value '{value}' for {field}: expected one of {}.",
            allowed.join(", ")
        ))
    }

    /// The fields of one JSON object of a request, named in messages by their path
    /// (`parameters[0].name`).
    #[derive(Clone, Copy)]
    pub struct Fields<'a> {
        object: &'a Map<String, Value>,
        prefix: &'a str,
    }

    impl<'a> Fields<'a> {
        /// The request body, which must be an object.
        pub fn of(body: &'a Value) -> ApiResult<Fields<'a>> {
            match body {
                Value::Object(object) => Ok(Fields { object, prefix: "" }),
                _ => Err(not_an_object()),
            }
        }

        /// A nested object, named `label` in messages (the label must outlive the fields).
        pub fn nested(value: &'a Value, label: &'a str) -> ApiResult<Fields<'a>> {
            match value {
                Value::Object(object) => Ok(Fields {
                    object,
                    prefix: label,
                }),
                _ => Err(wrong_type(label, "an object")),
            }
        }

        /// `field` as messages name it.
        pub fn label(&self, field: &str) -> String {
            if self.prefix.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", self.prefix)
            }
        }

        /// The value of `field`; null is absent.
        pub fn get(&self, field: &str) -> Option<&'a Value> {
            self.object.get(field).filter(|v| !v.is_null())
        }

        pub fn string(&self, field: &str) -> ApiResult<Option<&'a str>> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(wrong_type(&self.label(field), "a string")),
            }
        }

        /// A string that must be present and not empty.
        pub fn required_string(&self, field: &str) -> ApiResult<&'a str> {
            match self.string(field)? {
                Some(text) if !text.is_empty() => Ok(text),
                _ => Err(missing(&self.label(field))),
            }
        }

        pub fn boolean(&self, field: &str) -> ApiResult<Option<bool>> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Bool(flag)) => Ok(Some(*flag)),
                Some(_) => Err(wrong_type(&self.label(field), "a boolean")),
            }
        }

        /// An integer: a JSON number, or a string of digits (proto3 JSON's form of an int64).
        pub fn integer(&self, field: &str) -> ApiResult<Option<i64>> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
                Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
                Some(_) => Err(wrong_type(&self.label(field), "an integer")),
            }
        }

        pub fn array(&self, field: &str) -> ApiResult<Option<&'a Vec<Value>>> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items)),
                Some(_) => Err(wrong_type(&self.label(field), "an array")),
            }
        }

        /// An array whose items are all objects.
        pub fn object_list(&self, field: &str) -> ApiResult<Option<&'a Vec<Value>>> {
            let items = self.array(field)?;
            for (index, item) in items.into_iter().flatten().enumerate() {
                if !item.is_object() {
                    return Err(wrong_type(
                        &format!("{}[{index}]", self.label(field)),
                        "an object",
                    ));
                }
            }
            Ok(items)
        }

        /// An array whose items are all strings.
        pub fn string_list(&self, field: &str) -> ApiResult<Option<Vec<&'a str>>> {
            let Some(items) = self.array(field)? else {
                return Ok(None);
            };
            items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    item.as_str().ok_or_else(|| {
                        wrong_type(&format!("{}[{index}]", self.label(field)), "a string")
                    })
                })
                .collect::<ApiResult<Vec<_>>>()
                .map(Some)
        }

        pub fn object(&self, field: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Object(object)) => Ok(Some(object)),
                Some(_) => Err(wrong_type(&self.label(field), "an object")),
            }
        }

        /// An object whose values are all strings (`map<string, string>`).
        pub fn string_map(&self, field: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
            let Some(object) = self.object(field)? else {
                return Ok(None);
            };
            match object.iter().find(|(_, v)| !v.is_string()) {
                Some((key, _)) => Err(wrong_type(
                    &format!("{}.{key}", self.label(field)),
                    "a string",
                )),
                None => Ok(Some(object)),
            }
        }

        /// A string that must be one of `allowed` (exactly, as proto enums are).
        pub fn one_of(&self, field: &str, allowed: &[&str]) -> ApiResult<Option<&'a str>> {
            match self.string(field)? {
                Some(value) if !allowed.contains(&value) => {
                    Err(not_one_of(&self.label(field), value, allowed))
                }
                other => Ok(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::databricks::{EmulatorConfig, RunningEmulator, start};

    const TOKEN: &str = "dapi-catalog-test";

    fn workspace() -> (tempfile::TempDir, RunningEmulator) {
        let dir = tempfile::tempdir().unwrap();
        let running = start(EmulatorConfig {
            data_dir: dir.path().join("databricks"),
            token: TOKEN.into(),
            oauth_client: None,
            port: 0,
            faults: None,
        })
        .unwrap();
        (dir, running)
    }

    fn sql(running: &RunningEmulator, statement: &str) {
        let reply: Value = reqwest::blocking::Client::new()
            .post(format!("{}/api/2.0/sql/statements", running.url))
            .bearer_auth(TOKEN)
            .json(&json!({"statement": statement, "warehouse_id": super::WAREHOUSE_ID, "wait_timeout": "30s"}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            reply["status"]["state"], "SUCCEEDED",
            "{statement}: {reply}"
        );
    }

    fn get(running: &RunningEmulator, path: &str) -> Value {
        reqwest::blocking::Client::new()
            .get(format!("{}{path}", running.url))
            .bearer_auth(TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    #[test]
    fn issue_17_table_info_carries_the_primary_key_constraint() {
        let (_dir, running) = workspace();
        sql(&running, "CREATE SCHEMA main.plant");
        sql(
            &running,
            "CREATE TABLE main.plant.sites (region STRING NOT NULL, id INT NOT NULL, name STRING, \
             CONSTRAINT sites_key PRIMARY KEY (region, id))",
        );
        sql(
            &running,
            "CREATE TABLE main.plant.kinds (code STRING NOT NULL PRIMARY KEY, label STRING)",
        );
        sql(
            &running,
            "CREATE TABLE main.plant.readings (at TIMESTAMP, v DOUBLE)",
        );
        let sites = get(&running, "/api/2.1/unity-catalog/tables/main.plant.sites");
        assert_eq!(
            sites["table_constraints"],
            json!([{"primary_key_constraint": {"name": "sites_key", "child_columns": ["region", "id"]}}])
        );
        let listed = get(
            &running,
            "/api/2.1/unity-catalog/tables?catalog_name=main&schema_name=plant",
        );
        let by_name = |name: &str| {
            listed["tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            by_name("sites")["table_constraints"],
            sites["table_constraints"]
        );
        assert_eq!(
            by_name("kinds")["table_constraints"],
            json!([{"primary_key_constraint": {"name": "kinds_pk", "child_columns": ["code"]}}])
        );
        assert!(by_name("readings").get("table_constraints").is_none());
        // Keys are never shown as properties.
        assert_eq!(sites["properties"], json!({}));
    }
}
