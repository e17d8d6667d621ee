//! Unity Catalog schemas and managed Delta tables. Schemas are read with one list per catalog and
//! tables with one list per schema; seeded tables also read their rows (one SELECT each).
//! Structure changes are SQL DDL applied in place (`ALTER TABLE`); seed rows are reconciled by
//! key in one `MERGE` (a single Delta commit), after recording the table's Delta version so the
//! change can be undone with `RESTORE TABLE ... VERSION AS OF`. Rows too many for one statement
//! reach that `MERGE` through a staging table filled over several statements.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::client::{Idempotency, SqlRequest};
use super::provider::{DatabricksProvider, text};
use crate::manifest::table_data::{canonical_cell, canonical_type};
use crate::manifest::{Address, Kind};
use crate::provider::{ChangeOptions, LiveObject, ProviderError, RefreshRequest};

/// Table properties the platform manages; shown only when a manifest sets them.
fn is_system_property(key: &str) -> bool {
    ["delta.", "spark.", "pipelines.", "lode."]
        .iter()
        .any(|p| key.starts_with(p))
        || key == "clusteringColumns"
}

fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn qualified(spec: &Value) -> String {
    format!(
        "{}.{}.{}",
        quote_identifier(text(spec, "catalog")),
        quote_identifier(text(spec, "schema")),
        quote_identifier(text(spec, "name"))
    )
}

pub fn full_name(spec: &Value) -> String {
    format!(
        "{}.{}.{}",
        text(spec, "catalog"),
        text(spec, "schema"),
        text(spec, "name")
    )
}

/// Runs one of this module's statements. Each may be sent again after a lost answer: seed rows
/// (staged or not) are a `MERGE` by key, `CREATE OR REPLACE` of a staging table and
/// `DELETE`/`DROP ... IF EXISTS`/`RESTORE` end the same when repeated,
/// a repeated `CREATE TABLE` is recognised by its already-exists error, and a repeated
/// `ALTER TABLE` fails on what the first one did rather than doing it twice.
fn sql(
    provider: &DatabricksProvider,
    statement: String,
) -> Result<super::client::SqlResult, ProviderError> {
    let request = SqlRequest {
        warehouse_id: provider.warehouse_id()?,
        statement,
        idempotent: true,
        ..SqlRequest::default()
    };
    Ok(provider
        .client
        .execute_sql(&request, provider.settings.statement_timeout)?)
}

pub(super) fn schema_spec(info: &Value) -> Value {
    let mut spec = json!({
        "catalog": info["catalog_name"],
        "name": info["name"],
        "properties": info.get("properties").cloned().unwrap_or(json!({})),
    });
    if let Some(comment) = info
        .get("comment")
        .filter(|c| c.as_str().is_some_and(|c| !c.is_empty()))
    {
        spec["comment"] = comment.clone();
    }
    spec
}

pub(super) fn schema_object(provider: &DatabricksProvider, spec: Value) -> LiveObject {
    let full_name = format!("{}.{}", text(&spec, "catalog"), text(&spec, "name"));
    let mut live = LiveObject::plain(spec);
    live.outputs.insert("full_name".into(), json!(full_name));
    live.outputs.insert(
        "url".into(),
        json!(format!(
            "{}/explore/data/{}",
            provider.host(),
            full_name.replace('.', "/")
        )),
    );
    live
}

/// One schema list per catalog.
pub fn read_schemas(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let mut by_catalog: BTreeMap<String, Vec<&RefreshRequest>> = BTreeMap::new();
    for request in requests {
        by_catalog
            .entry(text(&request.spec, "catalog").to_string())
            .or_default()
            .push(request);
    }
    let mut live = BTreeMap::new();
    for (catalog, requests) in by_catalog {
        let schemas: Vec<Value> = match provider.client.list_all(
            "/api/2.1/unity-catalog/schemas",
            &[("catalog_name", catalog.clone())],
            "schemas",
        ) {
            Ok(schemas) => schemas,
            Err(error) if error.is_not_found() => Vec::new(),
            Err(error) => return Err(error.into()),
        };
        for request in requests {
            let name = text(&request.spec, "name");
            if let Some(info) = schemas.iter().find(|s| s["name"] == name) {
                live.insert(
                    request.address.clone(),
                    schema_object(provider, schema_spec(info)),
                );
            }
        }
    }
    Ok(live)
}

pub fn create_schema(
    provider: &DatabricksProvider,
    desired: &Value,
) -> Result<LiveObject, ProviderError> {
    let mut body = json!({"catalog_name": desired["catalog"], "name": desired["name"], "properties": desired.get("properties").cloned().unwrap_or(json!({}))});
    if let Some(comment) = desired.get("comment") {
        body["comment"] = comment.clone();
    }
    // A create whose answer was lost may have happened: an existing schema (409, also on the
    // retry after an uncertain failure) is ours to update.
    let created = super::create_once::create_once(
        &format!("schema {}", text(desired, "name")),
        || Ok(None),
        || match provider.client.post::<_, Value>(
            "/api/2.1/unity-catalog/schemas",
            &body,
            Idempotency::NotIdempotent,
        ) {
            Err(error) if error.status() == Some(409) => Ok(None),
            other => other.map(Some),
        },
    )?;
    match created {
        Some(info) => Ok(schema_object(provider, schema_spec(&info))),
        None => update_schema(provider, desired),
    }
}

pub fn update_schema(
    provider: &DatabricksProvider,
    desired: &Value,
) -> Result<LiveObject, ProviderError> {
    let full = format!("{}.{}", text(desired, "catalog"), text(desired, "name"));
    let body = json!({
        "comment": desired.get("comment").cloned().unwrap_or(json!("")),
        "properties": desired.get("properties").cloned().unwrap_or(json!({})),
    });
    let info: Value = provider
        .client
        .patch(&format!("/api/2.1/unity-catalog/schemas/{full}"), &body)?;
    Ok(schema_object(provider, schema_spec(&info)))
}

pub fn delete_schema(provider: &DatabricksProvider, live: &Value) -> Result<(), ProviderError> {
    let full = format!("{}.{}", text(live, "catalog"), text(live, "name"));
    // Never `force`: a schema that still holds tables is refused by the workspace.
    match provider
        .client
        .delete(&format!("/api/2.1/unity-catalog/schemas/{full}"), &[])
    {
        Err(error) if error.is_not_found() => Ok(()),
        other => Ok(other?),
    }
}

/// A table's spec from its TableInfo, shaped like the manifests' (`rows` added separately).
pub(super) fn table_spec(info: &Value, wanted: &Value) -> Value {
    let columns: Vec<Value> = info
        .get("columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut column = json!({
                "name": c["name"],
                "type": canonical_type(c.get("type_text").and_then(Value::as_str).unwrap_or("string")),
                "nullable": c.get("nullable").and_then(Value::as_bool).unwrap_or(true),
            });
            if let Some(comment) = c.get("comment").filter(|v| v.as_str().is_some_and(|s| !s.is_empty())) {
                column["comment"] = comment.clone();
            }
            column
        })
        .collect();
    let wanted_properties = wanted.get("properties").and_then(Value::as_object);
    let properties: serde_json::Map<String, Value> = info
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            !is_system_property(k) || wanted_properties.is_some_and(|w| w.contains_key(*k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut spec = json!({
        "catalog": info["catalog_name"],
        "schema": info["schema_name"],
        "name": info["name"],
        "columns": columns,
        "properties": properties,
    });
    if let Some(comment) = info
        .get("comment")
        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    {
        spec["comment"] = comment.clone();
    }
    // The key is lode's reconcile rule, not a property the workspace reports back.
    if let Some(key) = wanted.get("primary_key") {
        spec["primary_key"] = key.clone();
    }
    spec
}

fn key_columns(spec: &Value) -> Vec<String> {
    spec.get("primary_key")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect()
}

fn column_list(spec: &Value) -> Vec<(String, String)> {
    spec.get("columns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| (text(c, "name").to_string(), text(c, "type").to_string()))
        .collect()
}

/// The seed rows of several tables of one schema, in the manifests' form (canonical cells,
/// sorted by key), in the order of `specs`. One statement reads them all: each table's columns
/// cast to strings, padded to the widest table, tagged with the table's index and joined by
/// `UNION ALL`, so a plan pays one statement per schema instead of one per table.
fn read_seed_rows(
    provider: &DatabricksProvider,
    specs: &[Value],
) -> Result<Vec<Vec<Vec<Value>>>, ProviderError> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let width = specs
        .iter()
        .map(|s| column_list(s).len())
        .max()
        .unwrap_or(0);
    let selects: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let columns = column_list(spec);
            let cells: Vec<String> = (0..width)
                .map(|i| match columns.get(i) {
                    Some((name, _)) => {
                        format!("CAST({} AS STRING) AS c{i}", quote_identifier(name))
                    }
                    None => format!("CAST(NULL AS STRING) AS c{i}"),
                })
                .collect();
            format!(
                "SELECT {index} AS lode_table, {} FROM {}",
                cells.join(", "),
                qualified(spec)
            )
        })
        .collect();
    let result = sql(provider, selects.join(" UNION ALL "))?;
    let mut raw: Vec<Vec<Vec<Option<String>>>> = vec![Vec::new(); specs.len()];
    for row in result.rows {
        let Some(index) = row
            .first()
            .and_then(|cell| cell.as_deref())
            .and_then(|cell| cell.parse::<usize>().ok())
            .filter(|index| *index < specs.len())
        else {
            return Err(ProviderError::Refused(
                "the seed row statement answered a row of no table".into(),
            ));
        };
        raw[index].push(row[1..].to_vec());
    }
    Ok(specs
        .iter()
        .zip(raw)
        .map(|(spec, rows)| canonical_rows(spec, rows))
        .collect())
}

/// Rows as the API sent them (strings), in the manifests' form: canonical cells, sorted by key.
fn canonical_rows(spec: &Value, rows: Vec<Vec<Option<String>>>) -> Vec<Vec<Value>> {
    let columns = column_list(spec);
    let keys = key_columns(spec);
    let key_indexes: Vec<usize> = keys
        .iter()
        .filter_map(|k| columns.iter().position(|(n, _)| n == k))
        .collect();
    let mut rows: Vec<Vec<Value>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .zip(row)
                .map(|((_, data_type), cell)| match cell {
                    None => Value::Null,
                    Some(text) => {
                        json!(canonical_cell(data_type, text).unwrap_or_else(|_| text.clone()))
                    }
                })
                .collect()
        })
        .collect();
    // Cached: the key is text made per row, and a large seed compares rows a million times.
    rows.sort_by_cached_key(|row| {
        key_indexes
            .iter()
            .map(|&k| row[k].to_string())
            .collect::<Vec<_>>()
    });
    rows
}

pub(super) fn table_object(provider: &DatabricksProvider, spec: Value, info: &Value) -> LiveObject {
    let full = full_name(&spec);
    let mut live = LiveObject::plain(spec);
    live.id = info
        .get("table_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    live.outputs.insert("full_name".into(), json!(full));
    live.outputs.insert(
        "url".into(),
        json!(format!(
            "{}/explore/data/{}",
            provider.host(),
            full.replace('.', "/")
        )),
    );
    live
}

/// One table list per schema, plus the rows of seeded tables.
pub fn read_tables(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let mut by_schema: BTreeMap<(String, String), Vec<&RefreshRequest>> = BTreeMap::new();
    for request in requests {
        by_schema
            .entry((
                text(&request.spec, "catalog").to_string(),
                text(&request.spec, "schema").to_string(),
            ))
            .or_default()
            .push(request);
    }
    let mut live = BTreeMap::new();
    for ((catalog, schema), requests) in by_schema {
        let query = [
            ("catalog_name", catalog.clone()),
            ("schema_name", schema.clone()),
        ];
        let tables: Vec<Value> =
            match provider
                .client
                .list_all("/api/2.1/unity-catalog/tables", &query, "tables")
            {
                Ok(tables) => tables,
                Err(error) if error.is_not_found() => Vec::new(),
                Err(error) => return Err(error.into()),
            };
        let mut found = Vec::new();
        for request in requests {
            let name = text(&request.spec, "name");
            if let Some(info) = tables.iter().find(|t| t["name"] == name) {
                found.push((request, table_spec(info, &request.spec), info));
            }
        }
        // Seed rows: one statement for every seeded table of the schema.
        let seeded: Vec<Value> = found
            .iter()
            .filter(|(request, _, _)| request.spec.get("rows").is_some())
            .map(|(_, spec, _)| spec.clone())
            .collect();
        let mut rows = read_seed_rows(provider, &seeded)?.into_iter();
        for (request, mut spec, info) in found {
            if request.spec.get("rows").is_some() {
                spec["rows"] = json!(rows.next().unwrap_or_default());
            }
            live.insert(request.address.clone(), table_object(provider, spec, info));
        }
    }
    Ok(live)
}

fn column_definition(column: &Value) -> String {
    let mut definition = format!(
        "{} {}",
        quote_identifier(text(column, "name")),
        text(column, "type").to_ascii_uppercase()
    );
    if column.get("nullable") == Some(&Value::Bool(false)) {
        definition.push_str(" NOT NULL");
    }
    if let Some(comment) = column.get("comment").and_then(Value::as_str) {
        definition.push_str(&format!(" COMMENT {}", quote_string(comment)));
    }
    definition
}

fn properties_clause(properties: &serde_json::Map<String, Value>) -> String {
    properties
        .iter()
        .map(|(k, v)| {
            format!(
                "{} = {}",
                quote_string(k),
                quote_string(v.as_str().unwrap_or(&v.to_string()))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn create_statement(desired: &Value, or_replace: bool) -> String {
    let columns: Vec<String> = desired["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(column_definition)
        .collect();
    let keys = key_columns(desired);
    let mut body = columns.join(", ");
    if !keys.is_empty() {
        let constraint = format!("{}_pk", text(desired, "name"));
        body.push_str(&format!(
            ", CONSTRAINT {} PRIMARY KEY ({})",
            quote_identifier(&constraint),
            keys.iter()
                .map(|k| quote_identifier(k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut statement = format!(
        "CREATE {}TABLE {} ({body}) USING DELTA",
        if or_replace { "OR REPLACE " } else { "" },
        qualified(desired)
    );
    if let Some(comment) = desired.get("comment").and_then(Value::as_str) {
        statement.push_str(&format!(" COMMENT {}", quote_string(comment)));
    }
    if let Some(properties) = desired
        .get("properties")
        .and_then(Value::as_object)
        .filter(|p| !p.is_empty())
    {
        statement.push_str(&format!(
            " TBLPROPERTIES ({})",
            properties_clause(properties)
        ));
    }
    statement
}

/// A cell as a SQL literal of its column's type.
fn literal(cell: &Value, data_type: &str) -> String {
    let Some(text) = cell.as_str() else {
        return "NULL".to_string();
    };
    let base = data_type.split('(').next().unwrap_or("");
    match base {
        "int" | "bigint" | "smallint" | "tinyint" | "double" | "float" | "decimal" | "boolean" => {
            text.to_string()
        }
        "date" => format!("DATE {}", quote_string(text)),
        "timestamp" => format!("TIMESTAMP {}", quote_string(text)),
        _ => quote_string(text),
    }
}

/// The table's Delta version now (recorded before its data changes).
pub fn current_version(
    provider: &DatabricksProvider,
    spec: &Value,
) -> Result<Option<i64>, ProviderError> {
    let history = sql(
        provider,
        format!("DESCRIBE HISTORY {} LIMIT 1", qualified(spec)),
    )?;
    Ok(history.value(0, "version").and_then(|v| v.parse().ok()))
}

/// The most statement text one seed statement carries. The Statement Execution API takes up to
/// 16 MiB ("The maximum query text size is 16 MiB", the SDKs' `ExecuteStatementRequest` docs);
/// a quarter of that leaves room for whatever sits between lode and the warehouse and keeps a
/// retried request cheap. Seeds whose rows do not fit are staged (see `reconcile_rows`).
const SEED_STATEMENT_BYTES: usize = 4 * 1024 * 1024;

/// Makes the table's rows exactly `desired.rows` in one Delta commit of the table: one `MERGE`
/// by key from the rows inline when they fit in one statement, otherwise from a staging table
/// filled over several statements (see `reconcile_staged`).
fn reconcile_rows(provider: &DatabricksProvider, desired: &Value) -> Result<(), ProviderError> {
    let Some(rows) = desired.get("rows").and_then(Value::as_array) else {
        return Ok(());
    };
    if rows.is_empty() {
        sql(provider, format!("DELETE FROM {}", qualified(desired)))?;
        return Ok(());
    }
    let seed = SeedStatements::new(desired, rows);
    let inline = seed.merge_into_target(&seed.values(&seed.tuples));
    if inline.len() <= SEED_STATEMENT_BYTES {
        sql(provider, inline)?;
        return Ok(());
    }
    reconcile_staged(provider, desired, &seed)
}

/// The rows are written to a staging table beside the target in statements of at most
/// `SEED_STATEMENT_BYTES`, then merged into the target in one statement, and the staging table
/// is dropped. Until that last `MERGE` the target is untouched, so a failure part-way (a
/// refused batch, a lost connection) leaves it as it was. Every statement may be repeated: the
/// staging table is created with `OR REPLACE` (a leftover of an interrupted apply is reset) and
/// each batch is an insert-only `MERGE` by key, so a batch sent twice adds its rows once.
fn reconcile_staged(
    provider: &DatabricksProvider,
    desired: &Value,
    seed: &SeedStatements,
) -> Result<(), ProviderError> {
    let staging = seed.staging_table();
    let columns: Vec<String> = desired["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|column| {
            let mut column = column.clone();
            if let Some(fields) = column.as_object_mut() {
                fields.remove("comment");
            }
            column_definition(&column)
        })
        .collect();
    sql(
        provider,
        format!(
            "CREATE OR REPLACE TABLE {staging} ({}) USING DELTA COMMENT {}",
            columns.join(", "),
            quote_string(&format!(
                "lode: seed rows on their way to {}; dropped when the apply ends",
                full_name(desired)
            ))
        ),
    )?;
    let staged = (|| {
        let empty = seed.merge_into_staging(&staging, &seed.values(&[]));
        for batch in batches(
            &seed.tuples,
            SEED_STATEMENT_BYTES.saturating_sub(empty.len()),
        ) {
            sql(
                provider,
                seed.merge_into_staging(&staging, &seed.values(batch)),
            )?;
        }
        sql(
            provider,
            seed.merge_into_target(&format!("{staging} AS source")),
        )
    })();
    let dropped = sql(provider, format!("DROP TABLE IF EXISTS {staging}"));
    staged?;
    if let Err(error) = dropped {
        // The rows are in place; the next staged seed of this table replaces the leftover.
        tracing::warn!(table = %staging, %error, "could not drop the seed staging table");
    }
    Ok(())
}

/// The pieces of the statements that write one table's seed rows.
struct SeedStatements {
    target: String,
    catalog: String,
    schema: String,
    name: String,
    /// Each row as a SQL tuple of literals: `('HT_001', 20.0, DATE '2020-03-16')`.
    tuples: Vec<String>,
    /// The quoted column names, comma-separated.
    names: String,
    /// `target.k = source.k AND ...` over the key columns.
    on: String,
}

impl SeedStatements {
    fn new(desired: &Value, rows: &[Value]) -> SeedStatements {
        let columns = column_list(desired);
        let tuples = rows
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .as_array()
                    .into_iter()
                    .flatten()
                    .zip(&columns)
                    .map(|(cell, (_, data_type))| literal(cell, data_type))
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        let names: Vec<String> = columns.iter().map(|(n, _)| quote_identifier(n)).collect();
        let on: Vec<String> = key_columns(desired)
            .iter()
            .map(|k| format!("target.{0} = source.{0}", quote_identifier(k)))
            .collect();
        SeedStatements {
            target: qualified(desired),
            catalog: text(desired, "catalog").to_string(),
            schema: text(desired, "schema").to_string(),
            name: text(desired, "name").to_string(),
            tuples,
            names: names.join(", "),
            on: on.join(" AND "),
        }
    }

    /// `(VALUES ...) AS source(cols)` over some of the rows.
    fn values(&self, tuples: &[String]) -> String {
        format!("(VALUES {}) AS source({})", tuples.join(", "), self.names)
    }

    /// The statement that makes the target's rows exactly `source`'s, as one commit.
    fn merge_into_target(&self, source: &str) -> String {
        format!(
            "MERGE INTO {} AS target USING {source} ON {} \
             WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * WHEN NOT MATCHED BY SOURCE THEN DELETE",
            self.target, self.on
        )
    }

    /// Adds `source`'s rows to the staging table, each once however often it is sent.
    fn merge_into_staging(&self, staging: &str, source: &str) -> String {
        format!(
            "MERGE INTO {staging} AS target USING {source} ON {} WHEN NOT MATCHED THEN INSERT *",
            self.on
        )
    }

    /// The staging table: beside the target (the same catalog and schema, so the same
    /// permissions), named after it so an interrupted apply's leftover is found and replaced.
    fn staging_table(&self) -> String {
        format!(
            "{}.{}.{}",
            quote_identifier(&self.catalog),
            quote_identifier(&self.schema),
            quote_identifier(&format!("__lode_seed_{}", self.name))
        )
    }
}

/// Consecutive runs of `tuples` whose `, `-joined text stays within `budget` bytes; a tuple
/// longer than the budget on its own is a run of its own.
fn batches(tuples: &[String], budget: usize) -> Vec<&[String]> {
    let mut runs = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (index, tuple) in tuples.iter().enumerate() {
        let added = tuple.len() + if index > start { 2 } else { 0 };
        if index > start && size + added > budget {
            runs.push(&tuples[start..index]);
            (start, size) = (index, tuple.len());
        } else {
            size += added;
        }
    }
    if start < tuples.len() {
        runs.push(&tuples[start..]);
    }
    runs
}

/// Reads the table back after a change.
fn reread(provider: &DatabricksProvider, desired: &Value) -> Result<LiveObject, ProviderError> {
    let request = RefreshRequest {
        address: Address::new(Kind::Table, text(desired, "name")),
        spec: desired.clone(),
        id: None,
        last_read: None,
    };
    read_tables(provider, &[&request])?
        .into_values()
        .next()
        .ok_or_else(|| {
            ProviderError::Refused(format!(
                "table {} is missing right after it was written",
                full_name(desired)
            ))
        })
}

pub fn create_table(
    provider: &DatabricksProvider,
    desired: &Value,
) -> Result<LiveObject, ProviderError> {
    let created = sql(provider, create_statement(desired, false));
    if let Err(error) = created {
        // A lost answer to an earlier create: the table is there and is reconciled as an update.
        if !error.to_string().contains("TABLE_OR_VIEW_ALREADY_EXISTS") {
            return Err(error);
        }
    }
    let version = current_version(provider, desired)?;
    reconcile_rows(provider, desired)?;
    let mut live = reread(provider, desired)?;
    if let Some(version) = version {
        live.outputs
            .insert("version_before_apply".into(), json!(version));
    }
    Ok(live)
}

pub fn update_table(
    provider: &DatabricksProvider,
    desired: &Value,
    live: &LiveObject,
    options: &ChangeOptions,
) -> Result<LiveObject, ProviderError> {
    let have = &live.spec;
    let version = current_version(provider, desired)?;
    let live_columns = column_list(have);
    let destructive = crate::manifest::table_data::rewrite_reason(have, desired).is_some();
    if destructive {
        if !options.allow_data_loss {
            return Err(ProviderError::Refused(format!(
                "{} would drop or retype a column; allow it with --allow-data-loss",
                full_name(desired)
            )));
        }
        // Delta cannot drop or retype a column in place: the table is created again.
        sql(provider, create_statement(desired, true))?;
    } else {
        let new: Vec<String> = desired["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| !live_columns.iter().any(|(n, _)| n == text(c, "name")))
            .map(|c| {
                // Added columns cannot be NOT NULL: existing rows have no value for them.
                let mut column = c.clone();
                column["nullable"] = json!(true);
                column_definition(&column)
            })
            .collect();
        if !new.is_empty() {
            sql(
                provider,
                format!(
                    "ALTER TABLE {} ADD COLUMNS ({})",
                    qualified(desired),
                    new.join(", ")
                ),
            )?;
        }
        for column in desired["columns"].as_array().into_iter().flatten() {
            let name = text(column, "name");
            let before = have["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| text(c, "name") == name);
            if before.is_some_and(|b| b.get("comment") != column.get("comment")) {
                let comment = column.get("comment").and_then(Value::as_str).unwrap_or("");
                sql(
                    provider,
                    format!(
                        "ALTER TABLE {} ALTER COLUMN {} COMMENT {}",
                        qualified(desired),
                        quote_identifier(name),
                        quote_string(comment)
                    ),
                )?;
            }
        }
        if desired.get("comment") != have.get("comment") {
            let comment = desired.get("comment").and_then(Value::as_str).unwrap_or("");
            sql(
                provider,
                format!(
                    "COMMENT ON TABLE {} IS {}",
                    qualified(desired),
                    quote_string(comment)
                ),
            )?;
        }
        let empty = serde_json::Map::new();
        let wanted = desired
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let current = have
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let changed: serde_json::Map<String, Value> = wanted
            .iter()
            .filter(|(k, v)| current.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !changed.is_empty() {
            sql(
                provider,
                format!(
                    "ALTER TABLE {} SET TBLPROPERTIES ({})",
                    qualified(desired),
                    properties_clause(&changed)
                ),
            )?;
        }
        let removed: BTreeSet<&String> = current
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .collect();
        if !removed.is_empty() {
            let keys = removed
                .iter()
                .map(|k| quote_string(k))
                .collect::<Vec<_>>()
                .join(", ");
            sql(
                provider,
                format!(
                    "ALTER TABLE {} UNSET TBLPROPERTIES ({keys})",
                    qualified(desired)
                ),
            )?;
        }
    }
    if desired.get("rows") != have.get("rows") || destructive {
        reconcile_rows(provider, desired)?;
    }
    let mut live = reread(provider, desired)?;
    if let Some(version) = version {
        live.outputs
            .insert("version_before_apply".into(), json!(version));
    }
    Ok(live)
}

/// The table's row count, now or at a Delta version.
pub fn count_rows(
    provider: &DatabricksProvider,
    spec: &Value,
    version: Option<i64>,
) -> Result<u64, ProviderError> {
    let travel = version
        .map(|v| format!(" VERSION AS OF {v}"))
        .unwrap_or_default();
    let result = sql(
        provider,
        format!("SELECT COUNT(*) AS n FROM {}{travel}", qualified(spec)),
    )?;
    result
        .value(0, "n")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| ProviderError::Refused("COUNT(*) returned no number".into()))
}

/// `RESTORE TABLE ... VERSION AS OF`: data and metadata back to that version, as a new commit.
pub fn restore_version(
    provider: &DatabricksProvider,
    spec: &Value,
    version: i64,
) -> Result<(), ProviderError> {
    sql(
        provider,
        format!(
            "RESTORE TABLE {} TO VERSION AS OF {version}",
            qualified(spec)
        ),
    )?;
    Ok(())
}

pub fn drop_table(provider: &DatabricksProvider, live: &Value) -> Result<(), ProviderError> {
    sql(
        provider,
        format!("DROP TABLE IF EXISTS {}", qualified(live)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_stay_within_the_budget_and_keep_every_row_once_in_order() {
        let tuples: Vec<String> = ["(1)", "(22)", "(333)", "(4444)", "(55555)"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        // "(1), (22)" is 9 bytes; adding ", (333)" would make 16.
        let runs = batches(&tuples, 12);
        assert_eq!(
            runs,
            [&tuples[0..2], &tuples[2..3], &tuples[3..4], &tuples[4..5]]
        );
        // A tuple over the budget on its own still goes, alone.
        assert_eq!(batches(&tuples, 3), tuples.chunks(1).collect::<Vec<_>>());
        assert_eq!(batches(&tuples, 1000), [&tuples[..]]);
        assert!(batches(&[], 10).is_empty());
    }

    #[test]
    fn a_seed_too_large_for_one_statement_is_staged_beside_its_table() {
        let desired = json!({
            "catalog": "main", "schema": "plant", "name": "sites",
            "primary_key": ["id"],
            "columns": [{"name": "id", "type": "int"}, {"name": "name", "type": "string"}],
        });
        let rows = vec![json!(["1", "North"]), json!(["2", "O'Neil"])];
        let seed = SeedStatements::new(&desired, &rows);
        assert_eq!(seed.tuples, ["(1, 'North')", "(2, 'O\\'Neil')"]);
        assert_eq!(seed.staging_table(), "`main`.`plant`.`__lode_seed_sites`");
        assert_eq!(
            seed.merge_into_staging("s", &seed.values(&seed.tuples[..1])),
            "MERGE INTO s AS target USING (VALUES (1, 'North')) AS source(`id`, `name`) \
             ON target.`id` = source.`id` WHEN NOT MATCHED THEN INSERT *"
        );
        assert!(
            seed.merge_into_target("s AS source").starts_with(
                "MERGE INTO `main`.`plant`.`sites` AS target USING s AS source ON target.`id` = source.`id` WHEN MATCHED"
            )
        );
    }
}
