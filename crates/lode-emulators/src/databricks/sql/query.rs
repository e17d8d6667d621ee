//! SELECT: reading a relation (a table at its current or an older version, a subquery, inline
//! VALUES), filtering, grouping and aggregating, ordering with Spark's NULL placement, DISTINCT,
//! LIMIT/OFFSET, and naming result columns the way Databricks names them. MERGE, INSERT ...
//! SELECT and CTAS reuse the relation readers here.

use std::cmp::Ordering;

use futures::future::BoxFuture;

use super::ast::{Expr, FromItem, Select, SelectItem, TimeTravel};
use super::eval::{AggBinding, Binder, Bound, ColInfo, Env, RelScope, aggregate, eval, holds};
use super::exec::Session;
use super::storage::{self, Column};
use super::types::{SqlType, Value, cast, compare, parse_timestamp, sort_cmp};
use super::{ColumnMeta, ResultSet, SqlError, TableName};

/// A relation in memory: its scope (qualifiers and typed columns) and its rows.
pub(crate) struct Relation {
    pub scope: RelScope,
    pub rows: Vec<Vec<Value>>,
}

/// A query result: its columns and rows.
pub(crate) type Rows = (Vec<ColInfo>, Vec<Vec<Value>>);

/// A loaded table at the version a statement reads.
pub(crate) struct LoadedTable {
    pub table: deltalake::DeltaTable,
    pub columns: Vec<Column>,
}

pub(crate) fn result_set(cols: &[ColInfo], rows: &[Vec<Value>]) -> ResultSet {
    ResultSet {
        columns: cols
            .iter()
            .map(|c| ColumnMeta::of(&c.name, &c.ty))
            .collect(),
        rows: rows
            .iter()
            .map(|r| r.iter().map(Value::render).collect())
            .collect(),
    }
}

/// The qualifiers a table's columns answer to: `t`, `s.t` and `c.s.t`, or only the alias.
pub(crate) fn table_qualifiers(name: &TableName, alias: Option<&str>) -> Vec<String> {
    match alias {
        Some(a) => vec![a.to_lowercase()],
        None => vec![
            name.table.clone(),
            format!("{}.{}", name.schema, name.table),
            name.dotted(),
        ],
    }
}

fn col_infos(cols: &[Column]) -> Vec<ColInfo> {
    cols.iter()
        .map(|c| ColInfo {
            name: c.name.clone(),
            ty: c.ty.clone(),
        })
        .collect()
}

fn eval_count(s: &Session<'_>, e: &Expr, what: &str) -> Result<usize, SqlError> {
    let binder_scope: [RelScope; 0] = [];
    let (b, _) = Binder::new(&binder_scope, &s.ctx).bind(e)?;
    let v = cast(&eval(&b, &Env::rows(&[]), &s.ctx)?, &SqlType::Long)?;
    match v {
        Value::Int(n) if n >= 0 => Ok(n as usize),
        Value::Int(n) => Err(SqlError::new(
            "INVALID_LIMIT_LIKE_EXPRESSION.IS_NEGATIVE",
            "42K0E",
            format!(
                "The {what} expression \"{e}\" is invalid. The {what} expression must be equal to or greater than 0, but got {n}."
            ),
        )),
        _ => Err(SqlError::new(
            "INVALID_LIMIT_LIKE_EXPRESSION.IS_NULL",
            "42K0E",
            format!(
                "The {what} expression \"{e}\" is invalid. The evaluated {what} expression must not be null."
            ),
        )),
    }
}

impl Session<'_> {
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
        let ts = parse_timestamp(text)
            .ok_or_else(|| SqlError::cast_invalid(text, "STRING", "TIMESTAMP"))?
            / 1000;
        let history = storage::history(table, None).await?;
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

    pub(crate) fn relation<'a>(
        &'a self,
        item: &'a FromItem,
    ) -> BoxFuture<'a, Result<Relation, SqlError>> {
        Box::pin(async move {
            match item {
                FromItem::Table {
                    name,
                    travel,
                    alias,
                } => {
                    let name = self.table_name(name)?;
                    let loaded = self.load_table(&name, travel.as_ref()).await?;
                    let rows = storage::read_rows(&loaded.table, &loaded.columns).await?;
                    let scope = RelScope {
                        qualifiers: table_qualifiers(&name, alias.as_deref()),
                        columns: col_infos(&loaded.columns),
                    };
                    Ok(Relation { scope, rows })
                }
                FromItem::Subquery { query, alias } => {
                    let (columns, rows) = self.select(query).await?;
                    let qualifiers = alias.iter().map(|a| a.to_lowercase()).collect();
                    Ok(Relation {
                        scope: RelScope {
                            qualifiers,
                            columns,
                        },
                        rows,
                    })
                }
                FromItem::Values {
                    rows,
                    alias,
                    columns,
                } => self.values_relation(rows, alias.as_deref(), columns),
            }
        })
    }

    /// Inline VALUES: rows of constant expressions; columns named `col1..` unless aliased.
    pub(crate) fn values_relation(
        &self,
        rows: &[Vec<Expr>],
        alias: Option<&str>,
        names: &[String],
    ) -> Result<Relation, SqlError> {
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return Err(SqlError::new(
                "INVALID_INLINE_TABLE.NUM_COLUMNS_MISMATCH",
                "42000",
                format!(
                    "Invalid inline table. Inline table expected {width} columns but found a different number of columns in a row."
                ),
            ));
        }
        if !names.is_empty() && names.len() != width {
            return Err(SqlError::new(
                "ASSIGNMENT_ARITY_MISMATCH",
                "42802",
                format!(
                    "The number of columns or variables assigned or aliased: {} does not match the number of source expressions: {width}.",
                    names.len()
                ),
            ));
        }
        let empty: [RelScope; 0] = [];
        let mut types = vec![SqlType::Null; width];
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut vals = Vec::with_capacity(width);
            for (i, e) in row.iter().enumerate() {
                let (b, ty) = Binder::new(&empty, &self.ctx).bind(e)?;
                if types[i] == SqlType::Null {
                    types[i] = ty;
                }
                vals.push(eval(&b, &Env::rows(&[]), &self.ctx)?);
            }
            out.push(vals);
        }
        let columns = (0..width)
            .map(|i| ColInfo {
                name: names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("col{}", i + 1)),
                ty: types[i].clone(),
            })
            .collect();
        Ok(Relation {
            scope: RelScope {
                qualifiers: alias.iter().map(|a| a.to_lowercase()).collect(),
                columns,
            },
            rows: out,
        })
    }

    /// Runs a SELECT; returns the result columns and rows.
    pub(crate) fn select<'a>(&'a self, sel: &'a Select) -> BoxFuture<'a, Result<Rows, SqlError>> {
        Box::pin(async move {
            let rel = match &sel.from {
                Some(item) => self.relation(item).await?,
                // `SELECT 1`: one row of nothing.
                None => Relation {
                    scope: RelScope {
                        qualifiers: Vec::new(),
                        columns: Vec::new(),
                    },
                    rows: vec![Vec::new()],
                },
            };
            let scope = [rel.scope];
            let mut rows = rel.rows;
            if let Some(f) = &sel.filter {
                let pred = Binder::new(&scope, &self.ctx).bind_predicate(f)?;
                let mut kept = Vec::with_capacity(rows.len());
                for r in rows {
                    if holds(&pred, &Env::rows(&[r.as_slice()]), &self.ctx)? {
                        kept.push(r);
                    }
                }
                rows = kept;
            }
            let aggregating = !sel.group_by.is_empty()
                || sel
                    .items
                    .iter()
                    .any(|i| matches!(i, SelectItem::Expr(e, _) if e.contains_aggregate()));
            let (columns, mut out) = if aggregating {
                self.aggregate(sel, &scope, rows)?
            } else {
                self.project(sel, &scope, rows)?
            };
            if sel.distinct {
                let mut uniq: Vec<(Vec<Value>, Vec<Value>)> = Vec::new();
                for (vals, keys) in out {
                    if !uniq.iter().any(|(u, _)| same_row(u, &vals)) {
                        uniq.push((vals, keys));
                    }
                }
                out = uniq;
            }
            let order: Vec<(bool, bool)> = sel
                .order_by
                .iter()
                .map(|o| (o.desc, o.nulls_first.unwrap_or(!o.desc)))
                .collect();
            if !order.is_empty() {
                out.sort_by(|(_, a), (_, b)| order_cmp(a, b, &order));
            }
            let offset = match &sel.offset {
                Some(e) => eval_count(self, e, "offset")?,
                None => 0,
            };
            let limit = match &sel.limit {
                Some(e) => eval_count(self, e, "limit")?,
                None => usize::MAX,
            };
            let rows = out
                .into_iter()
                .skip(offset)
                .take(limit)
                .map(|(v, _)| v)
                .collect();
            Ok((columns, rows))
        })
    }

    /// Plain projection: one output row per input row, with its ORDER BY keys.
    #[allow(clippy::type_complexity)]
    fn project(
        &self,
        sel: &Select,
        scope: &[RelScope; 1],
        rows: Vec<Vec<Value>>,
    ) -> Result<(Vec<ColInfo>, Vec<(Vec<Value>, Vec<Value>)>), SqlError> {
        let mut binder = Binder::new(scope, &self.ctx);
        let mut items: Vec<Bound> = Vec::new();
        let mut columns = Vec::new();
        for item in &sel.items {
            match item {
                SelectItem::Wildcard(q) => {
                    let rel = &scope[0];
                    if let Some(q) = q
                        && !rel
                            .qualifiers
                            .iter()
                            .any(|rq| rq == &q.join(".").to_lowercase())
                    {
                        return Err(SqlError::new(
                            "CANNOT_RESOLVE_STAR_EXPAND",
                            "42704",
                            format!(
                                "Cannot resolve {}.* given input columns {}.",
                                q.join("."),
                                rel.columns
                                    .iter()
                                    .map(|c| format!("`{}`", c.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    for (i, c) in rel.columns.iter().enumerate() {
                        items.push(Bound::Col(0, i));
                        columns.push(c.clone());
                    }
                }
                SelectItem::Expr(e, alias) => {
                    let (b, ty) = binder.bind(e)?;
                    let name = match (alias, &b) {
                        (Some(a), _) => a.clone(),
                        (None, Bound::Col(r, c)) => scope[*r].columns[*c].name.clone(),
                        _ => e.to_string(),
                    };
                    items.push(b);
                    columns.push(ColInfo { name, ty });
                }
            }
        }
        let keys = self.order_keys(sel, &columns, &mut binder)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let env_rows = [r.as_slice()];
            let env = Env::rows(&env_rows);
            let vals = items
                .iter()
                .map(|b| eval(b, &env, &self.ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let ks = keys
                .iter()
                .map(|k| match k {
                    OrderKey::Output(i) => Ok(vals[*i].clone()),
                    OrderKey::Expr(b) => eval(b, &env, &self.ctx),
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push((vals, ks));
        }
        Ok((columns, out))
    }

    /// GROUP BY and/or aggregates: one output row per group (one group without GROUP BY).
    #[allow(clippy::type_complexity)]
    fn aggregate(
        &self,
        sel: &Select,
        scope: &[RelScope; 1],
        rows: Vec<Vec<Value>>,
    ) -> Result<(Vec<ColInfo>, Vec<(Vec<Value>, Vec<Value>)>), SqlError> {
        let mut key_binder = Binder::new(scope, &self.ctx);
        let mut group_bound = Vec::new();
        let mut group_types = Vec::new();
        for g in &sel.group_by {
            let (b, t) = key_binder.bind(g)?;
            group_bound.push(b);
            group_types.push(t);
        }
        let mut binder = Binder::new(scope, &self.ctx);
        binder.aggs = Some(AggBinding {
            group_keys: &sel.group_by,
            group_types,
            calls: Vec::new(),
        });
        let mut items = Vec::new();
        let mut columns = Vec::new();
        for item in &sel.items {
            match item {
                SelectItem::Wildcard(_) => {
                    return Err(SqlError::new(
                        "MISSING_AGGREGATION",
                        "42803",
                        "The non-aggregating expression \"*\" is based on columns which are not participating in the GROUP BY clause.",
                    ));
                }
                SelectItem::Expr(e, alias) => {
                    let (b, ty) = binder.bind(e)?;
                    let name = match (alias, e) {
                        (Some(a), _) => a.clone(),
                        (None, Expr::Col(parts)) => {
                            let (r, c) = Binder::new(scope, &self.ctx).resolve(parts)?;
                            scope[r].columns[c].name.clone()
                        }
                        _ => e.to_string(),
                    };
                    items.push(b);
                    columns.push(ColInfo { name, ty });
                }
            }
        }
        let keys = self.order_keys(sel, &columns, &mut binder)?;
        let calls = binder.aggs.take().map(|a| a.calls).unwrap_or_default();

        // Groups in first-seen order; NULL keys group together, as in SQL.
        let mut groups: Vec<(Vec<Value>, Vec<usize>)> = Vec::new();
        if sel.group_by.is_empty() {
            groups.push((Vec::new(), (0..rows.len()).collect()));
        } else {
            for (i, r) in rows.iter().enumerate() {
                let env_rows = [r.as_slice()];
                let key = group_bound
                    .iter()
                    .map(|b| eval(b, &Env::rows(&env_rows), &self.ctx))
                    .collect::<Result<Vec<_>, _>>()?;
                match groups.iter_mut().find(|(k, _)| same_row(k, &key)) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((key, vec![i])),
                }
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for (key, members) in groups {
            let group_rows: Vec<Vec<&[Value]>> =
                members.iter().map(|i| vec![rows[*i].as_slice()]).collect();
            let aggs = calls
                .iter()
                .map(|c| aggregate(c, &group_rows, &self.ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let env = Env {
                rows: &[],
                aggs: &aggs,
                groups: &key,
            };
            let vals = items
                .iter()
                .map(|b| eval(b, &env, &self.ctx))
                .collect::<Result<Vec<_>, _>>()?;
            let ks = keys
                .iter()
                .map(|k| match k {
                    OrderKey::Output(i) => Ok(vals[*i].clone()),
                    OrderKey::Expr(b) => eval(b, &env, &self.ctx),
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push((vals, ks));
        }
        Ok((columns, out))
    }

    /// ORDER BY items resolve to an output column (by alias or ordinal) or an expression over
    /// the input, like Spark.
    fn order_keys(
        &self,
        sel: &Select,
        columns: &[ColInfo],
        binder: &mut Binder<'_>,
    ) -> Result<Vec<OrderKey>, SqlError> {
        let mut keys = Vec::new();
        for o in &sel.order_by {
            let key = match &o.expr {
                Expr::Lit(Value::Int(n)) => {
                    if *n < 1 || *n as usize > columns.len() {
                        return Err(SqlError::new(
                            "ORDER_BY_POS_OUT_OF_RANGE",
                            "42805",
                            format!(
                                "ORDER BY position {n} is not in select list (valid range is [1, {}]).",
                                columns.len()
                            ),
                        ));
                    }
                    OrderKey::Output(*n as usize - 1)
                }
                Expr::Col(parts)
                    if parts.len() == 1
                        && columns
                            .iter()
                            .any(|c| c.name.eq_ignore_ascii_case(&parts[0])) =>
                {
                    match binder.bind(&o.expr) {
                        // A source column of the same name is the same value unless aliased over.
                        Ok((b, _)) if !sel.items.iter().any(|i| matches!(i, SelectItem::Expr(_, Some(a)) if a.eq_ignore_ascii_case(&parts[0]))) => OrderKey::Expr(b),
                        _ => OrderKey::Output(columns.iter().position(|c| c.name.eq_ignore_ascii_case(&parts[0])).unwrap_or(0)),
                    }
                }
                e => OrderKey::Expr(binder.bind(e)?.0),
            };
            keys.push(key);
        }
        Ok(keys)
    }
}

enum OrderKey {
    Output(usize),
    Expr(Bound),
}

/// Row identity for DISTINCT and GROUP BY: NULL equals NULL here.
fn same_row(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| match (x.is_null(), y.is_null()) {
                (true, true) => true,
                (false, false) => compare(x, y).ok().flatten() == Some(Ordering::Equal),
                _ => false,
            })
}

fn order_cmp(a: &[Value], b: &[Value], order: &[(bool, bool)]) -> Ordering {
    for ((x, y), (desc, nulls_first)) in a.iter().zip(b).zip(order) {
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if *nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if *nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = sort_cmp(x, y);
                if *desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
