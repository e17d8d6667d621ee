//! Pipelines. A pipeline has a server id, so lode marks the ones it owns with a tag naming their
//! address: a create whose answer was lost is found by that tag and adopted, never duplicated.
//! Every create or spec change starts an update (a full refresh only with
//! `--allow-full-refresh`) and waits, within a timeout, until it is RUNNING or COMPLETED. A delete
//! keeps the pipeline's datasets (`cascade=false`) unless data loss is allowed.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::client::{ApiError, Idempotency};
use super::provider::{DatabricksProvider, text};
use crate::manifest::Address;
use crate::provider::{ChangeOptions, LiveObject, ProviderError, RefreshRequest};

/// The tag that marks a pipeline as lode's, valued with its address.
pub const MARKER_TAG: &str = "lode_address";

/// The spec fields lode manages, with the value the API means when one is absent.
/// A field name and, when the API has one, the value an absent field means.
type ManagedField = (&'static str, Option<fn() -> Value>);

const MANAGED: [ManagedField; 16] = [
    ("name", None),
    ("catalog", None),
    ("schema", None),
    ("libraries", None),
    ("configuration", None),
    ("continuous", Some(|| json!(false))),
    ("development", Some(|| json!(false))),
    ("channel", Some(|| json!("CURRENT"))),
    ("edition", Some(|| json!("ADVANCED"))),
    ("photon", Some(|| json!(false))),
    ("serverless", Some(|| json!(false))),
    ("clusters", None),
    ("notifications", None),
    ("tags", None),
    ("storage", None),
    ("root_path", None),
];

/// Whether `field` of a pipeline's spec is one lode manages.
pub(super) fn is_managed_field(field: &str) -> bool {
    MANAGED.iter().any(|(managed, _)| *managed == field)
}

/// The manifests' view of a pipeline's `spec`: managed fields only, lode's tag removed, server
/// defaults (a storage location the manifests did not set) dropped.
fn live_spec(spec: &Value, wanted: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (field, default) in MANAGED {
        let value = spec.get(field).cloned().or_else(|| default.map(|d| d()));
        if let Some(value) = value {
            out.insert(field.to_string(), value);
        }
    }
    if let Some(tags) = out.get_mut("tags").and_then(Value::as_object_mut) {
        tags.remove(MARKER_TAG);
    }
    for field in ["configuration", "tags"] {
        if out
            .get(field)
            .and_then(Value::as_object)
            .is_some_and(|m| m.is_empty())
        {
            out.remove(field);
        }
    }
    for field in ["clusters", "notifications"] {
        if out
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(|a| a.is_empty())
        {
            out.remove(field);
        }
    }
    if wanted.get("storage").is_none() {
        out.remove("storage");
    }
    // Node types the workspace fills in are not the manifests' business unless they set them.
    if let (Some(clusters), Some(wanted_clusters)) = (
        out.get_mut("clusters").and_then(Value::as_array_mut),
        wanted.get("clusters").and_then(Value::as_array),
    ) {
        for (cluster, wanted_cluster) in clusters.iter_mut().zip(wanted_clusters) {
            if let Some(cluster) = cluster.as_object_mut() {
                for field in ["node_type_id", "driver_node_type_id"] {
                    if wanted_cluster.get(field).is_none() {
                        cluster.remove(field);
                    }
                }
            }
        }
    }
    Value::Object(out)
}

pub(super) fn object(
    provider: &DatabricksProvider,
    id: &str,
    info: &Value,
    wanted: &Value,
) -> LiveObject {
    let spec = info.get("spec").cloned().unwrap_or(json!({}));
    let mut live = LiveObject::plain(live_spec(&spec, wanted));
    live.id = Some(id.to_string());
    live.outputs.insert(
        "url".into(),
        json!(format!("{}/pipelines/{id}", provider.host())),
    );
    if let Some(state) = info.get("state") {
        live.outputs.insert("state".into(), state.clone());
    }
    // `latest_updates` is ordered newest first: how the last run ended is part of the live
    // state, so that a pipeline whose update failed is planned to run again.
    if let Some(last) = info.pointer("/latest_updates/0") {
        live.outputs.insert(
            crate::provider::PIPELINE_LAST_UPDATE.into(),
            json!({"update_id": last["update_id"], "state": last["state"]}),
        );
    }
    live
}

pub(super) fn get(provider: &DatabricksProvider, id: &str) -> Result<Option<Value>, ApiError> {
    provider
        .client
        .get_optional(&format!("/api/2.0/pipelines/{id}"), &[])
}

/// `get` for a pipeline known to exist: a 404 is asked again (eventual consistency).
fn get_visible(provider: &DatabricksProvider, id: &str) -> Result<Option<Value>, ApiError> {
    provider
        .client
        .get_visible(&format!("/api/2.0/pipelines/{id}"), &[])
}

/// The pipeline lode marked as `address`, or one of the same name that nobody marked (adopted).
fn find_owned(
    provider: &DatabricksProvider,
    address: &Address,
    name: &str,
) -> Result<Option<(String, Value)>, ApiError> {
    let filter = format!("name LIKE '{}'", name.replace('\'', "''"));
    let statuses: Vec<Value> = provider.client.list_all(
        "/api/2.0/pipelines",
        &[("filter", filter), ("max_results", "100".into())],
        "statuses",
    )?;
    let mut unmarked = None;
    for status in statuses.iter().filter(|s| s["name"] == name) {
        let Some(id) = status.get("pipeline_id").and_then(Value::as_str) else {
            continue;
        };
        let Some(info) = get_visible(provider, id)? else {
            continue;
        };
        match info
            .pointer(&format!("/spec/tags/{MARKER_TAG}"))
            .and_then(Value::as_str)
        {
            Some(marker) if marker == address.to_string() => {
                return Ok(Some((id.to_string(), info)));
            }
            Some(_) => {}
            None => unmarked = unmarked.or(Some((id.to_string(), info))),
        }
    }
    Ok(unmarked)
}

pub fn read(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    // The API has no batch read and its listing shows no modification time: one read per
    // pipeline, several at a time.
    crate::provider::concurrent::read_each(requests, |request| {
        let found = match &request.id {
            Some(id) => get(provider, id)?.map(|info| (id.clone(), info)),
            None => None,
        };
        let found = match found {
            Some(found) => Some(found),
            None => find_owned(provider, &request.address, text(&request.spec, "name"))?,
        };
        Ok(found.map(|(id, info)| object(provider, &id, &info, &request.spec)))
    })
}

/// The request body: the desired spec with lode's ownership tag.
fn body(address: &Address, desired: &Value) -> Value {
    let mut body = desired.clone();
    let tags = body
        .as_object_mut()
        .expect("pipeline specs are objects")
        .entry("tags")
        .or_insert(json!({}));
    tags[MARKER_TAG] = json!(address.to_string());
    body
}

/// Starts an update and returns its id. When the answer is lost the start is sent again: if
/// the first went through, its update is still active and the second is refused with 409, so
/// the active update is followed instead; at worst a finished first update is followed by a
/// second one, which recomputes the same datasets. An update is never skipped.
fn start_update(
    provider: &DatabricksProvider,
    id: &str,
    full_refresh: bool,
) -> Result<String, ProviderError> {
    let path = format!("/api/2.0/pipelines/{id}/updates");
    let continuous = get_visible(provider, id)?
        .and_then(|info| info.pointer("/spec/continuous").and_then(Value::as_bool))
        .unwrap_or(false);
    let mut attempt = 1;
    let mut stopped = false;
    loop {
        let started: Result<Value, ApiError> = provider.client.post(
            &path,
            &json!({"full_refresh": full_refresh, "cause": "API_CALL"}),
            Idempotency::NotIdempotent,
        );
        match started {
            Ok(started) => {
                return Ok(started["update_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string());
            }
            Err(error) if error.outcome_unknown() && attempt < 3 => {}
            // A full refresh cannot join the update a continuous pipeline is running: that
            // one refreshes incrementally. Stop it, then start the full refresh.
            Err(error) if error.status() == Some(409) && continuous && full_refresh && !stopped => {
                stop_and_wait(provider, id)?;
                stopped = true;
                continue;
            }
            Err(error) if error.status() == Some(409) && stopped => {
                return Err(ProviderError::Refused(format!(
                    "pipeline {id} started another update while lode stopped it for a full refresh ({error}); apply again"
                )));
            }
            // A continuous pipeline runs all the time and restarts itself when its settings
            // change: its active update is the one to follow, not a conflict.
            Err(error) if error.status() == Some(409) && (attempt > 1 || continuous) => {
                let info = get_visible(provider, id)?.unwrap_or_default();
                let active = info["latest_updates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|u| {
                        !matches!(
                            u["state"].as_str(),
                            Some("COMPLETED" | "FAILED" | "CANCELED")
                        )
                    })
                    .and_then(|u| u["update_id"].as_str());
                match active {
                    Some(update_id) => return Ok(update_id.to_string()),
                    None => return Err(error.into()),
                }
            }
            Err(error) => return Err(error.into()),
        }
        tracing::warn!(
            pipeline = id,
            attempt,
            "the update may not have started; starting it again"
        );
        attempt += 1;
    }
}

/// Stops the pipeline's active update and waits until it has ended (within the pipeline
/// timeout), so that a new update can start.
fn stop_and_wait(provider: &DatabricksProvider, id: &str) -> Result<(), ProviderError> {
    let _: Value = provider.client.post(
        &format!("/api/2.0/pipelines/{id}/stop"),
        &json!({}),
        Idempotency::Idempotent,
    )?;
    let deadline = Instant::now() + provider.settings.pipeline_timeout;
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        let info = get_visible(provider, id)?.unwrap_or_default();
        let active = info["latest_updates"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| {
                !matches!(
                    u["state"].as_str(),
                    Some("COMPLETED" | "FAILED" | "CANCELED")
                )
            });
        if !active {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Refused(format!(
                "pipeline {id} did not stop within {} s, so its full refresh could not start",
                provider.settings.pipeline_timeout.as_secs()
            )));
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(std::time::Duration::from_secs(2));
    }
}

/// Starts an update and waits until it is RUNNING or COMPLETED.
fn run_update(
    provider: &DatabricksProvider,
    id: &str,
    full_refresh: bool,
) -> Result<(), ProviderError> {
    let update_id = start_update(provider, id, full_refresh)?;
    let deadline = Instant::now() + provider.settings.pipeline_timeout;
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        let update: Value = provider
            .client
            .get(&format!("/api/2.0/pipelines/{id}/updates/{update_id}"), &[])?;
        match update
            .pointer("/update/state")
            .and_then(Value::as_str)
            .unwrap_or("")
        {
            "RUNNING" | "COMPLETED" => return Ok(()),
            state @ ("FAILED" | "CANCELED") => {
                let events: Value = provider
                    .client
                    .get(
                        &format!("/api/2.0/pipelines/{id}/events"),
                        &[("filter", "level='ERROR'".to_string())],
                    )
                    .unwrap_or(json!({}));
                let cause = events
                    .pointer("/events/0/message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                return Err(ProviderError::Refused(format!(
                    "pipeline update {update_id} ended {state}{cause}"
                )));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Refused(format!(
                "pipeline update {update_id} did not reach RUNNING or COMPLETED within {} s",
                provider.settings.pipeline_timeout.as_secs()
            )));
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(std::time::Duration::from_secs(5));
    }
}

fn changes_sources(before: Option<&Value>, after: &Value) -> bool {
    before.is_none_or(|b| b.get("libraries") != after.get("libraries"))
}

pub fn create(
    provider: &DatabricksProvider,
    address: &Address,
    desired: &Value,
    options: &ChangeOptions,
) -> Result<LiveObject, ProviderError> {
    let name = text(desired, "name").to_string();
    // A create that timed out or crashed may have happened: look before creating.
    let id = match find_owned(provider, address, &name)? {
        Some((id, _)) => {
            let _: Value = provider
                .client
                .put(&format!("/api/2.0/pipelines/{id}"), &body(address, desired))?;
            id
        }
        None => super::create_once::create_once(
            &format!("pipeline {name}"),
            || Ok(find_owned(provider, address, &name)?.map(|(id, _)| id)),
            || {
                let created: Value = match provider.client.post(
                    "/api/2.0/pipelines",
                    &body(address, desired),
                    Idempotency::NotIdempotent,
                ) {
                    // Made by an attempt whose answer was lost.
                    Err(error) if error.status() == Some(409) => {
                        if let Some((id, _)) = find_owned(provider, address, &name)? {
                            return Ok(id);
                        }
                        return Err(error);
                    }
                    other => other?,
                };
                Ok(created["pipeline_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string())
            },
        )?,
    };
    run_update(provider, &id, options.allow_full_refresh)?;
    let info = get_visible(provider, &id)?.ok_or_else(|| {
        ProviderError::Refused(format!("pipeline {id} vanished after its create"))
    })?;
    Ok(object(provider, &id, &info, desired))
}

pub fn update(
    provider: &DatabricksProvider,
    address: &Address,
    desired: &Value,
    live: &LiveObject,
    options: &ChangeOptions,
) -> Result<LiveObject, ProviderError> {
    let id = live
        .id
        .clone()
        .ok_or_else(|| ProviderError::Refused(format!("{address} has no pipeline id")))?;
    let _: Value = provider
        .client
        .put(&format!("/api/2.0/pipelines/{id}"), &body(address, desired))?;
    let full_refresh = options.allow_full_refresh && changes_sources(Some(&live.spec), desired);
    run_update(provider, &id, full_refresh)?;
    let info = get(provider, &id)?.ok_or_else(|| {
        ProviderError::Refused(format!("pipeline {id} vanished after its update"))
    })?;
    Ok(object(provider, &id, &info, desired))
}

pub fn delete(
    provider: &DatabricksProvider,
    live: &LiveObject,
    options: &ChangeOptions,
) -> Result<(), ProviderError> {
    let Some(id) = &live.id else { return Ok(()) };
    let cascade = if options.allow_data_loss {
        "true"
    } else {
        "false"
    };
    match provider.client.delete(
        &format!("/api/2.0/pipelines/{id}"),
        &[("cascade", cascade.to_string())],
    ) {
        Err(error) if error.is_not_found() => Ok(()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::provider::databricks::auth::{Credentials, ResolvedAuth};
    use crate::provider::databricks::client::{ClientOptions, DatabricksClient};
    use crate::provider::databricks::provider::DatabricksSettings;
    use crate::provider::databricks::test_server::{Reply, TestServer};

    /// A continuous pipeline whose update runs until it is stopped: a new update is refused
    /// with 409 while it runs, as the Pipelines API refuses it.
    fn running_continuous_pipeline() -> (TestServer, Arc<AtomicBool>) {
        let stopped = Arc::new(AtomicBool::new(false));
        let state = stopped.clone();
        let server = TestServer::start(move |seen| {
            let stopped = state.load(Ordering::SeqCst);
            match (seen.method.as_str(), seen.path.as_str()) {
                ("GET", "/api/2.0/pipelines/p1") => Reply::json(
                    200,
                    json!({"pipeline_id": "p1", "spec": {"continuous": true},
                           "latest_updates": [{"update_id": "u1",
                             "state": if stopped { "CANCELED" } else { "RUNNING" }}]}),
                ),
                ("POST", "/api/2.0/pipelines/p1/stop") => {
                    state.store(true, Ordering::SeqCst);
                    Reply::json(200, json!({}))
                }
                ("POST", "/api/2.0/pipelines/p1/updates") if !stopped => Reply::json(
                    409,
                    json!({"error_code": "RESOURCE_CONFLICT",
                           "message": "An active update u1 already exists."}),
                ),
                ("POST", "/api/2.0/pipelines/p1/updates") => {
                    Reply::json(200, json!({"update_id": "u2"}))
                }
                _ => Reply::json(404, json!({"error_code": "NOT_FOUND", "message": "no"})),
            }
        });
        (server, stopped)
    }

    fn provider(server: &TestServer) -> DatabricksProvider {
        let client = DatabricksClient::new(
            ResolvedAuth {
                host: server.base.clone(),
                credentials: Credentials::Pat {
                    token: "dapi-test".to_string(),
                },
                warehouse_id: None,
                source: "test".to_string(),
            },
            ClientOptions {
                rate_limit_per_second: f64::INFINITY,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        DatabricksProvider::new(Arc::new(client), DatabricksSettings::default())
    }

    /// The leftover of issue #16: a full refresh of a running continuous pipeline used to
    /// follow its incremental update and report success without refreshing anything.
    #[test]
    fn issue_16_a_full_refresh_of_a_running_continuous_pipeline_stops_it_first() {
        let (server, stopped) = running_continuous_pipeline();
        let update = start_update(&provider(&server), "p1", true).unwrap();
        assert_eq!(update, "u2");
        assert!(stopped.load(Ordering::SeqCst));
        let posts: Vec<_> = server
            .seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .map(|s| (s.path.clone(), s.body.clone()))
            .collect();
        assert_eq!(posts.len(), 3, "{posts:?}");
        assert_eq!(posts[1].0, "/api/2.0/pipelines/p1/stop");
        assert_eq!(posts[2].0, "/api/2.0/pipelines/p1/updates");
        assert!(posts[2].1.contains("\"full_refresh\":true"), "{posts:?}");
    }

    #[test]
    fn issue_16_an_incremental_update_of_a_running_continuous_pipeline_follows_it() {
        let (server, stopped) = running_continuous_pipeline();
        let update = start_update(&provider(&server), "p1", false).unwrap();
        assert_eq!(update, "u1");
        assert!(!stopped.load(Ordering::SeqCst));
    }
}
