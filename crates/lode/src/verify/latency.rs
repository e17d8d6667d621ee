//! The `latency` check: how long the data flow takes, measured from the data's own timestamps
//! through the statement API only (it writes nothing, so it runs the same against a real
//! workspace). Two stages over the events ingested in the last `window_minutes`:
//!
//! - **tag change → bronze**, per event of the Zerobus bronze table: its ingestion time
//!   (`ingestion_timestamp`, epoch µs or ms as the connector sends it) minus its `event_time`;
//! - **bronze → gold**, per tag the gold table shows: nothing while gold shows the tag's newest
//!   bronze event (by `event_time` against gold's `last_event_time`), otherwise how long the
//!   oldest bronze event gold does not show yet has waited since its ingestion, at the instant
//!   of the measurement (the warehouse's clock). A stopped pipeline makes that wait grow.
//!
//! Both are summed up as p50 and p95 (nearest rank) and judged against the check's budgets.

use serde_json::{Value, json};

use super::databricks::{quote_name, run_sql};
use super::expect::format_number;
use super::{Measured, VerifyContext};
use crate::manifest::kinds::{CheckSpec, LatencyBudgets};
use crate::provider::databricks::client::SqlResult;

/// The window when a check does not say.
pub const DEFAULT_WINDOW_MINUTES: u64 = 5;

/// The connector's ingestion time in epoch milliseconds. Current connector builds send epoch
/// microseconds, early ones milliseconds; 1e14 tells them apart (as microseconds it is 1973, as
/// milliseconds the year 5138), the rule the demo's silver.sql applies too.
const INGESTED_MS: &str = "CASE WHEN ingestion_timestamp >= 100000000000000 \
     THEN ingestion_timestamp DIV 1000 ELSE ingestion_timestamp END";

/// Delays in milliseconds with how often each occurred, for percentiles without one row per
/// event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delays {
    /// (delay in ms, occurrences), in any order.
    counts: Vec<(i64, u64)>,
}

impl Delays {
    pub fn from_counts(counts: impl IntoIterator<Item = (i64, u64)>) -> Delays {
        Delays {
            counts: counts.into_iter().filter(|(_, n)| *n > 0).collect(),
        }
    }

    pub fn samples(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// The nearest-rank percentile: the smallest delay that at least `percent` % of the samples
    /// do not exceed. `None` without samples.
    pub fn percentile(&self, percent: f64) -> Option<i64> {
        let total = self.samples();
        if total == 0 {
            return None;
        }
        let rank = ((percent / 100.0) * total as f64).ceil().max(1.0) as u64;
        let mut sorted = self.counts.clone();
        sorted.sort_unstable();
        let mut seen = 0;
        for (delay, n) in sorted {
            seen += n;
            if seen >= rank {
                return Some(delay);
            }
        }
        None
    }
}

/// One stage's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageFigures {
    pub p50_ms: i64,
    pub p95_ms: i64,
}

impl StageFigures {
    pub fn of(delays: &Delays) -> Option<StageFigures> {
        Some(StageFigures {
            p50_ms: delays.percentile(50.0)?,
            p95_ms: delays.percentile(95.0)?,
        })
    }
}

/// Seconds from milliseconds, as people read them: `1.25`, `0`, `12`.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The budgets that a stage's figures exceed, as `(key, figure s, budget s)`. A budget of a
/// stage that has no figures is reported separately, by the caller.
pub fn over_budget(
    budgets: &LatencyBudgets,
    to_bronze: Option<StageFigures>,
    to_gold: Option<StageFigures>,
    newest_age_ms: Option<i64>,
) -> Vec<(&'static str, f64, f64)> {
    budgets
        .given()
        .into_iter()
        .filter_map(|(key, budget)| {
            if key == "newest_event_age_seconds" {
                let age = seconds(newest_age_ms?);
                return (age > budget).then_some((key, age, budget));
            }
            let stage = if key.starts_with("tag_to_bronze") {
                to_bronze
            } else {
                to_gold
            }?;
            let figure = if key.contains("_p50_") {
                stage.p50_ms
            } else {
                stage.p95_ms
            };
            (seconds(figure) > budget).then_some((key, seconds(figure), budget))
        })
        .collect()
}

/// The check's expectation in words, e.g. `to bronze p95 <= 2 s, to gold p95 <= 3 s`.
pub fn describe(spec: &CheckSpec) -> String {
    let budgets = spec.budgets.clone().unwrap_or_default();
    budgets
        .given()
        .into_iter()
        .map(|(key, budget)| {
            if key == "newest_event_age_seconds" {
                return format!("newest event <= {} s old", format_number(budget));
            }
            let stage = if key.starts_with("tag_to_bronze") {
                "to bronze"
            } else {
                "to gold"
            };
            let percentile = if key.contains("_p50_") { "p50" } else { "p95" };
            format!("{stage} {percentile} <= {} s", format_number(budget))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn integer(cell: Option<&Option<String>>) -> Option<i64> {
    cell.and_then(|c| c.as_deref())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
        .map(|n| n.round() as i64)
}

/// Tag change → ingestion delays of the window's events: one row per distinct delay.
fn tag_to_bronze_statement(bronze: &str, window_ms: u64) -> String {
    format!(
        "WITH clock AS (SELECT unix_millis(current_timestamp()) AS now_ms), \
         ingested AS (SELECT event_time, {INGESTED_MS} AS ingested_ms FROM {bronze}) \
         SELECT i.ingested_ms - unix_millis(i.event_time) AS delay_ms, count(*) AS events \
         FROM ingested AS i CROSS JOIN clock AS c \
         WHERE i.ingested_ms >= c.now_ms - {window_ms} AND i.event_time IS NOT NULL \
         GROUP BY i.ingested_ms - unix_millis(i.event_time)"
    )
}

/// An instant in milliseconds since the epoch as RFC 3339, UTC.
fn instant_words(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms after the epoch"))
}

/// The newest event's ingestion time and the warehouse's clock, both in milliseconds.
fn newest_event_statement(bronze: &str) -> String {
    format!(
        "SELECT max({INGESTED_MS}) AS newest_ms, unix_millis(current_timestamp()) AS now_ms \
         FROM {bronze}"
    )
}

/// How many events that arrived at or after `since_ms` gold shows already.
fn shown_since_statement(bronze: &str, gold: &str, since_ms: i64) -> String {
    format!(
        "WITH ingested AS (SELECT tag_path, event_time, {INGESTED_MS} AS ingested_ms FROM {bronze}), \
         shown AS (SELECT tag_path, max(last_event_time) AS shown_until FROM {gold} GROUP BY tag_path) \
         SELECT count(*) AS shown FROM ingested AS i JOIN shown AS s ON s.tag_path = i.tag_path \
         WHERE i.ingested_ms >= {since_ms} AND i.event_time <= s.shown_until"
    )
}

/// Per tag of the window: whether gold has any row for it, the ingestion time of its oldest
/// event newer than gold's newest, and the warehouse's clock.
fn bronze_to_gold_statement(bronze: &str, gold: &str, window_ms: u64) -> String {
    format!(
        "WITH clock AS (SELECT unix_millis(current_timestamp()) AS now_ms), \
         ingested AS (SELECT tag_path, event_time, {INGESTED_MS} AS ingested_ms FROM {bronze}), \
         recent AS (SELECT i.tag_path, i.event_time, i.ingested_ms, c.now_ms \
           FROM ingested AS i CROSS JOIN clock AS c \
           WHERE i.ingested_ms >= c.now_ms - {window_ms} AND i.event_time IS NOT NULL), \
         shown AS (SELECT tag_path, max(last_event_time) AS shown_until FROM {gold} GROUP BY tag_path) \
         SELECT r.tag_path, \
           max(CASE WHEN s.tag_path IS NULL THEN 1 ELSE 0 END) AS unknown_to_gold, \
           min(CASE WHEN s.shown_until IS NULL OR r.event_time > s.shown_until \
             THEN r.ingested_ms END) AS oldest_waiting_ms, \
           max(r.now_ms) AS now_ms \
         FROM recent AS r LEFT JOIN shown AS s ON s.tag_path = r.tag_path \
         GROUP BY r.tag_path"
    )
}

/// What the bronze → gold query found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GoldWaits {
    /// Per tag gold shows: how long its oldest unshown event has waited (0: nothing waits).
    pub waits: Delays,
    /// Tags with something waiting.
    pub waiting: u64,
    /// Tags of the window gold has no row for (the pipeline may leave them out on purpose).
    pub unknown: u64,
}

/// Reads the bronze → gold query's rows (`tag_path, unknown_to_gold, oldest_waiting_ms,
/// now_ms`).
pub fn gold_waits(rows: &[Vec<Option<String>>]) -> GoldWaits {
    let mut found = GoldWaits::default();
    let mut waits = Vec::new();
    for row in rows {
        if integer(row.get(1)) == Some(1) {
            found.unknown += 1;
            continue;
        }
        let wait = match (integer(row.get(2)), integer(row.get(3))) {
            (Some(oldest), Some(now)) => {
                found.waiting += 1;
                (now - oldest).max(0)
            }
            _ => 0,
        };
        waits.push((wait, 1));
    }
    found.waits = Delays::from_counts(waits);
    found
}

fn stage_json(figures: Option<StageFigures>, samples: u64) -> Value {
    match figures {
        Some(f) => json!({
            "p50_seconds": seconds(f.p50_ms),
            "p95_seconds": seconds(f.p95_ms),
            "samples": samples,
        }),
        None => json!({"p50_seconds": null, "p95_seconds": null, "samples": samples}),
    }
}

fn stage_words(figures: StageFigures) -> String {
    format!(
        "p50 {} s, p95 {} s",
        format_number(seconds(figures.p50_ms)),
        format_number(seconds(figures.p95_ms))
    )
}

/// A statement error; when it names a column the check reads, it says what the check needs.
fn sql_error(mut measured: Measured, columns: &[&str], needs: &str) -> Measured {
    if let Some(message) = &mut measured.message
        && columns.iter().any(|c| message.contains(c))
    {
        message.push_str(&format!(
            " (a latency check reads {needs}; see docs/manifests.md, `check`)"
        ));
    }
    measured
}

pub(super) fn measure(spec: &CheckSpec, context: &VerifyContext) -> Measured {
    let bronze = spec.table.clone().unwrap_or_default();
    if !crate::manifest::is_table_name(&bronze) {
        return Measured::error(format!("`{bronze}` is not a table name"));
    }
    if let Some(gold) = &spec.gold_table
        && !crate::manifest::is_table_name(gold)
    {
        return Measured::error(format!("`{gold}` is not a table name"));
    }
    let minutes = spec.window_minutes.unwrap_or(DEFAULT_WINDOW_MINUTES);
    let window_ms = minutes * 60_000;
    let minutes_words = if minutes == 1 {
        "minute".to_string()
    } else {
        format!("{minutes} minutes")
    };
    let budgets = spec.budgets.clone().unwrap_or_default();

    let result: SqlResult = match run_sql(
        spec,
        context,
        tag_to_bronze_statement(&quote_name(&bronze), window_ms),
    ) {
        Ok(result) => result,
        Err(measured) => {
            return sql_error(
                measured,
                &["event_time", "ingestion_timestamp"],
                &format!("`event_time` and `ingestion_timestamp` of {bronze}"),
            );
        }
    };
    let delays = Delays::from_counts(
        result
            .rows
            .iter()
            .filter_map(|row| Some((integer(row.first())?, integer(row.get(1))?.max(0) as u64))),
    );
    let events = delays.samples();
    let Some(to_bronze) = StageFigures::of(&delays) else {
        return Measured::fail(
            Value::Null,
            format!(
                "no telemetry in the last {minutes_words}: {bronze} received no event; is the connector streaming?"
            ),
        )
        .with_figures(json!({
            "window_minutes": minutes,
            "tag_to_bronze": stage_json(None, 0),
        }));
    };
    let mut words = vec![format!(
        "tag change → bronze {} ({events} events)",
        stage_words(to_bronze)
    )];
    let mut figures = json!({
        "window_minutes": minutes,
        "tag_to_bronze": stage_json(Some(to_bronze), events),
    });
    let mut problems = Vec::new();

    // How fresh the newest event is, and whether anything arrived since the change being
    // verified: events from before it prove nothing about the flow after it.
    let newest = match run_sql(spec, context, newest_event_statement(&quote_name(&bronze))) {
        Ok(result) => result
            .rows
            .first()
            .and_then(|row| Some((integer(row.first())?, integer(row.get(1))?))),
        Err(measured) => return measured,
    };
    let newest_age_ms = newest.map(|(newest, now)| (now - newest).max(0));
    if let Some(age) = newest_age_ms {
        figures["newest_event_age_seconds"] = json!(seconds(age));
        if budgets.newest_event_age_seconds.is_some() {
            words.push(format!(
                "newest event {} s old",
                format_number(seconds(age))
            ));
        }
    }
    if let Some(since) = context.since_ms
        && newest.is_none_or(|(newest, _)| newest < since)
    {
        problems.push(format!(
            "no event has arrived in {bronze} since the change being verified ({})",
            instant_words(since)
        ));
    }

    let mut to_gold = None;
    if let Some(gold) = &spec.gold_table {
        let result = match run_sql(
            spec,
            context,
            bronze_to_gold_statement(&quote_name(&bronze), &quote_name(gold), window_ms),
        ) {
            Ok(result) => result,
            Err(measured) => {
                return sql_error(
                    measured,
                    &["tag_path", "last_event_time"],
                    &format!("`tag_path` and `last_event_time` of {gold}, `tag_path` of {bronze}"),
                );
            }
        };
        // After a change, gold must show something that arrived since: right after a change
        // nothing has waited long yet, so a pipeline that stopped still looks on time.
        if let Some(since) = context.since_ms {
            let shown = match run_sql(
                spec,
                context,
                shown_since_statement(&quote_name(&bronze), &quote_name(gold), since),
            ) {
                Ok(result) => result.rows.first().and_then(|row| integer(row.first())),
                Err(measured) => return measured,
            };
            if shown.unwrap_or(0) == 0 {
                problems.push(format!(
                    "{gold} shows no event that arrived since the change being verified ({})",
                    instant_words(since)
                ));
            }
        }
        let found = gold_waits(&result.rows);
        let tags = found.waits.samples();
        to_gold = StageFigures::of(&found.waits);
        let mut gold_json = stage_json(to_gold, tags);
        gold_json["tags_waiting"] = json!(found.waiting);
        gold_json["tags_not_in_gold"] = json!(found.unknown);
        figures["bronze_to_gold"] = gold_json;
        match to_gold {
            Some(stage) => words.push(format!(
                "bronze → gold {} ({tags} tags, {} waiting)",
                stage_words(stage),
                found.waiting
            )),
            None => problems.push(format!(
                "{gold} shows none of the {} tags with telemetry in the last {minutes_words}: is the pipeline running?",
                found.unknown
            )),
        }
    }

    for (key, figure, budget) in over_budget(&budgets, Some(to_bronze), to_gold, newest_age_ms) {
        problems.push(format!(
            "{key} is {} s, over its budget of {} s",
            format_number(figure),
            format_number(budget)
        ));
    }
    let value = Value::String(match to_gold {
        Some(gold) => format!(
            "p95 {} s to bronze, {} s to gold",
            format_number(seconds(to_bronze.p95_ms)),
            format_number(seconds(gold.p95_ms))
        ),
        None => format!(
            "p95 {} s to bronze",
            format_number(seconds(to_bronze.p95_ms))
        ),
    });
    let mut message = words.join("; ");
    message.push_str(&format!(" over the last {minutes_words}"));
    if !problems.is_empty() {
        message = format!("{}: {message}", problems.join("; "));
    }
    Measured::judged(problems.is_empty(), value, Some(message)).with_figures(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(values: &[i64]) -> Delays {
        Delays::from_counts(values.iter().map(|v| (*v, 1)))
    }

    #[test]
    fn issue_16_percentiles_are_nearest_rank() {
        let hundred: Vec<i64> = (1..=100).collect();
        let d = delays(&hundred);
        assert_eq!(d.percentile(50.0), Some(50));
        assert_eq!(d.percentile(95.0), Some(95));
        assert_eq!(d.percentile(100.0), Some(100));
        // Twenty samples: p95 is the 19th smallest, so one outlier in twenty does not count.
        let mut twenty = vec![100; 19];
        twenty.push(60_000);
        let d = delays(&twenty);
        assert_eq!(d.percentile(95.0), Some(100));
        assert_eq!(d.percentile(100.0), Some(60_000));
        // Two outliers in twenty do.
        twenty[0] = 60_000;
        assert_eq!(delays(&twenty).percentile(95.0), Some(60_000));
        // One sample is every percentile; none is none.
        assert_eq!(delays(&[7]).percentile(50.0), Some(7));
        assert_eq!(delays(&[7]).percentile(95.0), Some(7));
        assert_eq!(Delays::default().percentile(50.0), None);
    }

    #[test]
    fn issue_16_counted_delays_weigh_as_many_samples_in_any_order() {
        let counted = Delays::from_counts([(900, 2), (100, 7), (2500, 1), (5, 0)]);
        let spelled = delays(&[100, 100, 100, 100, 100, 100, 100, 900, 900, 2500]);
        assert_eq!(counted.samples(), 10);
        for p in [1.0, 50.0, 70.0, 71.0, 90.0, 95.0, 100.0] {
            assert_eq!(counted.percentile(p), spelled.percentile(p), "p{p}");
        }
        assert_eq!(counted.percentile(70.0), Some(100));
        assert_eq!(counted.percentile(80.0), Some(900));
        assert_eq!(counted.percentile(95.0), Some(2500));
    }

    #[test]
    fn issue_16_budgets_fail_only_the_figures_above_them() {
        let budgets = LatencyBudgets {
            tag_to_bronze_p95_seconds: Some(2.0),
            bronze_to_gold_p50_seconds: Some(1.0),
            bronze_to_gold_p95_seconds: Some(3.0),
            ..LatencyBudgets::default()
        };
        let bronze = StageFigures {
            p50_ms: 400,
            p95_ms: 2000,
        };
        let gold = StageFigures {
            p50_ms: 1001,
            p95_ms: 3000,
        };
        // A figure equal to its budget meets it; one millisecond over does not.
        assert_eq!(
            over_budget(&budgets, Some(bronze), Some(gold), None),
            vec![("bronze_to_gold_p50_seconds", 1.001, 1.0)]
        );
        let late = StageFigures {
            p50_ms: 400,
            p95_ms: 2001,
        };
        assert_eq!(
            over_budget(&budgets, Some(late), None, None),
            vec![("tag_to_bronze_p95_seconds", 2.001, 2.0)]
        );
    }

    #[test]
    fn issue_16_gold_waits_count_from_the_oldest_unshown_event_and_leave_out_unknown_tags() {
        let row = |unknown: &str, oldest: Option<&str>, now: &str| {
            vec![
                Some("[default]A".to_string()),
                Some(unknown.to_string()),
                oldest.map(str::to_string),
                Some(now.to_string()),
            ]
        };
        let found = gold_waits(&[
            row("0", None, "10000"),
            row("0", Some("7500"), "10000"),
            row("1", Some("1000"), "10000"),
            // A clock a little behind the connector's does not make a negative wait.
            row("0", Some("10200"), "10000"),
        ]);
        assert_eq!(found.unknown, 1);
        assert_eq!(found.waiting, 2);
        assert_eq!(
            found.waits,
            Delays::from_counts([(0, 1), (2500, 1), (0, 1)])
        );
        assert_eq!(found.waits.percentile(95.0), Some(2500));
    }

    #[test]
    fn issue_16_expectations_name_each_budget() {
        let spec: CheckSpec = serde_json::from_value(json!({
            "type": "latency",
            "table": "main.s.bronze",
            "budgets": {"tag_to_bronze_p95_seconds": 2, "bronze_to_gold_p95_seconds": 2.5}
        }))
        .unwrap();
        assert_eq!(
            describe(&spec),
            "to bronze p95 <= 2 s, to gold p95 <= 2.5 s"
        );
    }
}
