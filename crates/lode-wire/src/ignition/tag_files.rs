//! Tags and UDT definitions as Ignition 8.3 stores them on disk. Under
//! `tag-definition/<provider>/` every folder is a directory with `unary-resource.json`; its
//! atomic tags are in `tags.json` and its UDT instances in `udts.json` (flat arrays). Gateways
//! and hand-made exports may also nest a folder's tags inside a parent's `tags.json`
//! (`{"tagType": "Folder", "tags": [...]}`); both forms are read, a directory's own files win,
//! and lode always writes the directory form, removing nested copies of what it writes.
//! UDT definitions live the same way under `tag-type-definition/<provider>/udts.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::data_dir::{
    DataDirError, io_error, read_json, remove_dir, resource_manifest, to_json_bytes, write_atomic,
};

const TAG_FILES: [&str; 2] = ["tags.json", "udts.json"];

/// Where one tag provider's tags (or types) live.
pub struct TagFolder {
    pub base: PathBuf,
}

/// The file of a folder an entry lives in: UDT instances and types in `udts.json`, the rest
/// in `tags.json`.
fn file_for(config: &Value) -> &'static str {
    match config.get("tagType").and_then(Value::as_str) {
        Some("UdtInstance" | "UdtType") => "udts.json",
        _ => "tags.json",
    }
}

fn entries(value: Option<Value>, path: &Path) -> Result<Vec<Value>, DataDirError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(DataDirError::Unreadable {
            path: path.to_path_buf(),
            message: "expected a JSON array of tags".into(),
        }),
    }
}

fn entry_name(entry: &Value) -> Option<&str> {
    entry.get("name").and_then(Value::as_str)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// An entry's configuration without its name (and, for folders, without children).
pub fn config_of(entry: &Value) -> Value {
    let mut config = entry.as_object().cloned().unwrap_or_default();
    config.remove("name");
    if config.get("tagType").and_then(Value::as_str) == Some("Folder") {
        config.remove("tags");
    }
    Value::Object(config)
}

impl TagFolder {
    pub fn new(base: PathBuf) -> TagFolder {
        TagFolder { base }
    }

    /// The tags of `provider` in a data directory's resource `collection` (`core` on a
    /// standalone gateway): `config/resources/<collection>/ignition/tag-definition/<provider>`.
    pub fn tag_definitions(data_dir: &Path, collection: &str, provider: &str) -> TagFolder {
        TagFolder::new(Self::ignition_config(
            data_dir,
            collection,
            "tag-definition",
            provider,
        ))
    }

    /// The UDT definitions of `provider`:
    /// `config/resources/<collection>/ignition/tag-type-definition/<provider>`.
    pub fn type_definitions(data_dir: &Path, collection: &str, provider: &str) -> TagFolder {
        TagFolder::new(Self::ignition_config(
            data_dir,
            collection,
            "tag-type-definition",
            provider,
        ))
    }

    /// The tag providers of a data directory's resource `collection` that have tags or UDT
    /// definitions on disk: the folders under `tag-definition/` and `tag-type-definition/`,
    /// sorted, each once.
    pub fn providers(data_dir: &Path, collection: &str) -> Result<Vec<String>, DataDirError> {
        let mut providers = std::collections::BTreeSet::new();
        for module in ["tag-definition", "tag-type-definition"] {
            let dir = Self::ignition_config(data_dir, collection, module, "");
            let listing = match std::fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(io_error("list", &dir)(error)),
            };
            for entry in listing {
                let entry = entry.map_err(io_error("list", &dir))?;
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    providers.insert(entry.file_name().to_string_lossy().to_string());
                }
            }
        }
        Ok(providers.into_iter().collect())
    }

    fn ignition_config(data_dir: &Path, collection: &str, module: &str, provider: &str) -> PathBuf {
        data_dir
            .join("config/resources")
            .join(collection)
            .join("ignition")
            .join(module)
            .join(provider)
    }

    fn dir(&self, folder: &str) -> PathBuf {
        if folder.is_empty() {
            self.base.clone()
        } else {
            self.base.join(folder)
        }
    }

    /// Every tag (or type) under the base, by path, as configuration without `name`.
    pub fn read_all(&self) -> Result<BTreeMap<String, Value>, DataDirError> {
        let mut found = BTreeMap::new();
        if self.base.is_dir() {
            self.walk(&self.base, "", &mut found)?;
        }
        Ok(found)
    }

    fn walk(
        &self,
        dir: &Path,
        rel: &str,
        found: &mut BTreeMap<String, Value>,
    ) -> Result<(), DataDirError> {
        if !rel.is_empty() {
            // A folder without its unary-resource.json does not resolve in the gateway.
            if !dir.join("unary-resource.json").is_file() {
                return Ok(());
            }
            found.insert(rel.to_string(), json!({"tagType": "Folder"}));
        }
        for file in TAG_FILES {
            let path = dir.join(file);
            for entry in entries(read_json(&path)?, &path)? {
                flatten(&entry, rel, found);
            }
        }
        let mut subdirs: Vec<_> = std::fs::read_dir(dir)
            .map_err(io_error("list", dir))?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .collect();
        subdirs.sort_by_key(|e| e.file_name());
        for entry in subdirs {
            let name = entry.file_name().to_string_lossy().to_string();
            self.walk(&entry.path(), &join(rel, &name), found)?;
        }
        Ok(())
    }

    /// Creates every folder level down to `folder` with its `unary-resource.json`.
    fn ensure_folders(&self, folder: &str) -> Result<(), DataDirError> {
        let mut levels = vec![String::new()];
        let mut current = String::new();
        for segment in folder.split('/').filter(|s| !s.is_empty()) {
            current = join(&current, segment);
            levels.push(current.clone());
        }
        for level in levels {
            let dir = self.dir(&level);
            if !dir.join("unary-resource.json").is_file() {
                self.write_unary(&dir)?;
            }
        }
        Ok(())
    }

    /// Writes `unary-resource.json` listing the tag files present in `dir`.
    fn write_unary(&self, dir: &Path) -> Result<(), DataDirError> {
        let files: Vec<&str> = TAG_FILES
            .into_iter()
            .filter(|f| dir.join(f).is_file())
            .collect();
        let existing = read_json(&dir.join("unary-resource.json"))?;
        let listed: Option<Vec<&str>> = existing
            .as_ref()
            .and_then(|e| e.get("files"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect());
        if listed.as_deref() == Some(files.as_slice()) {
            return Ok(());
        }
        let manifest = resource_manifest("G", &files, json!({"config": {}}));
        write_atomic(&dir.join("unary-resource.json"), &to_json_bytes(&manifest))
    }

    /// Writes one entry (a tag or a type) at `path` in the directory form.
    pub fn write_entry(&self, path: &str, config: &Value) -> Result<(), DataDirError> {
        self.write_entries(&[(path.to_string(), config.clone())])
    }

    /// Writes entries at their paths in the directory form, reading and writing each folder's
    /// files once: a thousand tags in a folder cost two file writes, not two thousand.
    pub fn write_entries(&self, writes: &[(String, Value)]) -> Result<(), DataDirError> {
        let mut by_folder: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
        for (path, config) in writes {
            let (folder, name) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
            self.ensure_folders(folder)?;
            self.remove_nested(path, false)?;
            if config.get("tagType").and_then(Value::as_str) == Some("Folder") {
                let dir = self.dir(path);
                std::fs::create_dir_all(&dir).map_err(io_error("create folder", &dir))?;
                self.write_unary(&dir)?;
                continue;
            }
            by_folder.entry(folder).or_default().push((name, config));
        }
        for (folder, named) in by_folder {
            let dir = self.dir(folder);
            for file in TAG_FILES {
                let file_path = dir.join(file);
                let mut items = entries(read_json(&file_path)?, &file_path)?;
                let before = items.clone();
                for (name, config) in &named {
                    let position = items.iter().position(|e| entry_name(e) == Some(*name));
                    if file == file_for(config) {
                        let entry = named_entry(name, config);
                        match position {
                            Some(index) => items[index] = entry,
                            None => items.push(entry),
                        }
                    } else if let Some(index) = position {
                        items.remove(index);
                    }
                }
                if items != before {
                    write_atomic(&file_path, &to_json_bytes(&Value::Array(items)))?;
                }
            }
            self.write_unary(&dir)?;
        }
        Ok(())
    }

    /// Deletes the entry (and, for a folder, everything in it) at `path`.
    pub fn delete_entry(&self, path: &str, is_folder: bool) -> Result<(), DataDirError> {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.remove_nested(path, is_folder)?;
        if is_folder {
            return remove_dir(&self.dir(path));
        }
        let dir = self.dir(folder);
        for file in TAG_FILES {
            let file_path = dir.join(file);
            let mut items = entries(read_json(&file_path)?, &file_path)?;
            let before = items.len();
            items.retain(|e| entry_name(e) != Some(name));
            if items.len() != before {
                write_atomic(&file_path, &to_json_bytes(&Value::Array(items)))?;
            }
        }
        Ok(())
    }

    /// Removes copies of `path` nested inside ancestors' files (and, for a folder, its entry
    /// in its parent's files), so the directory form is the only one left.
    fn remove_nested(&self, path: &str, include_direct: bool) -> Result<(), DataDirError> {
        let segments: Vec<&str> = path.split('/').collect();
        for depth in 0..segments.len() {
            let relative = &segments[depth..];
            if relative.len() < 2 && !include_direct {
                continue;
            }
            let dir = self.dir(&segments[..depth].join("/"));
            for file in TAG_FILES {
                let file_path = dir.join(file);
                let Some(Value::Array(mut items)) = read_json(&file_path)? else {
                    continue;
                };
                if remove_at(&mut items, relative) {
                    write_atomic(&file_path, &to_json_bytes(&Value::Array(items)))?;
                }
            }
        }
        Ok(())
    }
}

/// `{"name": name, ...config}` with `name` and `tagType` first, as Ignition writes them.
pub fn named_entry(name: &str, config: &Value) -> Value {
    let mut entry = Map::new();
    entry.insert("name".into(), Value::String(name.to_string()));
    if let Some(tag_type) = config.get("tagType") {
        entry.insert("tagType".into(), tag_type.clone());
    }
    for (key, value) in config.as_object().into_iter().flatten() {
        entry.insert(key.clone(), value.clone());
    }
    Value::Object(entry)
}

/// Adds `entry` (and, for a folder in the nested form, its children) to `found` by path.
pub fn flatten(entry: &Value, prefix: &str, found: &mut BTreeMap<String, Value>) {
    let Some(name) = entry_name(entry) else {
        return;
    };
    let path = join(prefix, name);
    found.insert(path.clone(), config_of(entry));
    if entry.get("tagType").and_then(Value::as_str) == Some("Folder") {
        for child in entry
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            flatten(child, &path, found);
        }
    }
}

/// Removes the entry at `relative` (a path through nested folders) from `items`.
fn remove_at(items: &mut Vec<Value>, relative: &[&str]) -> bool {
    let Some((first, rest)) = relative.split_first() else {
        return false;
    };
    if rest.is_empty() {
        let before = items.len();
        items.retain(|e| entry_name(e) != Some(first));
        return items.len() != before;
    }
    for item in items.iter_mut() {
        if entry_name(item) == Some(first)
            && let Some(Value::Array(children)) = item.get_mut("tags")
            && remove_at(children, rest)
        {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_17_providers_are_the_folders_with_tags_or_types_each_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TagFolder::providers(dir.path(), "core").unwrap().is_empty());
        TagFolder::tag_definitions(dir.path(), "core", "default")
            .write_entry("Mining/Speed", &json!({"tagType": "AtomicTag"}))
            .unwrap();
        TagFolder::type_definitions(dir.path(), "core", "default")
            .write_entry("Crusher", &json!({"tagType": "UdtType", "tags": []}))
            .unwrap();
        TagFolder::type_definitions(dir.path(), "core", "edge")
            .write_entry("Pump", &json!({"tagType": "UdtType", "tags": []}))
            .unwrap();
        // Another collection's providers are not this one's.
        TagFolder::tag_definitions(dir.path(), "site", "remote")
            .write_entry("Flow", &json!({"tagType": "AtomicTag"}))
            .unwrap();
        assert_eq!(
            TagFolder::providers(dir.path(), "core").unwrap(),
            ["default", "edge"]
        );
    }
}
