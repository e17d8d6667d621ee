//! Rows a statement carries as literals (`VALUES ('a', 1.5, DATE '2026-01-01'), ...`), read
//! without DataFusion. A seed of tens of thousands of rows arrives as one `VALUES` list, and
//! DataFusion plans every literal of it as an expression (type coercion, simplification,
//! several optimizer passes), which costs far more than the rows are worth. When every cell is
//! a literal or a bound parameter, this module turns the list into [`Value`] rows, or into one
//! Arrow batch with a type per column, the way DataFusion would have typed them. Anything else
//! (an expression, a column of mixed kinds) returns `None` and goes through DataFusion as
//! before, so this is only ever a shortcut to the same result.

use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::sql::sqlparser::ast::{
    DataType, Expr, SetExpr, UnaryOperator, Value as SqlValue, ValueWithSpan, Values,
};

use super::parser::unescape;
use super::storage::{self, Column};
use super::types::{SqlType, Value, cast, parse_date, parse_decimal, parse_timestamp};
use super::{SqlError, ast::InsertSource};

/// The cells of a bare `VALUES` list, or `None` when a cell is not a literal.
pub(crate) fn literal_rows(
    values: &Values,
    parameters: &[(String, Option<String>)],
) -> Option<Vec<Vec<Value>>> {
    values
        .rows
        .iter()
        .map(|row| row.iter().map(|e| literal(e, parameters)).collect())
        .collect()
}

/// The rows of an INSERT source that is a bare `VALUES` list of literals.
pub(crate) fn insert_literal_rows(
    source: &InsertSource,
    parameters: &[(String, Option<String>)],
) -> Option<Vec<Vec<Value>>> {
    if !source.is_values || source.query.with.is_some() || source.query.order_by.is_some() {
        return None;
    }
    match &*source.query.body {
        SetExpr::Values(values) => literal_rows(values, parameters),
        _ => None,
    }
}

/// The rows of a `VALUES` list of literals as one Arrow batch with columns `column1`,
/// `column2`, ... (DataFusion's names for them), or `None` when DataFusion must plan it.
pub(crate) fn literal_batch(
    values: &Values,
    parameters: &[(String, Option<String>)],
) -> Result<Option<RecordBatch>, SqlError> {
    let Some(rows) = literal_rows(values, parameters) else {
        return Ok(None);
    };
    let width = rows.first().map_or(0, Vec::len);
    if width == 0 || rows.iter().any(|r| r.len() != width) {
        // Ragged rows are DataFusion's error to report.
        return Ok(None);
    }
    let mut columns = Vec::with_capacity(width);
    for i in 0..width {
        let Some(ty) = common_type(rows.iter().map(|r| &r[i])) else {
            return Ok(None);
        };
        columns.push(Column {
            name: format!("column{}", i + 1),
            ty,
            nullable: true,
            comment: None,
        });
    }
    let rows = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&columns)
                .map(|(v, c)| cast(v, &c.ty))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    storage::record_batch(&columns, &rows).map(Some)
}

/// One column's type over its values: a single kind, or integers widened to the decimals or
/// doubles beside them. Strings mixed with anything else are left to DataFusion's coercion.
fn common_type<'a>(values: impl Iterator<Item = &'a Value>) -> Option<SqlType> {
    let mut ty: Option<SqlType> = None;
    for v in values.filter(|v| !v.is_null()) {
        let next = match v {
            Value::Int(_) => SqlType::Long,
            Value::Decimal(_, s) => SqlType::Decimal(38, *s),
            Value::Double(_) => SqlType::Double,
            other => other.literal_type(),
        };
        ty = Some(match (ty, next) {
            (None, t) => t,
            (Some(a), b) if a == b => a,
            (Some(SqlType::Decimal(_, a)), SqlType::Decimal(_, b)) => {
                SqlType::Decimal(38, a.max(b))
            }
            (Some(SqlType::Long), SqlType::Decimal(p, s))
            | (Some(SqlType::Decimal(p, s)), SqlType::Long) => SqlType::Decimal(p, s),
            (Some(a), b) if a.is_numeric() && b.is_numeric() => SqlType::Double,
            _ => return None,
        });
    }
    // A column of NULLs only: any type casts from it.
    Some(ty.unwrap_or(SqlType::String))
}

/// A literal cell as a value: what DataFusion's planner would make of it with this engine's
/// settings (`2.50` is a DECIMAL, `1e3` a DOUBLE).
fn literal(e: &Expr, parameters: &[(String, Option<String>)]) -> Option<Value> {
    match e {
        Expr::Value(ValueWithSpan { value, .. }) => match value {
            SqlValue::SingleQuotedString(s) => Some(Value::Str(unescape(s, '\''))),
            SqlValue::Number(n, false) => number(n),
            SqlValue::Boolean(b) => Some(Value::Bool(*b)),
            SqlValue::Null => Some(Value::Null),
            SqlValue::Placeholder(marker) if marker.starts_with(':') => {
                let name = marker.trim_start_matches(':');
                // An unbound marker is left to the engine, which names it in its error.
                let (_, bound) = parameters.iter().find(|(n, _)| n == name)?;
                Some(bound.clone().map_or(Value::Null, Value::Str))
            }
            _ => None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr, parameters)? {
            Value::Int(i) => i.checked_neg().map(Value::Int),
            Value::Decimal(m, s) => Some(Value::Decimal(-m, s)),
            Value::Double(d) => Some(Value::Double(-d)),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner, parameters),
        Expr::TypedString(typed) => {
            let text = match &typed.value.value {
                SqlValue::SingleQuotedString(s) => unescape(s, '\''),
                _ => return None,
            };
            match typed.data_type {
                DataType::Date => parse_date(&text).map(Value::Date),
                DataType::Timestamp(_, _) => parse_timestamp(&text).map(Value::Timestamp),
                _ => None,
            }
        }
        _ => None,
    }
}

fn number(text: &str) -> Option<Value> {
    if text.contains(['e', 'E']) {
        return text.parse().ok().map(Value::Double);
    }
    if !text.contains('.') {
        // Integers too large for a BIGINT become decimals in DataFusion; leave those to it.
        return text.parse().ok().map(Value::Int);
    }
    let (m, scale) = parse_decimal(text)?;
    u8::try_from(scale)
        .ok()
        .filter(|s| *s <= 38)
        .map(|s| Value::Decimal(m, s))
}
