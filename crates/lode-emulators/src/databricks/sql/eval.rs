//! Name resolution, static typing and evaluation of expressions. Binding turns a parsed `Expr`
//! into a `Bound` tree against the relations in scope (a table, MERGE's target and source),
//! raising the analysis errors Databricks raises before touching data (unresolved or ambiguous
//! columns, incompatible comparison types, aggregates misplaced); evaluation then runs the tree
//! row by row with SQL's three-valued logic.

use std::cmp::Ordering;

use super::SqlError;
use super::ast::{AGGREGATES, CmpOp, Expr};
use super::types::{ArithOp, SqlType, Value, arith, cast, compare, like, sort_cmp};

#[derive(Debug, Clone)]
pub(crate) struct ColInfo {
    pub name: String,
    pub ty: SqlType,
}

/// One relation in scope: the names that qualify its columns (lower case: `t`, `s.t`, `c.s.t`
/// or an alias) and its columns.
#[derive(Debug, Clone)]
pub(crate) struct RelScope {
    pub qualifiers: Vec<String>,
    pub columns: Vec<ColInfo>,
}

/// Session facts the niladic functions report.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub catalog: String,
    pub schema: String,
    pub user: String,
    pub now: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggKind {
    Count,
    Min,
    Max,
    Sum,
    Avg,
}

#[derive(Debug, Clone)]
pub(crate) struct AggCall {
    pub kind: AggKind,
    /// `None` for `count(*)`.
    pub arg: Option<Bound>,
    pub distinct: bool,
    pub ty: SqlType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarFn {
    Coalesce,
    Upper,
    Lower,
    Length,
    Trim,
    Concat,
    Abs,
    CurrentTimestamp,
    CurrentDate,
    CurrentCatalog,
    CurrentSchema,
    CurrentUser,
}

#[derive(Debug, Clone)]
pub(crate) enum Bound {
    Lit(Value),
    /// Relation index, column index.
    Col(usize, usize),
    Neg(Box<Bound>),
    Not(Box<Bound>),
    And(Box<Bound>, Box<Bound>),
    Or(Box<Bound>, Box<Bound>),
    Cmp(CmpOp, Box<Bound>, Box<Bound>),
    Arith(ArithOp, Box<Bound>, Box<Bound>),
    Concat(Vec<Bound>),
    IsNull(Box<Bound>, bool),
    In(Box<Bound>, Vec<Bound>, bool),
    Between(Box<Bound>, Box<Bound>, Box<Bound>, bool),
    Like(Box<Bound>, Box<Bound>, bool),
    Cast(Box<Bound>, SqlType),
    Case {
        operand: Option<Box<Bound>>,
        whens: Vec<(Bound, Bound)>,
        otherwise: Option<Box<Bound>>,
    },
    Func(ScalarFn, Vec<Bound>),
    /// The value of the i-th aggregate of the current group.
    Agg(usize),
    /// The value of the i-th GROUP BY key of the current group.
    Group(usize),
}

/// Aggregation context while binding a SELECT that aggregates.
pub(crate) struct AggBinding<'a> {
    pub group_keys: &'a [Expr],
    pub group_types: Vec<SqlType>,
    pub calls: Vec<AggCall>,
}

pub(crate) struct Binder<'a> {
    pub scope: &'a [RelScope],
    pub ctx: &'a Ctx,
    pub aggs: Option<AggBinding<'a>>,
}

fn quote_parts(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(".")
}

impl<'a> Binder<'a> {
    pub(crate) fn new(scope: &'a [RelScope], ctx: &'a Ctx) -> Binder<'a> {
        Binder {
            scope,
            ctx,
            aggs: None,
        }
    }

    fn candidates(&self) -> Vec<String> {
        self.scope
            .iter()
            .flat_map(|r| {
                let q = r
                    .qualifiers
                    .first()
                    .map(|q| q.split('.').next_back().unwrap_or(q).to_string());
                r.columns.iter().map(move |c| match &q {
                    Some(q) => format!("`{q}`.`{}`", c.name),
                    None => format!("`{}`", c.name),
                })
            })
            .collect()
    }

    /// Resolves a column reference to (relation, column).
    pub(crate) fn resolve(&self, parts: &[String]) -> Result<(usize, usize), SqlError> {
        let name = parts[parts.len() - 1].to_lowercase();
        let qualifier =
            (parts.len() > 1).then(|| parts[..parts.len() - 1].join(".").to_lowercase());
        let mut found = Vec::new();
        for (ri, rel) in self.scope.iter().enumerate() {
            if let Some(q) = &qualifier
                && !rel.qualifiers.iter().any(|rq| rq == q)
            {
                continue;
            }
            if let Some(ci) = rel
                .columns
                .iter()
                .position(|c| c.name.to_lowercase() == name)
            {
                found.push((ri, ci));
            }
        }
        match found.len() {
            1 => Ok(found[0]),
            0 => Err(SqlError::unresolved_column(
                &quote_parts(parts),
                &self.candidates(),
            )),
            _ => Err(SqlError::ambiguous(&quote_parts(parts))),
        }
    }

    pub(crate) fn column_type(&self, rel: usize, col: usize) -> SqlType {
        self.scope[rel].columns[col].ty.clone()
    }

    /// Binds a predicate (WHERE, ON, a MERGE clause condition): it must be BOOLEAN.
    pub(crate) fn bind_predicate(&mut self, e: &Expr) -> Result<Bound, SqlError> {
        let (b, ty) = self.bind(e)?;
        if !matches!(ty, SqlType::Boolean | SqlType::Null) {
            return Err(SqlError::new(
                "DATATYPE_MISMATCH.FILTER_NOT_BOOLEAN",
                "42K09",
                format!(
                    "Cannot resolve \"{e}\" due to data type mismatch: Filter expression \"{e}\" of type \"{}\" is not a boolean.",
                    ty.sql_name()
                ),
            ));
        }
        Ok(b)
    }

    pub(crate) fn bind(&mut self, e: &Expr) -> Result<(Bound, SqlType), SqlError> {
        if let Some(aggs) = &self.aggs
            && let Some(i) = aggs.group_keys.iter().position(|k| k == e)
        {
            return Ok((Bound::Group(i), aggs.group_types[i].clone()));
        }
        let bx = Box::new;
        Ok(match e {
            Expr::Lit(v) => (Bound::Lit(v.clone()), v.literal_type()),
            Expr::Param(_, v) => (
                Bound::Lit(v.clone().map_or(Value::Null, Value::Str)),
                SqlType::String,
            ),
            Expr::Col(parts) => {
                let (r, c) = self.resolve(parts)?;
                if self.aggs.is_some() {
                    return Err(SqlError::new(
                        "MISSING_AGGREGATION",
                        "42803",
                        format!(
                            "The non-aggregating expression \"{e}\" is based on columns which are not participating in the GROUP BY clause.\nAdd the columns or the expression to the GROUP BY, aggregate the expression, or use \"any_value({e})\" if you do not care which of the values within a group is returned."
                        ),
                    ));
                }
                (Bound::Col(r, c), self.column_type(r, c))
            }
            Expr::Neg(a) => {
                let (a, t) = self.bind(a)?;
                (
                    Bound::Neg(bx(a)),
                    if t == SqlType::String {
                        SqlType::Double
                    } else {
                        t
                    },
                )
            }
            Expr::Not(a) => (Bound::Not(bx(self.bind(a)?.0)), SqlType::Boolean),
            Expr::And(a, b) => (
                Bound::And(bx(self.bind(a)?.0), bx(self.bind(b)?.0)),
                SqlType::Boolean,
            ),
            Expr::Or(a, b) => (
                Bound::Or(bx(self.bind(a)?.0), bx(self.bind(b)?.0)),
                SqlType::Boolean,
            ),
            Expr::Cmp(op, a, b) => {
                let (ba, ta) = self.bind(a)?;
                let (bb, tb) = self.bind(b)?;
                if !ta.comparable(&tb) {
                    return Err(SqlError::type_mismatch(
                        &e.to_string(),
                        &ta.sql_name(),
                        &tb.sql_name(),
                    ));
                }
                (Bound::Cmp(*op, bx(ba), bx(bb)), SqlType::Boolean)
            }
            Expr::Arith(op, a, b) => {
                let (ba, ta) = self.bind(a)?;
                let (bb, tb) = self.bind(b)?;
                let numeric =
                    |t: &SqlType| t.is_numeric() || matches!(t, SqlType::String | SqlType::Null);
                if !numeric(&ta) || !numeric(&tb) {
                    return Err(SqlError::type_mismatch(
                        &e.to_string(),
                        &ta.sql_name(),
                        &tb.sql_name(),
                    ));
                }
                (Bound::Arith(*op, bx(ba), bx(bb)), arith_type(*op, &ta, &tb))
            }
            Expr::Concat(a, b) => (
                Bound::Concat(vec![self.bind(a)?.0, self.bind(b)?.0]),
                SqlType::String,
            ),
            Expr::IsNull(a, neg) => (Bound::IsNull(bx(self.bind(a)?.0), *neg), SqlType::Boolean),
            Expr::In(a, list, neg) => {
                let (ba, ta) = self.bind(a)?;
                let mut items = Vec::new();
                for item in list {
                    let (bi, ti) = self.bind(item)?;
                    if !ta.comparable(&ti) {
                        return Err(SqlError::type_mismatch(
                            &e.to_string(),
                            &ta.sql_name(),
                            &ti.sql_name(),
                        ));
                    }
                    items.push(bi);
                }
                (Bound::In(bx(ba), items, *neg), SqlType::Boolean)
            }
            Expr::Between(a, lo, hi, neg) => {
                let (ba, ta) = self.bind(a)?;
                let (bl, tl) = self.bind(lo)?;
                let (bh, th) = self.bind(hi)?;
                if !ta.comparable(&tl) || !ta.comparable(&th) {
                    return Err(SqlError::type_mismatch(
                        &e.to_string(),
                        &ta.sql_name(),
                        &tl.sql_name(),
                    ));
                }
                (
                    Bound::Between(bx(ba), bx(bl), bx(bh), *neg),
                    SqlType::Boolean,
                )
            }
            Expr::Like(a, p, neg) => (
                Bound::Like(bx(self.bind(a)?.0), bx(self.bind(p)?.0), *neg),
                SqlType::Boolean,
            ),
            Expr::Cast(a, t) => (Bound::Cast(bx(self.bind(a)?.0), t.clone()), t.clone()),
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                let operand = match operand {
                    Some(o) => Some(bx(self.bind(o)?.0)),
                    None => None,
                };
                let mut ty = SqlType::Null;
                let mut bw = Vec::new();
                for (w, t) in whens {
                    let (bt, tt) = self.bind(t)?;
                    if ty == SqlType::Null {
                        ty = tt;
                    }
                    bw.push((self.bind(w)?.0, bt));
                }
                let otherwise = match otherwise {
                    Some(o) => {
                        let (bo, to) = self.bind(o)?;
                        if ty == SqlType::Null {
                            ty = to;
                        }
                        Some(bx(bo))
                    }
                    None => None,
                };
                (
                    Bound::Case {
                        operand,
                        whens: bw,
                        otherwise,
                    },
                    ty,
                )
            }
            Expr::Func {
                name,
                args,
                star,
                distinct,
            } if AGGREGATES.contains(&name.as_str()) => {
                self.bind_aggregate(e, name, args, *star, *distinct)?
            }
            Expr::Func { name, args, .. } => self.bind_function(name, args)?,
        })
    }

    fn bind_aggregate(
        &mut self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        star: bool,
        distinct: bool,
    ) -> Result<(Bound, SqlType), SqlError> {
        let Some(mut aggs) = self.aggs.take() else {
            // An aggregate where only row expressions may go (WHERE, SET, VALUES...).
            return Err(SqlError::new(
                "INVALID_WHERE_CONDITION",
                "42903",
                format!(
                    "The WHERE condition \"{e}\" contains invalid expressions: {e}.\nRewrite the query to avoid window functions, aggregate functions, and generator functions in the WHERE clause."
                ),
            ));
        };
        let kind = match name {
            "count" => AggKind::Count,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "sum" => AggKind::Sum,
            _ => AggKind::Avg,
        };
        let arg = if star {
            None
        } else {
            if args.len() != 1 {
                self.aggs = Some(aggs);
                return Err(wrong_args(name, args.len(), "1"));
            }
            // The argument is a row expression: bind it without the aggregation context.
            let r = self.bind(&args[0]);
            match r {
                Ok(b) => Some(b),
                Err(err) => {
                    self.aggs = Some(aggs);
                    return Err(err);
                }
            }
        };
        let arg_ty = arg
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or(SqlType::Long);
        let ty = match kind {
            AggKind::Count => SqlType::Long,
            AggKind::Min | AggKind::Max => arg_ty,
            AggKind::Sum => match arg_ty {
                t if t.is_integral() => SqlType::Long,
                SqlType::Decimal(p, s) => SqlType::Decimal((p + 10).min(38), s),
                _ => SqlType::Double,
            },
            AggKind::Avg => match arg_ty {
                SqlType::Decimal(p, s) => SqlType::Decimal((p + 4).min(38), (s + 4).min(38)),
                _ => SqlType::Double,
            },
        };
        let idx = aggs.calls.len();
        aggs.calls.push(AggCall {
            kind,
            arg: arg.map(|(b, _)| b),
            distinct,
            ty: ty.clone(),
        });
        self.aggs = Some(aggs);
        Ok((Bound::Agg(idx), ty))
    }

    fn bind_function(&mut self, name: &str, args: &[Expr]) -> Result<(Bound, SqlType), SqlError> {
        let (f, arity, ty): (ScalarFn, (usize, usize), Option<SqlType>) = match name {
            "coalesce" => (ScalarFn::Coalesce, (1, usize::MAX), None),
            "nvl" | "ifnull" => (ScalarFn::Coalesce, (2, 2), None),
            "upper" | "ucase" => (ScalarFn::Upper, (1, 1), Some(SqlType::String)),
            "lower" | "lcase" => (ScalarFn::Lower, (1, 1), Some(SqlType::String)),
            "length" | "char_length" | "character_length" => {
                (ScalarFn::Length, (1, 1), Some(SqlType::Int))
            }
            "trim" => (ScalarFn::Trim, (1, 1), Some(SqlType::String)),
            "concat" => (ScalarFn::Concat, (0, usize::MAX), Some(SqlType::String)),
            "abs" => (ScalarFn::Abs, (1, 1), None),
            "current_timestamp" | "now" => {
                (ScalarFn::CurrentTimestamp, (0, 0), Some(SqlType::Timestamp))
            }
            "current_date" | "curdate" => (ScalarFn::CurrentDate, (0, 0), Some(SqlType::Date)),
            "current_catalog" => (ScalarFn::CurrentCatalog, (0, 0), Some(SqlType::String)),
            "current_schema" | "current_database" => {
                (ScalarFn::CurrentSchema, (0, 0), Some(SqlType::String))
            }
            "current_user" | "user" | "session_user" => {
                (ScalarFn::CurrentUser, (0, 0), Some(SqlType::String))
            }
            _ => {
                return Err(SqlError::unknown_function(
                    name,
                    &self.ctx.catalog,
                    &self.ctx.schema,
                ));
            }
        };
        if args.len() < arity.0 || args.len() > arity.1 {
            let expected = if arity.0 == arity.1 {
                arity.0.to_string()
            } else {
                format!("at least {}", arity.0)
            };
            return Err(wrong_args(name, args.len(), &expected));
        }
        let mut bound = Vec::new();
        let mut first_ty = SqlType::Null;
        for a in args {
            let (b, t) = self.bind(a)?;
            if first_ty == SqlType::Null {
                first_ty = t;
            }
            bound.push(b);
        }
        Ok((Bound::Func(f, bound), ty.unwrap_or(first_ty)))
    }
}

fn wrong_args(name: &str, got: usize, expected: &str) -> SqlError {
    SqlError::new(
        "WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
        "42605",
        format!("The `{name}` requires {expected} parameters but the actual number is {got}."),
    )
}

fn arith_type(op: ArithOp, a: &SqlType, b: &SqlType) -> SqlType {
    use SqlType::*;
    match (a, b) {
        _ if op == ArithOp::Div => Double,
        (Null, t) | (t, Null) => t.clone(),
        (Double | Float | String, _) | (_, Double | Float | String) => Double,
        (Decimal(_, s1), Decimal(_, s2)) => Decimal(
            38,
            if op == ArithOp::Mul {
                (s1 + s2).min(38)
            } else {
                *s1.max(s2)
            },
        ),
        (Decimal(_, s), _) | (_, Decimal(_, s)) => Decimal(38, *s),
        (Long, _) | (_, Long) => Long,
        _ => Int,
    }
}

/// The current row of each relation in scope, plus the current group's aggregate values.
pub(crate) struct Env<'a> {
    pub rows: &'a [&'a [Value]],
    pub aggs: &'a [Value],
    pub groups: &'a [Value],
}

impl<'a> Env<'a> {
    pub(crate) fn rows(rows: &'a [&'a [Value]]) -> Env<'a> {
        Env {
            rows,
            aggs: &[],
            groups: &[],
        }
    }
}

fn truth(v: &Value) -> Result<Option<bool>, SqlError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        other => match cast(other, &SqlType::Boolean)? {
            Value::Bool(b) => Ok(Some(b)),
            _ => Ok(None),
        },
    }
}

fn opt_bool(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

/// Whether a predicate holds (NULL counts as false, as in WHERE).
pub(crate) fn holds(b: &Bound, env: &Env, ctx: &Ctx) -> Result<bool, SqlError> {
    Ok(truth(&eval(b, env, ctx)?)? == Some(true))
}

pub(crate) fn eval(b: &Bound, env: &Env, ctx: &Ctx) -> Result<Value, SqlError> {
    let ev = |x: &Bound| eval(x, env, ctx);
    Ok(match b {
        Bound::Lit(v) => v.clone(),
        Bound::Col(r, c) => env.rows[*r][*c].clone(),
        Bound::Agg(i) => env.aggs[*i].clone(),
        Bound::Group(i) => env.groups[*i].clone(),
        Bound::Neg(a) => match ev(a)? {
            Value::Int(i) => Value::Int(
                i.checked_neg()
                    .ok_or_else(|| SqlError::arithmetic_overflow(&format!("- {i}")))?,
            ),
            Value::Decimal(m, s) => Value::Decimal(-m, s),
            Value::Double(f) => Value::Double(-f),
            Value::Float(f) => Value::Float(-f),
            v => arith(ArithOp::Sub, &Value::Int(0), &v)?,
        },
        Bound::Not(a) => opt_bool(truth(&ev(a)?)?.map(|x| !x)),
        Bound::And(a, c) => {
            let l = truth(&ev(a)?)?;
            if l == Some(false) {
                return Ok(Value::Bool(false));
            }
            match (l, truth(&ev(c)?)?) {
                (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            }
        }
        Bound::Or(a, c) => {
            let l = truth(&ev(a)?)?;
            if l == Some(true) {
                return Ok(Value::Bool(true));
            }
            match (l, truth(&ev(c)?)?) {
                (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            }
        }
        Bound::Cmp(op, a, c) => {
            let (l, r) = (ev(a)?, ev(c)?);
            if *op == CmpOp::NullSafeEq {
                return Ok(Value::Bool(match (l.is_null(), r.is_null()) {
                    (true, true) => true,
                    (false, false) => compare(&l, &r)? == Some(Ordering::Equal),
                    _ => false,
                }));
            }
            opt_bool(compare(&l, &r)?.map(|o| match op {
                CmpOp::Eq | CmpOp::NullSafeEq => o == Ordering::Equal,
                CmpOp::NotEq => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            }))
        }
        Bound::Arith(op, a, c) => arith(*op, &ev(a)?, &ev(c)?)?,
        Bound::Concat(parts) => {
            let mut out = String::new();
            for p in parts {
                match cast(&ev(p)?, &SqlType::String)? {
                    Value::Str(s) => out.push_str(&s),
                    _ => return Ok(Value::Null),
                }
            }
            Value::Str(out)
        }
        Bound::IsNull(a, neg) => Value::Bool(ev(a)?.is_null() != *neg),
        Bound::In(a, list, neg) => {
            let l = ev(a)?;
            if l.is_null() {
                return Ok(Value::Null);
            }
            let mut saw_null = false;
            for item in list {
                match compare(&l, &ev(item)?)? {
                    Some(Ordering::Equal) => return Ok(Value::Bool(!neg)),
                    None => saw_null = true,
                    _ => {}
                }
            }
            if saw_null {
                Value::Null
            } else {
                Value::Bool(*neg)
            }
        }
        Bound::Between(a, lo, hi, neg) => {
            let v = ev(a)?;
            let ge = compare(&v, &ev(lo)?)?.map(|o| o != Ordering::Less);
            let le = compare(&v, &ev(hi)?)?.map(|o| o != Ordering::Greater);
            let both = match (ge, le) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
            opt_bool(both.map(|x| x != *neg))
        }
        Bound::Like(a, p, neg) => match (
            cast(&ev(a)?, &SqlType::String)?,
            cast(&ev(p)?, &SqlType::String)?,
        ) {
            (Value::Str(s), Value::Str(pat)) => Value::Bool(like(&s, &pat) != *neg),
            _ => Value::Null,
        },
        Bound::Cast(a, t) => cast(&ev(a)?, t)?,
        Bound::Case {
            operand,
            whens,
            otherwise,
        } => {
            let op = match operand {
                Some(o) => Some(ev(o)?),
                None => None,
            };
            for (w, t) in whens {
                let hit = match &op {
                    Some(o) => compare(o, &ev(w)?)? == Some(Ordering::Equal),
                    None => truth(&ev(w)?)? == Some(true),
                };
                if hit {
                    return ev(t);
                }
            }
            match otherwise {
                Some(o) => ev(o)?,
                None => Value::Null,
            }
        }
        Bound::Func(f, args) => call(*f, args, env, ctx)?,
    })
}

fn call(f: ScalarFn, args: &[Bound], env: &Env, ctx: &Ctx) -> Result<Value, SqlError> {
    let arg = |i: usize| eval(&args[i], env, ctx);
    let text = |i: usize| -> Result<Option<String>, SqlError> {
        Ok(match cast(&arg(i)?, &SqlType::String)? {
            Value::Str(s) => Some(s),
            _ => None,
        })
    };
    Ok(match f {
        ScalarFn::Coalesce => {
            for a in args {
                let v = eval(a, env, ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
            }
            Value::Null
        }
        ScalarFn::Upper => text(0)?.map_or(Value::Null, |s| Value::Str(s.to_uppercase())),
        ScalarFn::Lower => text(0)?.map_or(Value::Null, |s| Value::Str(s.to_lowercase())),
        ScalarFn::Trim => {
            text(0)?.map_or(Value::Null, |s| Value::Str(s.trim_matches(' ').to_string()))
        }
        ScalarFn::Length => text(0)?.map_or(Value::Null, |s| Value::Int(s.chars().count() as i64)),
        ScalarFn::Concat => {
            let mut out = String::new();
            for i in 0..args.len() {
                match text(i)? {
                    Some(s) => out.push_str(&s),
                    None => return Ok(Value::Null),
                }
            }
            Value::Str(out)
        }
        ScalarFn::Abs => match arg(0)? {
            Value::Int(i) => Value::Int(
                i.checked_abs()
                    .ok_or_else(|| SqlError::arithmetic_overflow(&format!("abs({i})")))?,
            ),
            Value::Decimal(m, s) => Value::Decimal(m.abs(), s),
            Value::Double(x) => Value::Double(x.abs()),
            Value::Float(x) => Value::Float(x.abs()),
            Value::Null => Value::Null,
            v => match cast(&v, &SqlType::Double)? {
                Value::Double(x) => Value::Double(x.abs()),
                _ => Value::Null,
            },
        },
        ScalarFn::CurrentTimestamp => Value::Timestamp(ctx.now),
        ScalarFn::CurrentDate => cast(&Value::Timestamp(ctx.now), &SqlType::Date)?,
        ScalarFn::CurrentCatalog => Value::Str(ctx.catalog.clone()),
        ScalarFn::CurrentSchema => Value::Str(ctx.schema.clone()),
        ScalarFn::CurrentUser => Value::Str(ctx.user.clone()),
    })
}

/// Computes one aggregate over the rows of a group (each row as the relations in scope).
pub(crate) fn aggregate(
    call: &AggCall,
    rows: &[Vec<&[Value]>],
    ctx: &Ctx,
) -> Result<Value, SqlError> {
    let mut values = Vec::new();
    for r in rows {
        match &call.arg {
            None => values.push(Value::Int(1)),
            Some(b) => {
                let v = eval(b, &Env::rows(r), ctx)?;
                if !v.is_null() {
                    values.push(v);
                }
            }
        }
    }
    if call.distinct {
        let mut uniq: Vec<Value> = Vec::new();
        for v in values {
            if !uniq
                .iter()
                .any(|u| compare(u, &v).ok().flatten() == Some(Ordering::Equal))
            {
                uniq.push(v);
            }
        }
        values = uniq;
    }
    Ok(match call.kind {
        AggKind::Count => Value::Int(values.len() as i64),
        _ if values.is_empty() => Value::Null,
        AggKind::Min => values.into_iter().min_by(sort_cmp).unwrap_or(Value::Null),
        AggKind::Max => values.into_iter().max_by(sort_cmp).unwrap_or(Value::Null),
        AggKind::Sum | AggKind::Avg => {
            let n = values.len() as i64;
            let mut total = Value::Int(0);
            for v in &values {
                let v = if let Value::Str(_) = v {
                    cast(v, &SqlType::Double)?
                } else {
                    v.clone()
                };
                total = arith(ArithOp::Add, &total, &v)?;
            }
            if call.kind == AggKind::Sum {
                cast(&total, &call.ty)?
            } else {
                match (&call.ty, &total) {
                    (SqlType::Decimal(p, s), Value::Decimal(..) | Value::Int(_)) => {
                        // Exact decimal average at the result scale: scale up, divide, round.
                        let scaled = cast(&total, &SqlType::Decimal(38, *s)).ok();
                        match scaled {
                            Some(Value::Decimal(m, _)) => {
                                let (q, r) = (m / n as i128, m % n as i128);
                                let q = if r.abs() * 2 >= n as i128 {
                                    q + m.signum()
                                } else {
                                    q
                                };
                                cast(&Value::Decimal(q, *s), &SqlType::Decimal(*p, *s))?
                            }
                            _ => cast(&arith(ArithOp::Div, &total, &Value::Int(n))?, &call.ty)?,
                        }
                    }
                    _ => arith(ArithOp::Div, &total, &Value::Int(n))?,
                }
            }
        }
    })
}
