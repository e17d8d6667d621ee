//! YAML parsing with positions: a file is split into its documents (keeping line numbers), each
//! document is read twice — loosely for `kind`, then strictly into the kind's typed document — so
//! that every serde error keeps its line and column (serde loses them inside tagged enums).

use serde::de::DeserializeOwned;

use super::ManifestError;

/// One YAML document of a file, padded so that parser line numbers are the file's.
pub struct YamlDocument {
    /// The document text preceded by blank lines up to its first line.
    pub padded: String,
    /// 1-based line of the document's first line in the file.
    pub first_line: usize,
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
                    padded: pad(first_line, &current),
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
            padded: pad(first_line, &current),
            first_line,
        });
    }
    documents
}

fn pad(first_line: usize, text: &str) -> String {
    let mut padded = "\n".repeat(first_line.saturating_sub(1));
    padded.push_str(text);
    padded
}

/// Parses one document into `T`, turning a serde error into a positioned `ManifestError`.
pub fn parse<T: DeserializeOwned>(file: &str, document: &YamlDocument) -> Result<T, ManifestError> {
    serde_saphyr::from_str::<T>(&document.padded).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .unwrap_or((document.first_line, 1));
        let message = clean_message(&error.without_snippet().to_string());
        let (line, column, message, hint) = explain(document, line.max(1), column.max(1), message);
        let mut error = ManifestError::new(file, line, column, message);
        error.hint = hint;
        error
    })
}

fn line_text(document: &YamlDocument, line: usize) -> &str {
    document
        .padded
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or("")
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
    if let Some(type_name) = message
        .strip_prefix("invalid ")
        .filter(|t| !t.contains(' '))
    {
        let before = text.get(..column.saturating_sub(1)).unwrap_or("");
        let key = before
            .trim_end()
            .trim_end_matches(':')
            .trim()
            .trim_start_matches("- ");
        let value = text.get(column.saturating_sub(1)..).unwrap_or("").trim();
        let wanted = match type_name {
            "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
            "f32" | "f64" => "a number",
            "bool" => "`true` or `false`",
            _ => "a value of another type",
        };
        if !key.is_empty() && before.trim_end().ends_with(':') {
            return (
                line,
                column,
                format!("`{key}` must be {wanted}, not `{value}`"),
                Some(format!("write {wanted} without quotes or units")),
            );
        }
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

/// The quote that opened the string closed just before (`line`, `column`).
fn opening_quote(
    document: &YamlDocument,
    line: usize,
    column: usize,
    quote: char,
) -> Option<(usize, usize)> {
    let lines: Vec<&str> = document.padded.lines().collect();
    let mut seen_closing = false;
    for l in (0..line).rev() {
        let text = lines.get(l)?;
        let limit = if l + 1 == line {
            column.saturating_sub(1).min(text.len())
        } else {
            text.len()
        };
        for (index, c) in text[..limit].char_indices().rev() {
            if c == quote {
                if seen_closing {
                    return Some((l + 1, index + 1));
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
