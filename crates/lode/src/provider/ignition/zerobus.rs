//! The Zerobus connector's configuration, through the module's servlet
//! (`/system/zerobus/config`): GET returns the whole config with secrets masked as `****`, POST
//! replaces it whole (a blank or `****` secret keeps the stored one). Only the keys the
//! manifests set are compared; the secret is write-only and compared by the engine through a
//! keyed fingerprint in state.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::client::GatewayClient;
use crate::manifest::Address;
use crate::provider::{LiveObject, ProviderError, RefreshRequest};

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
