//! The SQL front end in front of DataFusion: the Databricks dialect plus `a DIV b`, and the
//! rewrites of what DataFusion would otherwise get silently wrong or reject. DataFusion parses
//! `VERSION AS OF` / `TIMESTAMP AS OF` and then ignores them (it would return the current rows),
//! cannot call `STREAM(t)`, ignores the second argument of `last_value(x, true)`, and leaves
//! `:name` parameter markers unbound. Each is rewritten in the parsed statement before it is
//! planned: time travel and stream checkpoints become table names with a suffix the lake
//! catalog resolves (`t@v3`, `t@v3..5`, `t@ts<micros>`, see [`super::lakehouse`]).

use std::collections::HashMap;
use std::ops::ControlFlow;

use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use deltalake::datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentList, FunctionArguments, Ident, LimitClause, NullTreatment, ObjectName,
    ObjectNamePart, Query, SelectItem, SetExpr, TableAlias, TableFactor, TableVersion, Value,
    ValueWithSpan, VisitMut, VisitorMut,
};
use deltalake::datafusion::sql::sqlparser::dialect::{DatabricksDialect, Dialect};
use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
use deltalake::datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::SqlError;
use super::types::parse_timestamp;

/// Stream checkpoints of a pipeline update: source table (last name part, lower case) to
/// `(last processed version, version to read up to)`. `STREAM(src)` then reads only the rows
/// the commits of `src` after the first version added (all its rows when it is `None`).
pub type Checkpoints = HashMap<String, (Option<u64>, u64)>;

/// Databricks' dialect, except that `a DIV b` parses (into a call of the `div` function).
/// It reports itself as `DatabricksDialect`, so every dialect check inside sqlparser holds.
#[derive(Debug, Default)]
pub(crate) struct LakeDialect(DatabricksDialect);

macro_rules! delegate {
    ($($f:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        $(fn $f(&self, $($a: $t),*) -> $r { self.0.$f($($a),*) })*
    };
}

impl Dialect for LakeDialect {
    fn dialect(&self) -> std::any::TypeId {
        std::any::TypeId::of::<DatabricksDialect>()
    }

    delegate! {
        is_delimited_identifier_start(ch: char) -> bool;
        is_identifier_start(ch: char) -> bool;
        is_identifier_part(ch: char) -> bool;
        supports_numeric_prefix() -> bool;
        supports_filter_during_aggregation() -> bool;
        supports_group_by_expr() -> bool;
        supports_table_versioning() -> bool;
        supports_lambda_functions() -> bool;
        supports_select_wildcard_except() -> bool;
        require_interval_qualifier() -> bool;
        supports_struct_literal() -> bool;
        supports_nested_comments() -> bool;
        supports_group_by_with_modifier() -> bool;
        supports_values_as_table_factor() -> bool;
        supports_optimize_table() -> bool;
        supports_bang_not_operator() -> bool;
        supports_cte_without_as() -> bool;
        supports_select_item_multi_column_alias() -> bool;
    }

    // Databricks reads `'it\'s'` and `'a\\b'` as Spark does.
    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }

    // The default precedence table already ranks DIV like `/`; only the infix parser is missing.
    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        if !parser.parse_keyword(Keyword::DIV) {
            return None;
        }
        Some(
            parser
                .parse_subexpr(precedence)
                .map(|right| call("div", vec![expr.clone(), right])),
        )
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Parses one statement with [`LakeDialect`] and applies the rewrites.
/// `catalog` and `schema` are the request's defaults, which `current_catalog()` and
/// `current_schema()` return.
pub(crate) fn parse(
    text: &str,
    parameters: &[(String, Option<String>)],
    checkpoints: &Checkpoints,
    catalog: &str,
    schema: &str,
) -> Result<DFStatement, DataFusionError> {
    let dialect = LakeDialect::default();
    let mut statements = DFParserBuilder::new(text)
        .with_dialect(&dialect)
        .build()?
        .parse_statements()?;
    if statements.len() > 1 {
        // Databricks runs one statement per request; the second one is the syntax error.
        let second = statements[1].to_string();
        return Err(carry(SqlError::syntax(second.split_whitespace().next())));
    }
    let Some(mut statement) = statements.pop_front() else {
        return Err(carry(SqlError::syntax(None)));
    };
    if let DFStatement::Statement(s) = &mut statement {
        let mut rewriter = Rewriter {
            checkpoints,
            parameters,
            catalog,
            schema,
        };
        if let ControlFlow::Break(e) = s.visit(&mut rewriter) {
            return Err(e);
        }
    }
    Ok(statement)
}

/// Wraps an engine error so it survives DataFusion's error plumbing unchanged.
pub(crate) fn carry(e: SqlError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

struct Rewriter<'a> {
    checkpoints: &'a Checkpoints,
    parameters: &'a [(String, Option<String>)],
    catalog: &'a str,
    schema: &'a str,
}

fn last_ident(name: &mut ObjectName) -> Option<&mut Ident> {
    match name.0.last_mut() {
        Some(ObjectNamePart::Identifier(i)) => Some(i),
        _ => None,
    }
}

/// DataFusion lower-cases unquoted identifiers and keeps quoted ones; a name put back quoted
/// must be normalised first.
fn normalised(i: &Ident) -> String {
    if i.quote_style.is_none() {
        i.value.to_ascii_lowercase()
    } else {
        i.value.clone()
    }
}

fn literal_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
            ..
        }) => Some(s.clone()),
        Expr::Value(ValueWithSpan {
            value: Value::Number(n, _),
            ..
        }) => Some(n.clone()),
        _ => None,
    }
}

impl Rewriter<'_> {
    fn bound(&self, marker: &str) -> Result<&Option<String>, DataFusionError> {
        let name = marker.trim_start_matches(':');
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| carry(SqlError::unbound_parameter(name)))
    }

    /// A LIMIT or OFFSET parameter is a number there.
    fn bind_count(&self, e: &mut Expr) -> Result<(), DataFusionError> {
        if let Expr::Value(ValueWithSpan {
            value: Value::Placeholder(marker),
            ..
        }) = e
        {
            *e = match self.bound(marker)? {
                Some(v) => Expr::value(Value::Number(v.trim().to_string(), false)),
                None => Expr::value(Value::Null),
            };
        }
        Ok(())
    }
}

/// The name Databricks gives an unaliased result column: the expression in Spark's pretty
/// form (binary operators in parentheses, functions in lower case, `count(1)` for
/// `count(*)`, literals as their text).
pub(crate) fn spark_name(e: &Expr) -> String {
    match e {
        Expr::Value(ValueWithSpan { value, .. }) => match value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Null => "NULL".into(),
            Value::Boolean(b) => b.to_string(),
            other => other.to_string(),
        },
        Expr::Identifier(i) => i.value.clone(),
        Expr::CompoundIdentifier(parts) => parts
            .iter()
            .map(|p| p.value.clone())
            .collect::<Vec<_>>()
            .join("."),
        Expr::Nested(inner) => spark_name(inner),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::StringConcat => {
                format!("concat({}, {})", spark_name(left), spark_name(right))
            }
            _ => format!("({} {op} {})", spark_name(left), spark_name(right)),
        },
        Expr::UnaryOp { op, expr } => format!("({op} {})", spark_name(expr)),
        Expr::IsNull(a) => format!("({} IS NULL)", spark_name(a)),
        Expr::IsNotNull(a) => format!("({} IS NOT NULL)", spark_name(a)),
        Expr::Cast {
            expr, data_type, ..
        } => format!(
            "CAST({} AS {})",
            spark_name(expr),
            data_type.to_string().to_uppercase()
        ),
        Expr::Function(f) if f.over.is_none() && f.filter.is_none() => {
            let name = f.name.to_string().to_lowercase();
            let args = match &f.args {
                FunctionArguments::List(list) => {
                    let distinct = matches!(
                        list.duplicate_treatment,
                        Some(deltalake::datafusion::sql::sqlparser::ast::DuplicateTreatment::Distinct)
                    );
                    let parts: Vec<String> = list
                        .args
                        .iter()
                        .map(|a| match a {
                            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => spark_name(e),
                            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => {
                                "1".into()
                            }
                            other => other.to_string(),
                        })
                        .collect();
                    format!(
                        "{}{}",
                        if distinct { "DISTINCT " } else { "" },
                        parts.join(", ")
                    )
                }
                FunctionArguments::None => String::new(),
                FunctionArguments::Subquery(q) => q.to_string(),
            };
            format!("{name}({args})")
        }
        other => other.to_string(),
    }
}

fn name_select_items(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let mut taken: Vec<String> = Vec::new();
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(e) = item
                    && !matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                {
                    let name = spark_name(e);
                    // DataFusion needs unique names; a repeat keeps DataFusion's own.
                    if taken.contains(&name) {
                        continue;
                    }
                    taken.push(name.clone());
                    // An integer literal is an INT in Databricks (DataFusion makes it BIGINT).
                    let expr = match e {
                        Expr::Value(ValueWithSpan {
                            value: Value::Number(n, _),
                            ..
                        }) if n.parse::<i32>().is_ok() => Expr::Cast {
                            kind: CastKind::Cast,
                            expr: Box::new(e.clone()),
                            data_type: DataType::Int(None),
                            array: false,
                            format: None,
                        },
                        _ => e.clone(),
                    };
                    *item = SelectItem::ExprWithAlias {
                        expr,
                        alias: Ident::with_quote('`', name),
                    };
                }
            }
        }
        SetExpr::SetOperation { left, .. } => name_select_items(left),
        _ => {}
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = DataFusionError;

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<DataFusionError> {
        name_select_items(&mut query.body);
        if let Some(LimitClause::LimitOffset { limit, offset, .. }) = &mut query.limit_clause {
            let counts = limit
                .iter_mut()
                .chain(offset.iter_mut().map(|o| &mut o.value));
            for e in counts {
                if let Err(err) = self.bind_count(e) {
                    return ControlFlow::Break(err);
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<DataFusionError> {
        let TableFactor::Table {
            name,
            alias,
            args,
            version,
            ..
        } = tf
        else {
            return ControlFlow::Continue(());
        };
        // `IDENTIFIER(:t)` / `IDENTIFIER('c.s.t')`: the table named by a string.
        if args.is_some() && name.to_string().eq_ignore_ascii_case("identifier") {
            let text = match args.as_ref().map(|a| a.args.as_slice()) {
                Some([FunctionArg::Unnamed(FunctionArgExpr::Expr(e))]) => match e {
                    Expr::Value(ValueWithSpan {
                        value: Value::Placeholder(marker),
                        ..
                    }) => match self.bound(marker) {
                        Ok(v) => v.clone(),
                        Err(err) => return ControlFlow::Break(err),
                    },
                    other => literal_text(other),
                },
                _ => None,
            };
            let Some(text) = text else {
                return ControlFlow::Break(carry(SqlError::syntax(Some("IDENTIFIER"))));
            };
            *name = ObjectName::from(
                text.split('.')
                    .map(|p| Ident::new(p.trim_matches('`').to_lowercase()))
                    .collect::<Vec<_>>(),
            );
            *args = None;
        }
        let is_stream = args.is_some() && name.to_string().eq_ignore_ascii_case("stream");
        if is_stream {
            let source = args.as_ref().and_then(|a| match a.args.as_slice() {
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => match e {
                    Expr::Identifier(i) => Some(ObjectName::from(vec![i.clone()])),
                    Expr::CompoundIdentifier(parts) => Some(ObjectName::from(parts.clone())),
                    _ => None,
                },
                _ => None,
            });
            let Some(source) = source else {
                return ControlFlow::Break(carry(SqlError::syntax(Some("STREAM"))));
            };
            *name = source;
            *args = None;
        }
        let table = last_ident(name).map(|i| normalised(i)).unwrap_or_default();
        let suffix = match version.take() {
            Some(TableVersion::VersionAsOf(v)) => match literal_text(&v)
                .and_then(|t| t.parse::<i64>().ok())
            {
                Some(n) if n >= 0 => Some(format!("v{n}")),
                Some(n) => {
                    return ControlFlow::Break(carry(SqlError::version_not_found(n, 0)));
                }
                None => return ControlFlow::Break(carry(SqlError::syntax(Some(&v.to_string())))),
            },
            Some(TableVersion::TimestampAsOf(e)) => {
                let text = literal_text(&e).unwrap_or_else(|| e.to_string());
                match parse_timestamp(&text) {
                    Some(micros) => Some(format!("ts{micros}")),
                    None => {
                        return ControlFlow::Break(carry(SqlError::cast_invalid(
                            &text,
                            "STRING",
                            "TIMESTAMP",
                        )));
                    }
                }
            }
            Some(other) => {
                return ControlFlow::Break(carry(SqlError::syntax(Some(&other.to_string()))));
            }
            None if is_stream => self.checkpoints.get(&table).map(|(from, to)| match from {
                Some(f) => format!("v{f}..{to}"),
                None => format!("v{to}"),
            }),
            None => None,
        };
        if let Some(suffix) = suffix {
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: Ident::new(&table),
                    columns: vec![],
                    at: None,
                });
            }
            if let Some(last) = last_ident(name) {
                *last = Ident::with_quote('`', format!("{table}@{suffix}"));
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<DataFusionError> {
        // Spark's `/` (DOUBLE for integers, DIVIDE_BY_ZERO) instead of DataFusion's.
        if let Expr::BinaryOp {
            op: BinaryOperator::Divide,
            left,
            right,
        } = expr
        {
            *expr = call("__lake_divide", vec![(**left).clone(), (**right).clone()]);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<DataFusionError> {
        let session_value = match expr {
            Expr::Function(f)
                if matches!(f.args, FunctionArguments::None | FunctionArguments::List(_)) =>
            {
                let empty = match &f.args {
                    FunctionArguments::None => true,
                    FunctionArguments::List(l) => l.args.is_empty(),
                    FunctionArguments::Subquery(_) => false,
                };
                match f.name.to_string().to_ascii_lowercase().as_str() {
                    "current_catalog" if empty => Some(self.catalog.to_string()),
                    "current_schema" | "current_database" if empty => Some(self.schema.to_string()),
                    "current_user" | "session_user" | "user" if empty => {
                        Some(super::storage::USER_NAME.to_string())
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(v) = session_value {
            *expr = Expr::value(Value::SingleQuotedString(v));
            return ControlFlow::Continue(());
        }
        match expr {
            Expr::Value(ValueWithSpan {
                value: Value::Placeholder(marker),
                ..
            }) if marker.starts_with(':') => {
                let bound = match self.bound(marker) {
                    Ok(b) => b.clone(),
                    Err(e) => return ControlFlow::Break(e),
                };
                *expr = Expr::value(match bound {
                    Some(v) => Value::SingleQuotedString(v),
                    None => Value::Null,
                });
            }
            // `last_value(x, true)` / `first_value(x, true)`: Spark's ignore-nulls flag.
            Expr::Function(f)
                if ["last_value", "first_value", "last", "first"]
                    .contains(&f.name.to_string().to_ascii_lowercase().as_str()) =>
            {
                if let FunctionArguments::List(list) = &mut f.args
                    && list.args.len() == 2
                    && let FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan {
                        value: Value::Boolean(ignore),
                        ..
                    }))) = list.args[1]
                {
                    list.args.pop();
                    if ignore {
                        f.null_treatment = Some(NullTreatment::IgnoreNulls);
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}
