//! Delta storage for the SQL engine: every table is a real Delta table on the local file system
//! (`deltalake`, default features). This file owns the mapping between the engine's rows and
//! Arrow/Parquet, and the handful of commit shapes every statement reduces to: create (with or
//! without data), append, replace-the-row-set (MERGE, DELETE, UPDATE, overwrite; one commit of
//! Add + Remove actions), restore, metadata changes, and reading history. Each commit carries
//! the Databricks operation name, parameters and metrics in its commitInfo (`lode*` keys), so
//! DESCRIBE HISTORY can print what Databricks would.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray, new_null_array,
};
use deltalake::arrow::compute::{CastOptions, cast_with_options};
use deltalake::arrow::datatypes::{
    DataType as ArrowType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int8Type,
    Int16Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, MetadataValue, StructField};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder};
use futures::TryStreamExt;
use serde_json::{Map, Value as Json, json};
use url::Url;

use super::SqlError;
use super::types::{SqlType, Value};

/// Commit info keys the engine writes next to delta-rs' own (which it cannot fully control).
const KEY_OPERATION: &str = "lodeOperation";
const KEY_PARAMETERS: &str = "lodeOperationParameters";
const KEY_METRICS: &str = "lodeOperationMetrics";

/// The user every commit is attributed to (the emulator has no identities at this layer).
pub(crate) const USER_NAME: &str = "emulator@lode.local";

#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    pub comment: Option<String>,
}

impl Column {
    pub(crate) fn to_delta(&self) -> StructField {
        let f = StructField::new(self.name.clone(), self.ty.to_delta(), self.nullable);
        match &self.comment {
            // MetadataValue::String, not JSON: JSON metadata would be stored quoted (recipes, gotcha 3).
            Some(c) => f.with_metadata([("comment", MetadataValue::String(c.clone()))]),
            None => f,
        }
    }

    /// The column as Delta's schema JSON spells it, for ADD COLUMNS / CHANGE COLUMN history.
    pub(crate) fn history_json(&self) -> Json {
        let mut md = Map::new();
        if let Some(c) = &self.comment {
            md.insert("comment".into(), json!(c));
        }
        json!({"name": self.name, "type": self.ty.catalog_text(), "nullable": self.nullable, "metadata": md})
    }

    pub(crate) fn arrow_type(&self) -> ArrowType {
        match self.ty {
            SqlType::String | SqlType::Null => ArrowType::Utf8,
            SqlType::Byte => ArrowType::Int8,
            SqlType::Short => ArrowType::Int16,
            SqlType::Int => ArrowType::Int32,
            SqlType::Long => ArrowType::Int64,
            SqlType::Float => ArrowType::Float32,
            SqlType::Double => ArrowType::Float64,
            SqlType::Boolean => ArrowType::Boolean,
            SqlType::Date => ArrowType::Date32,
            SqlType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            SqlType::Decimal(p, s) => ArrowType::Decimal128(p, s as i8),
        }
    }
}

/// What DESCRIBE HISTORY shows for one commit, in Databricks' terms.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub operation: &'static str,
    /// Appends that read nothing (INSERT ... VALUES) are blind appends in Delta's terms.
    pub blind_append: bool,
    pub parameters: Map<String, Json>,
    pub metrics: Map<String, Json>,
}

impl Commit {
    pub(crate) fn new(operation: &'static str) -> Commit {
        Commit {
            operation,
            blind_append: false,
            parameters: Map::new(),
            metrics: Map::new(),
        }
    }

    /// Adds a parameter; Databricks' operationParameters is a map of strings.
    pub(crate) fn param(mut self, key: &str, value: impl ToString) -> Commit {
        self.parameters
            .insert(key.into(), Json::String(value.to_string()));
        self
    }

    pub(crate) fn metric(mut self, key: &str, value: impl ToString) -> Commit {
        self.metrics
            .insert(key.into(), Json::String(value.to_string()));
        self
    }

    /// `read_version` is the version the statement read (none for a new table); delta-rs
    /// promotes it, like `userName`, into the typed commitInfo field.
    pub(crate) fn properties(&self, read_version: Option<u64>) -> CommitProperties {
        let mut md = vec![
            (KEY_OPERATION.to_string(), json!(self.operation)),
            (
                KEY_PARAMETERS.to_string(),
                Json::Object(self.parameters.clone()),
            ),
            (KEY_METRICS.to_string(), Json::Object(self.metrics.clone())),
            ("userName".to_string(), json!(USER_NAME)),
            ("isBlindAppend".to_string(), json!(self.blind_append)),
        ];
        if let Some(v) = read_version {
            md.push(("readVersion".to_string(), json!(v)));
        }
        CommitProperties::default().with_metadata(md)
    }
}

pub(crate) fn dir_url(dir: &Path) -> Result<Url, SqlError> {
    Url::from_directory_path(dir)
        .map_err(|_| SqlError::internal(format!("not an absolute path: {}", dir.display())))
}

/// A folder holds a table when its Delta log has at least one entry.
pub(crate) fn is_table(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("_delta_log")).is_ok_and(|mut entries| entries.next().is_some())
}

pub(crate) async fn open(dir: &Path) -> Result<DeltaTable, SqlError> {
    Ok(deltalake::open_table(dir_url(dir)?).await?)
}

pub(crate) async fn open_version(dir: &Path, version: u64) -> Result<DeltaTable, SqlError> {
    Ok(DeltaTableBuilder::from_url(dir_url(dir)?)?
        .with_version(version as _)
        .load()
        .await?)
}

pub(crate) fn version(t: &DeltaTable) -> u64 {
    t.version().unwrap_or(0)
}

/// The newest version of the table in `dir`, from its log's file names rather than its
/// snapshot: a continuous pipeline asks several times a second, and loading the snapshot for
/// that (the checkpoint and every commit after it, each commit file decoded into buffers sized
/// for a thousand actions) costs as much as reading the table. The walk starts at the version
/// Delta's `_last_checkpoint` hint names and steps while the next commit file exists; a commit
/// file appears whole (written aside, then renamed), so none is seen half written.
pub(crate) async fn latest_version(dir: &Path) -> Result<u64, SqlError> {
    let log = dir.join("_delta_log");
    let hint = std::fs::read(log.join("_last_checkpoint"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Json>(&bytes).ok())
        .and_then(|hint| hint.get("version")?.as_u64());
    let Some(mut latest) = hint else {
        // No checkpoint yet: fewer commits than the interval, so the snapshot is small.
        return Ok(version(&open(dir).await?));
    };
    while log.join(format!("{:020}.json", latest + 1)).is_file() {
        latest += 1;
    }
    Ok(latest)
}

pub(crate) fn columns(t: &DeltaTable) -> Result<Vec<Column>, SqlError> {
    let schema = t.snapshot()?.schema();
    schema
        .fields()
        .map(|f| {
            let ty = SqlType::from_delta(f.data_type()).ok_or_else(|| {
                SqlError::internal(format!("unsupported column type in {}", f.name()))
            })?;
            let comment = match f.metadata().get("comment") {
                Some(MetadataValue::String(s)) => Some(s.clone()),
                Some(MetadataValue::Other(Json::String(s))) => Some(s.clone()),
                _ => None,
            };
            Ok(Column {
                name: f.name().clone(),
                ty,
                nullable: f.is_nullable(),
                comment,
            })
        })
        .collect()
}

pub(crate) fn configuration(t: &DeltaTable) -> Result<HashMap<String, String>, SqlError> {
    Ok(t.snapshot()?.metadata().configuration().clone())
}

pub(crate) fn description(t: &DeltaTable) -> Result<Option<String>, SqlError> {
    Ok(t.snapshot()?
        .metadata()
        .description()
        .map(str::to_string)
        .filter(|d| !d.is_empty()))
}

/// The live data files (path, size), oldest first.
pub(crate) async fn files(t: &DeltaTable) -> Result<Vec<(String, i64, i64)>, SqlError> {
    let snap = t.snapshot()?;
    let mut views: Vec<_> = snap
        .snapshot()
        .file_views(t.log_store().as_ref(), None)
        .try_collect()
        .await?;
    // file_views is newest first; reverse, then order by write time (stable) so rows come back
    // in insertion order even after a checkpoint reshuffles the log (recipes, gotcha 9).
    views.reverse();
    views.sort_by_key(|f| f.modification_time());
    Ok(views
        .iter()
        .map(|f| (f.path().to_string(), f.size(), f.modification_time()))
        .collect())
}

/// All rows of the loaded version, in insertion order. Files written before an ADD COLUMNS
/// lack the new columns; those read as NULL.
pub(crate) async fn read_rows(
    t: &DeltaTable,
    cols: &[Column],
) -> Result<Vec<Vec<Value>>, SqlError> {
    let mut out = Vec::new();
    for batch in read_batches(t).await? {
        let columns: Vec<Vec<Value>> = batch
            .columns()
            .iter()
            .zip(cols)
            .map(|(arr, col)| array_values(arr, &col.ty))
            .collect();
        for r in 0..batch.num_rows() {
            out.push(columns.iter().map(|c| c[r].clone()).collect());
        }
    }
    Ok(out)
}

/// [`read_rows`] as Arrow batches in the table's schema.
pub(crate) async fn read_batches(t: &DeltaTable) -> Result<Vec<RecordBatch>, SqlError> {
    let snap = t.snapshot()?;
    let schema = snap.snapshot().arrow_schema();
    let mut views: Vec<_> = snap
        .snapshot()
        .file_views(t.log_store().as_ref(), None)
        .try_collect()
        .await?;
    views.reverse();
    views.sort_by_key(|f| f.modification_time());
    let mut out = Vec::new();
    for f in views {
        out.extend(read_data_file(t, &f.object_store_path(), &schema).await?);
    }
    Ok(out)
}

/// The rows of one data file of `t` (live or not: a file stays readable until it is vacuumed)
/// as batches in `schema`; columns the file lacks (written before an ADD COLUMNS) read as NULL.
pub(crate) async fn read_data_file(
    t: &DeltaTable,
    path: &deltalake::Path,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, SqlError> {
    let bytes = t
        .object_store()
        .get(path)
        .await
        .map_err(SqlError::internal)?
        .bytes()
        .await
        .map_err(SqlError::internal)?;
    let mut out = Vec::new();
    for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()? {
        let batch = batch?;
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            columns.push(match batch.column_by_name(field.name()) {
                Some(c) => cast_with_options(c, field.data_type(), &CastOptions::default())?,
                None => new_null_array(field.data_type(), batch.num_rows()),
            });
        }
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(out)
}

/// The actions of the commit that made `version` of `t`, as its log file holds them.
pub(crate) async fn commit_actions(t: &DeltaTable, version: u64) -> Result<Vec<Action>, SqlError> {
    let bytes = t
        .log_store()
        .read_commit_entry(version as _)
        .await?
        .ok_or_else(|| SqlError::internal(format!("the log has no commit {version}")))?;
    Ok(deltalake::logstore::get_actions(version as _, &bytes)?)
}

pub(crate) fn array_values(arr: &ArrayRef, ty: &SqlType) -> Vec<Value> {
    fn collect<T>(
        arr: &ArrayRef,
        get: impl Fn(usize) -> T,
        wrap: impl Fn(T) -> Value,
    ) -> Vec<Value> {
        (0..arr.len())
            .map(|i| {
                if arr.is_null(i) {
                    Value::Null
                } else {
                    wrap(get(i))
                }
            })
            .collect()
    }
    match ty {
        SqlType::String | SqlType::Null => {
            let a = arr.as_string::<i32>();
            collect(arr, |i| a.value(i).to_string(), Value::Str)
        }
        SqlType::Byte => {
            let a = arr.as_primitive::<Int8Type>();
            collect(arr, |i| a.value(i) as i64, Value::Int)
        }
        SqlType::Short => {
            let a = arr.as_primitive::<Int16Type>();
            collect(arr, |i| a.value(i) as i64, Value::Int)
        }
        SqlType::Int => {
            let a = arr.as_primitive::<Int32Type>();
            collect(arr, |i| a.value(i) as i64, Value::Int)
        }
        SqlType::Long => {
            let a = arr.as_primitive::<Int64Type>();
            collect(arr, |i| a.value(i), Value::Int)
        }
        SqlType::Float => {
            let a = arr.as_primitive::<Float32Type>();
            collect(arr, |i| a.value(i), Value::Float)
        }
        SqlType::Double => {
            let a = arr.as_primitive::<Float64Type>();
            collect(arr, |i| a.value(i), Value::Double)
        }
        SqlType::Boolean => {
            let a = arr.as_boolean();
            collect(arr, |i| a.value(i), Value::Bool)
        }
        SqlType::Date => {
            let a = arr.as_primitive::<Date32Type>();
            collect(arr, |i| a.value(i), Value::Date)
        }
        SqlType::Timestamp => {
            let a = arr.as_primitive::<TimestampMicrosecondType>();
            collect(arr, |i| a.value(i), Value::Timestamp)
        }
        SqlType::Decimal(_, s) => {
            let a = arr.as_primitive::<Decimal128Type>();
            let s = *s;
            collect(arr, |i| a.value(i), move |m| Value::Decimal(m, s))
        }
    }
}

pub(crate) fn arrow_schema(cols: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|c| Field::new(c.name.clone(), c.arrow_type(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Rows already cast to the column types as one Arrow batch with those columns.
pub(crate) fn record_batch(cols: &[Column], rows: &[Vec<Value>]) -> Result<RecordBatch, SqlError> {
    batch(arrow_schema(cols), cols, rows)
}

/// Builds a batch from rows already cast to the column types (the executor guarantees it).
fn batch(schema: SchemaRef, cols: &[Column], rows: &[Vec<Value>]) -> Result<RecordBatch, SqlError> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(cols.len());
    for (i, (col, field)) in cols.iter().zip(schema.fields().iter()).enumerate() {
        let vals = rows.iter().map(|r| &r[i]);
        let int = |v: &Value| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        };
        let arr: ArrayRef = match &col.ty {
            SqlType::String | SqlType::Null => {
                Arc::new(StringArray::from_iter(vals.map(|v| match v {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })))
            }
            SqlType::Byte => Arc::new(Int8Array::from_iter(vals.map(|v| int(v).map(|i| i as i8)))),
            SqlType::Short => Arc::new(Int16Array::from_iter(
                vals.map(|v| int(v).map(|i| i as i16)),
            )),
            SqlType::Int => Arc::new(Int32Array::from_iter(
                vals.map(|v| int(v).map(|i| i as i32)),
            )),
            SqlType::Long => Arc::new(Int64Array::from_iter(vals.map(int))),
            SqlType::Float => Arc::new(Float32Array::from_iter(vals.map(|v| match v {
                Value::Float(f) => Some(*f),
                _ => None,
            }))),
            SqlType::Double => Arc::new(Float64Array::from_iter(vals.map(|v| match v {
                Value::Double(f) => Some(*f),
                _ => None,
            }))),
            SqlType::Boolean => Arc::new(BooleanArray::from_iter(vals.map(|v| match v {
                Value::Bool(b) => Some(*b),
                _ => None,
            }))),
            SqlType::Date => Arc::new(Date32Array::from_iter(vals.map(|v| match v {
                Value::Date(d) => Some(*d),
                _ => None,
            }))),
            SqlType::Timestamp => {
                let tz = match field.data_type() {
                    ArrowType::Timestamp(_, tz) => tz.clone(),
                    _ => Some("UTC".into()),
                };
                Arc::new(
                    TimestampMicrosecondArray::from_iter(vals.map(|v| match v {
                        Value::Timestamp(t) => Some(*t),
                        _ => None,
                    }))
                    .with_timezone_opt(tz),
                )
            }
            SqlType::Decimal(p, s) => Arc::new(
                Decimal128Array::from_iter(vals.map(|v| match v {
                    Value::Decimal(m, _) => Some(*m),
                    _ => None,
                }))
                .with_precision_and_scale(*p, *s as i8)?,
            ),
        };
        arrays.push(arr);
    }
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// Writes rows as new Parquet files in the table folder without committing them.
pub(crate) async fn write_files(
    t: &DeltaTable,
    cols: &[Column],
    rows: &[Vec<Value>],
) -> Result<Vec<Add>, SqlError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let schema = t.snapshot()?.snapshot().arrow_schema();
    let mut w = RecordBatchWriter::for_table(t)?;
    w.write(batch(schema, cols, rows)?).await?;
    Ok(w.flush().await?)
}

/// Writes rows into a folder that has no table yet (CTAS, CLONE, CREATE OR REPLACE ... AS).
pub(crate) async fn write_files_at(
    dir: &Path,
    cols: &[Column],
    rows: &[Vec<Value>],
) -> Result<Vec<Add>, SqlError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let schema = arrow_schema(cols);
    let mut w = RecordBatchWriter::try_new(dir_url(dir)?.as_str(), schema.clone(), None, None)?;
    w.write(batch(schema, cols, rows)?).await?;
    Ok(w.flush().await?)
}

pub(crate) struct CreateSpec<'a> {
    pub name: &'a str,
    pub comment: Option<&'a str>,
    pub columns: &'a [Column],
    pub configuration: &'a HashMap<String, String>,
    pub adds: Vec<Add>,
    /// `Overwrite` replaces an existing table in the same folder, keeping its history.
    pub replace: bool,
}

pub(crate) async fn create(
    dir: &Path,
    spec: CreateSpec<'_>,
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    std::fs::create_dir_all(dir)?;
    let url = dir_url(dir)?;
    let read_version = if spec.replace && is_table(dir) {
        Some(version(&open(dir).await?))
    } else {
        None
    };
    let mut b = DeltaTable::try_from_url(url)
        .await?
        .create()
        .with_table_name(spec.name)
        .with_columns(spec.columns.iter().map(Column::to_delta))
        .with_configuration(
            spec.configuration
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone()))),
        )
        // Custom keys (user TBLPROPERTIES, lode.*) are refused otherwise (recipes, gotcha 4).
        .with_raise_if_key_not_exists(false)
        .with_actions(spec.adds.into_iter().map(Action::Add))
        .with_save_mode(if spec.replace {
            SaveMode::Overwrite
        } else {
            SaveMode::ErrorIfExists
        })
        .with_commit_properties(commit.properties(read_version));
    if let Some(c) = spec.comment {
        b = b.with_comment(c);
    }
    Ok(b.await?)
}

/// Commits written files in one commit; with `replace_all` the commit also removes every live
/// file, which replaces the whole row set (MERGE, DELETE, UPDATE, overwrite). Tables here are
/// small, so rewriting everything is cheaper than being clever. A commit that only appended is
/// followed by auto compaction ([`super::compaction`]), which may commit once more. Returns the
/// version of the write's own commit.
pub(crate) async fn commit_files(
    t: &mut DeltaTable,
    adds: Vec<Add>,
    replace_all: bool,
    op: DeltaOperation,
    commit: &Commit,
) -> Result<u64, SqlError> {
    let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    let snap = t.snapshot()?;
    if replace_all {
        let removes: Vec<Action> = snap
            .snapshot()
            .file_views(t.log_store().as_ref(), None)
            .map_ok(|f| Action::Remove(f.remove_action(true)))
            .try_collect()
            .await?;
        actions.extend(removes);
    }
    // From<CommitProperties> keeps checkpointing on (CommitBuilder::default() never checkpoints).
    let read_version = Some(version(t));
    let v = CommitBuilder::from(commit.properties(read_version))
        .with_actions(actions)
        .build(Some(snap), t.log_store(), op)
        .await?
        .version();
    t.update_state().await?;
    if !replace_all {
        super::compaction::after_write(t).await;
    }
    Ok(v as u64)
}

/// One DESCRIBE HISTORY row.
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    pub version: u64,
    pub timestamp: Option<i64>,
    pub user_name: Option<String>,
    pub operation: String,
    pub parameters: Map<String, Json>,
    pub read_version: Option<u64>,
    pub isolation_level: Option<String>,
    pub blind_append: Option<bool>,
    pub metrics: Map<String, Json>,
    pub user_metadata: Option<String>,
    pub engine_info: Option<String>,
}

fn stringify(map: impl IntoIterator<Item = (String, Json)>) -> Map<String, Json> {
    map.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Json::String(s) => s,
                other => other.to_string(),
            };
            (k, Json::String(s))
        })
        .collect()
}

/// Databricks' name for a delta-rs operation, for commits not written by this engine.
fn databricks_operation(op: &str) -> String {
    match op {
        "ADD COLUMN" => "ADD COLUMNS",
        "UPDATE FIELD METADATA" => "CHANGE COLUMN",
        "UPDATE TABLE METADATA" => "SET TBLPROPERTIES",
        other => other,
    }
    .to_string()
}

pub(crate) async fn history(
    t: &DeltaTable,
    limit: Option<usize>,
) -> Result<Vec<HistoryEntry>, SqlError> {
    let latest = version(t);
    let commits: Vec<_> = t.history(limit).try_collect().await?;
    let mut out = Vec::new();
    for (i, c) in commits.into_iter().enumerate() {
        let mut info = c.info;
        let operation = match info.remove(KEY_OPERATION) {
            Some(Json::String(s)) => s,
            _ => databricks_operation(c.operation.as_deref().unwrap_or("UNKNOWN")),
        };
        let parameters = match info.remove(KEY_PARAMETERS) {
            Some(Json::Object(m)) => stringify(m),
            _ => stringify(c.operation_parameters.unwrap_or_default()),
        };
        let metrics = match info.remove(KEY_METRICS) {
            Some(Json::Object(m)) if !m.is_empty() => stringify(m),
            _ => match info.remove("operationMetrics") {
                Some(Json::Object(m)) => stringify(m),
                _ => Map::new(),
            },
        };
        out.push(HistoryEntry {
            // CommitInfo has no version; history is newest first (recipes, gotcha 5).
            version: latest.saturating_sub(i as u64),
            timestamp: c.timestamp,
            user_name: c.user_name,
            operation,
            parameters,
            read_version: c.read_version,
            isolation_level: c.isolation_level.map(|l| format!("{l:?}")),
            blind_append: c.is_blind_append,
            metrics,
            user_metadata: c.user_metadata,
            engine_info: c.engine_info,
        });
    }
    Ok(out)
}

/// Timestamp (ms) of the newest commit.
pub(crate) async fn last_commit_time(t: &DeltaTable) -> Result<Option<i64>, SqlError> {
    let commits: Vec<_> = t.history(Some(1)).try_collect().await?;
    Ok(commits.first().and_then(|c| c.timestamp))
}

/// Restores `version` in one RESTORE commit (data files, schema and properties).
pub(crate) async fn restore(
    t: DeltaTable,
    target: u64,
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    let rv = Some(version(&t));
    let (t, _metrics) = t
        .restore()
        .with_version_to_restore(target as _)
        .with_commit_properties(commit.properties(rv))
        .await?;
    Ok(t)
}

/// The metadata-only ALTER commits, each a delta-rs builder with our commit info attached.
pub(crate) async fn add_columns(
    t: DeltaTable,
    cols: &[Column],
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    let rv = Some(version(&t));
    Ok(t.add_columns()
        .with_fields(cols.iter().map(Column::to_delta).collect::<Vec<_>>())
        .with_commit_properties(commit.properties(rv))
        .await?)
}

pub(crate) async fn set_column_comment(
    t: DeltaTable,
    column: &str,
    comment: &str,
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    let rv = Some(version(&t));
    Ok(t.update_field_metadata()
        .with_field_name(column)
        .with_metadata(HashMap::from([(
            "comment".to_string(),
            MetadataValue::String(comment.to_string()),
        )]))
        .with_commit_properties(commit.properties(rv))
        .await?)
}

pub(crate) async fn set_properties(
    t: DeltaTable,
    props: HashMap<String, String>,
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    let rv = Some(version(&t));
    Ok(t.set_tbl_properties()
        .with_properties(props)
        .with_raise_if_not_exists(false)
        .with_commit_properties(commit.properties(rv))
        .await?)
}

pub(crate) async fn set_description(
    t: DeltaTable,
    description: &str,
    commit: &Commit,
) -> Result<DeltaTable, SqlError> {
    let rv = Some(version(&t));
    use deltalake::operations::update_table_metadata::TableMetadataUpdate;
    Ok(t.update_table_metadata()
        .with_update(TableMetadataUpdate {
            name: None,
            description: Some(description.to_string()),
        })
        .with_commit_properties(commit.properties(rv))
        .await?)
}

/// The newest version committed at or before `micros`, with Databricks' errors for an
/// instant after the newest commit or before the oldest one kept.
pub(crate) async fn version_at(table: &DeltaTable, micros: i64) -> Result<u64, SqlError> {
    let ts = micros.div_euclid(1000);
    let history = history(table, None).await?;
    let fmt = |ms: i64| super::types::fmt_timestamp_iso(ms * 1000);
    if let Some(newest) = history.first().and_then(|h| h.timestamp)
        && ts > newest
    {
        return Err(SqlError::new(
            "DELTA_TIMESTAMP_GREATER_THAN_COMMIT",
            "42816",
            format!(
                "The provided timestamp ({}) is after the latest version available to this table ({}). Please use a timestamp before or at {}.",
                fmt(ts),
                fmt(newest),
                fmt(newest)
            ),
        ));
    }
    match history
        .iter()
        .find(|h| h.timestamp.is_some_and(|t| t <= ts))
    {
        Some(h) => Ok(h.version),
        None => {
            let oldest = history.last().and_then(|h| h.timestamp).unwrap_or(0);
            Err(SqlError::new(
                "DELTA_TIMESTAMP_EARLIER_THAN_COMMIT_RETENTION",
                "42816",
                format!(
                    "The provided timestamp ({}) is before the earliest version available to this table ({}). Please use a timestamp after {}.",
                    fmt(ts),
                    fmt(oldest),
                    fmt(oldest)
                ),
            ))
        }
    }
}
