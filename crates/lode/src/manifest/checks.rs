//! Loading `kind: check` documents. Checks are manifests but not resources: they are validated
//! like every other document (strict fields, every problem with file, line and column,
//! `${var.x}`/`${env.X}` interpolated, `${ref...}` targets checked to exist) and land in
//! `Desired::checks`, where plans and applies never look. Which fields each check `type` needs
//! and allows is checked here, since the spec is one flat struct for positions' sake.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::interpolate::{Interpolator, references_in};
use super::kinds::{CheckExpectation, CheckSpec, CheckType, LatencyBudgets};
use super::load::{SpecContext, interpolate_value, locate, to_value};
use super::yaml;
use super::{Address, Check, DesiredResource, ManifestError, Origin};

/// A check document: no `depends_on` or `lifecycle`, since a check changes nothing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckDocument {
    #[allow(dead_code)]
    kind: String,
    name: Spanned<String>,
    spec: CheckSpec,
}

/// A check that parsed, before its references and name are checked against the others.
pub(super) struct PendingCheck {
    check: Check,
    name_column: usize,
    /// Each `${ref...}` target with where its token is.
    references: Vec<(Address, usize, usize)>,
}

/// Fields by check type: (type, required, optional besides the common ones).
const FIELDS: [(CheckType, &[&str], &[&str]); 9] = [
    (CheckType::Sql, &["statement", "expect"], &[]),
    (CheckType::RowCount, &["table", "expect"], &[]),
    (
        CheckType::TagCount,
        &["path", "expect"],
        &["provider", "instances_of"],
    ),
    (
        CheckType::PipelineState,
        &["pipeline", "expect_state"],
        &["expect_last_update"],
    ),
    (
        CheckType::Freshness,
        &["table", "column", "within_minutes"],
        &[],
    ),
    (CheckType::Http, &["url"], &["expect_status", "headers"]),
    (
        CheckType::Genie,
        &["space", "question", "within_seconds"],
        &["min_rows", "answer_contains", "column", "within_minutes"],
    ),
    (
        CheckType::Latency,
        &["table", "budgets"],
        &["gold_table", "window_minutes"],
    ),
    (
        CheckType::Probe,
        &["table", "budgets"],
        &["gold_table", "space", "question"],
    ),
];

/// The budget keys of each flow check type.
const LATENCY_BUDGETS: [&str; 5] = [
    "tag_to_bronze_p50_seconds",
    "tag_to_bronze_p95_seconds",
    "bronze_to_gold_p50_seconds",
    "bronze_to_gold_p95_seconds",
    "newest_event_age_seconds",
];
const PROBE_BUDGETS: [&str; 3] = ["to_bronze_seconds", "to_gold_seconds", "to_answer_seconds"];

/// The longest `window_minutes` a latency check may read: a day of telemetry.
const MAX_WINDOW_MINUTES: u64 = 24 * 60;

/// Fields every check may have.
const COMMON: [&str; 5] = [
    "type",
    "description",
    "severity",
    "timeout_seconds",
    "settle_seconds",
];

fn fields_of(check_type: CheckType) -> (&'static [&'static str], &'static [&'static str]) {
    FIELDS
        .iter()
        .find(|(t, _, _)| *t == check_type)
        .map(|(_, required, optional)| (*required, *optional))
        .expect("every check type has a field list")
}

/// Parses, interpolates and validates one check document; problems go to `context.errors`.
/// `config_failed`: lode.yaml or the environment file is invalid, so unresolved variables are
/// consequences of that, not reported again here.
pub(super) fn parse_check(
    context: &mut SpecContext,
    interpolator: &mut Interpolator,
    config_failed: bool,
) -> Option<PendingCheck> {
    let document: CheckDocument = match yaml::parse(context.file, context.document) {
        Ok(document) => document,
        Err(error) => {
            context.errors.push(error);
            return None;
        }
    };
    let name = document.name.value.clone();
    let (name_line, name_column) = context.document.at(document.name.referenced);
    let name_problem = if name.trim().is_empty() {
        Some(("`name` is empty".to_string(), "give the check a name"))
    } else if name.contains('/') {
        Some((
            format!("`{name}` contains `/`"),
            "check names are single words; use `_` instead of `/`",
        ))
    } else {
        None
    };
    if let Some((message, hint)) = name_problem {
        context.errors.push(
            ManifestError::new(context.file, name_line, name_column, message).with_hint(hint),
        );
        return None;
    }

    let mut value = to_value(&document.spec);
    interpolator.references.clear();
    if let Err((token, error)) = interpolate_value(&mut value, interpolator) {
        let (line, column) = locate(context.document, &token);
        let line = if context.document.text.contains(&token) {
            line
        } else {
            name_line
        };
        if config_failed && error.follows_from_config() {
            return None;
        }
        context.errors.push(
            ManifestError::new(context.file, line, column, format!("{error} in `{token}`"))
                .with_hint(error.hint()),
        );
        return None;
    }
    let spec: CheckSpec = match serde_json::from_value(value.clone()) {
        Ok(spec) => spec,
        Err(error) => {
            context.errors.push(ManifestError::new(
                context.file,
                name_line,
                name_column,
                format!("after interpolation the spec is invalid: {error}"),
            ));
            return None;
        }
    };
    let errors_before = context.errors.len();
    validate(context, &spec, &value);
    if context.errors.len() > errors_before {
        return None;
    }

    let mut references = Vec::new();
    for text in strings(&value) {
        for (_, address, _) in references_in(text) {
            let needle = format!("ref.{}.{}.", address.kind, address.name);
            let (line, column) = locate(context.document, &needle);
            // Point at the `${` that opens the reference.
            references.push((address, line, column.saturating_sub(2).max(1)));
        }
    }
    let mut addresses: Vec<Address> = references.iter().map(|(a, _, _)| a.clone()).collect();
    addresses.sort();
    addresses.dedup();
    Some(PendingCheck {
        check: Check {
            name,
            spec,
            references: addresses,
            origin: Origin {
                file: context.file.to_string(),
                line: name_line,
            },
        },
        name_column,
        references,
    })
}

/// Every string in a JSON value.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(map) => map.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-type required and allowed fields, and the values that cannot work.
fn validate(context: &mut SpecContext, spec: &CheckSpec, value: &Value) {
    let check_type = spec.check_type;
    let (required, optional) = fields_of(check_type);
    let present: BTreeSet<&str> = value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    let mut takes: Vec<&str> = required.to_vec();
    takes.extend(optional);
    for field in &present {
        if !COMMON.contains(field) && !takes.contains(field) {
            context.error(
                &format!("{field}:"),
                format!("`{field}` does not apply to a {check_type} check"),
                format!(
                    "a {check_type} check takes {}; remove `{field}` or change `type`",
                    quoted(&takes)
                ),
            );
        }
    }
    for field in required {
        if !present.contains(field) {
            context.error(
                "type:",
                format!("a {check_type} check needs `{field}`"),
                format!("a {check_type} check needs {}", quoted(required)),
            );
        }
    }
    if let Some(expect) = &spec.expect {
        validate_expectation(context, expect);
    }
    if let Some(budgets) = &spec.budgets {
        validate_budgets(context, spec, budgets);
    }
    if check_type == CheckType::Probe && spec.space.is_some() != spec.question.is_some() {
        let (given, missing) = if spec.space.is_some() {
            ("space", "question")
        } else {
            ("question", "space")
        };
        context.error(
            &format!("{given}:"),
            format!("`{given}` without `{missing}`"),
            "a probe asks Genie only with both: the space (`${ref.genie_space.x.id}`) and the question whose answer shows the probe's value",
        );
    }
    if let Some(minutes) = spec.window_minutes
        && !(1..=MAX_WINDOW_MINUTES).contains(&minutes)
    {
        context.error(
            "window_minutes:",
            format!("`window_minutes: {minutes}` is outside 1 to {MAX_WINDOW_MINUTES}"),
            "measure over at least the last minute and at most a day, e.g. `window_minutes: 5`",
        );
    }
    if spec.timeout_seconds == Some(0) {
        context.error(
            "timeout_seconds:",
            "`timeout_seconds` is 0",
            "give the measurement at least 1 second",
        );
    }
    if check_type == CheckType::Genie && spec.column.is_some() != spec.within_minutes.is_some() {
        let (given, missing) = if spec.column.is_some() {
            ("column", "within_minutes")
        } else {
            ("within_minutes", "column")
        };
        context.error(
            &format!("{given}:"),
            format!("`{given}` without `{missing}`"),
            "a genie check judges the age of its answer's rows by `column` (a timestamp column of the answer) and `within_minutes` together",
        );
    }
    if spec.within_minutes == Some(0) {
        context.error(
            "within_minutes:",
            "`within_minutes` is 0",
            "allow at least 1 minute",
        );
    }
    if spec.within_seconds == Some(0) {
        context.error(
            "within_seconds:",
            "`within_seconds` is 0",
            "allow at least 1 second",
        );
    }
    if let Some(status) = spec.expect_status
        && !(100..=599).contains(&status)
    {
        context.error(
            "expect_status:",
            format!("{status} is not an HTTP status"),
            "use a status from 100 to 599, e.g. 200",
        );
    }
    for (field, table) in [("table", &spec.table), ("gold_table", &spec.gold_table)] {
        if let Some(table) = table
            && !table.contains("${ref.")
            && !is_table_name(table)
        {
            context.error(
                &format!("{field}:"),
                format!("`{table}` is not a table name"),
                "write `catalog.schema.table` (letters, digits, `_` and `-` in each part)",
            );
        }
    }
    if let Some(column) = &spec.column
        && !is_identifier(column)
    {
        context.error(
            "column:",
            format!("`{column}` is not a column name"),
            "write the column's name: letters, digits, `_` and `-`",
        );
    }
    if let Some(url) = &spec.url
        && !url.starts_with("${ref.")
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        context.error(
            "url:",
            format!("`{url}` is not an http(s) URL"),
            "start it with http:// or https://, or reference one: `${ref.workspace_file.x.url}`",
        );
    }
    if let Some(path) = &spec.path
        && (path.starts_with('/') || path.ends_with('/') || path.contains("//"))
    {
        context.error(
            "path:",
            format!("`{path}` is not a tag folder path"),
            "write the path without leading, trailing or doubled `/`, e.g. `Mining/Equipment`",
        );
    }
    for (field, text) in [
        ("statement", &spec.statement),
        ("question", &spec.question),
        ("space", &spec.space),
        ("pipeline", &spec.pipeline),
    ] {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            context.error(
                &format!("{field}:"),
                format!("`{field}` is empty"),
                "give it a value",
            );
        }
    }
}

/// A flow check's budgets: at least one of its type's keys, each a positive number of seconds,
/// and each with the table or Genie space it is measured on.
fn validate_budgets(context: &mut SpecContext, spec: &CheckSpec, budgets: &LatencyBudgets) {
    let keys: &[&str] = if spec.check_type == CheckType::Probe {
        &PROBE_BUDGETS
    } else {
        &LATENCY_BUDGETS
    };
    let given = budgets.given();
    if given.is_empty() {
        context.error(
            "budgets:",
            "`budgets` gives no budget",
            format!("give at least one of {}", quoted(keys)),
        );
    }
    for (key, seconds) in given {
        if !keys.contains(&key) {
            context.error(
                &format!("{key}:"),
                format!("`{key}` is not a budget of a {} check", spec.check_type),
                format!("a {} check's budgets are {}", spec.check_type, quoted(keys)),
            );
            continue;
        }
        if !seconds.is_finite() || seconds <= 0.0 {
            context.error(
                &format!("{key}:"),
                format!("`{key}: {seconds}` is not a positive number of seconds"),
                "a budget is the most the figure may be, in seconds, above 0, e.g. `2` or `0.5`",
            );
        }
        if (key.starts_with("bronze_to_gold") || key == "to_gold_seconds")
            && spec.gold_table.is_none()
        {
            context.error(
                &format!("{key}:"),
                format!("`{key}` needs `gold_table`"),
                "name the gold table the pipeline computes from `table` (`gold_table: catalog.schema.table`), or remove the gold budgets",
            );
        }
        if key == "to_answer_seconds" && (spec.space.is_none() || spec.question.is_none()) {
            context.error(
                &format!("{key}:"),
                format!("`{key}` needs `space` and `question`"),
                "name the Genie space and the question whose answer shows the probe's value, or remove `to_answer_seconds`",
            );
        }
    }
}

fn validate_expectation(context: &mut SpecContext, expect: &CheckExpectation) {
    if expect.equals.is_none()
        && expect.between.is_none()
        && expect.at_least.is_none()
        && expect.at_most.is_none()
    {
        context.error(
            "expect:",
            "`expect` has no bound",
            "give `equals`, `between: [low, high]`, `at_least` or `at_most`",
        );
    }
    if let Some(equals) = &expect.equals
        && !matches!(equals, Value::Number(_) | Value::String(_) | Value::Bool(_))
    {
        context.error(
            "equals:",
            "`equals` must be a number, a text or true/false",
            "e.g. `equals: 15`",
        );
    }
    if let Some([low, high]) = expect.between
        && low > high
    {
        context.error(
            "between:",
            format!("`between: [{low}, {high}]` is empty: the low bound is above the high one"),
            "write `[low, high]`",
        );
    }
    if let (Some(low), Some(high)) = (expect.at_least, expect.at_most)
        && low > high
    {
        context.error(
            "at_least:",
            format!("`at_least: {low}` is above `at_most: {high}`"),
            "no value can satisfy both; fix one bound",
        );
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `table`, `schema.table` or `catalog.schema.table`, each part a plain identifier.
pub fn is_table_name(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    (1..=3).contains(&parts.len()) && parts.iter().all(|p| is_identifier(p))
}

/// Duplicate names and references to resources no manifest declares; the checks, by name.
pub(super) fn finish_checks(
    pending: Vec<PendingCheck>,
    resources: &BTreeMap<Address, DesiredResource>,
    explained: &dyn Fn(&Address) -> bool,
    errors: &mut Vec<ManifestError>,
) -> Vec<Check> {
    let mut checks: BTreeMap<String, Check> = BTreeMap::new();
    for pending in pending {
        let check = pending.check;
        for (address, line, column) in &pending.references {
            if !resources.contains_key(address) && !explained(address) {
                errors.push(
                    ManifestError::new(
                        &check.origin.file,
                        *line,
                        *column,
                        format!(
                            "check {} references {address}, which no manifest declares",
                            check.name
                        ),
                    )
                    .with_hint("declare it, or fix the reference (`${ref.kind.name.field}`)"),
                );
            }
        }
        if let Some(existing) = checks.get(&check.name) {
            errors.push(
                ManifestError::new(
                    &check.origin.file,
                    check.origin.line,
                    pending.name_column,
                    format!(
                        "duplicate check {}: already declared in {}:{}",
                        check.name, existing.origin.file, existing.origin.line
                    ),
                )
                .with_hint("every check needs its own `name`"),
            );
            continue;
        }
        checks.insert(check.name.clone(), check);
    }
    checks.into_values().collect()
}
