//! Statement execution: the session (request defaults for names, the statement's parameters)
//! and every Delta-specific statement except the row-changing ones (in `dml.rs`): catalog
//! and schema DDL, CREATE TABLE (columns, AS SELECT, DEEP CLONE, OR REPLACE), ALTER TABLE,
//! DESCRIBE, RESTORE, DROP and SHOW. Each table change holds the table's lock and is exactly
//! one Delta commit, so DESCRIBE HISTORY shows one entry per statement.

use std::collections::{BTreeMap, HashMap};

use deltalake::kernel::Add;
use serde_json::json;

use super::ast::{AlterColumn, ColumnSpec, CreateBody, ObjName, PrimaryKey, Statement, TimeTravel};
use super::catalog;
use super::storage::{self, Column, Commit};
use super::types::{SqlType, like, parse_timestamp};
use super::{
    ColumnMeta, KEY_CREATED_AT, KEY_PIPELINE_ID, KEY_PRIMARY_KEY, KEY_TABLE_ID, KEY_TABLE_TYPE,
    ResultSet, SqlEngine, SqlError, TableName, check_name, now_ms, user_properties,
};

pub(crate) struct Session<'a> {
    pub engine: &'a SqlEngine,
    pub catalog: String,
    pub schema: String,
    pub parameters: &'a [(String, Option<String>)],
    /// A MERGE source's literal rows, readable as `__lode_statement.inline.source` (see
    /// [`super::inline_rows`]).
    pub statement_rows: Option<deltalake::arrow::array::RecordBatch>,
}

/// A loaded table at the version a statement reads.
pub(crate) struct LoadedTable {
    pub table: deltalake::DeltaTable,
    pub columns: Vec<Column>,
}

/// The Delta configuration of a new table: user properties plus the engine's identity keys.
pub(crate) fn new_table_config(user: Option<&BTreeMap<String, String>>) -> HashMap<String, String> {
    let mut config: HashMap<String, String> = user
        .map(|u| u.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    config.insert(KEY_TABLE_ID.into(), uuid::Uuid::new_v4().to_string());
    config.insert(KEY_CREATED_AT.into(), now_ms().to_string());
    // A checkpoint every 10 commits, Delta's (and Databricks') default; delta-rs would wait
    // for 100, and a table a stream appends to every second would replay up to 100 JSON
    // commits on every read. Hidden like every `delta.*` key (see `user_properties`).
    config
        .entry("delta.checkpointInterval".into())
        .or_insert_with(|| "10".into());
    config
}

/// The CREATE TABLE history entry, with the parameters Databricks records.
pub(crate) fn create_commit(
    operation: &'static str,
    comment: Option<&str>,
    config: &HashMap<String, String>,
) -> Commit {
    let props: serde_json::Map<String, serde_json::Value> = user_properties(config)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    let mut c = Commit::new(operation)
        .param("partitionBy", "[]")
        .param("isManaged", "true")
        .param("properties", serde_json::Value::Object(props))
        .param("statsOnLoad", "false");
    if let Some(d) = comment {
        c = c.param("description", d);
    }
    c
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn create_table_files(
    engine: &SqlEngine,
    name: &TableName,
    columns: &[Column],
    comment: Option<&str>,
    config: &HashMap<String, String>,
    adds: Vec<Add>,
    replace: bool,
    commit: &Commit,
) -> Result<(), SqlError> {
    let spec = storage::CreateSpec {
        name: &name.table,
        comment,
        columns,
        configuration: config,
        adds,
        replace,
    };
    storage::create(&engine.table_dir(name), spec, commit).await?;
    Ok(())
}

fn long_result(names: &[&str], values: &[i64]) -> ResultSet {
    ResultSet {
        columns: names
            .iter()
            .map(|n| ColumnMeta::of(n, &SqlType::Long))
            .collect(),
        rows: vec![values.iter().map(|v| Some(v.to_string())).collect()],
    }
}

fn string_result(names: &[&str], rows: Vec<Vec<Option<String>>>) -> ResultSet {
    ResultSet {
        columns: names
            .iter()
            .map(|n| ColumnMeta::of(n, &SqlType::String))
            .collect(),
        rows,
    }
}

fn field_not_found(column: &[String], cols: &[Column]) -> SqlError {
    SqlError::new(
        "FIELD_NOT_FOUND",
        "42704",
        format!(
            "No such struct field `{}` in {}.",
            column.join("."),
            cols.iter()
                .map(|c| format!("`{}`", c.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

fn find_column(cols: &[Column], column: &[String]) -> Result<usize, SqlError> {
    if column.len() != 1 {
        return Err(field_not_found(column, cols));
    }
    cols.iter()
        .position(|c| c.name.eq_ignore_ascii_case(&column[0]))
        .ok_or_else(|| field_not_found(column, cols))
}

fn check_duplicates<'c>(names: impl IntoIterator<Item = &'c str>) -> Result<(), SqlError> {
    let mut seen: Vec<String> = Vec::new();
    for n in names {
        let lower = n.to_lowercase();
        if seen.contains(&lower) {
            return Err(SqlError::new(
                "COLUMN_ALREADY_EXISTS",
                "42711",
                format!(
                    "The column `{lower}` already exists. Choose another name or rename the existing column."
                ),
            ));
        }
        seen.push(lower);
    }
    Ok(())
}

fn spec_column(c: &ColumnSpec) -> Column {
    Column {
        name: c.name.clone(),
        ty: c.ty.clone(),
        nullable: c.nullable,
        comment: c.comment.clone(),
    }
}

/// Splits a `comment` entry out of TBLPROPERTIES: Databricks treats it as the table comment.
fn split_comment(
    mut props: BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Option<String>) {
    let comment = props.remove("comment");
    (props, comment)
}

impl<'a> Session<'a> {
    pub(crate) fn new(
        engine: &'a SqlEngine,
        catalog: &str,
        schema: &str,
        parameters: &'a [(String, Option<String>)],
    ) -> Session<'a> {
        Session {
            engine,
            catalog: catalog.to_lowercase(),
            schema: schema.to_lowercase(),
            parameters,
            statement_rows: None,
        }
    }

    /// Resolves a 1-, 2- or 3-part table name against the request defaults.
    pub(crate) fn table_name(&self, parts: &ObjName) -> Result<TableName, SqlError> {
        let lower: Vec<String> = parts.iter().map(|p| p.to_lowercase()).collect();
        let (catalog, schema, table) = match lower.as_slice() {
            [t] => (self.catalog.clone(), self.schema.clone(), t.clone()),
            [s, t] => (self.catalog.clone(), s.clone(), t.clone()),
            [c, s, t] => (c.clone(), s.clone(), t.clone()),
            _ => return Err(SqlError::syntax(Some(&parts.join(".")))),
        };
        Ok(TableName {
            catalog,
            schema,
            table,
        })
    }

    fn schema_name(&self, parts: &ObjName) -> (String, String) {
        let lower: Vec<String> = parts.iter().map(|p| p.to_lowercase()).collect();
        match lower.as_slice() {
            [s] => (self.catalog.clone(), s.clone()),
            [c, s, ..] => (c.clone(), s.clone()),
            [] => (self.catalog.clone(), self.schema.clone()),
        }
    }

    /// The table must exist; returns it loaded at its current version.
    async fn existing(&self, name: &TableName) -> Result<deltalake::DeltaTable, SqlError> {
        let dir = self.engine.table_dir(name);
        if !storage::is_table(&dir) {
            return Err(SqlError::table_not_found(&name.quoted()));
        }
        storage::open(&dir).await
    }

    pub(crate) async fn run(&self, stmt: Statement) -> Result<ResultSet, SqlError> {
        match stmt {
            Statement::CreateCatalog {
                name,
                if_not_exists,
                comment,
            } => {
                let _g = self.engine.lock_namespace().await;
                catalog::create_catalog(
                    self.engine,
                    &name.to_lowercase(),
                    comment.as_deref(),
                    if_not_exists,
                )?;
                Ok(ResultSet::empty())
            }
            Statement::DropCatalog {
                name,
                if_exists,
                cascade,
            } => {
                let _g = self.engine.lock_namespace().await;
                catalog::drop_catalog(self.engine, &name.to_lowercase(), if_exists, cascade)?;
                Ok(ResultSet::empty())
            }
            Statement::CreateSchema {
                name,
                if_not_exists,
                comment,
                properties,
            } => {
                let (c, s) = self.schema_name(&name);
                let _g = self.engine.lock_namespace().await;
                catalog::create_schema(
                    self.engine,
                    &c,
                    &s,
                    comment.as_deref(),
                    properties,
                    if_not_exists,
                )?;
                Ok(ResultSet::empty())
            }
            Statement::DropSchema {
                name,
                if_exists,
                cascade,
            } => {
                let (c, s) = self.schema_name(&name);
                let _g = self.engine.lock_namespace().await;
                catalog::drop_schema(self.engine, &c, &s, cascade, if_exists)?;
                Ok(ResultSet::empty())
            }
            Statement::CommentOnSchema { name, comment } => {
                let (c, s) = self.schema_name(&name);
                let _g = self.engine.lock_namespace().await;
                catalog::update_schema(self.engine, &c, &s, Some(comment.as_deref()), None)?;
                Ok(ResultSet::empty())
            }
            Statement::CreateTable {
                name,
                or_replace,
                if_not_exists,
                body,
                comment,
                properties,
            } => {
                self.create_table(&name, or_replace, if_not_exists, body, comment, properties)
                    .await
            }
            Statement::AddColumns { table, columns } => self.add_columns(&table, &columns).await,
            Statement::AlterColumn {
                table,
                column,
                change,
            } => self.alter_column(&table, &column, change).await,
            Statement::DropColumns {
                table,
                columns,
                if_exists,
            } => {
                let name = self.table_name(&table)?;
                let t = self.existing(&name).await?;
                let cols = storage::columns(&t)?;
                for c in &columns {
                    if !if_exists {
                        find_column(&cols, c)?;
                    }
                }
                Err(SqlError::new(
                    "DELTA_UNSUPPORTED_DROP_COLUMN",
                    "0AKDC",
                    format!(
                        "DROP COLUMN is not supported for your Delta table. Please enable Column Mapping on your Delta table with mapping mode 'name'. You can use one of the following commands.\n\n\
                         If the table is already on the required protocol version:\n\
                         ALTER TABLE {0} SET TBLPROPERTIES ('delta.columnMapping.mode' = 'name')\n\n\
                         If the table is not on the required protocol version and requires a protocol upgrade:\n\
                         ALTER TABLE {0} SET TBLPROPERTIES (\n   'delta.columnMapping.mode' = 'name',\n   'delta.minReaderVersion' = '2',\n   'delta.minWriterVersion' = '5')",
                        name.dotted()
                    ),
                ))
            }
            Statement::SetProperties { table, properties } => {
                self.set_properties(&table, properties).await
            }
            Statement::CommentOnTable { table, comment } => {
                let name = self.table_name(&table)?;
                let lock = self.engine.table_lock(&name);
                let _g = lock.lock().await;
                let t = self.existing(&name).await?;
                let text = comment.unwrap_or_default();
                let commit = Commit::new("SET TBLPROPERTIES")
                    .param("properties", json!({ "comment": text }));
                storage::set_description(t, &text, &commit).await?;
                Ok(ResultSet::empty())
            }
            Statement::Insert {
                table,
                columns,
                source,
                overwrite,
            } => self.insert(&table, columns, source, overwrite).await,
            Statement::Merge(m) => self.merge(&m).await,
            Statement::Delete {
                table,
                alias,
                filter,
            } => self.delete(&table, alias.as_deref(), filter.as_ref()).await,
            Statement::Update {
                table,
                alias,
                sets,
                filter,
            } => {
                self.update(&table, alias.as_deref(), &sets, filter.as_ref())
                    .await
            }
            Statement::Truncate { table } => self.truncate(&table).await,
            Statement::DescribeHistory { table, limit } => {
                self.describe_history(&table, limit).await
            }
            Statement::DescribeTable { table } => {
                let name = self.table_name(&table)?;
                let t = self.existing(&name).await?;
                let rows = storage::columns(&t)?
                    .into_iter()
                    .map(|c| vec![Some(c.name), Some(c.ty.catalog_text()), c.comment])
                    .collect();
                Ok(string_result(&["col_name", "data_type", "comment"], rows))
            }
            Statement::Restore { table, travel } => self.restore(&table, &travel).await,
            Statement::DropTable { table, if_exists } => {
                let name = self.table_name(&table)?;
                let lock = self.engine.table_lock(&name);
                let _g = lock.lock().await;
                let dir = self.engine.table_dir(&name);
                if !storage::is_table(&dir) {
                    return if if_exists {
                        Ok(ResultSet::empty())
                    } else {
                        Err(SqlError::table_not_found(&name.quoted()))
                    };
                }
                std::fs::remove_dir_all(dir)?;
                Ok(ResultSet::empty())
            }
            Statement::ShowTables { schema, pattern } => {
                let (c, s) = match schema {
                    Some(parts) => self.schema_name(&parts),
                    None => (self.catalog.clone(), self.schema.clone()),
                };
                catalog::require_schema(self.engine, &c, &s)?;
                let names = catalog::table_names(&self.engine.schema_dir(&c, &s))?;
                let rows = names
                    .into_iter()
                    .filter(|n| pattern.as_deref().is_none_or(|p| show_like(n, p)))
                    .map(|n| vec![Some(s.clone()), Some(n), Some("false".into())])
                    .collect::<Vec<_>>();
                Ok(ResultSet {
                    columns: vec![
                        ColumnMeta::of("database", &SqlType::String),
                        ColumnMeta::of("tableName", &SqlType::String),
                        ColumnMeta::of("isTemporary", &SqlType::Boolean),
                    ],
                    rows,
                })
            }
            Statement::ShowSchemas { catalog } => {
                let c = catalog
                    .map(|c| c.to_lowercase())
                    .unwrap_or_else(|| self.catalog.clone());
                let schemas = self.engine.list_schemas(&c).await?;
                Ok(string_result(
                    &["databaseName"],
                    schemas.into_iter().map(|s| vec![Some(s.name)]).collect(),
                ))
            }
            Statement::ShowCatalogs => {
                let cats = self.engine.list_catalogs().await?;
                Ok(string_result(
                    &["catalog"],
                    cats.into_iter().map(|c| vec![Some(c.name)]).collect(),
                ))
            }
            Statement::ShowCreateTable { table } => {
                let name = self.table_name(&table)?;
                let t = self.existing(&name).await?;
                let text = create_table_text(&name, &t)?;
                Ok(string_result(&["createtab_stmt"], vec![vec![Some(text)]]))
            }
            Statement::ShowTblProperties { table } => {
                let name = self.table_name(&table)?;
                let t = self.existing(&name).await?;
                let mut props: BTreeMap<String, String> = storage::configuration(&t)?
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with("lode."))
                    .collect();
                let protocol = t.snapshot()?.protocol();
                props.insert(
                    "delta.minReaderVersion".into(),
                    protocol.min_reader_version().to_string(),
                );
                props.insert(
                    "delta.minWriterVersion".into(),
                    protocol.min_writer_version().to_string(),
                );
                Ok(string_result(
                    &["key", "value"],
                    props
                        .into_iter()
                        .map(|(k, v)| vec![Some(k), Some(v)])
                        .collect(),
                ))
            }
        }
    }

    async fn create_table(
        &self,
        parts: &ObjName,
        or_replace: bool,
        if_not_exists: bool,
        body: CreateBody,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(parts)?;
        check_name(&name.table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        catalog::require_schema(self.engine, &name.catalog, &name.schema)?;
        let dir = self.engine.table_dir(&name);
        let exists = storage::is_table(&dir);
        if exists && if_not_exists {
            return Ok(ResultSet::empty());
        }
        if exists && !or_replace {
            return Err(SqlError::table_exists(&name.quoted()));
        }
        let (properties, prop_comment) = split_comment(properties);
        let comment = comment.or(prop_comment);
        let mut config = new_table_config(Some(&properties));
        let mut removed = (0i64, 0i64);
        if exists {
            // CREATE OR REPLACE keeps the table's identity and history, as Unity Catalog does.
            let old = storage::open(&dir).await?;
            let old_config = storage::configuration(&old)?;
            for key in [KEY_TABLE_ID, KEY_CREATED_AT] {
                if let Some(v) = old_config.get(key) {
                    config.insert(key.into(), v.clone());
                }
            }
            let files = storage::files(&old).await?;
            removed = (files.len() as i64, files.iter().map(|f| f.1).sum());
        }
        match body {
            CreateBody::Columns {
                columns,
                primary_key,
            } => {
                check_duplicates(columns.iter().map(|c| c.name.as_str()))?;
                let cols: Vec<Column> = columns.iter().map(spec_column).collect();
                if let Some(pk) = primary_key {
                    self.primary_key(&mut config, &pk, &cols)?;
                }
                let op = if exists {
                    "CREATE OR REPLACE TABLE"
                } else {
                    "CREATE TABLE"
                };
                let commit = create_commit(op, comment.as_deref(), &config);
                create_table_files(
                    self.engine,
                    &name,
                    &cols,
                    comment.as_deref(),
                    &config,
                    Vec::new(),
                    exists,
                    &commit,
                )
                .await?;
                Ok(ResultSet::empty())
            }
            CreateBody::AsSelect(query) => {
                let (types, names, rows) = self.query_rows(&query.to_string()).await?;
                check_duplicates(names.iter().map(String::as_str))?;
                let cols: Vec<Column> = names
                    .into_iter()
                    .zip(types)
                    .map(|(name, ty)| Column {
                        name,
                        // A bare NULL column has no type; Databricks refuses VOID columns in Delta.
                        ty: if ty == SqlType::Null {
                            SqlType::String
                        } else {
                            ty
                        },
                        nullable: true,
                        comment: None,
                    })
                    .collect();
                let adds = storage::write_files_at(&dir, &cols, &rows).await?;
                let op = if exists {
                    "CREATE OR REPLACE TABLE AS SELECT"
                } else {
                    "CREATE TABLE AS SELECT"
                };
                let commit = create_commit(op, comment.as_deref(), &config)
                    .metric("numOutputRows", rows.len())
                    .metric("numFiles", adds.len());
                create_table_files(
                    self.engine,
                    &name,
                    &cols,
                    comment.as_deref(),
                    &config,
                    adds,
                    exists,
                    &commit,
                )
                .await?;
                Ok(long_result(
                    &["num_affected_rows", "num_inserted_rows"],
                    &[rows.len() as i64, rows.len() as i64],
                ))
            }
            CreateBody::Clone { source, travel } => {
                let src_name = self.table_name(&source)?;
                if src_name == name {
                    return Err(SqlError::new(
                        "DELTA_UNSUPPORTED_CLONE_REPLACE_SAME_TABLE",
                        "0AKDC",
                        format!(
                            "You tried to REPLACE an existing table ({}) with CLONE. This operation is unsupported. Try a different target for CLONE or delete the table at the current target.",
                            name.dotted()
                        ),
                    ));
                }
                let src = self.load_table(&src_name, travel.as_ref()).await?;
                let src_config = storage::configuration(&src.table)?;
                if src_config
                    .get(KEY_TABLE_TYPE)
                    .is_some_and(|t| t != "MANAGED")
                {
                    return Err(SqlError::new(
                        "DELTA_CLONE_UNSUPPORTED_SOURCE",
                        "0AKDC",
                        format!(
                            "Unsupported clone source {}: streaming tables and materialized views cannot be cloned.",
                            src_name.quoted()
                        ),
                    ));
                }
                let src_files = storage::files(&src.table).await?;
                let rows = storage::read_rows(&src.table, &src.columns).await?;
                // Deep clone copies properties and comments, but not the source's identity.
                for (k, v) in src_config {
                    if ![
                        KEY_TABLE_ID,
                        KEY_CREATED_AT,
                        KEY_TABLE_TYPE,
                        KEY_PIPELINE_ID,
                    ]
                    .contains(&k.as_str())
                        && !config.contains_key(&k)
                    {
                        config.insert(k, v);
                    }
                }
                let comment = comment.or(storage::description(&src.table)?);
                let adds = storage::write_files_at(&dir, &src.columns, &rows).await?;
                let copied = (adds.len() as i64, adds.iter().map(|a| a.size).sum::<i64>());
                let source_size = src_files.iter().map(|f| f.1).sum::<i64>();
                let commit = Commit::new("CLONE")
                    .param("source", src_name.dotted())
                    .param("sourceVersion", storage::version(&src.table))
                    .param("isShallow", "false")
                    .metric("sourceTableSize", source_size)
                    .metric("sourceNumOfFiles", src_files.len())
                    .metric("numRemovedFiles", removed.0)
                    .metric("removedFilesSize", removed.1)
                    .metric("numCopiedFiles", copied.0)
                    .metric("copiedFilesSize", copied.1);
                create_table_files(
                    self.engine,
                    &name,
                    &src.columns,
                    comment.as_deref(),
                    &config,
                    adds,
                    exists,
                    &commit,
                )
                .await?;
                Ok(long_result(
                    &[
                        "source_table_size",
                        "source_num_of_files",
                        "num_removed_files",
                        "num_copied_files",
                        "removed_files_size",
                        "copied_files_size",
                    ],
                    &[
                        source_size,
                        src_files.len() as i64,
                        removed.0,
                        copied.0,
                        removed.1,
                        copied.1,
                    ],
                ))
            }
        }
    }

    /// Loads a table at the version `travel` asks for, with Databricks' errors for versions
    /// and timestamps outside the history.
    pub(crate) async fn load_table(
        &self,
        name: &TableName,
        travel: Option<&TimeTravel>,
    ) -> Result<LoadedTable, SqlError> {
        let dir = self.engine.table_dir(name);
        if !storage::is_table(&dir) {
            return Err(SqlError::table_not_found(&name.quoted()));
        }
        let mut table = storage::open(&dir).await?;
        let latest = storage::version(&table);
        let wanted = match travel {
            None => None,
            Some(TimeTravel::Version(v)) => {
                if *v < 0 || *v as u64 > latest {
                    return Err(SqlError::version_not_found(*v, latest));
                }
                Some(*v as u64)
            }
            Some(TimeTravel::Timestamp(text)) => Some(self.version_at(&table, text).await?),
        };
        if let Some(v) = wanted.filter(|v| *v != latest) {
            table = storage::open_version(&dir, v)
                .await
                .map_err(|_| SqlError::version_not_found(v as i64, latest))?;
        }
        let columns = storage::columns(&table)?;
        Ok(LoadedTable { table, columns })
    }

    /// The newest version committed at or before the timestamp.
    pub(crate) async fn version_at(
        &self,
        table: &deltalake::DeltaTable,
        text: &str,
    ) -> Result<u64, SqlError> {
        let micros = parse_timestamp(text)
            .ok_or_else(|| SqlError::cast_invalid(text, "STRING", "TIMESTAMP"))?;
        storage::version_at(table, micros).await
    }

    /// Records a primary key (informational in Databricks, too) in the engine's own key.
    fn primary_key(
        &self,
        config: &mut HashMap<String, String>,
        pk: &PrimaryKey,
        cols: &[Column],
    ) -> Result<(), SqlError> {
        let mut names = Vec::new();
        for c in &pk.columns {
            let col = cols
                .iter()
                .find(|x| x.name.eq_ignore_ascii_case(c))
                .ok_or_else(|| {
                    SqlError::unresolved_column(
                        &format!("`{c}`"),
                        &cols
                            .iter()
                            .map(|x| format!("`{}`", x.name))
                            .collect::<Vec<_>>(),
                    )
                })?;
            names.push(col.name.clone());
        }
        config.insert(
            KEY_PRIMARY_KEY.into(),
            json!({"name": pk.name, "columns": names}).to_string(),
        );
        Ok(())
    }

    async fn add_columns(
        &self,
        table: &ObjName,
        columns: &[ColumnSpec],
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let t = self.existing(&name).await?;
        let current = storage::columns(&t)?;
        check_duplicates(columns.iter().map(|c| c.name.as_str()))?;
        for c in columns {
            if current.iter().any(|x| x.name.eq_ignore_ascii_case(&c.name)) {
                let shape = current
                    .iter()
                    .map(|x| format!("{}: {}", x.name, x.ty.sql_name()))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(SqlError::new(
                    "FIELDS_ALREADY_EXISTS",
                    "42710",
                    format!(
                        "Cannot add column, because `{}` already exists in \"STRUCT<{shape}>\".",
                        c.name
                    ),
                ));
            }
            if !c.nullable && !storage::files(&t).await?.is_empty() {
                // Existing rows would hold NULL in the new column.
                return Err(SqlError::not_null(&c.name));
            }
        }
        let cols: Vec<Column> = columns.iter().map(spec_column).collect();
        let spec: Vec<serde_json::Value> = cols
            .iter()
            .map(|c| json!({"column": c.history_json()}))
            .collect();
        let commit = Commit::new("ADD COLUMNS").param("columns", serde_json::Value::Array(spec));
        storage::add_columns(t, &cols, &commit).await?;
        Ok(ResultSet::empty())
    }

    async fn alter_column(
        &self,
        table: &ObjName,
        column: &[String],
        change: AlterColumn,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let t = self.existing(&name).await?;
        let cols = storage::columns(&t)?;
        let idx = find_column(&cols, column)?;
        match change {
            AlterColumn::Comment(text) => {
                let mut col = cols[idx].clone();
                col.comment = Some(text.clone());
                let commit = Commit::new("CHANGE COLUMN").param("column", col.history_json());
                storage::set_column_comment(t, &col.name, &text, &commit).await?;
                Ok(ResultSet::empty())
            }
            AlterColumn::Type(ty) if ty == cols[idx].ty => Ok(ResultSet::empty()),
            AlterColumn::Type(ty) => Err(SqlError::new(
                "DELTA_UNSUPPORTED_ALTER_TABLE_CHANGE_COL_OP",
                "0AKDC",
                format!(
                    "ALTER TABLE ALTER COLUMN is not supported for changing column {} from {} to {}",
                    cols[idx].name,
                    cols[idx].ty.sql_name(),
                    ty.sql_name()
                ),
            )),
        }
    }

    async fn set_properties(
        &self,
        table: &ObjName,
        properties: BTreeMap<String, String>,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut t = self.existing(&name).await?;
        let (props, comment) = split_comment(properties);
        if !props.is_empty() {
            let commit = Commit::new("SET TBLPROPERTIES").param("properties", json!(props));
            t = storage::set_properties(t, props.into_iter().collect(), &commit).await?;
        }
        if let Some(c) = comment {
            let commit =
                Commit::new("SET TBLPROPERTIES").param("properties", json!({ "comment": c }));
            storage::set_description(t, &c, &commit).await?;
        }
        Ok(ResultSet::empty())
    }

    async fn describe_history(
        &self,
        table: &ObjName,
        limit: Option<i64>,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let t = self.existing(&name).await?;
        let entries = storage::history(&t, limit.map(|l| l.max(0) as usize)).await?;
        let map = ("MAP", "MAP<STRING,STRING>");
        let columns = vec![
            ColumnMeta::of("version", &SqlType::Long),
            ColumnMeta::of("timestamp", &SqlType::Timestamp),
            ColumnMeta::of("userId", &SqlType::String),
            ColumnMeta::of("userName", &SqlType::String),
            ColumnMeta::of("operation", &SqlType::String),
            ColumnMeta::new("operationParameters", map.0, map.1),
            ColumnMeta::new(
                "job",
                "STRUCT",
                "STRUCT<jobId: STRING, jobName: STRING, jobRunId: STRING, runId: STRING, jobOwnerId: STRING, triggerType: STRING>",
            ),
            ColumnMeta::new("notebook", "STRUCT", "STRUCT<notebookId: STRING>"),
            ColumnMeta::of("clusterId", &SqlType::String),
            ColumnMeta::of("readVersion", &SqlType::Long),
            ColumnMeta::of("isolationLevel", &SqlType::String),
            ColumnMeta::of("isBlindAppend", &SqlType::Boolean),
            ColumnMeta::new("operationMetrics", map.0, map.1),
            ColumnMeta::of("userMetadata", &SqlType::String),
            ColumnMeta::of("engineInfo", &SqlType::String),
        ];
        let rows = entries
            .into_iter()
            .map(|e| {
                vec![
                    Some(e.version.to_string()),
                    e.timestamp
                        .map(|ms| super::types::fmt_timestamp_iso(ms * 1000)),
                    e.user_name.as_ref().map(|_| "1".to_string()),
                    e.user_name,
                    Some(e.operation),
                    Some(serde_json::Value::Object(e.parameters).to_string()),
                    None,
                    None,
                    None,
                    e.read_version.map(|v| v.to_string()),
                    Some(
                        e.isolation_level
                            .unwrap_or_else(|| "WriteSerializable".into()),
                    ),
                    Some(e.blind_append.unwrap_or(false).to_string()),
                    Some(serde_json::Value::Object(e.metrics).to_string()),
                    e.user_metadata,
                    e.engine_info,
                ]
            })
            .collect();
        Ok(ResultSet { columns, rows })
    }

    async fn restore(&self, table: &ObjName, travel: &TimeTravel) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let t = self.existing(&name).await?;
        let latest = storage::version(&t);
        let target = match travel {
            TimeTravel::Version(v) if *v < 0 || *v as u64 > latest => {
                return Err(SqlError::version_not_found(*v, latest));
            }
            TimeTravel::Version(v) => *v as u64,
            TimeTravel::Timestamp(ts) => self.version_at(&t, ts).await?,
        };
        let names = [
            "table_size_after_restore",
            "num_of_files_after_restore",
            "num_removed_files",
            "num_restored_files",
            "removed_files_size",
            "restored_files_size",
        ];
        let current = storage::files(&t).await?;
        if target == latest {
            // Nothing to undo: no commit, like restoring onto the same snapshot.
            let size = current.iter().map(|f| f.1).sum::<i64>();
            return Ok(long_result(
                &names,
                &[size, current.len() as i64, 0, 0, 0, 0],
            ));
        }
        let old = storage::open_version(&self.engine.table_dir(&name), target).await?;
        let wanted = storage::files(&old).await?;
        let removed: Vec<_> = current
            .iter()
            .filter(|f| !wanted.iter().any(|w| w.0 == f.0))
            .collect();
        let restored: Vec<_> = wanted
            .iter()
            .filter(|w| !current.iter().any(|f| f.0 == w.0))
            .collect();
        let values = [
            wanted.iter().map(|f| f.1).sum::<i64>(),
            wanted.len() as i64,
            removed.len() as i64,
            restored.len() as i64,
            removed.iter().map(|f| f.1).sum::<i64>(),
            restored.iter().map(|f| f.1).sum::<i64>(),
        ];
        let metric_keys = [
            "tableSizeAfterRestore",
            "numOfFilesAfterRestore",
            "numRemovedFiles",
            "numRestoredFiles",
            "removedFilesSize",
            "restoredFilesSize",
        ];
        let mut commit = Commit::new("RESTORE").param("version", target);
        for (k, v) in metric_keys.iter().zip(values) {
            commit = commit.metric(k, v);
        }
        storage::restore(t, target, &commit).await?;
        Ok(long_result(&names, &values))
    }
}

/// SHOW TABLES LIKE: `*` is any text and `|` separates alternatives, matched without case.
/// `SHOW CREATE TABLE`'s statement, laid out as Databricks prints it.
fn create_table_text(name: &TableName, t: &deltalake::DeltaTable) -> Result<String, SqlError> {
    let config = storage::configuration(t)?;
    let kind = match config.get(KEY_TABLE_TYPE).map(String::as_str) {
        Some("STREAMING_TABLE") => "CREATE STREAMING TABLE",
        Some("MATERIALIZED_VIEW") => "CREATE MATERIALIZED VIEW",
        _ => "CREATE TABLE",
    };
    let quote = |s: &str| s.replace('\\', "\\\\").replace('\'', "\\'");
    let mut items: Vec<String> = storage::columns(t)?
        .iter()
        .map(|c| {
            let mut item = format!("  {} {}", c.name, c.ty.sql_name());
            if !c.nullable {
                item.push_str(" NOT NULL");
            }
            if let Some(comment) = &c.comment {
                item.push_str(&format!(" COMMENT '{}'", quote(comment)));
            }
            item
        })
        .collect();
    if let Some(pk) = config.get(KEY_PRIMARY_KEY)
        && let Ok(pk) = serde_json::from_str::<serde_json::Value>(pk)
    {
        let columns: Vec<String> = pk["columns"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let constraint = match pk["name"].as_str() {
            Some(n) => format!("  CONSTRAINT {n} PRIMARY KEY ({})", columns.join(", ")),
            None => format!("  PRIMARY KEY ({})", columns.join(", ")),
        };
        items.push(constraint);
    }
    let mut out = format!(
        "{kind} {} (\n{})\nUSING delta\n",
        name.dotted(),
        items.join(",\n")
    );
    if let Some(comment) = storage::description(t)? {
        out.push_str(&format!("COMMENT '{}'\n", quote(&comment)));
    }
    let protocol = t.snapshot()?.protocol();
    let mut props: BTreeMap<String, String> = config
        .into_iter()
        .filter(|(k, _)| !k.starts_with("lode."))
        .collect();
    props.insert(
        "delta.minReaderVersion".into(),
        protocol.min_reader_version().to_string(),
    );
    props.insert(
        "delta.minWriterVersion".into(),
        protocol.min_writer_version().to_string(),
    );
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("  '{}' = '{}'", quote(k), quote(v)))
        .collect();
    out.push_str(&format!("TBLPROPERTIES (\n{})\n", props.join(",\n")));
    Ok(out)
}

fn show_like(name: &str, pattern: &str) -> bool {
    pattern.split('|').any(|p| {
        like(
            &name.to_lowercase(),
            &p.trim().to_lowercase().replace('*', "%"),
        )
    })
}
