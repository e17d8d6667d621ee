//! Writing a pipeline dataset's refresh back to its Delta table: the query's result (a
//! DataFusion `DataFrame`, expectations already applied) cast to the table's own fields and
//! written as ONE commit, appended (a streaming table's new rows, then auto compaction, see
//! [`super::compaction`]) or replacing every row (a materialized view, a full refresh), with the
//! streaming checkpoints as `txn` actions of the same commit so data and checkpoint can never
//! disagree. Also the read side a refresh needs:
//! a table's newest version, a checkpoint stored in a table, and the Databricks type of a
//! result column (to check it against the declared one, or to create an undeclared dataset).

use std::sync::Arc;

use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::logical_expr::{Cast, Expr};
use deltalake::datafusion::prelude::{DataFrame, ident};
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;

use super::storage::{self, Commit};
use super::{SqlEngine, SqlError};

/// How a refresh lands in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMode {
    /// A streaming table's increment: the rows are added, nothing is removed.
    Append,
    /// A materialized view, or a full refresh: the rows replace every row the table had.
    Replace,
}

impl SqlEngine {
    /// The newest version of a table, or `None` when it does not exist.
    pub async fn table_version(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<u64>, SqlError> {
        let dir = self.table_dir(&Self::table_name(catalog, schema, table));
        if !storage::is_table(&dir) {
            return Ok(None);
        }
        Ok(Some(storage::latest_version(&dir).await?))
    }

    /// The version recorded under `app_id` by a `txn` action of the table (a stream checkpoint).
    pub async fn stream_checkpoint(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
        app_id: &str,
    ) -> Result<Option<u64>, SqlError> {
        let dir = self.table_dir(&Self::table_name(catalog, schema, table));
        if !storage::is_table(&dir) {
            return Ok(None);
        }
        let t = storage::open(&dir).await?;
        let version = t
            .snapshot()?
            .transaction_version(t.log_store().as_ref(), app_id)
            .await?;
        Ok(version.map(|v| v as u64))
    }

    /// Writes `rows` into the existing table `catalog.schema.table` in one commit (see the module
    /// doc); `checkpoints` are `(app id, source version)` pairs committed with the data. Returns
    /// the version of the refresh's commit.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_refresh(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
        rows: DataFrame,
        mode: RefreshMode,
        checkpoints: &[(String, u64)],
        output_rows: u64,
    ) -> Result<u64, SqlError> {
        let name = Self::table_name(catalog, schema, table);
        let lock = self.table_lock(&name);
        let _guard = lock.lock().await;
        let dir = self.table_dir(&name);
        let target = storage::open(&dir).await?;
        let read_version = storage::version(&target);
        let fields = target.snapshot()?.snapshot().arrow_schema();
        // Cast to the table's FIELD, not just its type: a plain cast keeps the source column's
        // comment metadata and the write then fails to merge two different comments.
        let projection: Vec<Expr> = fields
            .fields()
            .iter()
            .map(|f| {
                Expr::Cast(Cast::new_from_field(Box::new(ident(f.name())), f.clone()))
                    .alias(f.name())
            })
            .collect();
        let (session, plan) = rows
            .select(projection)
            .map_err(|e| super::warehouse::from_datafusion(e, catalog, schema))?
            .into_parts();
        let (operation, save_mode) = match mode {
            RefreshMode::Append => ("STREAMING UPDATE", SaveMode::Append),
            RefreshMode::Replace => ("CREATE OR REFRESH", SaveMode::Overwrite),
        };
        let commit = Commit::new(operation)
            .param(
                "outputMode",
                if mode == RefreshMode::Append {
                    "Append"
                } else {
                    "Complete"
                },
            )
            .metric("numOutputRows", output_rows);
        let properties: CommitProperties = commit
            .properties(Some(read_version))
            .with_application_transactions(
                checkpoints
                    .iter()
                    .map(|(app, version)| Transaction::new(app, *version as i64))
                    .collect(),
            );
        let mut written = target
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(Arc::new(session))
            .with_save_mode(save_mode)
            .with_commit_properties(properties)
            .await
            .map_err(|e| SqlError::internal(format!("writing {}: {e}", name.quoted())))?;
        let version = storage::version(&written);
        if mode == RefreshMode::Append {
            super::compaction::after_write(&mut written).await;
        }
        Ok(version)
    }
}

/// The Databricks type name (`STRING`, `BIGINT`, `TIMESTAMP`, `DECIMAL(10,2)`) of a result
/// column's Arrow type; `None` for types a table column cannot hold, `Some("VOID")` for NULL.
pub fn databricks_type(dt: &DataType) -> Option<String> {
    super::warehouse::sql_type(dt).map(|t| t.sql_name())
}

/// The Databricks type name of a declared column type (`bigint`, `decimal(10,2)`, `long`).
pub fn declared_type(type_text: &str) -> Result<String, SqlError> {
    Ok(super::types::SqlType::from_text(type_text)?.sql_name())
}
