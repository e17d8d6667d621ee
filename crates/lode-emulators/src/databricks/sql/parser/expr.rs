//! Expression and query parsing for the SQL parser: SELECT (projections, FROM, WHERE,
//! GROUP BY, ORDER BY, LIMIT), table references, inline VALUES, and expressions by precedence,
//! lowest first (OR, AND, NOT, predicates, `+ - ||`, `* / %`, unary, `::`, primaries).

use super::super::SqlError;
use super::super::ast::*;
use super::super::lexer::Tok;
use super::super::types::{ArithOp, Value, parse_date, parse_decimal, parse_timestamp};
use super::Parser;

/// Words that cannot start an operand (`timestamp`, `version`, `comment`... stay usable as
/// column names, as in Databricks).
#[rustfmt::skip]
const STRICT_RESERVED: &[&str] = &[
    "from", "where", "group", "order", "limit", "offset", "having", "union", "on", "using", "when",
    "then", "else", "end", "set", "values", "as", "join", "and", "or", "not", "is", "in", "like",
    "between", "select", "by", "except", "intersect",
];

impl Parser<'_> {
    // --- queries ---

    pub(super) fn select(&mut self) -> Result<Select, SqlError> {
        if self.eat_sym("(") {
            let s = self.select()?;
            self.expect_sym(")")?;
            return Ok(s);
        }
        self.expect_kw("select")?;
        let distinct = self.eat_kw("distinct");
        if !distinct {
            self.eat_kw("all");
        }
        let mut items = Vec::new();
        loop {
            if self.eat_sym("*") {
                items.push(SelectItem::Wildcard(None));
            } else if matches!(self.peek(), Tok::Word(_) | Tok::Quoted(_))
                && matches!(self.peek_at(1), Tok::Sym("."))
                && matches!(self.peek_at(2), Tok::Sym("*"))
            {
                let q = self.ident()?;
                self.advance();
                self.advance();
                items.push(SelectItem::Wildcard(Some(vec![q])));
            } else {
                let e = self.expr()?;
                let alias = self.opt_alias()?;
                items.push(SelectItem::Expr(e, alias));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        let from = if self.eat_kw("from") {
            Some(self.table_ref()?)
        } else {
            None
        };
        let filter = if self.eat_kw("where") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        if self.eat_kws(&["group", "by"]) {
            loop {
                group_by.push(self.expr()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let mut order_by = Vec::new();
        if self.eat_kws(&["order", "by"]) {
            loop {
                let expr = self.expr()?;
                let desc = if self.eat_kw("desc") {
                    true
                } else {
                    self.eat_kw("asc");
                    false
                };
                let nulls_first = if self.eat_kws(&["nulls", "first"]) {
                    Some(true)
                } else if self.eat_kws(&["nulls", "last"]) {
                    Some(false)
                } else {
                    None
                };
                order_by.push(OrderItem {
                    expr,
                    desc,
                    nulls_first,
                });
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("limit") {
            if self.eat_kw("all") {
                None
            } else {
                Some(self.expr()?)
            }
        } else {
            None
        };
        let offset = if self.eat_kw("offset") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Select {
            distinct,
            items,
            from,
            filter,
            group_by,
            order_by,
            limit,
            offset,
        })
    }

    pub(super) fn table_ref(&mut self) -> Result<FromItem, SqlError> {
        if self.eat_sym("(") {
            if self.eat_kw("values") {
                let rows = self.values_rows()?;
                self.expect_sym(")")?;
                return self.values_alias(rows);
            }
            let query = self.select()?;
            self.expect_sym(")")?;
            let alias = self.opt_alias()?;
            return Ok(FromItem::Subquery {
                query: Box::new(query),
                alias,
            });
        }
        if self.eat_kw("values") {
            let rows = self.values_rows()?;
            return self.values_alias(rows);
        }
        let name = self.obj_name()?;
        let travel = self.time_travel()?;
        let alias = self.opt_alias()?;
        Ok(FromItem::Table {
            name,
            travel,
            alias,
        })
    }

    fn values_alias(&mut self, rows: Vec<Vec<Expr>>) -> Result<FromItem, SqlError> {
        let alias = self.opt_alias()?;
        let columns = if alias.is_some() && self.is_sym("(") {
            self.ident_list()?
        } else {
            Vec::new()
        };
        Ok(FromItem::Values {
            rows,
            alias,
            columns,
        })
    }

    // --- expressions, lowest precedence first ---

    pub(crate) fn expr(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.and_expr()?;
        while self.eat_kw("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.not_expr()?;
        while self.eat_kw("and") {
            left = Expr::And(Box::new(left), Box::new(self.not_expr()?));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, SqlError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, SqlError> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::Sym("=") => Some(CmpOp::Eq),
            Tok::Sym("<>") | Tok::Sym("!=") => Some(CmpOp::NotEq),
            Tok::Sym("<") => Some(CmpOp::Lt),
            Tok::Sym("<=") => Some(CmpOp::Le),
            Tok::Sym(">") => Some(CmpOp::Gt),
            Tok::Sym(">=") => Some(CmpOp::Ge),
            Tok::Sym("<=>") => Some(CmpOp::NullSafeEq),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            self.eat_sym("="); // tolerate `==`
            return Ok(Expr::Cmp(op, Box::new(left), Box::new(self.additive()?)));
        }
        if self.eat_kw("is") {
            let negated = self.eat_kw("not");
            if self.eat_kw("null") {
                return Ok(Expr::IsNull(Box::new(left), negated));
            }
            for (kw, v) in [("true", true), ("false", false)] {
                if self.eat_kw(kw) {
                    let e = Expr::Cmp(
                        CmpOp::NullSafeEq,
                        Box::new(left),
                        Box::new(Expr::Lit(Value::Bool(v))),
                    );
                    return Ok(if negated { Expr::Not(Box::new(e)) } else { e });
                }
            }
            return Err(self.error());
        }
        let negated = self.is_kw("not")
            && (self.is_kw_at(1, "in") || self.is_kw_at(1, "between") || self.is_kw_at(1, "like"));
        if negated {
            self.advance();
        }
        if self.eat_kw("in") {
            self.expect_sym("(")?;
            let mut list = vec![self.expr()?];
            while self.eat_sym(",") {
                list.push(self.expr()?);
            }
            self.expect_sym(")")?;
            return Ok(Expr::In(Box::new(left), list, negated));
        }
        if self.eat_kw("between") {
            let lo = self.additive()?;
            self.expect_kw("and")?;
            let hi = self.additive()?;
            return Ok(Expr::Between(
                Box::new(left),
                Box::new(lo),
                Box::new(hi),
                negated,
            ));
        }
        if self.eat_kw("like") {
            return Ok(Expr::Like(
                Box::new(left),
                Box::new(self.additive()?),
                negated,
            ));
        }
        if negated {
            return Err(self.error());
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.multiplicative()?;
        loop {
            left = if self.eat_sym("+") {
                Expr::Arith(
                    ArithOp::Add,
                    Box::new(left),
                    Box::new(self.multiplicative()?),
                )
            } else if self.eat_sym("-") {
                Expr::Arith(
                    ArithOp::Sub,
                    Box::new(left),
                    Box::new(self.multiplicative()?),
                )
            } else if self.eat_sym("||") {
                Expr::Concat(Box::new(left), Box::new(self.multiplicative()?))
            } else {
                return Ok(left);
            };
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, SqlError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Sym("*") => ArithOp::Mul,
                Tok::Sym("/") => ArithOp::Div,
                Tok::Sym("%") => ArithOp::Mod,
                _ => return Ok(left),
            };
            self.advance();
            left = Expr::Arith(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, SqlError> {
        if self.eat_sym("-") {
            return Ok(match self.unary()? {
                // Fold so that `-5` stays a literal (it names a column `-5`, not `(- 5)`).
                Expr::Lit(Value::Int(i)) => Expr::Lit(Value::Int(-i)),
                Expr::Lit(Value::Decimal(m, s)) => Expr::Lit(Value::Decimal(-m, s)),
                Expr::Lit(Value::Double(f)) => Expr::Lit(Value::Double(-f)),
                Expr::Lit(Value::Float(f)) => Expr::Lit(Value::Float(-f)),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if self.eat_sym("+") {
            return self.unary();
        }
        let mut e = self.primary()?;
        while self.eat_sym("::") {
            e = Expr::Cast(Box::new(e), self.data_type()?);
        }
        Ok(e)
    }

    fn number(&self, text: &str) -> Result<Value, SqlError> {
        let bad = || SqlError::syntax(Some(text));
        let upper = text.to_ascii_uppercase();
        if let Some(n) = upper.strip_suffix("BD") {
            let (m, s) = parse_decimal(n).ok_or_else(bad)?;
            return Ok(Value::Decimal(m, s as u8));
        }
        if let Some(n) = upper
            .strip_suffix('L')
            .or(upper.strip_suffix('S'))
            .or(upper.strip_suffix('Y'))
        {
            return n.parse::<i64>().map(Value::Int).map_err(|_| bad());
        }
        if let Some(n) = upper.strip_suffix('D') {
            return n.parse::<f64>().map(Value::Double).map_err(|_| bad());
        }
        if let Some(n) = upper.strip_suffix('F') {
            return n.parse::<f32>().map(Value::Float).map_err(|_| bad());
        }
        if upper.contains('E') {
            return upper.parse::<f64>().map(Value::Double).map_err(|_| bad());
        }
        if !upper.contains('.')
            && let Ok(i) = upper.parse::<i64>()
        {
            return Ok(Value::Int(i));
        }
        match parse_decimal(&upper) {
            Some((m, s)) if s <= 38 => Ok(Value::Decimal(m, s as u8)),
            _ => upper.parse::<f64>().map(Value::Double).map_err(|_| bad()),
        }
    }

    fn primary(&mut self) -> Result<Expr, SqlError> {
        let tok = self.peek().clone();
        match tok {
            Tok::Num(n) => {
                let v = self.number(&n)?;
                self.advance();
                Ok(Expr::Lit(v))
            }
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::Lit(Value::Str(s)))
            }
            Tok::Param(name) => {
                let value = self.param(&name)?;
                self.advance();
                Ok(Expr::Param(name, value))
            }
            Tok::Sym("(") => {
                self.advance();
                let e = self.expr()?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Quoted(_) => self.column_ref(),
            Tok::Word(w) => {
                let lower = w.to_ascii_lowercase();
                let next_is_str = matches!(self.peek_at(1), Tok::Str(_));
                match lower.as_str() {
                    "null" => {
                        self.advance();
                        Ok(Expr::Lit(Value::Null))
                    }
                    "true" | "false" => {
                        self.advance();
                        Ok(Expr::Lit(Value::Bool(lower == "true")))
                    }
                    "date" if next_is_str => {
                        self.advance();
                        let s = self.string()?;
                        let d = parse_date(&s).ok_or_else(|| {
                            SqlError::new(
                                "INVALID_TYPED_LITERAL",
                                "42604",
                                format!(
                                    "The value of the typed literal \"DATE\" is invalid: '{s}'."
                                ),
                            )
                        })?;
                        Ok(Expr::Lit(Value::Date(d)))
                    }
                    "timestamp" if next_is_str => {
                        self.advance();
                        let s = self.string()?;
                        let t = parse_timestamp(&s).ok_or_else(|| {
                            SqlError::new(
                                "INVALID_TYPED_LITERAL",
                                "42604",
                                format!("The value of the typed literal \"TIMESTAMP\" is invalid: '{s}'."),
                            )
                        })?;
                        Ok(Expr::Lit(Value::Timestamp(t)))
                    }
                    "cast" if matches!(self.peek_at(1), Tok::Sym("(")) => {
                        self.advance();
                        self.advance();
                        let e = self.expr()?;
                        self.expect_kw("as")?;
                        let ty = self.data_type()?;
                        self.expect_sym(")")?;
                        Ok(Expr::Cast(Box::new(e), ty))
                    }
                    "case" => self.case(),
                    _ if matches!(self.peek_at(1), Tok::Sym("(")) => self.function(lower),
                    // Niladic functions Databricks accepts without parentheses.
                    "current_timestamp" | "current_date" | "current_user" | "current_catalog"
                    | "current_schema" => {
                        self.advance();
                        Ok(Expr::Func {
                            name: lower,
                            args: Vec::new(),
                            star: false,
                            distinct: false,
                        })
                    }
                    _ if STRICT_RESERVED.contains(&lower.as_str()) => Err(self.error()),
                    _ => self.column_ref(),
                }
            }
            _ => Err(self.error()),
        }
    }

    fn column_ref(&mut self) -> Result<Expr, SqlError> {
        let mut parts = vec![self.ident()?];
        while self.is_sym(".") {
            self.advance();
            parts.push(self.ident()?);
        }
        Ok(Expr::Col(parts))
    }

    fn function(&mut self, name: String) -> Result<Expr, SqlError> {
        self.advance();
        self.expect_sym("(")?;
        if self.eat_sym("*") {
            self.expect_sym(")")?;
            if name != "count" {
                return Err(SqlError::syntax(Some("*")));
            }
            return Ok(Expr::Func {
                name,
                args: Vec::new(),
                star: true,
                distinct: false,
            });
        }
        let distinct = self.eat_kw("distinct");
        let mut args = Vec::new();
        if !self.is_sym(")") {
            loop {
                args.push(self.expr()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym(")")?;
        Ok(Expr::Func {
            name,
            args,
            star: false,
            distinct,
        })
    }

    fn case(&mut self) -> Result<Expr, SqlError> {
        self.advance();
        let operand = if self.is_kw("when") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_kw("when") {
            let w = self.expr()?;
            self.expect_kw("then")?;
            whens.push((w, self.expr()?));
        }
        if whens.is_empty() {
            return Err(self.error());
        }
        let otherwise = if self.eat_kw("else") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_kw("end")?;
        Ok(Expr::Case {
            operand,
            whens,
            otherwise,
        })
    }
}
