//! The dataset definitions of a pipeline's SQL source: `CREATE [OR REFRESH] STREAMING TABLE |
//! MATERIALIZED VIEW | LIVE TABLE name [(columns and CONSTRAINT ... EXPECT ...)] [COMMENT '..']
//! [TBLPROPERTIES (..)] AS query`, split by hand because the SQL parser knows neither the header
//! nor `EXPECT`. The query after `AS` goes to the SQL engine as it is (`STREAM(src)` included).
//! Also the order an update refreshes them in: a dataset that reads another dataset of the same
//! pipeline comes after it.

use std::collections::{BTreeSet, HashMap};

use super::sql::ColumnDef;

/// Whether a dataset is fed incrementally from `STREAM(...)` sources or recomputed whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    StreamingTable,
    MaterializedView,
}

/// What happens to a row that does not meet an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// Kept and counted (a bare `EXPECT`).
    Record,
    /// `ON VIOLATION DROP ROW`.
    DropRow,
    /// `ON VIOLATION FAIL UPDATE`.
    FailUpdate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub name: String,
    /// The boolean SQL expression between the parentheses of `EXPECT (...)`.
    pub condition: String,
    pub on_violation: Violation,
}

/// One `CREATE ... STREAMING TABLE | MATERIALIZED VIEW` statement of a source file.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetDefinition {
    /// The workspace path of the source file, and the line the statement starts on.
    pub path: String,
    pub line: usize,
    pub kind: DatasetKind,
    /// As written: one to three parts, back quotes removed.
    pub name: String,
    /// Declared columns; empty when the definition leaves the schema to its query.
    pub columns: Vec<ColumnDef>,
    pub expectations: Vec<Expectation>,
    pub comment: Option<String>,
    /// The query after `AS`; `None` for a table declared without one.
    pub query: Option<String>,
}

impl DatasetDefinition {
    /// `path:line`, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }

    /// The unqualified name, lower case.
    pub fn table(&self) -> String {
        self.name
            .rsplit('.')
            .next()
            .unwrap_or(&self.name)
            .to_lowercase()
    }

    /// The sources this dataset reads incrementally: the names inside `STREAM(...)`.
    pub fn stream_sources(&self) -> Vec<String> {
        let Some(query) = &self.query else {
            return Vec::new();
        };
        let pattern = regex::Regex::new(r"(?i)\bSTREAM\s*\(\s*([`\w.]+)\s*\)").expect("valid");
        let mut found: Vec<String> = Vec::new();
        for capture in pattern.captures_iter(&blank_strings(query)) {
            let name = capture[1].replace('`', "");
            if !found.contains(&name) {
                found.push(name);
            }
        }
        found
    }
}

/// Splits a source file into its dataset definitions. Anything else in a SQL source is an error
/// naming the file and line, as Databricks refuses a source it cannot run.
pub fn split_definitions(path: &str, source: &str) -> Result<Vec<DatasetDefinition>, String> {
    let code = strip_comments(source);
    let mut definitions = Vec::new();
    for (start, statement) in statements(&code) {
        let leading = statement.len() - statement.trim_start().len();
        let line = code[..start + leading].matches('\n').count() + 1;
        let statement = statement.trim();
        if statement.is_empty() {
            continue;
        }
        let at = format!("{path}:{line}");
        definitions
            .push(parse_definition(path, line, statement).map_err(|e| format!("{at}: {e}"))?);
    }
    Ok(definitions)
}

fn parse_definition(path: &str, line: usize, statement: &str) -> Result<DatasetDefinition, String> {
    let words: Vec<String> = statement
        .split_whitespace()
        .take(6)
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (kind, skip) = match words.as_slice() {
        ["CREATE", "OR", "REFRESH", "STREAMING", "TABLE", ..]
        | ["CREATE", "OR", "REFRESH", "STREAMING", "LIVE", "TABLE", ..] => (
            DatasetKind::StreamingTable,
            if words[4] == "LIVE" { 6 } else { 5 },
        ),
        ["CREATE", "STREAMING", "TABLE", ..] => (DatasetKind::StreamingTable, 3),
        ["CREATE", "STREAMING", "LIVE", "TABLE", ..] => (DatasetKind::StreamingTable, 4),
        ["CREATE", "OR", "REFRESH", "MATERIALIZED", "VIEW", ..]
        | ["CREATE", "OR", "REFRESH", "LIVE", "TABLE", ..] => (DatasetKind::MaterializedView, 5),
        ["CREATE", "MATERIALIZED", "VIEW", ..] | ["CREATE", "LIVE", "TABLE", ..] => {
            (DatasetKind::MaterializedView, 3)
        }
        _ => {
            let first: Vec<&str> = statement.split_whitespace().take(4).collect();
            return Err(format!(
                "`{} ...` is not a dataset definition; a SQL source defines datasets with CREATE OR REFRESH STREAMING TABLE or CREATE OR REFRESH MATERIALIZED VIEW",
                first.join(" ")
            ));
        }
    };
    let mut rest = statement;
    for _ in 0..skip {
        rest = rest.trim_start();
        rest = &rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..];
    }
    let rest = rest.trim_start();
    let name_end = rest
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(rest.len());
    let name = rest[..name_end].replace('`', "");
    if name.is_empty() {
        return Err("the dataset has no name".into());
    }
    let mut rest = rest[name_end..].trim_start();
    let (mut columns, mut expectations) = (Vec::new(), Vec::new());
    if let Some(list) = rest.strip_prefix('(') {
        let close = matching_paren(list).ok_or("the column list has no closing parenthesis")?;
        (columns, expectations) = parse_elements(&list[..close])?;
        rest = &list[close + 1..];
    }
    let (header, query) = match top_level_as(rest) {
        Some(at) => (&rest[..at], Some(rest[at + 2..].trim().to_string())),
        None => (rest, None),
    };
    let upper = header.to_ascii_uppercase();
    let comment = upper
        .find("COMMENT")
        .and_then(|i| quoted(header[i + 7..].trim_start()).map(|(text, _)| text));
    if query.as_deref().is_some_and(str::is_empty) {
        return Err(format!("the definition of {name} has nothing after AS"));
    }
    Ok(DatasetDefinition {
        path: path.to_string(),
        line,
        kind,
        name,
        columns,
        expectations,
        comment,
        query,
    })
}

/// The byte offset of the first `AS` keyword outside parentheses and quotes.
fn top_level_as(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut quote) = (0i32, None::<u8>);
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"' | b'`') => quote = Some(b),
            (None, b'(') => depth += 1,
            (None, b')') => depth -= 1,
            (None, b'A' | b'a') if depth == 0 => {
                let word = |at: usize| {
                    bytes
                        .get(at)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                };
                if bytes
                    .get(i + 1)
                    .is_some_and(|c| c.eq_ignore_ascii_case(&b's'))
                    && (i == 0 || !word(i - 1))
                    && !word(i + 2)
                {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The source with `--` and `/* */` comments replaced by spaces (newlines kept, so offsets and
/// line numbers stay those of the file).
fn strip_comments(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None if c == '\'' || c == '"' || c == '`' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '-' && chars.peek() == Some(&'-') => {
                out.push(' ');
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            None if c == '/' && chars.peek() == Some(&'*') => {
                out.push(' ');
                let mut previous = ' ';
                for n in chars.by_ref() {
                    out.push(if n == '\n' { '\n' } else { ' ' });
                    if previous == '*' && n == '/' {
                        break;
                    }
                    previous = n;
                }
            }
            None => out.push(c),
        }
    }
    out
}

/// The source with the contents of string literals blanked, so a search for SQL words does not
/// find them inside text.
fn blank_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    for c in code.chars() {
        if c == '\'' {
            in_string = !in_string;
            out.push(c);
        } else {
            out.push(if in_string { ' ' } else { c });
        }
    }
    out
}

/// Statements split at `;` outside quotes, with their byte offsets.
fn statements(code: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let (mut start, mut quote) = (0, None::<char>);
    for (i, c) in code.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == ';' => {
                found.push((start, &code[start..i]));
                start = i + 1;
            }
            None => {}
        }
    }
    found.push((start, &code[start..]));
    found
}

fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 0;
    let mut in_string = false;
    for (index, c) in text.char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string && depth == 0 => return Some(index),
            ')' if !in_string => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `'text'` at the start of `text`: the unescaped content and the rest.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|(_, n)| *n) == Some('\'') {
                out.push('\'');
                chars.next();
                continue;
            }
            return Some((out, &body[index + 1..]));
        }
        out.push(c);
    }
    None
}

/// Splits a parenthesised list at top-level commas into column definitions and expectations.
fn parse_elements(list: &str) -> Result<(Vec<ColumnDef>, Vec<Expectation>), String> {
    let mut parts = Vec::new();
    let (mut depth, mut in_string, mut current) = (0, false, String::new());
    for c in list.chars() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    let (mut columns, mut expectations) = (Vec::new(), Vec::new());
    for part in parts {
        let part = part.trim();
        let upper = part.to_ascii_uppercase();
        if part.is_empty() || upper.starts_with("PRIMARY KEY") || upper.starts_with("FOREIGN KEY") {
            continue;
        }
        if upper.starts_with("CONSTRAINT") {
            if let Some(expectation) = parse_expectation(part)? {
                expectations.push(expectation);
            }
            continue;
        }
        let (name, rest) = part.split_once(char::is_whitespace).unwrap_or((part, ""));
        let rest = rest.trim();
        let upper_rest = rest.to_ascii_uppercase();
        let type_end = ["NOT NULL", "COMMENT", "GENERATED", "DEFAULT", "MASK"]
            .iter()
            .filter_map(|k| upper_rest.find(k))
            .min()
            .unwrap_or(rest.len());
        let type_text = rest[..type_end].trim().to_ascii_lowercase();
        if type_text.is_empty() {
            return Err(format!("column {name} has no type"));
        }
        let comment = upper_rest
            .find("COMMENT")
            .and_then(|i| quoted(rest[i + 7..].trim_start()).map(|(text, _)| text));
        columns.push(ColumnDef {
            name: name.trim_matches('`').to_string(),
            type_text,
            nullable: !upper_rest.contains("NOT NULL"),
            comment,
        });
    }
    Ok((columns, expectations))
}

/// `CONSTRAINT name EXPECT (condition) [ON VIOLATION DROP ROW | FAIL UPDATE]`; other
/// constraints (`PRIMARY KEY`, `CHECK`) are not expectations.
fn parse_expectation(part: &str) -> Result<Option<Expectation>, String> {
    let rest = part["CONSTRAINT".len()..].trim_start();
    let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = rest[..name_end].trim_matches('`').to_string();
    let rest = rest[name_end..].trim_start();
    if !rest.to_ascii_uppercase().starts_with("EXPECT") {
        return Ok(None);
    }
    let rest = rest["EXPECT".len()..].trim_start();
    let inner = rest
        .strip_prefix('(')
        .ok_or_else(|| format!("expectation {name}: EXPECT needs a condition in parentheses"))?;
    let close = matching_paren(inner)
        .ok_or_else(|| format!("expectation {name}: the condition has no closing parenthesis"))?;
    let condition = inner[..close].trim().to_string();
    let action = inner[close + 1..]
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join(" ");
    let on_violation = match action.as_str() {
        "" => Violation::Record,
        "ON VIOLATION DROP ROW" => Violation::DropRow,
        "ON VIOLATION FAIL UPDATE" => Violation::FailUpdate,
        other => {
            return Err(format!(
                "expectation {name}: `{other}` is not ON VIOLATION DROP ROW or ON VIOLATION FAIL UPDATE"
            ));
        }
    };
    Ok(Some(Expectation {
        name,
        condition,
        on_violation,
    }))
}

/// The definitions in the order an update refreshes them: each after the datasets of the same
/// pipeline it reads (by name, anywhere in its query), otherwise in source order.
pub fn refresh_order(
    definitions: Vec<DatasetDefinition>,
) -> Result<Vec<DatasetDefinition>, String> {
    let index: HashMap<String, usize> = definitions
        .iter()
        .enumerate()
        .map(|(i, d)| (d.table(), i))
        .collect();
    let word = regex::Regex::new(r"[`\w.]+").expect("valid");
    let reads: Vec<BTreeSet<usize>> = definitions
        .iter()
        .enumerate()
        .map(|(me, d)| {
            let text = blank_strings(d.query.as_deref().unwrap_or(""));
            word.find_iter(&text)
                .filter_map(|m| {
                    let name = m.as_str().replace('`', "");
                    let last = name.rsplit('.').next().unwrap_or(&name).to_lowercase();
                    index.get(&last).copied()
                })
                .filter(|&other| other != me)
                .collect()
        })
        .collect();
    let mut done = vec![false; definitions.len()];
    let mut order = Vec::with_capacity(definitions.len());
    while order.len() < definitions.len() {
        let next = (0..definitions.len()).find(|&i| !done[i] && reads[i].iter().all(|&r| done[r]));
        let Some(next) = next else {
            let stuck: Vec<String> = (0..definitions.len())
                .filter(|&i| !done[i])
                .map(|i| definitions[i].name.clone())
                .collect();
            return Err(format!(
                "the datasets {} read each other in a cycle; a pipeline's datasets must form a directed acyclic graph",
                stuck.join(", ")
            ));
        };
        done[next] = true;
        order.push(next);
    }
    let mut slots: Vec<Option<DatasetDefinition>> = definitions.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .map(|i| slots[i].take().expect("each once"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_columns_expectations_comment_and_query() {
        let source = "-- silver\nCREATE OR REFRESH STREAMING TABLE ot_telemetry_silver (\n  event_id STRING NOT NULL COMMENT 'the id, (unique)',\n  value DOUBLE,\n  CONSTRAINT valid EXPECT (value IS NOT NULL) ON VIOLATION DROP ROW,\n  CONSTRAINT positive EXPECT (value > 0) ON VIOLATION FAIL UPDATE,\n  CONSTRAINT known EXPECT (event_id <> 'as')\n) COMMENT 'Cleaned telemetry'\nTBLPROPERTIES ('quality' = 'silver')\nAS SELECT * FROM STREAM(bronze);\n\nCREATE MATERIALIZED VIEW gold AS SELECT 1 AS x FROM ot_telemetry_silver;\nCREATE OR REFRESH MATERIALIZED VIEW g2 (equipment_id STRING, avg_value DECIMAL(10,2)) AS SELECT 1";
        let found = split_definitions("/p/s.sql", source).unwrap();
        assert_eq!(found.len(), 3);
        let silver = &found[0];
        assert_eq!(
            (silver.name.as_str(), silver.line),
            ("ot_telemetry_silver", 2)
        );
        assert_eq!(silver.kind, DatasetKind::StreamingTable);
        assert_eq!(silver.columns.len(), 2);
        assert!(!silver.columns[0].nullable);
        assert_eq!(
            silver.columns[0].comment.as_deref(),
            Some("the id, (unique)")
        );
        assert_eq!(silver.comment.as_deref(), Some("Cleaned telemetry"));
        assert_eq!(
            silver
                .expectations
                .iter()
                .map(|e| (e.name.as_str(), e.condition.as_str(), e.on_violation))
                .collect::<Vec<_>>(),
            [
                ("valid", "value IS NOT NULL", Violation::DropRow),
                ("positive", "value > 0", Violation::FailUpdate),
                ("known", "event_id <> 'as'", Violation::Record),
            ]
        );
        assert_eq!(
            silver.query.as_deref(),
            Some("SELECT * FROM STREAM(bronze)")
        );
        assert_eq!(silver.stream_sources(), ["bronze"]);
        assert_eq!(found[1].line, 12);
        assert!(found[1].columns.is_empty());
        assert_eq!(found[2].columns[1].type_text, "decimal(10,2)");
        assert_eq!(found[2].kind, DatasetKind::MaterializedView);
    }

    #[test]
    fn a_statement_that_is_no_dataset_names_its_file_and_line() {
        let error = split_definitions("/p/bad.sql", "\n\nSELECT 1;").unwrap_err();
        assert!(
            error.starts_with("/p/bad.sql:3: `SELECT 1 ...` is not a dataset definition"),
            "{error}"
        );
    }

    #[test]
    fn readers_come_after_what_they_read() {
        let source = "CREATE MATERIALIZED VIEW gold AS SELECT * FROM silver;\nCREATE STREAMING TABLE silver AS SELECT * FROM STREAM(bronze)";
        let order = refresh_order(split_definitions("s.sql", source).unwrap()).unwrap();
        assert_eq!(
            order.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["silver", "gold"]
        );
        let cycle = "CREATE MATERIALIZED VIEW a AS SELECT * FROM b;\nCREATE MATERIALIZED VIEW b AS SELECT * FROM a";
        assert!(
            refresh_order(split_definitions("s.sql", cycle).unwrap())
                .unwrap_err()
                .contains("cycle")
        );
    }
}
