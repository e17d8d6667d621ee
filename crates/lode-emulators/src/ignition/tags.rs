//! Tag export and import (`/data/api/v1/tags/export|import`), the 8.3 API's only tag routes
//! (there is no tag read, write, browse or delete). Both work on the loaded view of a
//! provider's `tag-definition/<provider>/` and `tag-type-definition/<provider>/` folders, read
//! in both forms the gateway and hand-made exports use (nested `Folder` entries and per-folder
//! `tags.json`/`udts.json`; a folder's own files win) with the `files` transport's parser.
//! Import writes into the `core` collection in the per-folder form (folders as directories
//! with `unary-resource.json`), as the gateway does, with Gson escapes and re-signed folder
//! manifests, and the gateway loads what it wrote.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::scan::{
    CHAIN, LoadedView, TAG_DEFINITION, TAG_FILES, TAG_TYPE_DEFINITION, WRITE_COLLECTION,
    config_root, gson_bytes, gson_string, read_tag_unit, sign,
};
use super::{ApiError, ApiResult, Shared};
use lode_wire::ignition::data_dir::write_atomic;
use lode_wire::ignition::tag_files::{TagFolder, config_of, flatten, named_entry};

const TYPES_FOLDER: &str = "_types_";

fn kind_dir(types: bool) -> &'static str {
    if types {
        TAG_TYPE_DEFINITION
    } else {
        TAG_DEFINITION
    }
}

/// Every tag (or UDT type) of a provider as loaded, by path, as configuration without `name`
/// (folders `{"tagType": "Folder"}`), the collections layered in chain order.
pub fn provider_tree(view: &LoadedView, provider: &str, types: bool) -> BTreeMap<String, Value> {
    let mut found = BTreeMap::new();
    for collection in CHAIN {
        let base = format!("{collection}/ignition/{}/{provider}", kind_dir(types));
        // Key order visits a folder before everything inside it, so a folder's own files are
        // read after (and win over) copies nested in its ancestors' files.
        for (key, unit) in view
            .config_units
            .range(base.clone()..)
            .take_while(|(key, _)| key.starts_with(&base))
        {
            let rel = match &key[base.len()..] {
                "" => "",
                rest => match rest.strip_prefix('/') {
                    Some(rel) => rel,
                    None => continue,
                },
            };
            if !rel.is_empty() {
                found.insert(rel.to_string(), json!({"tagType": "Folder"}));
            }
            for file in TAG_FILES {
                let Some(bytes) = unit.files.get(file) else {
                    continue;
                };
                let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(bytes) else {
                    continue;
                };
                for entry in &entries {
                    flatten(entry, rel, &mut found);
                }
            }
        }
    }
    found
}

/// Whether the gateway knows the provider: a `tag-provider` resource or tag folders.
fn provider_exists(view: &LoadedView, provider: &str) -> bool {
    CHAIN.iter().any(|collection| {
        [
            format!("{collection}/ignition/tag-provider/{provider}"),
            format!("{collection}/ignition/{TAG_DEFINITION}/{provider}"),
            format!("{collection}/ignition/{TAG_TYPE_DEFINITION}/{provider}"),
        ]
        .iter()
        .any(|key| view.config_units.contains_key(key))
    })
}

/// `[default]Mining/Equipment/` → `Mining/Equipment`.
fn clean_path(path: &str) -> String {
    let path = match path.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map(|(_, p)| p).unwrap_or(rest),
        None => path,
    };
    path.trim_matches('/').to_string()
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The export form of the children of `parent`: entries with `name` first, folders with their
/// `tags` (only when `recursive`).
fn children(tree: &BTreeMap<String, Value>, parent: &str, recursive: bool) -> Vec<Value> {
    let mut by_parent: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
    for (path, config) in tree {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        by_parent.entry(folder).or_default().push((name, config));
    }
    fn build(
        by_parent: &BTreeMap<&str, Vec<(&str, &Value)>>,
        parent: &str,
        recursive: bool,
    ) -> Vec<Value> {
        let Some(entries) = by_parent.get(parent) else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|(name, config)| {
                let mut entry = named_entry(name, config);
                if config.get("tagType").and_then(Value::as_str) == Some("Folder") && recursive {
                    entry["tags"] = Value::Array(build(by_parent, &join(parent, name), true));
                }
                entry
            })
            .collect()
    }
    build(&by_parent, parent, recursive)
}

fn required<'a>(query: &'a HashMap<String, String>, key: &str) -> ApiResult<&'a str> {
    query
        .get(key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("Missing required parameter '{key}'")))
}

fn check_type(query: &HashMap<String, String>) -> ApiResult<()> {
    match required(query, "type")? {
        t if t.eq_ignore_ascii_case("json") => Ok(()),
        other => Err(ApiError::bad_request(format!(
            "Unsupported export type '{other}': this gateway emulator exports json only"
        ))),
    }
}

async fn export(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let provider = required(&query, "provider")?;
    check_type(&query)?;
    let path = clean_path(query.get("path").map(String::as_str).unwrap_or(""));
    let recursive = super::scan::query_flag(&query, "recursive").unwrap_or(true);
    let include_udts = super::scan::query_flag(&query, "includeUdts").unwrap_or(false);
    let view = gateway.view();
    if !provider_exists(&view, provider) {
        return Err(ApiError::bad_request(format!(
            "Tag provider '{provider}' not found"
        )));
    }
    let tree = provider_tree(&view, provider, false);
    let (name, tag_type) = if path.is_empty() {
        (String::new(), "Provider")
    } else {
        match tree
            .get(&path)
            .and_then(|c| c.get("tagType"))
            .and_then(Value::as_str)
        {
            Some("Folder") => (
                path.rsplit('/').next().unwrap_or(&path).to_string(),
                "Folder",
            ),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "[{provider}]{path} is not a folder"
                )));
            }
            None => {
                return Err(ApiError::not_found(format!(
                    "Tag path [{provider}]{path} not found"
                )));
            }
        }
    };
    let mut tags = children(&tree, &path, recursive);
    if include_udts {
        let types = provider_tree(&view, provider, true);
        tags.push(
            json!({"name": TYPES_FOLDER, "tagType": "Folder", "tags": children(&types, "", true)}),
        );
    }
    let body = json!({"name": name, "tagType": tag_type, "tags": tags});
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        gson_string(&body, true),
    )
        .into_response())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Abort,
    Overwrite,
    Rename,
    Ignore,
    MergeOverwrite,
}

impl Policy {
    fn parse(text: &str) -> ApiResult<Policy> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "abort" | "a" => Policy::Abort,
            "overwrite" | "o" => Policy::Overwrite,
            "rename" | "r" => Policy::Rename,
            "ignore" | "i" => Policy::Ignore,
            "mergeoverwrite" | "m" => Policy::MergeOverwrite,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid collisionPolicy '{text}': expected Abort, Overwrite, Rename, Ignore or MergeOverwrite"
                )));
            }
        })
    }
}

/// The `tagType`s an import entry may have (reference `ignition-83.md` §3.1: `Provider` is only
/// the export's root, `Property` only a browse result). An entry with another one gets a
/// `Bad_Failure` quality and is not written while the rest of the import goes on.
/// **Unverified**: the reference does not record the gateway's answer to an unknown tagType;
/// the code and the per-entry refusal are the emulator's guess, kept here.
const IMPORTABLE_TAG_TYPES: [&str; 4] = ["Folder", "AtomicTag", "UdtType", "UdtInstance"];

/// One tag or type to write, at a path relative to its provider folder.
#[derive(Debug)]
struct Write {
    types: bool,
    path: String,
    config: Value,
}

/// What an import will do, worked out against the loaded view before anything is written.
struct Plan<'a> {
    provider: &'a str,
    policy: Policy,
    tags: BTreeMap<String, Value>,
    types: BTreeMap<String, Value>,
    writes: Vec<Write>,
    qualities: Vec<Value>,
    collisions: usize,
}

fn quality(code: &str, provider: &str, path: &str, message: &str) -> Value {
    json!({"quality": code, "path": format!("[{provider}]{path}"), "diagnosticMessage": message})
}

/// MergeOverwrite: the incoming keys replace the existing ones, objects merge key by key and
/// member lists (`tags`) merge by member name.
fn merge(existing: &Value, incoming: &Value) -> Value {
    match (existing, incoming) {
        (Value::Object(old), Value::Object(new)) => {
            let mut merged = old.clone();
            for (key, value) in new {
                let combined = match (old.get(key), value) {
                    (Some(Value::Array(old_items)), Value::Array(new_items)) if key == "tags" => {
                        let mut items = old_items.clone();
                        for item in new_items {
                            let name = item.get("name");
                            match items
                                .iter()
                                .position(|i| name.is_some() && i.get("name") == name)
                            {
                                Some(index) => items[index] = merge(&items[index], item),
                                None => items.push(item.clone()),
                            }
                        }
                        Value::Array(items)
                    }
                    (Some(old_value), new_value) => merge(old_value, new_value),
                    (None, new_value) => new_value.clone(),
                };
                merged.insert(key.clone(), combined);
            }
            Value::Object(merged)
        }
        (_, new) => new.clone(),
    }
}

impl Plan<'_> {
    fn tree(&mut self, types: bool) -> &mut BTreeMap<String, Value> {
        if types {
            &mut self.types
        } else {
            &mut self.tags
        }
    }

    fn write(&mut self, types: bool, path: String, config: Value) {
        self.tree(types).insert(path.clone(), config.clone());
        self.writes.push(Write {
            types,
            path,
            config,
        });
    }

    /// Makes sure every folder down to `path` exists.
    fn ensure_folder(&mut self, types: bool, path: &str) {
        let mut current = String::new();
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            current = join(&current, segment);
            if !self.tree(types).contains_key(&current) {
                self.write(types, current.clone(), json!({"tagType": "Folder"}));
            }
        }
    }

    fn entries(&mut self, entries: &[Value], base: &str, types: bool) {
        for entry in entries {
            self.entry(entry, base, types);
        }
    }

    fn entry(&mut self, entry: &Value, base: &str, types: bool) {
        let provider = self.provider;
        let Some(name) = entry
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && !n.contains('/'))
        else {
            self.qualities.push(quality(
                "Bad_Failure",
                provider,
                base,
                "Tag entry without a valid name",
            ));
            return;
        };
        let tag_type = match entry.get("tagType") {
            None => "AtomicTag",
            Some(Value::String(t)) if IMPORTABLE_TAG_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(other) => {
                self.qualities.push(quality(
                    "Bad_Failure",
                    provider,
                    &join(base, name),
                    &format!("Unknown tagType {other}"),
                ));
                return;
            }
        };
        let children = entry
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !types && base.is_empty() && name == TYPES_FOLDER && tag_type == "Folder" {
            self.entries(&children, "", true);
            return;
        }
        if !types && (name == TYPES_FOLDER || tag_type == "UdtType") && !base.is_empty() {
            self.qualities.push(quality(
                "Bad_Unsupported",
                provider,
                &join(base, name),
                "Udt definitions can only be imported in the UDT Definitions tab",
            ));
            return;
        }
        // A UdtType imported at the provider root is routed to the types folder.
        let types = types || tag_type == "UdtType";
        let path = join(base, name);
        if tag_type == "Folder" {
            match self
                .tree(types)
                .get(&path)
                .and_then(|c| c.get("tagType"))
                .cloned()
            {
                Some(t) if t == "Folder" => {}
                Some(_) if self.policy != Policy::Overwrite => {
                    self.collide(types, &path, name, base, entry);
                    return;
                }
                _ => {
                    let config = config_of(entry);
                    self.write(types, path.clone(), config);
                }
            }
            self.entries(&children, &path, types);
            return;
        }
        if types && tag_type != "UdtType" {
            self.qualities.push(quality(
                "Bad_Unsupported",
                provider,
                &format!("{TYPES_FOLDER}/{path}"),
                "Only UDT definitions and folders belong in the UDT Definitions",
            ));
            return;
        }
        if self.tree(types).contains_key(&path) {
            self.collide(types, &path, name, base, entry);
        } else {
            self.write(types, path, entry_config(entry, tag_type));
        }
    }

    fn collide(&mut self, types: bool, path: &str, name: &str, base: &str, entry: &Value) {
        let provider = self.provider;
        let tag_type = entry
            .get("tagType")
            .and_then(Value::as_str)
            .unwrap_or("AtomicTag");
        match self.policy {
            Policy::Abort => {
                self.collisions += 1;
                self.qualities.push(quality(
                    "Bad_Failure",
                    provider,
                    path,
                    &format!("Tag '{path}' already exists (collision policy Abort)"),
                ));
            }
            Policy::Ignore => {}
            Policy::Overwrite => self.write(types, path.to_string(), entry_config(entry, tag_type)),
            Policy::MergeOverwrite => {
                let existing = self.tree(types)[path].clone();
                let merged = merge(&existing, &entry_config(entry, tag_type));
                self.write(types, path.to_string(), merged);
            }
            Policy::Rename => {
                let mut n = 1;
                let new_path = loop {
                    let candidate = join(base, &format!("{name}_{n}"));
                    if !self.tree(types).contains_key(&candidate) {
                        break candidate;
                    }
                    n += 1;
                };
                self.write(types, new_path.clone(), entry_config(entry, tag_type));
                if tag_type == "Folder" {
                    let children = entry
                        .get("tags")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    self.entries(&children, &new_path, types);
                }
            }
        }
    }
}

/// An entry's configuration as stored: without `name`, with its `tagType` spelled out.
fn entry_config(entry: &Value, tag_type: &str) -> Value {
    let mut config = config_of(entry);
    if config.get("tagType").is_none() {
        config["tagType"] = json!(tag_type);
    }
    config
}

/// Re-reads the tag folders an import touched, rewrites their files the way the gateway does
/// (Gson escapes, re-signed `unary-resource.json`), and makes them the loaded copies.
fn reload_folders(
    gateway: &Shared,
    view: &mut LoadedView,
    provider: &str,
    types: bool,
    folders: &BTreeSet<String>,
) -> ApiResult<()> {
    let base_key = format!("{WRITE_COLLECTION}/ignition/{}/{provider}", kind_dir(types));
    let actor = gateway.token_name();
    for rel in folders {
        let key = if rel.is_empty() {
            base_key.clone()
        } else {
            format!("{base_key}/{rel}")
        };
        let dir = config_root(&gateway.config.data_dir).join(&key);
        let Some(mut unit) = read_tag_unit(&dir, rel.is_empty())? else {
            view.config_units.remove(&key);
            continue;
        };
        let loaded = view.config_units.get(&key);
        for (file, bytes) in unit.files.iter_mut() {
            // Only files this import wrote are the gateway's to re-encode; others keep their
            // bytes.
            if loaded.and_then(|u| u.files.get(file)) == Some(bytes) {
                continue;
            }
            if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
                let gson = gson_bytes(&value);
                if gson != *bytes {
                    write_atomic(&dir.join(file), &gson)?;
                    *bytes = gson;
                }
            }
        }
        if view.config_units.get(&key) != Some(&unit)
            && let Some(manifest) = unit.manifest.as_mut()
        {
            sign(manifest, &unit.files, &actor);
            write_atomic(&dir.join("unary-resource.json"), &gson_bytes(manifest))?;
        }
        view.config_units.insert(key, unit);
    }
    Ok(())
}

async fn import(
    State(gateway): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    let provider = required(&query, "provider")?.to_string();
    check_type(&query)?;
    let policy = Policy::parse(required(&query, "collisionPolicy")?)?;
    let base = clean_path(query.get("path").map(String::as_str).unwrap_or(""));
    let document: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Unable to parse tag JSON: {e}")))?;
    let Value::Object(object) = &document else {
        return Err(ApiError::bad_request("Not a JSON Object"));
    };
    let entries = match object.get("tags") {
        Some(Value::Array(tags))
            if object
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                || object.get("tagType").and_then(Value::as_str) == Some("Provider") =>
        {
            tags.clone()
        }
        _ if object.get("name").is_some() => vec![document.clone()],
        _ => {
            return Err(ApiError::bad_request(
                "Expected an object with a 'tags' array",
            ));
        }
    };

    let mut view = gateway.view();
    if !provider_exists(&view, &provider) {
        return Err(ApiError::bad_request(format!(
            "Tag provider '{provider}' not found"
        )));
    }
    let mut plan = Plan {
        provider: &provider,
        policy,
        tags: provider_tree(&view, &provider, false),
        types: provider_tree(&view, &provider, true),
        writes: Vec::new(),
        qualities: Vec::new(),
        collisions: 0,
    };
    plan.ensure_folder(false, &base);
    plan.entries(&entries, &base, false);
    // Abort refuses the whole import when anything collides: nothing is written.
    if plan.policy == Policy::Abort && plan.collisions > 0 {
        return Ok(axum::Json(Value::Array(plan.qualities)).into_response());
    }

    let root = |types: bool| {
        config_root(&gateway.config.data_dir)
            .join(WRITE_COLLECTION)
            .join("ignition")
            .join(kind_dir(types))
            .join(&provider)
    };
    let mut touched: [BTreeSet<String>; 2] = [BTreeSet::new(), BTreeSet::new()];
    for write in &plan.writes {
        TagFolder::new(root(write.types)).write_entry(&write.path, &write.config)?;
        let folders = &mut touched[usize::from(write.types)];
        // The entry's folder and every folder above it may have been written.
        let mut current = String::new();
        folders.insert(String::new());
        let segments: Vec<&str> = write.path.split('/').collect();
        let is_folder = write.config.get("tagType").and_then(Value::as_str) == Some("Folder");
        let depth = if is_folder {
            segments.len()
        } else {
            segments.len() - 1
        };
        for segment in &segments[..depth] {
            current = join(&current, segment);
            folders.insert(current.clone());
        }
    }
    for (types, folders) in [(false, &touched[0]), (true, &touched[1])] {
        reload_folders(&gateway, &mut view, &provider, types, folders)?;
    }
    Ok(axum::Json(Value::Array(plan.qualities)).into_response())
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/data/api/v1/tags/export", get(export))
        .route("/data/api/v1/tags/import", post(import))
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use super::super::test_support::*;

    fn export(gateway: &super::super::RunningGateway, query: &str) -> Value {
        get_json(gateway, &format!("/data/api/v1/tags/export?{query}"))
    }

    fn import(
        gateway: &super::super::RunningGateway,
        query: &str,
        body: &str,
    ) -> reqwest::blocking::Response {
        client()
            .post(format!("{}/data/api/v1/tags/import?{query}", gateway.url))
            .header("X-Ignition-API-Token", TOKEN)
            .header("Content-Type", "application/octet-stream")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    fn find<'a>(tags: &'a Value, name: &str) -> Option<&'a Value> {
        tags["tags"].as_array()?.iter().find(|t| t["name"] == name)
    }

    #[test]
    fn exports_the_fixture_provider_with_and_without_types() {
        let (_dir, gateway) = gateway(true);
        let missing_type = get(&gateway, "/data/api/v1/tags/export?provider=example-tags");
        assert_eq!(missing_type.status(), StatusCode::BAD_REQUEST);

        let all = export(&gateway, "provider=example-tags&type=json&recursive=true");
        assert_eq!(all["tagType"], "Provider");
        let overview = find(&all, "Overview").unwrap();
        assert_eq!(overview["tagType"], "Folder");
        let motor = find(overview, "Motor 6").unwrap();
        assert_eq!(motor["tagType"], "UdtInstance");
        assert_eq!(motor["typeId"], "Motor");
        let case_count = find(overview, "CaseCount").unwrap();
        assert_eq!(
            case_count["opcItemPath"],
            "ns=1;s=[Simulator]Overview/CaseCount"
        );
        assert!(find(&all, "Refrigeration").is_some());
        assert!(find(&all, "_types_").is_none());

        let with_types = export(
            &gateway,
            "provider=example-tags&type=json&recursive=true&includeUdts=true",
        );
        let types = find(&with_types, "_types_").unwrap();
        assert_eq!(types["tagType"], "Folder");
        let palletizer = find(types, "Palletizer").unwrap();
        assert_eq!(palletizer["tagType"], "UdtType");
        assert_eq!(palletizer["tags"].as_array().unwrap().len(), 3);

        let folder = export(&gateway, "provider=example-tags&type=json&path=Overview");
        assert_eq!(folder["name"], "Overview");
        assert_eq!(folder["tagType"], "Folder");
        assert!(find(&folder, "Motor 6").is_some());
        let shallow = export(&gateway, "provider=example-tags&type=json&recursive=false");
        assert!(find(&shallow, "Overview").unwrap().get("tags").is_none());
    }

    const MINING: &str = r#"{"tags": [
        {"name": "_types_", "tagType": "Folder", "tags": [
            {"name": "Crusher", "tagType": "UdtType", "parameters": {"AssetId": {"dataType": "String", "value": "CR_000"}},
             "tags": [{"name": "Status", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "String", "value": "RUNNING"}]}]},
        {"name": "Mining", "tagType": "Folder", "tags": [
            {"name": "Equipment", "tagType": "Folder", "tags": [
                {"name": "CR_002", "tagType": "UdtInstance", "typeId": "Crusher",
                 "parameters": {"AssetId": {"dataType": "String", "value": "CR_002"}}},
                {"name": "Setpoint", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8", "value": 1.5, "expression": "a=b"}]}]}]}"#;

    #[test]
    fn import_lands_per_folder_files_and_is_loaded() {
        let (dir, gateway) = gateway(true);
        let query = "provider=example-tags&type=json&collisionPolicy=Abort";
        let root = dir
            .path()
            .join("config/resources/core/ignition/tag-definition/example-tags");
        let root_before = (
            std::fs::read(root.join("tags.json")).unwrap(),
            std::fs::read(root.join("unary-resource.json")).unwrap(),
        );
        let response = import(&gateway, query, MINING);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().unwrap(), json!([]));

        let core = dir.path().join("config/resources/core/ignition");
        let types = core.join("tag-type-definition/example-tags/udts.json");
        let types: Value = serde_json::from_slice(&std::fs::read(types).unwrap()).unwrap();
        assert!(
            types
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == "Crusher")
        );
        let equipment = core.join("tag-definition/example-tags/Mining/Equipment");
        assert!(equipment.join("unary-resource.json").is_file());
        assert!(
            core.join("tag-definition/example-tags/Mining/unary-resource.json")
                .is_file()
        );
        let udts: Value =
            serde_json::from_slice(&std::fs::read(equipment.join("udts.json")).unwrap()).unwrap();
        assert_eq!(udts[0]["name"], "CR_002");
        let tags_text = std::fs::read_to_string(equipment.join("tags.json")).unwrap();
        assert!(tags_text.contains(r#""a\u003db""#), "{tags_text}");
        let unary: Value =
            serde_json::from_slice(&std::fs::read(equipment.join("unary-resource.json")).unwrap())
                .unwrap();
        assert_eq!(unary["attributes"]["lastModification"]["actor"], "lode");
        // Files the import did not change keep their bytes (the hand-formatted nested form).
        assert_eq!(
            (
                std::fs::read(root.join("tags.json")).unwrap(),
                std::fs::read(root.join("unary-resource.json")).unwrap(),
            ),
            root_before
        );

        let exported = export(
            &gateway,
            "provider=example-tags&type=json&path=Mining/Equipment&includeUdts=true",
        );
        assert_eq!(find(&exported, "CR_002").unwrap()["typeId"], "Crusher");
        assert!(find(find(&exported, "_types_").unwrap(), "Crusher").is_some());

        // Abort on an existing tag: a Bad quality and nothing written.
        let before = std::fs::read(equipment.join("tags.json")).unwrap();
        let changed = MINING.replace("1.5", "2.5");
        let aborted: Value = import(&gateway, query, &changed).json().unwrap();
        assert!(aborted[0]["quality"].as_str().unwrap().starts_with("Bad"));
        assert_eq!(std::fs::read(equipment.join("tags.json")).unwrap(), before);

        // Ignore keeps the existing value.
        let ignored: Value = import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=Ignore",
            &changed,
        )
        .json()
        .unwrap();
        assert_eq!(ignored, json!([]));
        let value = |gateway: &super::super::RunningGateway, name: &str| {
            let exported = export(
                gateway,
                "provider=example-tags&type=json&path=Mining/Equipment",
            );
            find(&exported, name).cloned()
        };
        assert_eq!(value(&gateway, "Setpoint").unwrap()["value"], 1.5);

        // Overwrite replaces the whole configuration.
        let overwrite = r#"{"tags": [{"name": "Setpoint", "tagType": "AtomicTag", "valueSource": "memory", "dataType": "Float8", "value": 3.5}]}"#;
        let response: Value = import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=Overwrite&path=Mining/Equipment",
            overwrite,
        )
        .json()
        .unwrap();
        assert_eq!(response, json!([]));
        let setpoint = value(&gateway, "Setpoint").unwrap();
        assert_eq!(setpoint["value"], 3.5);
        assert!(setpoint.get("expression").is_none());

        // MergeOverwrite changes only the given keys.
        let merge = r#"{"tags": [{"name": "Setpoint", "tagType": "AtomicTag", "engUnit": "t/h"}]}"#;
        import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=MergeOverwrite&path=[example-tags]Mining/Equipment",
            merge,
        );
        let setpoint = value(&gateway, "Setpoint").unwrap();
        assert_eq!(setpoint["value"], 3.5);
        assert_eq!(setpoint["engUnit"], "t/h");

        // Rename keeps both.
        import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=Rename&path=Mining/Equipment",
            overwrite,
        );
        assert_eq!(value(&gateway, "Setpoint_1").unwrap()["value"], 3.5);
        assert!(value(&gateway, "Setpoint").is_some());
    }

    #[test]
    fn a_folders_own_files_win_over_nested_copies() {
        use super::super::scan::{LoadedView, Unit};
        use std::collections::BTreeMap;
        let unit = |files: &[(&str, Value)]| Unit {
            manifest: Some(json!({"files": [], "attributes": {"config": {}}})),
            files: files
                .iter()
                .map(|(name, value)| (name.to_string(), serde_json::to_vec(value).unwrap()))
                .collect(),
        };
        let base = "core/ignition/tag-definition/default";
        let view = LoadedView {
            config_units: BTreeMap::from([
                (
                    base.to_string(),
                    unit(&[(
                        "tags.json",
                        json!([{"name": "Area", "tagType": "Folder", "tags": [
                        {"name": "T", "tagType": "AtomicTag", "value": 1},
                        {"name": "OnlyNested", "tagType": "AtomicTag"}]}]),
                    )]),
                ),
                (
                    format!("{base}/Area"),
                    unit(&[(
                        "tags.json",
                        json!([{"name": "T", "tagType": "AtomicTag", "value": 2}]),
                    )]),
                ),
                // A folder without unary-resource.json is not loaded at all (see scan.rs), so a
                // unit exists only for folders that resolve.
            ]),
            ..LoadedView::default()
        };
        let tree = super::provider_tree(&view, "default", false);
        assert_eq!(tree["Area/T"]["value"], 2);
        assert!(tree.contains_key("Area/OnlyNested"));
        assert_eq!(tree["Area"], json!({"tagType": "Folder"}));
    }

    #[test]
    fn import_refuses_bare_arrays_and_types_in_folders() {
        let (_dir, gateway) = gateway(true);
        let bare = import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=Abort",
            r#"[{"name": "X", "tagType": "AtomicTag"}]"#,
        );
        assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
        let body: Value = bare.json().unwrap();
        assert_eq!(body["problem"]["message"], "Not a JSON Object");
        let no_policy = import(
            &gateway,
            "provider=example-tags&type=json",
            r#"{"tags": []}"#,
        );
        assert_eq!(no_policy.status(), StatusCode::BAD_REQUEST);
        let udt_in_folder: Value = import(
            &gateway,
            "provider=example-tags&type=json&collisionPolicy=Abort&path=Overview",
            r#"{"tags": [{"name": "T", "tagType": "UdtType", "tags": []}]}"#,
        )
        .json()
        .unwrap();
        assert_eq!(udt_in_folder[0]["quality"], "Bad_Unsupported");
        let unknown = import(
            &gateway,
            "provider=nope&type=json&collisionPolicy=Abort",
            r#"{"tags": []}"#,
        );
        assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    }
}
