//! Discovery of a gateway's live objects for `lode import`. Both transports end in the same
//! code: `files` walks its data directory; `api` lists the projects, exports each one in scope
//! into a temporary data directory that it walks the same way, reads tags and UDTs with one
//! export per tag provider, and lists the providers through the resource API. Specs come from
//! the readers `refresh` uses, so a manifest written from one plans as a no-op. Project
//! resources of types lode does not manage (library scripts, named queries, styles) are
//! reported, never imported; so is anything the manifest loader would refuse.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::api::{IgnitionApi, project_spec, with_type};
use super::files::{IgnitionFiles, udt_spec};
use super::zerobus;
use crate::manifest::Kind;
use crate::manifest::kinds::{GatewayScriptType, SessionEventType};
use crate::provider::{Discovered, DiscoveryScope, LiveObject, ProviderError};
use lode_wire::ignition::tag_files::TagFolder;

const PERSPECTIVE: &str = "com.inductiveautomation.perspective";

const PROJECT_RESOURCES: [Kind; 5] = [
    Kind::GatewayScript,
    Kind::PerspectiveView,
    Kind::PageConfig,
    Kind::SessionProps,
    Kind::SessionEvent,
];

fn wants_resources(scope: &DiscoveryScope) -> bool {
    PROJECT_RESOURCES.iter().any(|kind| scope.may_select(*kind))
}

/// Projects are read for their own sake and for their resources (a resource needs its project).
fn wants_projects(scope: &DiscoveryScope) -> bool {
    scope.may_select(Kind::Project) || wants_resources(scope)
}

/// Tag and type trees are read for tags and for UDTs (an instance needs its UDT).
fn wants_tag_trees(scope: &DiscoveryScope) -> bool {
    scope.may_select(Kind::Tag) || scope.may_select(Kind::Udt)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

/// The `files` transport's discovery: the data directory walked.
pub(super) fn from_files(
    files: &IgnitionFiles,
    scope: &DiscoveryScope,
) -> Result<Vec<Discovered>, ProviderError> {
    let mut found = Vec::new();
    if wants_projects(scope) {
        for project in project_names(&files.data_dir().join("projects"))? {
            if !scope.may_select_project(&project) {
                continue;
            }
            if let Some(spec) = files.read_project(&project)? {
                found.push(Discovered::checked(
                    Kind::Project,
                    &project,
                    LiveObject::plain(spec),
                ));
            }
            if wants_resources(scope) {
                found.extend(project_resources(files, &project)?);
            }
        }
    }
    if wants_tag_trees(scope) {
        for provider in TagFolder::providers(files.data_dir(), files.collection())? {
            if !scope.may_select_tag_provider(&provider) {
                continue;
            }
            if scope.may_select(Kind::Tag) {
                found.extend(tags(&provider, &files.tag_folder(&provider).read_all()?));
            }
            found.extend(udts(&provider, files.type_folder(&provider).read_all()?));
        }
    }
    // Without the gateway's URL the connector cannot be read: there is nothing to discover.
    if scope.may_select(Kind::ZerobusConnection)
        && let Some(gateway) = files.gateway()
    {
        found.extend(zerobus::discover(gateway)?);
    }
    Ok(found)
}

/// The `api` transport's discovery: the project list, one export per project in scope and one
/// tag export per provider.
pub(super) fn from_api(
    api: &IgnitionApi,
    scope: &DiscoveryScope,
) -> Result<Vec<Discovered>, ProviderError> {
    let gateway = api.gateway();
    let mut found = Vec::new();
    if wants_projects(scope) {
        let list = gateway
            .get("/data/api/v1/projects/list?limit=-1")
            .map_err(ProviderError::Gateway)?;
        for item in list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let project = text(item, "name");
            if project.is_empty() || !scope.may_select_project(project) {
                continue;
            }
            found.push(Discovered::checked(
                Kind::Project,
                project,
                LiveObject::plain(project_spec(item)),
            ));
            if wants_resources(scope)
                && let Some(copy) = api.export_project(project)?
            {
                let files = IgnitionFiles::new(copy.path().to_path_buf(), "core".into(), None);
                found.extend(project_resources(&files, project)?);
            }
        }
    }
    if wants_tag_trees(scope) {
        let names = gateway
            .get("/data/api/v1/resources/names/ignition/tag-provider?limit=-1")
            .map_err(ProviderError::Gateway)?;
        let mut providers: Vec<&str> = names
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|item| text(item, "name"))
            .filter(|name| !name.is_empty())
            .collect();
        providers.sort_unstable();
        providers.dedup();
        for provider in providers {
            if !scope.may_select_tag_provider(provider) {
                continue;
            }
            let (tag_tree, type_tree) = api.export_tags(provider)?;
            if scope.may_select(Kind::Tag) {
                found.extend(tags(provider, &tag_tree));
            }
            let types = type_tree
                .into_iter()
                .map(|(path, entry)| (path, with_type(&entry)))
                .collect();
            found.extend(udts(provider, types));
        }
    }
    if scope.may_select(Kind::ZerobusConnection) {
        found.extend(zerobus::discover(gateway)?);
    }
    Ok(found)
}

/// The folders under `projects/` that hold a `project.json`, sorted.
fn project_names(projects: &Path) -> Result<Vec<String>, ProviderError> {
    let listing = match std::fs::read_dir(projects) {
        Ok(listing) => listing,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ProviderError::Io {
                operation: "list",
                path: projects.to_path_buf(),
                source,
            });
        }
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("project.json").is_file())
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Every tag of a provider's tree (folders, atomic tags, UDT instances), as `refresh` reads
/// them: the configuration without `name`, plus `provider`.
fn tags(provider: &str, tree: &BTreeMap<String, Value>) -> Vec<Discovered> {
    tree.iter()
        .map(|(path, config)| {
            let mut spec = config.clone();
            spec["provider"] = json!(provider);
            let refusal = tag_refusal(&spec);
            Discovered::checked(Kind::Tag, path, LiveObject::plain(spec)).refuse(refusal)
        })
        .collect()
}

/// Every UDT definition of a provider's type tree; UDT folders are not UDTs.
fn udts(provider: &str, types: BTreeMap<String, Value>) -> Vec<Discovered> {
    types
        .into_iter()
        .filter_map(|(path, entry)| {
            let spec = udt_spec(provider, &entry)?;
            let refusal = udt_refusal(&path, &spec);
            Some(Discovered::checked(Kind::Udt, path, LiveObject::plain(spec)).refuse(refusal))
        })
        .collect()
}

/// A `typeId` the manifests cannot name (they use the UDT's name, as its address does).
fn unnamed_type(type_id: &str) -> bool {
    type_id.starts_with('[') || type_id.starts_with("_types_")
}

/// What the manifest loader would refuse in a tag's spec.
fn tag_refusal(spec: &Value) -> Option<String> {
    let type_id = spec.get("typeId").and_then(Value::as_str);
    if let Some(type_id) = type_id.filter(|t| unnamed_type(t)) {
        return Some(format!(
            "its typeId `{type_id}` is a path, where manifests name the UDT"
        ));
    }
    match spec.get("tagType").and_then(Value::as_str) {
        None => Some("it has no `tagType`".into()),
        Some("Folder") => spec
            .as_object()
            .and_then(|m| m.keys().find(|k| *k != "provider" && *k != "tagType"))
            .map(|key| format!("a folder with `{key}`, where lode's folders have only `tagType`")),
        Some("UdtInstance") if type_id.is_none() => Some("a UDT instance without `typeId`".into()),
        Some("AtomicTag") if type_id.is_some() => Some("an atomic tag with a `typeId`".into()),
        _ => members_refusal(spec.get("tags"), false),
    }
}

/// What the manifest loader would refuse in a UDT's spec.
fn udt_refusal(path: &str, spec: &Value) -> Option<String> {
    match spec.get("parent_type").and_then(Value::as_str) {
        Some(parent) if parent == path => return Some("it inherits from itself".into()),
        Some(parent) if unnamed_type(parent) => {
            return Some(format!(
                "its parent type `{parent}` is a path, where manifests name the UDT"
            ));
        }
        _ => {}
    }
    members_refusal(spec.get("tags"), true)
}

/// Member rules: every member named, once per folder, one tag each (no `/`), no provider;
/// with `definition`, instances among the members name their UDT.
fn members_refusal(members: Option<&Value>, definition: bool) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    for member in members.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = member.get("name").and_then(Value::as_str) else {
            return Some("a member tag has no `name`".into());
        };
        if !seen.insert(name) {
            return Some(format!("two members are named `{name}`"));
        }
        if definition && name.contains('/') {
            return Some(format!("member `{name}` has `/` in its name"));
        }
        if member.get("provider").is_some() {
            return Some(format!("member `{name}` has a `provider`"));
        }
        let type_id = member.get("typeId").and_then(Value::as_str);
        if let Some(type_id) = type_id.filter(|t| unnamed_type(t)) {
            return Some(format!(
                "member `{name}` has the typeId `{type_id}`, a path where manifests name the UDT"
            ));
        }
        if definition
            && member.get("tagType").and_then(Value::as_str) == Some("UdtInstance")
            && type_id.is_none()
        {
            return Some(format!(
                "member `{name}` is a UDT instance without `typeId`"
            ));
        }
        if let Some(refusal) = members_refusal(member.get("tags"), definition) {
            return Some(refusal);
        }
    }
    None
}

/// Every folder under `dir` (relative, `/`-separated) that holds a `resource.json`, sorted.
fn resource_folders(
    dir: &Path,
    relative: &str,
    found: &mut Vec<String>,
) -> Result<(), ProviderError> {
    let mut subfolders: Vec<_> = std::fs::read_dir(dir)
        .map_err(|source| ProviderError::Io {
            operation: "list",
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .collect();
    subfolders.sort_by_key(|entry| entry.file_name());
    for entry in subfolders {
        let name = entry.file_name().to_string_lossy().to_string();
        let child = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        if entry.path().join("resource.json").is_file() {
            found.push(child.clone());
        }
        resource_folders(&entry.path(), &child, found)?;
    }
    Ok(())
}

/// What a resource folder of a project is to lode: its kind, the locator `read_resource`
/// takes, and its name hint; `None` for resource types lode does not manage.
fn classify(project: &str, folder: &str) -> Option<(Kind, Value, String)> {
    for script_type in [
        GatewayScriptType::Timer,
        GatewayScriptType::TagChange,
        GatewayScriptType::Startup,
        GatewayScriptType::Shutdown,
    ] {
        let (layout, _, _) = script_type.layout();
        let type_name = serde_json::to_value(script_type).expect("enums serialise");
        if script_type.is_singleton() {
            if folder == layout {
                let hint = type_name.as_str().unwrap_or_default().to_string();
                return Some((
                    Kind::GatewayScript,
                    json!({"project": project, "type": type_name}),
                    hint,
                ));
            }
        } else if let Some(name) = folder
            .strip_prefix(layout)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.contains('/'))
        {
            return Some((
                Kind::GatewayScript,
                json!({"project": project, "type": type_name, "resource_name": name}),
                name.to_string(),
            ));
        }
    }
    for event in [
        SessionEventType::Startup,
        SessionEventType::Shutdown,
        SessionEventType::PageStartup,
    ] {
        if folder == event.layout().0 {
            let event_name = serde_json::to_value(event).expect("enums serialise");
            let hint = event_name.as_str().unwrap_or_default().to_string();
            return Some((
                Kind::SessionEvent,
                json!({"project": project, "event": event_name}),
                hint,
            ));
        }
    }
    let module_folder = folder.strip_prefix(PERSPECTIVE)?.strip_prefix('/')?;
    match module_folder {
        "page-config" => Some((
            Kind::PageConfig,
            json!({"project": project}),
            project.to_string(),
        )),
        "session-props" => Some((
            Kind::SessionProps,
            json!({"project": project}),
            project.to_string(),
        )),
        _ => {
            let view_path = module_folder.strip_prefix("views/")?;
            Some((
                Kind::PerspectiveView,
                json!({"project": project, "view_path": view_path}),
                view_path.to_string(),
            ))
        }
    }
}

/// Every resource of `project`: the kinds lode manages read as `refresh` reads them, the rest
/// reported as not managed.
fn project_resources(
    files: &IgnitionFiles,
    project: &str,
) -> Result<Vec<Discovered>, ProviderError> {
    let root = files.project_dir(project);
    let mut folders = Vec::new();
    resource_folders(&root, "", &mut folders)?;
    let mut found = Vec::new();
    for folder in folders {
        let Some((kind, locator, hint)) = classify(project, &folder) else {
            found.push(not_managed(project, &folder));
            continue;
        };
        if kind == Kind::PerspectiveView && !root.join(&folder).join("view.json").is_file() {
            found.push(Discovered {
                kind,
                name_hint: hint,
                live: LiveObject::plain(locator),
                lossy: Vec::new(),
                unsupported: Some("its folder has no view.json".into()),
            });
            continue;
        }
        if let Some(spec) = files.read_resource(kind, &locator)? {
            let refusal = resource_refusal(kind, &spec);
            found.push(Discovered::checked(kind, hint, LiveObject::plain(spec)).refuse(refusal));
        }
    }
    Ok(found)
}

/// A project resource of a type lode has no kind for, reported under its project.
fn not_managed(project: &str, folder: &str) -> Discovered {
    // 8.3 resource folders are `<module>/<resource type>/<path>`.
    let resource_type = folder.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
    Discovered {
        kind: Kind::Project,
        name_hint: format!("{project}/{folder}"),
        live: LiveObject::plain(json!({"project": project})),
        lossy: Vec::new(),
        unsupported: Some(format!(
            "not imported: lode does not manage `{resource_type}` resources (`{folder}` of project {project})"
        )),
    }
}

/// What the manifest loader would refuse in a project resource's spec.
fn resource_refusal(kind: Kind, spec: &Value) -> Option<String> {
    match kind {
        Kind::GatewayScript => match text(spec, "type") {
            "timer" if spec.get("delay_ms").and_then(Value::as_u64) == Some(0) => {
                Some("a timer with a delay of 0 ms".into())
            }
            "tag_change" => {
                let paths = spec.get("tag_paths").and_then(Value::as_array);
                if paths.is_none_or(|p| p.is_empty()) {
                    return Some("a tag change script without tag paths".into());
                }
                spec.get("change_types")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|change| change.as_str().unwrap_or_default())
                    .find(|change| {
                        !["ValueChange", "QualityChange", "TimestampChange"].contains(change)
                    })
                    .map(|change| format!("its change type `{change}` is not one lode knows"))
            }
            _ => None,
        },
        Kind::PerspectiveView => match spec.pointer("/view/root/type") {
            Some(Value::String(_)) => None,
            _ => Some("the view has no `root` component with a `type`".into()),
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
