//! The pipeline benchmark of issue #15 ("Numbers to reach"): one hour of the demo's telemetry
//! in bronze (105 tags at 1 Hz plus one non-equipment tag a minute, 378,060 rows in 12 Delta
//! commits), a full refresh of the demo's silver.sql and gold.sql as an update runs them, and
//! the Genie space's first example query over gold. Prints the figures; asserts nothing.
//!
//! `cargo run --release -p lode-emulators --example pipeline_bench` (debug works, slower).

use std::sync::Arc;
use std::time::Instant;

use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use deltalake::protocol::SaveMode;
use lode_emulators::databricks::pipeline_refresh::{self, Target};
use lode_emulators::databricks::pipeline_sql::split_definitions;
use lode_emulators::databricks::sql::Checkpoints;
use lode_emulators::databricks::{EmulatorConfig, Workspace};

const SCHEMA: &str = "mining_demo";
const START_MICROS: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

fn demo_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../manifests/databricks")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The demo's 105 equipment tags: 5 haul trucks x 13, 3 crushers x 8, 2 conveyors x 8.
fn tags() -> Vec<(String, &'static str)> {
    const TRUCK: [&str; 13] = [
        "Vibration_MM_S",
        "Engine_Temp_C",
        "Speed_KPH",
        "Payload_Tonnes",
        "Fuel_Level_Pct",
        "Tyre_Pressure_PSI",
        "Engine_Hours",
        "Location_Lat",
        "Location_Lon",
        "Brake_Temp_C",
        "Oil_Pressure_PSI",
        "Engine_RPM",
        "Alarm_Active",
    ];
    const CRUSHER: [&str; 8] = [
        "Vibration_MM_S",
        "Bearing_Temp_C",
        "Throughput_TPH",
        "Motor_Current_A",
        "Feed_Rate_TPH",
        "Power_Draw_KW",
        "Oil_Pressure_PSI",
        "Alarm_Active",
    ];
    const CONVEYOR: [&str; 8] = [
        "Vibration_MM_S",
        "Motor_Temp_C",
        "Throughput_TPH",
        "Belt_Speed_MPS",
        "Motor_Current_A",
        "Belt_Tension_Pct",
        "Running_Hours",
        "Alarm_Active",
    ];
    let mut tags = Vec::new();
    for (prefix, count, metrics) in [
        ("HT", 5, &TRUCK[..]),
        ("CR", 3, &CRUSHER[..]),
        ("CV", 2, &CONVEYOR[..]),
    ] {
        for n in 1..=count {
            for metric in metrics {
                tags.push((format!("{prefix}_{n:03}"), *metric));
            }
        }
    }
    tags
}

/// Bronze rows for seconds `from..to`: every tag once a second, CR_002's vibration ramping
/// 17 -> 65 mm/s over the hour, every 997th event bad quality, one non-equipment tag a minute.
fn bronze_batch(schema: deltalake::arrow::datatypes::SchemaRef, from: i64, to: i64) -> RecordBatch {
    let tags = tags();
    let mut ids = Vec::new();
    let mut times = Vec::new();
    let mut paths = Vec::new();
    let mut numbers = Vec::new();
    let mut booleans = Vec::new();
    let mut types = Vec::new();
    let mut qualities = Vec::new();
    let mut codes = Vec::new();
    let mut ingestion = Vec::new();
    let mut n = from * 1000;
    for second in from..to {
        let at = START_MICROS + second * 1_000_000;
        let mut push = |path: String, value: f64, boolean: bool, data_type: &'static str| {
            n += 1;
            let bad = n % 997 == 0;
            ids.push(format!("e{n}"));
            times.push(at);
            paths.push(path);
            numbers.push(value);
            booleans.push(boolean);
            types.push(data_type);
            qualities.push(if bad { "Bad_NotConnected" } else { "Good" });
            codes.push(if bad { 8 } else { 192 });
            ingestion.push(at + 400_000);
        };
        for (i, (equipment, metric)) in tags.iter().enumerate() {
            let path = format!("[default]Mining/Equipment/{equipment}/{metric}");
            if *metric == "Alarm_Active" {
                push(path, 0.0, false, "BOOLEAN");
                continue;
            }
            let value = if equipment == "CR_002" && *metric == "Vibration_MM_S" {
                17.0 + 48.0 * second as f64 / 3600.0
            } else {
                10.0 + (i as f64) + ((second + i as i64) % 7) as f64 * 0.5
            };
            push(path, value, false, "DOUBLE");
        }
        if second % 60 == 0 {
            push(
                "[default]Mining/Simulation/Fault_Enabled".into(),
                0.0,
                false,
                "BOOLEAN",
            );
        }
    }
    let rows = ids.len();
    let text = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let same = |s: &str| Arc::new(StringArray::from(vec![s; rows])) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        text(ids),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        text(paths),
        same("default"),
        Arc::new(Float64Array::from(numbers)),
        same(""),
        Arc::new(BooleanArray::from(booleans)),
        Arc::new(StringArray::from(qualities)),
        Arc::new(Int32Array::from(codes)),
        same("gateway-1"),
        Arc::new(Int64Array::from(ingestion)),
        Arc::new(StringArray::from(types)),
        same(""),
        Arc::new(Int32Array::from(vec![0; rows])),
    ];
    RecordBatch::try_new(schema, columns).expect("bronze columns match the table")
}

async fn run(ws: &Workspace, statement: &str) {
    ws.sql
        .execute(statement, Some("main"), Some(SCHEMA), &[])
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn seed(ws: &Workspace, table: &str, columns: &str) {
    run(ws, &format!("CREATE TABLE {table} ({columns})")).await;
    let text = demo_file(&format!("seeds/{table}.csv"));
    let types: Vec<&str> = columns
        .split(", ")
        .map(|c| c.split_whitespace().nth(1).unwrap_or("STRING"))
        .collect();
    let mut values = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                other => field.push(other),
            }
        }
        fields.push(field);
        let cells: Vec<String> = fields
            .iter()
            .zip(&types)
            .map(|(v, t)| match (v.as_str(), *t) {
                ("", _) => "NULL".into(),
                (v, "STRING") => format!("'{}'", v.replace('\'', "''")),
                (v, "DATE") => format!("DATE '{v}'"),
                (v, _) => v.to_string(),
            })
            .collect();
        values.push(format!("({})", cells.join(", ")));
    }
    run(
        ws,
        &format!("INSERT INTO {table} VALUES {}", values.join(", ")),
    )
    .await;
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ws = Workspace::open(EmulatorConfig {
        data_dir: dir.path().to_path_buf(),
        token: "bench".into(),
        oauth_client: None,
        port: 0,
        faults: None,
    })
    .expect("the workspace opens");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        run(&ws, "CREATE CATALOG IF NOT EXISTS main").await;
        run(&ws, &format!("CREATE SCHEMA IF NOT EXISTS main.{SCHEMA}")).await;
        run(&ws, "CREATE TABLE ot_telemetry_bronze (event_id STRING NOT NULL, event_time TIMESTAMP, tag_path STRING, tag_provider STRING, numeric_value DOUBLE, string_value STRING, boolean_value BOOLEAN, quality STRING, quality_code INT, source_system STRING, ingestion_timestamp BIGINT, data_type STRING, alarm_state STRING, alarm_priority INT)").await;
        seed(&ws, "equipment_types", "equipment_type STRING, display_name STRING, ignition_udt STRING, description STRING, primary_metric STRING, typical_vibration_mm_s DOUBLE, vibration_alarm_mm_s DOUBLE, vibration_critical_mm_s DOUBLE, temperature_point STRING, temperature_alarm_c DOUBLE, temperature_critical_c DOUBLE").await;
        seed(&ws, "equipment_master", "equipment_id STRING, equipment_type STRING, site STRING, model STRING, commissioning_date DATE, vibration_limit_mm_s DOUBLE, temperature_limit_c DOUBLE, capacity_tph DOUBLE, active BOOLEAN").await;

        let started = Instant::now();
        let bronze_dir = dir.path().join("tables/main").join(SCHEMA).join("ot_telemetry_bronze");
        let url = url::Url::from_directory_path(&bronze_dir).expect("an absolute path");
        let mut bronze = deltalake::open_table(url).await.expect("bronze opens");
        let arrow_schema = bronze.snapshot().expect("a snapshot").snapshot().arrow_schema();
        let mut rows = 0;
        for commit in 0..12 {
            let batch = bronze_batch(arrow_schema.clone(), commit * 300, (commit + 1) * 300);
            rows += batch.num_rows();
            bronze = bronze
                .write(vec![batch])
                .with_save_mode(SaveMode::Append)
                .await
                .expect("bronze append");
        }
        println!("bronze: {rows} rows in 12 commits, written in {:.2} s", started.elapsed().as_secs_f64());

        let target = Target { catalog: "main", schema: SCHEMA, pipeline_id: "bench" };
        let silver = split_definitions("silver.sql", &demo_file("pipeline/silver.sql")).expect("silver.sql");
        let gold = split_definitions("gold.sql", &demo_file("pipeline/gold.sql")).expect("gold.sql");
        for (label, definitions) in [("silver", silver.clone()), ("gold", gold.clone())] {
            let started = Instant::now();
            let run = pipeline_refresh::run(&ws, &target, definitions, true).await.expect("refresh");
            let flow = &run.flows[0];
            println!(
                "{label} full refresh: {} rows written, {} dropped, {:.2} s",
                flow.output_rows,
                flow.dropped_rows,
                started.elapsed().as_secs_f64()
            );
        }
        let mut both = silver;
        both.extend(gold);
        let started = Instant::now();
        pipeline_refresh::run(&ws, &target, both, true).await.expect("refresh");
        println!("silver + gold full refresh (one update): {:.2} s", started.elapsed().as_secs_f64());

        let genie: serde_json::Value = serde_saphyr::from_str(&demo_file("genie.yaml")).expect("genie.yaml");
        let example = genie
            .pointer("/spec/example_sql/0/sql")
            .and_then(serde_json::Value::as_str)
            .expect("an example_sql")
            .replace("${var.catalog}.${var.schema}", &format!("main.{SCHEMA}"));
        for attempt in 1..=3 {
            let started = Instant::now();
            let (_, batches) = ws
                .sql
                .query_batches(&example, "main", SCHEMA, &Checkpoints::new())
                .await
                .expect("the Genie example runs");
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            println!(
                "Genie example 1 (current crusher status) over gold, run {attempt}: {rows} rows, {:.0} ms",
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
    });
}
