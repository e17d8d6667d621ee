//! Where `lode import` puts what it writes, in the demo's layout: one manifest file per kind and
//! area (`ignition/tags.yaml`, `ignition/scripts.yaml`, `databricks/pipeline.yaml`...) and
//! payloads beside it (`ignition/scripts/<name>.py`, `ignition/views/<path>.view.json`,
//! `databricks/pipeline/<file>`, `databricks/seeds/<table>.csv`). A payload never takes the
//! name of a file that exists or was already given out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::ImportedObject;
use super::naming::slug;
use crate::manifest::load::str_field;
use crate::manifest::{Kind, ManifestFiles, normalize_workspace_path};

/// What the layout needs to know about the whole import.
pub struct LayoutPlan {
    /// Whether tags go to one `ignition/tags.yaml` (one provider, one top folder).
    single_tag_file: bool,
    /// Whether more than one provider's tags are imported (their files are prefixed).
    several_providers: bool,
    /// Workspace paths (normalised) that are an imported pipeline's sources.
    pipeline_sources: BTreeSet<String>,
}

impl LayoutPlan {
    pub fn new(objects: &[&ImportedObject]) -> LayoutPlan {
        let mut groups = BTreeSet::new();
        let mut providers = BTreeSet::new();
        let mut libraries = BTreeSet::new();
        let mut globs = Vec::new();
        for object in objects {
            match object.kind {
                Kind::Tag => {
                    let provider = str_field(&object.spec, "provider").to_string();
                    let top = top_folder(&object.name_hint).to_string();
                    providers.insert(provider.clone());
                    groups.insert((provider, top));
                }
                Kind::Pipeline => {
                    for library in object
                        .spec
                        .get("libraries")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(path) = library
                            .pointer("/file/path")
                            .or_else(|| library.pointer("/notebook/path"))
                            .and_then(Value::as_str)
                        {
                            libraries.insert(normalize_workspace_path(path));
                        }
                        if let Some(include) =
                            library.pointer("/glob/include").and_then(Value::as_str)
                        {
                            let folder = normalize_workspace_path(
                                include.trim_end_matches("**").trim_end_matches('/'),
                            );
                            globs.push(format!("{folder}/"));
                        }
                    }
                }
                _ => {}
            }
        }
        let pipeline_sources = objects
            .iter()
            .filter(|o| o.kind == Kind::WorkspaceFile)
            .map(|o| normalize_workspace_path(str_field(&o.spec, "path")))
            .filter(|path| libraries.contains(path) || globs.iter().any(|g| path.starts_with(g)))
            .collect();
        LayoutPlan {
            single_tag_file: groups.len() <= 1,
            several_providers: providers.len() > 1,
            pipeline_sources,
        }
    }

    /// Whether a workspace file is one of an imported pipeline's sources.
    pub fn is_pipeline_source(&self, spec: &Value) -> bool {
        self.pipeline_sources
            .contains(&normalize_workspace_path(str_field(spec, "path")))
    }

    /// The manifest file (relative to the root) an object's document goes to.
    pub fn manifest_file(&self, object: &ImportedObject) -> String {
        let spec = &object.spec;
        match object.kind {
            Kind::Project => "ignition/project.yaml".into(),
            Kind::Udt => "ignition/udts.yaml".into(),
            Kind::Tag if self.single_tag_file => "ignition/tags.yaml".into(),
            Kind::Tag => {
                let top = slug(top_folder(&object.name_hint));
                let top = if top.is_empty() {
                    "tags".to_string()
                } else {
                    top
                };
                if self.several_providers {
                    format!(
                        "ignition/tags/{}_{top}.yaml",
                        slug(str_field(spec, "provider"))
                    )
                } else {
                    format!("ignition/tags/{top}.yaml")
                }
            }
            Kind::GatewayScript => "ignition/scripts.yaml".into(),
            Kind::PerspectiveView | Kind::PageConfig | Kind::SessionProps | Kind::SessionEvent => {
                "ignition/perspective.yaml".into()
            }
            Kind::ZerobusConnection => "ignition/zerobus.yaml".into(),
            Kind::Schema => "databricks/schema.yaml".into(),
            Kind::Table => "databricks/tables.yaml".into(),
            Kind::Pipeline => "databricks/pipeline.yaml".into(),
            Kind::GenieSpace => "databricks/genie.yaml".into(),
            Kind::QualityMonitor => "databricks/monitor.yaml".into(),
            Kind::WorkspaceFile if self.is_pipeline_source(spec) => {
                "databricks/pipeline.yaml".into()
            }
            Kind::WorkspaceFile => format!("databricks/{}.yaml", file_folder(spec)),
        }
    }

    /// The payload file (relative to the root) an object's payload would like to have.
    pub fn payload_file(&self, object: &ImportedObject, name: &str) -> Option<String> {
        let spec = &object.spec;
        let path = match object.kind {
            Kind::GatewayScript | Kind::SessionEvent => {
                format!("ignition/scripts/{}.py", file_safe(name))
            }
            Kind::PerspectiveView => {
                let view_path = match spec.get("view_path").and_then(Value::as_str) {
                    Some(path) if !path.is_empty() => path,
                    _ => name,
                };
                let segments: Vec<String> = view_path.split('/').map(file_safe).collect();
                format!("ignition/views/{}.view.json", segments.join("/"))
            }
            Kind::Table if spec.get("rows").is_some() => {
                format!("databricks/seeds/{}.csv", file_safe(name))
            }
            Kind::WorkspaceFile => {
                let path = str_field(spec, "path");
                let file = path.rsplit('/').next().unwrap_or(path);
                let folder = if self.is_pipeline_source(spec) {
                    "pipeline".to_string()
                } else {
                    file_folder(spec)
                };
                format!("databricks/{folder}/{}", file_safe(file))
            }
            _ => return None,
        };
        // A payload may not end in `.yaml`/`.yml`: it would be read as a manifest.
        Some(if path.ends_with(".yaml") || path.ends_with(".yml") {
            format!("{path}.txt")
        } else {
            path
        })
    }
}

/// The first segment of a tag path.
fn top_folder(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// The folder a workspace file is grouped by: its parent folder's name (`chat`).
fn file_folder(spec: &Value) -> String {
    let path = normalize_workspace_path(str_field(spec, "path"));
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
    let folder = slug(parent.rsplit('/').next().unwrap_or(""));
    if folder.is_empty() {
        "files".into()
    } else {
        folder
    }
}

/// A name made safe as one file name: no separators, no leading dot, not empty.
fn file_safe(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == ':' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "payload".into()
    } else {
        cleaned
    }
}

/// `path`, or `path` with `_2`, `_3`... before its extension, whichever is not in `existing`
/// and not already `taken`; the result is added to `taken`.
pub fn unique_path(path: &str, existing: &ManifestFiles, taken: &mut BTreeSet<String>) -> String {
    let free = |candidate: &str, taken: &BTreeSet<String>| {
        !existing.files.contains_key(candidate)
            && !existing.escaping_links.contains(candidate)
            && !taken.contains(candidate)
            && !existing.root.join(candidate).exists()
    };
    let chosen = if free(path, taken) {
        path.to_string()
    } else {
        let (folder, file) = match path.rsplit_once('/') {
            Some((folder, file)) => (format!("{folder}/"), file),
            None => (String::new(), path),
        };
        let split = [".view.json", ".py.txt"]
            .iter()
            .find_map(|ext| file.strip_suffix(ext).map(|stem| (stem, *ext)))
            .or_else(|| {
                file.rfind('.')
                    .filter(|&i| i > 0)
                    .map(|i| (&file[..i], &file[i..]))
            })
            .unwrap_or((file, ""));
        (2..)
            .map(|n| format!("{folder}{}_{n}{}", split.0, split.1))
            .find(|candidate| free(candidate, taken))
            .expect("some suffix is free")
    };
    taken.insert(chosen.clone());
    chosen
}

/// `payload` relative to the folder of `manifest` (both relative to the root), as a payload
/// field names it.
pub fn relative_to(manifest: &str, payload: &str) -> String {
    let folder: Vec<&str> = match manifest.rsplit_once('/') {
        Some((folder, _)) => folder.split('/').collect(),
        None => Vec::new(),
    };
    let target: Vec<&str> = payload.split('/').collect();
    let common = folder
        .iter()
        .zip(&target)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; folder.len() - common];
    parts.extend(&target[common..]);
    parts.join("/")
}

/// The heading comment of a new manifest file: what it holds.
pub fn heading(
    file: &str,
    kinds: &BTreeMap<Kind, usize>,
    tag_folders: &BTreeSet<String>,
) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts: Vec<String> = Vec::new();
    for (kind, n) in kinds {
        let n = *n;
        parts.push(match kind {
            Kind::Project => plural(n, "Ignition project", "Ignition projects"),
            Kind::Udt => plural(n, "UDT definition", "UDT definitions"),
            Kind::Tag => {
                let folders: Vec<&str> = tag_folders.iter().map(String::as_str).collect();
                let under = if folders.is_empty() {
                    String::new()
                } else {
                    format!(" under {}", folders.join(", "))
                };
                format!("{}{under}", plural(n, "tag", "tags"))
            }
            Kind::GatewayScript => plural(n, "gateway event script", "gateway event scripts"),
            Kind::PerspectiveView => plural(n, "Perspective view", "Perspective views"),
            Kind::PageConfig => plural(n, "page configuration", "page configurations"),
            Kind::SessionProps => {
                plural(n, "set of session properties", "sets of session properties")
            }
            Kind::SessionEvent => plural(n, "session event script", "session event scripts"),
            Kind::ZerobusConnection => "the Zerobus connector's configuration".to_string(),
            Kind::Schema => plural(n, "Unity Catalog schema", "Unity Catalog schemas"),
            Kind::Table => plural(n, "Unity Catalog table", "Unity Catalog tables"),
            Kind::Pipeline => plural(n, "Lakeflow pipeline", "Lakeflow pipelines"),
            Kind::GenieSpace => plural(n, "Genie space", "Genie spaces"),
            Kind::QualityMonitor => plural(n, "data quality monitor", "data quality monitors"),
            Kind::WorkspaceFile => plural(n, "workspace file", "workspace files"),
        });
    }
    let what = match parts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => parts.join(""),
    };
    let from = if file.starts_with("ignition/") {
        "the gateway"
    } else {
        "the workspace"
    };
    let mut what = what;
    if let Some(first) = what.get(..1) {
        what = format!("{}{}", first.to_uppercase(), &what[1..]);
    }
    format!("# {what}, imported from {from} by `lode import`.\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn issue_17_payload_names_never_take_an_existing_file() {
        let existing = ManifestFiles::from_memory(
            PathBuf::from("/nonexistent-lode-root"),
            BTreeMap::from([
                ("ignition/scripts/startup.py".to_string(), b"x".to_vec()),
                ("ignition/views/a.view.json".to_string(), b"{}".to_vec()),
            ]),
        );
        let mut taken = BTreeSet::new();
        assert_eq!(
            unique_path("ignition/scripts/startup.py", &existing, &mut taken),
            "ignition/scripts/startup_2.py"
        );
        assert_eq!(
            unique_path("ignition/scripts/startup.py", &existing, &mut taken),
            "ignition/scripts/startup_3.py"
        );
        assert_eq!(
            unique_path("ignition/views/a.view.json", &existing, &mut taken),
            "ignition/views/a_2.view.json"
        );
        assert_eq!(
            unique_path("databricks/chat/index.html", &existing, &mut taken),
            "databricks/chat/index.html"
        );
        assert_eq!(
            relative_to("ignition/scripts.yaml", "ignition/scripts/a.py"),
            "scripts/a.py"
        );
        assert_eq!(
            relative_to("ignition/tags/x.yaml", "ignition/views/a.json"),
            "../views/a.json"
        );
    }
}
