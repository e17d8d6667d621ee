//! Workspace files (pipeline sources, the chat page): exported to compare their content,
//! imported with `overwrite` (idempotent), their folder created first.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Value, json};

use super::client::{ApiError, Idempotency};
use super::provider::{DatabricksProvider, text};
use crate::manifest::Address;
use crate::provider::{LiveObject, ProviderError, RefreshRequest};

fn object(provider: &DatabricksProvider, path: &str, content: String) -> LiveObject {
    let mut live = LiveObject::plain(json!({"path": path, "content": content}));
    live.outputs.insert(
        "url".into(),
        json!(format!("{}/workspace-files{path}", provider.host())),
    );
    live.outputs
        .insert("workspace_path".into(), json!(format!("/Workspace{path}")));
    live
}

pub fn read(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let mut live = BTreeMap::new();
    for request in requests {
        let path = text(&request.spec, "path");
        let exported: Result<Option<Value>, ApiError> = provider.client.get_optional(
            "/api/2.0/workspace/export",
            &[("path", path.to_string()), ("format", "SOURCE".into())],
        );
        let Some(exported) = exported? else { continue };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text(&exported, "content"))
            .map_err(|e| {
                ProviderError::Refused(format!("{path}: the workspace sent invalid base64: {e}"))
            })?;
        live.insert(
            request.address.clone(),
            object(provider, path, String::from_utf8_lossy(&bytes).to_string()),
        );
    }
    Ok(live)
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
    Ok(object(provider, path, content.to_string()))
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
