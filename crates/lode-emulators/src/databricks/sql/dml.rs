//! The row-changing statements: INSERT (append or overwrite), MERGE, DELETE, UPDATE and
//! TRUNCATE. Each computes the new row set in memory over the table's current rows, checks
//! types and NOT NULL like Databricks, and writes it as exactly one Delta commit (an append,
//! or Add + Remove replacing every file) under the table's lock. A statement that changes no
//! row makes no commit, as Delta's `commitIfNeeded` does.

use deltalake::protocol::{DeltaOperation, SaveMode};
use serde_json::json;

use super::ast::{Expr, InsertSource, Merge, MergeAction, MergeKind, ObjName};
use super::eval::{Binder, Bound, ColInfo, Env, RelScope, eval, holds};
use super::exec::Session;
use super::merge_join::MergeJoin;
use super::query::table_qualifiers;
use super::storage::{self, Column, Commit};
use super::types::SqlType;
use super::types::{Value, cast};
use super::{ColumnMeta, ResultSet, SqlError, TableName};

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

fn scope_of(cols: &[Column], qualifiers: Vec<String>) -> RelScope {
    RelScope {
        qualifiers,
        columns: cols
            .iter()
            .map(|c| ColInfo {
                name: c.name.clone(),
                ty: c.ty.clone(),
            })
            .collect(),
    }
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

/// Binds `SET col = expr` assignments: the column is the target's (a qualifier, if written,
/// must name the target), the expression is bound in `binder`'s scope.
fn bind_assignments(
    binder: &mut Binder<'_>,
    cols: &[Column],
    target_quals: &[String],
    sets: &[(Vec<String>, Expr)],
) -> Result<Vec<(usize, Bound)>, SqlError> {
    let mut out = Vec::new();
    for (path, e) in sets {
        let qualified_ok = path.len() == 1
            || target_quals
                .iter()
                .any(|q| *q == path[..path.len() - 1].join(".").to_lowercase());
        let col = path.last().map(String::as_str).unwrap_or_default();
        let idx = cols
            .iter()
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
            })?;
        out.push((idx, binder.bind(e)?.0));
    }
    Ok(out)
}

/// One MERGE clause, bound.
struct Clause {
    kind: MergeKind,
    cond: Option<Bound>,
    action: Action,
}

enum Action {
    Update(Vec<(usize, Bound)>),
    Delete,
    /// A value (or NULL) for every target column.
    Insert(Vec<Option<Bound>>),
}

impl Clause {
    fn action_type(&self) -> &'static str {
        match self.action {
            Action::Update(_) => "update",
            Action::Delete => "delete",
            Action::Insert(_) => "insert",
        }
    }
}

impl Session<'_> {
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
        let data: Vec<Vec<Value>> = match &source {
            InsertSource::Values(rows) => self.values_relation(rows, None, &[])?.rows,
            InsertSource::Query(sel) => self.select(sel).await?.1,
        };
        let mut rows = Vec::with_capacity(data.len());
        for d in &data {
            if d.len() != targets.len() {
                let table_cols: Vec<String> =
                    targets.iter().map(|i| cols[*i].name.clone()).collect();
                return Err(arity_error(&name, &table_cols, d.len()));
            }
            let mut row = vec![Value::Null; cols.len()];
            for (v, i) in d.iter().zip(&targets) {
                row[*i] = v.clone();
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
            commit.blind_append = matches!(source, InsertSource::Values(_));
            let op = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: None,
                predicate: None,
            };
            storage::commit_files(&mut loaded.table, adds, false, op, &commit).await?;
        }
        Ok(counts(&["num_affected_rows", "num_inserted_rows"], &[n, n]))
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
        let scope = [scope_of(&loaded.columns, table_qualifiers(&name, alias))];
        let pred = match filter {
            Some(f) => Some(Binder::new(&scope, &self.ctx).bind_predicate(f)?),
            None => None,
        };
        let rows = storage::read_rows(&loaded.table, &loaded.columns).await?;
        let total = rows.len();
        let mut kept = Vec::with_capacity(total);
        for r in rows {
            let hit = match &pred {
                Some(p) => holds(p, &Env::rows(&[r.as_slice()]), &self.ctx)?,
                None => true,
            };
            if !hit {
                kept.push(r);
            }
        }
        let deleted = total - kept.len();
        if deleted > 0 {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &loaded.columns, &kept).await?;
            let predicate = filter
                .map(|f| json!([f.to_string()]).to_string())
                .unwrap_or_else(|| "[]".into());
            let commit = Commit::new("DELETE")
                .param("predicate", &predicate)
                .metric("numDeletedRows", deleted)
                .metric("numRemovedFiles", removed)
                .metric("numAddedFiles", adds.len())
                .metric("numCopiedRows", kept.len())
                .metric("numAddedChangeFiles", 0);
            let op = DeltaOperation::Delete {
                predicate: filter.map(|f| f.to_string()),
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
        let quals = table_qualifiers(&name, alias);
        let scope = [scope_of(&cols, quals.clone())];
        let mut binder = Binder::new(&scope, &self.ctx);
        let assignments = bind_assignments(&mut binder, &cols, &quals, sets)?;
        let pred = match filter {
            Some(f) => Some(binder.bind_predicate(f)?),
            None => None,
        };
        let rows = storage::read_rows(&loaded.table, &cols).await?;
        let mut updated = 0;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let env_rows = [r.as_slice()];
            let env = Env::rows(&env_rows);
            let hit = match &pred {
                Some(p) => holds(p, &env, &self.ctx)?,
                None => true,
            };
            if !hit {
                out.push(r);
                continue;
            }
            let mut new = r.clone();
            for (i, b) in &assignments {
                new[*i] = store(&eval(b, &env, &self.ctx)?, &cols[*i])?;
            }
            updated += 1;
            out.push(new);
        }
        if updated > 0 {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &cols, &out).await?;
            let predicate = filter
                .map(|f| json!([f.to_string()]).to_string())
                .unwrap_or_else(|| "[]".into());
            let commit = Commit::new("UPDATE")
                .param("predicate", &predicate)
                .metric("numUpdatedRows", updated)
                .metric("numCopiedRows", out.len() - updated)
                .metric("numAddedFiles", adds.len())
                .metric("numRemovedFiles", removed)
                .metric("numAddedChangeFiles", 0);
            let op = DeltaOperation::Update {
                predicate: filter.map(|f| f.to_string()),
            };
            storage::commit_files(&mut loaded.table, adds, true, op, &commit).await?;
        }
        Ok(counts(&["num_affected_rows"], &[updated]))
    }

    pub(crate) async fn merge(&self, m: &Merge) -> Result<ResultSet, SqlError> {
        let name = self.table_name(&m.target)?;
        let lock = self.engine.table_lock(&name);
        let _g = lock.lock().await;
        let mut loaded = self.load_table(&name, None).await?;
        let cols = loaded.columns.clone();
        let source = self.relation(&m.source).await?;
        let tgt_quals = table_qualifiers(&name, m.target_alias.as_deref());
        let target_scope = scope_of(&cols, tgt_quals.clone());
        let source_scope = source.scope;
        // NOT MATCHED clauses see only the source, NOT MATCHED BY SOURCE only the target: the
        // other side keeps its qualifiers but has no columns, so references to it fail to resolve.
        let full = [target_scope.clone(), source_scope.clone()];
        let source_only = [
            RelScope {
                qualifiers: tgt_quals.clone(),
                columns: Vec::new(),
            },
            source_scope.clone(),
        ];
        let target_only = [
            target_scope,
            RelScope {
                qualifiers: source_scope.qualifiers.clone(),
                columns: Vec::new(),
            },
        ];

        let on = Binder::new(&full, &self.ctx).bind_predicate(&m.on)?;
        let mut clauses = Vec::new();
        for c in &m.clauses {
            let scope: &[RelScope] = match c.kind {
                MergeKind::Matched => &full,
                MergeKind::NotMatched => &source_only,
                MergeKind::NotMatchedBySource => &target_only,
            };
            let mut binder = Binder::new(scope, &self.ctx);
            let cond = match &c.cond {
                Some(e) => Some(binder.bind_predicate(e)?),
                None => None,
            };
            let by_name = |clause: &str| -> Result<Vec<(usize, Bound)>, SqlError> {
                cols.iter()
                    .enumerate()
                    .map(|(i, col)| {
                        let j = source_scope.columns.iter().position(|s| s.name.eq_ignore_ascii_case(&col.name)).ok_or_else(|| {
                            let q = source_scope.qualifiers.first().cloned().unwrap_or_default();
                            SqlError::new(
                                "DELTA_MERGE_UNRESOLVED_EXPRESSION",
                                "42601",
                                format!(
                                    "Cannot resolve `{q}`.`{}` in {clause} clause given columns {}.",
                                    col.name,
                                    source_scope.columns.iter().map(|s| format!("`{q}`.`{}`", s.name)).collect::<Vec<_>>().join(", ")
                                ),
                            )
                        })?;
                        Ok((i, Bound::Col(1, j)))
                    })
                    .collect()
            };
            let action = match &c.action {
                MergeAction::Delete => Action::Delete,
                MergeAction::UpdateAll => Action::Update(by_name("UPDATE")?),
                MergeAction::Update(sets) => {
                    Action::Update(bind_assignments(&mut binder, &cols, &tgt_quals, sets)?)
                }
                MergeAction::InsertAll => {
                    let mut values = vec![None; cols.len()];
                    for (i, b) in by_name("INSERT")? {
                        values[i] = Some(b);
                    }
                    Action::Insert(values)
                }
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
                        values[*i] = Some(binder.bind(e)?.0);
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

        let target_rows = storage::read_rows(&loaded.table, &cols).await?;
        let src_rows = source.rows;
        let has_matched = clauses.iter().any(|c| c.kind == MergeKind::Matched);
        let mut src_matched = vec![false; src_rows.len()];
        let mut out = Vec::with_capacity(target_rows.len());
        let (
            mut matched_updated,
            mut matched_deleted,
            mut nmbs_updated,
            mut nmbs_deleted,
            mut inserted,
        ) = (0, 0, 0, 0, 0);
        let empty: Vec<Value> = Vec::new();
        let join = MergeJoin::build(&on, &target_rows, &src_rows);
        let every_source_row: Vec<usize> = if join.is_some() {
            Vec::new()
        } else {
            (0..src_rows.len()).collect()
        };
        for (index, t) in target_rows.iter().enumerate() {
            let candidates = match &join {
                Some(join) => join.candidates(index),
                None => &every_source_row,
            };
            let mut matches = Vec::new();
            for &j in candidates {
                let s = &src_rows[j];
                if holds(&on, &Env::rows(&[t.as_slice(), s.as_slice()]), &self.ctx)? {
                    matches.push(j);
                    src_matched[j] = true;
                }
            }
            if matches.len() > 1 && has_matched {
                return Err(SqlError::new(
                    "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
                    "21506",
                    "Cannot perform Merge as multiple source rows matched and attempted to modify the same\ntarget row in the Delta table in possibly conflicting ways. By SQL semantics of Merge,\nwhen multiple source rows match on the same target row, the result may be ambiguous\nas it is unclear which source row should be used to update or delete the matching\ntarget row. You can preprocess the source table to eliminate the possibility of\nmultiple matches. Please refer to\nhttps://docs.delta.io/latest/delta-update.html#upsert-into-a-table-using-merge",
                ));
            }
            let (kind, s) = match matches.first() {
                Some(j) => (MergeKind::Matched, src_rows[*j].as_slice()),
                None => (MergeKind::NotMatchedBySource, empty.as_slice()),
            };
            let env_rows = [t.as_slice(), s];
            let env = Env::rows(&env_rows);
            let mut applied = None;
            for c in clauses.iter().filter(|c| c.kind == kind) {
                if c.cond
                    .as_ref()
                    .map_or(Ok(true), |p| holds(p, &env, &self.ctx))?
                {
                    applied = Some(c);
                    break;
                }
            }
            match applied.map(|c| &c.action) {
                Some(Action::Delete) => {
                    if kind == MergeKind::Matched {
                        matched_deleted += 1
                    } else {
                        nmbs_deleted += 1
                    }
                }
                Some(Action::Update(sets)) => {
                    let mut new = t.clone();
                    for (i, b) in sets {
                        new[*i] = store(&eval(b, &env, &self.ctx)?, &cols[*i])?;
                    }
                    out.push(new);
                    if kind == MergeKind::Matched {
                        matched_updated += 1
                    } else {
                        nmbs_updated += 1
                    }
                }
                _ => out.push(t.clone()),
            }
        }
        for (j, s) in src_rows
            .iter()
            .enumerate()
            .filter(|(j, _)| !src_matched[*j])
        {
            let _ = j;
            let env_rows = [empty.as_slice(), s.as_slice()];
            let env = Env::rows(&env_rows);
            for c in clauses.iter().filter(|c| c.kind == MergeKind::NotMatched) {
                if !c
                    .cond
                    .as_ref()
                    .map_or(Ok(true), |p| holds(p, &env, &self.ctx))?
                {
                    continue;
                }
                if let Action::Insert(values) = &c.action {
                    let mut row = Vec::with_capacity(cols.len());
                    for (b, col) in values.iter().zip(&cols) {
                        let v = match b {
                            Some(b) => eval(b, &env, &self.ctx)?,
                            None => Value::Null,
                        };
                        row.push(store(&v, col)?);
                    }
                    out.push(row);
                    inserted += 1;
                }
                break;
            }
        }
        let updated = matched_updated + nmbs_updated;
        let deleted = matched_deleted + nmbs_deleted;
        let affected = updated + deleted + inserted;
        if affected > 0 {
            let removed = storage::files(&loaded.table).await?.len();
            let adds = storage::write_files(&loaded.table, &cols, &out).await?;
            let preds = |kind: MergeKind| {
                let list: Vec<serde_json::Value> = clauses
                    .iter()
                    .zip(&m.clauses)
                    .filter(|(c, _)| c.kind == kind)
                    .map(|(c, ast)| match &ast.cond {
                        Some(e) => {
                            json!({"predicate": e.to_string(), "actionType": c.action_type()})
                        }
                        None => json!({"actionType": c.action_type()}),
                    })
                    .collect();
                serde_json::Value::Array(list).to_string()
            };
            let commit = Commit::new("MERGE")
                .param("predicate", json!([m.on.to_string()]).to_string())
                .param("matchedPredicates", preds(MergeKind::Matched))
                .param("notMatchedPredicates", preds(MergeKind::NotMatched))
                .param(
                    "notMatchedBySourcePredicates",
                    preds(MergeKind::NotMatchedBySource),
                )
                .metric("numSourceRows", src_rows.len())
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
                merge_predicate: Some(m.on.to_string()),
                matched_predicates: Vec::new(),
                not_matched_predicates: Vec::new(),
                not_matched_by_source_predicates: Vec::new(),
            };
            storage::commit_files(&mut loaded.table, adds, true, op, &commit).await?;
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
