//! Genie spaces. The manifests describe a space by meaning (tables, instructions, example SQL,
//! sample questions); lode writes that as a version 2 `serialized_space` and reads the space
//! back into the same shape, so the backend's rewrites (version 1 → 2, ids, ordering) never
//! show as changes. Spaces lode owns carry a marker line in their description, so a lost create
//! is found and adopted rather than duplicated.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{ApiError, Idempotency};
use super::provider::{DatabricksProvider, text};
use crate::manifest::Address;
use crate::provider::{LiveObject, ProviderError, RefreshRequest};

/// The marker lode appends to the description of spaces it owns.
fn marker(address: &Address) -> String {
    format!("[managed by lode: {address}]")
}

/// A stable 32-hex id for an item, from its content (Genie wants ids; stable ids mean a
/// re-apply writes the same document).
fn item_id(kind: &str, content: &str) -> String {
    let digest = Sha256::digest(format!("{kind}\0{content}").as_bytes());
    hex::encode(&digest[..16])
}

fn lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// The version 2 `serialized_space` for a spec.
pub fn serialized_space(spec: &Value) -> Value {
    let mut tables: Vec<&str> = spec
        .get("tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    tables.sort();
    let questions: Vec<Value> = spec
        .get("sample_questions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|q| json!({"id": item_id("question", q), "question": [q]}))
        .collect();
    let mut instructions = json!({});
    if let Some(text) = spec.get("instructions").and_then(Value::as_str) {
        instructions["text_instructions"] =
            json!([{"id": item_id("instructions", text), "content": lines(text)}]);
    }
    let examples: Vec<Value> = spec
        .get("example_sql")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let question = text(e, "question");
            json!({"id": item_id("example", question), "question": [question], "sql": lines(text(e, "sql"))})
        })
        .collect();
    if !examples.is_empty() {
        instructions["example_question_sqls"] = json!(examples);
    }
    let mut space = json!({
        "version": 2,
        "data_sources": {"tables": tables.iter().map(|t| json!({"identifier": t})).collect::<Vec<_>>()},
        "instructions": instructions,
    });
    if !questions.is_empty() {
        space["config"] = json!({"sample_questions": questions});
    }
    space
}

/// The parts of a live `serialized_space` that lode's spec does not hold (`space_spec` reads
/// the rest): a second text instruction, joins, SQL functions and snippets, column settings,
/// parameters of example SQL, ... An update writes the document lode builds, without them.
pub(super) fn unmodelled(document: &Value) -> Vec<String> {
    // The keys lode reads at each level; ids are lode's own (rebuilt from content).
    fn extra(value: &Value, known: &[&str], at: &str, found: &mut Vec<String>) {
        for (key, item) in value.as_object().into_iter().flatten() {
            let empty = match item {
                Value::Null => true,
                Value::Array(items) => items.is_empty(),
                Value::Object(map) => map.is_empty(),
                _ => false,
            };
            if !known.contains(&key.as_str()) && !empty {
                found.push(format!("{at}{key}"));
            }
        }
    }
    fn items<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
        value
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }
    let mut found = Vec::new();
    extra(
        document,
        &["version", "data_sources", "instructions", "config"],
        "",
        &mut found,
    );
    if let Some(sources) = document.get("data_sources") {
        extra(sources, &["tables"], "data_sources.", &mut found);
    }
    for table in items(document, "/data_sources/tables") {
        extra(table, &["identifier"], "data_sources.tables[].", &mut found);
    }
    if let Some(instructions) = document.get("instructions") {
        extra(
            instructions,
            &["text_instructions", "example_question_sqls"],
            "instructions.",
            &mut found,
        );
    }
    let texts: Vec<&Value> = items(document, "/instructions/text_instructions").collect();
    if texts.len() > 1 {
        found.push(format!(
            "instructions.text_instructions: {} of them, lode keeps the first",
            texts.len()
        ));
    }
    for text in texts {
        extra(
            text,
            &["id", "content"],
            "instructions.text_instructions[].",
            &mut found,
        );
    }
    for example in items(document, "/instructions/example_question_sqls") {
        extra(
            example,
            &["id", "question", "sql"],
            "instructions.example_question_sqls[].",
            &mut found,
        );
    }
    if let Some(config) = document.get("config") {
        extra(config, &["sample_questions"], "config.", &mut found);
    }
    for question in items(document, "/config/sample_questions") {
        extra(
            question,
            &["id", "question"],
            "config.sample_questions[].",
            &mut found,
        );
    }
    found.sort();
    found.dedup();
    found
}

fn joined(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Array(parts) => Some(parts.iter().filter_map(Value::as_str).collect()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A space as the manifests describe it, read back from its API form.
pub(super) fn space_spec(info: &Value, wanted: &Value) -> Value {
    let document: Value = info
        .get("serialized_space")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(json!({}));
    let mut tables: Vec<String> = document
        .pointer("/data_sources/tables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            t.get("identifier")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    tables.sort();
    let description = info
        .get("description")
        .and_then(Value::as_str)
        .map(|d| {
            d.lines()
                .filter(|l| !l.starts_with("[managed by lode:"))
                .collect::<Vec<_>>()
                .join("\n")
                .trim_end()
                .to_string()
        })
        .filter(|d| !d.is_empty());
    let mut spec = json!({
        "title": info["title"],
        "parent_path": crate::manifest::normalize_workspace_path(text(info, "parent_path")),
        "tables": tables,
    });
    if let Some(description) = description {
        spec["description"] = json!(description);
    }
    // The warehouse is the environment's default unless the manifests name one.
    if wanted.get("warehouse_id").is_some() {
        spec["warehouse_id"] = info["warehouse_id"].clone();
    }
    if let Some(text) = joined(document.pointer("/instructions/text_instructions/0/content")) {
        spec["instructions"] = json!(text);
    }
    let examples: Vec<Value> = document
        .pointer("/instructions/example_question_sqls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| json!({"question": joined(e.get("question")).unwrap_or_default(), "sql": joined(e.get("sql")).unwrap_or_default()}))
        .collect();
    if !examples.is_empty() {
        spec["example_sql"] = json!(examples);
    }
    let questions: Vec<Value> = document
        .pointer("/config/sample_questions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|q| joined(q.get("question")).map(Value::String))
        .collect();
    if !questions.is_empty() {
        spec["sample_questions"] = json!(questions);
    }
    spec
}

pub(super) fn object(
    provider: &DatabricksProvider,
    id: &str,
    info: &Value,
    wanted: &Value,
) -> LiveObject {
    let mut live = LiveObject::plain(space_spec(info, wanted));
    live.id = Some(id.to_string());
    live.outputs.insert(
        "url".into(),
        json!(format!("{}/genie/rooms/{id}", provider.host())),
    );
    if let Some(etag) = info.get("etag") {
        live.outputs.insert("etag".into(), etag.clone());
    }
    if let Some(updated) = info.get("update_time") {
        live.outputs.insert("update_time".into(), updated.clone());
    }
    live
}

/// Whether a listed space is unchanged since `last` was read: its `update_time` (which the
/// list shows, unlike the etag) is the one recorded then. Unverified against a real workspace
/// that every change to a space moves `update_time`; if not, drop this shortcut.
fn unchanged_since(listed: &Value, last: &LiveObject) -> bool {
    listed.get("update_time").is_some()
        && listed.get("update_time") == last.outputs.get("update_time")
}

pub(super) fn get(provider: &DatabricksProvider, id: &str) -> Result<Option<Value>, ApiError> {
    provider.client.get_optional(
        &format!("/api/2.0/genie/spaces/{id}"),
        &[("include_serialized_space", "true".into())],
    )
}

/// `get` for a space known to exist: a 404 is asked again (eventual consistency).
fn get_visible(provider: &DatabricksProvider, id: &str) -> Result<Option<Value>, ApiError> {
    provider.client.get_visible(
        &format!("/api/2.0/genie/spaces/{id}"),
        &[("include_serialized_space", "true".into())],
    )
}

/// The space whose description carries this address's marker.
fn find_owned(
    provider: &DatabricksProvider,
    address: &Address,
) -> Result<Option<(String, Value)>, ApiError> {
    let spaces: Vec<Value> = provider
        .client
        .list_all("/api/2.0/genie/spaces", &[], "spaces")?;
    let marker = marker(address);
    for space in spaces {
        if space
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains(&marker))
            && let Some(id) = space.get("space_id").and_then(Value::as_str)
            && let Some(info) = get_visible(provider, id)?
        {
            return Ok(Some((id.to_string(), info)));
        }
    }
    Ok(None)
}

pub fn read(
    provider: &DatabricksProvider,
    requests: &[&RefreshRequest],
) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
    let mut live = BTreeMap::new();
    // One listing tells which spaces changed since the last apply read them; only those are
    // read whole (a read per space is what the listing saves).
    let listed: BTreeMap<String, Value> = if requests
        .iter()
        .any(|r| r.id.is_some() && r.last_read.is_some())
    {
        provider
            .client
            .list_all::<Value>("/api/2.0/genie/spaces", &[], "spaces")?
            .into_iter()
            .filter_map(|space| Some((space.get("space_id")?.as_str()?.to_string(), space)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let read = crate::provider::concurrent::read_each(requests, |request| {
        if let (Some(id), Some(last)) = (&request.id, &request.last_read)
            && listed
                .get(id)
                .is_some_and(|space| unchanged_since(space, last))
        {
            // The url names the host, which may have moved: made again.
            let mut object = last.clone();
            object.outputs.insert(
                "url".into(),
                json!(format!("{}/genie/rooms/{id}", provider.host())),
            );
            return Ok(Some(object));
        }
        let found = match &request.id {
            Some(id) => get(provider, id)?.map(|info| (id.clone(), info)),
            None => None,
        };
        let found = match found {
            Some(found) => Some(found),
            None => find_owned(provider, &request.address)?,
        };
        Ok(found.map(|(id, info)| object(provider, &id, &info, &request.spec)))
    })?;
    live.extend(read);
    Ok(live)
}

fn body(
    provider: &DatabricksProvider,
    address: &Address,
    desired: &Value,
) -> Result<Value, ProviderError> {
    let description = match desired.get("description").and_then(Value::as_str) {
        Some(text) => format!("{text}\n\n{}", marker(address)),
        None => marker(address),
    };
    let warehouse = match desired.get("warehouse_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => provider.warehouse_id()?,
    };
    Ok(json!({
        "title": desired["title"],
        "description": description,
        "warehouse_id": warehouse,
        "parent_path": format!("/Workspace{}", text(desired, "parent_path")),
        "serialized_space": serialized_space(desired).to_string(),
    }))
}

fn ensure_folder(provider: &DatabricksProvider, path: &str) -> Result<(), ProviderError> {
    let _: Value = provider.client.post(
        "/api/2.0/workspace/mkdirs",
        &json!({"path": path}),
        Idempotency::Idempotent,
    )?;
    Ok(())
}

pub fn create(
    provider: &DatabricksProvider,
    address: &Address,
    desired: &Value,
) -> Result<LiveObject, ProviderError> {
    // A create whose answer was lost may have happened: look for the marker first.
    if let Some((id, info)) = find_owned(provider, address)? {
        return update(
            provider,
            address,
            desired,
            &object(provider, &id, &info, desired),
        );
    }
    ensure_folder(provider, text(desired, "parent_path"))?;
    let request = body(provider, address, desired)?;
    let (id, info) = super::create_once::create_once(
        &format!("Genie space {address}"),
        || Ok(find_owned(provider, address)?),
        || {
            let info: Value = provider.client.post(
                "/api/2.0/genie/spaces",
                &request,
                Idempotency::NotIdempotent,
            )?;
            Ok((text(&info, "space_id").to_string(), info))
        },
    )?;
    let info = get_visible(provider, &id)?.unwrap_or(info);
    Ok(object(provider, &id, &info, desired))
}

pub fn update(
    provider: &DatabricksProvider,
    address: &Address,
    desired: &Value,
    live: &LiveObject,
) -> Result<LiveObject, ProviderError> {
    let id = live
        .id
        .clone()
        .ok_or_else(|| ProviderError::Refused(format!("{address} has no space id")))?;
    ensure_folder(provider, text(desired, "parent_path"))?;
    // No etag: the backend bumps it on its own migrations, so it would refuse good updates.
    let _: Value = provider.client.patch(
        &format!("/api/2.0/genie/spaces/{id}"),
        &body(provider, address, desired)?,
    )?;
    let info = get(provider, &id)?.ok_or_else(|| {
        ProviderError::Refused(format!("Genie space {id} vanished after its update"))
    })?;
    Ok(object(provider, &id, &info, desired))
}

pub fn delete(provider: &DatabricksProvider, live: &LiveObject) -> Result<(), ProviderError> {
    let Some(id) = &live.id else { return Ok(()) };
    match provider
        .client
        .delete(&format!("/api/2.0/genie/spaces/{id}"), &[])
    {
        Err(error) if error.is_not_found() => Ok(()),
        other => Ok(other?),
    }
}
