//! Running a pipeline update's SQL: every dataset its sources define is refreshed in dependency
//! order on the workspace's SQL engine. A streaming table reads only what its `STREAM(src)`
//! sources gained since the version its last refresh recorded (a `txn` action, app id
//! `<target>:<source>`, committed with the rows); a materialized view is recomputed and replaces
//! its rows; a full refresh starts every streaming table again from nothing. Expectations are
//! evaluated once per row as boolean columns: `DROP ROW` filters, `FAIL UPDATE` fails the
//! update, a bare `EXPECT` counts, and the counts go into the `flow_progress` event the way
//! Databricks' event log shows them. A declared schema must match the query's.

use std::collections::{BTreeMap, BTreeSet};

use deltalake::arrow::array::{Array, AsArray};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::datafusion::common::tree_node::TreeNodeRecursion;
use deltalake::datafusion::functions_aggregate::expr_fn::{count, sum};
use deltalake::datafusion::logical_expr::{Expr, LogicalPlan, when};
use deltalake::datafusion::prelude::{DataFrame, col, ident, lit};
use serde_json::{Value, json};

use super::Workspace;
use super::pipeline_sql::{DatasetDefinition, DatasetKind, Violation, refresh_order};
use super::sql::{Checkpoints, RefreshMode, SqlError, TableType, databricks_type, declared_type};

/// What a refresh of one dataset did, for its `flow_progress` event.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowProgress {
    /// `catalog.schema.table`.
    pub dataset: String,
    pub output_rows: u64,
    pub dropped_rows: u64,
    /// `(name, passed, failed)` per expectation, in declaration order.
    pub expectations: Vec<(String, u64, u64)>,
}

/// The outcome of an update's refreshes: progress per dataset refreshed and the versions of the
/// tables outside the pipeline that the queries read (what a continuous pipeline watches).
#[derive(Debug, Default)]
pub struct UpdateRun {
    pub flows: Vec<FlowProgress>,
    pub source_versions: BTreeMap<String, u64>,
}

/// Where a pipeline publishes: its catalog (`hive_metastore` when unset) and schema.
pub struct Target<'a> {
    pub catalog: &'a str,
    pub schema: &'a str,
    pub pipeline_id: &'a str,
}

impl Target<'_> {
    /// `name` (one to three parts) as `(catalog, schema, table)`, lower case.
    pub fn resolve(&self, name: &str) -> Result<(String, String, String), String> {
        let parts: Vec<String> = name.split('.').map(str::to_lowercase).collect();
        match parts.as_slice() {
            [t] => Ok((
                self.catalog.to_lowercase(),
                self.schema.to_lowercase(),
                t.clone(),
            )),
            [s, t] => Ok((self.catalog.to_lowercase(), s.clone(), t.clone())),
            [c, s, t] => Ok((c.clone(), s.clone(), t.clone())),
            _ => Err(format!("invalid dataset name {name}")),
        }
    }
}

/// Refreshes `definitions` in dependency order. Stops at the first failure, whose message names
/// the source file, line and dataset.
pub async fn run(
    workspace: &Workspace,
    target: &Target<'_>,
    definitions: Vec<DatasetDefinition>,
    full_refresh: bool,
) -> Result<UpdateRun, String> {
    let ordered = refresh_order(definitions)?;
    let own: BTreeSet<String> = ordered
        .iter()
        .filter_map(|d| target.resolve(&d.name).ok())
        .map(|(c, s, t)| format!("{c}.{s}.{t}"))
        .collect();
    let mut run = UpdateRun::default();
    for definition in &ordered {
        if definition.query.is_none() {
            continue;
        }
        let progress = refresh(workspace, target, definition, full_refresh, &own, &mut run)
            .await
            .map_err(|e| {
                format!(
                    "{}: dataset {}: {e}",
                    definition.location(),
                    definition.name
                )
            })?;
        if let Some(progress) = progress {
            run.flows.push(progress);
        }
    }
    Ok(run)
}

/// One dataset. `None` when a streaming table's sources have no new commit (nothing to do).
async fn refresh(
    workspace: &Workspace,
    target: &Target<'_>,
    definition: &DatasetDefinition,
    full_refresh: bool,
    own: &BTreeSet<String>,
    run: &mut UpdateRun,
) -> Result<Option<FlowProgress>, String> {
    let sql = &workspace.sql;
    let (catalog, schema, table) = target.resolve(&definition.name)?;
    let full_name = format!("{catalog}.{schema}.{table}");
    let streaming = definition.kind == DatasetKind::StreamingTable;
    let exists = sql
        .table_version(&catalog, &schema, &table)
        .await
        .map_err(text)?
        .is_some();
    let mut checkpoints = Checkpoints::new();
    let mut reached = Vec::new();
    if streaming {
        for source in definition.stream_sources() {
            let (sc, ss, st) = target.resolve(&source)?;
            let Some(upto) = sql.table_version(&sc, &ss, &st).await.map_err(text)? else {
                // Planning the query reports the missing table with Databricks' error.
                continue;
            };
            let app_id = format!("{table}:{st}");
            let since = if full_refresh || !exists {
                None
            } else {
                sql.stream_checkpoint(&catalog, &schema, &table, &app_id)
                    .await
                    .map_err(text)?
            };
            if !own.contains(&format!("{sc}.{ss}.{st}")) {
                run.source_versions.insert(format!("{sc}.{ss}.{st}"), upto);
            }
            checkpoints.insert(st.clone(), (since, upto));
            reached.push((app_id, upto));
        }
        let unchanged = !checkpoints.is_empty()
            && checkpoints
                .values()
                .all(|(since, upto)| *since == Some(*upto));
        if unchanged && !full_refresh && exists {
            return Ok(None);
        }
    }
    let query = definition.query.as_deref().unwrap_or_default();
    let rows = sql
        .query(query, &catalog, &schema, &checkpoints)
        .await
        .map_err(text)?;
    for read in tables_read(rows.logical_plan(), &catalog, &schema) {
        if own.contains(&read) || run.source_versions.contains_key(&read) {
            continue;
        }
        let parts: Vec<&str> = read.splitn(3, '.').collect();
        if let [c, s, t] = parts.as_slice()
            && let Some(version) = sql.table_version(c, s, t).await.map_err(text)?
        {
            run.source_versions.insert(read.clone(), version);
        }
    }
    if !definition.columns.is_empty() {
        check_declared_schema(definition, &full_name, &rows)?;
    }
    let (kept, progress) = apply_expectations(definition, &full_name, rows).await?;
    if !exists {
        create_from_result(
            workspace,
            target,
            definition,
            &kept,
            (&catalog, &schema, &table),
        )
        .await?;
    }
    let mode = if streaming && !full_refresh && exists {
        RefreshMode::Append
    } else {
        RefreshMode::Replace
    };
    sql.write_refresh(
        &catalog,
        &schema,
        &table,
        kept,
        mode,
        &reached,
        progress.output_rows,
    )
    .await
    .map_err(text)?;
    Ok(Some(progress))
}

fn text(e: SqlError) -> String {
    e.to_string()
}

/// `catalog.schema.table` of every table the plan scans (version suffixes removed).
fn tables_read(plan: &LogicalPlan, catalog: &str, schema: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let resolved = scan.table_name.clone().resolve(catalog, schema);
            let table = resolved.table.split('@').next().unwrap_or_default();
            if &*resolved.schema != "information_schema" {
                found.insert(
                    format!("{}.{}.{table}", resolved.catalog, resolved.schema).to_lowercase(),
                );
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// A declared schema must be what the query gives: the same column names, each of the declared
/// type (a NULL literal fits any type). Databricks refuses the update otherwise.
fn check_declared_schema(
    definition: &DatasetDefinition,
    full_name: &str,
    rows: &DataFrame,
) -> Result<(), String> {
    let produced: Vec<(String, Option<String>)> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().to_lowercase(), databricks_type(f.data_type())))
        .collect();
    let mut problems = Vec::new();
    for column in &definition.columns {
        let declared = declared_type(&column.type_text).map_err(text)?;
        match produced
            .iter()
            .find(|(name, _)| *name == column.name.to_lowercase())
        {
            None => problems.push(format!(
                "column `{}` is declared but the query does not produce it",
                column.name
            )),
            Some((_, Some(found)))
                if *found != declared && found != "VOID" && !both_integers(found, &declared) =>
            {
                problems.push(format!(
                    "column `{}` is declared {declared} but the query gives {found}",
                    column.name
                ))
            }
            Some((_, None)) => problems.push(format!(
                "column `{}` is declared {declared} but the query gives a type a table cannot hold",
                column.name
            )),
            Some(_) => {}
        }
    }
    for (name, _) in &produced {
        if !definition
            .columns
            .iter()
            .any(|c| c.name.to_lowercase() == *name)
        {
            problems.push(format!(
                "the query produces column `{name}`, which is not declared"
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    // Unverified wording: the shape of Databricks' message for a declared schema that differs
    // from the query's; what it says (which columns, which types) is what a user needs.
    Err(format!(
        "Table {full_name} has a user-specified schema that is incompatible with the schema inferred from its query: {}. Change the column list or the query so they agree.",
        problems.join("; ")
    ))
}

/// DataFusion types an integer literal BIGINT where Spark says INT (`SELECT 1 AS x`), so integer
/// widths are not held against a declared integer column; the write casts to the declared type.
fn both_integers(a: &str, b: &str) -> bool {
    let integer = |t: &str| matches!(t, "TINYINT" | "SMALLINT" | "INT" | "BIGINT");
    integer(a) && integer(b)
}

/// Adds one boolean column per expectation (evaluated once), counts passes and failures,
/// fails on a violated `FAIL UPDATE`, drops the rows a `DROP ROW` expectation rejects (NULL is a
/// violation, as in Databricks). Returns the rows to write and the progress.
async fn apply_expectations(
    definition: &DatasetDefinition,
    full_name: &str,
    rows: DataFrame,
) -> Result<(DataFrame, FlowProgress), String> {
    let df_error = |e: deltalake::datafusion::error::DataFusionError| e.to_string();
    // By bare name: the cached frame below no longer knows the query's table qualifiers.
    let columns: Vec<Expr> = rows
        .schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect();
    let mut flagged = rows.clone();
    let flag = |i: usize| format!("__lode_expectation_{i}");
    for (i, expectation) in definition.expectations.iter().enumerate() {
        let condition = rows
            .parse_sql_expr(&expectation.condition)
            .map_err(|e| format!("expectation {}: {e}", expectation.name))?;
        flagged = flagged
            .with_column(&flag(i), condition)
            .map_err(|e| format!("expectation {}: {e}", expectation.name))?;
    }
    let flagged = flagged.cache().await.map_err(|e| format!("cache: {e}"))?;
    let dropping: Vec<usize> = definition
        .expectations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.on_violation == Violation::DropRow)
        .map(|(i, _)| i)
        .collect();
    let one_if = |condition: Expr| -> Result<Expr, String> {
        Ok(sum(when(condition, lit(1i64))
            .otherwise(lit(0i64))
            .map_err(df_error)?))
    };
    let mut counts = vec![count(lit(1)).alias("rows")];
    for i in 0..definition.expectations.len() {
        counts.push(one_if(col(flag(i)).is_not_true())?.alias(format!("failed_{i}")));
    }
    let batches = flagged
        .clone()
        .aggregate(vec![], counts)
        .map_err(df_error)?
        .collect()
        .await
        .map_err(|e| format!("count: {e}"))?;
    let value = |column: usize| -> u64 {
        batches
            .first()
            .map(|b| b.column(column))
            .filter(|a| !a.is_null(0))
            .map_or(0, |a| a.as_primitive::<Int64Type>().value(0) as u64)
    };
    let total = value(0);
    let mut expectations = Vec::new();
    let mut violated = Vec::new();
    for (i, expectation) in definition.expectations.iter().enumerate() {
        let failed = value(i + 1);
        if failed > 0 && expectation.on_violation == Violation::FailUpdate {
            violated.push(format!("'{}' ({failed} row(s))", expectation.name));
        }
        expectations.push((expectation.name.clone(), total - failed, failed));
    }
    if !violated.is_empty() {
        return Err(format!(
            "[EXPECTATION_VIOLATION.VERBOSITY_ALL] Flow '{full_name}' failed to meet the expectation. Violated expectations: {}.",
            violated.join(", ")
        ));
    }
    let mut kept = flagged;
    let mut dropped = 0;
    if let Some(keep) = dropping
        .iter()
        .map(|&i| col(flag(i)).is_true())
        .reduce(Expr::and)
    {
        kept = kept.filter(keep).map_err(df_error)?;
        // Counted apart from the expectations: DataFusion 55 mis-plans an aggregate that shares
        // an `IS NOT TRUE` between two sums (common subexpression, nullability mismatch).
        let output = kept.clone().count().await.map_err(df_error)? as u64;
        dropped = total - output;
    }
    let kept = kept.select(columns).map_err(df_error)?;
    Ok((
        kept,
        FlowProgress {
            dataset: full_name.to_string(),
            output_rows: total - dropped,
            dropped_rows: dropped,
            expectations,
        },
    ))
}

/// A dataset without a column list takes its query's columns, as Databricks infers them.
async fn create_from_result(
    workspace: &Workspace,
    target: &Target<'_>,
    definition: &DatasetDefinition,
    rows: &DataFrame,
    (catalog, schema, table): (&str, &str, &str),
) -> Result<(), String> {
    let mut columns = Vec::new();
    for field in rows.schema().fields() {
        let type_name = databricks_type(field.data_type())
            .filter(|t| t != "VOID")
            .ok_or_else(|| {
                format!(
                    "column `{}` has a type a table cannot hold ({}); cast it in the query",
                    field.name(),
                    field.data_type()
                )
            })?;
        columns.push(super::sql::ColumnDef {
            name: field.name().clone(),
            type_text: type_name.to_lowercase(),
            nullable: true,
            comment: None,
        });
    }
    let table_type = match definition.kind {
        DatasetKind::StreamingTable => TableType::StreamingTable,
        DatasetKind::MaterializedView => TableType::MaterializedView,
    };
    workspace
        .sql
        .ensure_dataset(
            catalog,
            schema,
            table,
            table_type,
            &columns,
            definition.comment.as_deref(),
            target.pipeline_id,
        )
        .await
        .map(|_| ())
        .map_err(text)
}

/// A `flow_progress` event as Databricks' event log shows a completed flow, with the
/// expectation counts under `details.flow_progress.data_quality`.
pub fn flow_event(pipeline_id: &str, update_id: &str, progress: &FlowProgress) -> Value {
    let mut flow = json!({
        "status": "COMPLETED",
        "metrics": {"num_output_rows": progress.output_rows},
    });
    if !progress.expectations.is_empty() {
        let table = progress.dataset.rsplit('.').next().unwrap_or_default();
        flow["data_quality"] = json!({
            "dropped_records": progress.dropped_rows,
            "expectations": progress.expectations.iter().map(|(name, passed, failed)| json!({
                "name": name,
                "dataset": table,
                "passed_records": passed,
                "failed_records": failed,
            })).collect::<Vec<_>>(),
        });
    }
    json!({
        "id": super::hex_id(),
        "event_type": "flow_progress",
        "level": "INFO",
        "message": format!("Flow '{}' has COMPLETED.", progress.dataset),
        "timestamp": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        "origin": {
            "pipeline_id": pipeline_id,
            "update_id": update_id,
            "flow_name": progress.dataset,
            "dataset_name": progress.dataset,
        },
        "details": {"flow_progress": flow},
    })
}

#[cfg(test)]
mod tests {
    use super::super::pipeline_sql::split_definitions;
    use super::super::{EmulatorConfig, Workspace};
    use super::*;

    const SCHEMA: &str = "mining_demo";

    fn demo_file(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../manifests/databricks")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// One CSV record per line, double-quoted fields may hold commas (the seeds' shape).
    fn csv_rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
                for c in line.chars() {
                    match c {
                        '"' => quoted = !quoted,
                        ',' if !quoted => fields.push(std::mem::take(&mut field)),
                        other => field.push(other),
                    }
                }
                fields.push(field);
                fields
            })
            .collect()
    }

    /// A seed table with the demo's columns (tables.yaml), loaded from its CSV.
    async fn seed(ws: &Workspace, table: &str, columns: &[(&str, &str)]) {
        let list: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
        run(ws, &format!("CREATE TABLE {table} ({})", list.join(", "))).await;
        let rows = csv_rows(&demo_file(&format!("seeds/{table}.csv")));
        let values: Vec<String> = rows[1..]
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .zip(columns)
                    .map(|(v, (_, t))| match (v.as_str(), *t) {
                        ("", _) => "NULL".into(),
                        (v, "STRING") => format!("'{}'", v.replace('\'', "''")),
                        (v, "DATE") => format!("DATE '{v}'"),
                        (v, _) => v.to_string(),
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        run(
            ws,
            &format!("INSERT INTO {table} VALUES {}", values.join(", ")),
        )
        .await;
    }

    async fn run(ws: &Workspace, statement: &str) -> Vec<Vec<Option<String>>> {
        ws.sql
            .execute(statement, Some("main"), Some(SCHEMA), &[])
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"))
            .rows
    }

    /// One bronze event: (seconds after 2026-01-01T00:00:00Z, tag path, value, quality,
    /// alarm state, alarm priority). Values are numbers, `'text'` (STRING) or `true`/`false`.
    type Event<'a> = (u32, &'a str, &'a str, &'a str, &'a str, i32);

    async fn append_bronze(ws: &Workspace, first_id: usize, events: &[Event<'_>]) {
        let rows: Vec<String> = events
            .iter()
            .enumerate()
            .map(|(i, (second, tag, value, quality, alarm, priority))| {
                let (numeric, text, boolean, data_type) = match *value {
                    "true" | "false" => ("0", "''".to_string(), *value, "BOOLEAN"),
                    v if v.starts_with('\'') => ("0", v.to_string(), "false", "STRING"),
                    v => (v, "''".to_string(), "false", "DOUBLE"),
                };
                let event_micros = 1_767_225_600_000_000i64 + i64::from(*second) * 1_000_000;
                // HT_005's connector sends milliseconds, the others microseconds (as silver.sql
                // tells them apart); both 700 ms after the event.
                let ingestion = if tag.contains("HT_005") {
                    (event_micros + 700_000) / 1000
                } else {
                    event_micros + 700_000
                };
                format!(
                    "('e{}', TIMESTAMP '2026-01-01T00:{:02}:{:02}Z', '[default]{tag}', 'default', {numeric}, {text}, {boolean}, '{quality}', {}, 'gw1', {ingestion}, '{data_type}', '{alarm}', {priority})",
                    first_id + i,
                    second / 60,
                    second % 60,
                    if *quality == "Good" { 192 } else { 8 },
                )
            })
            .collect();
        run(
            ws,
            &format!("INSERT INTO ot_telemetry_bronze VALUES {}", rows.join(", ")),
        )
        .await;
    }

    fn workspace(dir: &std::path::Path) -> Workspace {
        Workspace::open(EmulatorConfig {
            data_dir: dir.to_path_buf(),
            token: "t".into(),
            oauth_client: None,
            port: 0,
            faults: None,
        })
        .unwrap()
    }

    async fn demo_tables(ws: &Workspace) {
        run(ws, "CREATE CATALOG IF NOT EXISTS main").await;
        run(ws, &format!("CREATE SCHEMA IF NOT EXISTS main.{SCHEMA}")).await;
        run(ws, "CREATE TABLE ot_telemetry_bronze (event_id STRING NOT NULL COMMENT 'Event id (UUID) assigned by the connector', event_time TIMESTAMP, tag_path STRING, tag_provider STRING, numeric_value DOUBLE, string_value STRING, boolean_value BOOLEAN, quality STRING, quality_code INT, source_system STRING, ingestion_timestamp BIGINT, data_type STRING, alarm_state STRING, alarm_priority INT)").await;
        seed(
            ws,
            "equipment_types",
            &[
                ("equipment_type", "STRING"),
                ("display_name", "STRING"),
                ("ignition_udt", "STRING"),
                ("description", "STRING"),
                ("primary_metric", "STRING"),
                ("typical_vibration_mm_s", "DOUBLE"),
                ("vibration_alarm_mm_s", "DOUBLE"),
                ("vibration_critical_mm_s", "DOUBLE"),
                ("temperature_point", "STRING"),
                ("temperature_alarm_c", "DOUBLE"),
                ("temperature_critical_c", "DOUBLE"),
            ],
        )
        .await;
        seed(
            ws,
            "equipment_master",
            &[
                ("equipment_id", "STRING"),
                ("equipment_type", "STRING"),
                ("site", "STRING"),
                ("model", "STRING"),
                ("commissioning_date", "DATE"),
                ("vibration_limit_mm_s", "DOUBLE"),
                ("temperature_limit_c", "DOUBLE"),
                ("capacity_tph", "DOUBLE"),
                ("active", "BOOLEAN"),
            ],
        )
        .await;
    }

    async fn checkpoint(ws: &Workspace) -> Option<u64> {
        ws.sql
            .stream_checkpoint(
                "main",
                SCHEMA,
                "ot_telemetry_silver",
                "ot_telemetry_silver:ot_telemetry_bronze",
            )
            .await
            .unwrap()
    }

    fn demo_definitions() -> Vec<DatasetDefinition> {
        // gold first: the update must still refresh silver before it.
        let mut all = split_definitions("gold.sql", &demo_file("pipeline/gold.sql")).unwrap();
        all.extend(split_definitions("silver.sql", &demo_file("pipeline/silver.sql")).unwrap());
        all
    }

    const GOLD: &str = "SELECT equipment_id, metric, unit, window_start, avg_value, max_value, last_value, status, alarm_active, sample_count, alarm_limit, critical_limit, max_alarm_priority, operating_status FROM ot_telemetry_gold ORDER BY equipment_id, metric, window_start";

    fn rows_text(rows: &[Vec<Option<String>>]) -> Vec<String> {
        rows.iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.clone().unwrap_or_else(|| "-".into()))
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    }

    #[test]
    fn issue_15_the_demo_silver_and_gold_sql_give_the_expected_gold_rows_and_then_only_new_rows_are_processed()
     {
        let dir = tempfile::tempdir().unwrap();
        let ws = workspace(dir.path());
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            demo_tables(&ws).await;
            let vib = "Mining/Equipment/CR_002/Vibration_MM_S";
            append_bronze(&ws, 0, &[
                (0, vib, "30.0", "Good", "", 0),
                (30, vib, "25.0", "Good", "", 0),
                (60, vib, "35.0", "Good", "", 0),
                (90, vib, "38.0", "Good", "", 0),
                (100, vib, "99.0", "Bad_NotConnected", "", 0),
                (120, vib, "45.0", "Good", "Active, Unacknowledged", 3),
                (150, vib, "41.0", "Good", "", 0),
                (180, vib, "62.0", "Good", "", 0),
                (0, "Mining/Equipment/CR_002/Bearing_Temp_C", "60.0", "Good", "", 0),
                (5, "Mining/Equipment/CR_002/Status", "'RUNNING'", "Good", "", 0),
                (185, "Mining/Equipment/CR_002/Status", "'FAULT'", "Good", "", 0),
                (10, "Mining/Equipment/HT_005/Speed_KPH", "40.0", "Good", "", 0),
                (70, "Mining/Equipment/HT_005/Speed_KPH", "42.0", "Good", "Active, Unacknowledged", 3),
                (0, "Mining/Equipment/XX_009/Vibration_MM_S", "5.0", "Good", "", 0),
                (0, "Mining/Simulation/Fault_Enabled", "true", "Good", "", 0),
            ])
            .await;
            let target = Target { catalog: "main", schema: SCHEMA, pipeline_id: "p1" };
            let first = super::run(&ws, &target, demo_definitions(), false).await.unwrap();
            let names: Vec<&str> = first.flows.iter().map(|f| f.dataset.as_str()).collect();
            assert_eq!(names, ["main.mining_demo.ot_telemetry_silver", "main.mining_demo.ot_telemetry_gold"]);
            let silver = &first.flows[0];
            // 15 events: the non-equipment tag is filtered by the query, the bad one dropped.
            assert_eq!((silver.output_rows, silver.dropped_rows), (13, 1));
            assert_eq!(
                silver.expectations,
                [
                    ("valid_quality".to_string(), 13, 1),
                    ("valid_tag_path".to_string(), 14, 0),
                    ("valid_event_time".to_string(), 14, 0),
                    ("known_equipment".to_string(), 13, 1),
                ]
            );
            let gold = rows_text(&run(&ws, GOLD).await);
            let expected = [
                "CR_002 | Bearing_Temp_C | °C | 2026-01-01T00:00:00.000Z | 60.0 | 60.0 | 60.0 | NORMAL | false | 1 | 85.0 | 95.0 | - | RUNNING",
                "CR_002 | Vibration_MM_S | mm/s | 2026-01-01T00:00:00.000Z | 27.5 | 30.0 | 25.0 | NORMAL | false | 2 | 40.0 | 60.0 | - | RUNNING",
                "CR_002 | Vibration_MM_S | mm/s | 2026-01-01T00:01:00.000Z | 36.5 | 38.0 | 38.0 | WARNING | false | 2 | 40.0 | 60.0 | - | RUNNING",
                "CR_002 | Vibration_MM_S | mm/s | 2026-01-01T00:02:00.000Z | 43.0 | 45.0 | 41.0 | ALARM | true | 2 | 40.0 | 60.0 | 3 | RUNNING",
                "CR_002 | Vibration_MM_S | mm/s | 2026-01-01T00:03:00.000Z | 62.0 | 62.0 | 62.0 | CRITICAL | true | 1 | 40.0 | 60.0 | - | FAULT",
                "HT_005 | Speed_KPH | km/h | 2026-01-01T00:00:00.000Z | 40.0 | 40.0 | 40.0 | NORMAL | false | 1 | - | - | - | -",
                "HT_005 | Speed_KPH | km/h | 2026-01-01T00:01:00.000Z | 42.0 | 42.0 | 42.0 | ALARM | true | 1 | - | - | 3 | -",
                "XX_009 | Vibration_MM_S | mm/s | 2026-01-01T00:00:00.000Z | 5.0 | 5.0 | 5.0 | NORMAL | false | 1 | - | - | - | -",
            ];
            assert_eq!(gold, expected, "gold:\n{}", gold.join("\n"));
            let bronze_v1 = ws.sql.table_version("main", SCHEMA, "ot_telemetry_bronze").await.unwrap().unwrap();
            assert_eq!(checkpoint(&ws).await, Some(bronze_v1));
            assert_eq!(first.source_versions.get("main.mining_demo.ot_telemetry_bronze"), Some(&bronze_v1));

            // Nothing new in bronze: silver is left alone, gold recomputed from the same rows.
            let silver_v = ws.sql.table_version("main", SCHEMA, "ot_telemetry_silver").await.unwrap();
            let idle = super::run(&ws, &target, demo_definitions(), false).await.unwrap();
            assert_eq!(idle.flows.len(), 1, "only gold: {:?}", idle.flows);
            assert_eq!(ws.sql.table_version("main", SCHEMA, "ot_telemetry_silver").await.unwrap(), silver_v);

            // Two more events: only they go through silver; Status FAULT is carried into 00:04.
            append_bronze(&ws, 100, &[
                (240, vib, "20.0", "Good", "", 0),
                (245, vib, "21.0", "Bad_NotConnected", "", 0),
            ])
            .await;
            let second = super::run(&ws, &target, demo_definitions(), false).await.unwrap();
            assert_eq!((second.flows[0].output_rows, second.flows[0].dropped_rows), (1, 1));
            assert_eq!(second.flows[0].expectations[0], ("valid_quality".to_string(), 1, 1));
            assert_eq!(run(&ws, "SELECT count(*) FROM ot_telemetry_silver").await, [[Some("14".to_string())]]);
            let history = run(&ws, "DESCRIBE HISTORY ot_telemetry_silver LIMIT 1").await;
            assert!(history[0].iter().any(|c| c.as_deref() == Some("STREAMING UPDATE")), "{history:?}");
            assert!(history[0].iter().flatten().any(|c| c.contains("\"numOutputRows\":\"1\"")), "{history:?}");
            assert_eq!(checkpoint(&ws).await, Some(bronze_v1 + 1));
            let gold = rows_text(&run(&ws, GOLD).await);
            assert_eq!(gold.len(), 9, "{gold:#?}");
            assert_eq!(gold[5], "CR_002 | Vibration_MM_S | mm/s | 2026-01-01T00:04:00.000Z | 20.0 | 20.0 | 20.0 | NORMAL | false | 1 | 40.0 | 60.0 | - | FAULT");

            // A full refresh reads bronze from the start and replaces silver's rows.
            let full = super::run(&ws, &target, demo_definitions(), true).await.unwrap();
            assert_eq!((full.flows[0].output_rows, full.flows[0].dropped_rows), (14, 2));
            assert_eq!(run(&ws, "SELECT count(*) FROM ot_telemetry_silver").await, [[Some("14".to_string())]]);
        });
    }
}
