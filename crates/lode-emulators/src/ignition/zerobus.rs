//! The Zerobus connector module's servlet (`/system/zerobus/*`), as its handler behaves: no
//! auth check, `GET /health`, `GET /config` with the secrets masked (`"****"`, or `""` when
//! unset), `POST /config` that *replaces* the whole configuration (keys left out take the
//! module's defaults; a blank or `"****"` secret keeps the stored one), validation errors as
//! 400 `{"success": false, "error": "validation_failed", "details": [...]}`, and the small
//! diagnostic/ingest endpoints. The module keeps its settings in the gateway's internal
//! database, not under `data/config`; the emulator keeps them in `<data_dir>/.zerobus/`.
//! Saving settings brings the running stream of a live gateway in line with them
//! ([`super::zerobus_stream`]); `GET /health` adds the stream's state and counters to the
//! module's `{"status", "enabled"}`, and `GET /diagnostics` is the module's text report with
//! the stream's numbers and last error.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use super::Shared;
use super::scan::gson_string;
use super::tag_events::TagEvents;
use super::zerobus_stream::{StreamStatus, ZerobusStream, wants_stream};
use lode_wire::ignition::data_dir::write_atomic;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Float,
    StrList,
    List,
    /// `numericCompressionMode`: NONE | DEADBAND | SDT, unset by default.
    Mode,
}

/// The configuration keys in the module's field order, with their kinds and defaults.
fn fields() -> Vec<(&'static str, Kind, Value)> {
    use Kind::*;
    vec![
        ("workspaceUrl", Str, json!("")),
        ("zerobusEndpoint", Str, json!("")),
        ("oauthClientId", Str, json!("")),
        ("oauthClientSecret", Str, json!("")),
        ("oauthTokenEndpoint", Str, json!("")),
        ("targetTable", Str, json!("")),
        ("catalogName", Str, json!("")),
        ("schemaName", Str, json!("")),
        ("tableName", Str, json!("")),
        ("sinkMode", Str, json!("zerobus")),
        ("enableZerobusSink", Bool, json!(true)),
        ("enablePostgresSink", Bool, json!(false)),
        ("postgresHost", Str, json!("")),
        ("postgresPort", Int, json!(5432)),
        ("postgresDatabase", Str, json!("")),
        ("postgresUser", Str, json!("")),
        ("postgresPassword", Str, json!("")),
        ("postgresTable", Str, json!("raw_tags")),
        ("postgresPoolSize", Int, json!(5)),
        ("enableDirectSubscriptions", Bool, json!(true)),
        ("tagSelectionMode", Str, json!("explicit")),
        ("tagFolderPath", Str, json!("")),
        ("tagPathPattern", Str, json!("")),
        ("explicitTagPaths", StrList, json!([])),
        ("includeSubfolders", Bool, json!(true)),
        ("batchSize", Int, json!(500)),
        ("batchFlushIntervalMs", Int, json!(2000)),
        ("maxQueueSize", Int, json!(10000)),
        ("maxEventsPerSecond", Int, json!(1000)),
        ("enableStoreAndForward", Bool, json!(false)),
        ("spoolDirectory", Str, json!("data/zerobus-spool")),
        ("spoolMaxBytes", Int, json!(1_073_741_824_i64)),
        ("spoolHighWatermarkPct", Float, json!(0.85)),
        ("spoolLowWatermarkPct", Float, json!(0.70)),
        ("spoolReadMaxBytes", Int, json!(2_097_152)),
        ("maxRetries", Int, json!(3)),
        ("retryBackoffMs", Int, json!(1000)),
        ("connectionTimeoutMs", Int, json!(30000)),
        ("requestTimeoutMs", Int, json!(60000)),
        ("sourceSystemId", Str, json!("ignition-gateway")),
        ("includeQuality", Bool, json!(true)),
        ("numericCompressionMode", Mode, Value::Null),
        ("onlyOnChange", Bool, json!(false)),
        ("numericDeadband", Float, json!(0.0)),
        ("numericSdtDeviation", Float, json!(0.0)),
        ("numericSdtMaxIntervalMs", Int, json!(0)),
        ("numericSdtMinIntervalMs", Int, json!(0)),
        ("numericDeadbandRules", List, json!([])),
        ("numericCompressionRules", List, json!([])),
        ("enabled", Bool, json!(false)),
        ("debugLogging", Bool, json!(false)),
    ]
}

/// Secrets: masked on read, kept when a write sends them blank or masked.
const SECRETS: [&str; 2] = ["oauthClientSecret", "postgresPassword"];
const MASK: &str = "****";

/// The module's defaults, as a fresh install has them.
pub fn default_config() -> Value {
    Value::Object(
        fields()
            .into_iter()
            .map(|(k, _, v)| (k.to_string(), v))
            .collect(),
    )
}

/// The stored configuration (with real secrets), persisted as one JSON file.
pub struct ZerobusStore {
    path: PathBuf,
    config: Mutex<Value>,
}

impl ZerobusStore {
    pub fn open(data_dir: &Path) -> std::io::Result<ZerobusStore> {
        let path = data_dir.join(".zerobus").join("config.json");
        let config = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => default_config(),
            Err(e) => return Err(e),
        };
        Ok(ZerobusStore {
            path,
            config: Mutex::new(config),
        })
    }

    pub fn get(&self) -> Value {
        self.config.lock().expect("zerobus config lock").clone()
    }

    /// Brings `stream` in line with the stored configuration, under the store's lock so that
    /// concurrent saves reach the stream in the order they were stored.
    pub fn apply_to(&self, stream: &ZerobusStream, live: bool, events: &TagEvents) {
        let stored = self.config.lock().expect("zerobus config lock");
        stream.apply(&stored, live, events);
    }
}

/// Why a body is not a configuration at all (the module's Gson parse failing).
enum ParseError {
    InvalidJson,
    InvalidConfig,
}

/// Reads a posted configuration like Gson into the module's model: unknown keys dropped,
/// missing (or null non-string) keys at their defaults, wrong types refused.
fn parse_config(body: &[u8]) -> Result<Map<String, Value>, ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::InvalidConfig);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| ParseError::InvalidJson)?;
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Err(ParseError::InvalidConfig),
        _ => return Err(ParseError::InvalidJson),
    };
    let mut config = Map::new();
    for (key, kind, default) in fields() {
        let value = match (object.get(key), kind) {
            (None, _) => default,
            (Some(Value::Null), Kind::Str | Kind::Mode) => Value::Null,
            (Some(Value::Null), _) => default,
            (Some(v @ Value::String(_)), Kind::Str) => v.clone(),
            (Some(v @ (Value::Number(_) | Value::Bool(_))), Kind::Str) => json!(v.to_string()),
            (Some(v @ Value::Bool(_)), Kind::Bool) => v.clone(),
            (Some(Value::String(s)), Kind::Bool) => json!(s.eq_ignore_ascii_case("true")),
            (Some(v @ Value::Number(n)), Kind::Int) if n.is_i64() => v.clone(),
            (Some(v @ Value::Number(_)), Kind::Float) => v.clone(),
            (Some(v @ Value::Array(items)), Kind::StrList)
                if items.iter().all(|i| i.is_string() || i.is_null()) =>
            {
                v.clone()
            }
            (Some(v @ Value::Array(items)), Kind::List)
                if items.iter().all(|i| i.is_object() || i.is_null()) =>
            {
                v.clone()
            }
            // Gson maps an unknown enum constant to null.
            (Some(Value::String(s)), Kind::Mode) => match s.as_str() {
                "NONE" | "DEADBAND" | "SDT" => json!(s),
                _ => Value::Null,
            },
            _ => return Err(ParseError::InvalidJson),
        };
        config.insert(key.to_string(), value);
    }
    Ok(config)
}

fn text<'a>(config: &'a Map<String, Value>, key: &str) -> &'a str {
    config.get(key).and_then(Value::as_str).unwrap_or("")
}

fn flag(config: &Map<String, Value>, key: &str) -> bool {
    config.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn number(config: &Map<String, Value>, key: &str) -> f64 {
    config.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// `batchSize` must be in this range (reference `ignition-83.md` §7: `batchSize (1..10000)`).
pub const BATCH_SIZE: std::ops::RangeInclusive<i64> = 1..=10_000;
/// `batchFlushIntervalMs` must be in this range, in milliseconds (reference `ignition-83.md`
/// §7: `batchFlushIntervalMs (100..60000)`, from the module's `ConfigModel.validate`).
pub const BATCH_FLUSH_INTERVAL_MS: std::ops::RangeInclusive<i64> = 100..=60_000;

/// `catalog.schema.table` split the way Java's `String.split("\\.")` does (trailing empty
/// parts dropped); `None` unless exactly three parts. Reference `ignition-83.md` §7:
/// `targetTable` is `catalog.schema.table`, exactly 3 parts.
fn table_parts(target: &str) -> Option<[String; 3]> {
    let mut parts: Vec<&str> = target.split('.').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    match parts.as_slice() {
        [catalog, schema, table] => {
            Some([catalog.to_string(), schema.to_string(), table.to_string()])
        }
        _ => None,
    }
}

/// Whether a target names a table in three non-empty parts: `catalog.schema.table`. The module
/// checks it only when it is enabled (a disabled module saves partial settings), and then
/// reports "Target table must be in format: catalog.schema.table".
pub fn is_three_part_table(target: &str) -> bool {
    table_parts(target).is_some_and(|parts| parts.iter().all(|p| !p.is_empty()))
}

/// The module's normalisation before validating: spool paths made portable, and the catalog,
/// schema and table derived from `targetTable`.
fn normalise(config: &mut Map<String, Value>) {
    let spool = text(config, "spoolDirectory").trim().to_string();
    let spool = if spool.is_empty() {
        "data/zerobus-spool".to_string()
    } else if let Some(tail) = ["/usr/local/ignition/data/", "/usr/local/bin/ignition/data/"]
        .iter()
        .find_map(|prefix| spool.strip_prefix(prefix))
    {
        if tail.trim().is_empty() {
            "data/zerobus-spool".to_string()
        } else {
            format!("data/{tail}")
        }
    } else if let Some(rest) = spool.strip_prefix("/usr/local/ignition/") {
        format!("/usr/local/bin/ignition/{rest}")
    } else {
        spool
    };
    config.insert("spoolDirectory".into(), json!(spool));
    if let Some([catalog, schema, table]) = table_parts(text(config, "targetTable")) {
        config.insert("catalogName".into(), json!(catalog));
        config.insert("schemaName".into(), json!(schema));
        config.insert("tableName".into(), json!(table));
    }
}

/// The module's validation messages for a configuration about to be saved.
fn validate(config: &Map<String, Value>) -> Vec<String> {
    let mut errors = Vec::new();
    let mut require = |ok: bool, message: &str| {
        if !ok {
            errors.push(message.to_string());
        }
    };
    // A disabled module may be saved half-configured; an enabled one must be complete.
    if flag(config, "enabled") {
        if flag(config, "enableZerobusSink") {
            require(
                !text(config, "workspaceUrl").is_empty(),
                "Workspace URL is required",
            );
            require(
                !text(config, "zerobusEndpoint").is_empty(),
                "Zerobus endpoint is required",
            );
            require(
                !text(config, "oauthClientId").is_empty(),
                "OAuth client ID is required",
            );
            require(
                !text(config, "oauthClientSecret").is_empty(),
                "OAuth client secret is required",
            );
            let target = text(config, "targetTable");
            if target.is_empty() {
                require(false, "Target table is required");
            } else {
                require(
                    is_three_part_table(target),
                    "Target table must be in format: catalog.schema.table",
                );
            }
        }
        if flag(config, "enablePostgresSink") {
            require(
                !text(config, "postgresHost").is_empty(),
                "Postgres host is required",
            );
            require(
                !text(config, "postgresDatabase").is_empty(),
                "Postgres database is required",
            );
            require(
                !text(config, "postgresUser").is_empty(),
                "Postgres user is required",
            );
        }
        if flag(config, "enableDirectSubscriptions") {
            match text(config, "tagSelectionMode") {
                "folder" => require(
                    !text(config, "tagFolderPath").is_empty(),
                    "Tag folder path is required when using folder selection mode",
                ),
                "pattern" => require(
                    !text(config, "tagPathPattern").is_empty(),
                    "Tag path pattern is required when using pattern selection mode",
                ),
                "explicit" => require(
                    config
                        .get("explicitTagPaths")
                        .and_then(Value::as_array)
                        .is_some_and(|paths| !paths.is_empty()),
                    "At least one tag path is required when using explicit selection mode",
                ),
                _ => {}
            }
        }
    }
    let in_range = |key: &str, range: &std::ops::RangeInclusive<i64>| {
        let value = number(config, key);
        value >= *range.start() as f64 && value <= *range.end() as f64
    };
    require(
        in_range("batchSize", &BATCH_SIZE),
        &format!(
            "Batch size must be between {} and {}",
            BATCH_SIZE.start(),
            BATCH_SIZE.end()
        ),
    );
    require(
        in_range("batchFlushIntervalMs", &BATCH_FLUSH_INTERVAL_MS),
        &format!(
            "Batch flush interval must be between {}ms and {}ms",
            BATCH_FLUSH_INTERVAL_MS.start(),
            BATCH_FLUSH_INTERVAL_MS.end()
        ),
    );
    if flag(config, "enableStoreAndForward") {
        let high = number(config, "spoolHighWatermarkPct");
        let low = number(config, "spoolLowWatermarkPct");
        require(
            number(config, "spoolMaxBytes") >= (10 * 1024 * 1024) as f64,
            "Spool max bytes must be at least 10MB when store-and-forward is enabled",
        );
        require(
            high > 0.0 && high < 1.0,
            "Spool high watermark must be between 0 and 1",
        );
        require(
            low > 0.0 && low < 1.0,
            "Spool low watermark must be between 0 and 1",
        );
        require(
            low < high,
            "Spool low watermark must be less than high watermark",
        );
    }
    let mode = match config.get("numericCompressionMode").and_then(Value::as_str) {
        Some(mode) => mode,
        None if flag(config, "onlyOnChange") => "DEADBAND",
        None => "NONE",
    };
    match mode {
        "DEADBAND" => require(
            number(config, "numericDeadband") >= 0.0,
            "numericDeadband must be >= 0",
        ),
        "SDT" => {
            let max = number(config, "numericSdtMaxIntervalMs");
            let min = number(config, "numericSdtMinIntervalMs");
            require(
                number(config, "numericSdtDeviation") > 0.0,
                "numericSdtDeviation must be > 0 when numericCompressionMode is SDT",
            );
            require(max >= 0.0, "numericSdtMaxIntervalMs must be >= 0");
            require(min >= 0.0, "numericSdtMinIntervalMs must be >= 0");
            require(
                !(max > 0.0 && min > max),
                "numericSdtMinIntervalMs must be <= numericSdtMaxIntervalMs when maxInterval is enabled",
            );
        }
        _ => {}
    }
    for (list, what) in [
        ("numericCompressionRules", "numericCompressionRules"),
        ("numericDeadbandRules", "numericDeadbandRules"),
    ] {
        if list == "numericDeadbandRules" && mode != "DEADBAND" {
            continue;
        }
        for (index, rule) in config
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if rule.is_null() {
                continue;
            }
            let regex = rule
                .get("tagPathRegex")
                .and_then(Value::as_str)
                .unwrap_or("");
            if regex.trim().is_empty() {
                errors.push(format!(
                    "{what}[{index}].tagPathRegex is required (non-empty)"
                ));
            }
        }
    }
    errors
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        gson_string(value, false),
    )
        .into_response()
}

/// The configuration as `GET /config` shows it: secrets masked, nulls left out (Gson skips
/// them).
fn masked(config: &Value) -> Value {
    let mut shown = Map::new();
    for (key, value) in config.as_object().into_iter().flatten() {
        if value.is_null() {
            continue;
        }
        let value = if SECRETS.contains(&key.as_str()) {
            json!(if value.as_str().unwrap_or("").is_empty() {
                ""
            } else {
                MASK
            })
        } else {
            value.clone()
        };
        shown.insert(key.clone(), value);
    }
    Value::Object(shown)
}

fn post_config(gateway: &Shared, body: &[u8]) -> Response {
    let mut config = match parse_config(body) {
        Ok(config) => config,
        Err(ParseError::InvalidJson) => {
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_json"}));
        }
        Err(ParseError::InvalidConfig) => {
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_config"}));
        }
    };
    let store = &gateway.zerobus;
    let mut stored = store.config.lock().expect("zerobus config lock");
    for secret in SECRETS {
        let incoming = text(&config, secret).trim().to_string();
        let existing = stored.get(secret).and_then(Value::as_str).unwrap_or("");
        if (incoming.is_empty() || incoming == MASK) && !existing.trim().is_empty() {
            config.insert(secret.to_string(), json!(existing));
        }
    }
    normalise(&mut config);
    let errors = validate(&config);
    if !errors.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"success": false, "error": "validation_failed", "details": errors}),
        );
    }
    let config = Value::Object(config);
    let bytes = serde_json::to_vec_pretty(&config).expect("JSON serialises");
    if let Err(error) = write_atomic(&store.path, &bytes) {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"success": false, "error": "save_failed", "message": error.to_string()}),
        );
    }
    *stored = config;
    // A changed configuration restarts the stream with it; a disabled one stops it.
    gateway
        .zerobus_stream
        .apply(&stored, gateway.config.live, &gateway.tag_events);
    json_response(StatusCode::OK, &json!({"success": true}))
}

/// Why an enabled-looking connector streams nothing, if it does not.
fn idle_reason(config: &Value, live: bool) -> Option<&'static str> {
    let enabled = config
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !enabled {
        Some("disabled")
    } else if !wants_stream(config) {
        Some("zerobus sink off")
    } else if !live {
        Some("not live")
    } else {
        None
    }
}

/// `GET /health`: the module's `{"status": "ok", "enabled"}`, plus the stream's state and
/// counters (the emulator's additions, named after the module's diagnostics).
fn health(config: &Value, live: bool, stream: &StreamStatus) -> Value {
    let enabled = config
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let counters = &stream.counters;
    let mut health = json!({
        "status": "ok",
        "enabled": enabled,
        "state": idle_reason(config, live).unwrap_or("streaming"),
        "running": stream.running,
        "connected": stream.connected,
        "targetTable": stream.target_table,
        "eventsReceived": counters.events_received,
        "eventsFiltered": counters.events_filtered,
        "recordsSent": counters.records_sent,
        "recordsAcknowledged": counters.records_acknowledged,
        "recordsFailed": counters.records_failed,
        "recordsDropped": counters.records_dropped,
        "recordsQueued": stream.queued,
        "batchesAcknowledged": counters.batches_acknowledged,
    });
    // Gson leaves null fields out.
    if let Some(error) = &stream.last_error {
        health["lastError"] = json!(error);
    }
    health
}

/// `GET /diagnostics`: the module's text report (its three sections and labels), from the
/// stream's state.
fn diagnostics(config: &Value, live: bool, stream: &StreamStatus) -> String {
    let enabled = config
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let counters = &stream.counters;
    let mut text = format!("=== Zerobus Module Diagnostics ===\nModule Enabled: {enabled}\n");
    match idle_reason(config, live) {
        Some("disabled") => text.push_str("Streaming: off (the module is disabled)\n"),
        Some("not live") => text.push_str(
            "Streaming: off (the gateway emulator is not live: it runs no tag subscriptions)\n",
        ),
        Some(_) => text.push_str("Streaming: off (enableZerobusSink is false)\n"),
        None => text.push_str("Streaming: on\n"),
    }
    text.push_str("\n=== Zerobus Client Diagnostics ===\n");
    text.push_str(&format!(
        "Initialized: {}\nConnected: {}\nEndpoint: {}\nTarget Table: {}\n",
        stream.running, stream.connected, stream.endpoint, stream.target_table
    ));
    text.push_str(&format!(
        "Total Events Sent: {}\nTotal Batches Sent: {}\nTotal Failures: {}\n",
        counters.records_acknowledged, counters.batches_acknowledged, counters.send_failures
    ));
    text.push_str(&format!(
        "Records Sent: {}\nRecords Acknowledged: {}\nRecords Failed: {}\n",
        counters.records_sent, counters.records_acknowledged, counters.records_failed
    ));
    match stream.last_acknowledged_ms {
        Some(at) => text.push_str(&format!(
            "Last Successful Send: {} seconds ago\n",
            (super::now_ms() - at).max(0) / 1000
        )),
        None => text.push_str("Last Successful Send: Never\n"),
    }
    if let Some(error) = &stream.last_error {
        text.push_str(&format!("Last Error: {error}\n"));
    }
    text.push_str("\n=== Event Processing Service Diagnostics ===\n");
    text.push_str(&format!(
        "Running: {}\nBuffer: in-memory\nQueue Size: {}/{}\n",
        stream.running, stream.queued, stream.max_queue_size
    ));
    text.push_str(&format!(
        "Total Events Received: {}\nTotal Events Dropped: {}\n",
        counters.events_received, counters.records_dropped
    ));
    text.push_str(&format!(
        "Compression Mode (effective): {}\nEvents Filtered (deadband/on-change): {}\n",
        if stream.compression_mode.is_empty() {
            "NONE"
        } else {
            &stream.compression_mode
        },
        counters.events_filtered
    ));
    text.push_str(&format!(
        "Batch Size: {}\nFlush Interval: {}ms\nDirect Subscriptions: {}\n",
        stream.batch_size, stream.flush_interval_ms, stream.selection
    ));
    for note in &stream.notes {
        text.push_str(&format!("Not emulated: {note}\n"));
    }
    text
}

fn batch_counts(enabled: bool, received: usize) -> Value {
    let accepted = if enabled { received } else { 0 };
    json!({"received": received, "accepted": accepted, "dropped": received - accepted})
}

async fn servlet(
    State(gateway): State<Shared>,
    method: Method,
    path: Option<UrlPath<String>>,
    body: Bytes,
) -> Response {
    let path = path.map(|UrlPath(p)| p).unwrap_or_default();
    let path = format!("/{}", path.trim_matches('/'));
    let config = gateway.zerobus.get();
    let enabled = config
        .get("enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let not_found = || json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"}));
    match method {
        Method::GET => match path.as_str() {
            "/" | "/health" => json_response(
                StatusCode::OK,
                &health(&config, gateway.config.live, &gateway.zerobus_stream.status()),
            ),
            "/config" => json_response(StatusCode::OK, &masked(&config)),
            "/diagnostics" => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain")],
                diagnostics(&config, gateway.config.live, &gateway.zerobus_stream.status()),
            )
                .into_response(),
            "/metrics/compression" => json_response(StatusCode::OK, &json!({"available": false})),
            "/configure" => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
                "<html><body><h1>Zerobus Connector</h1><p>Configure through POST /system/zerobus/config.</p></body></html>",
            )
                .into_response(),
            _ => not_found(),
        },
        Method::POST => match path.as_str() {
            "/config" => post_config(&gateway, &body),
            "/test-connection" => {
                let ok = enabled && validate(config.as_object().expect("config is an object")).is_empty();
                json_response(
                    if ok { StatusCode::OK } else { StatusCode::BAD_REQUEST },
                    &json!({"success": ok, "message": if ok { "Connection test successful" } else { "Connection test failed" }}),
                )
            }
            "/restart-services" => json_response(
                StatusCode::OK,
                &json!({"success": true, "message": "Services restarted"}),
            ),
            "/ingest" => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(_)) => json_response(StatusCode::OK, &batch_counts(enabled, 1)),
                Ok(Value::Null) => json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_payload"})),
                _ => json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_json"})),
            },
            "/ingest/batch" => match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(events)) => {
                    json_response(StatusCode::OK, &batch_counts(enabled, events.len()))
                }
                Ok(Value::Null) => json_response(StatusCode::OK, &batch_counts(enabled, 0)),
                _ => json_response(StatusCode::BAD_REQUEST, &json!({"error": "invalid_json"})),
            },
            _ => not_found(),
        },
        _ => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({"error": "method_not_allowed"}),
        ),
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/system/zerobus", any(servlet))
        .route("/system/zerobus/", any(servlet))
        .route("/system/zerobus/{*path}", any(servlet))
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use super::super::test_support::*;

    fn post(gateway: &super::super::RunningGateway, body: Value) -> (StatusCode, Value) {
        // No token: the module's servlet does not check one.
        let response = client()
            .post(format!("{}/system/zerobus/config", gateway.url))
            .json(&body)
            .send()
            .unwrap();
        (response.status(), response.json().unwrap())
    }

    fn config(gateway: &super::super::RunningGateway) -> Value {
        client()
            .get(format!("{}/system/zerobus/config", gateway.url))
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn full() -> Value {
        json!({
            "enabled": true,
            "workspaceUrl": "https://example.cloud.databricks.com",
            "zerobusEndpoint": "1234.zerobus.us-west-2.cloud.databricks.com",
            "oauthClientId": "client",
            "oauthClientSecret": "s3cret",
            "targetTable": "mining.ot.raw_tags",
            "tagSelectionMode": "folder",
            "tagFolderPath": "[default]Mining",
            "batchSize": 200,
        })
    }

    #[test]
    fn health_masking_and_replace_semantics() {
        let (dir, gateway) = gateway(false);
        let health: Value = client()
            .get(format!("{}/system/zerobus/health", gateway.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(health["status"], "ok");
        assert_eq!(health["enabled"], false);
        assert_eq!(health["state"], "disabled");
        let defaults = config(&gateway);
        assert_eq!(defaults["oauthClientSecret"], "");
        assert_eq!(defaults["sourceSystemId"], "ignition-gateway");
        assert_eq!(defaults["batchSize"], 500);

        let (status, body) = post(&gateway, full());
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"success": true}));
        let shown = config(&gateway);
        assert_eq!(shown["oauthClientSecret"], "****");
        assert_eq!(shown["postgresPassword"], "");
        assert_eq!(shown["catalogName"], "mining");
        assert_eq!(shown["batchSize"], 200);
        assert!(
            !std::fs::read_to_string(dir.path().join(".zerobus/config.json"))
                .unwrap()
                .is_empty()
        );

        // Replace: keys left out go back to their defaults; a masked secret is kept.
        let mut next = full();
        next["oauthClientSecret"] = json!("****");
        next.as_object_mut().unwrap().remove("batchSize");
        let (status, _) = post(&gateway, next);
        assert_eq!(status, StatusCode::OK);
        let shown = config(&gateway);
        assert_eq!(shown["batchSize"], 500);
        assert_eq!(shown["oauthClientSecret"], "****");
        assert_eq!(gateway.gateway.zerobus.get()["oauthClientSecret"], "s3cret");
        let health: Value = client()
            .get(format!("{}/system/zerobus/health", gateway.url))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(health["enabled"], true);

        // A blank secret keeps the stored one too.
        let mut blank = full();
        blank["oauthClientSecret"] = json!("");
        assert_eq!(post(&gateway, blank).0, StatusCode::OK);
        assert_eq!(gateway.gateway.zerobus.get()["oauthClientSecret"], "s3cret");
    }

    #[test]
    fn validation_errors_have_the_module_shape() {
        let (_dir, gateway) = gateway(false);
        let (status, body) = post(
            &gateway,
            json!({"enabled": true, "targetTable": "mining.raw_tags", "tagSelectionMode": "folder"}),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "validation_failed");
        let details: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(details.contains(&"Workspace URL is required"));
        assert!(details.contains(&"OAuth client secret is required"));
        assert!(details.contains(&"Target table must be in format: catalog.schema.table"));
        assert!(details.contains(&"Tag folder path is required when using folder selection mode"));
        // Nothing was saved.
        assert_eq!(config(&gateway)["enabled"], false);
        // A disabled module saves partial settings.
        assert_eq!(
            post(&gateway, json!({"targetTable": "x"})).0,
            StatusCode::OK
        );
        let invalid = client()
            .post(format!("{}/system/zerobus/config", gateway.url))
            .body("[1]")
            .send()
            .unwrap();
        assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
        assert_eq!(invalid.json::<Value>().unwrap()["error"], "invalid_json");
    }
}
