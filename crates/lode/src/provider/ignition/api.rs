//! The `api` transport: the gateway only through its 8.3 HTTP API, no disk access. Projects are
//! read from their export zip and changed by export → edit → import (`overwrite=true`), the edit
//! done by the `files` transport's own code on a temporary copy, so both transports write the
//! same files. Tags and UDTs are read with one export per provider and written by import. The
//! 8.3 API cannot delete tags: that is a limitation the plan shows as blocked, never skipped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::client::{GatewayClient, GatewayError, encode_path};
use super::files::{IgnitionFiles, udt_spec};
use super::zerobus;
use crate::manifest::{Address, Kind};
use crate::provider::{
    BatchWrite, ChangeOptions, Discovered, DiscoveryScope, Limitation, LiveObject, Operation,
    Provider, ProviderError, RefreshRequest,
};
use lode_wire::ignition::tag_files::{config_of, flatten, named_entry};

/// One provider's export: tags by path, and UDT definitions by path under `_types_`.
pub type TagExport = (BTreeMap<String, Value>, BTreeMap<String, Value>);

/// A gateway reached only over HTTP.
pub struct IgnitionApi {
    gateway: Arc<GatewayClient>,
    /// A project is exported, edited and imported whole: one change at a time per gateway.
    projects: Mutex<()>,
}

fn refused(error: GatewayError) -> ProviderError {
    ProviderError::Gateway(error)
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ProviderError {
    let path = path.to_path_buf();
    move |source| ProviderError::Io {
        operation,
        path,
        source,
    }
}

fn str_field<'a>(spec: &'a Value, field: &str) -> &'a str {
    spec.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Unpacks a project export into `dir`.
fn unzip(bytes: &[u8], dir: &Path) -> Result<(), ProviderError> {
    let invalid = |message: String| ProviderError::UnreadableLive {
        path: dir.to_path_buf(),
        message,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| invalid(e.to_string()))?;
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .map_err(|e| invalid(e.to_string()))?;
        if member.is_dir() {
            continue;
        }
        let Some(relative) = member.enclosed_name() else {
            return Err(invalid(format!(
                "the export holds an unsafe path {:?}",
                member.name()
            )));
        };
        let target = dir.join(relative);
        std::fs::create_dir_all(target.parent().expect("members have folders"))
            .map_err(io("create", &target))?;
        let mut content = Vec::new();
        member
            .read_to_end(&mut content)
            .map_err(io("read", &target))?;
        std::fs::write(&target, content).map_err(io("write", &target))?;
    }
    Ok(())
}

/// Packs `dir` (a project folder) as an import zip.
fn zip_dir(dir: &Path) -> Result<Vec<u8>, ProviderError> {
    fn add(
        writer: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
        root: &Path,
        dir: &Path,
    ) -> Result<(), ProviderError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io("list", dir))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                add(writer, root, &path)?;
                continue;
            }
            let name = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            writer.start_file(name, options).map_err(|e| {
                ProviderError::Refused(format!("cannot build the project zip: {e}"))
            })?;
            writer
                .write_all(&std::fs::read(&path).map_err(io("read", &path))?)
                .map_err(io("zip", &path))?;
        }
        Ok(())
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    add(&mut writer, dir, dir)?;
    let cursor = writer
        .finish()
        .map_err(|e| ProviderError::Refused(format!("cannot build the project zip: {e}")))?;
    Ok(cursor.into_inner())
}

/// A tag import answers a list of quality codes: anything not good is a failure.
fn check_qualities(answer: &Value, what: &str) -> Result<(), ProviderError> {
    let bad: Vec<String> = answer
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| {
            // A QualityCode is good when its name starts with `Good`.
            let name = q
                .as_str()
                .or_else(|| q.get("quality").and_then(Value::as_str))
                .unwrap_or("");
            !name.starts_with("Good")
        })
        .map(|q| q.to_string())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Refused(format!(
            "the gateway refused the import of {what}: {}",
            bad.join(", ")
        )))
    }
}

impl IgnitionApi {
    pub fn new(gateway: Arc<GatewayClient>) -> IgnitionApi {
        IgnitionApi {
            gateway,
            projects: Mutex::new(()),
        }
    }

    pub(super) fn gateway(&self) -> &GatewayClient {
        &self.gateway
    }

    /// A temporary gateway data folder holding `project` as the gateway exports it; `None` if
    /// the gateway has no such project.
    pub(super) fn export_project(
        &self,
        project: &str,
    ) -> Result<Option<tempfile::TempDir>, ProviderError> {
        let dir = tempfile::tempdir().map_err(io("create temp folder", Path::new("/tmp")))?;
        let path = format!("/data/api/v1/projects/export/{}", encode_path(project));
        match self.gateway.get_bytes(&path) {
            Ok(bytes) => {
                unzip(&bytes, &dir.path().join("projects").join(project))?;
                Ok(Some(dir))
            }
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(refused(error)),
        }
    }

    /// Export → edit with the files transport's code → import.
    fn edit_project(
        &self,
        project: &str,
        edit: impl FnOnce(&IgnitionFiles) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        let _one_at_a_time = self.projects.lock().expect("project lock");
        let copy = self.export_project(project)?.ok_or_else(|| {
            ProviderError::Refused(format!("the gateway has no project `{project}`"))
        })?;
        edit(&IgnitionFiles::new(
            copy.path().to_path_buf(),
            "core".into(),
            None,
        ))?;
        let zip = zip_dir(&copy.path().join("projects").join(project))?;
        let path = format!(
            "/data/api/v1/projects/import/{}?overwrite=true",
            encode_path(project)
        );
        self.gateway
            .post_bytes(&path, &zip, true)
            .map_err(refused)?;
        Ok(())
    }

    /// Every tag and type of `provider`, by path, from one export.
    pub(super) fn export_tags(&self, provider: &str) -> Result<TagExport, ProviderError> {
        export_tags(&self.gateway, provider).map_err(refused)
    }

    /// Imports one entry at `folder` of `provider`.
    fn import(
        &self,
        provider: &str,
        folder: &str,
        entry: Value,
        policy: &str,
    ) -> Result<(), ProviderError> {
        self.import_many(provider, folder, vec![entry], policy)
    }

    /// Imports entries at `folder` of `provider` in one request.
    fn import_many(
        &self,
        provider: &str,
        folder: &str,
        entries: Vec<Value>,
        policy: &str,
    ) -> Result<(), ProviderError> {
        let mut path = format!(
            "/data/api/v1/tags/import?provider={}&type=json&collisionPolicy={policy}",
            encode_path(provider)
        );
        if !folder.is_empty() {
            path.push_str(&format!("&path={}", encode_path(folder)));
        }
        let body = serde_json::to_vec(&json!({"tags": entries})).expect("JSON serialises");
        let answer = self
            .gateway
            .post_bytes(&path, &body, true)
            .map_err(refused)?;
        check_qualities(&answer, folder)
    }

    fn write_project(
        &self,
        name: &str,
        desired: &Value,
        exists: bool,
    ) -> Result<(), ProviderError> {
        let mut body = desired.clone();
        if exists {
            self.gateway
                .put_json(
                    &format!("/data/api/v1/projects/{}", encode_path(name)),
                    &body,
                )
                .map_err(refused)?;
        } else {
            body["name"] = json!(name);
            let path = format!("/data/api/v1/projects/{}", encode_path(name));
            let mut attempt = 1;
            loop {
                match self
                    .gateway
                    .post_json("/data/api/v1/projects", &body, false)
                {
                    Ok(_) => break,
                    // A create whose answer was lost may have happened: look before sending it
                    // again, and set the project that is there.
                    Err(error) if error.outcome_unknown() && attempt < 3 => {
                        if self.gateway.get_optional(&path).map_err(refused)?.is_some() {
                            self.gateway.put_json(&path, desired).map_err(refused)?;
                            break;
                        }
                        attempt += 1;
                    }
                    Err(error) => return Err(refused(error)),
                }
            }
        }
        Ok(())
    }

    fn write(
        &self,
        address: &Address,
        desired: &Value,
        exists: bool,
    ) -> Result<LiveObject, ProviderError> {
        match address.kind {
            Kind::ZerobusConnection => return zerobus::write(&self.gateway, desired),
            Kind::Project => self.write_project(&address.name, desired, exists)?,
            Kind::Udt => {
                let mut entry = json!({"tagType": "UdtType", "typeId": desired.get("parent_type").cloned().unwrap_or(Value::Null)});
                if let Some(parameters) = desired.get("parameters") {
                    entry["parameters"] = parameters.clone();
                }
                entry["tags"] = desired.get("tags").cloned().unwrap_or(json!([]));
                // Types imported at the provider root inside `_types_` land as UDT definitions.
                let mut nested = named_entry(
                    address.name.rsplit('/').next().unwrap_or(&address.name),
                    &entry,
                );
                for folder in address.name.rsplit('/').skip(1) {
                    nested = json!({"name": folder, "tagType": "Folder", "tags": [nested]});
                }
                let types = json!({"name": "_types_", "tagType": "Folder", "tags": [nested]});
                // Overwrite replaces the whole definition, so a member removed from the
                // manifest goes too (MergeOverwrite would keep it); the folders above it merge.
                self.import(str_field(desired, "provider"), "", types, "Overwrite")?;
            }
            Kind::Tag => {
                let (provider, folder, policy, entry) = tag_import(address, desired);
                self.import(provider, folder, entry, policy)?;
            }
            // Every other kind is a project resource: exported, edited and imported whole.
            _ => {
                let project = str_field(desired, "project").to_string();
                let address = address.clone();
                let desired = desired.clone();
                self.edit_project(&project, move |files| {
                    files.write(&address, &desired).map(|_| ())
                })?;
            }
        }
        Ok(LiveObject::plain(desired.clone()))
    }
}

/// Where and how a tag is imported: (provider, folder, collision policy, entry).
fn tag_import<'a>(
    address: &'a Address,
    desired: &'a Value,
) -> (&'a str, &'a str, &'static str, Value) {
    let mut config = desired.clone();
    config
        .as_object_mut()
        .expect("tag specs are objects")
        .remove("provider");
    let (folder, name) = address.name.rsplit_once('/').unwrap_or(("", &address.name));
    // Overwrite replaces a tag's whole config; a folder is only merged so its children stay.
    let policy = if str_field(&config, "tagType") == "Folder" {
        "MergeOverwrite"
    } else {
        "Overwrite"
    };
    (
        str_field(desired, "provider"),
        folder,
        policy,
        named_entry(name, &config),
    )
}

/// Tags imported in one request (per folder) by `write_batch`.
const TAG_BATCH: usize = 500;
/// Project resources written with one project export and import by `write_batch`.
const RESOURCE_BATCH: usize = 100;

impl IgnitionApi {
    /// Tags: one import per folder and policy. Project resources: one export and import per
    /// project. Each group succeeds or fails as a whole.
    fn write_group(&self, kind: Kind, items: &[BatchWrite<'_>]) -> Result<(), ProviderError> {
        if kind == Kind::Tag {
            let mut groups: BTreeMap<(&str, &str, &str), Vec<Value>> = BTreeMap::new();
            for item in items {
                let (provider, folder, policy, entry) = tag_import(item.address, item.desired);
                groups
                    .entry((provider, folder, policy))
                    .or_default()
                    .push(entry);
            }
            for ((provider, folder, policy), entries) in groups {
                self.import_many(provider, folder, entries, policy)?;
            }
            return Ok(());
        }
        let mut by_project: BTreeMap<String, Vec<&BatchWrite<'_>>> = BTreeMap::new();
        for item in items {
            by_project
                .entry(str_field(item.desired, "project").to_string())
                .or_default()
                .push(item);
        }
        for (project, writes) in by_project {
            self.edit_project(&project, |files| {
                writes
                    .iter()
                    .try_for_each(|w| files.write(w.address, w.desired).map(|_| ()))
            })?;
        }
        Ok(())
    }
}

impl Provider for IgnitionApi {
    fn system(&self) -> &'static str {
        "ignition"
    }

    fn batch_size(&self, kind: Kind) -> usize {
        match kind {
            Kind::Tag => TAG_BATCH,
            Kind::Project | Kind::Udt | Kind::ZerobusConnection => 1,
            _ => RESOURCE_BATCH,
        }
    }

    fn write_batch(&self, items: &[BatchWrite<'_>]) -> Vec<Result<LiveObject, ProviderError>> {
        // The executor batches only kinds whose `batch_size` is above 1.
        let Some(kind) = items.first().map(|i| i.address.kind) else {
            return Vec::new();
        };
        crate::provider::group_results(items, self.write_group(kind, items))
    }

    fn recover_interrupted(&self) -> Result<Option<String>, ProviderError> {
        self.gateway
            .finish_interrupted_writes()
            .map(Some)
            .map_err(refused)
    }

    fn limitations(&self) -> Vec<Limitation> {
        let reason = "the Ignition 8.3 REST API has no way to delete a tag or a UDT";
        vec![
            Limitation {
                kind: Kind::Tag,
                operation: Operation::Delete,
                reason: reason.into(),
                alternative: "the files transport (`ignition.transport: files`)".into(),
            },
            Limitation {
                kind: Kind::Udt,
                operation: Operation::Delete,
                reason: reason.into(),
                alternative: "the files transport (`ignition.transport: files`)".into(),
            },
        ]
    }

    fn discover(&self, scope: &DiscoveryScope) -> Result<Vec<Discovered>, ProviderError> {
        super::discover::from_api(self, scope)
    }

    fn check_connection(&self) -> Result<String, ProviderError> {
        let info = self
            .gateway
            .get("/data/api/v1/gateway-info")
            .map_err(refused)?;
        Ok(format!(
            "gateway {} ({}) answers and accepts the token",
            self.gateway.base(),
            info.get("ignitionVersion")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ))
    }

    fn stop(&self, address: &Address, live: &LiveObject) -> Result<Option<String>, ProviderError> {
        match address.kind {
            Kind::ZerobusConnection => zerobus::disable(&self.gateway),
            Kind::GatewayScript => match super::script::disabled_timer(&live.spec) {
                Some(stopped) => {
                    self.write(address, &stopped, true).map(|_| ())?;
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
        let mut live = BTreeMap::new();
        let of_kind = |kind: Kind| {
            requests
                .iter()
                .filter(move |r| r.address.kind == kind)
                .collect::<Vec<_>>()
        };
        live.extend(zerobus::read(
            &self.gateway,
            &of_kind(Kind::ZerobusConnection),
        )?);
        let project_requests = of_kind(Kind::Project);
        if !project_requests.is_empty() {
            let list = self
                .gateway
                .get("/data/api/v1/projects/list?limit=-1")
                .map_err(refused)?;
            for request in project_requests {
                let found = list
                    .get("items")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|p| str_field(p, "name") == request.address.name);
                if let Some(project) = found {
                    live.insert(
                        request.address.clone(),
                        LiveObject::plain(project_spec(project)),
                    );
                }
            }
        }
        // Tags and types: one export per provider.
        let mut exports: BTreeMap<String, TagExport> = BTreeMap::new();
        for request in requests
            .iter()
            .filter(|r| matches!(r.address.kind, Kind::Tag | Kind::Udt))
        {
            let provider = str_field(&request.spec, "provider").to_string();
            if !exports.contains_key(&provider) {
                let export = self.export_tags(&provider)?;
                exports.insert(provider.clone(), export);
            }
            let (tags, types) = &exports[&provider];
            let spec = match request.address.kind {
                Kind::Tag => tags.get(&request.address.name).map(|config| {
                    let mut spec = config.clone();
                    spec["provider"] = json!(provider);
                    spec
                }),
                _ => types
                    .get(&request.address.name)
                    .and_then(|entry| udt_spec(&provider, &with_type(entry))),
            };
            if let Some(spec) = spec {
                live.insert(request.address.clone(), LiveObject::plain(spec));
            }
        }
        // Project resources: one export per project, read by the files transport's code.
        let mut by_project: BTreeMap<String, Vec<RefreshRequest>> = BTreeMap::new();
        for request in requests.iter().filter(|r| {
            !matches!(
                r.address.kind,
                Kind::Tag | Kind::Udt | Kind::Project | Kind::ZerobusConnection
            )
        }) {
            by_project
                .entry(str_field(&request.spec, "project").to_string())
                .or_default()
                .push(request.clone());
        }
        for (project, requests) in by_project {
            if let Some(copy) = self.export_project(&project)? {
                let files = IgnitionFiles::new(copy.path().to_path_buf(), "core".into(), None);
                live.extend(files.refresh(&requests)?);
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
        self.write(address, desired, false)
    }

    fn update(
        &self,
        address: &Address,
        desired: &Value,
        _: &LiveObject,
        _: &ChangeOptions,
    ) -> Result<LiveObject, ProviderError> {
        self.write(address, desired, true)
    }

    fn delete(
        &self,
        address: &Address,
        live: &LiveObject,
        options: &ChangeOptions,
    ) -> Result<(), ProviderError> {
        match address.kind {
            Kind::ZerobusConnection => zerobus::delete(&self.gateway),
            Kind::Project => {
                self.gateway
                    .delete(&format!(
                        "/data/api/v1/projects/{}?confirm=true",
                        encode_path(&address.name)
                    ))
                    .map_err(refused)?;
                Ok(())
            }
            Kind::Tag | Kind::Udt => Err(ProviderError::Refused(format!(
                "{address}: the Ignition 8.3 REST API has no way to delete a tag or a UDT; use the files transport"
            ))),
            _ => {
                let project = str_field(&live.spec, "project").to_string();
                self.edit_project(&project, |files| files.delete(address, live, options))
            }
        }
    }
}

/// A project's spec from its item in the project list.
pub(super) fn project_spec(item: &Value) -> Value {
    json!({
        "title": str_field(item, "title"),
        "description": str_field(item, "description"),
        "enabled": item.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        "inheritable": item.get("inheritable").and_then(Value::as_bool).unwrap_or(false),
        "parent": str_field(item, "parent"),
    })
}

/// Export entries of types carry their type in `tagType`; `udt_spec` expects it.
pub(super) fn with_type(config: &Value) -> Value {
    let mut entry = config_of(config);
    if entry.get("tagType").is_none() {
        entry["tagType"] = json!("UdtType");
    }
    entry
}

/// Every tag and UDT definition of `provider`, each by path (types by their path under
/// `_types_`), from one recursive tag export. Verify's tag counts read the gateway this way too.
pub fn export_tags(gateway: &GatewayClient, provider: &str) -> Result<TagExport, GatewayError> {
    let path = format!(
        "/data/api/v1/tags/export?provider={}&type=json&recursive=true&includeUdts=true",
        encode_path(provider)
    );
    let export = gateway.get(&path)?;
    let mut tags = BTreeMap::new();
    let mut types = BTreeMap::new();
    for entry in export
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if entry.get("name").and_then(Value::as_str) == Some("_types_") {
            for child in entry
                .get("tags")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                flatten(child, "", &mut types);
            }
        } else {
            flatten(entry, "", &mut tags);
        }
    }
    Ok((tags, types))
}
