//! YAML parsing with positions: a file is split into its documents (keeping line numbers), each
//! document is read twice — loosely for `kind`, then strictly into the kind's typed document — so
//! that every serde error keeps its line and column (serde loses them inside tagged enums).
//!
//! Hostile input is bounded here: a file is at most `MAX_FILE_BYTES` (checked by the callers
//! with `check_size`), a document at most `MAX_NESTING` levels deep and `MAX_NODES` values
//! (aliases count each time they are used, so a "billion laughs" alias bomb stops early), and
//! each document is parsed on its own text, so the cost grows linearly with the file.

use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;

use super::ManifestError;
use super::source::MAX_FILE_BYTES;

/// How deeply mappings and sequences may nest in one document: real manifests use under ten
/// levels; the limit keeps the parser's recursion (and stack) small.
pub const MAX_NESTING: usize = 64;

/// How many values (scalars, mappings and sequences, each alias use counted again) one document
/// may hold: far above the largest real manifest, far below what exhausts memory.
pub const MAX_NODES: usize = 250_000;

/// Source lines longer than this are not echoed under an error (the position still is): a
/// minified or generated line would flood the terminal.
pub const MAX_ECHOED_LINE_CHARS: usize = 400;

/// One YAML document of a file.
pub struct YamlDocument {
    /// The document's own text, from its first line; the parser sees only this.
    pub text: String,
    /// 1-based line of the document's first line in the file.
    pub first_line: usize,
}

impl YamlDocument {
    /// The file's (line, column) for a position the parser reported in this document.
    pub fn at(&self, location: serde_saphyr::Location) -> (usize, usize) {
        self.at_relative(location.line() as usize, location.column() as usize)
    }

    fn at_relative(&self, line: usize, column: usize) -> (usize, usize) {
        (line.max(1) + self.first_line - 1, column.max(1))
    }

    /// The file's 1-based line `line`, when it is one of this document's.
    pub fn line_text(&self, line: usize) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(self.first_line)?)
    }

    /// The document's lines with their line numbers in the file.
    pub fn numbered_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + self.first_line, line))
    }
}

/// Splits a multi-document YAML file at `---` / `...` markers at column 0. Block scalars cannot
/// hold such a line at column 0, so this matches the YAML grammar for every real manifest.
pub fn split_documents(text: &str) -> Vec<YamlDocument> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut first_line = 1;
    let mut has_content = false;
    for (index, line) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let is_marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
        };
        if is_marker("---") || is_marker("...") {
            if has_content {
                documents.push(YamlDocument {
                    text: std::mem::take(&mut current),
                    first_line,
                });
            }
            current.clear();
            has_content = false;
            // Content after `--- ` on the same line belongs to the next document.
            let rest = line.get(3..).unwrap_or("").trim();
            first_line = line_no + 1;
            if is_marker("---") && !rest.is_empty() && !rest.starts_with('#') {
                first_line = line_no;
                current.push_str("   ");
                current.push_str(&line[3..]);
                current.push('\n');
                has_content = true;
            }
            continue;
        }
        let trimmed = line.trim();
        if !has_content && (trimmed.is_empty() || trimmed.starts_with('#')) {
            // Leading comments stay outside the document so that its first line is content.
            first_line = line_no + 1;
            continue;
        }
        has_content = true;
        current.push_str(line);
        current.push('\n');
    }
    if has_content {
        documents.push(YamlDocument {
            text: current,
            first_line,
        });
    }
    documents
}

/// Refuses a file over `MAX_FILE_BYTES`, naming the limit.
pub fn check_size(file: &str, bytes: &[u8]) -> Result<(), ManifestError> {
    if bytes.len() <= MAX_FILE_BYTES {
        return Ok(());
    }
    Err(ManifestError::new(
        file,
        1,
        1,
        format!(
            "the file is larger than lode's limit of {} MiB for a manifest or payload file",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
    .with_hint("split it into smaller files; generated data belongs in a table, not a manifest"))
}

/// The file as UTF-8 text, or an error at the first byte that is not.
pub fn utf8_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a str, ManifestError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |index| index + 1);
        // Columns count characters, as the YAML parser's do.
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        ManifestError::new(
            file,
            line,
            column,
            "not UTF-8 text: an invalid byte sequence starts here",
        )
        .with_hint("save the file as UTF-8 (Latin-1 and UTF-16 files are not read)")
    })
}

/// The parser settings: lode's limits, duplicate keys refused.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_NESTING;
    budget.max_nodes = MAX_NODES;
    serde_saphyr::options! { budget: Some(budget) }
}

/// Parses one document into `T`, turning a serde error into a positioned `ManifestError`.
pub fn parse<T: DeserializeOwned>(file: &str, document: &YamlDocument) -> Result<T, ManifestError> {
    serde_saphyr::from_str_with_options::<T>(&document.text, options()).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| document.at(l))
            .unwrap_or((document.first_line, 1));
        let inner = innermost(&error);
        if let Some((message, hint)) = limit_message(inner) {
            return ManifestError::new(file, line, column, message).with_hint(hint);
        }
        let message = clean_message(&inner.to_string());
        let (line, column, message, hint) = explain(document, line, column, message);
        let mut error = ManifestError::new(file, line, column, message);
        error.hint = hint;
        error
    })
}

/// The error under serde-saphyr's snippet and alias wrappers.
fn innermost(mut error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    loop {
        match error {
            serde_saphyr::Error::WithSnippet { error: inner, .. }
            | serde_saphyr::Error::AliasError { error: inner, .. } => error = inner,
            other => return other,
        }
    }
}

/// What to say when a document breaks one of the parser's limits.
fn limit_message(error: &serde_saphyr::Error) -> Option<(String, String)> {
    let breach = match error {
        serde_saphyr::Error::Budget { breach, .. } => breach,
        // The scanner's own guard against deeply nested `[` / `{`.
        other if other.to_string().starts_with("recursion limit exceeded") => {
            return Some(too_deep());
        }
        _ => return None,
    };
    Some(match breach {
        BudgetBreach::Depth { .. } => too_deep(),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => (
            "the document uses YAML aliases (`*name`) so heavily that it would expand without bound"
                .to_string(),
            "lode refuses alias bombs (\"billion laughs\"); write the values out, or use an alias only a few times".to_string(),
        ),
        BudgetBreach::Nodes { .. } | BudgetBreach::Events { .. } => (
            format!(
                "the document holds more than {MAX_NODES} YAML values, counting each use of an alias (`*name`) again"
            ),
            "split it into smaller documents; lode refuses alias bombs (\"billion laughs\"), so write values out instead of nesting aliases".to_string(),
        ),
        BudgetBreach::ScalarBytes { .. } => (
            "the document's text values add up to more than lode reads in one document".to_string(),
            "split it into smaller documents; large payloads belong in payload files".to_string(),
        ),
        BudgetBreach::MergeKeys { .. } => (
            "the document uses too many YAML merge keys (`<<`)".to_string(),
            "write the mappings out instead of merging them".to_string(),
        ),
        other => (
            format!("the document breaks a YAML parser limit ({other:?})"),
            "simplify the document: fewer, smaller, less nested values".to_string(),
        ),
    })
}

fn too_deep() -> (String, String) {
    (
        format!("the YAML is nested more than {MAX_NESTING} levels deep"),
        "look for an unclosed `[` or `{`; manifests need only a few levels of nesting".to_string(),
    )
}

fn line_text(document: &YamlDocument, line: usize) -> &str {
    document.line_text(line).unwrap_or("")
}

/// `text` split before its 1-based character column `column` (columns count characters).
fn split_at_column(text: &str, column: usize) -> (&str, &str) {
    let index = text
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(text.len(), |(index, _)| index);
    text.split_at(index)
}

fn indentation(text: &str) -> usize {
    text.len() - text.trim_start_matches([' ', '-']).len()
}

/// Rewrites the parser's terse messages into ones that name the field and say what to write,
/// and moves positions the parser reports late to where the mistake is.
fn explain(
    document: &YamlDocument,
    line: usize,
    column: usize,
    message: String,
) -> (usize, usize, String, Option<String>) {
    let text = line_text(document, line);
    // `invalid u64`, `invalid boolean (true or false expected)`, ...
    if let Some(type_name) = message
        .strip_prefix("invalid ")
        .and_then(|t| t.split([' ', '(']).next())
    {
        let (before, after) = split_at_column(text, column);
        let key = key_before(before);
        let value = after.trim().trim_end_matches([',', '}', ']']).trim_end();
        let wanted = match type_name {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => Some("a whole number (0 or more)"),
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => Some("a whole number"),
            "f32" | "f64" => Some("a number"),
            "bool" | "boolean" => Some("`true` or `false`"),
            _ => None,
        };
        if let Some(wanted) = wanted
            && !key.is_empty()
            && before.trim_end().ends_with(':')
        {
            if parses_as(type_name, value) {
                // The line holds a fine value: the parser read on, into the next lines.
                return (
                    line,
                    column,
                    format!("the value of `{key}` does not end on this line"),
                    Some(
                        "close the `{` or `[` it is in, or quote the value if it spans lines"
                            .to_string(),
                    ),
                );
            }
            return (
                line,
                column,
                format!("`{key}` must be {wanted}, not `{value}`"),
                Some(format!("write {wanted} without quotes or units")),
            );
        }
    }
    if message == "expected string scalar"
        || message.starts_with("invalid type: sequence")
        || message.starts_with("invalid type: map")
    {
        let (before, after) = split_at_column(text, column);
        let key = key_before(before);
        if !key.is_empty() && before.trim_end().ends_with(':') {
            let value = after.trim();
            return (
                line,
                column,
                format!("`{key}` must be a single value, not a list or mapping (`{value}`)"),
                Some(format!(
                    "a value starting with `[` or `{{` is a list or mapping; quote it if it is text: `{key}: \"{}\"`",
                    value.replace('"', "\\\"")
                )),
            );
        }
    }
    // granit-parser's messages about tabs.
    if message.contains("found a tab")
        || message.starts_with("tabs disallowed")
        || message.starts_with("tab cannot be used")
        || message.contains("cannot start with a tab")
    {
        // The scanner notices the tab late; point at the first line indented with one.
        let tabbed = (document.first_line..document.first_line + document.text.lines().count())
            .find(|&l| {
                line_text(document, l)
                    .trim_start_matches(' ')
                    .starts_with('\t')
            });
        let (line, column) = match tabbed {
            Some(l) => (
                l,
                line_text(document, l)
                    .chars()
                    .take_while(|c| *c == ' ')
                    .count()
                    + 1,
            ),
            None => (line, column),
        };
        return (
            line,
            column,
            "a tab in the indentation: YAML indents with spaces only".to_string(),
            Some("replace the tab with spaces".to_string()),
        );
    }
    if message.contains("unknown anchor") {
        let (_, after) = split_at_column(text, column);
        let alias: String = after
            .trim_start_matches('*')
            .chars()
            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
            .collect();
        return (
            line,
            column,
            format!("the alias `*{alias}` refers to no anchor `&{alias}` defined before it"),
            Some(format!(
                "define `&{alias}` on an earlier value of the same document, or write the value out"
            )),
        );
    }
    if let Some(character) = message.strip_prefix("unexpected character: ") {
        return (
            line,
            column,
            format!(
                "a character YAML does not allow ({}) is on this line",
                character.trim_matches(['`', '\''])
            ),
            Some(
                "remove it: control characters are invisible in most editors; `\\u0007` in a double-quoted string writes one"
                    .to_string(),
            ),
        );
    }
    if message.starts_with("missing field") {
        // The parser reports a missing field at the end of its mapping; point at the key that
        // opens the mapping instead.
        let depth = indentation(text);
        let owner = (document.first_line..line).rev().find(|&l| {
            let t = line_text(document, l);
            !t.trim().is_empty() && !t.trim_start().starts_with('#') && indentation(t) < depth
        });
        if let Some(owner) = owner {
            let owner_text = line_text(document, owner);
            let key = owner_text
                .trim()
                .trim_start_matches("- ")
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            let hint = hint_for(&message);
            let located = format!("{message} in `{key}`");
            return (owner, indentation(owner_text) + 1, located, hint);
        }
    }
    if message.contains("after double-quoted scalar")
        || message.contains("after single-quoted scalar")
    {
        let quote = if message.contains("double") {
            '"'
        } else {
            '\''
        };
        if let Some((open_line, open_column)) = opening_quote(document, line, column, quote)
            && open_line != line
        {
            return (
                open_line,
                open_column,
                format!(
                    "this {} string is not closed on its line",
                    if quote == '"' {
                        "quoted"
                    } else {
                        "single-quoted"
                    }
                ),
                Some(format!(
                    "close it with {quote} at the end of the value, or remove the opening {quote}"
                )),
            );
        }
    }
    let hint = hint_for(&message);
    (line, column, message, hint)
}

/// The mapping key a value at the end of `before` belongs to: the text after the last `{`, `[`,
/// `,` or `- ` and before the `:`.
fn key_before(before: &str) -> &str {
    let key = before.trim_end().trim_end_matches(':');
    let start = key.rfind(['{', '[', ',']).map_or(0, |index| index + 1);
    key[start..].trim().trim_start_matches("- ").trim()
}

/// Whether `value` is a fine YAML value of the Rust type `type_name`.
fn parses_as(type_name: &str, value: &str) -> bool {
    match type_name {
        "bool" | "boolean" => matches!(value, "true" | "false"),
        "f32" | "f64" => value.parse::<f64>().is_ok(),
        t if t.starts_with('u') => value.parse::<u64>().is_ok(),
        t if t.starts_with('i') => value.parse::<i64>().is_ok(),
        _ => false,
    }
}

/// The quote that opened the string closed just before (`line`, `column`).
fn opening_quote(
    document: &YamlDocument,
    line: usize,
    column: usize,
    quote: char,
) -> Option<(usize, usize)> {
    let mut seen_closing = false;
    for l in (document.first_line..=line).rev() {
        let text = document.line_text(l)?;
        let searched = if l == line {
            split_at_column(text, column).0
        } else {
            text
        };
        let mut chars: Vec<char> = searched.chars().collect();
        while let Some(c) = chars.pop() {
            if c == quote {
                if seen_closing {
                    return Some((l, chars.len() + 1));
                }
                seen_closing = true;
            }
        }
    }
    None
}
/// serde-saphyr appends the position to its messages; lode prints it separately.
fn clean_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let first = match first.find(" at line ") {
        Some(index) => &first[..index],
        None => first,
    };
    // serde-saphyr's advice to its own API users is not for lode's users.
    let first = match first.find(", set DuplicateKeyPolicy") {
        Some(index) => &first[..index],
        None => first,
    };
    first.trim_end_matches(['.', ':']).to_string()
}

/// Hints for the mistakes people make most with these manifests.
fn hint_for(message: &str) -> Option<String> {
    if message.contains("unknown field `setpoint`") {
        return Some(
            "Ignition names an alarm's first setpoint `setpointA` (and the second `setpointB`)"
                .into(),
        );
    }
    if message.contains("unknown field") {
        if let Some(expected) = message.split("expected ").nth(1) {
            let expected = expected.trim_start_matches("one of ");
            return Some(format!("remove the field or use one of: {expected}"));
        }
        return Some("remove the field; `lode schema` prints every allowed field".into());
    }
    if message.contains("missing field") {
        return Some("add the field; `lode schema` describes each kind's spec".into());
    }
    if message.contains("duplicate") {
        return Some("each key may appear once in a mapping; remove one of them".into());
    }
    if message.contains("unknown variant") {
        return Some("use one of the listed values (they are case-sensitive)".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(text: &str, first_line: usize) -> YamlDocument {
        YamlDocument {
            text: text.to_string(),
            first_line,
        }
    }

    #[test]
    fn positions_are_the_files_not_the_documents() {
        let doc = document("a: 1\nb: [\n", 41);
        let error = parse::<serde_json::Value>("f.yaml", &doc).unwrap_err();
        assert!(error.line >= 42, "{error:?}");
    }

    #[test]
    fn unclosed_quotes_after_multibyte_text_do_not_panic() {
        // Columns count characters; slicing by them as bytes used to panic inside a character.
        for text in [
            "a: \"ééé\nb: ééé\"x\n",
            "a: \"日本語のテキスト\n  続き\"ë\n",
            "títle: 'Opé\nrations' ü\n",
        ] {
            let error = parse::<serde_json::Value>("f.yaml", &document(text, 1));
            assert!(error.is_err(), "{text}");
        }
    }

    #[test]
    fn split_documents_keeps_line_numbers() {
        let documents = split_documents("# c\nkind: a\n---\n\nkind: b\n--- kind: c\n");
        let lines: Vec<usize> = documents.iter().map(|d| d.first_line).collect();
        assert_eq!(lines, [2, 5, 6]);
        assert_eq!(documents[1].line_text(5), Some("kind: b"));
    }

    #[test]
    fn utf8_errors_point_at_the_character_column() {
        let error = utf8_text("f", "ab\nçé\u{0}".as_bytes()).map(|_| ());
        assert!(error.is_ok());
        let error = utf8_text("f", b"ab\n\xc3\xa7\xc3\xa9\xff").unwrap_err();
        assert_eq!((error.line, error.column), (2, 3));
    }

    #[test]
    fn nesting_and_alias_limits_are_errors_not_crashes() {
        let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse::<serde_json::Value>("f", &document(&deep, 1)).unwrap_err();
        assert!(error.message.contains("nested"), "{error:?}");
        let mut bomb = String::from("a: &a0 [x]\n");
        for level in 1..=12 {
            bomb.push_str(&format!(
                "b{level}: &a{level} [{}]\n",
                vec![format!("*a{}", level - 1); 10].join(",")
            ));
        }
        let error = parse::<serde_json::Value>("f", &document(&bomb, 1)).unwrap_err();
        assert!(error.message.contains("alias"), "{error:?}");
    }
}
