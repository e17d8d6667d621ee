//! The SQL engine of the Databricks workspace emulator: catalogs and schemas as folders with a
//! small JSON file each, tables as real Delta tables under `root/<catalog>/<schema>/<table>/`.
//! Queries (`SELECT`, `WITH`, `VALUES`, set operations) run on Apache DataFusion
//! ([`warehouse`], over the folder-backed catalog of [`lakehouse`], with the front end of
//! [`front`] and the functions of [`functions`]): every join kind, CTEs, scalar/`IN`/`EXISTS`
//! subqueries, `GROUP BY ... HAVING`, window functions, `QUALIFY`, `UNION`/`INTERSECT`/
//! `EXCEPT`, time travel in any table reference, `information_schema`. The Delta-specific
//! statements (DDL, DML, DESCRIBE HISTORY, RESTORE, CLONE, SHOW ...) are recognised by
//! [`parser`] on sqlparser's tokenizer and parser (Databricks dialect), which also parses every
//! expression, query and table reference inside them; `exec` and `dml` run them, each table
//! change one Delta commit. The DML statements compute on DataFusion too: INSERT's source and
//! CTAS's query are DataFusion queries; UPDATE and DELETE find the rows their predicate hits
//! (with the new values) by a query over the table's rows numbered in insertion order; MERGE
//! is a FULL OUTER JOIN of the numbered target and the source on the ON condition, with each
//! WHEN clause's condition and values as columns (first matching clause wins; two source rows
//! for one target row fail as on Databricks). The engine itself only applies the chosen
//! clauses, casts into the table's columns, checks NOT NULL and writes the commit. There is
//! no other evaluator. The HTTP layer (statement execution, Unity Catalog routes) and the
//! pipeline and Genie emulators call [`SqlEngine`]; everything persists on disk, so a new
//! engine on the same root sees the same catalogs, schemas, tables, rows and history.
//!
//! For callers that compute (pipelines, Genie): [`SqlEngine::query`] plans a query for a
//! default catalog and schema and returns a DataFusion `DataFrame` (to extend, collect or
//! write with delta-rs); `checkpoints` make `STREAM(src)` read only the rows `src`'s commits
//! added after a version ([`Checkpoints`]). [`SqlEngine::query_batches`] collects it to an Arrow
//! schema and batches, [`SqlEngine::session`] gives a `SessionContext` with the same catalog
//! and functions. Errors are [`SqlError`]s with Databricks' error classes.
//! [`SqlEngine::append_json_records`] is Zerobus Ingest's write path: JSON records checked
//! against an existing table and appended as one commit ([`json_records`]). Appends are
//! followed by Databricks' auto compaction of small files ([`compaction`]).
//!
//! Supported statements (keywords in any case; names plain or back-quoted, 1 to 3 parts,
//! resolved with the request's catalog and schema; `:name` parameters; `--` and `/* */`
//! comments; one optional trailing `;`):
//!
//! - `CREATE CATALOG [IF NOT EXISTS] c [COMMENT '..']`, `DROP CATALOG [IF EXISTS] c [CASCADE]`
//! - `CREATE SCHEMA|DATABASE [IF NOT EXISTS] [c.]s [COMMENT '..'] [WITH DBPROPERTIES (..)]`,
//!   `DROP SCHEMA [IF EXISTS] [c.]s [CASCADE|RESTRICT]`, `COMMENT ON SCHEMA s IS '..'|NULL`
//! - `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] t (col TYPE [NOT NULL] [COMMENT '..']
//!   [PRIMARY KEY], ..., [CONSTRAINT n] PRIMARY KEY (cols)) [USING DELTA] [COMMENT '..']
//!   [TBLPROPERTIES (..)]`; `... AS SELECT ...`; `CREATE [OR REPLACE] TABLE t [DEEP|SHALLOW]
//!   CLONE src [VERSION AS OF n | TIMESTAMP AS OF '..'] [TBLPROPERTIES (..)]`; `REPLACE TABLE`
//! - `ALTER TABLE t ADD COLUMN[S] [(]c TYPE [COMMENT '..'], ...[)]`, `ALTER|CHANGE [COLUMN] c
//!   COMMENT '..'`, `ALTER COLUMN c TYPE x` (fails as Databricks does), `DROP COLUMN[S]` (fails:
//!   no column mapping), `SET TBLPROPERTIES (..)`; `COMMENT ON TABLE t IS '..'|NULL`
//! - `INSERT INTO|OVERWRITE [TABLE] t [(cols)] <query>` (VALUES, SELECT, WITH ...)
//! - `MERGE INTO t [[AS] a] USING table [VERSION AS OF n] [[AS] s] | (VALUES ..) [AS] s(cols)
//!   | (<query>) [AS] s ON cond WHEN MATCHED [AND c] THEN UPDATE SET *|a = e,..|DELETE; WHEN
//!   NOT MATCHED [BY TARGET] [AND c] THEN INSERT *|[(cols)] VALUES (..); WHEN NOT MATCHED BY
//!   SOURCE [AND c] THEN DELETE|UPDATE SET ..` (any number of clauses, first match wins)
//! - `DELETE FROM t [[AS] a] [WHERE p]`, `UPDATE t [[AS] a] SET c = e, .. [WHERE p]`,
//!   `TRUNCATE TABLE t`; expressions and queries anywhere in them are DataFusion's
//!   (subqueries, joins, CTEs, every function a query has)
//! - `DESCRIBE HISTORY t [LIMIT n]`, `DESCRIBE [TABLE] [EXTENDED] t`, `RESTORE [TABLE] t [TO]
//!   VERSION AS OF n | TIMESTAMP AS OF '..'`, `DROP TABLE [IF EXISTS] t`,
//!   `SHOW TABLES [IN|FROM c.s] [LIKE '..']`, `SHOW SCHEMAS [IN c]`, `SHOW CATALOGS`,
//!   `SHOW TBLPROPERTIES t`, `SHOW CREATE TABLE t`
//!
//! Types: STRING, INT/INTEGER, BIGINT/LONG, SMALLINT, TINYINT, DOUBLE, FLOAT/REAL, BOOLEAN,
//! DATE, TIMESTAMP (UTC), DECIMAL(p,s).

mod ast;
mod catalog;
mod compaction;
#[cfg(test)]
mod conformance_tests;
mod dml;
mod error;
mod exec;
mod front;
mod functions;
mod inline_rows;
mod json_records;
mod lakehouse;
mod parser;
mod refresh;
mod storage;
#[cfg(test)]
mod tests;
mod types;
mod warehouse;

pub use front::Checkpoints;
pub use json_records::{AppendRecordsError, AppendedRecords, RecordMismatch};
pub use refresh::{RefreshMode, databricks_type, declared_type};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use storage::Column;
use types::SqlType;

/// Delta configuration keys the engine keeps for itself; never shown as table properties.
pub(crate) const KEY_TABLE_ID: &str = "lode.tableId";
pub(crate) const KEY_CREATED_AT: &str = "lode.createdAt";
pub(crate) const KEY_TABLE_TYPE: &str = "lode.tableType";
pub(crate) const KEY_PIPELINE_ID: &str = "lode.pipelineId";
pub(crate) const KEY_PRIMARY_KEY: &str = "lode.primaryKey";

/// The SQL engine over one data folder. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SqlEngine {
    root: PathBuf,
    /// One lock per table (`c.s.t`) so that writers to the same table run one after another:
    /// Delta rejects a second writer that replaced files from the same snapshot.
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises catalog and schema changes (their JSON files are rewritten whole).
    namespace: tokio::sync::Mutex<()>,
    /// The DataFusion session every query starts from (see [`warehouse`]).
    query_state: deltalake::datafusion::execution::session_state::SessionState,
}

/// A statement result: columns and rows as Databricks' JSON_ARRAY format carries them.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<ColumnMeta>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// The "no result" of DDL: no columns, no rows.
    pub fn empty() -> ResultSet {
        ResultSet::default()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnMeta {
    pub name: String,
    /// `INT`, `LONG`, `STRING`, `DOUBLE`, `BOOLEAN`, `TIMESTAMP`, `DATE`, `DECIMAL`, `FLOAT`,
    /// `SHORT`, `BYTE` (and `MAP`, `STRUCT`, `NULL` for DESCRIBE HISTORY and `SELECT NULL`).
    pub type_name: String,
    /// The SQL type as the statement manifest prints it: upper case (`INT`, `BIGINT`,
    /// `DECIMAL(10,2)`), which is what Databricks returns there.
    pub type_text: String,
}

impl ColumnMeta {
    pub(crate) fn new(name: &str, type_name: &str, type_text: &str) -> ColumnMeta {
        ColumnMeta {
            name: name.to_string(),
            type_name: type_name.to_string(),
            type_text: type_text.to_string(),
        }
    }

    pub(crate) fn of(name: &str, ty: &SqlType) -> ColumnMeta {
        ColumnMeta::new(name, ty.type_name(), &ty.sql_name())
    }
}

#[derive(Debug, Clone, thiserror::Error, Serialize, PartialEq)]
#[error("[{error_class}] {message}")]
pub struct SqlError {
    pub error_class: String,
    pub message: String,
    pub sql_state: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TableType {
    Managed,
    StreamingTable,
    MaterializedView,
}

impl TableType {
    fn as_str(self) -> &'static str {
        match self {
            TableType::Managed => "MANAGED",
            TableType::StreamingTable => "STREAMING_TABLE",
            TableType::MaterializedView => "MATERIALIZED_VIEW",
        }
    }

    fn parse(s: &str) -> TableType {
        match s {
            "STREAMING_TABLE" => TableType::StreamingTable,
            "MATERIALIZED_VIEW" => TableType::MaterializedView,
            _ => TableType::Managed,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    /// Unity Catalog's lower-case spelling (`int`, `bigint`, `decimal(10,2)`).
    pub type_text: String,
    pub nullable: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableMeta {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub table_type: TableType,
    pub comment: Option<String>,
    /// User properties only: `delta.*` and the engine's own `lode.*` keys are hidden.
    pub properties: BTreeMap<String, String>,
    pub columns: Vec<ColumnDef>,
    pub table_id: String,
    pub storage_location: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub pipeline_id: Option<String>,
    pub version: i64,
    /// The PRIMARY KEY constraint, when the table has one.
    pub primary_key: Option<PrimaryKeyMeta>,
}

/// A table's PRIMARY KEY constraint: its name as declared (`None` when unnamed) and its key
/// columns in order.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrimaryKeyMeta {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SchemaMeta {
    pub catalog: String,
    pub name: String,
    pub comment: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CatalogMeta {
    pub name: String,
    pub comment: Option<String>,
}

/// A resolved 3-part table name (lower case, as Unity Catalog stores names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableName {
    pub catalog: String,
    pub schema: String,
    pub table: String,
}

impl TableName {
    /// `` `c`.`s`.`t` ``, as Databricks quotes names in messages.
    pub(crate) fn quoted(&self) -> String {
        format!("`{}`.`{}`.`{}`", self.catalog, self.schema, self.table)
    }

    pub(crate) fn dotted(&self) -> String {
        format!("{}.{}.{}", self.catalog, self.schema, self.table)
    }
}

pub(crate) fn now_ms() -> i64 {
    types::now_micros() / 1000
}

/// Rejects names that would escape the data folder (the engine's own files are files, never
/// folders, so no folder name can collide with them).
pub(crate) fn check_name(name: &str) -> Result<(), SqlError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        return Err(SqlError::new(
            "INVALID_IDENTIFIER",
            "42602",
            format!(
                "The unquoted identifier {name} is invalid and must be back quoted as: `{name}`."
            ),
        ));
    }
    Ok(())
}

impl SqlEngine {
    /// Opens (or starts) a data folder; creates it and the catalog `main` (with its `default`
    /// schema, as Unity Catalog does for every new catalog) when missing.
    pub fn new(root: PathBuf) -> std::io::Result<SqlEngine> {
        std::fs::create_dir_all(&root)?;
        // Delta wants absolute file URLs; resolve once so a relative root keeps working.
        let root = std::path::absolute(&root)?;
        let engine = SqlEngine {
            query_state: warehouse::base_state(&root),
            root,
            locks: Default::default(),
            namespace: tokio::sync::Mutex::new(()),
        };
        if !engine
            .catalog_dir("main")
            .join(catalog::CATALOG_FILE)
            .exists()
        {
            catalog::write_catalog(&engine.catalog_dir("main"), "main", Some("Main catalog"))?;
            catalog::write_schema(
                &engine.schema_dir("main", "default"),
                &catalog::SchemaFile::new(
                    "default",
                    Some("Default schema (auto-created)"),
                    BTreeMap::new(),
                ),
            )?;
        }
        Ok(engine)
    }

    pub(crate) fn catalog_dir(&self, catalog: &str) -> PathBuf {
        self.root.join(catalog)
    }

    pub(crate) fn schema_dir(&self, catalog: &str, schema: &str) -> PathBuf {
        self.root.join(catalog).join(schema)
    }

    pub(crate) fn table_dir(&self, name: &TableName) -> PathBuf {
        self.root
            .join(&name.catalog)
            .join(&name.schema)
            .join(&name.table)
    }

    pub(crate) fn table_lock(&self, name: &TableName) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.dotted()).or_default().clone()
    }

    pub(crate) async fn lock_namespace(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.namespace.lock().await
    }

    fn table_name(catalog: &str, schema: &str, table: &str) -> TableName {
        TableName {
            catalog: catalog.to_lowercase(),
            schema: schema.to_lowercase(),
            table: table.to_lowercase(),
        }
    }

    /// Runs one statement. `catalog`/`schema` are the request defaults for unqualified names;
    /// `parameters` bind `:name` markers (`None` is NULL; values are typed where they are used).
    pub async fn execute(
        &self,
        statement: &str,
        catalog: Option<&str>,
        schema: Option<&str>,
        parameters: &[(String, Option<String>)],
    ) -> Result<ResultSet, SqlError> {
        let (catalog, schema) = (catalog.unwrap_or("main"), schema.unwrap_or("default"));
        if is_query(statement) {
            return self.run_query(statement, catalog, schema, parameters).await;
        }
        let stmt = parser::parse(statement, parameters)?;
        let session = exec::Session::new(self, catalog, schema, parameters);
        session.run(stmt).await
    }

    pub async fn list_catalogs(&self) -> Result<Vec<CatalogMeta>, SqlError> {
        catalog::list_catalogs(&self.root)
    }

    pub async fn list_schemas(&self, catalog: &str) -> Result<Vec<SchemaMeta>, SqlError> {
        let catalog = catalog.to_lowercase();
        catalog::require_catalog(self, &catalog)?;
        catalog::list_schemas(&self.catalog_dir(&catalog), &catalog)
    }

    pub async fn get_schema(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Option<SchemaMeta>, SqlError> {
        let (catalog, schema) = (catalog.to_lowercase(), schema.to_lowercase());
        catalog::read_schema(&self.schema_dir(&catalog, &schema), &catalog)
    }

    /// Fails with SCHEMA_ALREADY_EXISTS when present, NO_SUCH_CATALOG_EXCEPTION without catalog.
    pub async fn create_schema(
        &self,
        catalog: &str,
        schema: &str,
        comment: Option<&str>,
        properties: &BTreeMap<String, String>,
    ) -> Result<SchemaMeta, SqlError> {
        let _guard = self.lock_namespace().await;
        catalog::create_schema(
            self,
            &catalog.to_lowercase(),
            &schema.to_lowercase(),
            comment,
            properties.clone(),
            false,
        )
    }

    /// Sets the comment (empty clears it) and, when given, replaces the properties.
    pub async fn update_schema(
        &self,
        catalog: &str,
        schema: &str,
        comment: Option<&str>,
        properties: Option<&BTreeMap<String, String>>,
    ) -> Result<SchemaMeta, SqlError> {
        let _guard = self.lock_namespace().await;
        catalog::update_schema(
            self,
            &catalog.to_lowercase(),
            &schema.to_lowercase(),
            comment.map(Some),
            properties.cloned(),
        )
    }

    /// Fails with SCHEMA_NOT_EMPTY when the schema holds tables, unless `force`.
    pub async fn drop_schema(
        &self,
        catalog: &str,
        schema: &str,
        force: bool,
    ) -> Result<(), SqlError> {
        let _guard = self.lock_namespace().await;
        catalog::drop_schema(
            self,
            &catalog.to_lowercase(),
            &schema.to_lowercase(),
            force,
            false,
        )
    }

    pub async fn list_tables(
        &self,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<TableMeta>, SqlError> {
        let (catalog, schema) = (catalog.to_lowercase(), schema.to_lowercase());
        catalog::require_schema(self, &catalog, &schema)?;
        let mut out = Vec::new();
        for table in catalog::table_names(&self.schema_dir(&catalog, &schema))? {
            if let Some(meta) = self
                .table_meta(&TableName {
                    catalog: catalog.clone(),
                    schema: schema.clone(),
                    table,
                })
                .await?
            {
                out.push(meta);
            }
        }
        Ok(out)
    }

    pub async fn get_table(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableMeta>, SqlError> {
        self.table_meta(&Self::table_name(catalog, schema, table))
            .await
    }

    /// For pipeline updates: creates a STREAMING_TABLE / MATERIALIZED_VIEW (or managed) table
    /// with these columns and no rows if it does not exist, and returns its meta. An existing
    /// table is returned as it is.
    #[allow(clippy::too_many_arguments)]
    pub async fn ensure_dataset(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
        table_type: TableType,
        columns: &[ColumnDef],
        comment: Option<&str>,
        pipeline_id: &str,
    ) -> Result<TableMeta, SqlError> {
        let name = Self::table_name(catalog, schema, table);
        check_name(&name.table)?;
        let lock = self.table_lock(&name);
        let _guard = lock.lock().await;
        if let Some(meta) = self.table_meta(&name).await? {
            return Ok(meta);
        }
        catalog::require_schema(self, &name.catalog, &name.schema)?;
        if columns.is_empty() {
            // Delta needs a schema; Databricks infers one from the query, which we do not run.
            return Err(SqlError::new(
                "DELTA_EMPTY_SCHEMA",
                "42K03",
                format!(
                    "Cannot create table {} without columns: declare its columns in the pipeline source.",
                    name.quoted()
                ),
            ));
        }
        let cols = columns
            .iter()
            .map(|c| {
                Ok(Column {
                    name: c.name.clone(),
                    ty: SqlType::from_text(&c.type_text)?,
                    nullable: c.nullable,
                    comment: c.comment.clone(),
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let mut config = exec::new_table_config(None);
        config.insert(KEY_TABLE_TYPE.into(), table_type.as_str().into());
        config.insert(KEY_PIPELINE_ID.into(), pipeline_id.into());
        exec::create_table_files(
            self,
            &name,
            &cols,
            comment,
            &config,
            Vec::new(),
            false,
            &exec::create_commit("CREATE TABLE", comment, &config),
        )
        .await?;
        self.table_meta(&name)
            .await?
            .ok_or_else(|| SqlError::table_not_found(&name.quoted()))
    }

    /// Drops a table by deleting its folder (data and history).
    pub async fn drop_table(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<(), SqlError> {
        let name = Self::table_name(catalog, schema, table);
        let lock = self.table_lock(&name);
        let _guard = lock.lock().await;
        let dir = self.table_dir(&name);
        if !storage::is_table(&dir) {
            return Err(SqlError::table_not_found(&name.quoted()));
        }
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }

    /// All rows of a table's current version, in insertion order, as JSON_ARRAY strings.
    pub async fn read_rows(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<ResultSet, SqlError> {
        let name = Self::table_name(catalog, schema, table);
        let dir = self.table_dir(&name);
        if !storage::is_table(&dir) {
            return Err(SqlError::table_not_found(&name.quoted()));
        }
        let t = storage::open(&dir).await?;
        let cols = storage::columns(&t)?;
        let rows = storage::read_rows(&t, &cols).await?;
        Ok(ResultSet {
            columns: cols
                .iter()
                .map(|c| ColumnMeta::of(&c.name, &c.ty))
                .collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(types::Value::render).collect())
                .collect(),
        })
    }

    /// The Unity Catalog view of a table, or `None` when it does not exist.
    pub(crate) async fn table_meta(&self, name: &TableName) -> Result<Option<TableMeta>, SqlError> {
        read_table_meta(&self.table_dir(name), name).await
    }
}

/// The Unity Catalog view of the table in `dir`, or `None` when there is none.
pub(crate) async fn read_table_meta(
    dir: &std::path::Path,
    name: &TableName,
) -> Result<Option<TableMeta>, SqlError> {
    {
        let dir = dir.to_path_buf();
        if !storage::is_table(&dir) {
            return Ok(None);
        }
        let t = storage::open(&dir).await?;
        let config = storage::configuration(&t)?;
        let md_created = t.snapshot()?.metadata().created_time();
        let meta_id = t.snapshot()?.metadata().id().to_string();
        let columns = storage::columns(&t)?
            .into_iter()
            .map(|c| ColumnDef {
                name: c.name,
                type_text: c.ty.catalog_text(),
                nullable: c.nullable,
                comment: c.comment,
            })
            .collect();
        let created_at = config
            .get(KEY_CREATED_AT)
            .and_then(|v| v.parse().ok())
            .or(md_created)
            .unwrap_or(0);
        Ok(Some(TableMeta {
            catalog: name.catalog.clone(),
            schema: name.schema.clone(),
            name: name.table.clone(),
            table_type: config
                .get(KEY_TABLE_TYPE)
                .map_or(TableType::Managed, |s| TableType::parse(s)),
            comment: storage::description(&t)?,
            properties: user_properties(&config),
            columns,
            table_id: config.get(KEY_TABLE_ID).cloned().unwrap_or(meta_id),
            storage_location: storage::dir_url(&dir)?.to_string(),
            created_at,
            updated_at: storage::last_commit_time(&t).await?.unwrap_or(created_at),
            pipeline_id: config.get(KEY_PIPELINE_ID).cloned(),
            version: storage::version(&t) as i64,
            primary_key: config
                .get(KEY_PRIMARY_KEY)
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
                .map(|key| PrimaryKeyMeta {
                    name: key["name"].as_str().map(str::to_string),
                    columns: key["columns"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                }),
        }))
    }
}

/// Whether a statement is a query (straight to DataFusion) rather than one of the
/// Delta-specific statements [`parser`] recognises: its first word after comments and parentheses.
fn is_query(statement: &str) -> bool {
    let mut rest = statement;
    loop {
        let trimmed = rest.trim_start();
        if let Some(r) = trimmed.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = trimmed.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else if let Some(r) = trimmed.strip_prefix('(') {
            rest = r;
        } else {
            rest = trimmed;
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    matches!(
        word.as_str(),
        "SELECT" | "WITH" | "VALUES" | "FROM" | "TABLE"
    )
}

/// Table properties a user set: everything but Delta's and the engine's own keys.
pub(crate) fn user_properties(config: &HashMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .filter(|(k, _)| !k.starts_with("delta.") && !k.starts_with("lode."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
