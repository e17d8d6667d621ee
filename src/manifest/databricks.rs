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

/// A Quartz cron expression has 6 or 7 fields (seconds first).
fn check_quartz(context: &mut SpecContext, expression: &str) {
    let fields = expression.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        context.error(
            "quartz_cron_expression:",
            format!("`{expression}` is not a Quartz cron expression ({fields} fields)"),
            "Quartz has 6 or 7 fields, seconds first: `0 0 * * * ?` is hourly",
        );
    }
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
    if let Some(schedule) = &spec.schedule {
        check_quartz(context, &schedule.quartz_cron_expression);
    }
    if let Some(series) = &spec.time_series
        && series.granularities.is_empty()
    {
        context.error(
            "granularities:",
            "a time-series profile needs granularities",
            "e.g. `granularities: [1 hour]`",
        );
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
