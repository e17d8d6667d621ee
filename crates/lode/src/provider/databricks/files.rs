//! Workspace files (pipeline sources, the chat page): exported to compare their content,
//! imported with `overwrite` (idempotent), their folder created first.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::client::{ApiError, Idempotency};
use super::provider::{DatabricksProvider, text};
use crate::manifest::Address;
use crate::provider::{LiveObject, ProviderError, RefreshRequest};

pub(super) fn object(provider: &DatabricksProvider, path: &str, content: String) -> LiveObject {
    let mut live = LiveObject::plain(json!({"path": path, "content": content}));
    live.outputs.insert(
        "url".into(),
        json!(format!("{}/workspace-files{path}", provider.host())),
    );
    live.outputs
        .insert("workspace_path".into(), json!(format!("/Workspace{path}")));
    live
}

/// The folder a workspace path is in (`/` for a top-level object).
fn folder_of(path: &str) -> &str {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((folder, _)) => folder,
    }
}

/// The `modified_at` of every object in the folders of files read before: one listing per
/// folder tells which files changed since; only those are exported.
fn modification_times(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<String, Value>, ProviderError> {
    let folders: std::collections::BTreeSet<&str> = requests
        .iter()
        .filter(|r| {
            r.last_read
                .as_ref()
                .is_some_and(|l| l.outputs.contains_key("modified_at"))
        })
        .map(|r| folder_of(text(&r.spec, "path")))
        .collect();
    let mut times = BTreeMap::new();
    for folder in folders {
        let listed: Result<Option<Value>, ApiError> = provider
            .client
            .get_optional("/api/2.0/workspace/list", &[("path", folder.to_string())]);
        for object in listed?
            .as_ref()
            .and_then(|l| l.get("objects"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(path), Some(modified)) = (
                object.get("path").and_then(Value::as_str),
                object.get("modified_at"),
            ) {
                times.insert(path.to_string(), modified.clone());
            }
        }
    }
    Ok(times)
}

pub fn read(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let times = modification_times(provider, requests)?;
    crate::provider::concurrent::read_each(requests, |request| {
        let path = text(&request.spec, "path");
        if let Some(last) = &request.last_read
            && last.outputs.contains_key("modified_at")
            && times.get(path) == last.outputs.get("modified_at")
        {
            // Outputs are made again: they name the host, which may have moved.
            let mut object = object(provider, path, text(&last.spec, "content").to_string());
            object
                .outputs
                .insert("modified_at".into(), times[path].clone());
            return Ok(Some(object));
        }
        let Some(bytes) = export(provider, path)? else {
            return Ok(None);
        };
        let mut object = object(provider, path, String::from_utf8_lossy(&bytes).to_string());
        if let Some(modified) = times.get(path) {
            object
                .outputs
                .insert("modified_at".into(), modified.clone());
        }
        Ok(Some(object))
    })
}

/// A file's bytes, exported; `None` when there is no file at `path`.
pub(super) fn export(
    provider: &DatabricksProvider,
    path: &str,
) -> Result<Option<Vec<u8>>, ProviderError> {
    let exported: Option<Value> = provider.client.get_optional(
        "/api/2.0/workspace/export",
        &[("path", path.to_string()), ("format", "SOURCE".into())],
    )?;
    let Some(exported) = exported else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(text(&exported, "content"))
        .map(Some)
        .map_err(|e| {
            ProviderError::Refused(format!("{path}: the workspace sent invalid base64: {e}"))
        })
}

pub fn write(provider: &DatabricksProvider, desired: &Value) -> Result<LiveObject, ProviderError> {
    let path = text(desired, "path");
    if let Some((folder, _)) = path.rsplit_once('/').filter(|(f, _)| !f.is_empty()) {
        let _: Value = provider.client.post(
            "/api/2.0/workspace/mkdirs",
            &json!({"path": folder}),
            Idempotency::Idempotent,
        )?;
    }
    let content = text(desired, "content");
    let body = json!({
        "path": path,
        "content": base64::engine::general_purpose::STANDARD.encode(content.as_bytes()),
        // RAW keeps it a file even when it starts like a notebook source.
        "format": "RAW",
        "overwrite": true,
    });
    // With overwrite an import is idempotent, so it may be retried after a lost answer.
    let _: Value =
        provider
            .client
            .post("/api/2.0/workspace/import", &body, Idempotency::Idempotent)?;
    let mut written = object(provider, path, content.to_string());
    // Recorded so the next plan can tell from a folder listing that the file did not change.
    let status: Option<Value> = provider.client.get_visible(
        "/api/2.0/workspace/get-status",
        &[("path", path.to_string())],
    )?;
    if let Some(modified) = status.as_ref().and_then(|s| s.get("modified_at")) {
        written
            .outputs
            .insert("modified_at".into(), modified.clone());
    }
    Ok(written)
}

pub fn delete(provider: &DatabricksProvider, live: &Value) -> Result<(), ProviderError> {
    let result: Result<Value, ApiError> = provider.client.post(
        "/api/2.0/workspace/delete",
        &json!({"path": text(live, "path"), "recursive": false}),
        Idempotency::Idempotent,
    );
    match result {
        Err(error) if error.is_not_found() => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}
