//! Recursive-descent parser for the SQL subset the emulator runs (see the module docs of
//! `sql` for the list). Keywords match without case; anything outside the subset fails the way
//! Databricks reports a syntax error: PARSE_SYNTAX_ERROR naming the first token it could not use.
//! Named parameter markers are bound here, so an unbound one fails before anything runs.

use std::collections::BTreeMap;

use super::SqlError;
use super::ast::*;
use super::lexer::{Tok, Token, tokenize};
use super::types::SqlType;

mod expr;

/// Words that end an expression or table reference, so they are never taken as an alias.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "from", "where", "group", "order", "limit", "offset", "having", "union", "on", "using", "when",
    "then", "else", "end", "set", "values", "version", "timestamp", "as", "join", "inner", "left",
    "right", "full", "cross", "and", "or", "not", "is", "in", "like", "between", "window", "except",
    "intersect", "select", "by", "asc", "desc", "nulls", "tblproperties", "comment", "deep",
    "shallow", "clone", "natural",
];

pub(crate) fn parse(sql: &str, params: &[(String, Option<String>)]) -> Result<Statement, SqlError> {
    let tokens = tokenize(sql)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        params,
    };
    let stmt = p.statement()?;
    p.eat_sym(";");
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.error());
    }
    Ok(stmt)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    params: &'a [(String, Option<String>)],
}

impl Parser<'_> {
    // --- token helpers ---

    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn advance(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self) -> SqlError {
        match self.peek() {
            Tok::Eof => SqlError::syntax(None),
            _ => SqlError::syntax(Some(&self.tokens[self.pos].text)),
        }
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(i, k)| self.is_kw_at(i, k)) {
            for _ in kws {
                self.advance();
            }
            true
        } else {
            false
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), SqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn ident(&mut self) -> Result<String, SqlError> {
        match self.peek().clone() {
            Tok::Word(w) => {
                self.advance();
                Ok(w)
            }
            Tok::Quoted(q) => {
                self.advance();
                Ok(q)
            }
            _ => Err(self.error()),
        }
    }

    fn string(&mut self) -> Result<String, SqlError> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.advance();
                Ok(s)
            }
            Tok::Param(name) => {
                self.advance();
                self.param(&name)?
                    .ok_or_else(|| SqlError::syntax(Some("NULL")))
            }
            _ => Err(self.error()),
        }
    }

    fn integer(&mut self) -> Result<i64, SqlError> {
        match self.peek().clone() {
            Tok::Num(n) => {
                let v = n
                    .trim_end_matches(['L', 'l'])
                    .parse::<i64>()
                    .map_err(|_| self.error())?;
                self.advance();
                Ok(v)
            }
            Tok::Param(name) => {
                let v = self.param(&name)?.unwrap_or_default();
                let v = v
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| SqlError::cast_invalid(&v, "STRING", "BIGINT"))?;
                self.advance();
                Ok(v)
            }
            _ => Err(self.error()),
        }
    }

    fn param(&self, name: &str) -> Result<Option<String>, SqlError> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| SqlError::unbound_parameter(name))
    }

    fn alias_word(&self) -> bool {
        match self.peek() {
            Tok::Word(w) => !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)),
            Tok::Quoted(_) => true,
            _ => false,
        }
    }

    fn opt_alias(&mut self) -> Result<Option<String>, SqlError> {
        if self.eat_kw("as") {
            return Ok(Some(self.ident()?));
        }
        if self.alias_word() {
            Ok(Some(self.ident()?))
        } else {
            Ok(None)
        }
    }

    /// `a`, `a.b`, `a.b.c`, or `IDENTIFIER(:param | 'a.b.c')`.
    fn obj_name(&mut self) -> Result<ObjName, SqlError> {
        if self.is_kw("identifier") && matches!(self.peek_at(1), Tok::Sym("(")) {
            self.advance();
            self.advance();
            let text = self.string()?;
            self.expect_sym(")")?;
            let parts: Vec<String> = text
                .split('.')
                .map(|p| p.trim().trim_matches('`').to_string())
                .collect();
            if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(SqlError::syntax(Some(&text)));
            }
            return Ok(parts);
        }
        let mut parts = vec![self.ident()?];
        while self.is_sym(".") {
            self.advance();
            parts.push(self.ident()?);
        }
        if parts.len() > 3 {
            return Err(SqlError::new(
                "REQUIRES_SINGLE_PART_NAMESPACE",
                "42K05",
                format!("The name {} has too many name parts.", parts.join(".")),
            ));
        }
        Ok(parts)
    }

    fn ident_list(&mut self) -> Result<Vec<String>, SqlError> {
        self.expect_sym("(")?;
        let mut out = vec![self.ident()?];
        while self.eat_sym(",") {
            out.push(self.ident()?);
        }
        self.expect_sym(")")?;
        Ok(out)
    }

    fn if_not_exists(&mut self) -> bool {
        self.eat_kws(&["if", "not", "exists"])
    }

    fn if_exists(&mut self) -> bool {
        self.eat_kws(&["if", "exists"])
    }

    /// `('k' = 'v', key.path = 'v', ...)`; the `=` is optional as in Spark.
    fn property_list(&mut self) -> Result<BTreeMap<String, String>, SqlError> {
        self.expect_sym("(")?;
        let mut out = BTreeMap::new();
        loop {
            let key = match self.peek().clone() {
                Tok::Str(s) => {
                    self.advance();
                    s
                }
                _ => {
                    let mut k = self.ident()?;
                    while self.eat_sym(".") {
                        k.push('.');
                        k.push_str(&self.ident()?);
                    }
                    k
                }
            };
            self.eat_sym("=");
            let value = match self.peek().clone() {
                Tok::Str(s) => s,
                Tok::Num(n) => n,
                Tok::Word(w)
                    if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") =>
                {
                    w.to_lowercase()
                }
                _ => return Err(self.error()),
            };
            self.advance();
            out.insert(key, value);
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        Ok(out)
    }

    fn data_type(&mut self) -> Result<SqlType, SqlError> {
        let name = match self.peek().clone() {
            Tok::Word(w) => w,
            _ => return Err(self.error()),
        };
        self.advance();
        let mut args = Vec::new();
        if self.eat_sym("(") {
            loop {
                match self.peek().clone() {
                    Tok::Num(n) => {
                        args.push(n.parse::<u32>().map_err(|_| self.error())?);
                        self.advance();
                    }
                    _ => return Err(self.error()),
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
        }
        SqlType::from_words(&name, &args)
    }

    fn time_travel(&mut self) -> Result<Option<TimeTravel>, SqlError> {
        if self.eat_kws(&["version", "as", "of"]) {
            return Ok(Some(TimeTravel::Version(self.integer()?)));
        }
        if self.eat_kws(&["timestamp", "as", "of"]) {
            return Ok(Some(TimeTravel::Timestamp(self.string()?)));
        }
        Ok(None)
    }

    // --- statements ---

    /// A query: one `SELECT`, or several joined by `UNION [ALL | DISTINCT]`.
    fn query(&mut self) -> Result<Statement, SqlError> {
        let first = self.select()?;
        let mut rest = Vec::new();
        while self.eat_kw("union") {
            let distinct = if self.eat_kw("all") {
                false
            } else {
                self.eat_kw("distinct");
                true
            };
            rest.push((distinct, self.select()?));
        }
        Ok(if rest.is_empty() {
            Statement::Select(Box::new(first))
        } else {
            Statement::Union {
                first: Box::new(first),
                rest,
            }
        })
    }

    fn statement(&mut self) -> Result<Statement, SqlError> {
        let word = match self.peek() {
            Tok::Word(w) => w.to_ascii_lowercase(),
            Tok::Sym("(") => return self.query(),
            _ => return Err(self.error()),
        };
        match word.as_str() {
            "select" => self.query(),
            "create" => self.create(),
            "replace" => {
                self.advance();
                self.expect_kw("table")?;
                self.create_table(true)
            }
            "drop" => self.drop(),
            "alter" => self.alter(),
            "comment" => self.comment_on(),
            "insert" => self.insert(),
            "merge" => self.merge(),
            "delete" => {
                self.advance();
                self.expect_kw("from")?;
                let table = self.obj_name()?;
                let alias = self.opt_alias()?;
                let filter = if self.eat_kw("where") {
                    Some(self.expr()?)
                } else {
                    None
                };
                Ok(Statement::Delete {
                    table,
                    alias,
                    filter,
                })
            }
            "update" => {
                self.advance();
                let table = self.obj_name()?;
                let alias = self.opt_alias()?;
                self.expect_kw("set")?;
                let sets = self.assignments()?;
                let filter = if self.eat_kw("where") {
                    Some(self.expr()?)
                } else {
                    None
                };
                Ok(Statement::Update {
                    table,
                    alias,
                    sets,
                    filter,
                })
            }
            "truncate" => {
                self.advance();
                self.expect_kw("table")?;
                Ok(Statement::Truncate {
                    table: self.obj_name()?,
                })
            }
            "describe" | "desc" => self.describe(),
            "restore" => {
                self.advance();
                self.eat_kw("table");
                let table = self.obj_name()?;
                self.eat_kw("to");
                let travel = self.time_travel()?.ok_or_else(|| self.error())?;
                Ok(Statement::Restore { table, travel })
            }
            "show" => self.show(),
            _ => Err(self.error()),
        }
    }

    fn create(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let or_replace = self.eat_kws(&["or", "replace"]);
        if self.eat_kw("table") {
            return self.create_table(or_replace);
        }
        if or_replace {
            return Err(self.error());
        }
        if self.eat_kw("catalog") {
            let if_not_exists = self.if_not_exists();
            let name = self.ident()?;
            let mut comment = None;
            loop {
                if self.eat_kw("comment") {
                    comment = Some(self.string()?);
                } else if self.eat_kws(&["managed", "location"]) {
                    self.string()?;
                } else {
                    break;
                }
            }
            return Ok(Statement::CreateCatalog {
                name,
                if_not_exists,
                comment,
            });
        }
        if self.eat_kw("schema") || self.eat_kw("database") {
            let if_not_exists = self.if_not_exists();
            let name = self.obj_name()?;
            if name.len() > 2 {
                return Err(SqlError::syntax(Some(&name.join("."))));
            }
            let (mut comment, mut properties) = (None, BTreeMap::new());
            loop {
                if self.eat_kw("comment") {
                    comment = Some(self.string()?);
                } else if self.eat_kws(&["with", "dbproperties"])
                    || self.eat_kws(&["with", "properties"])
                {
                    properties = self.property_list()?;
                } else if self.eat_kws(&["managed", "location"]) || self.eat_kw("location") {
                    self.string()?;
                } else {
                    break;
                }
            }
            return Ok(Statement::CreateSchema {
                name,
                if_not_exists,
                comment,
                properties,
            });
        }
        Err(self.error())
    }

    fn create_table(&mut self, or_replace: bool) -> Result<Statement, SqlError> {
        let if_not_exists = self.if_not_exists();
        if or_replace && if_not_exists {
            return Err(SqlError::syntax(Some("IF")));
        }
        let name = self.obj_name()?;
        let (mut comment, mut properties) = (None, BTreeMap::new());
        if self.eat_kw("deep") || self.is_kw("clone") || self.eat_kw("shallow") {
            self.expect_kw("clone")?;
            let source = self.obj_name()?;
            let travel = self.time_travel()?;
            if self.eat_kw("tblproperties") {
                properties = self.property_list()?;
            }
            let body = CreateBody::Clone { source, travel };
            return Ok(Statement::CreateTable {
                name,
                or_replace,
                if_not_exists,
                body,
                comment,
                properties,
            });
        }
        let mut body = None;
        if self.is_sym("(") {
            let (columns, primary_key) = self.column_defs()?;
            body = Some(CreateBody::Columns {
                columns,
                primary_key,
            });
        }
        loop {
            if self.eat_kw("using") {
                let format = self.ident()?;
                if !format.eq_ignore_ascii_case("delta") {
                    return Err(SqlError::new(
                        "UNSUPPORTED_DATA_SOURCE_FOR_DIRECT_QUERY",
                        "0A000",
                        format!("Unsupported data source type for direct query on files: {format}"),
                    ));
                }
            } else if self.eat_kw("comment") {
                comment = Some(self.string()?);
            } else if self.eat_kw("tblproperties") {
                properties = self.property_list()?;
            } else {
                break;
            }
        }
        if self.eat_kw("as") {
            if body.is_some() {
                return Err(SqlError::syntax(Some("AS")));
            }
            body = Some(CreateBody::AsSelect(Box::new(self.select()?)));
        }
        let body = body.ok_or_else(|| self.error())?;
        Ok(Statement::CreateTable {
            name,
            or_replace,
            if_not_exists,
            body,
            comment,
            properties,
        })
    }

    fn column_def(&mut self) -> Result<(ColumnSpec, bool), SqlError> {
        let name = self.ident()?;
        let ty = self.data_type()?;
        let (mut nullable, mut comment, mut pk) = (true, None, false);
        loop {
            if self.eat_kws(&["not", "null"]) {
                nullable = false;
            } else if self.eat_kw("null") {
                nullable = true;
            } else if self.eat_kw("comment") {
                comment = Some(self.string()?);
            } else if self.eat_kws(&["primary", "key"]) {
                pk = true;
            } else {
                break;
            }
        }
        Ok((
            ColumnSpec {
                name,
                ty,
                nullable,
                comment,
            },
            pk,
        ))
    }

    fn column_defs(&mut self) -> Result<(Vec<ColumnSpec>, Option<PrimaryKey>), SqlError> {
        self.expect_sym("(")?;
        let (mut columns, mut pk) = (Vec::new(), None);
        loop {
            let constraint_name = if self.eat_kw("constraint") {
                Some(self.ident()?)
            } else {
                None
            };
            if constraint_name.is_some() || (self.is_kw("primary") && self.is_kw_at(1, "key")) {
                self.expect_kw("primary")?;
                self.expect_kw("key")?;
                let cols = self.ident_list()?;
                while self.eat_kw("rely") || self.eat_kw("norely") {}
                pk = Some(PrimaryKey {
                    name: constraint_name,
                    columns: cols,
                });
            } else {
                let (col, inline_pk) = self.column_def()?;
                if inline_pk {
                    pk = Some(PrimaryKey {
                        name: None,
                        columns: vec![col.name.clone()],
                    });
                }
                columns.push(col);
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_sym(")")?;
        Ok((columns, pk))
    }

    fn drop(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.eat_kw("table") {
            let if_exists = self.if_exists();
            let table = self.obj_name()?;
            self.eat_kw("purge");
            return Ok(Statement::DropTable { table, if_exists });
        }
        let catalog = self.eat_kw("catalog");
        if catalog || self.eat_kw("schema") || self.eat_kw("database") {
            let if_exists = self.if_exists();
            let name = self.obj_name()?;
            let cascade = self.eat_kw("cascade");
            if !cascade {
                self.eat_kw("restrict");
            }
            if catalog {
                if name.len() != 1 {
                    return Err(SqlError::syntax(Some(&name.join("."))));
                }
                return Ok(Statement::DropCatalog {
                    name: name[0].clone(),
                    if_exists,
                    cascade,
                });
            }
            if name.len() > 2 {
                return Err(SqlError::syntax(Some(&name.join("."))));
            }
            return Ok(Statement::DropSchema {
                name,
                if_exists,
                cascade,
            });
        }
        Err(self.error())
    }

    fn alter(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        self.expect_kw("table")?;
        let table = self.obj_name()?;
        if self.eat_kw("add") {
            let plural = self.eat_kw("columns");
            if !plural {
                self.expect_kw("column")?;
            }
            let mut columns = Vec::new();
            let parens = self.eat_sym("(");
            loop {
                let (col, pk) = self.column_def()?;
                if pk {
                    return Err(SqlError::syntax(Some("PRIMARY")));
                }
                columns.push(col);
                if !self.eat_sym(",") {
                    break;
                }
            }
            if parens {
                self.expect_sym(")")?;
            }
            return Ok(Statement::AddColumns { table, columns });
        }
        if self.eat_kw("alter") || self.eat_kw("change") {
            self.eat_kw("column");
            let mut column = vec![self.ident()?];
            while self.eat_sym(".") {
                column.push(self.ident()?);
            }
            let change = if self.eat_kw("comment") {
                AlterColumn::Comment(self.string()?)
            } else if self.eat_kw("type") {
                AlterColumn::Type(self.data_type()?)
            } else {
                return Err(self.error());
            };
            return Ok(Statement::AlterColumn {
                table,
                column,
                change,
            });
        }
        if self.eat_kw("drop") {
            if !self.eat_kw("columns") {
                self.expect_kw("column")?;
            }
            let if_exists = self.if_exists();
            let parens = self.eat_sym("(");
            let mut columns = Vec::new();
            loop {
                let mut c = vec![self.ident()?];
                while self.eat_sym(".") {
                    c.push(self.ident()?);
                }
                columns.push(c);
                if !self.eat_sym(",") {
                    break;
                }
            }
            if parens {
                self.expect_sym(")")?;
            }
            return Ok(Statement::DropColumns {
                table,
                columns,
                if_exists,
            });
        }
        if self.eat_kws(&["set", "tblproperties"]) {
            return Ok(Statement::SetProperties {
                table,
                properties: self.property_list()?,
            });
        }
        Err(self.error())
    }

    fn comment_on(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        self.expect_kw("on")?;
        let schema = if self.eat_kw("table") {
            false
        } else if self.eat_kw("schema") || self.eat_kw("database") {
            true
        } else {
            return Err(self.error());
        };
        let name = self.obj_name()?;
        self.expect_kw("is")?;
        let comment = if self.eat_kw("null") {
            None
        } else {
            Some(self.string()?)
        };
        Ok(if schema {
            Statement::CommentOnSchema { name, comment }
        } else {
            Statement::CommentOnTable {
                table: name,
                comment,
            }
        })
    }

    fn insert(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        let overwrite = if self.eat_kw("overwrite") {
            true
        } else {
            self.expect_kw("into")?;
            false
        };
        self.eat_kw("table");
        let table = self.obj_name()?;
        let columns = if self.is_sym("(") && !self.is_kw_at(1, "select") {
            Some(self.ident_list()?)
        } else {
            None
        };
        let source = if self.eat_kw("values") {
            InsertSource::Values(self.values_rows()?)
        } else if self.is_kw("select") || self.is_sym("(") {
            InsertSource::Query(Box::new(self.select()?))
        } else {
            return Err(self.error());
        };
        Ok(Statement::Insert {
            table,
            columns,
            source,
            overwrite,
        })
    }

    /// The rows after VALUES: `(a, b), (c, d)`; a bare `a, b` is one-column rows, as in Spark.
    fn values_rows(&mut self) -> Result<Vec<Vec<Expr>>, SqlError> {
        let mut rows = Vec::new();
        loop {
            if self.eat_sym("(") {
                let mut row = vec![self.expr()?];
                while self.eat_sym(",") {
                    row.push(self.expr()?);
                }
                self.expect_sym(")")?;
                rows.push(row);
            } else {
                rows.push(vec![self.expr()?]);
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(rows)
    }

    fn assignments(&mut self) -> Result<Vec<(Vec<String>, Expr)>, SqlError> {
        let mut sets = Vec::new();
        loop {
            let mut col = vec![self.ident()?];
            while self.eat_sym(".") {
                col.push(self.ident()?);
            }
            self.expect_sym("=")?;
            sets.push((col, self.expr()?));
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(sets)
    }

    fn merge(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        self.expect_kw("into")?;
        let target = self.obj_name()?;
        let target_alias = self.opt_alias()?;
        self.expect_kw("using")?;
        let source = self.table_ref()?;
        self.expect_kw("on")?;
        let on = self.expr()?;
        let mut clauses = Vec::new();
        while self.eat_kw("when") {
            let kind = if self.eat_kw("matched") {
                MergeKind::Matched
            } else {
                self.expect_kw("not")?;
                self.expect_kw("matched")?;
                if self.eat_kws(&["by", "source"]) {
                    MergeKind::NotMatchedBySource
                } else {
                    self.eat_kws(&["by", "target"]);
                    MergeKind::NotMatched
                }
            };
            let cond = if self.eat_kw("and") {
                Some(self.expr()?)
            } else {
                None
            };
            self.expect_kw("then")?;
            let action = if kind == MergeKind::NotMatched {
                self.expect_kw("insert")?;
                if self.eat_sym("*") {
                    MergeAction::InsertAll
                } else {
                    let cols = if self.is_sym("(") {
                        Some(self.ident_list()?)
                    } else {
                        None
                    };
                    self.expect_kw("values")?;
                    self.expect_sym("(")?;
                    let mut vals = vec![self.expr()?];
                    while self.eat_sym(",") {
                        vals.push(self.expr()?);
                    }
                    self.expect_sym(")")?;
                    MergeAction::Insert(cols, vals)
                }
            } else if self.eat_kw("delete") {
                MergeAction::Delete
            } else {
                self.expect_kw("update")?;
                self.expect_kw("set")?;
                if kind == MergeKind::Matched && self.eat_sym("*") {
                    MergeAction::UpdateAll
                } else {
                    MergeAction::Update(self.assignments()?)
                }
            };
            clauses.push(MergeClause { kind, cond, action });
        }
        if clauses.is_empty() {
            return Err(self.error());
        }
        Ok(Statement::Merge(Box::new(Merge {
            target,
            target_alias,
            source,
            on,
            clauses,
        })))
    }

    fn describe(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.eat_kw("history") {
            let table = self.obj_name()?;
            let limit = if self.eat_kw("limit") {
                Some(self.integer()?)
            } else {
                None
            };
            return Ok(Statement::DescribeHistory { table, limit });
        }
        self.eat_kw("table");
        self.eat_kw("extended");
        Ok(Statement::DescribeTable {
            table: self.obj_name()?,
        })
    }

    fn show(&mut self) -> Result<Statement, SqlError> {
        self.advance();
        if self.eat_kw("tables") {
            let schema = if self.eat_kw("in") || self.eat_kw("from") {
                Some(self.obj_name()?)
            } else {
                None
            };
            let pattern = if self.eat_kw("like") {
                Some(self.string()?)
            } else {
                None
            };
            return Ok(Statement::ShowTables { schema, pattern });
        }
        if self.eat_kw("schemas") || self.eat_kw("databases") {
            let catalog = if self.eat_kw("in") || self.eat_kw("from") {
                Some(self.ident()?)
            } else {
                None
            };
            return Ok(Statement::ShowSchemas { catalog });
        }
        if self.eat_kw("catalogs") {
            return Ok(Statement::ShowCatalogs);
        }
        if self.eat_kw("create") {
            self.expect_kw("table")?;
            return Ok(Statement::ShowCreateTable {
                table: self.obj_name()?,
            });
        }
        if self.eat_kw("tblproperties") {
            return Ok(Statement::ShowTblProperties {
                table: self.obj_name()?,
            });
        }
        Err(self.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(sql: &str) -> Statement {
        parse(sql, &[("p".into(), Some("7".into()))]).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn parses_the_subset() {
        ok(
            "CREATE TABLE IF NOT EXISTS main.default.t (id BIGINT NOT NULL COMMENT 'k', v DECIMAL(10,2), CONSTRAINT pk PRIMARY KEY (id)) USING DELTA COMMENT 'c' TBLPROPERTIES ('a' = 'b', delta.appendOnly = false);",
        );
        ok("CREATE OR REPLACE TABLE t2 DEEP CLONE t VERSION AS OF 3");
        ok("ALTER TABLE t ADD COLUMNS (x STRING COMMENT 'y', z INT)");
        ok("ALTER TABLE t ALTER COLUMN x COMMENT 'new'");
        ok(
            "MERGE INTO t AS tgt USING (VALUES (1, 'a'), (2, 'b')) AS src(id, name) ON tgt.id = src.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * WHEN NOT MATCHED BY SOURCE THEN DELETE",
        );
        ok(
            "SELECT id, count(*) AS n FROM t VERSION AS OF 2 WHERE a IN (1, 2) AND NOT b IS NULL OR c <> :p GROUP BY id ORDER BY id DESC NULLS LAST LIMIT 10",
        );
        ok("DESCRIBE HISTORY `main`.`default`.`t` LIMIT 1");
        ok("RESTORE TABLE t TO VERSION AS OF 1");
        ok("-- a comment\nSELECT 1");
    }

    #[test]
    fn syntax_errors_name_the_token() {
        let e = parse("SELEC 1", &[]).unwrap_err();
        assert_eq!(e.error_class, "PARSE_SYNTAX_ERROR");
        assert_eq!(e.message, "Syntax error at or near 'SELEC'.");
        let e = parse("SELECT * FROM", &[]).unwrap_err();
        assert_eq!(e.message, "Syntax error at or near end of input.");
        assert_eq!(
            parse("SELECT :missing", &[]).unwrap_err().error_class,
            "UNBOUND_SQL_PARAMETER"
        );
    }
}
