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
        let hint = hint_for(&message);
        let mut error = ManifestError::new(file, line.max(1), column.max(1), message);
        error.hint = hint;
        error
    })
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
