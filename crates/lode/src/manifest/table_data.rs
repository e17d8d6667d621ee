//! Table data as manifests hold it: seed rows from CSV files, and the canonical text of a cell of
//! a given SQL type. Both the manifests and the Databricks provider (reading live rows) pass cells
//! through `canonical_cell`, so `2`, `2.0` and `2.00` compare by value, not by spelling.

/// Why changing a table's columns from `live` to `desired` cannot be done in place (Delta has no
/// drop, retype or nullability change without rewriting the table), if it cannot. Shared by the
/// plan's data-loss guard and the provider that applies the change.
pub fn rewrite_reason(live: &serde_json::Value, desired: &serde_json::Value) -> Option<String> {
    let columns = |spec: &serde_json::Value| -> Vec<(String, String, bool)> {
        spec.get("columns")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or("").to_string(),
                    c["type"].as_str().unwrap_or("").to_string(),
                    c.get("nullable")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(true),
                )
            })
            .collect()
    };
    let wanted = columns(desired);
    let current = columns(live);
    for (name, data_type, nullable) in &current {
        match wanted.iter().find(|(n, _, _)| n == name) {
            None => return Some(format!("dropping column `{name}` deletes its data")),
            Some((_, t, _)) if t != data_type => {
                return Some(format!(
                    "changing column `{name}` from {data_type} to {t} rewrites the table"
                ));
            }
            Some((_, _, n)) if n != nullable => {
                return Some(format!(
                    "changing whether column `{name}` may be null rewrites the table"
                ));
            }
            Some(_) => {}
        }
    }
    wanted
        .iter()
        .find(|(n, _, nullable)| !nullable && !current.iter().any(|(c, _, _)| c == n))
        .map(|(name, _, _)| {
            format!("adding NOT NULL column `{name}` to an existing table rewrites it")
        })
}

/// Parses CSV (RFC 4180: quoted fields, `""` escapes, newlines inside quotes) into rows.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].is_empty()) {
                    rows.push(std::mem::take(&mut row));
                }
                row.clear();
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

/// Why rows cannot be written as a seed file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteCsvError {
    #[error(
        "row {row}, column `{column}` is an empty text, which a seed file cannot hold (an empty CSV field reads as NULL)"
    )]
    EmptyText { row: usize, column: String },
    #[error("the rows take more than lode's limit of {} MiB for a payload file", super::source::MAX_FILE_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("row {row} has {found} values for {columns} columns")]
    Width {
        row: usize,
        found: usize,
        columns: usize,
    },
}

/// Rows as RFC 4180 CSV with a header row, the inverse of `parse_csv` as seed files are read:
/// a NULL is an empty field, fields holding `,`, `"`, line breaks or outer spaces are quoted
/// (`""` for a quote), and `${` is written `$${` (seed text is interpolated). Lines end in `\n`.
pub fn write_csv(
    columns: &[&str],
    rows: &[Vec<serde_json::Value>],
) -> Result<String, WriteCsvError> {
    fn field(out: &mut String, text: &str) {
        let text = text.replace("${", "$${");
        let quote = text.is_empty() || text.contains([',', '"', '\n', '\r']) || text.trim() != text;
        if quote {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    let mut out = String::new();
    for (index, column) in columns.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        field(&mut out, column);
    }
    out.push('\n');
    for (row_index, row) in rows.iter().enumerate() {
        if row.len() != columns.len() {
            return Err(WriteCsvError::Width {
                row: row_index + 1,
                found: row.len(),
                columns: columns.len(),
            });
        }
        for (index, cell) in row.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            match cell {
                serde_json::Value::Null => {}
                serde_json::Value::String(text) if text.is_empty() => {
                    return Err(WriteCsvError::EmptyText {
                        row: row_index + 1,
                        column: columns[index].to_string(),
                    });
                }
                serde_json::Value::String(text) => field(&mut out, text),
                other => field(&mut out, &other.to_string()),
            }
        }
        out.push('\n');
        if out.len() > super::source::MAX_FILE_BYTES {
            return Err(WriteCsvError::TooLarge);
        }
    }
    Ok(out)
}

/// The base name of a SQL type: `decimal(10,2)` → `decimal`.
fn base_type(data_type: &str) -> String {
    data_type
        .split('(')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The scale of a `decimal(p,s)` type.
fn decimal_scale(data_type: &str) -> usize {
    data_type
        .split_once(',')
        .and_then(|(_, s)| s.trim_end_matches(')').trim().parse().ok())
        .unwrap_or(0)
}

/// A type's canonical spelling: lower case, no spaces (`DECIMAL(10, 2)` → `decimal(10,2)`).
pub fn canonical_type(data_type: &str) -> String {
    let lower: String = data_type
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match lower.as_str() {
        "integer" => "int".into(),
        "long" => "bigint".into(),
        "short" => "smallint".into(),
        "byte" => "tinyint".into(),
        "real" => "float".into(),
        "varchar" | "char" => "string".into(),
        _ => lower,
    }
}

/// Whether a SQL type is one lode knows how to compare.
pub fn is_known_type(data_type: &str) -> bool {
    matches!(
        base_type(&canonical_type(data_type)).as_str(),
        "string"
            | "int"
            | "bigint"
            | "smallint"
            | "tinyint"
            | "double"
            | "float"
            | "boolean"
            | "date"
            | "timestamp"
            | "decimal"
    )
}

/// The canonical text of a cell of `data_type`, or why it is not a value of that type.
pub fn canonical_cell(data_type: &str, text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let kind = base_type(&canonical_type(data_type));
    let bad = || format!("`{text}` is not a {data_type}");
    match kind.as_str() {
        "int" | "bigint" | "smallint" | "tinyint" => trimmed
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| bad()),
        "double" | "float" => {
            let value: f64 = trimmed.parse().map_err(|_| bad())?;
            Ok(if value.fract() == 0.0 && value.abs() < 1e15 {
                format!("{value:.1}")
            } else {
                value.to_string()
            })
        }
        "boolean" => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Ok("true".into()),
            "false" => Ok("false".into()),
            _ => Err(bad()),
        },
        "decimal" => {
            let scale = decimal_scale(data_type);
            let negative = trimmed.starts_with('-');
            let digits = trimmed.trim_start_matches(['-', '+']);
            let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
            if whole.is_empty() && fraction.is_empty()
                || !whole
                    .chars()
                    .chain(fraction.chars())
                    .all(|c| c.is_ascii_digit())
            {
                return Err(bad());
            }
            if fraction.len() > scale && fraction[scale..].chars().any(|c| c != '0') {
                return Err(format!(
                    "`{text}` has more than {scale} decimal places for {data_type}"
                ));
            }
            let whole = whole.trim_start_matches('0');
            let whole = if whole.is_empty() { "0" } else { whole };
            let mut fraction: String = fraction.chars().take(scale).collect();
            while fraction.len() < scale {
                fraction.push('0');
            }
            let sign = if negative && (whole != "0" || fraction.chars().any(|c| c != '0')) {
                "-"
            } else {
                ""
            };
            Ok(if scale == 0 {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{fraction}")
            })
        }
        "date" => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(trimmed, &format)
                .map(|d| d.format(&format).expect("dates format"))
                .map_err(|_| bad())
        }
        "timestamp" => canonical_timestamp(trimmed).ok_or_else(bad),
        _ => Ok(text.to_string()),
    }
}

/// `2026-11-24 08:00:00`, `2026-11-24T08:00:00Z`, `...+02:00` → `2026-11-24T08:00:00.000Z` (UTC).
fn canonical_timestamp(text: &str) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .or_else(|| {
            let normalized = text.replacen(' ', "T", 1);
            let with_zone = if normalized.len() <= 19 || normalized.ends_with('Z') {
                format!("{}Z", normalized.trim_end_matches('Z'))
            } else {
                normalized.clone()
            };
            time::OffsetDateTime::parse(&with_zone, &Rfc3339)
                .ok()
                .or_else(|| {
                    time::OffsetDateTime::parse(&format!("{}T00:00:00Z", text), &Rfc3339).ok()
                })
        })?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    utc.format(&format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_newlines() {
        let rows = parse_csv("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec!["a", "b"],
                vec!["x, y", "say \"hi\""],
                vec!["multi\nline", ""]
            ]
        );
        assert!(parse_csv("a\n\"open").is_err());
    }

    #[test]
    fn issue_17_written_csv_reads_back_as_the_same_rows() {
        use serde_json::{Value, json};
        let rows = vec![
            vec![
                json!("HT_001"),
                json!("Caterpillar 793F, rigid"),
                Value::Null,
                json!("20.0"),
            ],
            vec![
                json!("say \"hi\""),
                json!("multi\nline"),
                json!(" padded "),
                json!("true"),
            ],
            vec![
                json!("${var.x} and $${y}"),
                json!("ünïcode"),
                json!("-"),
                json!(3),
            ],
        ];
        let text = write_csv(&["id", "model", "note", "value"], &rows).unwrap();
        assert!(
            text.starts_with("id,model,note,value\nHT_001,\"Caterpillar 793F, rigid\",,20.0\n"),
            "{text}"
        );
        let parsed = parse_csv(&text).unwrap();
        assert_eq!(parsed[0], ["id", "model", "note", "value"]);
        // Seed text is interpolated: `$${` reads back as `${`.
        let no_env = |_: &str| None;
        let variables = std::collections::BTreeMap::new();
        let mut interpolator = crate::manifest::interpolate::Interpolator {
            variables: &variables,
            env: &no_env,
            secrets: Vec::new(),
            references: Vec::new(),
            env_is_secret: true,
        };
        for (written, original) in parsed[1..].iter().zip(&rows) {
            let read: Vec<Value> = written
                .iter()
                .map(|cell| {
                    if cell.is_empty() {
                        Value::Null
                    } else {
                        json!(interpolator.interpolate(cell).unwrap())
                    }
                })
                .collect();
            let expected: Vec<Value> = original
                .iter()
                .map(|cell| match cell {
                    Value::Number(n) => json!(n.to_string()),
                    other => other.clone(),
                })
                .collect();
            assert_eq!(read, expected);
        }
        assert_eq!(
            write_csv(&["id", "name"], &[vec![json!("a"), json!("")]]),
            Err(WriteCsvError::EmptyText {
                row: 1,
                column: "name".into()
            })
        );
        let huge = vec![vec![json!("x".repeat(1024 * 1024))]; 9];
        assert_eq!(write_csv(&["blob"], &huge), Err(WriteCsvError::TooLarge));
    }

    #[test]
    fn cells_compare_by_value() {
        assert_eq!(
            canonical_cell("double", "2").unwrap(),
            canonical_cell("DOUBLE", "2.0").unwrap()
        );
        assert_eq!(canonical_cell("decimal(10,2)", "1.5").unwrap(), "1.50");
        assert_eq!(canonical_cell("decimal(10,2)", "001.50").unwrap(), "1.50");
        assert!(canonical_cell("decimal(10,2)", "1.555").is_err());
        assert_eq!(canonical_cell("boolean", "TRUE").unwrap(), "true");
        assert_eq!(canonical_cell("int", " 42 ").unwrap(), "42");
        assert!(canonical_cell("int", "4.2").is_err());
        assert_eq!(
            canonical_cell("timestamp", "2026-11-24 08:00:00").unwrap(),
            "2026-11-24T08:00:00.000Z"
        );
        assert_eq!(
            canonical_cell("timestamp", "2026-11-24T10:00:00+02:00").unwrap(),
            "2026-11-24T08:00:00.000Z"
        );
        assert_eq!(canonical_cell("date", "2026-02-03").unwrap(), "2026-02-03");
        assert!(canonical_cell("date", "2026-02-30").is_err());
    }
}
