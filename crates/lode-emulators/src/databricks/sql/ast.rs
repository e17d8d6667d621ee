//! The syntax tree of the Delta-specific statements (DDL, DML, DESCRIBE HISTORY, RESTORE,
//! CLONE, SHOW ...), as [`super::parser`] produces it and the executor consumes it. Expressions,
//! queries and table references inside them are sqlparser's own nodes: DataFusion plans them.

use std::collections::BTreeMap;

use deltalake::datafusion::sql::sqlparser::ast::{Expr, Query, TableFactor};

use super::types::SqlType;

/// A 1-, 2- or 3-part name as written (unquoted, original case).
pub(crate) type ObjName = Vec<String>;

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
    /// A table (with time travel), `(VALUES ..) s(cols)` or `(SELECT ..) s`, with its alias.
    pub source: TableFactor,
    pub on: Expr,
    pub clauses: Vec<MergeClause>,
}

#[derive(Debug, Clone)]
pub(crate) struct InsertSource {
    /// `VALUES ..`, `SELECT ..`, `WITH ..`: any query.
    pub query: Box<Query>,
    /// A bare `VALUES` list, which Delta records as a blind append.
    pub is_values: bool,
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
    AsSelect(Box<Query>),
}

#[derive(Debug, Clone)]
pub(crate) enum AlterColumn {
    Comment(String),
    Type(SqlType),
}

#[derive(Debug, Clone)]
pub(crate) enum Statement {
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
