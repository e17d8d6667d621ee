//! Checks measured in the Databricks workspace: SQL scalars, row counts and data freshness
//! through the statement API, a pipeline's state through the Pipelines API, and a Genie space
//! answering a question (start a conversation, poll the message until it is COMPLETED, then
//! delete the conversation so checks leave nothing behind).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{Measured, VerifyContext, judge, number, timeout_of};
use crate::manifest::kinds::CheckSpec;
use crate::provider::databricks::client::{
    ApiError, DatabricksClient, Idempotency, SqlRequest, SqlResult, encode_path_segment,
};

/// Genie message states after which it will not change.
const GENIE_DONE: [&str; 4] = ["COMPLETED", "FAILED", "CANCELLED", "QUERY_RESULT_EXPIRED"];

/// `a.b.c` as `` `a`.`b`.`c` `` (names were checked to be plain identifiers when loaded).
pub(super) fn quote_name(name: &str) -> String {
    name.split('.')
        .map(|part| format!("`{}`", part.replace('`', "``")))
        .collect::<Vec<_>>()
        .join(".")
}

pub(super) fn run_sql(
    spec: &CheckSpec,
    context: &VerifyContext,
    statement: String,
) -> Result<SqlResult, Measured> {
    let client = context.databricks()?;
    let warehouse_id = context.warehouse()?;
    let request = SqlRequest {
        warehouse_id,
        statement,
        ..SqlRequest::default()
    };
    client
        .execute_sql(&request, timeout_of(spec))
        .map_err(|e| Measured::error(e.to_string()))
}

/// The first value of the first row, as a number when it is one.
fn scalar(result: &SqlResult) -> Value {
    match result
        .rows
        .first()
        .and_then(|row| row.first())
        .cloned()
        .flatten()
    {
        None => Value::Null,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => number(n),
            _ => Value::String(text),
        },
    }
}

pub(super) fn sql(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let statement = spec.statement.clone().unwrap_or_default();
    match run_sql(spec, context, statement) {
        Ok(result) => {
            let detail = if result.rows.is_empty() {
                Some("the statement returned no rows".to_string())
            } else {
                None
            };
            judge(spec, scalar(&result), detail)
        }
        Err(measured) => measured,
    }
}

pub(super) fn row_count(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let table = spec.table.clone().unwrap_or_default();
    if !crate::manifest::is_table_name(&table) {
        return Measured::error(format!("`{table}` is not a table name"));
    }
    let statement = format!("SELECT count(*) AS n FROM {}", quote_name(&table));
    match run_sql(spec, context, statement) {
        Ok(result) => judge(spec, scalar(&result), None),
        Err(measured) => measured,
    }
}

/// A timestamp as the statement API sends it: RFC 3339 (`...T...Z`), `YYYY-MM-DD HH:MM:SS[.f]`
/// (UTC), or a date.
pub fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let plain = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(text.trim_end_matches('Z'), plain) {
        return Some(t.assume_utc());
    }
    let date = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, date)
        .ok()
        .map(|d| d.midnight().assume_utc())
}

pub(super) fn freshness(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let table = spec.table.clone().unwrap_or_default();
    let column = spec.column.clone().unwrap_or_default();
    if !crate::manifest::is_table_name(&table) {
        return Measured::error(format!("`{table}` is not a table name"));
    }
    let statement = format!(
        "SELECT max({}) AS latest FROM {}",
        quote_name(&column),
        quote_name(&table)
    );
    let result = match run_sql(spec, context, statement) {
        Ok(result) => result,
        Err(measured) => return measured,
    };
    let Some(latest) = result
        .rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .flatten()
    else {
        return Measured::fail(
            Value::Null,
            format!("{table} has no rows with a {column}: no data has arrived"),
        );
    };
    let Some(at) = parse_timestamp(&latest) else {
        return Measured::error(format!("{column} `{latest}` is not a timestamp"));
    };
    let age_minutes = (OffsetDateTime::now_utc() - at).as_seconds_f64() / 60.0;
    let rounded = (age_minutes * 10.0).round() / 10.0;
    let within = spec.within_minutes.unwrap_or(0) as f64;
    Measured::judged(
        age_minutes <= within,
        number(rounded),
        Some(format!(
            "newest {column} is {latest} ({} min old)",
            super::expect::format_number(rounded)
        )),
    )
}

fn looks_like_id(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

pub(super) fn pipeline_state(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let client = match context.databricks() {
        Ok(client) => client,
        Err(measured) => return measured,
    };
    let wanted = spec.pipeline.clone().unwrap_or_default();
    let info: Result<Option<Value>, ApiError> = if looks_like_id(&wanted) {
        client.get_optional(
            &format!("/api/2.0/pipelines/{}", encode_path_segment(&wanted)),
            &[],
        )
    } else {
        client
            .list_all::<Value>("/api/2.0/pipelines", &[], "statuses")
            .and_then(|all| {
                match all
                    .iter()
                    .find(|p| p.get("name").and_then(Value::as_str) == Some(wanted.as_str()))
                    .and_then(|p| p.get("pipeline_id").and_then(Value::as_str))
                {
                    Some(id) => client.get_optional(
                        &format!("/api/2.0/pipelines/{}", encode_path_segment(id)),
                        &[],
                    ),
                    None => Ok(None),
                }
            })
    };
    let info = match info {
        Ok(Some(info)) => info,
        Ok(None) => {
            return Measured::fail(Value::Null, format!("there is no pipeline `{wanted}`"));
        }
        Err(error) => return Measured::error(error.to_string()),
    };
    let state = info
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN")
        .to_string();
    let last_update = info
        .pointer("/latest_updates/0/state")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut ok = spec
        .expect_state
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&state));
    let mut value = state.clone();
    if !spec.expect_last_update.is_empty() {
        let update = last_update.clone().unwrap_or_else(|| "NONE".to_string());
        ok &= spec
            .expect_last_update
            .iter()
            .any(|s| s.eq_ignore_ascii_case(&update));
        value = format!("{state}, last update {update}");
    }
    let mut detail = last_update
        .clone()
        .filter(|_| spec.expect_last_update.is_empty())
        .map(|u| format!("last update {u}"));
    if last_update.as_deref() == Some("FAILED")
        && let Some(reason) = failure_reason(client, &info)
    {
        detail = Some(match detail {
            Some(d) => format!("{d}: {reason}"),
            None => reason,
        });
    }
    Measured::judged(ok, Value::String(value), detail)
}

/// Why the latest update failed: the newest ERROR event of that update, when the event log has
/// one (a check that only said FAILED would send the user to the workspace to find out).
fn failure_reason(
    client: &crate::provider::databricks::client::DatabricksClient,
    info: &Value,
) -> Option<String> {
    let id = info.get("pipeline_id").and_then(Value::as_str)?;
    let update = info
        .pointer("/latest_updates/0/update_id")
        .and_then(Value::as_str)?;
    let events: Value = client
        .get_optional(
            &format!("/api/2.0/pipelines/{}/events", encode_path_segment(id)),
            &[],
        )
        .ok()
        .flatten()?;
    let message = events
        .get("events")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("level").and_then(Value::as_str) == Some("ERROR")
                && e.pointer("/origin/update_id").and_then(Value::as_str) == Some(update)
        })?
        .get("message")?
        .as_str()?;
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = line.chars().take(300).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    Some(short)
}

/// The first text attachment of a Genie message, on one line, shortened.
fn answer_text(message: &Value) -> Option<String> {
    let text = message
        .get("attachments")?
        .as_array()?
        .iter()
        .find_map(|a| a.pointer("/text/content").and_then(Value::as_str))?;
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut short: String = line.chars().take(120).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    Some(short)
}

/// The content expectations of a genie check: the answer's text mentions a value, its query
/// returns enough rows, and they are fresh by a named column. `Err` says which failed.
fn judge_answer(
    spec: &CheckSpec,
    client: &DatabricksClient,
    message_path: &str,
    message: &Value,
) -> Result<(), String> {
    if let Some(wanted) = &spec.answer_contains {
        let text = all_answer_text(message);
        if !text.to_lowercase().contains(&wanted.to_lowercase()) {
            let shown = answer_text(message).unwrap_or_else(|| "no text".to_string());
            return Err(format!("the answer does not mention {wanted:?}: {shown}"));
        }
    }
    if spec.min_rows.is_none() && spec.column.is_none() {
        return Ok(());
    }
    let result = answer_result(client, message_path, message)?;
    let response = result.get("statement_response").unwrap_or(&result);
    let rows: Vec<&Value> = response
        .pointer("/result/data_array")
        .and_then(Value::as_array)
        .map(|rows| rows.iter().collect())
        .unwrap_or_default();
    let total = response
        .pointer("/manifest/total_row_count")
        .and_then(Value::as_u64)
        .unwrap_or(rows.len() as u64);
    if let Some(min) = spec.min_rows
        && total < min
    {
        return Err(format!(
            "the answer's query returned {total} rows, fewer than {min}"
        ));
    }
    if let (Some(column), Some(minutes)) = (&spec.column, spec.within_minutes) {
        let position = response
            .pointer("/manifest/schema/columns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| {
                c.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(column))
            })
            .and_then(|c| c.get("position").and_then(Value::as_u64))
            .ok_or_else(|| format!("the answer's rows have no column `{column}`"))?;
        let newest = rows
            .iter()
            .filter_map(|row| row.get(position as usize).and_then(Value::as_str))
            .filter_map(parse_timestamp)
            .max()
            .ok_or_else(|| format!("the answer's rows have no `{column}` timestamp"))?;
        let age = (OffsetDateTime::now_utc() - newest).as_seconds_f64() / 60.0;
        if age > minutes as f64 {
            return Err(format!(
                "the newest `{column}` in the answer is {:.1} min old, more than {minutes}",
                age
            ));
        }
    }
    Ok(())
}

/// The result of a Genie answer's query (`query-result` of its query attachment).
pub(super) fn answer_result(
    client: &DatabricksClient,
    message_path: &str,
    message: &Value,
) -> Result<Value, String> {
    let Some(attachment) = message
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| a.get("query").is_some())
        .and_then(|a| a.get("attachment_id").and_then(Value::as_str))
    else {
        return Err("the answer has no query: no rows to judge".to_string());
    };
    client
        .get(
            &format!(
                "{message_path}/attachments/{}/query-result",
                encode_path_segment(attachment)
            ),
            &[],
        )
        .map_err(|e| format!("reading the answer's rows: {e}"))
}

/// Every text attachment of a Genie message, joined.
fn all_answer_text(message: &Value) -> String {
    message
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.pointer("/text/content").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn genie(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let client = match context.databricks() {
        Ok(client) => client,
        Err(measured) => return measured,
    };
    let space = spec.space.clone().unwrap_or_default();
    let question = spec.question.clone().unwrap_or_default();
    let within = Duration::from_secs(spec.within_seconds.unwrap_or(5));
    match ask_genie(client, &space, &question, within, |outcome| {
        judge_genie(spec, client, within, outcome)
    }) {
        Ok(measured) | Err(measured) => measured,
    }
}

/// A Genie answer that reached a final state, or the state it was in when time ran out.
pub(super) struct GenieAnswer {
    pub status: String,
    pub elapsed: Duration,
    pub message: Value,
    /// `/api/2.0/genie/spaces/S/conversations/C/messages/M`, for its attachments.
    pub message_path: String,
}

/// Asks `question` in a new conversation of `space` and polls the answer until it is final or
/// `within` has passed; `read` sees it (or the error that ended the polling) while the
/// conversation still exists, and the conversation is deleted afterwards. `Err`: no
/// conversation could be started.
pub(super) fn ask_genie<R>(
    client: &DatabricksClient,
    space: &str,
    question: &str,
    within: Duration,
    read: impl FnOnce(Result<GenieAnswer, ApiError>) -> R,
) -> Result<R, Measured> {
    let space_path = format!("/api/2.0/genie/spaces/{}", encode_path_segment(space));
    let started = Instant::now();
    // Not idempotent: a retried start would open a second conversation.
    let start: Value = client
        .post(
            &format!("{space_path}/start-conversation"),
            &json!({"content": question}),
            Idempotency::NotIdempotent,
        )
        .map_err(|error| Measured::error(format!("starting a conversation: {error}")))?;
    let conversation = start
        .get("conversation_id")
        .or_else(|| start.pointer("/conversation/id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message_id = start
        .get("message_id")
        .or_else(|| start.pointer("/message/message_id"))
        .or_else(|| start.pointer("/message/id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (Some(conversation), Some(message_id)) = (conversation, message_id) else {
        return Err(Measured::error(
            "the start-conversation answer has no conversation or message id",
        ));
    };
    let conversation_path = format!(
        "{space_path}/conversations/{}",
        encode_path_segment(&conversation)
    );
    let message_path = format!(
        "{conversation_path}/messages/{}",
        encode_path_segment(&message_id)
    );
    let mut message = start.get("message").cloned().unwrap_or(Value::Null);
    let mut poll = Duration::from_millis(100);
    let outcome = loop {
        let status = message
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("SUBMITTED")
            .to_string();
        let elapsed = started.elapsed();
        if GENIE_DONE.contains(&status.as_str()) || elapsed >= within {
            break Ok(GenieAnswer {
                status,
                elapsed,
                message,
                message_path,
            });
        }
        std::thread::sleep(
            poll.min(within.saturating_sub(elapsed))
                .max(Duration::from_millis(10)),
        );
        poll = (poll * 3 / 2).min(Duration::from_secs(1));
        match client.get::<Value>(&message_path, &[]) {
            Ok(next) => message = next,
            Err(error) => break Err(error),
        }
    };
    let result = read(outcome);
    // Checks leave nothing behind; a workspace that cannot delete conversations keeps it.
    let _ = client.delete(&conversation_path, &[]);
    Ok(result)
}

/// Judges a Genie answer: its status and time, then its content.
fn judge_genie(
    spec: &CheckSpec,
    client: &DatabricksClient,
    within: Duration,
    outcome: Result<GenieAnswer, ApiError>,
) -> Measured {
    let GenieAnswer {
        status,
        elapsed,
        message,
        message_path,
    } = match outcome {
        Ok(answer) => answer,
        Err(error) => return Measured::error(format!("reading the answer: {error}")),
    };
    let (message_path, message) = (message_path.as_str(), &message);
    let millis = elapsed.as_millis();
    let value = Value::String(format!("{status} in {millis} ms"));
    if status == "COMPLETED" && elapsed <= within {
        // In time: now the content. An answer over an empty table completes just as fast.
        return match judge_answer(spec, client, message_path, message) {
            Ok(()) => Measured::judged(
                true,
                value,
                answer_text(message).map(|a| format!("answer: {a}")),
            ),
            Err(why) => Measured::fail(value, why),
        };
    }
    let why = match status.as_str() {
        "COMPLETED" => format!(
            "answered after {millis} ms, later than {} s",
            within.as_secs()
        ),
        "FAILED" | "CANCELLED" | "QUERY_RESULT_EXPIRED" => {
            let error = message
                .pointer("/error/error")
                .and_then(Value::as_str)
                .unwrap_or("no error message");
            format!("Genie answered {status}: {error}")
        }
        other => format!("still {other} after {} s", within.as_secs()),
    };
    Measured::fail(value, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form_the_api_sends() {
        let expected = time::macros::datetime!(2026-03-01 10:20:30 UTC);
        assert_eq!(parse_timestamp("2026-03-01T10:20:30.000Z"), Some(expected));
        assert_eq!(parse_timestamp("2026-03-01T10:20:30Z"), Some(expected));
        assert_eq!(parse_timestamp("2026-03-01 10:20:30"), Some(expected));
        assert_eq!(
            parse_timestamp("2026-03-01 10:20:30.5"),
            Some(expected + time::Duration::milliseconds(500))
        );
        assert_eq!(
            parse_timestamp("2026-03-01"),
            Some(time::macros::datetime!(2026-03-01 0:00 UTC))
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn names_are_quoted_part_by_part() {
        assert_eq!(quote_name("main.mining_demo.t"), "`main`.`mining_demo`.`t`");
        assert_eq!(quote_name("window_end"), "`window_end`");
    }
}
