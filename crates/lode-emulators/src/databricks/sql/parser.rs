//! The recogniser of the Delta-specific statements (DDL, DML, DESCRIBE HISTORY, RESTORE,
//! CLONE, SHOW ...; see the module docs of `sql` for the list), on sqlparser's tokenizer and
//! parser in the Databricks dialect: sqlparser parses every expression, query and table
//! reference inside them, this file only the statement shapes sqlparser does not know
//! (`DESCRIBE HISTORY`, `CREATE TABLE .. CLONE`, `RESTORE`, `UPDATE SET *` / `INSERT *` in
//! MERGE, `SHOW TBLPROPERTIES`, Delta's TBLPROPERTIES and column syntax). Keywords match
//! without case; anything else fails the way Databricks reports a syntax error:
//! PARSE_SYNTAX_ERROR naming the first token it could not use. Named parameter markers in
//! names and literals are bound here; those inside expressions when DataFusion plans them.

use std::collections::BTreeMap;

use deltalake::datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr};
use deltalake::datafusion::sql::sqlparser::parser::{Parser as SqlParser, ParserError};
use deltalake::datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::SqlError;
use super::ast::*;
use super::front::LakeDialect;
use super::types::SqlType;

/// Words that end a table reference, so they are never taken as an alias.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "from", "where", "group", "order", "limit", "offset", "having", "union", "on", "using", "when",
    "then", "else", "end", "set", "values", "version", "timestamp", "as", "join", "inner", "left",
    "right", "full", "cross", "and", "or", "not", "is", "in", "like", "between", "window", "except",
    "intersect", "select", "by", "asc", "desc", "nulls", "tblproperties", "comment", "deep",
    "shallow", "clone", "natural",
];

pub(crate) fn parse(sql: &str, params: &[(String, Option<String>)]) -> Result<Statement, SqlError> {
    let dialect = LakeDialect::default();
    // String literals stay as written: expressions and queries go back to DataFusion as SQL
    // text, and sqlparser prints a backslash without escaping it. [`Parser::string`]
    // unescapes the literals this file uses itself.
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| SqlError::syntax_from_parser(&e.to_string()))?;
    let inner = SqlParser::new(&dialect).with_tokens_with_locations(tokens);
    let mut p = Parser { inner, params };
    let stmt = p.statement()?;
    p.eat_sym(Token::SemiColon);
    if !matches!(p.peek(), Token::EOF) {
        return Err(p.error());
    }
    Ok(stmt)
}

/// A string literal's text as written (see [`parse`]) with Spark's escapes applied: `\'`,
/// `\\`, `\n`, `\t`, `\r`, `\0`, a doubled quote; any other `\x` is `x`.
pub(crate) fn unescape(raw: &str, quote: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            c if c == quote && chars.peek() == Some(&quote) => {
                chars.next();
                out.push(quote);
            }
            c => out.push(c),
        }
    }
    out
}

fn parser_error(e: &ParserError) -> SqlError {
    SqlError::syntax_from_parser(&e.to_string())
}

struct Parser<'d, 'p> {
    inner: SqlParser<'d>,
    params: &'p [(String, Option<String>)],
}

impl Parser<'_, '_> {
    // --- token helpers ---

    fn peek(&self) -> &Token {
        &self.inner.peek_token_ref().token
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.inner.peek_nth_token_ref(n).token
    }

    fn advance(&mut self) {
        self.inner.next_token();
    }

    fn error(&self) -> SqlError {
        match self.peek() {
            Token::EOF => SqlError::syntax(None),
            t => SqlError::syntax(Some(&t.to_string())),
        }
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
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

    fn is_sym(&self, s: Token) -> bool {
        *self.peek() == s
    }

    fn eat_sym(&mut self, s: Token) -> bool {
        if self.is_sym(s) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: Token) -> Result<(), SqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn ident(&mut self) -> Result<String, SqlError> {
        match self.peek() {
            Token::Word(w) => {
                let v = w.value.clone();
                self.advance();
                Ok(v)
            }
            _ => Err(self.error()),
        }
    }

    /// A `:name` parameter marker here (the tokenizer splits it into `:` and a word): its
    /// bound value, consumed.
    fn parameter(&mut self) -> Result<Option<Option<String>>, SqlError> {
        let name = match (self.peek(), self.peek_at(1)) {
            (Token::Placeholder(name), _) => name.trim_start_matches(':').to_string(),
            (Token::Colon, Token::Word(w)) => {
                let name = w.value.clone();
                self.advance();
                name
            }
            _ => return Ok(None),
        };
        self.advance();
        self.param(&name).map(Some)
    }

    fn string(&mut self) -> Result<String, SqlError> {
        if let Some(v) = self.parameter()? {
            return v.ok_or_else(|| SqlError::syntax(Some("NULL")));
        }
        let text = match self.peek() {
            Token::SingleQuotedString(s) => unescape(s, '\''),
            Token::DoubleQuotedString(s) => unescape(s, '"'),
            _ => return Err(self.error()),
        };
        self.advance();
        Ok(text)
    }

    fn integer(&mut self) -> Result<i64, SqlError> {
        if let Some(v) = self.parameter()? {
            let v = v.unwrap_or_default();
            return v
                .trim()
                .parse::<i64>()
                .map_err(|_| SqlError::cast_invalid(&v, "STRING", "BIGINT"));
        }
        let v = match self.peek() {
            Token::Number(n, _) => n
                .trim_end_matches(['L', 'l'])
                .parse::<i64>()
                .map_err(|_| self.error())?,
            _ => return Err(self.error()),
        };
        self.advance();
        Ok(v)
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
            Token::Word(w) => {
                w.quote_style.is_some() || !RESERVED.iter().any(|r| w.value.eq_ignore_ascii_case(r))
            }
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
        if self.is_kw("identifier") && matches!(self.peek_at(1), Token::LParen) {
            self.advance();
            self.advance();
            let text = self.string()?;
            self.expect_sym(Token::RParen)?;
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
        while self.eat_sym(Token::Period) {
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
        self.expect_sym(Token::LParen)?;
        let mut out = vec![self.ident()?];
        while self.eat_sym(Token::Comma) {
            out.push(self.ident()?);
        }
        self.expect_sym(Token::RParen)?;
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
        self.expect_sym(Token::LParen)?;
        let mut out = BTreeMap::new();
        loop {
            let key = match self.peek() {
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => self.string()?,
                _ => {
                    let mut k = self.ident()?;
                    while self.eat_sym(Token::Period) {
                        k.push('.');
                        k.push_str(&self.ident()?);
                    }
                    k
                }
            };
            self.eat_sym(Token::Eq);
            let value = match self.peek() {
                Token::SingleQuotedString(_) | Token::DoubleQuotedString(_) => {
                    out.insert(key, self.string()?);
                    if !self.eat_sym(Token::Comma) {
                        break;
                    }
                    continue;
                }
                Token::Number(n, _) => n.clone(),
                Token::Word(w)
                    if w.value.eq_ignore_ascii_case("true")
                        || w.value.eq_ignore_ascii_case("false") =>
                {
                    w.value.to_lowercase()
                }
                _ => return Err(self.error()),
            };
            self.advance();
            out.insert(key, value);
            if !self.eat_sym(Token::Comma) {
                break;
            }
        }
        self.expect_sym(Token::RParen)?;
        Ok(out)
    }

    fn data_type(&mut self) -> Result<SqlType, SqlError> {
        let name = match self.peek() {
            Token::Word(w) => w.value.clone(),
            _ => return Err(self.error()),
        };
        self.advance();
        let mut args = Vec::new();
        if self.eat_sym(Token::LParen) {
            loop {
                match self.peek() {
                    Token::Number(n, _) => {
                        args.push(n.parse::<u32>().map_err(|_| self.error())?);
                        self.advance();
                    }
                    _ => return Err(self.error()),
                }
                if !self.eat_sym(Token::Comma) {
                    break;
                }
            }
            self.expect_sym(Token::RParen)?;
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

    /// An expression, by sqlparser (Databricks dialect).
    fn expr(&mut self) -> Result<Expr, SqlError> {
        self.inner.parse_expr().map_err(|e| parser_error(&e))
    }

    /// A query (`SELECT`, `WITH`, `VALUES`, set operations), by sqlparser.
    fn query(&mut self) -> Result<Box<Query>, SqlError> {
        self.inner.parse_query().map_err(|e| parser_error(&e))
    }

    // --- statements ---

    fn statement(&mut self) -> Result<Statement, SqlError> {
        let word = match self.peek() {
            Token::Word(w) => w.value.to_ascii_lowercase(),
            _ => return Err(self.error()),
        };
        match word.as_str() {
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
        if self.is_sym(Token::LParen) {
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
            body = Some(CreateBody::AsSelect(self.query()?));
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
        self.expect_sym(Token::LParen)?;
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
            if !self.eat_sym(Token::Comma) {
                break;
            }
        }
        self.expect_sym(Token::RParen)?;
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
            let parens = self.eat_sym(Token::LParen);
            loop {
                let (col, pk) = self.column_def()?;
                if pk {
                    return Err(SqlError::syntax(Some("PRIMARY")));
                }
                columns.push(col);
                if !self.eat_sym(Token::Comma) {
                    break;
                }
            }
            if parens {
                self.expect_sym(Token::RParen)?;
            }
            return Ok(Statement::AddColumns { table, columns });
        }
        if self.eat_kw("alter") || self.eat_kw("change") {
            self.eat_kw("column");
            let mut column = vec![self.ident()?];
            while self.eat_sym(Token::Period) {
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
            let parens = self.eat_sym(Token::LParen);
            let mut columns = Vec::new();
            loop {
                let mut c = vec![self.ident()?];
                while self.eat_sym(Token::Period) {
                    c.push(self.ident()?);
                }
                columns.push(c);
                if !self.eat_sym(Token::Comma) {
                    break;
                }
            }
            if parens {
                self.expect_sym(Token::RParen)?;
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
        let columns = if self.is_sym(Token::LParen)
            && !["select", "with", "values", "from", "table"]
                .iter()
                .any(|k| self.is_kw_at(1, k))
        {
            Some(self.ident_list()?)
        } else {
            None
        };
        if !self.is_sym(Token::LParen)
            && !["select", "with", "values", "from", "table"]
                .iter()
                .any(|k| self.is_kw(k))
        {
            return Err(self.error());
        }
        let query = self.query()?;
        let is_values = matches!(*query.body, SetExpr::Values(_));
        let source = InsertSource { query, is_values };
        Ok(Statement::Insert {
            table,
            columns,
            source,
            overwrite,
        })
    }

    fn assignments(&mut self) -> Result<Vec<(Vec<String>, Expr)>, SqlError> {
        let mut sets = Vec::new();
        loop {
            let mut col = vec![self.ident()?];
            while self.eat_sym(Token::Period) {
                col.push(self.ident()?);
            }
            self.expect_sym(Token::Eq)?;
            sets.push((col, self.expr()?));
            if !self.eat_sym(Token::Comma) {
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
        let source = self
            .inner
            .parse_table_factor()
            .map_err(|e| parser_error(&e))?;
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
                if self.eat_sym(Token::Mul) {
                    MergeAction::InsertAll
                } else {
                    let cols = if self.is_sym(Token::LParen) {
                        Some(self.ident_list()?)
                    } else {
                        None
                    };
                    self.expect_kw("values")?;
                    self.expect_sym(Token::LParen)?;
                    let mut vals = vec![self.expr()?];
                    while self.eat_sym(Token::Comma) {
                        vals.push(self.expr()?);
                    }
                    self.expect_sym(Token::RParen)?;
                    MergeAction::Insert(cols, vals)
                }
            } else if self.eat_kw("delete") {
                MergeAction::Delete
            } else {
                self.expect_kw("update")?;
                self.expect_kw("set")?;
                if kind == MergeKind::Matched && self.eat_sym(Token::Mul) {
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
        ok("INSERT INTO t (a) WITH x AS (SELECT 1) SELECT * FROM x");
        ok("DESCRIBE HISTORY `main`.`default`.`t` LIMIT 1");
        ok("RESTORE TABLE t TO VERSION AS OF :p");
        ok("-- a comment\nSHOW TABLES");
        match ok("COMMENT ON TABLE t IS 'it\\'s a\\\\b'") {
            Statement::CommentOnTable { comment, .. } => {
                assert_eq!(comment.as_deref(), Some("it's a\\b"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_name_the_token() {
        let e = parse("SELEC 1", &[]).unwrap_err();
        assert_eq!(e.error_class, "PARSE_SYNTAX_ERROR");
        assert_eq!(e.message, "Syntax error at or near 'SELEC'.");
        let e = parse("DELETE FROM", &[]).unwrap_err();
        assert_eq!(e.message, "Syntax error at or near end of input.");
        assert_eq!(
            parse("RESTORE t TO VERSION AS OF :missing", &[])
                .unwrap_err()
                .error_class,
            "UNBOUND_SQL_PARAMETER"
        );
    }
}
