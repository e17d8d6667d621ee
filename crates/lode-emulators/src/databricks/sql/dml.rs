//! The row-changing statements: INSERT (append or overwrite), MERGE, DELETE, UPDATE and
//! TRUNCATE. DataFusion computes what changes: the INSERT source, the rows a predicate hits
//! with their new values, MERGE as a FULL OUTER JOIN of the target (numbered in insertion
//! order) and the source on the ON condition, with each WHEN clause's condition and values
//! as columns. This file then applies the first matching clause per row, casts into the
//! table's columns and checks NOT NULL like Databricks, and writes the result as exactly one
//! Delta commit (an append, or Add + Remove replacing every file) under the table's lock. A
//! statement that changes no row makes no commit, as Delta's `commitIfNeeded` does.

use std::collections::HashSet;

use deltalake::datafusion::sql::sqlparser::ast::{Expr, SetExpr, TableFactor};
use deltalake::protocol::{DeltaOperation, SaveMode};
use serde_json::json;

use super::ast::{InsertSource, Merge, MergeAction, MergeKind, ObjName};
use super::exec::Session;
use super::front::{Checkpoints, spark_name};
use super::storage::{self, Column, Commit};
use super::types::{SqlType, Value, cast};
use super::{ColumnMeta, ResultSet, SqlError, TableName};
use super::{inline_rows, lakehouse, warehouse};
use deltalake::arrow::array::RecordBatch;

/// The column that numbers the target's rows (1-based, insertion order) in DataFusion queries.
const ROW: &str = "__lode_row";
/// The column that numbers the MERGE source's rows.
const SOURCE_ROW: &str = "__lode_srow";

fn counts(names: &[&str], values: &[usize]) -> ResultSet {
    ResultSet {
        columns: names
            .iter()
            .map(|n| ColumnMeta::of(n, &SqlType::Long))
            .collect(),
        rows: vec![values.iter().map(|v| Some(v.to_string())).collect()],
    }
}

/// Casts a value into a column, enforcing NOT NULL.
fn store(v: &Value, col: &Column) -> Result<Value, SqlError> {
    let v = cast(v, &col.ty)?;
    if v.is_null() && !col.nullable {
        return Err(SqlError::not_null(&col.name));
    }
    Ok(v)
}

fn quoted_list(names: impl IntoIterator<Item = String>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn arity_error(name: &TableName, table_cols: &[String], data_cols: usize) -> SqlError {
    let (sub, reason) = if data_cols > table_cols.len() {
        ("TOO_MANY_DATA_COLUMNS", "too many data columns")
    } else {
        ("NOT_ENOUGH_DATA_COLUMNS", "not enough data columns")
    };
    SqlError::new(
        &format!("INSERT_COLUMN_ARITY_MISMATCH.{sub}"),
        "21S01",
        format!(
            "Cannot write to {}, the reason is {reason}:\nTable columns: {}.\nData columns: {}.",
            name.quoted(),
            quoted_list(table_cols.iter().cloned()),
            quoted_list((1..=data_cols).map(|i| format!("col{i}")))
        ),
    )
}

/// Maps a column list (INSERT, MERGE INSERT) to table column indexes.
fn column_indexes(cols: &[Column], names: &[String]) -> Result<Vec<usize>, SqlError> {
    let mut out: Vec<usize> = Vec::new();
    for n in names {
        let i = cols
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(n))
            .ok_or_else(|| {
                SqlError::unresolved_column(
                    &format!("`{n}`"),
                    &cols
                        .iter()
                        .map(|c| format!("`{}`", c.name))
                        .collect::<Vec<_>>(),
                )
            })?;
        if out.contains(&i) {
            return Err(SqlError::new(
                "COLUMN_ALREADY_EXISTS",
                "42711",
                format!(
                    "The column `{}` already exists. Choose another name or rename the existing column.",
                    n.to_lowercase()
                ),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

/// The INSERT source for DataFusion. A VALUES list may mix types down a column (a string
/// and a TIMESTAMP, say) because Databricks casts every value into its column; DataFusion
/// wants one type per column, so each value is cast into its target column here.
fn insert_query(
    name: &TableName,
    source: &InsertSource,
    targets: &[usize],
    cols: &[Column],
) -> Result<String, SqlError> {
    let SetExpr::Values(values) = &*source.query.body else {
        return Ok(source.query.to_string());
    };
    if !source.is_values || source.query.with.is_some() || source.query.order_by.is_some() {
        return Ok(source.query.to_string());
    }
    let mut rows = Vec::with_capacity(values.rows.len());
    for row in &values.rows {
        if row.len() != targets.len() {
            let table_cols: Vec<String> = targets.iter().map(|i| cols[*i].name.clone()).collect();
            return Err(arity_error(name, &table_cols, row.len()));
        }
        let cells: Vec<String> = row
            .iter()
            .zip(targets)
            .map(|(e, i)| format!("CAST({e} AS {})", cols[*i].ty.sql_name()))
            .collect();
        rows.push(format!("({})", cells.join(", ")));
    }
    Ok(format!("VALUES {}", rows.join(", ")))
}

/// `` `a`.`b`.`c` ``: a name as written, for SQL handed to DataFusion.
fn quoted_name(parts: &ObjName) -> String {
    parts
        .iter()
        .map(|p| format!("`{}`", p.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

fn quoted_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The name a statement's expressions use for its table: the alias, else the table's own
/// name (DataFusion folds unquoted names to lower case).
fn qualifier(table: &ObjName, alias: Option<&str>) -> String {
    alias
        .or(table.last().map(String::as_str))
        .unwrap_or_default()
        .to_lowercase()
}

/// The target table as a relation whose rows carry their position in `storage::read_rows`
/// order (the lake catalog's `@numbered` tables), under `qualifier`.
fn numbered_target(table: &ObjName, qualifier: &str) -> String {
    let mut parts = table.clone();
    if let Some(last) = parts.last_mut() {
        last.push('@');
        last.push_str(lakehouse::NUMBERED);
    }
    format!("{} AS {}", quoted_name(&parts), quoted_ident(qualifier))
}

/// A row number column's value as a 0-based index.
fn row_index(v: &Value) -> Option<usize> {
    match v {
        Value::Int(n) if *n > 0 => Some(*n as usize - 1),
        _ => None,
    }
}

/// Maps `SET col = expr` targets to table columns; a qualifier, if written, must name the
/// target.
fn assignment_targets(
    cols: &[Column],
    target_qualifier: &str,
    sets: &[(Vec<String>, Expr)],
) -> Result<Vec<usize>, SqlError> {
    sets.iter()
        .map(|(path, _)| {
            let qualified_ok = path.len() == 1
                || path[..path.len() - 1]
                    .last()
                    .is_some_and(|q| q.eq_ignore_ascii_case(target_qualifier));
            let col = path.last().map(String::as_str).unwrap_or_default();
            cols.iter()
                .position(|c| c.name.eq_ignore_ascii_case(col))
                .filter(|_| qualified_ok)
                .ok_or_else(|| {
                    SqlError::unresolved_column(
                        &path
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join("."),
                        &cols
                            .iter()
                            .map(|c| format!("`{}`", c.name))
                            .collect::<Vec<_>>(),
                    )
                })
        })
        .collect()
}

/// One MERGE clause: where its condition and values are in the joined rows.
struct Clause {
    kind: MergeKind,
    /// The column holding `coalesce(cond, false)`; `None` is an unconditional clause.
    cond: Option<usize>,
    action: Action,
}

enum Action {
    /// (target column, joined-row column) per assignment.
    Update(Vec<(usize, usize)>),
    Delete,
    /// The joined-row column (or NULL) for every target column.
    Insert(Vec<Option<usize>>),
}

impl Clause {
    fn action_type(&self) -> &'static str {
        match self.action {
            Action::Update(_) => "update",
            Action::Delete => "delete",
            Action::Insert(_) => "insert",
        }
    }

    fn applies(&self, row: &[Value]) -> bool {
        self.cond
            .is_none_or(|i| matches!(row[i], Value::Bool(true)))
    }
}

/// The alias the MERGE source's columns are qualified with.
fn source_alias(source: &TableFactor) -> String {
    let alias = match source {
        TableFactor::Table { alias, name, .. } => alias
            .as_ref()
            .map(|a| a.name.clone())
            .or_else(|| name.0.last().and_then(|p| p.as_ident().cloned())),
        TableFactor::Derived { alias, .. } => alias.as_ref().map(|a| a.name.clone()),
        _ => None,
    };
    match alias {
        Some(i) if i.quote_style.is_none() => i.value.to_lowercase(),
        Some(i) => i.value,
        None => "__lode_source".to_string(),
    }
}

/// The MERGE source as a relation under its alias, each row numbered.
fn numbered_source(source: &str, alias: &str) -> String {
    format!(
        "(SELECT *, row_number() OVER () AS {SOURCE_ROW} FROM {source}) AS {}",
        quoted_ident(alias)
    )
}

/// A MERGE source that is a `VALUES` list of literals, as the table that reads its rows
/// already converted (see [`inline_rows`]) under the same alias, and those rows.
fn inline_source(
    source: &TableFactor,
    parameters: &[(String, Option<String>)],
) -> Result<Option<(String, RecordBatch)>, SqlError> {
    let TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(alias),
        ..
    } = source
    else {
        return Ok(None);
    };
    let SetExpr::Values(values) = &*subquery.body else {
        return Ok(None);
    };
    if subquery.with.is_some() || subquery.order_by.is_some() || subquery.limit_clause.is_some() {
        return Ok(None);
    }
    let Some(rows) = inline_rows::literal_batch(values, parameters)? else {
        return Ok(None);
    };
    let mut alias = alias.clone();
    alias.explicit = false;
    let relation = format!(
        "`{}`.`inline`.`source` AS {alias}",
        lakehouse::STATEMENT_CATALOG
    );
    Ok(Some((relation, rows)))
}

impl Session<'_> {
    /// Runs a query on DataFusion (with the statement's parameters): its column types, names
    /// and rows.
    pub(crate) async fn query_rows(&self, sql: &str) -> Result<warehouse::ValueRows, SqlError> {
        let df = self
            .engine
            .plan_query(
                sql,
                &self.catalog,
                &self.schema,
                self.parameters,
                &Checkpoints::new(),
                self.statement_rows.as_ref(),
            )
            .await?;
        let (schema, batches) = warehouse::collect(df).await?;
        warehouse::values(&schema, &batches)
    }

    pub(crate) async fn insert(
        &self,
        table: &ObjName,
        columns: Option<Vec<String>>,
        source: InsertSource,
        overwrite: bool,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let cols = loaded.columns.clone();
        let targets: Vec<usize> = match &columns {
            Some(names) => column_indexes(&cols, names)?,
            None => (0..cols.len()).collect(),
        };
        let (data_width, data) = match inline_rows::insert_literal_rows(&source, self.parameters) {
            Some(rows) => {
                if let Some(row) = rows.iter().find(|r| r.len() != targets.len()) {
                    let table_cols: Vec<String> =
                        targets.iter().map(|i| cols[*i].name.clone()).collect();
                    return Err(arity_error(&name, &table_cols, row.len()));
                }
                (targets.len(), rows)
            }
            None => {
                let (_, data_names, data) = self
                    .query_rows(&insert_query(&name, &source, &targets, &cols)?)
                    .await?;
                (data_names.len(), data)
            }
        };
        if data_width != targets.len() {
            let table_cols: Vec<String> = targets.iter().map(|i| cols[*i].name.clone()).collect();
            return Err(arity_error(&name, &table_cols, data_width));
        }
        let mut rows = Vec::with_capacity(data.len());
        for d in data {
            let mut row = vec![Value::Null; cols.len()];
            for (v, i) in d.into_iter().zip(&targets) {
                row[*i] = v;
            }
            rows.push(
                row.iter()
                    .zip(&cols)
                    .map(|(v, c)| store(v, c))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let n = rows.len();
        if overwrite {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &cols, &rows).await?;
            let commit = Commit::new("WRITE")
                .param("mode", "Overwrite")
                .param("partitionBy", "[]")
                .metric("numFiles", adds.len())
                .metric("numOutputRows", n)
                .metric("numOutputBytes", adds.iter().map(|a| a.size).sum::<i64>())
                .metric("numRemovedFiles", removed);
            let op = DeltaOperation::Write {
                mode: SaveMode::Overwrite,
                partition_by: None,
                predicate: None,
            };
            storage::commit_files(&mut loaded.table, adds, true, op, &commit).await?;
        } else if n > 0 {
            let adds = storage::write_files(&loaded.table, &cols, &rows).await?;
            let mut commit = Commit::new("WRITE")
                .param("mode", "Append")
                .param("statsOnLoad", "false")
                .param("partitionBy", "[]")
                .metric("numFiles", adds.len())
                .metric("numOutputRows", n)
                .metric("numOutputBytes", adds.iter().map(|a| a.size).sum::<i64>());
            commit.blind_append = source.is_values;
            let op = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            };
            storage::commit_files(&mut loaded.table, adds, false, op, &commit).await?;
        }
        Ok(counts(&["num_affected_rows", "num_inserted_rows"], &[n, n]))
    }

    /// The positions (0-based, in insertion order) of the rows `filter` holds for, each with the
    /// values of `exprs` on that row.
    async fn hits(
        &self,
        table: &ObjName,
        qualifier: &str,
        exprs: &[&Expr],
        filter: Option<&Expr>,
    ) -> Result<Vec<(usize, Vec<Value>)>, SqlError> {
        let mut sql = format!("SELECT {ROW}");
        for (j, e) in exprs.iter().enumerate() {
            sql.push_str(&format!(", ({e}) AS __lode_v{j}"));
        }
        sql.push_str(&format!(" FROM {}", numbered_target(table, qualifier)));
        if let Some(f) = filter {
            sql.push_str(&format!(" WHERE {f}"));
        }
        let (_, _, rows) = self.query_rows(&sql).await?;
        rows.into_iter()
            .map(|mut r| {
                let index = row_index(&r[0])
                    .ok_or_else(|| SqlError::internal("a target row without its number"))?;
                r.remove(0);
                Ok((index, r))
            })
            .collect()
    }

    pub(crate) async fn delete(
        &self,
        table: &ObjName,
        alias: Option<&str>,
        filter: Option<&Expr>,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let rows = storage::read_rows(&loaded.table, &loaded.columns).await?;
        let total = rows.len();
        let hit: HashSet<usize> = match filter {
            Some(_) => self
                .hits(table, &qualifier(table, alias), &[], filter)
                .await?
                .into_iter()
                .map(|(i, _)| i)
                .collect(),
            None => (0..total).collect(),
        };
        let kept: Vec<Vec<Value>> = rows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !hit.contains(i))
            .map(|(_, r)| r)
            .collect();
        let deleted = total - kept.len();
        if deleted > 0 {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &loaded.columns, &kept).await?;
            let predicate = filter
                .map(|f| json!([spark_name(f)]).to_string())
                .unwrap_or_else(|| "[]".into());
            let commit = Commit::new("DELETE")
                .param("predicate", &predicate)
                .metric("numDeletedRows", deleted)
                .metric("numRemovedFiles", removed)
                .metric("numAddedFiles", adds.len())
                .metric("numCopiedRows", kept.len())
                .metric("numAddedChangeFiles", 0);
            let op = DeltaOperation::Delete {
                predicate: filter.map(spark_name),
            };
            storage::commit_files(&mut loaded.table, adds, true, op, &commit).await?;
        }
        Ok(counts(&["num_affected_rows"], &[deleted]))
    }

    pub(crate) async fn truncate(&self, table: &ObjName) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let removed = storage::files(&loaded.table).await?.len();
        if removed > 0 {
            let commit = Commit::new("TRUNCATE").metric("numRemovedFiles", removed);
            let op = DeltaOperation::Delete { predicate: None };
            storage::commit_files(&mut loaded.table, Vec::new(), true, op, &commit).await?;
        }
        Ok(ResultSet::empty())
    }

    pub(crate) async fn update(
        &self,
        table: &ObjName,
        alias: Option<&str>,
        sets: &[(Vec<String>, Expr)],
        filter: Option<&Expr>,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(table)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let cols = loaded.columns.clone();
        let qualifier = qualifier(table, alias);
        let targets = assignment_targets(&cols, &qualifier, sets)?;
        let exprs: Vec<&Expr> = sets.iter().map(|(_, e)| e).collect();
        let hits = self.hits(table, &qualifier, &exprs, filter).await?;
        let mut out = storage::read_rows(&loaded.table, &loaded.columns).await?;
        let updated = hits.len();
        for (index, values) in hits {
            let row = out
                .get_mut(index)
                .ok_or_else(|| SqlError::internal("a target row number past the table's end"))?;
            for (i, v) in targets.iter().zip(&values) {
                row[*i] = store(v, &cols[*i])?;
            }
        }
        if updated > 0 {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &cols, &out).await?;
            let predicate = filter
                .map(|f| json!([spark_name(f)]).to_string())
                .unwrap_or_else(|| "[]".into());
            let commit = Commit::new("UPDATE")
                .param("predicate", &predicate)
                .metric("numUpdatedRows", updated)
                .metric("numCopiedRows", out.len() - updated)
                .metric("numAddedFiles", adds.len())
                .metric("numRemovedFiles", removed)
                .metric("numAddedChangeFiles", 0);
            let op = DeltaOperation::Update {
                predicate: filter.map(spark_name),
            };
            storage::commit_files(&mut loaded.table, adds, true, op, &commit).await?;
        }
        Ok(counts(&["num_affected_rows"], &[updated]))
    }

    pub(crate) async fn merge(&self, m: &Merge) -> Result<ResultSet, SqlError> {
        let source_alias = source_alias(&m.source);
        match inline_source(&m.source, self.parameters)? {
            Some((relation, rows)) => {
                let session = Session {
                    engine: self.engine,
                    catalog: self.catalog.clone(),
                    schema: self.schema.clone(),
                    parameters: self.parameters,
                    statement_rows: Some(rows),
                };
                session.merge_from(m, &relation, &source_alias).await
            }
            None => {
                self.merge_from(m, &m.source.to_string(), &source_alias)
                    .await
            }
        }
    }

    /// MERGE with its source written as `source` (a relation under `source_alias`).
    async fn merge_from(
        &self,
        m: &Merge,
        source: &str,
        source_alias: &str,
    ) -> Result<ResultSet, SqlError> {
        let name = self.table_name(&m.target)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let cols = loaded.columns.clone();
        let target_qualifier = qualifier(&m.target, m.target_alias.as_deref());
        let source_sql = numbered_source(source, source_alias);

        // `UPDATE SET *` / `INSERT *` take the source's columns by name.
        let source_columns: Vec<String> = if m
            .clauses
            .iter()
            .any(|c| matches!(c.action, MergeAction::UpdateAll | MergeAction::InsertAll))
        {
            let df = self
                .engine
                .plan_query(
                    &format!("SELECT * FROM {source}"),
                    &self.catalog,
                    &self.schema,
                    self.parameters,
                    &Checkpoints::new(),
                    self.statement_rows.as_ref(),
                )
                .await?;
            df.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        } else {
            Vec::new()
        };
        let by_name = |clause: &str| -> Result<Vec<String>, SqlError> {
            cols.iter()
                .map(|col| {
                    source_columns
                        .iter()
                        .find(|s| s.eq_ignore_ascii_case(&col.name))
                        .map(|s| format!("{}.{}", quoted_ident(source_alias), quoted_ident(s)))
                        .ok_or_else(|| {
                            let q = &source_alias;
                            SqlError::new(
                                "DELTA_MERGE_UNRESOLVED_EXPRESSION",
                                "42601",
                                format!(
                                    "Cannot resolve `{q}`.`{}` in {clause} clause given columns {}.",
                                    col.name,
                                    source_columns
                                        .iter()
                                        .map(|s| format!("`{q}`.`{s}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            )
                        })
                })
                .collect()
        };

        // The joined rows' columns: both row numbers, then per clause its condition and values.
        let mut items = vec![
            format!("{}.{ROW}", quoted_ident(&target_qualifier)),
            format!("{}.{SOURCE_ROW}", quoted_ident(source_alias)),
        ];
        let column = |sql: String, items: &mut Vec<String>| {
            items.push(format!("({sql}) AS __lode_{}", items.len()));
            items.len() - 1
        };
        let mut clauses = Vec::new();
        for c in &m.clauses {
            let cond = c
                .cond
                .as_ref()
                .map(|e| column(format!("coalesce(({e}), false)"), &mut items));
            let action = match &c.action {
                MergeAction::Delete => Action::Delete,
                MergeAction::UpdateAll => Action::Update(
                    by_name("UPDATE")?
                        .into_iter()
                        .enumerate()
                        .map(|(i, sql)| (i, column(sql, &mut items)))
                        .collect(),
                ),
                MergeAction::Update(sets) => Action::Update(
                    assignment_targets(&cols, &target_qualifier, sets)?
                        .into_iter()
                        .zip(sets)
                        .map(|(i, (_, e))| (i, column(e.to_string(), &mut items)))
                        .collect(),
                ),
                MergeAction::InsertAll => Action::Insert(
                    by_name("INSERT")?
                        .into_iter()
                        .map(|sql| Some(column(sql, &mut items)))
                        .collect(),
                ),
                MergeAction::Insert(names, exprs) => {
                    let idx = match names {
                        Some(n) => column_indexes(&cols, n)?,
                        None => (0..cols.len()).collect(),
                    };
                    if idx.len() != exprs.len() {
                        return Err(arity_error(
                            &name,
                            &idx.iter()
                                .map(|i| cols[*i].name.clone())
                                .collect::<Vec<_>>(),
                            exprs.len(),
                        ));
                    }
                    let mut values = vec![None; cols.len()];
                    for (i, e) in idx.iter().zip(exprs) {
                        values[*i] = Some(column(e.to_string(), &mut items));
                    }
                    Action::Insert(values)
                }
            };
            clauses.push(Clause {
                kind: c.kind,
                cond,
                action,
            });
        }
        // An insert-only MERGE (only `WHEN NOT MATCHED` clauses) leaves every target row as it
        // is, so, as in Delta, it appends the new rows and rewrites nothing: only the source
        // rows need joining, and the target's rows need not be read.
        let insert_only = clauses.iter().all(|c| c.kind == MergeKind::NotMatched);
        let sql = format!(
            "SELECT {} FROM {} {} JOIN {source_sql} ON ({})",
            items.join(", "),
            numbered_target(&m.target, &target_qualifier),
            if insert_only { "RIGHT" } else { "FULL OUTER" },
            m.on
        );
        let (_, _, joined) = self.query_rows(&sql).await?;

        let target_rows = if insert_only {
            Vec::new()
        } else {
            storage::read_rows(&loaded.table, &cols).await?
        };
        let has_matched = clauses.iter().any(|c| c.kind == MergeKind::Matched);
        // Per target row: how it matched, and the joined row to evaluate clauses on.
        let mut fate: Vec<Option<(MergeKind, usize)>> = vec![None; target_rows.len()];
        let mut unmatched_source: Vec<(usize, usize)> = Vec::new();
        let mut source_rows = 0;
        for (r, row) in joined.iter().enumerate() {
            let (t, s) = (row_index(&row[0]), row_index(&row[1]));
            if let Some(s) = s {
                source_rows = source_rows.max(s + 1);
            }
            match (t, s) {
                (Some(_), _) if insert_only => {}
                (Some(t), Some(_)) => {
                    let slot = fate
                        .get_mut(t)
                        .ok_or_else(|| SqlError::internal("a target row past the table's end"))?;
                    if matches!(slot, Some((MergeKind::Matched, _))) {
                        if has_matched {
                            return Err(multiple_matches());
                        }
                        continue;
                    }
                    *slot = Some((MergeKind::Matched, r));
                }
                (Some(t), None) => {
                    if let Some(slot) = fate.get_mut(t) {
                        *slot = Some((MergeKind::NotMatchedBySource, r));
                    }
                }
                (None, Some(s)) => unmatched_source.push((s, r)),
                (None, None) => {}
            }
        }
        unmatched_source.sort_unstable();

        let mut out = Vec::with_capacity(target_rows.len());
        let (
            mut matched_updated,
            mut matched_deleted,
            mut nmbs_updated,
            mut nmbs_deleted,
            mut inserted,
        ) = (0, 0, 0, 0, 0);
        for (t, old) in target_rows.iter().enumerate() {
            let Some((kind, r)) = fate[t] else {
                out.push(old.clone());
                continue;
            };
            let row = &joined[r];
            let applied = clauses
                .iter()
                .filter(|c| c.kind == kind)
                .find(|c| c.applies(row));
            match applied.map(|c| &c.action) {
                Some(Action::Delete) => {
                    if kind == MergeKind::Matched {
                        matched_deleted += 1
                    } else {
                        nmbs_deleted += 1
                    }
                }
                Some(Action::Update(sets)) => {
                    let mut new = old.clone();
                    for (i, j) in sets {
                        new[*i] = store(&row[*j], &cols[*i])?;
                    }
                    out.push(new);
                    if kind == MergeKind::Matched {
                        matched_updated += 1
                    } else {
                        nmbs_updated += 1
                    }
                }
                _ => out.push(old.clone()),
            }
        }
        for (_, r) in &unmatched_source {
            let row = &joined[*r];
            let applied = clauses
                .iter()
                .filter(|c| c.kind == MergeKind::NotMatched)
                .find(|c| c.applies(row));
            if let Some(Action::Insert(values)) = applied.map(|c| &c.action) {
                let mut new = Vec::with_capacity(cols.len());
                for (j, col) in values.iter().zip(&cols) {
                    let v = j.map_or(Value::Null, |j| row[j].clone());
                    new.push(store(&v, col)?);
                }
                out.push(new);
                inserted += 1;
            }
        }
        let updated = matched_updated + nmbs_updated;
        let deleted = matched_deleted + nmbs_deleted;
        let affected = updated + deleted + inserted;
        if affected > 0 {
            let removed = if insert_only {
                0
            } else {
                storage::files(&loaded.table).await?.len()
            };
            let adds = storage::write_files(&loaded.table, &cols, &out).await?;
            let preds = |kind: MergeKind| {
                let list: Vec<serde_json::Value> = clauses
                    .iter()
                    .zip(&m.clauses)
                    .filter(|(c, _)| c.kind == kind)
                    .map(|(c, ast)| match &ast.cond {
                        Some(e) => {
                            json!({"predicate": spark_name(e), "actionType": c.action_type()})
                        }
                        None => json!({"actionType": c.action_type()}),
                    })
                    .collect();
                serde_json::Value::Array(list).to_string()
            };
            let commit = Commit::new("MERGE")
                .param("predicate", json!([spark_name(&m.on)]).to_string())
                .param("matchedPredicates", preds(MergeKind::Matched))
                .param("notMatchedPredicates", preds(MergeKind::NotMatched))
                .param(
                    "notMatchedBySourcePredicates",
                    preds(MergeKind::NotMatchedBySource),
                )
                .metric("numSourceRows", source_rows)
                .metric("numTargetRowsInserted", inserted)
                .metric("numTargetRowsUpdated", updated)
                .metric("numTargetRowsMatchedUpdated", matched_updated)
                .metric("numTargetRowsNotMatchedBySourceUpdated", nmbs_updated)
                .metric("numTargetRowsDeleted", deleted)
                .metric("numTargetRowsMatchedDeleted", matched_deleted)
                .metric("numTargetRowsNotMatchedBySourceDeleted", nmbs_deleted)
                .metric("numTargetRowsCopied", target_rows.len() - updated - deleted)
                .metric("numOutputRows", out.len())
                .metric("numTargetFilesAdded", adds.len())
                .metric("numTargetFilesRemoved", removed)
                .metric("numTargetChangeFilesAdded", 0);
            let op = DeltaOperation::Merge {
                predicate: None,
                merge_predicate: Some(spark_name(&m.on)),
                matched_predicates: Vec::new(),
                not_matched_predicates: Vec::new(),
                not_matched_by_source_predicates: Vec::new(),
            };
            storage::commit_files(&mut loaded.table, adds, !insert_only, op, &commit).await?;
        }
        Ok(counts(
            &[
                "num_affected_rows",
                "num_updated_rows",
                "num_deleted_rows",
                "num_inserted_rows",
            ],
            &[affected, updated, deleted, inserted],
        ))
    }
}

fn multiple_matches() -> SqlError {
    SqlError::new(
        "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
        "21506",
        "Cannot perform Merge as multiple source rows matched and attempted to modify the same\ntarget row in the Delta table in possibly conflicting ways. By SQL semantics of Merge,\nwhen multiple source rows match on the same target row, the result may be ambiguous\nas it is unclear which source row should be used to update or delete the matching\ntarget row. You can preprocess the source table to eliminate the possibility of\nmultiple matches. Please refer to\nhttps://docs.delta.io/latest/delta-update.html#upsert-into-a-table-using-merge",
    )
}
