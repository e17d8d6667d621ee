//! The Zerobus connector of a live gateway emulator streaming tag changes into the bronze table
//! of a workspace emulator, end to end: both emulators in one test, the workspace with an OAuth
//! client, the bronze table created through the statement API with the demo's columns
//! (`manifests/databricks/tables.yaml`), the connector configured through `POST
//! /system/zerobus/config`, and changes published on the gateway's tag change feed. Every wait
//! is on a condition.

use std::time::{Duration, Instant};

use lode_emulators::databricks::{self, EmulatorConfig, RunningEmulator};
use lode_emulators::ignition::tag_events::{QUALITY_GOOD, TagChange};
use lode_emulators::ignition::{self, GatewayConfig, RunningGateway};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const WORKSPACE_TOKEN: &str = "dapi-zerobus-streaming";
const CLIENT_ID: &str = "mining-demo-zerobus-sp";
const CLIENT_SECRET: &str = "sp-secret";
const BRONZE: &str = "main.mining_demo.ot_telemetry_bronze";
const POLL_LIMIT: Duration = Duration::from_secs(30);

/// Polls `check` until it gives a value.
fn poll<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + POLL_LIMIT;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached within {POLL_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The bronze table's columns as the demo declares them.
fn bronze_columns() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../manifests/databricks/tables.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let table: Value = text
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap())
        .find(|doc| doc["name"] == "ot_telemetry_bronze")
        .expect("tables.yaml declares ot_telemetry_bronze");
    table["spec"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let not_null = if c["nullable"] == false {
                " NOT NULL"
            } else {
                ""
            };
            format!(
                "{} {}{not_null}",
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

struct Stack {
    _workspace_dir: tempfile::TempDir,
    _gateway_dir: tempfile::TempDir,
    workspace: RunningEmulator,
    gateway: RunningGateway,
    http: Client,
}

impl Stack {
    fn start() -> Stack {
        Stack::start_with(None)
    }

    fn start_with(faults: Option<&str>) -> Stack {
        let workspace_dir = tempfile::tempdir().unwrap();
        let gateway_dir = tempfile::tempdir().unwrap();
        let faults = faults.map(|rules| {
            let file = workspace_dir.path().join("faults.yaml");
            std::fs::write(&file, rules).unwrap();
            std::sync::Arc::new(
                lode_emulators::faults::Faults::parse(&format!("file={}", file.display())).unwrap(),
            )
        });
        let workspace = databricks::start(EmulatorConfig {
            data_dir: workspace_dir.path().join("databricks"),
            token: WORKSPACE_TOKEN.into(),
            oauth_client: Some((CLIENT_ID.into(), CLIENT_SECRET.into())),
            port: 0,
            faults,
        })
        .unwrap();
        let gateway = ignition::start(GatewayConfig {
            data_dir: gateway_dir.path().join("ignition"),
            token: "lode:gateway".into(),
            read_only_token: None,
            port: 0,
            live: true,
            ..Default::default()
        })
        .unwrap();
        let stack = Stack {
            _workspace_dir: workspace_dir,
            _gateway_dir: gateway_dir,
            workspace,
            gateway,
            http: Client::new(),
        };
        stack.sql("CREATE SCHEMA main.mining_demo");
        stack.sql(&format!("CREATE TABLE {BRONZE} ({})", bronze_columns()));
        stack
    }

    /// Runs a statement through the statement API; its rows.
    fn sql(&self, statement: &str) -> Vec<Vec<Option<String>>> {
        let reply: Value = self
            .http
            .post(format!("{}/api/2.0/sql/statements", self.workspace.url))
            .bearer_auth(WORKSPACE_TOKEN)
            .json(&json!({
                "statement": statement,
                "warehouse_id": databricks::catalog::WAREHOUSE_ID,
                "wait_timeout": "30s",
            }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            reply["status"]["state"], "SUCCEEDED",
            "{statement}: {reply}"
        );
        serde_json::from_value(reply["result"]["data_array"].clone()).unwrap_or_default()
    }

    /// The endpoint as the connector is configured with it: `host:port`, no scheme.
    fn endpoint(&self) -> String {
        self.workspace.url.trim_start_matches("http://").to_string()
    }

    /// The demo's connector settings (`manifests/ignition/zerobus.yaml`) against this
    /// workspace, with `changes` on top.
    fn configure(&self, changes: Value) {
        let mut config = json!({
            "enabled": true,
            "workspaceUrl": self.workspace.url,
            "zerobusEndpoint": self.endpoint(),
            "oauthClientId": CLIENT_ID,
            "oauthClientSecret": CLIENT_SECRET,
            "targetTable": BRONZE,
            "sourceSystemId": "ignition-mining-demo",
            "tagSelectionMode": "folder",
            "tagFolderPath": "[default]Mining/Equipment",
            "includeSubfolders": true,
            "batchSize": 500,
            "batchFlushIntervalMs": 100,
            "includeQuality": true,
            "maxRetries": 1,
            "retryBackoffMs": 100,
        });
        for (key, value) in changes.as_object().unwrap() {
            config[key] = value.clone();
        }
        let response = self
            .http
            .post(format!("{}/system/zerobus/config", self.gateway.url))
            .json(&config)
            .send()
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            response.text().unwrap()
        );
    }

    fn health(&self) -> Value {
        self.http
            .get(format!("{}/system/zerobus/health", self.gateway.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn diagnostics(&self) -> String {
        self.http
            .get(format!("{}/system/zerobus/diagnostics", self.gateway.url))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }

    /// Waits until the stream is open against Zerobus.
    fn wait_connected(&self) {
        poll("the connector connects", || {
            (self.health()["connected"] == true).then_some(())
        });
    }

    fn publish(&self, path: &str, value: Value) {
        let data_type = match &value {
            Value::Bool(_) => "Boolean",
            Value::String(_) => "String",
            _ => "Float8",
        };
        self.gateway.gateway.tag_events.publish(TagChange {
            path: path.into(),
            data_type: data_type.into(),
            value,
            quality: QUALITY_GOOD,
            timestamp_ms: ignition::now_ms(),
        });
    }

    /// `(tag_path, numeric_value)` of every bronze row, oldest event first.
    fn bronze(&self) -> Vec<(String, f64)> {
        self.sql(&format!(
            "SELECT tag_path, numeric_value FROM {BRONZE} ORDER BY event_time, numeric_value"
        ))
        .into_iter()
        .map(|row| {
            (
                row[0].clone().unwrap(),
                row[1].as_deref().unwrap().parse().unwrap(),
            )
        })
        .collect()
    }

    fn wait_for_rows(&self, count: usize) -> Vec<(String, f64)> {
        poll(&format!("{count} bronze rows"), || {
            let rows = self.bronze();
            (rows.len() >= count).then_some(rows)
        })
    }

    /// `(numOutputRows, commit time in ms)` of the table's streaming commits, oldest first.
    fn streaming_commits(&self, table: &str) -> Vec<(u64, i64)> {
        // DESCRIBE HISTORY: version, timestamp, userId, userName, operation, ...,
        // operationMetrics (12th), newest first.
        let mut commits: Vec<(u64, i64)> = self
            .sql(&format!("DESCRIBE HISTORY {table}"))
            .into_iter()
            .filter(|row| row[4].as_deref() == Some("STREAMING UPDATE"))
            .map(|row| {
                let metrics: Value = serde_json::from_str(row[12].as_deref().unwrap()).unwrap();
                let at = time::OffsetDateTime::parse(
                    row[1].as_deref().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap();
                (
                    metrics["numOutputRows"].as_str().unwrap().parse().unwrap(),
                    (at.unix_timestamp_nanos() / 1_000_000) as i64,
                )
            })
            .collect();
        commits.reverse();
        commits
    }
}

const CR_VIBRATION: &str = "[default]Mining/Equipment/CR_002/Vibration_MM_S";
const CR_MOTOR: &str = "[default]Mining/Equipment/CR_002/Motor/Current_A";
const HT_SPEED: &str = "[default]Mining/Equipment/HT_001/Speed_KPH";
const FAULT_ENABLED: &str = "[default]Mining/Simulation/Fault_Enabled";
const OTHER_PROVIDER: &str = "[edge]Mining/Equipment/CR_002/Vibration_MM_S";

/// The rows, sorted, for comparing as a multiset.
fn sorted(mut rows: Vec<(String, f64)>) -> Vec<(String, f64)> {
    rows.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    rows
}

fn rows(expected: &[(&str, f64)]) -> Vec<(String, f64)> {
    sorted(expected.iter().map(|(p, v)| (p.to_string(), *v)).collect())
}

#[test]
fn issue_16_folder_selection_streams_each_change_once_and_nothing_else() {
    let stack = Stack::start();
    stack.configure(json!({}));
    stack.wait_connected();
    // Unselected changes first: had they been queued, they would arrive before the others.
    stack.publish(FAULT_ENABLED, json!(true));
    stack.publish(OTHER_PROVIDER, json!(99.0));
    stack.publish("[default]Mining/EquipmentSpare/X", json!(98.0));
    let selected = [
        (CR_VIBRATION, 12.5),
        (CR_VIBRATION, 45.0),
        (CR_MOTOR, 310.0),
        (HT_SPEED, 38.0),
        (HT_SPEED, 38.0),
    ];
    for (path, value) in selected {
        stack.publish(path, json!(value));
    }
    let arrived = stack.wait_for_rows(selected.len());
    assert_eq!(sorted(arrived), rows(&selected));

    // The records carry the connector's schema.
    let record = stack.sql(&format!(
        "SELECT tag_provider, string_value, boolean_value, quality, quality_code, source_system, \
         data_type, alarm_state, alarm_priority, \
         ingestion_timestamp >= unix_micros(event_time), \
         ingestion_timestamp - unix_micros(event_time) < 60000000 \
         FROM {BRONZE} WHERE tag_path = '{CR_MOTOR}'"
    ));
    assert_eq!(
        record,
        vec![
            [
                "default",
                "",
                "false",
                "Good",
                "192",
                "ignition-mining-demo",
                "DOUBLE",
                "",
                "0",
                "true",
                "true"
            ]
            .map(|v| Some(v.to_string()))
            .to_vec()
        ]
    );
    let distinct = stack.sql(&format!("SELECT count(DISTINCT event_id) FROM {BRONZE}"));
    assert_eq!(distinct, vec![vec![Some("5".to_string())]]);

    // Without subfolders: the folder's own tags only.
    stack.configure(json!({
        "tagFolderPath": "[default]Mining/Equipment/CR_002",
        "includeSubfolders": false,
    }));
    stack.publish(CR_MOTOR, json!(320.0));
    stack.publish(HT_SPEED, json!(40.0));
    stack.publish(CR_VIBRATION, json!(46.0));
    let arrived = stack.wait_for_rows(selected.len() + 1);
    assert_eq!(arrived.len(), selected.len() + 1, "{arrived:?}");
    assert_eq!(arrived.last().unwrap(), &(CR_VIBRATION.to_string(), 46.0));
    let health = stack.health();
    assert_eq!(health["recordsAcknowledged"], 6, "{health}");
    assert_eq!(health["recordsFailed"], 0, "{health}");
    assert_eq!(health["recordsDropped"], 0, "{health}");
    assert!(health.get("lastError").is_none(), "{health}");
}

#[test]
fn issue_16_pattern_and_explicit_selection() {
    let stack = Stack::start();
    // A Java regex over the whole path with its provider.
    stack.configure(json!({
        "tagSelectionMode": "pattern",
        "tagPathPattern": r"\[default\]Mining/Equipment/CR_\d+/Vibration.*",
    }));
    stack.wait_connected();
    stack.publish(HT_SPEED, json!(1.0));
    stack.publish(OTHER_PROVIDER, json!(2.0));
    stack.publish(CR_MOTOR, json!(3.0));
    stack.publish(CR_VIBRATION, json!(4.0));
    stack.publish(
        "[default]Mining/Equipment/CR_003/Vibration_Peak",
        json!(5.0),
    );
    let arrived = stack.wait_for_rows(2);
    assert_eq!(
        sorted(arrived),
        rows(&[
            (CR_VIBRATION, 4.0),
            ("[default]Mining/Equipment/CR_003/Vibration_Peak", 5.0)
        ])
    );

    stack.configure(json!({
        "tagSelectionMode": "explicit",
        "explicitTagPaths": [HT_SPEED, "Mining/Simulation/Fault_Enabled"],
    }));
    stack.wait_connected();
    stack.publish(CR_VIBRATION, json!(6.0));
    stack.publish(CR_MOTOR, json!(7.0));
    stack.publish(HT_SPEED, json!(8.0));
    stack.publish(FAULT_ENABLED, json!(true));
    let arrived = stack.wait_for_rows(4);
    assert_eq!(arrived.len(), 4, "{arrived:?}");
    let explicit = stack.sql(&format!(
        "SELECT tag_path, numeric_value, boolean_value, data_type FROM {BRONZE} \
         WHERE tag_path IN ('{HT_SPEED}', '{FAULT_ENABLED}') ORDER BY tag_path"
    ));
    assert_eq!(
        explicit,
        vec![
            [HT_SPEED, "8.0", "false", "DOUBLE"]
                .map(|v| Some(v.to_string()))
                .to_vec(),
            [FAULT_ENABLED, "0.0", "true", "BOOLEAN"]
                .map(|v| Some(v.to_string()))
                .to_vec(),
        ]
    );
}

#[test]
fn issue_16_each_batch_is_one_delta_commit_within_batch_size_and_interval() {
    let stack = Stack::start();
    let interval_ms = 600;
    stack.configure(json!({"batchSize": 3, "batchFlushIntervalMs": interval_ms}));
    stack.wait_connected();
    for i in 0..7 {
        stack.publish(CR_VIBRATION, json!(f64::from(i)));
    }
    stack.wait_for_rows(7);
    let commits = stack.streaming_commits(BRONZE);
    let sizes: Vec<u64> = commits.iter().map(|c| c.0).collect();
    assert_eq!(sizes.iter().sum::<u64>(), 7, "{commits:?}");
    assert!(sizes.iter().all(|n| (1..=3).contains(n)), "{commits:?}");
    // One batch per flush: seven records need three flushes at least.
    assert!(sizes.len() >= 3, "{commits:?}");
    assert_eq!(stack.health()["batchesAcknowledged"], sizes.len());
    // Flushes come once per interval: commits of consecutive batches are that far apart, less
    // the jitter of one commit's own duration.
    for pair in commits.windows(2) {
        let apart = pair[1].1 - pair[0].1;
        assert!(
            apart >= interval_ms / 2,
            "commits {apart} ms apart with a {interval_ms} ms flush interval: {commits:?}"
        );
    }
}

#[test]
fn issue_16_disabling_the_connector_stops_the_flow() {
    let stack = Stack::start();
    stack.configure(json!({}));
    stack.wait_connected();
    stack.publish(CR_VIBRATION, json!(1.0));
    stack.wait_for_rows(1);

    stack.configure(json!({"enabled": false}));
    let health = stack.health();
    assert_eq!(health["enabled"], false, "{health}");
    assert_eq!(health["state"], "disabled", "{health}");
    assert_eq!(health["running"], false, "{health}");
    assert!(stack.diagnostics().contains("Module Enabled: false"));
    // Published while disabled: never streamed, even once the connector is enabled again.
    stack.publish(CR_VIBRATION, json!(2.0));
    stack.publish(HT_SPEED, json!(3.0));

    stack.configure(json!({}));
    stack.wait_connected();
    stack.publish(CR_VIBRATION, json!(4.0));
    let arrived = stack.wait_for_rows(2);
    assert_eq!(
        arrived,
        vec![
            (CR_VIBRATION.to_string(), 1.0),
            (CR_VIBRATION.to_string(), 4.0)
        ]
    );
}

#[test]
fn issue_16_a_missing_target_table_is_named_and_nothing_arrives() {
    let stack = Stack::start();
    let missing = "main.mining_demo.ot_telemetry_bronz";
    stack.configure(json!({"targetTable": missing}));
    let health = poll("the connector reports the missing table", || {
        let health = stack.health();
        health.get("lastError").is_some().then_some(health)
    });
    let error = health["lastError"].as_str().unwrap();
    assert!(
        error.contains(&format!("target table {missing} does not exist")),
        "{error}"
    );
    assert_eq!(health["connected"], false, "{health}");
    stack.publish(CR_VIBRATION, json!(1.0));
    stack.publish(HT_SPEED, json!(2.0));
    poll("the changes wait in the queue", || {
        (stack.health()["recordsQueued"] == 2).then_some(())
    });
    assert!(
        stack.diagnostics().contains(&format!(
            "Last Error: target table {missing} does not exist"
        )),
        "{}",
        stack.diagnostics()
    );
    // Zerobus creates no table, and the right one received nothing.
    let tables = stack.sql("SHOW TABLES IN main.mining_demo");
    assert_eq!(tables.len(), 1, "{tables:?}");
    assert!(stack.bronze().is_empty());
    assert_eq!(stack.health()["recordsAcknowledged"], 0);
}

#[test]
fn issue_16_records_that_do_not_fit_the_table_are_refused_and_counted() {
    let stack = Stack::start();
    let narrow = "main.mining_demo.narrow_bronze";
    stack.sql(&format!(
        "CREATE TABLE {narrow} (event_id STRING NOT NULL, tag_path STRING)"
    ));
    stack.configure(json!({"targetTable": narrow, "maxRetries": 0}));
    stack.wait_connected();
    stack.publish(CR_VIBRATION, json!(1.0));
    let health = poll("the batch refused", || {
        let health = stack.health();
        (health["recordsFailed"].as_u64() >= Some(1)).then_some(health)
    });
    let error = health["lastError"].as_str().unwrap();
    assert!(error.contains("INVALID_PARAMETER_VALUE"), "{error}");
    assert!(error.contains("FIELD_NOT_IN_TABLE"), "{error}");
    assert!(error.contains("\"event_time\""), "{error}");
    // Refused records stay queued for the next attempt: failed, not lost.
    assert_eq!(health["recordsQueued"], 1, "{health}");
    assert_eq!(health["recordsAcknowledged"], 0, "{health}");
    assert!(stack.sql(&format!("SELECT * FROM {narrow}")).is_empty());
}

#[test]
fn issue_16_rejected_oauth_credentials_are_reported_and_nothing_arrives() {
    let stack = Stack::start();
    stack.configure(json!({"oauthClientSecret": "not-the-secret"}));
    let health = poll("the connector reports the refused client", || {
        let health = stack.health();
        health.get("lastError").is_some().then_some(health)
    });
    let error = health["lastError"].as_str().unwrap();
    assert!(
        error.contains(&format!("OAuth client `{CLIENT_ID}` rejected")),
        "{error}"
    );
    assert!(error.contains("invalid_client"), "{error}");
    stack.publish(CR_VIBRATION, json!(1.0));
    poll("the change waits in the queue", || {
        (stack.health()["recordsQueued"] == 1).then_some(())
    });
    let diagnostics = stack.diagnostics();
    assert!(diagnostics.contains("Connected: false"), "{diagnostics}");
    assert!(diagnostics.contains("rejected"), "{diagnostics}");
    assert!(stack.bronze().is_empty());
}

#[test]
fn issue_16_an_unreachable_endpoint_and_injected_faults_are_retried_and_reported() {
    let stack = Stack::start();
    stack.configure(json!({"zerobusEndpoint": "127.0.0.1:1", "maxRetries": 0}));
    let health = poll("the connector reports the endpoint", || {
        let health = stack.health();
        health.get("lastError").is_some().then_some(health)
    });
    let error = health["lastError"].as_str().unwrap();
    assert!(
        error.starts_with("endpoint 127.0.0.1:1 unreachable"),
        "{error}"
    );

    // Every insert answered 503 by the workspace's fault injection: retried, counted, reported.
    let faulty = Stack::start_with(Some(
        "routes:\n  - method: POST\n    path: /zerobus/v1/tables/*\n    rate_503: 1\n",
    ));
    faulty.configure(json!({"maxRetries": 2, "retryBackoffMs": 50}));
    faulty.publish(CR_VIBRATION, json!(1.0));
    let faults = faulty.workspace.workspace.config.faults.clone().unwrap();
    // Opening the stream: one attempt and its two retries, all refused.
    poll("three refused attempts", || {
        (faults
            .counts
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 3)
            .then_some(())
    });
    let health = poll("the refusal reported", || {
        let health = faulty.health();
        (health["recordsQueued"] == 1 && health.get("lastError").is_some()).then_some(health)
    });
    assert!(
        health["lastError"].as_str().unwrap().contains("HTTP 503"),
        "{health}"
    );
    assert_eq!(health["connected"], false, "{health}");
    assert_eq!(health["recordsAcknowledged"], 0, "{health}");
    assert!(faulty.bronze().is_empty());
}

#[test]
fn issue_16_zerobus_rest_insert_answers_like_the_service() {
    let stack = Stack::start();
    let http = &stack.http;
    let insert = |table: &str, token: &str, body: &Value| {
        let response = http
            .post(format!(
                "{}/zerobus/v1/tables/{table}/insert",
                stack.workspace.url
            ))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        let status = response.status();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let token_for = |table: &str| -> String {
        let details = json!([{"type": "unity_catalog_privileges", "privileges": ["SELECT", "MODIFY"],
                              "object_type": "TABLE", "object_full_path": table}]);
        let reply: Value = http
            .post(format!("{}/oidc/v1/token", stack.workspace.url))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "all-apis"),
                ("authorization_details", &details.to_string()),
            ])
            .send()
            .unwrap()
            .json()
            .unwrap();
        reply["access_token"].as_str().unwrap().to_string()
    };
    let token = token_for(BRONZE);
    let record = json!({"event_id": "e1", "tag_path": CR_VIBRATION, "numeric_value": 1.5,
                        "event_time": 1_767_225_600_000_000_i64});

    let (status, body) = insert(BRONZE, &token, &json!([record]));
    assert_eq!((status, &body), (StatusCode::OK, &json!({})));
    assert_eq!(stack.bronze(), vec![(CR_VIBRATION.to_string(), 1.5)]);

    let (status, body) = insert(
        "main.mining_demo.nowhere",
        &token_for("main.mining_demo.nowhere"),
        &json!([record]),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error_code": "NOT_FOUND", "message": "Table \"main.mining_demo.nowhere\" cannot be found."})
    );
    let (status, body) = insert(
        BRONZE,
        &token,
        &json!([{"event_id": "e2", "vibration": 1.0}]),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("FIELD_NOT_IN_TABLE"),
        "{body}"
    );
    let (status, body) = insert(BRONZE, &token, &json!({"event_id": "e3"}));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A token scoped to another table may not write this one; no token is no write at all.
    let (status, body) = insert(
        BRONZE,
        &token_for("main.mining_demo.other"),
        &json!([record]),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error_code"], "PERMISSION_DENIED");
    let (status, _) = insert(BRONZE, "dapi-oauth-forged", &json!([record]));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.bronze().len(), 1);
}
