//! The Zerobus connector's configuration, through the module's servlet
//! (`/system/zerobus/config`): GET returns the whole config with secrets masked as `****`, POST
//! replaces it whole (a blank or `****` secret keeps the stored one). Only the keys the
//! manifests set are compared; the secret is write-only and compared by the engine through a
//! keyed fingerprint in state. Discovery keeps the spec's keys that differ from the module's
//! defaults (`MODULE_DEFAULTS`) and reports other settings that do as lossy.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::client::GatewayClient;
use crate::manifest::{Address, Kind};
use crate::provider::{Discovered, LiveObject, ProviderError, RefreshRequest};

const CONFIG: &str = "/system/zerobus/config";

fn refused(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Refused(error.to_string())
}

/// The live config reduced to the keys `wanted` sets (and `enabled`).
fn spec_from(config: &Value, wanted: &Value) -> Value {
    let mut spec = serde_json::Map::new();
    for key in wanted
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .chain(std::iter::once(&"enabled".to_string()))
    {
        if let Some(value) = config.get(key) {
            spec.insert(key.clone(), value.clone());
        }
    }
    Value::Object(spec)
}

pub fn read(
    gateway: &GatewayClient,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let mut live = BTreeMap::new();
    if requests.is_empty() {
        return Ok(live);
    }
    let config = gateway.get(CONFIG).map_err(refused)?;
    // A module with no target configured is a connector that does not exist yet.
    let configured = config
        .get("targetTable")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    for request in requests {
        if configured {
            live.insert(
                request.address.clone(),
                LiveObject::plain(spec_from(&config, &request.spec)),
            );
        }
    }
    Ok(live)
}

pub fn write(gateway: &GatewayClient, desired: &Value) -> Result<LiveObject, ProviderError> {
    gateway.post_json(CONFIG, desired, true).map_err(refused)?;
    let config = gateway.get(CONFIG).map_err(refused)?;
    Ok(LiveObject::plain(spec_from(&config, desired)))
}

/// The emergency stop: the whole current config posted back with `enabled: false` (the masked
/// secret posted back as `****` keeps the stored one). `None` when it was not running.
pub fn disable(gateway: &GatewayClient) -> Result<Option<String>, ProviderError> {
    let mut config = gateway.get(CONFIG).map_err(refused)?;
    if config.get("enabled") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    config["enabled"] = json!(false);
    gateway.post_json(CONFIG, &config, true).map_err(refused)?;
    Ok(Some("disabled the Zerobus connector".to_string()))
}

/// Removing the manifest turns the connector off and clears its target; the module itself stays.
pub fn delete(gateway: &GatewayClient) -> Result<(), ProviderError> {
    gateway
        .post_json(CONFIG, &json!({"enabled": false, "targetTable": ""}), true)
        .map_err(refused)?;
    Ok(())
}

/// A setting's value on a fresh install of the module.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModuleDefault {
    Text(&'static str),
    Flag(bool),
    Whole(i64),
    Fraction(f64),
    /// An empty list.
    Empty,
    /// Unset (`null`).
    Unset,
}

impl ModuleDefault {
    pub fn value(self) -> Value {
        match self {
            ModuleDefault::Text(text) => json!(text),
            ModuleDefault::Flag(flag) => json!(flag),
            ModuleDefault::Whole(number) => json!(number),
            ModuleDefault::Fraction(number) => json!(number),
            ModuleDefault::Empty => json!([]),
            ModuleDefault::Unset => Value::Null,
        }
    }

    /// Whether `live` is this default (numbers compared as numbers: `0` is `0.0`).
    fn is(self, live: &Value) -> bool {
        match (self, live) {
            (ModuleDefault::Whole(_) | ModuleDefault::Fraction(_), Value::Number(live)) => {
                live.as_f64() == self.value().as_f64()
            }
            (ModuleDefault::Empty, Value::Array(items)) => items.is_empty(),
            _ => *live == self.value(),
        }
    }
}

/// Every setting of the connector module with its default, in the module's order: a POST
/// that leaves a key out sets it to this, so a live value that differs and that the spec
/// cannot hold is lost by lode's next write.
pub const MODULE_DEFAULTS: [(&str, ModuleDefault); 51] = {
    use ModuleDefault::*;
    [
        ("workspaceUrl", Text("")),
        ("zerobusEndpoint", Text("")),
        ("oauthClientId", Text("")),
        ("oauthClientSecret", Text("")),
        ("oauthTokenEndpoint", Text("")),
        ("targetTable", Text("")),
        ("catalogName", Text("")),
        ("schemaName", Text("")),
        ("tableName", Text("")),
        ("sinkMode", Text("zerobus")),
        ("enableZerobusSink", Flag(true)),
        ("enablePostgresSink", Flag(false)),
        ("postgresHost", Text("")),
        ("postgresPort", Whole(5432)),
        ("postgresDatabase", Text("")),
        ("postgresUser", Text("")),
        ("postgresPassword", Text("")),
        ("postgresTable", Text("raw_tags")),
        ("postgresPoolSize", Whole(5)),
        ("enableDirectSubscriptions", Flag(true)),
        ("tagSelectionMode", Text("explicit")),
        ("tagFolderPath", Text("")),
        ("tagPathPattern", Text("")),
        ("explicitTagPaths", Empty),
        ("includeSubfolders", Flag(true)),
        ("batchSize", Whole(500)),
        ("batchFlushIntervalMs", Whole(2000)),
        ("maxQueueSize", Whole(10000)),
        ("maxEventsPerSecond", Whole(1000)),
        ("enableStoreAndForward", Flag(false)),
        ("spoolDirectory", Text("data/zerobus-spool")),
        ("spoolMaxBytes", Whole(1_073_741_824)),
        ("spoolHighWatermarkPct", Fraction(0.85)),
        ("spoolLowWatermarkPct", Fraction(0.70)),
        ("spoolReadMaxBytes", Whole(2_097_152)),
        ("maxRetries", Whole(3)),
        ("retryBackoffMs", Whole(1000)),
        ("connectionTimeoutMs", Whole(30000)),
        ("requestTimeoutMs", Whole(60000)),
        ("sourceSystemId", Text("ignition-gateway")),
        ("includeQuality", Flag(true)),
        ("numericCompressionMode", Unset),
        ("onlyOnChange", Flag(false)),
        ("numericDeadband", Fraction(0.0)),
        ("numericSdtDeviation", Fraction(0.0)),
        ("numericSdtMaxIntervalMs", Whole(0)),
        ("numericSdtMinIntervalMs", Whole(0)),
        ("numericDeadbandRules", Empty),
        ("numericCompressionRules", Empty),
        ("enabled", Flag(false)),
        ("debugLogging", Flag(false)),
    ]
};

/// The keys of `ZerobusConnectionSpec`, and whether the spec requires them.
const SPEC_KEYS: [(&str, bool); 20] = [
    ("enabled", true),
    ("workspaceUrl", true),
    ("zerobusEndpoint", true),
    ("oauthClientId", true),
    ("oauthClientSecret", true),
    ("oauthTokenEndpoint", false),
    ("targetTable", true),
    ("sourceSystemId", false),
    ("tagSelectionMode", true),
    ("tagFolderPath", false),
    ("tagPathPattern", false),
    ("explicitTagPaths", false),
    ("includeSubfolders", false),
    ("batchSize", false),
    ("batchFlushIntervalMs", false),
    ("maxEventsPerSecond", false),
    ("enableStoreAndForward", false),
    ("includeQuality", false),
    ("onlyOnChange", false),
    ("debugLogging", false),
];

/// The tag path keys and the selection mode each belongs to.
const MODE_KEYS: [(&str, &str); 3] = [
    ("tagFolderPath", "folder"),
    ("tagPathPattern", "pattern"),
    ("explicitTagPaths", "explicit"),
];

/// Settings the module derives from others when it saves (from `targetTable`).
const DERIVED: [&str; 3] = ["catalogName", "schemaName", "tableName"];

/// Settings whose value the servlet masks; their values are never shown.
const MASKED: [&str; 2] = ["oauthClientSecret", "postgresPassword"];

fn is_module_default(key: &str, live: &Value) -> bool {
    MODULE_DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .is_some_and(|(_, default)| default.is(live))
}

fn describe(key: &str, live: &Value) -> String {
    if MASKED.contains(&key) {
        format!("`{key}` is set (the gateway does not show it)")
    } else {
        format!("`{key}`: {live}")
    }
}

/// The connector's spec from its live config: the spec's keys, minus those at the module's
/// default (the required ones stay) and the other selection modes' paths; and the live
/// settings the spec cannot hold that differ from their defaults (lossy).
pub fn discovered_spec(config: &Value) -> (Value, Vec<String>) {
    let mode = config
        .get("tagSelectionMode")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut spec = serde_json::Map::new();
    let mut lossy = Vec::new();
    for (key, required) in SPEC_KEYS {
        let Some(value) = config.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        if let Some((_, owner)) = MODE_KEYS.iter().find(|(k, _)| *k == key)
            && *owner != mode
        {
            if !is_module_default(key, value) {
                lossy.push(format!("{} (unused in {mode} mode)", describe(key, value)));
            }
            continue;
        }
        if required || !is_module_default(key, value) {
            spec.insert(key.to_string(), value.clone());
        }
    }
    for (key, value) in config.as_object().into_iter().flatten() {
        let modelled = SPEC_KEYS.iter().any(|(k, _)| k == key) || DERIVED.contains(&key.as_str());
        if !modelled && !value.is_null() && !is_module_default(key, value) {
            lossy.push(describe(key, value));
        }
    }
    (Value::Object(spec), lossy)
}

/// The gateway's connector, if it has a target table (else there is none to import). A
/// gateway without the module has none either.
pub fn discover(gateway: &GatewayClient) -> Result<Option<Discovered>, ProviderError> {
    let Some(config) = gateway.get_optional(CONFIG).map_err(refused)? else {
        return Ok(None);
    };
    if config
        .get("targetTable")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Ok(None);
    }
    let (spec, lossy) = discovered_spec(&config);
    let refusal = loader_refusal(&spec);
    // One connector per gateway: the demo calls it `telemetry`.
    Ok(Some(
        Discovered::checked(
            Kind::ZerobusConnection,
            "telemetry",
            LiveObject::plain(spec),
        )
        .refuse(refusal)
        .with_lossy(lossy),
    ))
}

/// What the manifest loader would refuse in a connector spec (its selection mode's checks).
fn loader_refusal(spec: &Value) -> Option<String> {
    let mode = spec
        .get("tagSelectionMode")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some((key, _)) = MODE_KEYS.iter().find(|(_, m)| *m == mode) else {
        return Some(format!(
            "its tag selection mode `{mode}` is not folder, pattern or explicit"
        ));
    };
    let set = match spec.get(*key) {
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        _ => false,
    };
    if !set {
        return Some(format!("{mode} mode without `{key}`"));
    }
    match spec.get("batchSize").and_then(Value::as_u64) {
        Some(size) if !(1..=10_000).contains(&size) => {
            Some(format!("batchSize {size} is outside 1..10000"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_17_module_defaults_are_the_module_s() {
        let table: serde_json::Map<String, Value> = MODULE_DEFAULTS
            .iter()
            .map(|(key, default)| (key.to_string(), default.value()))
            .collect();
        assert_eq!(
            Value::Object(table),
            lode_emulators::ignition::zerobus::default_config()
        );
    }

    #[test]
    fn issue_17_spec_keys_are_the_spec_s() {
        let schema = schemars::schema_for!(crate::manifest::kinds::ZerobusConnectionSpec);
        let schema = schema.as_value();
        let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let keys: Vec<&str> = SPEC_KEYS.iter().map(|(k, _)| *k).collect();
        assert_eq!(properties, keys);
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        required.sort();
        let mut wanted: Vec<&str> = SPEC_KEYS
            .iter()
            .filter(|(_, required)| *required)
            .map(|(k, _)| *k)
            .collect();
        wanted.sort();
        assert_eq!(required, wanted);
    }

    #[test]
    fn issue_17_discovered_spec_drops_defaults_and_reports_what_it_cannot_hold() {
        let mut config = lode_emulators::ignition::zerobus::default_config();
        for (key, value) in [
            ("enabled", json!(true)),
            ("workspaceUrl", json!("https://w.cloud.databricks.com")),
            (
                "zerobusEndpoint",
                json!("1.zerobus.us-west-2.cloud.databricks.com"),
            ),
            ("oauthClientId", json!("sp")),
            ("oauthClientSecret", json!("****")),
            ("targetTable", json!("main.mining_demo.ot_telemetry_bronze")),
            ("catalogName", json!("main")),
            ("schemaName", json!("mining_demo")),
            ("tableName", json!("ot_telemetry_bronze")),
            ("sourceSystemId", json!("ignition-mining-demo")),
            ("tagSelectionMode", json!("folder")),
            ("tagFolderPath", json!("[default]Mining/Equipment")),
            ("tagPathPattern", json!("Mining/*")),
            ("includeSubfolders", json!(true)),
            ("batchSize", json!(500)),
            ("batchFlushIntervalMs", json!(1000)),
            ("numericDeadband", json!(0)),
            ("maxQueueSize", json!(20000)),
            ("postgresPassword", json!("****")),
        ] {
            config[key] = value;
        }
        let (spec, lossy) = discovered_spec(&config);
        assert_eq!(
            spec,
            json!({
                "enabled": true,
                "workspaceUrl": "https://w.cloud.databricks.com",
                "zerobusEndpoint": "1.zerobus.us-west-2.cloud.databricks.com",
                "oauthClientId": "sp",
                "oauthClientSecret": "****",
                "targetTable": "main.mining_demo.ot_telemetry_bronze",
                "sourceSystemId": "ignition-mining-demo",
                "tagSelectionMode": "folder",
                "tagFolderPath": "[default]Mining/Equipment",
                "batchFlushIntervalMs": 1000,
            })
        );
        assert_eq!(
            lossy,
            [
                "`tagPathPattern`: \"Mining/*\" (unused in folder mode)",
                "`postgresPassword` is set (the gateway does not show it)",
                "`maxQueueSize`: 20000",
            ]
        );
        assert_eq!(loader_refusal(&spec), None);
        assert!(crate::provider::spec_misfit(Kind::ZerobusConnection, &spec).is_none());
    }

    #[test]
    fn issue_17_a_mode_without_its_paths_cannot_be_a_manifest() {
        let (spec, _) = discovered_spec(&json!({
            "enabled": false, "workspaceUrl": "", "zerobusEndpoint": "", "oauthClientId": "",
            "oauthClientSecret": "", "targetTable": "main.s.t", "tagSelectionMode": "pattern",
        }));
        assert_eq!(
            loader_refusal(&spec).as_deref(),
            Some("pattern mode without `tagPathPattern`")
        );
    }
}
