//! Appending JSON records to an existing table, the way Zerobus Ingest writes: every record is a
//! JSON object whose fields are columns of the table, checked against the table's schema before
//! anything is written (Zerobus neither creates nor evolves a table), and all the records of one
//! call land in exactly one Delta append commit, so a batch is durable as a whole once this
//! returns. A record that does not fit refuses the whole call; the cause is one of the tokens the
//! Zerobus SDKs decode from the server's schema-validation detail.

use deltalake::protocol::{DeltaOperation, OutputMode};
use serde_json::Value as Json;

use super::storage::{self, Column, Commit};
use super::types::{SqlType, Value, cast};
use super::{SqlEngine, SqlError, TableName, check_name};

/// What one append wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedRecords {
    /// The table version the commit made (`None`: no records, no commit).
    pub version: Option<u64>,
    pub rows: usize,
}

/// Why a record does not fit the table: the cause tokens of the Zerobus SDKs'
/// `SchemaValidationCause` (`FIELD_NOT_IN_TABLE`, `MISSING_REQUIRED_COLUMN`,
/// `TYPE_INCOMPATIBLE`), plus a record that is not an object at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMismatch {
    NotAnObject,
    FieldNotInTable,
    MissingRequiredColumn,
    TypeIncompatible,
}

impl RecordMismatch {
    pub fn token(self) -> &'static str {
        match self {
            RecordMismatch::NotAnObject => "NOT_AN_OBJECT",
            RecordMismatch::FieldNotInTable => "FIELD_NOT_IN_TABLE",
            RecordMismatch::MissingRequiredColumn => "MISSING_REQUIRED_COLUMN",
            RecordMismatch::TypeIncompatible => "TYPE_INCOMPATIBLE",
        }
    }
}

/// Why JSON records were not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendRecordsError {
    /// The wording of Zerobus Ingest's documented example error.
    #[error("Table \"{table}\" cannot be found.")]
    TableNotFound { table: String },
    #[error("{message}")]
    RecordMismatch {
        index: usize,
        cause: RecordMismatch,
        message: String,
    },
    #[error(transparent)]
    Storage(#[from] SqlError),
}

impl SqlEngine {
    /// Appends `records` to `catalog.schema.table` in one Delta commit, or writes nothing when
    /// the table does not exist or any record does not fit it. Field names match columns
    /// ignoring case; a missing field is NULL, which a NOT NULL column refuses.
    pub async fn append_json_records(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
        records: &[Json],
    ) -> Result<AppendedRecords, AppendRecordsError> {
        let dotted = format!("{catalog}.{schema}.{table}");
        let not_found = || AppendRecordsError::TableNotFound {
            table: dotted.clone(),
        };
        for part in [catalog, schema, table] {
            check_name(part).map_err(|_| not_found())?;
        }
        let name = SqlEngine::table_name(catalog, schema, table);
        let dir = self.table_dir(&name);
        let lock = self.table_lock(&name);
        let _writer = lock.lock().await;
        if !storage::is_table(&dir) {
            return Err(not_found());
        }
        let mut delta = storage::open(&dir).await?;
        let columns = storage::columns(&delta)?;
        let rows = records
            .iter()
            .enumerate()
            .map(|(index, record)| row(index, record, &columns, &name))
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            return Ok(AppendedRecords {
                version: None,
                rows: 0,
            });
        }
        let adds = storage::write_files(&delta, &columns, &rows).await?;
        let mut commit = Commit::new("STREAMING UPDATE")
            .param("outputMode", "Append")
            .metric("numAddedFiles", adds.len())
            .metric("numOutputRows", rows.len())
            .metric("numOutputBytes", adds.iter().map(|a| a.size).sum::<i64>());
        commit.blind_append = true;
        let op = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: "zerobus".into(),
            epoch_id: storage::version(&delta) as i64 + 1,
        };
        let version = storage::commit_files(&mut delta, adds, false, op, &commit).await?;
        Ok(AppendedRecords {
            version: Some(version),
            rows: rows.len(),
        })
    }
}

/// One record as a row of the table's columns.
fn row(
    index: usize,
    record: &Json,
    columns: &[Column],
    table: &TableName,
) -> Result<Vec<Value>, AppendRecordsError> {
    let mismatch = |cause: RecordMismatch, message: String| AppendRecordsError::RecordMismatch {
        index,
        cause,
        message,
    };
    let Json::Object(fields) = record else {
        return Err(mismatch(
            RecordMismatch::NotAnObject,
            format!("Record {index} is not a JSON object."),
        ));
    };
    let mut row = vec![Value::Null; columns.len()];
    for (field, json) in fields {
        let Some(at) = columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(field))
        else {
            return Err(mismatch(
                RecordMismatch::FieldNotInTable,
                format!(
                    "Record {index}: field \"{field}\" is not a column of table \"{}\".",
                    table.dotted()
                ),
            ));
        };
        let column = &columns[at];
        row[at] = value(json, &column.ty).ok_or_else(|| {
            mismatch(
                RecordMismatch::TypeIncompatible,
                format!(
                    "Record {index}: field \"{field}\" holds {}, which does not fit column \"{}\" of type {}.",
                    json_kind(json),
                    column.name,
                    column.ty.sql_name()
                ),
            )
        })?;
    }
    for (column, value) in columns.iter().zip(&row) {
        if value.is_null() && !column.nullable {
            return Err(mismatch(
                RecordMismatch::MissingRequiredColumn,
                format!(
                    "Record {index}: column \"{}\" is NOT NULL and the record gives it no value.",
                    column.name
                ),
            ));
        }
    }
    Ok(row)
}

/// A JSON value as a value of a column type, or `None` when it does not fit. Integers may come
/// as strings, as proto3's JSON mapping writes 64-bit integers; TIMESTAMP is epoch microseconds
/// and DATE days since the epoch, as the Zerobus SDKs send them.
fn value(json: &Json, ty: &SqlType) -> Option<Value> {
    let integer = |json: &Json| match json {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let fits = |v: Value| cast(&v, ty).ok();
    match (json, ty) {
        (Json::Null, _) => Some(Value::Null),
        (Json::String(s), SqlType::String) => Some(Value::Str(s.clone())),
        (_, SqlType::Byte | SqlType::Short | SqlType::Int | SqlType::Long) => {
            fits(Value::Int(integer(json)?))
        }
        (Json::Number(n), SqlType::Float | SqlType::Double) => fits(Value::Double(n.as_f64()?)),
        (Json::String(s), SqlType::Float | SqlType::Double) => match s.as_str() {
            "NaN" => fits(Value::Double(f64::NAN)),
            "Infinity" => fits(Value::Double(f64::INFINITY)),
            "-Infinity" => fits(Value::Double(f64::NEG_INFINITY)),
            _ => None,
        },
        (Json::Bool(b), SqlType::Boolean) => Some(Value::Bool(*b)),
        (_, SqlType::Timestamp) => Some(Value::Timestamp(integer(json)?)),
        (_, SqlType::Date) => i32::try_from(integer(json)?).ok().map(Value::Date),
        (Json::Number(n), SqlType::Decimal(..)) => fits(Value::Str(n.to_string())),
        (Json::String(s), SqlType::Decimal(..)) => fits(Value::Str(s.clone())),
        _ => None,
    }
}

fn json_kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn engine_with_table() -> (tempfile::TempDir, SqlEngine) {
        let dir = tempfile::tempdir().unwrap();
        let engine = SqlEngine::new(dir.path().join("tables")).unwrap();
        engine
            .execute(
                "CREATE TABLE main.default.events (id STRING NOT NULL, at TIMESTAMP, v DOUBLE, n INT, ok BOOLEAN)",
                None,
                None,
                &[],
            )
            .await
            .unwrap();
        (dir, engine)
    }

    async fn rows(engine: &SqlEngine) -> Vec<Vec<Option<String>>> {
        engine
            .execute(
                "SELECT id, unix_micros(at), v, n, ok FROM main.default.events ORDER BY id",
                None,
                None,
                &[],
            )
            .await
            .unwrap()
            .rows
    }

    #[tokio::test]
    async fn issue_16_a_batch_of_records_is_one_append_commit() {
        let (_dir, engine) = engine_with_table().await;
        let records = [
            json!({"id": "a", "at": 1_767_225_600_000_000_i64, "v": 1.5, "n": 7, "ok": true}),
            json!({"ID": "b", "n": "8"}),
        ];
        let appended = engine
            .append_json_records("main", "default", "events", &records)
            .await
            .unwrap();
        assert_eq!(
            appended,
            AppendedRecords {
                version: Some(1),
                rows: 2
            }
        );
        assert_eq!(
            rows(&engine).await,
            vec![
                vec![
                    Some("a".into()),
                    Some("1767225600000000".into()),
                    Some("1.5".into()),
                    Some("7".into()),
                    Some("true".into())
                ],
                vec![Some("b".into()), None, None, Some("8".into()), None],
            ]
        );
        let history = engine
            .execute("DESCRIBE HISTORY main.default.events", None, None, &[])
            .await
            .unwrap();
        let operation = history
            .columns
            .iter()
            .position(|c| c.name == "operation")
            .unwrap();
        assert_eq!(history.rows.len(), 2);
        assert_eq!(
            history.rows[0][operation].as_deref(),
            Some("STREAMING UPDATE")
        );
        // Nothing to write is no commit.
        let empty = engine
            .append_json_records("main", "default", "events", &[])
            .await
            .unwrap();
        assert_eq!(
            empty,
            AppendedRecords {
                version: None,
                rows: 0
            }
        );
    }

    #[tokio::test]
    async fn issue_16_a_record_that_does_not_fit_writes_nothing() {
        let (_dir, engine) = engine_with_table().await;
        let cases = [
            (
                json!([{"id": "a"}, {"id": "b", "extra": 1}]),
                RecordMismatch::FieldNotInTable,
                "\"extra\"",
            ),
            (
                json!([{"v": 1.0}]),
                RecordMismatch::MissingRequiredColumn,
                "\"id\"",
            ),
            (
                json!([{"id": "a", "v": "high"}]),
                RecordMismatch::TypeIncompatible,
                "DOUBLE",
            ),
            (
                json!([{"id": "a", "n": 1.5}]),
                RecordMismatch::TypeIncompatible,
                "INT",
            ),
            (
                json!([{"id": "a", "n": 3_000_000_000_i64}]),
                RecordMismatch::TypeIncompatible,
                "INT",
            ),
            (
                json!([{"id": 5}]),
                RecordMismatch::TypeIncompatible,
                "STRING",
            ),
            (json!(["a"]), RecordMismatch::NotAnObject, "Record 0"),
        ];
        for (records, expected, named) in cases {
            let records = records.as_array().unwrap().clone();
            match engine
                .append_json_records("main", "default", "events", &records)
                .await
            {
                Err(AppendRecordsError::RecordMismatch { cause, message, .. }) => {
                    assert_eq!(cause, expected, "{message}");
                    assert!(message.contains(named), "{message}");
                }
                other => panic!("{records:?}: {other:?}"),
            }
        }
        assert!(rows(&engine).await.is_empty());
        match engine
            .append_json_records("main", "default", "missing", &[json!({"id": "a"})])
            .await
        {
            Err(error @ AppendRecordsError::TableNotFound { .. }) => assert_eq!(
                error.to_string(),
                "Table \"main.default.missing\" cannot be found."
            ),
            other => panic!("{other:?}"),
        }
    }
}
