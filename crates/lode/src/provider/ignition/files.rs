//! The `files` transport: the provider reads and writes a gateway data directory directly. Each
//! kind maps to fixed paths and payload names (see `../shared/reference/ignition-83.md` §2–5);
//! payload files are written before `resource.json`, each atomically and fsynced, and
//! `resource.json` never carries a signature (the gateway signs it on its next scan).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::client::GatewayClient;
use super::disk::{
    read_json, read_text, remove_dir, resource_manifest, to_json_bytes, write_atomic,
};
use super::script;
use super::zerobus;
use crate::manifest::kinds::{GatewayScriptType, SessionEventType};
use crate::manifest::{Address, Kind};
use crate::provider::{
    BatchWrite, ChangeOptions, Discovered, DiscoveryScope, LiveObject, Provider, ProviderError,
    RefreshRequest,
};
use lode_wire::ignition::tag_files::TagFolder;

const PERSPECTIVE: &str = "com.inductiveautomation.perspective";

/// An Ignition gateway reached through its data directory.
pub struct IgnitionFiles {
    data_dir: PathBuf,
    collection: String,
    /// The gateway's API, when configured: scans after writes, and the Zerobus connector.
    gateway: Option<Arc<GatewayClient>>,
    /// Tag and type files are shared by many resources; writes to them go one at a time.
    tag_files: Mutex<()>,
}

fn str_field<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}

fn parse_enum<T: serde::de::DeserializeOwned>(
    spec: &Value,
    field: &str,
) -> Result<T, ProviderError> {
    serde_json::from_value(spec.get(field).cloned().unwrap_or(Value::Null))
        .map_err(|e| ProviderError::Refused(format!("spec field `{field}`: {e}")))
}

impl IgnitionFiles {
    pub fn new(
        data_dir: PathBuf,
        collection: String,
        gateway: Option<Arc<GatewayClient>>,
    ) -> IgnitionFiles {
        IgnitionFiles {
            data_dir,
            collection,
            gateway,
            tag_files: Mutex::new(()),
        }
    }

    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub(super) fn collection(&self) -> &str {
        &self.collection
    }

    pub(super) fn gateway(&self) -> Option<&GatewayClient> {
        self.gateway.as_deref()
    }

    pub(super) fn project_dir(&self, project: &str) -> PathBuf {
        self.data_dir.join("projects").join(project)
    }

    pub(super) fn tag_folder(&self, provider: &str) -> TagFolder {
        TagFolder::tag_definitions(&self.data_dir, &self.collection, provider)
    }

    pub(super) fn type_folder(&self, provider: &str) -> TagFolder {
        TagFolder::type_definitions(&self.data_dir, &self.collection, provider)
    }

    /// The resource folder, payload file name and (for scripts) signature of a project resource.
    fn resource_location(
        &self,
        kind: Kind,
        spec: &Value,
    ) -> Result<(PathBuf, &'static str, Option<&'static str>), ProviderError> {
        let project = self.project_dir(str_field(spec, "project"));
        Ok(match kind {
            Kind::GatewayScript => {
                let script_type: GatewayScriptType = parse_enum(spec, "type")?;
                let (folder, file, signature) = script_type.layout();
                let dir = if script_type.is_singleton() {
                    project.join(folder)
                } else {
                    project.join(folder).join(str_field(spec, "resource_name"))
                };
                (dir, file, Some(signature))
            }
            Kind::SessionEvent => {
                let event: SessionEventType = parse_enum(spec, "event")?;
                let (folder, file, signature) = event.layout();
                (project.join(folder), file, Some(signature))
            }
            Kind::PerspectiveView => (
                project
                    .join(PERSPECTIVE)
                    .join("views")
                    .join(str_field(spec, "view_path")),
                "view.json",
                None,
            ),
            Kind::PageConfig => (
                project.join(PERSPECTIVE).join("page-config"),
                "config.json",
                None,
            ),
            Kind::SessionProps => (
                project.join(PERSPECTIVE).join("session-props"),
                "props.json",
                None,
            ),
            _ => unreachable!("{kind} is not a project resource"),
        })
    }

    pub(super) fn read_project(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let Some(project) = read_json(&self.project_dir(name).join("project.json"))? else {
            return Ok(None);
        };
        Ok(Some(json!({
            "title": project.get("title").and_then(Value::as_str).unwrap_or(""),
            "description": project.get("description").and_then(Value::as_str).unwrap_or(""),
            "enabled": project.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            "inheritable": project.get("inheritable").and_then(Value::as_bool).unwrap_or(false),
            "parent": project.get("parent").and_then(Value::as_str).unwrap_or(""),
        })))
    }

    /// Reads a project resource into the manifests' spec shape; `None` if it is not there.
    pub(super) fn read_resource(
        &self,
        kind: Kind,
        locator: &Value,
    ) -> Result<Option<Value>, ProviderError> {
        let (dir, file, signature) = self.resource_location(kind, locator)?;
        // A folder without resource.json is not a resource to the gateway.
        let Some(manifest) = read_json(&dir.join("resource.json"))? else {
            return Ok(None);
        };
        let attributes = manifest.get("attributes").cloned().unwrap_or(json!({}));
        let project = str_field(locator, "project");
        let payload_path = dir.join(file);
        if signature.is_some() {
            let body = script::decode(&read_text(&payload_path)?.unwrap_or_default());
            let enabled = attributes
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let mut spec = json!({"project": project, "enabled": enabled, "script": body});
            if kind == Kind::SessionEvent {
                spec["event"] = locator["event"].clone();
                if enabled {
                    spec.as_object_mut().expect("object").remove("enabled");
                }
                return Ok(Some(spec));
            }
            let script_type: GatewayScriptType = parse_enum(locator, "type")?;
            spec["type"] = locator["type"].clone();
            if !script_type.is_singleton() {
                spec["resource_name"] = locator["resource_name"].clone();
            }
            match script_type {
                GatewayScriptType::Timer => {
                    spec["delay_ms"] = attributes.get("delay").cloned().unwrap_or(json!(1000));
                    let fixed_delay = attributes
                        .get("fixedDelay")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    spec["delay_type"] = json!(if fixed_delay {
                        "fixed_delay"
                    } else {
                        "fixed_rate"
                    });
                    let shared = attributes
                        .get("sharedThread")
                        .and_then(Value::as_bool)
                        .unwrap_or(true);
                    spec["threading"] = json!(if shared { "shared" } else { "dedicated" });
                }
                GatewayScriptType::TagChange => {
                    spec["tag_paths"] = attributes.get("paths").cloned().unwrap_or(json!([]));
                    spec["change_types"] =
                        attributes.get("changeTypes").cloned().unwrap_or(json!([]));
                }
                GatewayScriptType::Startup | GatewayScriptType::Shutdown => {}
            }
            return Ok(Some(spec));
        }
        let document = read_json(&payload_path)?.unwrap_or(json!({}));
        Ok(Some(match kind {
            Kind::PerspectiveView => {
                json!({"project": project, "view_path": locator["view_path"], "view": document})
            }
            Kind::PageConfig => json!({"project": project, "config": document}),
            Kind::SessionProps => json!({"project": project, "props": document}),
            _ => unreachable!(),
        }))
    }

    fn write_resource(&self, kind: Kind, spec: &Value) -> Result<(), ProviderError> {
        let (dir, file, signature) = self.resource_location(kind, spec)?;
        let (payload, attributes) = match signature {
            Some(signature) => {
                let body = str_field(spec, "script");
                let enabled = spec.get("enabled").and_then(Value::as_bool).unwrap_or(true);
                let mut attributes = json!({"enabled": enabled});
                if kind == Kind::GatewayScript {
                    match parse_enum::<GatewayScriptType>(spec, "type")? {
                        GatewayScriptType::Timer => {
                            attributes["delay"] = spec["delay_ms"].clone();
                            attributes["fixedDelay"] =
                                json!(str_field(spec, "delay_type") == "fixed_delay");
                            attributes["sharedThread"] =
                                json!(str_field(spec, "threading") == "shared");
                        }
                        GatewayScriptType::TagChange => {
                            attributes["paths"] =
                                spec.get("tag_paths").cloned().unwrap_or(json!([]));
                            attributes["changeTypes"] =
                                spec.get("change_types").cloned().unwrap_or(json!([]));
                        }
                        _ => {}
                    }
                }
                (script::encode(signature, body).into_bytes(), attributes)
            }
            None => {
                let document = match kind {
                    Kind::PerspectiveView => &spec["view"],
                    Kind::PageConfig => &spec["config"],
                    Kind::SessionProps => &spec["props"],
                    _ => unreachable!(),
                };
                (to_json_bytes(document), json!({}))
            }
        };
        // Payload first: the gateway must never see a resource.json whose payload is missing.
        write_atomic(&dir.join(file), &payload)?;
        // Keep other payloads the gateway lists and has on disk (a view's thumbnail.png).
        let existing = read_json(&dir.join("resource.json")).ok().flatten();
        let mut listed: Vec<&str> = vec![file];
        for other in existing
            .iter()
            .flat_map(|e| e.get("files").and_then(Value::as_array))
            .flatten()
        {
            if let Some(name) = other.as_str()
                && name != file
                && dir.join(name).is_file()
            {
                listed.push(name);
            }
        }
        let manifest = resource_manifest("G", &listed, attributes);
        Ok(write_atomic(
            &dir.join("resource.json"),
            &to_json_bytes(&manifest),
        )?)
    }

    fn write_project(&self, name: &str, spec: &Value) -> Result<(), ProviderError> {
        Ok(write_atomic(
            &self.project_dir(name).join("project.json"),
            &to_json_bytes(spec),
        )?)
    }

    /// Reads all tags or types of the providers the requests name, one pass per provider.
    fn read_tag_trees(
        &self,
        requests: &[&RefreshRequest],
        types: bool,
    ) -> Result<BTreeMap<String, BTreeMap<String, Value>>, ProviderError> {
        let mut trees = BTreeMap::new();
        for request in requests {
            let provider = str_field(&request.spec, "provider").to_string();
            if let std::collections::btree_map::Entry::Vacant(slot) = trees.entry(provider) {
                let folder = if types {
                    self.type_folder(slot.key())
                } else {
                    self.tag_folder(slot.key())
                };
                slot.insert(folder.read_all()?);
            }
        }
        Ok(trees)
    }

    /// Runs a change to files under the gateway's scan lock and asks it to scan afterwards, so
    /// it never loads half a change and does pick the change up (8.3 does not watch reliably).
    fn scanned<T>(
        &self,
        kind: Kind,
        change: impl FnOnce() -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let Some(gateway) = &self.gateway else {
            return change();
        };
        let area = if matches!(kind, Kind::Tag | Kind::Udt) {
            "config"
        } else {
            "projects"
        };
        gateway
            .scan_lock(area)
            .map_err(|e| ProviderError::Refused(e.to_string()))?;
        let result = change();
        gateway
            .scan(area)
            .map_err(|e| ProviderError::Refused(e.to_string()))?;
        result
    }

    fn zerobus_gateway(&self) -> Result<&GatewayClient, ProviderError> {
        self.gateway
            .as_deref()
            .ok_or_else(|| ProviderError::Refused("a zerobus_connection needs the gateway's URL: set `ignition.gateway_url` in the environment".into()))
    }

    pub(super) fn write(
        &self,
        address: &Address,
        desired: &Value,
    ) -> Result<LiveObject, ProviderError> {
        if address.kind == Kind::ZerobusConnection {
            return zerobus::write(self.zerobus_gateway()?, desired);
        }
        self.scanned(address.kind, || self.write_files(address, desired))
    }

    fn write_files(&self, address: &Address, desired: &Value) -> Result<LiveObject, ProviderError> {
        match address.kind {
            Kind::Project => self.write_project(&address.name, desired)?,
            Kind::Udt => {
                let _guard = self.tag_files.lock().expect("tag file lock");
                self.type_folder(str_field(desired, "provider"))
                    .write_entry(&address.name, &tag_file_entry(Kind::Udt, desired))?;
            }
            Kind::Tag => {
                let _guard = self.tag_files.lock().expect("tag file lock");
                self.tag_folder(str_field(desired, "provider"))
                    .write_entry(&address.name, &tag_file_entry(Kind::Tag, desired))?;
            }
            kind => self.write_resource(kind, desired)?,
        }
        Ok(LiveObject::plain(desired.clone()))
    }
}

/// Tags or UDT definitions written together in one `write_batch`.
const TAG_BATCH: usize = 500;
/// Project resources (scripts, views, ...) written under one scan lock.
const RESOURCE_BATCH: usize = 100;

/// What a tag or UDT spec is in the gateway's tag files.
fn tag_file_entry(kind: Kind, desired: &Value) -> Value {
    if kind == Kind::Udt {
        let mut entry = json!({"tagType": "UdtType", "typeId": desired.get("parent_type").cloned().unwrap_or(Value::Null)});
        if let Some(parameters) = desired.get("parameters") {
            entry["parameters"] = parameters.clone();
        }
        entry["tags"] = desired.get("tags").cloned().unwrap_or(json!([]));
        return entry;
    }
    let mut config = desired.clone();
    config
        .as_object_mut()
        .expect("tag specs are objects")
        .remove("provider");
    config
}

pub(super) fn udt_spec(provider: &str, entry: &Value) -> Option<Value> {
    if entry.get("tagType").and_then(Value::as_str) != Some("UdtType") {
        return None;
    }
    let mut spec =
        json!({"provider": provider, "tags": entry.get("tags").cloned().unwrap_or(json!([]))});
    if let Some(parent) = entry
        .get("typeId")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
    {
        spec["parent_type"] = json!(parent);
    }
    if let Some(parameters) = entry
        .get("parameters")
        .filter(|p| p.as_object().is_some_and(|m| !m.is_empty()))
    {
        spec["parameters"] = parameters.clone();
    }
    Some(spec)
}

impl Provider for IgnitionFiles {
    fn system(&self) -> &'static str {
        "ignition"
    }

    fn recover_interrupted(&self) -> Result<Option<String>, ProviderError> {
        match &self.gateway {
            Some(gateway) => gateway
                .finish_interrupted_writes()
                .map(Some)
                .map_err(|e| ProviderError::Refused(e.to_string())),
            // Without the API the gateway scans on its own schedule; nothing to release.
            None => Ok(None),
        }
    }

    fn discover(&self, scope: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
        super::discover::from_files(self, scope)
    }

    fn check_connection(&self) -> Result<String, ProviderError> {
        if !self.data_dir.is_dir() {
            return Err(ProviderError::Refused(format!(
                "the gateway data directory {} does not exist",
                self.data_dir.display()
            )));
        }
        match &self.gateway {
            Some(gateway) => {
                let info = gateway
                    .get("/data/api/v1/gateway-info")
                    .map_err(|e| ProviderError::Refused(e.to_string()))?;
                Ok(format!(
                    "data directory {}; gateway {} ({}) answers and accepts the token",
                    self.data_dir.display(),
                    gateway.base(),
                    info.get("ignitionVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                ))
            }
            None => Ok(format!(
                "data directory {} (no gateway URL: no scans)",
                self.data_dir.display()
            )),
        }
    }

    fn stop(&self, address: &Address, live: &LiveObject) -> Result<Option<String>, ProviderError> {
        match address.kind {
            Kind::ZerobusConnection => zerobus::disable(self.zerobus_gateway()?),
            Kind::GatewayScript => match super::script::disabled_timer(&live.spec) {
                Some(stopped) => {
                    self.write(address, &stopped).map(|_| ())?;
                    Ok(Some(format!("disabled the timer script {address}")))
                }
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    fn refresh(
        &self,
        requests: &[RefreshRequest],
    ) -> Result<BTreeMap<Address, LiveObject>, ProviderError> {
        let of_kind = |kind: Kind| {
            requests
                .iter()
                .filter(move |r| r.address.kind == kind)
                .collect::<Vec<_>>()
        };
        let mut live = BTreeMap::new();
        let tags = of_kind(Kind::Tag);
        let tag_trees = self.read_tag_trees(&tags, false)?;
        for request in tags {
            let provider = str_field(&request.spec, "provider");
            if let Some(config) = tag_trees
                .get(provider)
                .and_then(|t| t.get(&request.address.name))
            {
                let mut spec = config.clone();
                spec["provider"] = json!(provider);
                live.insert(request.address.clone(), LiveObject::plain(spec));
            }
        }
        let udts = of_kind(Kind::Udt);
        let type_trees = self.read_tag_trees(&udts, true)?;
        for request in udts {
            let provider = str_field(&request.spec, "provider");
            if let Some(spec) = type_trees
                .get(provider)
                .and_then(|t| t.get(&request.address.name))
                .and_then(|e| udt_spec(provider, e))
            {
                live.insert(request.address.clone(), LiveObject::plain(spec));
            }
        }
        let zerobus_requests = of_kind(Kind::ZerobusConnection);
        if !zerobus_requests.is_empty() {
            live.extend(zerobus::read(self.zerobus_gateway()?, &zerobus_requests)?);
        }
        for request in requests {
            let spec = match request.address.kind {
                Kind::Tag | Kind::Udt | Kind::ZerobusConnection => continue,
                Kind::Project => self.read_project(&request.address.name)?,
                kind => self.read_resource(kind, &request.spec)?,
            };
            if let Some(spec) = spec {
                live.insert(request.address.clone(), LiveObject::plain(spec));
            }
        }
        Ok(live)
    }

    fn create(
        &self,
        address: &Address,
        desired: &Value,
        _: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        self.write(address, desired)
    }

    fn update(
        &self,
        address: &Address,
        desired: &Value,
        _: &LiveObject,
        _: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        self.write(address, desired)
    }

    fn batch_size(&self, kind: Kind) -> usize {
        match kind {
            Kind::Tag | Kind::Udt => TAG_BATCH,
            Kind::Project | Kind::ZerobusConnection => 1,
            _ => RESOURCE_BATCH,
        }
    }

    fn write_batch(&self, items: &[BatchWrite<'_>]) -> Vec<Result<LiveObject, ProviderError>> {
        // The executor batches only kinds whose `batch_size` is above 1.
        let Some(kind) = items.first().map(|i| i.address.kind) else {
            return Vec::new();
        };
        // One scan lock and one scan for the whole batch; tag files rewritten once per folder.
        let written = self.scanned(kind, || match kind {
            Kind::Tag | Kind::Udt => {
                let _guard = self.tag_files.lock().expect("tag file lock");
                let mut by_provider: BTreeMap<&str, Vec<(String, Value)>> = BTreeMap::new();
                for item in items {
                    by_provider
                        .entry(str_field(item.desired, "provider"))
                        .or_default()
                        .push((
                            item.address.name.clone(),
                            tag_file_entry(kind, item.desired),
                        ));
                }
                for (provider, entries) in by_provider {
                    let folder = if kind == Kind::Udt {
                        self.type_folder(provider)
                    } else {
                        self.tag_folder(provider)
                    };
                    folder.write_entries(&entries)?;
                }
                Ok(())
            }
            _ => items
                .iter()
                .try_for_each(|i| self.write_resource(kind, i.desired)),
        });
        crate::provider::group_results(items, written)
    }

    fn delete(
        &self,
        address: &Address,
        live: &LiveObject,
        _: &ChangeOptions,
    ) -> Result<(), ProviderError> {
        let live = &live.spec;
        if address.kind == Kind::ZerobusConnection {
            return zerobus::delete(self.zerobus_gateway()?);
        }
        self.scanned(address.kind, || self.delete_files(address, live))
    }
}

impl IgnitionFiles {
    fn delete_files(&self, address: &Address, live: &Value) -> Result<(), ProviderError> {
        match address.kind {
            Kind::Project => Ok(remove_dir(&self.project_dir(&address.name))?),
            Kind::Udt => {
                let _guard = self.tag_files.lock().expect("tag file lock");
                Ok(self
                    .type_folder(str_field(live, "provider"))
                    .delete_entry(&address.name, false)?)
            }
            Kind::Tag => {
                let _guard = self.tag_files.lock().expect("tag file lock");
                let is_folder = str_field(live, "tagType") == "Folder";
                Ok(self
                    .tag_folder(str_field(live, "provider"))
                    .delete_entry(&address.name, is_folder)?)
            }
            kind => {
                let (dir, _, _) = self.resource_location(kind, live)?;
                remove_dir(&dir)?;
                remove_empty_parents(&dir, &self.data_dir.join("projects"));
                Ok(())
            }
        }
    }
}

/// Removes folders left empty by a delete (e.g. `views/Mining` after its last view), up to the
/// project's module folder; failures are harmless, so they are ignored.
fn remove_empty_parents(dir: &Path, stop: &Path) {
    let mut current = dir.parent();
    while let Some(parent) = current {
        if parent == stop || parent.parent() == Some(stop) {
            break;
        }
        if std::fs::remove_dir(parent).is_err() {
            break;
        }
        current = parent.parent();
    }
}
