//! Tokenizer for the SQL subset: words (keywords and identifiers alike, matched without case by
//! the parser), back-quoted identifiers, string literals with Spark's escapes, numbers, named
//! parameter markers (`:name`) and symbols. `--` and `/* */` comments are skipped. Each token
//! keeps its source text so syntax errors can quote it the way Databricks does.

use super::SqlError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A bare word: a keyword or an unquoted identifier (original case).
    Word(String),
    /// A back-quoted identifier, unescaped.
    Quoted(String),
    /// A string literal, unescaped (adjacent literals already concatenated).
    Str(String),
    /// A numeric literal as written, including a type suffix such as `L` or `D`.
    Num(String),
    /// A named parameter marker without the colon.
    Param(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// The token as written, for error messages.
    pub text: String,
}

const SYMBOLS: [&str; 22] = [
    "<=>", "<>", "!=", "<=", ">=", "||", "::", "(", ")", ",", ".", ";", "*", "=", "<", ">", "+",
    "-", "/", "%", "[", "]",
];

pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token>, SqlError> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if sql[i..].starts_with("--") {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            continue;
        }
        if sql[i..].starts_with("/*") {
            match sql[i + 2..].find("*/") {
                Some(n) => i += n + 4,
                None => {
                    return Err(SqlError::new(
                        "UNCLOSED_BRACKETED_COMMENT",
                        "42601",
                        "Found an unclosed bracketed comment. Please, append */ at the end of the comment.",
                    ));
                }
            }
            continue;
        }
        if c == b'\'' || c == b'"' {
            let mut value = String::new();
            i = read_string(sql, i, &mut value)?;
            // Spark concatenates adjacent string literals ('a' 'b' is 'ab').
            loop {
                let j = i + sql[i..].len() - sql[i..].trim_start().len();
                if j < bytes.len() && (bytes[j] == b'\'' || bytes[j] == b'"') {
                    i = read_string(sql, j, &mut value)?;
                } else {
                    break;
                }
            }
            out.push(Token {
                tok: Tok::Str(value),
                text: sql[start..i].to_string(),
            });
            continue;
        }
        if c == b'`' {
            let mut value = String::new();
            i += 1;
            loop {
                match sql[i..].find('`') {
                    None => return Err(SqlError::syntax(Some(&sql[start..]))),
                    Some(n) => {
                        value.push_str(&sql[i..i + n]);
                        i += n + 1;
                        if bytes.get(i) == Some(&b'`') {
                            value.push('`');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            out.push(Token {
                tok: Tok::Quoted(value),
                text: sql[start..i].to_string(),
            });
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit()))
        {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            // Type suffixes (10L, 1.5D, 2BD, 1S, 1Y, 1F).
            let rest = &sql[i..];
            for suffix in ["BD", "bd", "L", "l", "D", "d", "S", "s", "Y", "y", "F", "f"] {
                if rest.starts_with(suffix)
                    && !rest[suffix.len()..]
                        .chars()
                        .next()
                        .is_some_and(|ch| ch.is_alphanumeric() || ch == '_')
                {
                    i += suffix.len();
                    break;
                }
            }
            if sql[i..]
                .chars()
                .next()
                .is_some_and(|ch| ch.is_alphabetic() || ch == '_')
            {
                // `1abc` is an identifier in Spark; we do not need that and call it an error.
                let end = word_end(sql, i);
                return Err(SqlError::syntax(Some(&sql[start..end])));
            }
            out.push(Token {
                tok: Tok::Num(sql[start..i].to_string()),
                text: sql[start..i].to_string(),
            });
            continue;
        }
        if c == b':' && !sql[i..].starts_with("::") {
            let end = word_end(sql, i + 1);
            if end == i + 1 {
                return Err(SqlError::syntax(Some(":")));
            }
            out.push(Token {
                tok: Tok::Param(sql[i + 1..end].to_string()),
                text: sql[start..end].to_string(),
            });
            i = end;
            continue;
        }
        let ch = sql[i..].chars().next().unwrap_or(' ');
        if ch.is_alphabetic() || ch == '_' {
            let end = word_end(sql, i);
            out.push(Token {
                tok: Tok::Word(sql[i..end].to_string()),
                text: sql[i..end].to_string(),
            });
            i = end;
            continue;
        }
        match SYMBOLS.iter().find(|s| sql[i..].starts_with(**s)) {
            Some(s) => {
                out.push(Token {
                    tok: Tok::Sym(s),
                    text: s.to_string(),
                });
                i += s.len();
            }
            None => return Err(SqlError::syntax(Some(&ch.to_string()))),
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        text: String::new(),
    });
    Ok(out)
}

fn word_end(sql: &str, from: usize) -> usize {
    sql[from..]
        .char_indices()
        .find(|(_, ch)| !(ch.is_alphanumeric() || *ch == '_'))
        .map_or(sql.len(), |(n, _)| from + n)
}

/// Reads one quoted literal starting at `start` (the quote) into `out`; returns the index after
/// the closing quote. Doubled quotes and Spark's backslash escapes are both honoured.
fn read_string(sql: &str, start: usize, out: &mut String) -> Result<usize, SqlError> {
    let quote = sql.as_bytes()[start] as char;
    let mut chars = sql[start + 1..].char_indices().peekable();
    while let Some((n, ch)) = chars.next() {
        if ch == quote {
            if chars.peek().is_some_and(|(_, c)| *c == quote) {
                chars.next();
                out.push(quote);
                continue;
            }
            return Ok(start + 1 + n + 1);
        }
        if ch == '\\' {
            match chars.next() {
                Some((_, e)) => {
                    let c = match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        '0' => '\0',
                        'Z' => '\u{1a}',
                        'u' => {
                            let hex: String = (0..4)
                                .filter_map(|_| chars.next().map(|(_, c)| c))
                                .collect();
                            u32::from_str_radix(&hex, 16)
                                .ok()
                                .and_then(char::from_u32)
                                .unwrap_or('\u{fffd}')
                        }
                        // `\%` and `\_` keep their backslash so LIKE sees an escaped wildcard.
                        '%' | '_' => {
                            out.push('\\');
                            e
                        }
                        other => other,
                    };
                    out.push(c);
                }
                None => break,
            }
            continue;
        }
        out.push(ch);
    }
    Err(SqlError::syntax(Some(&sql[start..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let toks =
            tokenize("SELECT `a``b`, 'it''s' 'x', \"q\\'\", 1.5e3, :p, x::int -- c\n/* d */;")
                .unwrap();
        let kinds: Vec<Tok> = toks.into_iter().map(|t| t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Word("SELECT".into()),
                Tok::Quoted("a`b".into()),
                Tok::Sym(","),
                Tok::Str("it'sx".into()),
                Tok::Sym(","),
                Tok::Str("q'".into()),
                Tok::Sym(","),
                Tok::Num("1.5e3".into()),
                Tok::Sym(","),
                Tok::Param("p".into()),
                Tok::Sym(","),
                Tok::Word("x".into()),
                Tok::Sym("::"),
                Tok::Word("int".into()),
                Tok::Sym(";"),
                Tok::Eof,
            ]
        );
    }
}
