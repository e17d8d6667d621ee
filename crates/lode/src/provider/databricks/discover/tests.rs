//! Discovery against the workspace emulator, populated through the REST API the way a user's
//! own tools would (no lode markers): schemas, tables (one with a PRIMARY KEY constraint), a
//! pipeline on two SQL files and its dataset, a Genie space, a monitor, workspace files. What
//! discovery finds is checked spec by spec, and `refresh` with the discovered specs as the
//! wanted side must read each back unchanged (a manifest written from it plans as a no-op).
//! Skips whose live shape the emulator cannot produce are checked on TableInfos as the API
//! documents them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::super::auth::{Credentials, ResolvedAuth};
use super::super::client::{ClientOptions, DatabricksClient, Idempotency, SqlRequest};
use super::super::provider::{DatabricksProvider, DatabricksSettings};
use crate::engine::canonical::canonical_spec;
use crate::manifest::{Address, Kind};
use crate::provider::{Discovered, DiscoveryScope, Provider, RefreshRequest, Selector};

const TOKEN: &str = "dapi-discovery-test";
const WAREHOUSE: &str = lode_emulators::databricks::catalog::WAREHOUSE_ID;

struct Workspace {
    _dir: tempfile::TempDir,
    _running: lode_emulators::databricks::RunningEmulator,
    provider: DatabricksProvider,
}

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let running = lode_emulators::databricks::start(lode_emulators::databricks::EmulatorConfig {
        data_dir: dir.path().join("databricks"),
        token: TOKEN.into(),
        oauth_client: None,
        port: 0,
        faults: None,
    })
    .unwrap();
    let client = DatabricksClient::new(
        ResolvedAuth {
            host: running.url.clone(),
            credentials: Credentials::Pat {
                token: TOKEN.into(),
            },
            warehouse_id: None,
            source: "test".into(),
        },
        ClientOptions {
            rate_limit_per_second: f64::INFINITY,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    Workspace {
        _dir: dir,
        _running: running,
        provider: DatabricksProvider::new(Arc::new(client), DatabricksSettings::default()),
    }
}

impl Workspace {
    fn sql(&self, statement: &str) {
        let request = SqlRequest {
            warehouse_id: WAREHOUSE.into(),
            statement: statement.into(),
            ..SqlRequest::default()
        };
        self.provider
            .client
            .execute_sql(&request, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.provider
            .client
            .post(path, &body, Idempotency::NotIdempotent)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    fn upload(&self, path: &str, content: &[u8]) {
        let folder = path.rsplit_once('/').unwrap().0;
        self.post("/api/2.0/workspace/mkdirs", json!({"path": folder}));
        self.post(
            "/api/2.0/workspace/import",
            json!({
                "path": path,
                "format": "RAW",
                "overwrite": true,
                "content": base64::engine::general_purpose::STANDARD.encode(content),
            }),
        );
    }

    /// Runs a pipeline update and waits until it has ended.
    fn run_update(&self, pipeline_id: &str) {
        let started = self.post(
            &format!("/api/2.0/pipelines/{pipeline_id}/updates"),
            json!({"full_refresh": true}),
        );
        let update = started["update_id"].as_str().unwrap().to_string();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status: Value = self
                .provider
                .client
                .get(
                    &format!("/api/2.0/pipelines/{pipeline_id}/updates/{update}"),
                    &[],
                )
                .unwrap();
            match status["update"]["state"].as_str().unwrap_or("") {
                "COMPLETED" => return,
                state @ ("FAILED" | "CANCELED") => panic!("the update ended {state}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "the update did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const SILVER_SQL: &str = "CREATE OR REFRESH MATERIALIZED VIEW site_readings AS\nSELECT s.name, r.at, r.value FROM main.plant.readings r JOIN main.plant.sites s ON s.id = r.site_id\n";
const GOLD_SQL: &str = "-- gold\nCREATE OR REFRESH MATERIALIZED VIEW site_peaks AS\nSELECT name, max(value) AS peak FROM site_readings GROUP BY name\n";

/// The estate: what a team that never used lode would have built.
fn populate(workspace: &Workspace) -> String {
    workspace.sql("CREATE SCHEMA main.plant COMMENT 'Plant data'");
    workspace.sql(
        "CREATE TABLE main.plant.sites (id INT NOT NULL COMMENT 'Site id', name STRING, \
         CONSTRAINT sites_key PRIMARY KEY (id)) COMMENT 'One row per site' \
         TBLPROPERTIES ('quality' = 'reference')",
    );
    workspace.sql("CREATE TABLE main.plant.readings (site_id INT, at TIMESTAMP, value DOUBLE)");
    // What a monitor refresh writes, and what an interrupted seed of lode leaves.
    workspace.sql(
        "CREATE TABLE main.plant.readings_profile_metrics (window_start TIMESTAMP, metric STRING)",
    );
    workspace.sql("CREATE TABLE main.plant.__lode_seed_sites (id INT, name STRING)");
    workspace.sql("CREATE SCHEMA main.other");
    workspace.upload(
        "/Workspace/Shared/plant/pipeline/silver.sql",
        SILVER_SQL.as_bytes(),
    );
    workspace.upload(
        "/Workspace/Shared/plant/pipeline/gold.sql",
        GOLD_SQL.as_bytes(),
    );
    workspace.upload(
        "/Workspace/Shared/plant/chat/index.html",
        b"<html>plant</html>\n",
    );
    workspace.upload(
        "/Workspace/Shared/plant/chat/logo.png",
        &[0x89, b'P', b'N', b'G', 0xff, 0xfe],
    );
    workspace.upload("/Workspace/Shared/plant/.lode/state.json", b"{}\n");
    workspace.upload("/Workspace/Shared/elsewhere/notes.txt", b"not scanned\n");
    let created = workspace.post(
        "/api/2.0/pipelines",
        json!({
            "name": "plant-telemetry",
            "catalog": "main",
            "schema": "plant",
            "libraries": [
                {"file": {"path": "/Workspace/Shared/plant/pipeline/silver.sql"}},
                {"file": {"path": "/Workspace/Shared/plant/pipeline/gold.sql"}},
            ],
            "configuration": {"plant.source": "main.plant.readings"},
            "development": true,
            "serverless": true,
            "tags": {"team": "ot"},
            "event_log": {"catalog": "main", "schema": "plant", "name": "plant_events"},
        }),
    );
    let pipeline_id = created["pipeline_id"].as_str().unwrap().to_string();
    workspace.run_update(&pipeline_id);
    let space = json!({
        "version": 2,
        "data_sources": {"tables": [{"identifier": "main.plant.sites"}, {"identifier": "main.plant.readings"}]},
        "instructions": {
            "text_instructions": [
                {"id": "01", "content": ["Sites are plants.\n", "Values are kW.\n"]},
                {"id": "02", "content": ["A second instruction.\n"]},
            ],
            "example_question_sqls": [
                {"id": "03", "question": ["Peak per site?"], "sql": ["SELECT name, max(value)\n", "FROM main.plant.readings\n"]},
            ],
        },
        "config": {"sample_questions": [{"id": "04", "question": ["Which site peaks?"]}]},
    });
    workspace.post(
        "/api/2.0/genie/spaces",
        json!({
            "title": "Plant Energy",
            "description": "Energy questions",
            "warehouse_id": WAREHOUSE,
            "parent_path": "/Workspace/Shared/plant",
            "serialized_space": space.to_string(),
        }),
    );
    workspace.post(
        "/api/2.0/workspace/mkdirs",
        json!({"path": "/Workspace/Shared/plant/monitoring"}),
    );
    workspace.post(
        "/api/2.1/unity-catalog/tables/main.plant.readings/monitor",
        json!({
            "output_schema_name": "main.plant",
            "assets_dir": "/Workspace/Shared/plant/monitoring",
            "time_series": {"timestamp_col": "at", "granularities": ["1 hour", "1 day"]},
            "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
        }),
    );
    pipeline_id
}

fn scope(selectors: &[&str]) -> DiscoveryScope {
    DiscoveryScope {
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect(),
        workspace_folders: Vec::new(),
        exclude_folders: vec!["/Workspace/Shared/plant/.lode".into()],
    }
}

fn find<'a>(found: &'a [Discovered], kind: Kind, hint: &str) -> &'a Discovered {
    found
        .iter()
        .find(|d| d.kind == kind && d.name_hint == hint)
        .unwrap_or_else(|| panic!("{kind} {hint} was not discovered: {found:#?}"))
}

fn names(found: &[Discovered], kind: Kind) -> Vec<&str> {
    let mut names: Vec<&str> = found
        .iter()
        .filter(|d| d.kind == kind)
        .map(|d| d.name_hint.as_str())
        .collect();
    names.sort_unstable();
    names
}

fn assert_refresh_reads_what_was_discovered(provider: &dyn Provider, found: &[Discovered]) {
    let requests: Vec<RefreshRequest> = found
        .iter()
        .filter(|d| d.unsupported.is_none())
        .map(|d| RefreshRequest {
            address: Address::new(d.kind, d.name_hint.clone()),
            spec: d.live.spec.clone(),
            id: d.live.id.clone(),
            last_read: None,
        })
        .collect();
    let live = provider.refresh(&requests).unwrap();
    for request in &requests {
        let read = live
            .get(&request.address)
            .unwrap_or_else(|| panic!("{} was not read back", request.address));
        assert_eq!(
            canonical_spec(request.address.kind, &read.spec),
            canonical_spec(request.address.kind, &request.spec),
            "{}",
            request.address
        );
        assert_eq!(read.id, request.id, "{}", request.address);
    }
}

#[test]
fn issue_17_discovery_of_a_workspace_built_without_lode() {
    let workspace = workspace();
    let pipeline_id = populate(&workspace);
    let found = workspace.provider.discover(&scope(&[])).unwrap();

    assert_eq!(names(&found, Kind::Schema), ["default", "other", "plant"]);
    assert_eq!(
        find(&found, Kind::Schema, "plant").live.spec,
        json!({"catalog": "main", "name": "plant", "properties": {}, "comment": "Plant data"})
    );

    let sites = find(&found, Kind::Table, "sites");
    assert_eq!(sites.unsupported, None);
    assert_eq!(
        canonical_spec(Kind::Table, &sites.live.spec),
        canonical_spec(
            Kind::Table,
            &json!({
                "catalog": "main", "schema": "plant", "name": "sites",
                "comment": "One row per site",
                "columns": [
                    {"name": "id", "type": "int", "nullable": false, "comment": "Site id"},
                    {"name": "name", "type": "string", "nullable": true},
                ],
                "properties": {"quality": "reference"},
                "primary_key": ["id"],
            })
        )
    );
    assert_eq!(sites.live.outputs["full_name"], "main.plant.sites");
    assert!(sites.live.id.is_some());
    assert_eq!(find(&found, Kind::Table, "readings").unsupported, None);
    assert!(
        find(&found, Kind::Table, "readings")
            .live
            .spec
            .get("primary_key")
            .is_none()
    );
    let refused = |hint: &str| {
        find(&found, Kind::Table, hint)
            .unsupported
            .clone()
            .unwrap_or_else(|| panic!("table {hint} is importable"))
    };
    assert!(
        refused("readings_profile_metrics")
            .contains("metric table of the monitor on main.plant.readings")
    );
    assert!(refused("__lode_seed_sites").contains("staging table"));
    for dataset in ["site_readings", "site_peaks"] {
        assert!(
            refused(dataset).contains(&format!("a dataset of pipeline {pipeline_id}")),
            "{dataset}: {}",
            refused(dataset)
        );
    }

    let pipeline = find(&found, Kind::Pipeline, "plant-telemetry");
    assert_eq!(pipeline.unsupported, None);
    assert_eq!(pipeline.live.id.as_deref(), Some(pipeline_id.as_str()));
    assert_eq!(
        canonical_spec(Kind::Pipeline, &pipeline.live.spec),
        canonical_spec(
            Kind::Pipeline,
            &json!({
                "name": "plant-telemetry", "catalog": "main", "schema": "plant",
                "libraries": [
                    {"file": {"path": "/Workspace/Shared/plant/pipeline/silver.sql"}},
                    {"file": {"path": "/Workspace/Shared/plant/pipeline/gold.sql"}},
                ],
                "configuration": {"plant.source": "main.plant.readings"},
                "continuous": false, "development": true, "channel": "CURRENT",
                "edition": "ADVANCED", "photon": false, "serverless": true,
                "tags": {"team": "ot"},
            })
        )
    );
    assert_eq!(
        pipeline.lossy,
        [r#"`event_log`: {"catalog":"main","schema":"plant","name":"plant_events"}"#]
    );

    let space = find(&found, Kind::GenieSpace, "Plant Energy");
    assert_eq!(space.unsupported, None);
    // On the environment's warehouse: the manifests' default, so not named.
    assert_eq!(
        space.live.spec,
        json!({
            "title": "Plant Energy",
            "parent_path": "/Shared/plant",
            "tables": ["main.plant.readings", "main.plant.sites"],
            "description": "Energy questions",
            "instructions": "Sites are plants.\nValues are kW.\n",
            "example_sql": [{"question": "Peak per site?", "sql": "SELECT name, max(value)\nFROM main.plant.readings\n"}],
            "sample_questions": ["Which site peaks?"],
        })
    );
    assert_eq!(
        space.lossy,
        ["instructions.text_instructions: 2 of them, lode keeps the first"]
    );

    let monitor = find(&found, Kind::QualityMonitor, "readings");
    assert_eq!(monitor.unsupported, None);
    assert_eq!(
        monitor.live.spec,
        json!({
            "table": "main.plant.readings",
            "output_schema": "main.plant",
            "assets_dir": "/Shared/plant/monitoring",
            "time_series": {"timestamp_col": "at", "granularities": ["1 hour", "1 day"]},
            "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
        })
    );

    // Files in the pipeline's and the space's folders, not in lode's state folder nor outside.
    assert_eq!(
        names(&found, Kind::WorkspaceFile),
        [
            "/Shared/plant/chat/index.html",
            "/Shared/plant/chat/logo.png",
            "/Shared/plant/pipeline/gold.sql",
            "/Shared/plant/pipeline/silver.sql",
        ]
    );
    let gold = find(
        &found,
        Kind::WorkspaceFile,
        "/Shared/plant/pipeline/gold.sql",
    );
    assert_eq!(
        gold.live.spec,
        json!({"path": "/Shared/plant/pipeline/gold.sql", "content": GOLD_SQL})
    );
    assert_eq!(
        find(&found, Kind::WorkspaceFile, "/Shared/plant/chat/logo.png")
            .unsupported
            .as_deref(),
        Some("it is not UTF-8 text")
    );

    assert_refresh_reads_what_was_discovered(&workspace.provider, &found);
}

#[test]
fn issue_17_selectors_limit_what_the_workspace_is_asked() {
    let workspace = workspace();
    populate(&workspace);
    workspace.upload("/Workspace/Shared/notes/readme.md", b"# notes\n");

    // A schema: only its objects are listed, and its pipeline's and space's files go with it.
    let plant = scope(&["schema:main.plant"]);
    let found = workspace.provider.discover(&plant).unwrap();
    assert_eq!(names(&found, Kind::Schema), ["plant"]);
    assert!(
        found
            .iter()
            .all(|d| d.kind != Kind::Table || d.live.spec["schema"] == "plant")
    );
    let picked: Vec<String> = found
        .iter()
        .zip(plant.picks(&found))
        .filter(|(_, picked)| *picked)
        .map(|(d, _)| format!("{}/{}", d.kind, d.name_hint))
        .collect();
    assert!(picked.contains(&"workspace_file//Shared/plant/pipeline/silver.sql".to_string()));
    assert!(picked.contains(&"genie_space/Plant Energy".to_string()));
    assert!(picked.contains(&"quality_monitor/readings".to_string()));

    // Another schema holds nothing but itself.
    let found = workspace
        .provider
        .discover(&scope(&["schema:main.other"]))
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|d| (d.kind, d.name_hint.as_str()))
            .collect::<Vec<_>>(),
        [(Kind::Schema, "other")]
    );

    // A kind: nothing else is listed; `--workspace-folder` adds a folder to scan.
    let found = workspace
        .provider
        .discover(&scope(&["genie_space"]))
        .unwrap();
    assert_eq!(names(&found, Kind::GenieSpace), ["Plant Energy"]);
    assert!(found.iter().all(|d| d.kind == Kind::GenieSpace));
    let mut files = scope(&["workspace_file"]);
    files
        .workspace_folders
        .push("/Workspace/Shared/notes".into());
    let found = workspace.provider.discover(&files).unwrap();
    assert!(found.iter().all(|d| d.kind == Kind::WorkspaceFile));
    assert!(names(&found, Kind::WorkspaceFile).contains(&"/Shared/notes/readme.md"));
    // An Ignition selector asks the workspace nothing.
    let requests = workspace.provider.client.request_count();
    assert!(
        workspace
            .provider
            .discover(&scope(&["tag"]))
            .unwrap()
            .is_empty()
    );
    assert_eq!(workspace.provider.client.request_count(), requests);
}

/// A provider whose client is never called: table discovery's own rules need no workspace.
fn offline_provider() -> DatabricksProvider {
    let client = DatabricksClient::new(
        ResolvedAuth {
            host: "http://127.0.0.1:9".into(),
            credentials: Credentials::Pat {
                token: TOKEN.into(),
            },
            warehouse_id: None,
            source: "test".into(),
        },
        ClientOptions::default(),
    )
    .unwrap();
    DatabricksProvider::new(Arc::new(client), DatabricksSettings::default())
}

#[test]
fn issue_17_tables_lode_cannot_own_are_reported_with_the_reason() {
    let provider = offline_provider();
    let info = |name: &str, changes: Value| {
        let mut info = json!({
            "name": name, "catalog_name": "main", "schema_name": "plant",
            "full_name": format!("main.plant.{name}"),
            "table_type": "MANAGED", "data_source_format": "DELTA", "table_id": "t-1",
            "columns": [
                {"name": "id", "type_text": "int", "nullable": false},
                {"name": "tags", "type_text": "string", "nullable": true},
            ],
            "properties": {"delta.enableChangeDataFeed": "true", "owner_team": "ot"},
        });
        for (key, value) in changes.as_object().unwrap() {
            info[key] = value.clone();
        }
        info
    };
    let metrics = BTreeMap::from([("main.plant.readings_drift_metrics", "main.plant.readings")]);
    let reason = |info: Value| super::table(&provider, &info, &metrics).unsupported;
    assert_eq!(reason(info("plain", json!({}))), None);
    assert_eq!(
        reason(info("view", json!({"table_type": "VIEW"}))).as_deref(),
        Some("a VIEW table: lode creates MANAGED Delta tables only")
    );
    assert_eq!(
        reason(info("ext", json!({"table_type": "EXTERNAL"}))).as_deref(),
        Some("a EXTERNAL table: lode creates MANAGED Delta tables only")
    );
    assert_eq!(
        reason(info("pq", json!({"data_source_format": "PARQUET"}))).as_deref(),
        Some("a PARQUET table: lode creates Delta tables only")
    );
    assert_eq!(
        reason(info("readings_drift_metrics", json!({}))).as_deref(),
        Some("a metric table of the monitor on main.plant.readings: the monitor writes it")
    );
    assert!(
        reason(info(
            "mv",
            json!({"pipeline_id": "p-9", "table_type": "MATERIALIZED_VIEW"})
        ))
        .unwrap()
        .starts_with("a dataset of pipeline p-9")
    );
    let columns = |columns: Value| info("typed", json!({"columns": columns}));
    assert_eq!(
        reason(columns(
            json!([{"name": "tags", "type_text": "array<string>"}])
        ))
        .as_deref(),
        Some("column `tags` has the type `array<string>`, which lode cannot compare")
    );
    assert_eq!(
        reason(columns(json!([{"name": "v", "type_text": "variant"}]))).as_deref(),
        Some("column `v` has the type `variant`, which lode cannot compare")
    );
    let keyed = |nullable: bool| {
        info(
            "keyed",
            json!({
                "columns": [{"name": "id", "type_text": "int", "nullable": nullable}],
                "table_constraints": [{"primary_key_constraint": {"name": "k", "child_columns": ["id"]}}],
            }),
        )
    };
    assert_eq!(reason(keyed(false)), None);
    assert_eq!(
        super::table(&provider, &keyed(false), &metrics).live.spec["primary_key"],
        json!(["id"])
    );
    assert!(
        reason(keyed(true))
            .unwrap()
            .contains("primary key column `id` is nullable")
    );
    assert!(
        reason(info("bad-name", json!({})))
            .unwrap()
            .contains("`bad-name` is not a name lode accepts")
    );
    // Platform properties are the platform's; the user's stay.
    assert_eq!(
        super::table(&provider, &info("plain", json!({})), &metrics)
            .live
            .spec["properties"],
        json!({"owner_team": "ot"})
    );
}
