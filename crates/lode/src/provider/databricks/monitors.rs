//! Quality monitors (the Unity Catalog table monitor API). A monitor is addressed by its table;
//! its `assets_dir` is fixed at creation (a change is a replace, decided by the engine).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::client::{ApiError, Idempotency};
use super::provider::{DatabricksProvider, text};
use crate::manifest::{Address, normalize_workspace_path};
use crate::provider::{LiveObject, ProviderError, RefreshRequest};

pub(super) fn path(table: &str) -> String {
    format!("/api/2.1/unity-catalog/tables/{table}/monitor")
}

/// A MonitorInfo in the manifests' shape.
fn monitor_spec(info: &Value) -> Value {
    let mut spec = json!({
        "table": info["table_name"],
        "output_schema": info["output_schema_name"],
        "assets_dir": normalize_workspace_path(text(info, "assets_dir")),
    });
    if let Some(series) = info.get("time_series") {
        spec["time_series"] = json!({"timestamp_col": series["timestamp_col"], "granularities": series.get("granularities").cloned().unwrap_or(json!([]))});
    }
    if let Some(snapshot) = info.get("snapshot") {
        spec["snapshot"] = snapshot.clone();
    }
    if let Some(schedule) = info.get("schedule") {
        spec["schedule"] = json!({
            "quartz_cron_expression": schedule["quartz_cron_expression"],
            "timezone_id": schedule.get("timezone_id").cloned().unwrap_or(json!("UTC")),
        });
    }
    if let Some(slices) = info
        .get("slicing_exprs")
        .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
    {
        spec["slicing_exprs"] = slices.clone();
    }
    spec
}

pub(super) fn object(info: &Value) -> LiveObject {
    let mut live = LiveObject::plain(monitor_spec(info));
    for field in [
        "dashboard_id",
        "profile_metrics_table_name",
        "drift_metrics_table_name",
        "status",
    ] {
        if let Some(value) = info.get(field) {
            live.outputs.insert(field.to_string(), value.clone());
        }
    }
    live
}

pub fn read(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    crate::provider::concurrent::read_each(requests, |request| {
        let info: Result<Option<Value>, ApiError> = provider
            .client
            .get_optional(&path(text(&request.spec, "table")), &[]);
        match info {
            Ok(info) => Ok(info.map(|info| object(&info))),
            // The table itself may not exist yet (a pipeline creates it).
            Err(error) if error.error_code() == Some("TABLE_DOES_NOT_EXIST") => Ok(None),
            Err(error) => Err(error.into()),
        }
    })
}

fn body(desired: &Value) -> Value {
    let mut body = json!({
        "output_schema_name": desired["output_schema"],
        "assets_dir": format!("/Workspace{}", text(desired, "assets_dir")),
    });
    for field in ["time_series", "snapshot", "schedule", "slicing_exprs"] {
        if let Some(value) = desired.get(field) {
            body[field] = value.clone();
        }
    }
    body
}

/// Creates (`creating`) or replaces the settings of the monitor.
pub fn write(
    provider: &DatabricksProvider,
    desired: &Value,
    creating: bool,
) -> Result<LiveObject, ProviderError> {
    let table = text(desired, "table");
    let info: Value = if creating {
        let _: Value = provider.client.post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": text(desired, "assets_dir")}),
            Idempotency::Idempotent,
        )?;
        // An earlier create whose answer was lost (409, also on the retry after an uncertain
        // failure): the monitor is there; set it.
        let created = super::create_once::create_once(
            &format!("monitor on {table}"),
            || Ok(None),
            || match provider.client.post::<_, Value>(
                &path(table),
                &body(desired),
                Idempotency::NotIdempotent,
            ) {
                Err(error) if error.status() == Some(409) => Ok(None),
                other => other.map(Some),
            },
        )?;
        match created {
            Some(info) => info,
            None => provider.client.put(&path(table), &body(desired))?,
        }
    } else {
        provider.client.put(&path(table), &body(desired))?
    };
    Ok(object(&info))
}

pub fn delete(provider: &DatabricksProvider, live: &Value) -> Result<(), ProviderError> {
    match provider.client.delete(&path(text(live, "table")), &[]) {
        Err(error) if error.is_not_found() => Ok(()),
        other => Ok(other?),
    }
}
