//! The Databricks kinds' validation and canonical specs (schema, table, pipeline, genie_space,
//! quality_monitor, workspace_file), their identities, and the dependencies they imply by value:
//! a table on its schema, a pipeline on its source files, a Genie space on its tables, a monitor
//! on its table. Seed CSV files become canonical rows here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::kinds::*;
use super::load::{SpecContext, str_field, to_value};
use super::table_data::{canonical_cell, canonical_type, is_known_type, parse_csv};
use super::{Address, DesiredResource};

/// The tag lode puts on the pipelines it owns (so a lost create is found, never duplicated).
pub const PIPELINE_MARKER_TAG: &str = "lode_address";

/// A plain SQL identifier (interpolated values are checked once they are known).
fn check_identifier(context: &mut SpecContext, field: &str, value: &str) {
    if value.contains("${") {
        return;
    }
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        context.error(
            &format!("{field}:"),
            format!("`{value}` is not a valid {field} name"),
            "use letters, digits and `_` only",
        );
    }
}

pub(super) fn build_schema(
    context: &mut SpecContext,
    name: &str,
    mut spec: SchemaSpec,
) -> Option<Value> {
    let schema_name = spec.name.get_or_insert_with(|| name.to_string()).clone();
    check_identifier(context, "catalog", &spec.catalog);
    check_identifier(context, "name", &schema_name);
    Some(to_value(&spec))
}

pub(super) fn build_table(context: &mut SpecContext, name: &str, spec: TableSpec) -> Option<Value> {
    let table_name = spec.name.clone().unwrap_or_else(|| name.to_string());
    check_identifier(context, "catalog", &spec.catalog);
    check_identifier(context, "schema", &spec.schema);
    check_identifier(context, "name", &table_name);
    if spec.columns.is_empty() {
        context.error(
            "columns:",
            format!("table `{table_name}` has no columns"),
            "list its columns with name and type",
        );
    }
    let mut seen = BTreeSet::new();
    for column in &spec.columns {
        if !seen.insert(column.name.to_ascii_lowercase()) {
            context.error(
                &format!("name: {}", column.name),
                format!("column `{}` appears twice", column.name),
                "column names are unique, ignoring case",
            );
        }
        if !is_known_type(&column.data_type) {
            context.error(
                &format!("type: {}", column.data_type),
                format!("`{}` is not a column type lode supports", column.data_type),
                "use string, int, bigint, smallint, tinyint, double, float, boolean, date, timestamp or decimal(p,s)",
            );
        }
    }
    for key in &spec.primary_key {
        match spec.columns.iter().find(|c| &c.name == key) {
            None => context.error(
                "primary_key:",
                format!("primary key column `{key}` is not a column"),
                "name columns of this table",
            ),
            Some(column) if column.nullable => context.error(
                &format!("name: {key}"),
                format!("primary key column `{key}` is nullable"),
                "add `nullable: false` to it: Databricks keys are NOT NULL",
            ),
            Some(_) => {}
        }
    }
    let columns: Vec<Value> = spec
        .columns
        .iter()
        .map(|c| {
            let mut column = json!({"name": c.name, "type": canonical_type(&c.data_type), "nullable": c.nullable});
            if let Some(comment) = &c.comment {
                column["comment"] = json!(comment);
            }
            column
        })
        .collect();
    let mut value = json!({
        "catalog": spec.catalog,
        "schema": spec.schema,
        "name": table_name,
        "columns": columns,
        "properties": spec.properties,
    });
    if let Some(comment) = &spec.comment {
        value["comment"] = json!(comment);
    }
    if !spec.primary_key.is_empty() {
        value["primary_key"] = json!(spec.primary_key);
    }
    if let Some(seed) = &spec.seed {
        if spec.primary_key.is_empty() {
            context.error(
                "seed:",
                "a seeded table needs a `primary_key`",
                "seed rows are reconciled by key; name the key columns",
            );
            return None;
        }
        let (path, text) = context.payload("seed", seed)?;
        value["rows"] = json!(seed_rows(context, &path, &text, &spec)?);
    }
    Some(value)
}

/// Seed rows in column order, canonical cells, sorted by key; `None` after reporting problems.
fn seed_rows(
    context: &mut SpecContext,
    path: &str,
    text: &str,
    spec: &TableSpec,
) -> Option<Vec<Vec<Value>>> {
    let mut fail = |message: String, hint: &str| {
        context
            .errors
            .push(super::ManifestError::new(path, 1, 1, message).with_hint(hint.to_string()));
        None
    };
    let rows = match parse_csv(text) {
        Ok(rows) => rows,
        Err(error) => {
            return fail(
                format!("invalid CSV: {error}"),
                "seed files are CSV with a header row",
            );
        }
    };
    let Some((header, body)) = rows.split_first() else {
        return fail(
            "the seed file is empty".into(),
            "start it with a header row naming the columns",
        );
    };
    let mut positions = Vec::new();
    for column in header {
        match spec.columns.iter().position(|c| c.name == column.trim()) {
            Some(index) => positions.push(index),
            None => {
                return fail(
                    format!("header column `{column}` is not a column of the table"),
                    "the header names the table's columns",
                );
            }
        }
    }
    let key_indexes: Vec<usize> = spec
        .primary_key
        .iter()
        .filter_map(|k| spec.columns.iter().position(|c| &c.name == k))
        .collect();
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut keys = BTreeSet::new();
    for (index, row) in body.iter().enumerate() {
        let line = index + 2;
        if row.len() != header.len() {
            return fail(
                format!(
                    "line {line}: {} values for {} columns",
                    row.len(),
                    header.len()
                ),
                "every row has one value per header column",
            );
        }
        let mut cells = vec![Value::Null; spec.columns.len()];
        for (value, &column) in row.iter().zip(&positions) {
            if value.is_empty() {
                continue;
            }
            match canonical_cell(&spec.columns[column].data_type, value) {
                Ok(cell) => cells[column] = json!(cell),
                Err(error) => {
                    return fail(
                        format!(
                            "line {line}, column `{}`: {error}",
                            spec.columns[column].name
                        ),
                        "fix the value or the column type",
                    );
                }
            }
        }
        for (column, cell) in spec.columns.iter().zip(&cells) {
            if !column.nullable && cell.is_null() {
                return fail(
                    format!(
                        "line {line}: column `{}` is empty but not nullable",
                        column.name
                    ),
                    "give it a value",
                );
            }
        }
        let key: Vec<String> = key_indexes.iter().map(|&k| cells[k].to_string()).collect();
        if !keys.insert(key.clone()) {
            return fail(
                format!("line {line}: key {} appears twice", key.join(", ")),
                "primary keys are unique",
            );
        }
        out.push(cells);
    }
    out.sort_by_key(|row| {
        key_indexes
            .iter()
            .map(|&k| row[k].to_string())
            .collect::<Vec<_>>()
    });
    Some(out)
}

pub(super) fn build_pipeline(
    context: &mut SpecContext,
    name: &str,
    mut spec: PipelineSpec,
) -> Option<Value> {
    spec.name.get_or_insert_with(|| name.to_string());
    check_identifier(context, "catalog", &spec.catalog);
    check_identifier(context, "schema", &spec.schema);
    if spec.libraries.is_empty() {
        context.error(
            "libraries:",
            "a pipeline needs at least one library",
            "add `- file: {path: /Workspace/...}` entries for its SQL sources",
        );
    }
    for library in &spec.libraries {
        let kinds = ["notebook", "file", "glob", "jar", "whl", "maven"]
            .iter()
            .filter(|k| library.get(**k).is_some())
            .count();
        if kinds != 1 || library.as_object().is_none_or(|o| o.len() != 1) {
            context.error(
                "libraries:",
                "each library has exactly one of `notebook`, `file`, `glob`, `jar`, `whl` or `maven`",
                "e.g. `- file: {path: /Workspace/Shared/demo/silver.sql}`",
            );
            continue;
        }
        // The API wants `{file: {path}}`, not `{file: "/x.sql"}`, and `{glob: {include}}`.
        for (kind, field) in [("notebook", "path"), ("file", "path"), ("glob", "include")] {
            if let Some(source) = library.get(kind)
                && !source.get(field).is_some_and(Value::is_string)
            {
                context.error(
                    "libraries:",
                    format!("a `{kind}` library needs `{field}`, a string"),
                    format!("write `- {kind}: {{{field}: ...}}`"),
                );
            }
        }
    }
    for (field, value, allowed) in [
        (
            "channel",
            &spec.channel,
            &lode_wire::databricks_values::PIPELINE_CHANNELS[..],
        ),
        (
            "edition",
            &spec.edition,
            &lode_wire::databricks_values::PIPELINE_EDITIONS[..],
        ),
    ] {
        if !value.contains("${") && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value)) {
            context.error(
                &format!("{field}:"),
                format!("`{value}` is not a pipeline {field}"),
                format!("use one of {}", allowed.join(", ")),
            );
        }
    }
    if spec.tags.contains_key(PIPELINE_MARKER_TAG) {
        context.error(
            PIPELINE_MARKER_TAG,
            format!("the tag `{PIPELINE_MARKER_TAG}` is lode's own"),
            "remove it; lode adds it to pipelines it owns",
        );
    }
    if spec.tags.len() > 24 {
        context.error(
            "tags:",
            "a pipeline may have at most 25 tags, and lode uses one",
            "remove some tags",
        );
    }
    Some(to_value(&spec))
}

pub(super) fn build_genie_space(
    context: &mut SpecContext,
    _: &str,
    spec: GenieSpaceSpec,
) -> Option<Value> {
    if spec.tables.is_empty() {
        context.error(
            "tables:",
            "a Genie space needs at least one table",
            "list full table names: catalog.schema.table",
        );
    }
    if spec.tables.len() > 30 {
        context.error(
            "tables:",
            "a Genie space can use at most 30 tables",
            "split the space",
        );
    }
    for table in &spec.tables {
        if !table.contains("${") && table.split('.').count() != 3 {
            context.error(
                table,
                format!("`{table}` is not a full table name"),
                "write catalog.schema.table",
            );
        }
    }
    let mut value = to_value(&spec);
    // Genie keeps tables sorted; so does the canonical spec.
    let mut tables = spec.tables.clone();
    tables.sort();
    value["tables"] = json!(tables);
    Some(value)
}

/// One field of a Quartz cron expression: its name, its range, and the names its values have.
struct CronField {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const CRON_FIELDS: [CronField; 7] = [
    CronField {
        name: "seconds",
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    CronField {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    CronField {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    CronField {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    CronField {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: WEEKDAYS,
    },
    CronField {
        name: "year",
        min: 1970,
        max: 2099,
        names: &[],
    },
];

const QUARTZ_HINT: &str = "Quartz has 6 or 7 fields: seconds minutes hours day-of-month month day-of-week [year], \
     with `?` in exactly one of the day fields; `0 0 * * * ?` is hourly, `0 30 6 ? * MON-FRI` is 06:30 on weekdays";

/// Checks a Quartz cron expression (what Databricks schedules take), the way Quartz parses it:
/// 6 or 7 fields, each a list of `*`, values, ranges and `/` steps within its range, `?`
/// in exactly one of the day fields, and `L`, `W` and `#` where Quartz allows them.
/// Returns what is wrong.
pub fn check_quartz(expression: &str) -> Result<(), String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        let unix = if fields.len() == 5 {
            " (a Unix cron expression has 5: Quartz adds seconds first)"
        } else {
            ""
        };
        return Err(format!(
            "`{expression}` is not a Quartz cron expression: it has {} field{}, Quartz needs 6 or 7{unix}",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" }
        ));
    }
    for (text, field) in fields.iter().zip(CRON_FIELDS.iter()) {
        check_cron_field(text, field).map_err(|problem| {
            format!(
                "`{expression}`: the {} field `{text}` {problem}",
                field.name
            )
        })?;
    }
    match (fields[3] == "?", fields[5] == "?") {
        (true, true) => Err(format!(
            "`{expression}`: `?` may stand in only one of day-of-month and day-of-week"
        )),
        (false, false) => Err(format!(
            "`{expression}`: Quartz needs `?` in day-of-month or day-of-week (it cannot match both)"
        )),
        _ => Ok(()),
    }
}

fn check_cron_field(text: &str, field: &CronField) -> Result<(), String> {
    let is_day = matches!(field.name, "day-of-month" | "day-of-week");
    let upper = text.to_ascii_uppercase();
    if upper == "?" {
        return if is_day {
            Ok(())
        } else {
            Err("cannot be `?` (only day-of-month and day-of-week can)".into())
        };
    }
    for item in upper.split(',') {
        if item.is_empty() {
            return Err("has an empty list item".into());
        }
        if item == "?" {
            return Err("mixes `?` into a list".into());
        }
        if field.name == "day-of-month" {
            if matches!(item, "L" | "LW") {
                continue;
            }
            if let Some(offset) = item.strip_prefix("L-") {
                cron_value(offset, 1, 30, &[])
                    .map_err(|_| format!("has `{item}`: `L-n` needs n in 1-30"))?;
                continue;
            }
            if let Some(day) = item.strip_suffix('W') {
                cron_value(day, 1, 31, &[])
                    .map_err(|_| format!("has `{item}`: `nW` needs a day 1-31"))?;
                continue;
            }
        }
        if field.name == "day-of-week" {
            if item == "L" {
                continue;
            }
            if let Some(day) = item.strip_suffix('L') {
                cron_value(day, 1, 7, WEEKDAYS)
                    .map_err(|_| format!("has `{item}`: `nL` needs a weekday 1-7 or SUN-SAT"))?;
                continue;
            }
            if let Some((day, nth)) = item.split_once('#') {
                cron_value(day, 1, 7, WEEKDAYS)
                    .map_err(|_| format!("has `{item}`: `d#n` needs a weekday 1-7 or SUN-SAT"))?;
                cron_value(nth, 1, 5, &[])
                    .map_err(|_| format!("has `{item}`: `d#n` needs n in 1-5"))?;
                continue;
            }
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            cron_value(step, 1, field.max, &[])
                .map_err(|_| format!("has step `/{step}`: it must be 1-{}", field.max))?;
        }
        if range == "*" {
            continue;
        }
        let (start, end) = match range.split_once('-') {
            Some((start, end)) => (start, Some(end)),
            None => (range, None),
        };
        for value in std::iter::once(start).chain(end) {
            cron_value(value, field.min, field.max, field.names).map_err(|_| {
                let names = match field.names.first().zip(field.names.last()) {
                    Some((first, last)) => format!(" or {first}-{last}"),
                    None => String::new(),
                };
                if value.is_empty() {
                    format!("has `{item}`, which is not a value, range or step")
                } else {
                    format!("has `{value}`, outside {}-{}{names}", field.min, field.max)
                }
            })?;
        }
    }
    Ok(())
}

/// A number in `min..=max`, or one of `names` (the first is `min`).
fn cron_value(text: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, ()> {
    if let Some(index) = names.iter().position(|name| *name == text) {
        return Ok(min + index as u32);
    }
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let value: u32 = text.parse().map_err(|_| ())?;
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(())
    }
}

/// A time zone id Java accepts: `UTC`, `GMT+05:30`, or an IANA name such as
/// `America/Santiago` (letters, digits, `_`, `-`, `+` and `/`, no spaces).
fn is_time_zone_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | ':'))
        && !id.contains("//")
        && !id.ends_with('/')
}

pub(super) fn build_quality_monitor(
    context: &mut SpecContext,
    _: &str,
    spec: QualityMonitorSpec,
) -> Option<Value> {
    if spec.time_series.is_some() == spec.snapshot.is_some() {
        context.error(
            "table:",
            "a monitor has exactly one profile: `time_series` or `snapshot`",
            "add one of them",
        );
    }
    if !spec.table.contains("${") && spec.table.split('.').count() != 3 {
        context.error(
            "table:",
            format!("`{}` is not a full table name", spec.table),
            "write catalog.schema.table",
        );
    }
    if !spec.output_schema.contains("${") && spec.output_schema.split('.').count() != 2 {
        context.error(
            "output_schema:",
            format!("`{}` is not catalog.schema", spec.output_schema),
            "write catalog.schema",
        );
    }
    if let Some(series) = &spec.time_series {
        if series.granularities.is_empty() {
            context.error(
                "granularities:",
                "a time-series profile needs granularities",
                "e.g. `granularities: [1 hour]`",
            );
        }
        let allowed = &lode_wire::databricks_values::MONITOR_GRANULARITIES;
        for granularity in &series.granularities {
            if !granularity.contains("${") && !allowed.contains(&granularity.as_str()) {
                context.error(
                    "granularities:",
                    format!("`{granularity}` is not a monitor granularity"),
                    format!("use one of: {}", allowed.join(", ")),
                );
            }
        }
    }
    Some(to_value(&spec))
}

pub(super) fn build_workspace_file(
    context: &mut SpecContext,
    _: &str,
    spec: WorkspaceFileSpec,
) -> Option<Value> {
    let (_, content) = context.payload("source", &spec.source)?;
    Some(json!({"path": spec.path, "content": content}))
}

/// Checks and normal forms that need interpolated values: workspace paths must be absolute
/// and are stored without `/Workspace` (as the workspace reports them). Returns the field, the
/// problem and a hint.
pub(super) fn finish(kind: Kind, spec: &mut Value) -> Result<(), (&'static str, String, String)> {
    let fields: &[&'static str] = match kind {
        Kind::WorkspaceFile => &["path"],
        Kind::GenieSpace => &["parent_path"],
        Kind::QualityMonitor => &["assets_dir"],
        _ => &[],
    };
    for field in fields {
        let Some(path) = spec.get(*field).and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        // A reference is resolved (and checked by the workspace) at apply time.
        if path.contains("${ref.") {
            continue;
        }
        if !path.starts_with('/') {
            return Err((
                field,
                format!("`{field}: {path}` is not an absolute workspace path"),
                "workspace paths start with `/`, e.g. /Workspace/Shared/mining_demo".into(),
            ));
        }
        spec[*field] = json!(normalize_workspace_path(&path));
    }
    // Schedules are checked once variables are in: `${var.refresh_cron}` is fine.
    if kind == Kind::QualityMonitor {
        let expression = spec.pointer("/schedule/quartz_cron_expression");
        if let Some(expression) = expression.and_then(Value::as_str)
            && !expression.contains("${ref.")
        {
            check_quartz(expression)
                .map_err(|problem| ("quartz_cron_expression", problem, QUARTZ_HINT.to_string()))?;
        }
        let zone = spec.pointer("/schedule/timezone_id");
        if let Some(zone) = zone.and_then(Value::as_str)
            && !zone.contains("${ref.")
            && !is_time_zone_id(zone)
        {
            return Err((
                "timezone_id",
                format!("`{zone}` is not a time zone id"),
                "use `UTC` or an IANA name such as `America/Santiago` (underscores, not spaces)"
                    .into(),
            ));
        }
    }
    let identifiers: &[&'static str] = match kind {
        Kind::Table => &["catalog", "schema", "name"],
        Kind::Schema => &["catalog", "name"],
        Kind::Pipeline => &["catalog", "schema"],
        _ => &[],
    };
    for field in identifiers {
        let value = spec.get(*field).and_then(Value::as_str).unwrap_or("");
        if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                field,
                format!("`{value}` is not a valid {field} name"),
                "use letters, digits and `_` only".into(),
            ));
        }
    }
    let qualified: &[(&'static str, usize)] = match kind {
        Kind::GenieSpace => &[("tables", 3)],
        Kind::QualityMonitor => &[("table", 3), ("output_schema", 2)],
        _ => &[],
    };
    for (field, parts) in qualified {
        let values: Vec<&str> = match spec.get(*field) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(text)) => vec![text.as_str()],
            _ => Vec::new(),
        };
        for value in values.into_iter().filter(|v| !v.contains("${ref.")) {
            let names: Vec<&str> = value.split('.').collect();
            if names.len() != *parts || names.iter().any(|n| n.is_empty()) {
                let shape = if *parts == 3 {
                    "catalog.schema.table"
                } else {
                    "catalog.schema"
                };
                return Err((
                    field,
                    format!("`{value}` in `{field}` is not a {shape} name"),
                    format!("write {shape}"),
                ));
            }
        }
    }
    Ok(())
}

/// `/Workspace/Shared/x/` → `/Shared/x`: the workspace reports paths without the prefix.
pub fn normalize_workspace_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    trimmed
        .strip_prefix("/Workspace")
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(trimmed)
        .to_string()
}

/// The object a Databricks resource owns.
pub fn locator(kind: Kind, name: &str, spec: &Value) -> String {
    match kind {
        Kind::Schema => format!("{}.{}", str_field(spec, "catalog"), str_field(spec, "name")),
        Kind::Table => full_table_name(spec),
        Kind::Pipeline => format!("pipeline named {}", str_field(spec, "name")),
        Kind::QualityMonitor => format!("monitor of {}", str_field(spec, "table")),
        Kind::WorkspaceFile => str_field(spec, "path").to_string(),
        _ => name.to_string(),
    }
}

/// `catalog.schema.name` of a table spec.
pub fn full_table_name(spec: &Value) -> String {
    format!(
        "{}.{}.{}",
        str_field(spec, "catalog"),
        str_field(spec, "schema"),
        str_field(spec, "name")
    )
}

/// Dependencies implied by values: a table on its schema, a pipeline on its schema and source
/// files, a Genie space on its tables, a monitor on its table and output schema.
pub(super) fn link_by_value(resources: &mut BTreeMap<Address, DesiredResource>) {
    let mut schemas = BTreeMap::new();
    let mut tables = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (address, resource) in resources.iter() {
        match address.kind {
            Kind::Schema => {
                schemas.insert(
                    format!(
                        "{}.{}",
                        str_field(&resource.spec, "catalog"),
                        str_field(&resource.spec, "name")
                    ),
                    address.clone(),
                );
            }
            Kind::Table => {
                tables.insert(full_table_name(&resource.spec), address.clone());
            }
            Kind::WorkspaceFile => {
                files.insert(
                    str_field(&resource.spec, "path").to_string(),
                    address.clone(),
                );
            }
            _ => {}
        }
    }
    for resource in resources.values_mut() {
        let spec = &resource.spec;
        let mut implied: Vec<Address> = Vec::new();
        match resource.address.kind {
            Kind::Table | Kind::Pipeline => {
                let schema = format!(
                    "{}.{}",
                    str_field(spec, "catalog"),
                    str_field(spec, "schema")
                );
                implied.extend(schemas.get(&schema).cloned());
                for library in spec
                    .get("libraries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(path) = library
                        .pointer("/file/path")
                        .or_else(|| library.pointer("/notebook/path"))
                        .and_then(Value::as_str)
                    {
                        implied.extend(files.get(&normalize_workspace_path(path)).cloned());
                    }
                    if let Some(include) = library.pointer("/glob/include").and_then(Value::as_str)
                    {
                        let folder = normalize_workspace_path(
                            include.trim_end_matches("**").trim_end_matches('/'),
                        );
                        let prefix = format!("{folder}/");
                        implied.extend(
                            files
                                .iter()
                                .filter(|(p, _)| p.starts_with(&prefix))
                                .map(|(_, a)| a.clone()),
                        );
                    }
                }
            }
            Kind::GenieSpace => {
                for table in spec
                    .get("tables")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    implied.extend(table.as_str().and_then(|t| tables.get(t)).cloned());
                }
            }
            Kind::QualityMonitor => {
                implied.extend(tables.get(str_field(spec, "table")).cloned());
                implied.extend(schemas.get(str_field(spec, "output_schema")).cloned());
            }
            _ => {}
        }
        for address in implied {
            if address != resource.address && !resource.depends_on.contains(&address) {
                resource.depends_on.push(address);
            }
        }
        resource.depends_on.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::check_quartz;

    #[test]
    fn quartz_expressions_databricks_documents_are_accepted() {
        for expression in [
            "0 0 * * * ?",
            "0 30 6 ? * MON-FRI",
            "0 0/5 14,18 * * ?",
            "0 15 10 ? * 6L 2030",
            "0 0 12 ? * 6#3",
            "0 0 12 L * ?",
            "0 0 12 L-3 * ?",
            "0 0 12 1W * ?",
            "0 0 12 LW * ?",
            "0 0 22-2 * * ?",
            "0 0 0 ? jan,jul sun",
            "*/15 * * ? * *",
            "0 0 0 1 1-12/3 ? 2026-2030",
        ] {
            assert_eq!(check_quartz(expression), Ok(()), "{expression}");
        }
    }

    #[test]
    fn quartz_mistakes_are_named() {
        for (expression, problem) in [
            ("", "0 fields"),
            ("0 * * * *", "Quartz adds seconds first"),
            ("0 0 0 * * ? 2030 x", "8 fields"),
            ("60 0 * * * ?", "seconds field `60` has `60`, outside 0-59"),
            ("0 0 24 * * ?", "hours field"),
            ("0 0 0 32 * ?", "day-of-month field"),
            ("0 0 0 ? 13 MON", "month field"),
            ("0 0 0 ? * 8", "day-of-week field"),
            ("0 0 0 ? * MON 1969", "year field"),
            ("0 0 0 * * *", "cannot match both"),
            ("0 0 0 ? * ?", "only one of"),
            ("? 0 0 * * ?", "cannot be `?`"),
            ("0 0 0 1,? * ?", "mixes `?`"),
            ("0 0 0 1,,2 * ?", "empty list item"),
            ("0 */0 * * * ?", "step `/0`"),
            ("0 */61 * * * ?", "step `/61`"),
            ("0 0 0 ? * MON#6", "`d#n` needs n in 1-5"),
            ("0 0 0 L-31 * ?", "`L-n` needs n in 1-30"),
            ("0 0 0 32W * ?", "`nW` needs a day 1-31"),
            ("0 0 0 ? * 9L", "`nL` needs a weekday"),
            ("0 0 0 1- * ?", "not a value, range or step"),
            ("0 0 0 ? JANUARY MON", "outside 1-12 or JAN-DEC"),
            ("0 0 99999999999 * * ?", "hours field"),
        ] {
            let error = check_quartz(expression).expect_err(expression);
            assert!(error.contains(problem), "{expression}: {error}");
        }
    }
}
