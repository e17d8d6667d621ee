//! The YAML emitter of `lode import` (and of the values `lode pull` inserts): block style, two
//! spaces, short flat mappings and lists in flow style on one line as the demo writes them
//! (`AssetId: {dataType: String, value: HT_001}`, `primary_key: [equipment_id]`), multi-line
//! text as literal blocks, and quotes only where YAML would read a text as something else
//! (docs/manifests.md "YAML notes").

use serde_json::{Map, Value};

/// Flow collections longer than this (with their indentation and key) are written as blocks:
/// the fixture manifests' one-line UDT members reach 120 columns.
const FLOW_WIDTH: usize = 120;

/// Texts longer than this on their line are folded (`>-`), at this width, as the demo's
/// descriptions are.
const FOLD_WIDTH: usize = 100;

/// One manifest document: `kind`, `name`, optional `depends_on`, then `spec`.
pub fn document(kind: &str, name: &str, depends_on: &[String], spec: &Value) -> String {
    let mut out = String::new();
    out.push_str(&format!("kind: {}\n", plain_or_quoted(kind, false)));
    out.push_str(&format!("name: {}\n", plain_or_quoted(name, false)));
    if !depends_on.is_empty() {
        out.push_str("depends_on:\n");
        for address in depends_on {
            out.push_str(&format!("  - {}\n", plain_or_quoted(address, false)));
        }
    }
    entry(&mut out, 0, "spec", spec, Depth::Document);
    out
}

/// How deep a value sits: the document and the spec's own fields are always blocks, so that
/// every field of a spec starts its own line; deeper flat values may be flow. `Block`: this
/// collection is a block whatever its size (one that was a block stays one), its values are
/// `Nested`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Document,
    SpecField,
    Nested,
    Block,
}

impl Depth {
    fn inner(self) -> Depth {
        match self {
            Depth::Document => Depth::SpecField,
            _ => Depth::Nested,
        }
    }

    fn allows_flow_mapping(self) -> bool {
        self == Depth::Nested
    }

    fn allows_flow_sequence(self) -> bool {
        matches!(self, Depth::SpecField | Depth::Nested)
    }
}

/// Writes `key: value` at `indent`, with the value inline, as a flow collection, or as a block
/// on the following lines.
pub fn entry(out: &mut String, indent: usize, key: &str, value: &Value, depth: Depth) {
    let pad = " ".repeat(indent);
    let key_text = plain_or_quoted(key, false);
    let prefix = format!("{pad}{key_text}:");
    match value {
        Value::Object(map) if !map.is_empty() => {
            if depth.allows_flow_mapping()
                && let Some(flow) = flow_collection(value, prefix.chars().count() + 1)
            {
                out.push_str(&format!("{prefix} {flow}\n"));
                return;
            }
            out.push_str(&prefix);
            out.push('\n');
            mapping(out, indent + 2, map, depth.inner());
        }
        Value::Array(items) if !items.is_empty() => {
            if depth.allows_flow_sequence()
                && let Some(flow) = flow_collection(value, prefix.chars().count() + 1)
            {
                out.push_str(&format!("{prefix} {flow}\n"));
                return;
            }
            out.push_str(&prefix);
            out.push('\n');
            sequence(out, indent + 2, items, depth.inner());
        }
        // A long text on one line is folded (`>-`), as the demo writes its descriptions.
        Value::String(text)
            if prefix.chars().count() + 1 + text.chars().count() > FOLD_WIDTH
                && let Some(body) = fold(text, indent + 2, FOLD_WIDTH) =>
        {
            out.push_str(&format!("{prefix} >{}\n{body}", literal_header_tail(text)));
        }
        Value::String(text) if text.contains('\n') => {
            out.push_str(&prefix);
            literal_block(out, indent + 2, text);
        }
        scalar_value => {
            out.push_str(&format!("{prefix} {}\n", inline_scalar(scalar_value)));
        }
    }
}

/// A one-paragraph text as the lines of a folded block at `indent`, wrapped at spaces before
/// `width` columns; `None` when folding could not give the text back exactly (line breaks,
/// runs of spaces, outer blanks, characters a block cannot hold, no space to break at).
pub fn fold(text: &str, indent: usize, width: usize) -> Option<String> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    if body.is_empty()
        || !body.contains(' ')
        || body.contains('\n')
        || body.contains("  ")
        || body.starts_with(' ')
        || body.ends_with(' ')
        || !literal_can_hold(body)
        || body.contains('\t')
    {
        return None;
    }
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in body.split(' ') {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&pad);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&pad);
    out.push_str(&line);
    out.push('\n');
    Some(out)
}

/// The entries of a block mapping at `indent`.
pub fn mapping(out: &mut String, indent: usize, map: &Map<String, Value>, depth: Depth) {
    for (key, value) in map {
        entry(out, indent, key, value, depth);
    }
}

/// The items of a block sequence at `indent`. A list of mappings is either all flow (each item
/// fits on its line) or all block, so that one list never mixes the two.
pub fn sequence(out: &mut String, indent: usize, items: &[Value], depth: Depth) {
    let all_flow: Option<Vec<String>> = if depth == Depth::Document {
        None
    } else {
        items
            .iter()
            .map(|item| match item {
                Value::Object(map) if !map.is_empty() => flow_collection(item, indent + 2),
                Value::Array(list) if !list.is_empty() => flow_collection(item, indent + 2),
                _ => None,
            })
            .collect()
    };
    let pad = " ".repeat(indent);
    for (index, item) in items.iter().enumerate() {
        if let Some(flows) = &all_flow {
            out.push_str(&format!("{pad}- {}\n", flows[index]));
            continue;
        }
        item_value(out, indent, item, depth);
    }
}

/// One `- item` of a block sequence at `indent`.
pub fn item_value(out: &mut String, indent: usize, item: &Value, depth: Depth) {
    let pad = " ".repeat(indent);
    match item {
        Value::Object(map) if !map.is_empty() => {
            // `- first: x` then the other keys under it, aligned with `first`.
            let mut block = String::new();
            mapping(&mut block, indent + 2, map, depth.inner());
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(&block[indent + 2..]);
        }
        Value::Array(list) if !list.is_empty() => {
            if let Some(flow) = flow_collection(item, indent + 2) {
                out.push_str(&format!("{pad}- {flow}\n"));
            } else {
                out.push_str(&format!("{pad}-\n"));
                sequence(out, indent + 2, list, depth.inner());
            }
        }
        Value::String(text) if text.contains('\n') => {
            out.push_str(&format!("{pad}-"));
            literal_block(out, indent + 2, text);
        }
        scalar_value => out.push_str(&format!("{pad}- {}\n", inline_scalar(scalar_value))),
    }
}

/// A flat collection on one line, when it fits in `FLOW_WIDTH` after `used` columns and holds
/// only one-line scalars.
pub fn flow_collection(value: &Value, used: usize) -> Option<String> {
    let text = flow_text(value)?;
    (used + text.chars().count() <= FLOW_WIDTH).then_some(text)
}

/// A collection of one-line scalars in flow style, whatever its length.
pub fn flow_text(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => {
            let mut parts = Vec::new();
            for (key, item) in map {
                parts.push(format!(
                    "{}: {}",
                    plain_or_quoted(key, true),
                    flow_scalar(item)?
                ));
            }
            Some(format!("{{{}}}", parts.join(", ")))
        }
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(flow_scalar).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        _ => None,
    }
}

fn flow_scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\n') => None,
        Value::String(text) => Some(plain_or_quoted(text, true)),
        Value::Object(map) if map.is_empty() => Some("{}".into()),
        Value::Array(items) if items.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        other => Some(inline_scalar(other)),
    }
}

/// A scalar (or an empty collection) on the line of its key.
pub fn inline_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => plain_or_quoted(text, false),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// ` |` (or `|-`, `|+`) and the text's lines at `indent`, after a key or `-` already written.
/// Text a literal block cannot hold exactly (control characters, a line starting with a tab,
/// carriage returns) is double-quoted instead.
pub fn literal_block(out: &mut String, indent: usize, text: &str) {
    if !literal_can_hold(text) {
        out.push_str(&format!(" {}\n", double_quoted(text)));
        return;
    }
    out.push_str(" |");
    out.push_str(&literal_header_tail(text));
    out.push('\n');
    out.push_str(&literal_body(indent, text));
}

/// The indicators after `|`: an indentation indicator when the first line starts with a space,
/// then the chomping indicator for the text's trailing newlines.
pub fn literal_header_tail(text: &str) -> String {
    let mut tail = String::new();
    if text.starts_with(' ') || text.starts_with('\n') {
        tail.push('2');
    }
    let trailing = text.len() - text.trim_end_matches('\n').len();
    match trailing {
        0 => tail.push('-'),
        1 => {}
        _ => tail.push('+'),
    }
    tail
}

/// The lines of a literal block at `indent` (empty lines stay empty).
pub fn literal_body(indent: usize, text: &str) -> String {
    let pad = " ".repeat(indent);
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut out = String::new();
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// Whether a literal block holds `text` exactly.
pub fn literal_can_hold(text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_special_break(c))
        && !text.split('\n').any(|line| line.starts_with('\t'))
        // A text of newlines only has no content line to carry the indentation.
        && !text.trim_matches('\n').is_empty()
        // Trailing spaces on the last content line before `|-` are kept, but a block whose
        // last line is only spaces would be read as indentation.
        && !text.split('\n').any(|line| !line.is_empty() && line.trim().is_empty())
}

/// Characters YAML treats as line breaks or that it refuses in any scalar.
fn is_special_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `text` as a plain scalar when YAML reads it back as the same string, else double-quoted.
/// `in_flow`: inside `{...}` or `[...]`, where `,[]{}` are syntax too.
pub fn plain_or_quoted(text: &str, in_flow: bool) -> String {
    if is_plain_safe(text, in_flow) {
        text.to_string()
    } else {
        double_quoted(text)
    }
}

/// Whether `text` can be written without quotes and still read as this string (never as a
/// number, boolean or null, never as YAML syntax).
pub fn is_plain_safe(text: &str, in_flow: bool) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if text.trim() != text || text.contains('\n') {
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_control() || is_special_break(c) || c == '\t')
    {
        return false;
    }
    // Indicators that start YAML syntax at the beginning of a scalar.
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
    ) {
        return false;
    }
    if text.contains(": ") || text.contains(" #") || text.ends_with(':') {
        return false;
    }
    // `${` is fine in block style, but `{` and `}` are syntax in flow collections.
    if in_flow && text.contains(['{', '}', '[', ']', ',']) {
        return false;
    }
    !resolves_to_non_string(text)
}

/// Whether a plain scalar would be read as null, a boolean or a number (YAML 1.2 core schema,
/// plus the YAML 1.1 words some tools still read as booleans).
fn resolves_to_non_string(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null"
            | "true"
            | "false"
            | "yes"
            | "no"
            | "on"
            | "off"
            | "y"
            | "n"
            | ".inf"
            | "-.inf"
            | "+.inf"
            | ".nan"
    ) {
        return true;
    }
    // Anything made only of number characters (`0.000000`, `1e3`, `2020-03-16`, `0x1F`,
    // `1_000`) is quoted: quoting a text that is not a number costs nothing.
    let numeric_chars = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | '+' | '-' | 'e' | 'E' | ':'));
    if numeric_chars && text.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    let hex_or_octal = ["0x", "0o", "0b", "-0x", "+0x"]
        .iter()
        .any(|prefix| lower.starts_with(prefix));
    hex_or_octal && lower.len() > 2
}

/// `text` as a double-quoted YAML scalar.
pub fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || is_special_break(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a single-quoted YAML scalar (one line only).
pub fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(yaml: &str) -> Value {
        serde_saphyr::from_str::<Value>(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
    }

    #[test]
    fn issue_17_emitted_scalars_read_back_as_the_same_strings() {
        let texts = [
            "0.000000",
            "%",
            "#,##0.0",
            "Operating status: RUNNING",
            "*x",
            "[default]Mining/Equipment",
            "${var.x}",
            "true",
            "No",
            "null",
            "",
            " padded ",
            "2020-03-16",
            "1e3",
            "0x1F",
            "a # b",
            "trailing:",
            "-1",
            "- item",
            "tab\there",
            "quote \" and \\ back",
            "°C",
            "1 hour",
            "0 0 * * * ?",
            "ns=1;s=[Simulator]Overview/CaseCount",
            "/",
            "@at",
            "`tick`",
        ];
        for text in texts {
            let block = format!("k: {}\n", plain_or_quoted(text, false));
            assert_eq!(read(&block), json!({"k": text}), "{block}");
            let flow = format!("k: [{}]\n", plain_or_quoted(text, true));
            assert_eq!(read(&flow), json!({"k": [text]}), "{flow}");
        }
    }

    #[test]
    fn issue_17_documents_are_block_style_with_short_flat_values_in_flow() {
        let spec = json!({
            "provider": "${var.tag_provider}",
            "parameters": {"AssetId": {"dataType": "String", "value": "HT_000"}},
            "tags": [
                {"name": "Speed", "tagType": "AtomicTag", "formatString": "0.000000",
                 "alarms": [{"name": "Overspeed", "mode": "AboveValue", "setpointA": 55}]},
            ],
            "primary_key": ["equipment_id"],
            "instructions": "line one\n  indented\n\nlast\n",
            "empty": {},
            "none": [],
        });
        let text = document("udt", "HaulTruck", &["udt/Base".to_string()], &spec);
        assert_eq!(
            text,
            "kind: udt\nname: HaulTruck\ndepends_on:\n  - udt/Base\nspec:\n  provider: ${var.tag_provider}\n  parameters:\n    AssetId: {dataType: String, value: HT_000}\n  tags:\n    - name: Speed\n      tagType: AtomicTag\n      formatString: \"0.000000\"\n      alarms:\n        - {name: Overspeed, mode: AboveValue, setpointA: 55}\n  primary_key: [equipment_id]\n  instructions: |\n    line one\n      indented\n\n    last\n  empty: {}\n  none: []\n"
        );
        let read_back = read(&text);
        assert_eq!(read_back["spec"], spec);
    }

    #[test]
    fn issue_17_long_one_line_texts_are_folded_and_read_back_exactly() {
        let long = "Ask about the live condition of the haul trucks: status, vibration # and temperature against alarm limits, throughput, and what is behind an alarm - all of it.";
        for text in [long.to_string(), format!("{long}\n")] {
            let mut out = String::new();
            entry(&mut out, 2, "description", &json!(text), Depth::SpecField);
            assert!(
                out.lines().all(|l| l.chars().count() <= FLOW_WIDTH),
                "{out}"
            );
            assert_eq!(
                read(&format!("spec:\n{out}")),
                json!({"spec": {"description": text}}),
                "{out}"
            );
        }
        // Runs of spaces would not survive folding: such a text stays on one line.
        let spaced = format!("{}  two spaces", &long[..90]);
        let mut out = String::new();
        entry(&mut out, 2, "description", &json!(spaced), Depth::SpecField);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert_eq!(
            read(&format!("spec:\n{out}")),
            json!({"spec": {"description": spaced}})
        );
        let mut out = String::new();
        entry(&mut out, 2, "description", &json!(long), Depth::SpecField);
        assert!(out.starts_with("  description: >-\n    Ask about"), "{out}");
    }

    #[test]
    fn issue_17_literal_blocks_keep_every_newline_and_leading_space() {
        for text in [
            "a\nb",
            "a\nb\n",
            "a\nb\n\n\n",
            "  starts indented\nnext\n",
            "\nstarts with a newline\n",
            "x\n\ty",
            "only\r\nreturns\n",
            "\n\n",
            "last line spaces\n   \n",
        ] {
            let mut out = String::from("k:");
            literal_block(&mut out, 2, text);
            assert_eq!(read(&out), json!({"k": text}), "{out}");
            let mut listed = String::from("k:\n");
            item_value(&mut listed, 2, &json!(text), Depth::Nested);
            assert_eq!(read(&listed), json!({"k": [text]}), "{listed}");
        }
    }
}
