//! The `probe` check: the one check that writes. Where the environment allows it (`probe:` in
//! its file names the tag, the value and the writer), it writes a value unique to the run to
//! that tag, then watches, on lode's own clock, for the value in the Zerobus bronze table, for
//! gold to show its event, and for the Genie space's answer to hold it: the runbook's "tag
//! change → gold in < 15 s" measured end to end rather than inferred from timestamps.
//!
//! Without the environment's consent the check is skipped, never run: a manifest alone cannot
//! make verification write to a SCADA tag.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::databricks::{GenieAnswer, answer_result, ask_genie, quote_name};
use super::expect::format_number;
use super::{Measured, VerifyContext};
use crate::manifest::environment::{ProbeConfig, ProbeWrite};
use crate::manifest::kinds::{CheckSpec, LatencyBudgets};
use crate::provider::databricks::client::SqlRequest;
use crate::provider::ignition::client::GatewayClient;

/// How often the stages are looked at, at most. The figures are as coarse as this, or as the
/// time one look takes when that is longer.
const POLL: Duration = Duration::from_millis(200);

/// How long a write command may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Two probe values differ by at least 0.0001; a stored value matches within less than half
/// (a `Float4` tag keeps about 7 digits: 48.5999 comes back as 48.59989929).
const VALUE_TOLERANCE: f64 = 0.00004;

/// How far behind lode's clock the gateway's may be for its event to be found.
const CLOCK_SKEW_MS: u128 = 120_000;

/// The connector's ingestion time in epoch milliseconds (microseconds in current builds).
const INGESTED_MS: &str = "CASE WHEN ingestion_timestamp >= 100000000000000 \
     THEN ingestion_timestamp DIV 1000 ELSE ingestion_timestamp END";

/// What an environment lets a probe do, ready to use.
pub struct ProbeAccess {
    pub tag: String,
    pub base_value: f64,
    pub writer: ProbeWriter,
}

/// How the value is written.
pub enum ProbeWriter {
    /// The gateway emulator's operator write route.
    Emulator(Arc<GatewayClient>),
    /// A command the site provides.
    Command(Vec<String>),
}

impl ProbeAccess {
    /// The probe an environment allows: `None` when it allows none, `Err` when it allows one
    /// that cannot run here (the emulator's gateway is not connected).
    pub fn of(
        config: Option<&ProbeConfig>,
        gateway: Option<Arc<GatewayClient>>,
    ) -> Option<Result<ProbeAccess, String>> {
        let config = config?;
        let writer = match &config.write {
            ProbeWrite::Emulator => match gateway {
                Some(client) => ProbeWriter::Emulator(client),
                None => {
                    return Some(Err(
                        "the environment's gateway emulator could not be reached".to_string(),
                    ));
                }
            },
            ProbeWrite::Command(argv) => ProbeWriter::Command(argv.clone()),
        };
        Some(Ok(ProbeAccess {
            tag: config.tag.trim().to_string(),
            base_value: config.value,
            writer,
        }))
    }
}

/// This run's value: the base plus 0.0001 to 3.6, growing by 0.0001 every 100 ms through each
/// hour. Unique, so an earlier probe's value still in the tables is not taken for this one's;
/// and growing, so an answer that shows a window's highest value (`max`) shows this run's.
pub fn run_value(base: f64, now_ms: u128) -> f64 {
    let step = 1 + ((now_ms / 100) % 36_000) as i64;
    ((base * 10_000.0).round() + step as f64) / 10_000.0
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The value as written and searched for: no exponent, no needless digits.
fn value_text(value: f64) -> String {
    format_number(value)
}

/// Writes `value` to the tag. `Err` says why it was not written.
fn write(access: &ProbeAccess, value: f64) -> Result<(), String> {
    match &access.writer {
        ProbeWriter::Emulator(client) => {
            let status = client
                .get("/system/lode-emulator/status")
                .map_err(|e| format!("asking the gateway emulator whether it is live: {e}"))?;
            if status.get("live").and_then(Value::as_bool) != Some(true) {
                return Err(
                    "the gateway emulator is not live: nothing runs its scripts or streams its tags, so a written value goes nowhere; start the stack with `lode up`"
                        .to_string(),
                );
            }
            let answer = client
                .post_json(
                    "/system/lode-emulator/tags/write",
                    &json!({"path": access.tag, "value": value}),
                    false,
                )
                .map_err(|e| format!("writing {}: {e}", access.tag))?;
            match answer.get("quality").and_then(Value::as_str) {
                Some("Good") => Ok(()),
                other => Err(format!(
                    "the gateway refused the write to {}: quality {}",
                    access.tag,
                    other.unwrap_or("unknown")
                )),
            }
        }
        ProbeWriter::Command(argv) => run_write_command(argv, &access.tag, &value_text(value)),
    }
}

/// Runs the site's write command with `{tag}` and `{value}` filled in; exit 0 means written.
fn run_write_command(argv: &[String], tag: &str, value: &str) -> Result<(), String> {
    let filled: Vec<String> = argv
        .iter()
        .map(|arg| arg.replace("{tag}", tag).replace("{value}", value))
        .collect();
    let program = &filled[0];
    let mut child = Command::new(program)
        .args(&filled[1..])
        .env("LODE_PROBE_TAG", tag)
        .env("LODE_PROBE_VALUE", value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running the probe's write command `{program}`: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= WRITE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the probe's write command `{program}` did not finish within {} s",
                    WRITE_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for `{program}`: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Err(format!(
        "the probe's write command `{program}` failed ({status}){}",
        last.map(|l| format!(": {}", l.trim())).unwrap_or_default()
    ))
}

/// When each stage was seen, in milliseconds after the write.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct StageTimes {
    pub bronze_ms: Option<u64>,
    pub gold_ms: Option<u64>,
    pub answer_ms: Option<u64>,
}

/// The budgets the stage times exceed or never met, as `(key, figure s or None, budget s)`.
pub fn over_budget(
    budgets: &LatencyBudgets,
    times: &StageTimes,
) -> Vec<(&'static str, Option<f64>, f64)> {
    budgets
        .given()
        .into_iter()
        .filter_map(|(key, budget)| {
            let time = match key {
                "to_bronze_seconds" => times.bronze_ms,
                "to_gold_seconds" => times.gold_ms,
                "to_answer_seconds" => times.answer_ms,
                _ => return None,
            };
            let seconds = time.map(|ms| ms as f64 / 1000.0);
            match seconds {
                Some(s) if s <= budget => None,
                _ => Some((key, seconds, budget)),
            }
        })
        .collect()
}

/// The check's expectation in words.
pub fn describe(spec: &CheckSpec) -> String {
    let budgets = spec.budgets.clone().unwrap_or_default();
    budgets
        .given()
        .into_iter()
        .filter_map(|(key, budget)| {
            let stage = match key {
                "to_bronze_seconds" => "bronze",
                "to_gold_seconds" => "gold",
                "to_answer_seconds" => "answer",
                _ => return None,
            };
            Some(format!("{stage} <= {} s", format_number(budget)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs a read-only statement with `:tag` bound, for the probe's polls.
fn query(
    context: &VerifyContext,
    statement: String,
    tag: &str,
    timeout: Duration,
) -> Result<Vec<Vec<Option<String>>>, String> {
    let client = context.databricks().map_err(|m| m.message_text())?;
    let warehouse_id = context.warehouse().map_err(|m| m.message_text())?;
    let request = SqlRequest {
        warehouse_id,
        statement,
        parameters: vec![("tag".to_string(), Some(tag.to_string()))],
        idempotent: true,
        ..SqlRequest::default()
    };
    client
        .execute_sql(&request, timeout)
        .map(|result| result.rows)
        .map_err(|e| e.to_string())
}

fn integer(cell: Option<&Option<String>>) -> Option<i64> {
    cell.and_then(|c| c.as_deref())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
        .map(|n| n.round() as i64)
}

/// Whether any cell of the answer's rows is the value.
fn rows_hold(result: &Value, value: f64) -> bool {
    let response = result.get("statement_response").unwrap_or(result);
    response
        .pointer("/result/data_array")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|cell| match cell {
            Value::String(text) => text.trim().parse::<f64>().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        })
        .any(|cell| (cell - value).abs() < VALUE_TOLERANCE)
}

pub(super) fn measure(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let access = match &context.probe {
        None => {
            return Measured::skip(
                "the environment allows no active probe: a probe writes to a tag, so it runs only where the environment's file names the tag and the writer (`probe:`, see docs/manifests.md)",
            );
        }
        Some(Err(why)) => return Measured::error(why.clone()),
        Some(Ok(access)) => access,
    };
    let bronze = spec.table.clone().unwrap_or_default();
    if !crate::manifest::is_table_name(&bronze) {
        return Measured::error(format!("`{bronze}` is not a table name"));
    }
    if let Some(gold) = &spec.gold_table
        && !crate::manifest::is_table_name(gold)
    {
        return Measured::error(format!("`{gold}` is not a table name"));
    }
    let budgets = spec.budgets.clone().unwrap_or_default();
    let largest = budgets
        .given()
        .into_iter()
        .map(|(_, b)| b)
        .fold(0.0_f64, f64::max);
    // Long enough to say by how much a late value missed its budget.
    let deadline = spec
        .timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or_else(|| Duration::from_secs_f64((largest * 2.0).max(30.0)));
    let statement_timeout = Duration::from_secs(10);

    let written_at_ms = now_ms();
    let value = run_value(access.base_value, written_at_ms);
    let shown = value_text(value);
    let written = Instant::now();
    if let Err(why) = write(access, value) {
        return Measured::error(why);
    }

    // Only recent events: a literal bound lets the engine skip older files. The gateway's clock
    // may trail lode's a little; two minutes is far more than a synchronised clock's skew.
    let bronze_statement = format!(
        "SELECT unix_millis(event_time) AS event_ms, {INGESTED_MS} AS ingested_ms \
         FROM {} WHERE event_time >= timestamp_millis({}) AND tag_path = :tag \
         AND abs(numeric_value - ({value})) < {VALUE_TOLERANCE} ORDER BY event_time LIMIT 1",
        quote_name(&bronze),
        written_at_ms.saturating_sub(CLOCK_SKEW_MS),
    );
    let mut times = StageTimes::default();
    let mut event: Option<(i64, Option<i64>)> = None;
    let mut last_problem: Option<String> = None;
    let answer_wanted = spec.space.is_some() && spec.question.is_some();
    let mut answer_words: Option<String> = None;
    while written.elapsed() < deadline {
        let round = Instant::now();
        // A stage is timed at the start of the look that saw it: the statement reads the table
        // as it was then, so its own run time is not the flow's.
        let elapsed = || written.elapsed().as_millis() as u64;
        if event.is_none() {
            let looked = elapsed();
            match query(
                context,
                bronze_statement.clone(),
                &access.tag,
                statement_timeout,
            ) {
                Ok(rows) => {
                    if let Some(row) = rows.first()
                        && let Some(event_ms) = integer(row.first())
                    {
                        times.bronze_ms = Some(looked);
                        event = Some((event_ms, integer(row.get(1))));
                    }
                }
                Err(why) => last_problem = Some(format!("reading {bronze}: {why}")),
            }
        }
        if let (Some((event_ms, _)), Some(gold), None) = (event, &spec.gold_table, times.gold_ms) {
            let statement = format!(
                "SELECT count(*) AS shown FROM {} WHERE last_event_time >= timestamp_millis({event_ms}) \
                 AND tag_path = :tag",
                quote_name(gold)
            );
            let looked = elapsed();
            match query(context, statement, &access.tag, statement_timeout) {
                Ok(rows) => {
                    if rows.first().and_then(|row| integer(row.first())) > Some(0) {
                        times.gold_ms = Some(looked);
                    }
                }
                Err(why) => last_problem = Some(format!("reading {gold}: {why}")),
            }
        }
        let gold_done = spec.gold_table.is_none() || times.gold_ms.is_some();
        if answer_wanted && event.is_some() && gold_done && times.answer_ms.is_none() {
            let client = match context.databricks() {
                Ok(client) => client,
                Err(measured) => return measured,
            };
            let space = spec.space.as_deref().unwrap_or_default();
            let question = spec.question.as_deref().unwrap_or_default();
            let left = deadline.saturating_sub(written.elapsed());
            let asked = ask_genie(client, space, question, left, |outcome| match outcome {
                Ok(GenieAnswer {
                    status,
                    message,
                    message_path,
                    ..
                }) if status == "COMPLETED" => answer_result(client, &message_path, &message)
                    .map(|result| rows_hold(&result, value)),
                Ok(answer) => Err(format!("Genie answered {}", answer.status)),
                Err(error) => Err(format!("reading Genie's answer: {error}")),
            });
            match asked {
                Ok(Ok(true)) => times.answer_ms = Some(elapsed()),
                Ok(Ok(false)) => {
                    answer_words = Some(format!("Genie's answer does not show {shown} yet"))
                }
                Ok(Err(why)) => last_problem = Some(why),
                Err(measured) => return measured,
            }
        }
        let done = event.is_some() && gold_done && (!answer_wanted || times.answer_ms.is_some());
        if done {
            break;
        }
        // Looks follow each other at most POLL apart: a slow statement is time enough.
        std::thread::sleep(POLL.saturating_sub(round.elapsed()));
    }

    let seconds = |ms: Option<u64>| ms.map(|ms| ms as f64 / 1000.0);
    let mut figures = json!({
        "tag": access.tag,
        "value": value,
        "to_bronze_seconds": seconds(times.bronze_ms),
    });
    if let Some((event_ms, Some(ingested_ms))) = event {
        figures["event_to_ingestion_seconds"] = json!((ingested_ms - event_ms) as f64 / 1000.0);
    }
    if spec.gold_table.is_some() {
        figures["to_gold_seconds"] = json!(seconds(times.gold_ms));
    }
    if answer_wanted {
        figures["to_answer_seconds"] = json!(seconds(times.answer_ms));
    }
    let mut seen = Vec::new();
    for (stage, ms) in [
        ("bronze", times.bronze_ms),
        ("gold", times.gold_ms),
        ("Genie's answer", times.answer_ms),
    ] {
        if let Some(ms) = ms {
            seen.push(format!(
                "{stage} after {} s",
                format_number(ms as f64 / 1000.0)
            ));
        }
    }
    let mut problems = Vec::new();
    let gold_done = spec.gold_table.is_none() || times.gold_ms.is_some();
    let missing_stage = if event.is_none() {
        Some(bronze.clone())
    } else if !gold_done {
        spec.gold_table.clone()
    } else if answer_wanted && times.answer_ms.is_none() {
        Some("Genie's answer".to_string())
    } else {
        None
    };
    if let Some(stage) = missing_stage {
        let mut problem = format!(
            "{shown} written to {} did not reach {stage} within {} s",
            access.tag,
            format_number(deadline.as_secs_f64())
        );
        if let Some(why) = last_problem.or(answer_words) {
            problem.push_str(&format!(" ({why})"));
        } else if event.is_none() {
            problem.push_str(&format!(
                " (is the connector streaming {}, and the gateway's clock within {} s of this machine's?)",
                access.tag,
                CLOCK_SKEW_MS / 1000
            ));
        }
        problems.push(problem);
    }
    for (key, figure, budget) in over_budget(&budgets, &times) {
        if let Some(figure) = figure {
            problems.push(format!(
                "{key} is {} s, over its budget of {} s",
                format_number(figure),
                format_number(budget)
            ));
        }
    }
    let mut message = format!("wrote {shown} to {}", access.tag);
    if !seen.is_empty() {
        message.push_str(&format!("; seen in {}", seen.join(", ")));
    }
    if !problems.is_empty() {
        message = format!("{}: {message}", problems.join("; "));
    }
    let end_to_end = times
        .answer_ms
        .or(times.gold_ms)
        .or(times.bronze_ms)
        .map(|ms| Value::String(format!("{} s", format_number(ms as f64 / 1000.0))))
        .unwrap_or(Value::Null);
    Measured::judged(problems.is_empty(), end_to_end, Some(message)).with_figures(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_16_each_run_writes_a_value_of_its_own_that_grows_through_the_hour() {
        assert_eq!(run_value(45.0, 0), 45.0001);
        assert_eq!(run_value(45.0, 99), 45.0001);
        assert_eq!(run_value(45.0, 100), 45.0002);
        assert_eq!(run_value(45.0, 3_599_999), 48.6);
        assert_eq!(run_value(45.0, 3_600_000), 45.0001);
        assert_eq!(run_value(-3.0, 250), -2.9997);
        let mut previous = 0.0;
        for ms in (1_765_000_000_000_u128..1_765_000_000_000 + 5_000).step_by(100) {
            let value = run_value(45.0, ms);
            assert!(value > 45.0 && value <= 48.6, "{value}");
            assert!(value > previous, "{value} after {previous}");
            assert_eq!(value_text(value).parse::<f64>().unwrap(), value);
            // A Float4 tag keeps it within the tolerance.
            assert!(((value as f32) as f64 - value).abs() < VALUE_TOLERANCE);
            previous = value;
        }
    }

    #[test]
    fn issue_16_the_answer_holds_the_value_only_within_the_tolerance() {
        let result = json!({"statement_response": {"result": {"data_array": [
            ["CR_002", "45.123", null], ["CR_001", "17.5", "2026-12-07T10:00:00Z"]
        ]}}});
        assert!(rows_hold(&result, 45.123));
        // A Float4 tag stores 45.123 as 45.12300109863281.
        assert!(rows_hold(
            &json!({"result": {"data_array": [["45.12300109863281"]]}}),
            45.123
        ));
        assert!(!rows_hold(&result, 45.1231));
        assert!(!rows_hold(&json!({"result": {"data_array": []}}), 45.123));
    }

    #[test]
    fn issue_16_a_stage_never_seen_or_seen_late_is_over_its_budget() {
        let budgets = LatencyBudgets {
            to_bronze_seconds: Some(2.0),
            to_gold_seconds: Some(5.0),
            to_answer_seconds: Some(15.0),
            ..LatencyBudgets::default()
        };
        let times = StageTimes {
            bronze_ms: Some(2000),
            gold_ms: Some(5001),
            answer_ms: None,
        };
        assert_eq!(
            over_budget(&budgets, &times),
            vec![
                ("to_gold_seconds", Some(5.001), 5.0),
                ("to_answer_seconds", None, 15.0)
            ]
        );
    }

    #[test]
    fn issue_16_a_write_command_gets_the_tag_and_value_and_its_failure_is_told() {
        let ok = vec![
            "sh".to_string(),
            "-c".to_string(),
            "test \"$1\" = \"{tag}\" && test \"$2\" = 45.5 && test \"$LODE_PROBE_VALUE\" = 45.5"
                .to_string(),
            "sh".to_string(),
            "[default]A/B".to_string(),
            "{value}".to_string(),
        ];
        run_write_command(&ok, "[default]A/B", "45.5").unwrap();
        let failing = vec![
            "sh".to_string(),
            "-c".to_string(),
            "echo 'opc: BadNodeIdUnknown' >&2; exit 3".to_string(),
        ];
        let error = run_write_command(&failing, "[default]A/B", "45.5").unwrap_err();
        assert!(error.contains("BadNodeIdUnknown"), "{error}");
        assert!(error.contains("exit status: 3"), "{error}");
        let missing = vec!["/nonexistent/lode-probe-writer".to_string()];
        let error = run_write_command(&missing, "[default]A/B", "45.5").unwrap_err();
        assert!(error.contains("/nonexistent/lode-probe-writer"), "{error}");
    }
}
