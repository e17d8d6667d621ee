//! The syntax tree of the SQL subset, as the parser produces it and the executor consumes it,
//! plus the SQL text of expressions (Databricks names unaliased result columns after it and
//! DESCRIBE HISTORY shows predicates in it).

use std::collections::BTreeMap;
use std::fmt;

use super::types::{ArithOp, SqlType, Value, fmt_decimal};

/// A 1-, 2- or 3-part name as written (unquoted, original case).
pub(crate) type ObjName = Vec<String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `<=>`: equality where NULL equals NULL.
    NullSafeEq,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::NullSafeEq => "<=>",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(Value),
    /// A named parameter marker with its bound value (`None` is NULL), resolved at parse time.
    Param(String, Option<String>),
    Col(Vec<String>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    Concat(Box<Expr>, Box<Expr>),
    IsNull(Box<Expr>, bool),
    In(Box<Expr>, Vec<Expr>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>, bool),
    Like(Box<Expr>, Box<Expr>, bool),
    Cast(Box<Expr>, SqlType),
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// A function call; `star` is `count(*)`. `name` is lower case.
    Func {
        name: String,
        args: Vec<Expr>,
        star: bool,
        distinct: bool,
    },
}

pub(crate) const AGGREGATES: [&str; 5] = ["count", "min", "max", "sum", "avg"];

impl Expr {
    pub(crate) fn contains_aggregate(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Func { name, .. } = e {
                found |= AGGREGATES.contains(&name.as_str());
            }
        });
        found
    }

    fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Param(..) | Expr::Col(_) => {}
            Expr::Neg(a) | Expr::Not(a) | Expr::IsNull(a, _) | Expr::Cast(a, _) => a.walk(f),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::Concat(a, b)
            | Expr::Like(a, b, _) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::In(a, list, _) => {
                a.walk(f);
                list.iter().for_each(|e| e.walk(f));
            }
            Expr::Between(a, b, c, _) => {
                a.walk(f);
                b.walk(f);
                c.walk(f);
            }
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.walk(f);
                }
                for (w, t) in whens {
                    w.walk(f);
                    t.walk(f);
                }
                if let Some(o) = otherwise {
                    o.walk(f);
                }
            }
            Expr::Func { args, .. } => args.iter().for_each(|e| e.walk(f)),
        }
    }
}

fn join(list: &[Expr]) -> String {
    list.iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Spark's pretty form: binary operators in parentheses, functions in lower case, `count(1)`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Lit(Value::Str(s)) => write!(f, "{s}"),
            Expr::Lit(Value::Null) => write!(f, "NULL"),
            Expr::Lit(Value::Decimal(m, s)) => write!(f, "{}", fmt_decimal(*m, *s)),
            Expr::Lit(v) => match (v, v.render()) {
                (Value::Date(_), Some(t)) => write!(f, "DATE '{t}'"),
                (Value::Timestamp(_), Some(t)) => write!(f, "TIMESTAMP '{t}'"),
                (_, Some(t)) => write!(f, "{t}"),
                (_, None) => write!(f, "NULL"),
            },
            Expr::Param(name, _) => write!(f, ":{name}"),
            Expr::Col(parts) => write!(f, "{}", parts.join(".")),
            Expr::Neg(a) => write!(f, "(- {a})"),
            Expr::Not(a) => write!(f, "(NOT {a})"),
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Cmp(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Arith(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Concat(a, b) => write!(f, "concat({a}, {b})"),
            Expr::IsNull(a, false) => write!(f, "({a} IS NULL)"),
            Expr::IsNull(a, true) => write!(f, "({a} IS NOT NULL)"),
            Expr::In(a, list, neg) => write!(
                f,
                "({}{a} IN ({}))",
                if *neg { "NOT " } else { "" },
                join(list)
            ),
            Expr::Between(a, lo, hi, neg) => write!(
                f,
                "({}{a} BETWEEN {lo} AND {hi})",
                if *neg { "NOT " } else { "" }
            ),
            Expr::Like(a, p, neg) => write!(f, "({}{a} LIKE {p})", if *neg { "NOT " } else { "" }),
            Expr::Cast(a, t) => write!(f, "CAST({a} AS {})", t.sql_name()),
            Expr::Case {
                operand,
                whens,
                otherwise,
            } => {
                write!(f, "CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(o) = otherwise {
                    write!(f, " ELSE {o}")?;
                }
                write!(f, " END")
            }
            Expr::Func {
                name, star: true, ..
            } if name == "count" => write!(f, "count(1)"),
            Expr::Func {
                name,
                args,
                distinct,
                ..
            } => {
                write!(
                    f,
                    "{name}({}{})",
                    if *distinct { "DISTINCT " } else { "" },
                    join(args)
                )
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimeTravel {
    Version(i64),
    Timestamp(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ColumnSpec {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum SelectItem {
    /// `*` or `alias.*`.
    Wildcard(Option<Vec<String>>),
    Expr(Expr, Option<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum FromItem {
    Table {
        name: ObjName,
        travel: Option<TimeTravel>,
        alias: Option<String>,
    },
    Subquery {
        query: Box<Select>,
        alias: Option<String>,
    },
    /// `VALUES (...), (...) AS alias(c1, c2)`.
    Values {
        rows: Vec<Vec<Expr>>,
        alias: Option<String>,
        columns: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct OrderItem {
    pub expr: Expr,
    pub desc: bool,
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone)]
pub(crate) struct Select {
    pub distinct: bool,
    pub items: Vec<SelectItem>,
    pub from: Option<FromItem>,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub order_by: Vec<OrderItem>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
}

#[derive(Debug, Clone)]
pub(crate) enum MergeAction {
    UpdateAll,
    Update(Vec<(Vec<String>, Expr)>),
    Delete,
    InsertAll,
    Insert(Option<Vec<String>>, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MergeKind {
    Matched,
    NotMatched,
    NotMatchedBySource,
}

#[derive(Debug, Clone)]
pub(crate) struct MergeClause {
    pub kind: MergeKind,
    pub cond: Option<Expr>,
    pub action: MergeAction,
}

#[derive(Debug, Clone)]
pub(crate) struct Merge {
    pub target: ObjName,
    pub target_alias: Option<String>,
    pub source: FromItem,
    pub on: Expr,
    pub clauses: Vec<MergeClause>,
}

#[derive(Debug, Clone)]
pub(crate) enum InsertSource {
    Values(Vec<Vec<Expr>>),
    Query(Box<Select>),
}

#[derive(Debug, Clone)]
pub(crate) struct PrimaryKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum CreateBody {
    Columns {
        columns: Vec<ColumnSpec>,
        primary_key: Option<PrimaryKey>,
    },
    Clone {
        source: ObjName,
        travel: Option<TimeTravel>,
    },
    AsSelect(Box<Select>),
}

#[derive(Debug, Clone)]
pub(crate) enum AlterColumn {
    Comment(String),
    Type(SqlType),
}

#[derive(Debug, Clone)]
pub(crate) enum Statement {
    Select(Box<Select>),
    /// `SELECT ... UNION [ALL | DISTINCT] SELECT ...`: `distinct` per operator, left to right.
    Union {
        first: Box<Select>,
        rest: Vec<(bool, Select)>,
    },
    CreateCatalog {
        name: String,
        if_not_exists: bool,
        comment: Option<String>,
    },
    DropCatalog {
        name: String,
        if_exists: bool,
        cascade: bool,
    },
    CreateSchema {
        name: ObjName,
        if_not_exists: bool,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    DropSchema {
        name: ObjName,
        if_exists: bool,
        cascade: bool,
    },
    CommentOnSchema {
        name: ObjName,
        comment: Option<String>,
    },
    CreateTable {
        name: ObjName,
        or_replace: bool,
        if_not_exists: bool,
        body: CreateBody,
        comment: Option<String>,
        properties: BTreeMap<String, String>,
    },
    AddColumns {
        table: ObjName,
        columns: Vec<ColumnSpec>,
    },
    AlterColumn {
        table: ObjName,
        column: Vec<String>,
        change: AlterColumn,
    },
    DropColumns {
        table: ObjName,
        columns: Vec<Vec<String>>,
        if_exists: bool,
    },
    SetProperties {
        table: ObjName,
        properties: BTreeMap<String, String>,
    },
    CommentOnTable {
        table: ObjName,
        comment: Option<String>,
    },
    Insert {
        table: ObjName,
        columns: Option<Vec<String>>,
        source: InsertSource,
        overwrite: bool,
    },
    Merge(Box<Merge>),
    Delete {
        table: ObjName,
        alias: Option<String>,
        filter: Option<Expr>,
    },
    Update {
        table: ObjName,
        alias: Option<String>,
        sets: Vec<(Vec<String>, Expr)>,
        filter: Option<Expr>,
    },
    Truncate {
        table: ObjName,
    },
    DescribeHistory {
        table: ObjName,
        limit: Option<i64>,
    },
    DescribeTable {
        table: ObjName,
    },
    Restore {
        table: ObjName,
        travel: TimeTravel,
    },
    DropTable {
        table: ObjName,
        if_exists: bool,
    },
    ShowTables {
        schema: Option<ObjName>,
        pattern: Option<String>,
    },
    ShowSchemas {
        catalog: Option<String>,
    },
    ShowCatalogs,
    ShowTblProperties {
        table: ObjName,
    },
    ShowCreateTable {
        table: ObjName,
    },
}
